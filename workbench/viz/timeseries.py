"""Time series of a run's request log: traffic share, latency percentiles, error rate.

Each function bins ``requests`` by arrival time (``time_s``) into windows of
``bin_s`` seconds, draws one series per model at the window centres and marks
the run's ``events`` (fault windows, rollout steps, failed gates, rollbacks,
promotions). Windows holding fewer than ``min_count`` requests of a model are
left empty rather than drawn from a handful of points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..summary import model_order
from .style import finish_legend, mark_events, model_color, new_figure, time_axis, use_style

__all__ = ["traffic_share", "latency_over_time", "error_rate_over_time", "binned", "model_order"]

_QUANTILE_STYLES = ("-", "--", ":", "-.")


def require_table(frame: Any, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` if it is a non-empty DataFrame with ``columns``; else a ValueError naming ``name``."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    if frame.empty:
        raise ValueError(f"{name}: the table is empty, nothing to plot")
    return frame


def _check_bin(bin_s: float) -> float:
    if not (isinstance(bin_s, (int, float)) and math.isfinite(bin_s) and bin_s > 0):
        raise ValueError(f"bin_s: must be a positive number of seconds, got {bin_s!r}")
    return float(bin_s)


def binned(time_s: Any, bin_s: float, end_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Window index of each time and the window centres (seconds).

    Examples
    --------
    >>> idx, centres = binned([0.0, 29.9, 30.0, 61.0], 30)
    >>> idx.tolist(), centres.tolist()
    ([0, 0, 1, 2], [15.0, 45.0, 75.0])
    """
    bin_s = _check_bin(bin_s)
    t = np.asarray(time_s, dtype=float)
    last = float(np.nanmax(t)) if t.size else 0.0
    end = max(last, float(end_s) if end_s is not None else 0.0)
    n_bins = max(1, math.ceil(end / bin_s))
    idx = np.clip((t // bin_s).astype(np.int64), 0, n_bins - 1)
    centres = (np.arange(n_bins) + 0.5) * bin_s
    return idx, centres


def _end_s(requests: pd.DataFrame, events: pd.DataFrame | None, end_s: float | None) -> float:
    if end_s is not None:
        return float(end_s)
    last = float(requests["time_s"].max())
    if events is not None and not events.empty and "time_s" in events:
        last = max(last, float(events["time_s"].max()))
    return last


def _setup(ax: Axes | None, height_in: float) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = new_figure(height_in=height_in)
    return fig, ax


def traffic_share(
    requests: pd.DataFrame,
    events: pd.DataFrame | None = None,
    bin_s: float = 30,
    *,
    time_unit: str = "auto",
    end_s: float | None = None,
    title: str | None = "Traffic share by model",
    ax: Axes | None = None,
) -> Figure:
    """Share of arrivals served by each model over time, stacked to 100 %.

    Rollout steps are dotted lines labelled with their weight, rollbacks,
    promotions and switches solid or dash-dotted lines, fault windows shaded:
    what to look for is the candidate's band growing at each step and
    collapsing to zero at a rollback.

    Parameters
    ----------
    requests : DataFrame
        Request log with ``time_s`` and ``model``.
    events : DataFrame, optional
        Events table (``time_s, kind, reason, details``) of the same run.
    bin_s : float
        Window width in seconds.
    time_unit : {"auto", "s", "min"}
        Unit of the x axis (auto: minutes beyond 10 minutes).
    ax : Axes, optional
        Draw into an existing axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_table(requests, "requests", ["time_s", "model"])
    end = _end_s(requests, events, end_s)
    tx = time_axis(end, time_unit)
    idx, centres = binned(requests["time_s"], bin_s, end)
    models = model_order(requests["model"].unique())
    model = requests["model"].astype(str).to_numpy()
    counts = np.vstack([np.bincount(idx[model == m], minlength=centres.size) for m in models])
    total = counts.sum(axis=0)
    share = np.divide(100.0 * counts, total, out=np.zeros(counts.shape, dtype=float), where=total > 0)
    with use_style():
        fig, ax = _setup(ax, 3.4)
        # windows drawn as steps from their start, so a change shows where it happened
        starts = np.append(centres - 0.5 * float(bin_s), end)
        ys = np.hstack([share, share[:, -1:]])
        ax.stackplot(tx(starts), *ys, labels=models, colors=[model_color(m, models) for m in models],
                     alpha=0.85, lw=0, step="post")
        handles = mark_events(ax, events, tx, end, annotate_steps=True, fault_band="strip")
        ax.set_xlim(0, tx(end))
        ax.set_ylim(0, 100)
        ax.set_xlabel(tx.label)
        ax.set_ylabel("share of requests (%)")
        if title:
            ax.set_title(title, pad=14)
        finish_legend(ax, handles)
    return fig


def latency_over_time(
    requests: pd.DataFrame,
    events: pd.DataFrame | None = None,
    bin_s: float = 30,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    *,
    min_count: int = 5,
    log_y: bool = False,
    time_unit: str = "auto",
    end_s: float | None = None,
    title: str | None = "Latency percentiles per model",
    ax: Axes | None = None,
) -> Figure:
    """Latency percentiles (``latency_ms``: queueing plus service) per model over time.

    Colour is the model, line style the percentile. Dropped requests carry no
    latency and are left out. Fault windows are shaded, failed gates are
    triangles on the top edge and a rollback is a red line: look for the tail
    (p99) rising first inside a fault window, and for how long it takes a
    gate to notice.

    Parameters
    ----------
    requests : DataFrame
        Request log with ``time_s``, ``model``, ``status`` and ``latency_ms``.
    events : DataFrame, optional
        Events table of the same run.
    bin_s : float
        Window width in seconds.
    quantiles : sequence of float
        Percentiles to draw, as fractions in (0, 1).
    min_count : int
        Windows with fewer served requests of a model are left empty.
    log_y : bool
        Logarithmic latency axis (for faults that multiply latency).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_table(requests, "requests", ["time_s", "model", "status", "latency_ms"])
    qs = [float(q) for q in quantiles]
    if not qs or not all(0.0 < q < 1.0 for q in qs):
        raise ValueError(f"quantiles: must be fractions in (0, 1), got {quantiles!r}")
    if len(qs) > len(_QUANTILE_STYLES):
        raise ValueError(f"quantiles: at most {len(_QUANTILE_STYLES)} values, got {len(qs)}")
    end = _end_s(requests, events, end_s)
    tx = time_axis(end, time_unit)
    idx, centres = binned(requests["time_s"], bin_s, end)
    served = (requests["status"].astype(str) != "dropped").to_numpy() & np.isfinite(
        requests["latency_ms"].to_numpy(dtype=float))
    frame = pd.DataFrame({"bin": idx, "model": requests["model"].astype(str).to_numpy(),
                          "latency_ms": requests["latency_ms"].to_numpy(dtype=float)})[served]
    models = model_order(requests["model"].unique())
    with use_style():
        fig, ax = _setup(ax, 3.8)
        for m in models:
            part = frame[frame["model"] == m]
            if part.empty:
                continue
            grouped = part.groupby("bin")["latency_ms"]
            n = grouped.size().reindex(range(centres.size), fill_value=0).to_numpy()
            table = grouped.quantile(qs).unstack().reindex(range(centres.size))
            for q, ls in zip(qs, _QUANTILE_STYLES, strict=False):
                y = table[q].to_numpy(dtype=float)
                y[n < min_count] = np.nan
                ax.plot(tx(centres), y, color=model_color(m, models), ls=ls,
                        label=f"{m} p{100 * q:g}")
        handles = mark_events(ax, events, tx, end, kinds=("fault", "switch", "rollback", "promotion",
                                                         "gate_failed"))
        ax.set_xlim(0, tx(end))
        if log_y:
            ax.set_yscale("log")
            ax.set_ylabel("latency (ms, log scale)")
        else:
            ax.set_ylim(bottom=0)
            ax.set_ylabel("latency (ms)")
        ax.set_xlabel(tx.label)
        if title:
            ax.set_title(title)
        finish_legend(ax, handles)
    return fig


def error_rate_over_time(
    requests: pd.DataFrame,
    events: pd.DataFrame | None = None,
    bin_s: float = 30,
    *,
    statuses: Sequence[str] = ("error", "timeout", "dropped"),
    min_count: int = 5,
    time_unit: str = "auto",
    end_s: float | None = None,
    title: str | None = "Error rate per model",
    ax: Axes | None = None,
) -> Figure:
    """Percentage of each model's requests ending in one of ``statuses``, over time.

    The default counts every request that did not end ``ok`` (errors,
    timeouts, drops), which is what a success-rate gate sees. Fault windows,
    failed gates and rollbacks are marked as in :func:`latency_over_time`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_table(requests, "requests", ["time_s", "model", "status"])
    bad_set = {str(s) for s in statuses}
    if not bad_set:
        raise ValueError("statuses: give at least one status to count")
    end = _end_s(requests, events, end_s)
    tx = time_axis(end, time_unit)
    idx, centres = binned(requests["time_s"], bin_s, end)
    bad = requests["status"].astype(str).isin(bad_set).to_numpy()
    model = requests["model"].astype(str).to_numpy()
    models = model_order(requests["model"].unique())
    with use_style():
        fig, ax = _setup(ax, 3.4)
        for m in models:
            sel = model == m
            n = np.bincount(idx[sel], minlength=centres.size)
            k = np.bincount(idx[sel & bad], minlength=centres.size)
            rate = np.full(centres.size, np.nan)
            ok = n >= min_count
            rate[ok] = 100.0 * k[ok] / n[ok]
            ax.plot(tx(centres), rate, color=model_color(m, models), label=m, marker=".", ms=3)
        handles = mark_events(ax, events, tx, end, kinds=("fault", "switch", "rollback", "promotion",
                                                         "gate_failed"))
        ax.set_xlim(0, tx(end))
        ax.set_ylim(bottom=0)
        ax.set_xlabel(tx.label)
        what = "non-ok" if bad_set == {"error", "timeout", "dropped"} else "/".join(sorted(bad_set))
        ax.set_ylabel(f"{what} requests (%)")
        if title:
            ax.set_title(title)
        finish_legend(ax, handles)
    return fig
