"""Panels beyond the request log: shadow agreement, strategy comparison, p-values over time."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import finish_legend, mark_events, model_color, new_figure, time_axis, use_style
from .timeseries import binned, require_table

__all__ = ["shadow_agreement", "compare_panel", "p_values_over_time", "COMPARE_METRICS"]

#: Columns of a :func:`workbench.compare` table that :func:`compare_panel` knows,
#: with their panel title, y-axis label (unit included) and the factor applied before plotting.
COMPARE_METRICS: dict[str, tuple[str, str, float]] = {
    "bad_requests_candidate": ("bad candidate requests", "requests (count)", 1.0),
    "candidate_users": ("users exposed to candidate", "users (count)", 1.0),
    "time_degraded_s": ("time users were on a faulty candidate", "time (s)", 1.0),
    "time_to_rollback_s": ("fault start to rollback", "time (s)", 1.0),
    "time_to_detect_s": ("fault start to first failed gate", "time (s)", 1.0),
    "time_to_full_rollout_s": ("time to full rollout", "time (s)", 1.0),
    "error_rate": ("non-ok requests, all users", "share of requests (%)", 100.0),
    "latency_p99_ms": ("p99 latency, all users", "latency (ms)", 1.0),
    "prediction_mae": ("prediction MAE, all users", "MAE (label units)", 1.0),
    "conversion_rate": ("conversion, all users", "share of requests (%)", 100.0),
    "candidate_requests": ("requests served by candidate", "requests (count)", 1.0),
    "shadow_agreement": ("shadow agreement", "share of compared calls (%)", 100.0),
}
_DEFAULT_COMPARE = ("bad_requests_candidate", "candidate_users", "time_degraded_s",
                    "time_to_rollback_s", "error_rate", "latency_p99_ms")


def shadow_agreement(
    shadow: pd.DataFrame,
    tolerance: float = 0.5,
    bin_s: float = 30,
    *,
    events: pd.DataFrame | None = None,
    time_unit: str = "auto",
    min_count: int = 5,
) -> Figure:
    """How a shadowed candidate behaves, from the mirrored-call table alone.

    Left: the distribution of ``prediction_diff`` (candidate minus legacy) with
    the agreement band ``|diff| <= tolerance`` shaded. Right, over time: the
    share of compared calls that agree and the share of mirrored calls that
    did not end ``ok``. None of this reached users; it is the candidate's real
    health under production traffic.

    Parameters
    ----------
    shadow : DataFrame
        ``RunResult.shadow``: ``time_s``, ``status``, ``prediction_diff``.
    tolerance : float
        Agreement band half-width, in prediction units (the shadow strategy's
        ``agreement_tolerance``, 0.5 by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_table(shadow, "shadow", ["time_s", "status", "prediction_diff"])
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance: must be a non-negative number, got {tolerance!r}")
    diff = shadow["prediction_diff"].to_numpy(dtype=float)
    compared = np.isfinite(diff)
    agree = compared & (np.abs(np.where(compared, diff, 0.0)) <= tolerance)
    bad = (shadow["status"].astype(str) != "ok").to_numpy()
    end = float(shadow["time_s"].max())
    if events is not None and not events.empty:
        end = max(end, float(events["time_s"].max()))
    tx = time_axis(end, time_unit)
    idx, centres = binned(shadow["time_s"], bin_s, end)
    n = np.bincount(idx, minlength=centres.size)
    n_cmp = np.bincount(idx[compared], minlength=centres.size)
    k_agree = np.bincount(idx[agree], minlength=centres.size)
    k_bad = np.bincount(idx[bad], minlength=centres.size)
    agree_pct = np.full(centres.size, np.nan)
    bad_pct = np.full(centres.size, np.nan)
    ok_cmp, ok_n = n_cmp >= min_count, n >= min_count
    agree_pct[ok_cmp] = 100.0 * k_agree[ok_cmp] / n_cmp[ok_cmp]
    bad_pct[ok_n] = 100.0 * k_bad[ok_n] / n[ok_n]
    with use_style():
        fig, (left, right) = new_figure(1, 2, width_in=11.0, height_in=3.6)
        if compared.any():
            values = diff[compared]
            lim = max(float(np.quantile(np.abs(values), 0.995)), 1.5 * tolerance, 1e-9)
            left.hist(values, bins=60, range=(-lim, lim),
                      color=model_color("candidate"), alpha=0.85)
            share = 100.0 * agree.sum() / compared.sum()
            left.text(0.02, 0.95, f"agree: {share:.1f}% of {int(compared.sum())} compared",
                      transform=left.transAxes, va="top", fontsize=9)
        else:
            left.text(0.5, 0.5, "no successful mirrored call to compare", ha="center",
                      transform=left.transAxes)
        left.axvspan(-tolerance, tolerance, color="#2ecc71", alpha=0.15, lw=0,
                     label=f"|diff| <= {tolerance:g}")
        left.set_xlabel("candidate - legacy prediction (prediction units)")
        left.set_ylabel("mirrored calls (count)")
        left.set_title("Prediction difference")
        finish_legend(left, loc="upper right", bbox_to_anchor=None)
        right.plot(tx(centres), agree_pct, color="#1e8449", label="agreement (of compared)")
        right.plot(tx(centres), bad_pct, color="#c0392b", label="candidate non-ok (of mirrored)")
        handles = mark_events(right, events, tx, end, kinds=("fault",))
        right.set_xlim(0, tx(end))
        right.set_ylim(0, 100)
        right.set_xlabel(tx.label)
        right.set_ylabel("share of mirrored calls (%)")
        right.set_title("Shadow candidate over time")
        finish_legend(right, handles, loc="lower left", bbox_to_anchor=None)
    return fig


def compare_panel(
    table: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    ncols: int = 3,
) -> Figure:
    """Bars of the key KPIs of a :func:`workbench.compare` table, one panel per KPI.

    Each bar is a strategy on the same traffic (paired by seed); its tick
    label carries the final state (``rolled_back``, ``promoted``, ...). A
    missing value (no rollback happened, so no time to rollback) is written
    ``n/a`` instead of drawn as zero.

    Parameters
    ----------
    table : DataFrame
        One row per strategy with a ``strategy`` column and KPI columns.
    metrics : sequence of str, optional
        KPI columns to draw; labels and units for the known ones are in
        :data:`COMPARE_METRICS`, others are drawn as they are. Default: the
        exposure and safety KPIs present in ``table``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_table(table, "table", ["strategy"])
    if metrics is None:
        metrics = [m for m in _DEFAULT_COMPARE if m in table.columns]
        if not metrics:
            raise ValueError(f"table: none of the default KPI columns {list(_DEFAULT_COMPARE)} present")
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise ValueError(f"metrics: column(s) {missing} not in table")
    if int(ncols) < 1:
        raise ValueError(f"ncols: must be >= 1, got {ncols!r}")
    names = table["strategy"].astype(str).tolist()
    ticks = [textwrap.fill(s, 12) for s in names]
    if "final_state" in table.columns:
        ticks = [f"{t}\n{f}" for t, f in zip(ticks, table["final_state"].astype(str), strict=True)]
    ncols = min(int(ncols), len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    colors = [model_color(s, names) for s in names]
    x = np.arange(len(names))
    with use_style({"axes.grid.axis": "y"}):
        panel_w = max(3.4, 0.8 * len(names))
        fig, axes = new_figure(nrows, ncols, width_in=panel_w * ncols, height_in=2.9 * nrows,
                               squeeze=False)
        flat = axes.ravel()
        for ax, metric in zip(flat, metrics, strict=False):
            title, label, factor = COMPARE_METRICS.get(metric, (metric, "value (as reported)", 1.0))
            values = pd.to_numeric(table[metric], errors="coerce").to_numpy(dtype=float) * factor
            finite = np.isfinite(values)
            bars = ax.bar(x, np.where(finite, values, 0.0), color=colors, width=0.7)
            top = float(np.max(np.abs(values[finite]))) if finite.any() else 1.0
            texts = [(_fmt(v) if ok else "n/a") for v, ok in zip(values, finite, strict=True)]
            ax.bar_label(bars, labels=texts, fontsize=8, padding=2)
            ax.set_ylim(0, (top if top > 0 else 1.0) * 1.18)
            ax.set_xticks(x, ticks, fontsize=7.5)
            ax.set_ylabel(label)
            ax.set_title(title, fontsize=10)
        for ax in flat[len(metrics):]:
            ax.set_visible(False)
        fig.suptitle("Strategies on the same traffic (paired by seed)")
    return fig


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.3g}"


def p_values_over_time(
    df: pd.DataFrame,
    x: str | None = None,
    *,
    alpha: float = 0.05,
    naive: str = "p_naive",
    sequential: str = "p_sequential",
    effect_name: str = "effect, candidate - legacy",
    effect_unit: str = "metric units",
    time_unit: str = "auto",
) -> Figure:
    """Naive and always-valid p-values at each look, and the effect with its intervals.

    The lesson of peeking (Armitage, McPherson and Rowe 1969):
    a fixed-horizon p-value recomputed at every look dips below ``alpha`` by
    chance far more often than ``alpha``; an always-valid p-value (mSPRT or a
    confidence sequence) may be read at every look.

    Parameters
    ----------
    df : DataFrame
        One row per look. Columns (only ``x`` and one p-value are required):

        - ``time_s`` (simulated seconds) or ``n`` (observations so far,
          e.g. per arm): the x axis. ``x`` picks one; default ``time_s`` if
          present, else ``n``.
        - ``p_naive``: the fixed-horizon p-value recomputed at this look.
        - ``p_sequential``: the always-valid p-value at this look.
        - ``estimate`` with ``ci_low``/``ci_high`` (the naive fixed-horizon
          interval) and/or ``cs_low``/``cs_high`` (the confidence sequence):
          drawn in a second panel when ``estimate`` is present.
    alpha : float
        Significance level drawn as a horizontal line.
    naive, sequential : str
        Names of the p-value columns, if not the defaults.
    effect_name, effect_unit : str
        Label of the effect axis: ``"{effect_name} ({effect_unit})"``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> df = pd.DataFrame({"n": [100, 200, 300], "p_naive": [0.3, 0.04, 0.2],
    ...                    "p_sequential": [1.0, 0.6, 0.5]})
    >>> fig = p_values_over_time(df)
    >>> fig.axes[0].get_xlabel()
    'observations (count)'
    """
    if x is None:
        x = "time_s" if isinstance(df, pd.DataFrame) and "time_s" in df.columns else "n"
    require_table(df, "df", [x])
    pcols = [c for c in (naive, sequential) if c in df.columns]
    if not pcols:
        raise ValueError(f"df: needs a p-value column ({naive!r} and/or {sequential!r})")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    data = df.sort_values(x, kind="stable")
    if x == "time_s":
        tx = time_axis(float(data[x].max()), time_unit)
        xs, xlabel = tx(data[x].to_numpy(dtype=float)), tx.label
    else:
        xs = data[x].to_numpy(dtype=float)
        xlabel = "observations (count)" if x == "n" else f"{x} (as given)"
    has_effect = "estimate" in data.columns
    styles = {naive: ("#c0392b", "naive p-value (peeking)"),
              sequential: ("#1f4e79", "always-valid p-value")}
    with use_style():
        fig, axes = new_figure(2 if has_effect else 1, 1, height_in=5.8 if has_effect else 3.4,
                               sharex=True, squeeze=False)
        ax = axes[0, 0]
        for col in pcols:
            p = np.clip(data[col].to_numpy(dtype=float), 1e-16, 1.0)
            color, label = styles[col]
            ax.plot(xs, p, color=color, label=label, marker=".", ms=4)
            below = np.flatnonzero(p < alpha)
            if below.size:
                ax.plot(xs[below[0]], p[below[0]], ls="", marker="o", ms=9, mfc="none", mec=color)
        ax.axhline(alpha, color="#555555", ls="--", lw=1.0, label=f"alpha = {alpha:g}")
        ax.set_yscale("log")
        ax.set_ylim(top=1.5)
        ax.set_ylabel("p-value (probability, log scale)")
        ax.set_title("p-value at each look")
        finish_legend(ax)
        ax.set_xlabel(xlabel)
        ax.tick_params(labelbottom=True)
        if has_effect:
            ax2 = axes[1, 0]
            est = data["estimate"].to_numpy(dtype=float)
            if {"ci_low", "ci_high"} <= set(data.columns):
                ax2.fill_between(xs, data["ci_low"].to_numpy(dtype=float),
                                 data["ci_high"].to_numpy(dtype=float), color="#c0392b", alpha=0.18,
                                 lw=0, label=f"fixed-horizon {100 * (1 - alpha):g}% CI")
            if {"cs_low", "cs_high"} <= set(data.columns):
                ax2.plot(xs, data["cs_low"].to_numpy(dtype=float), color="#1f4e79", ls="--", lw=1.2,
                         label=f"{100 * (1 - alpha):g}% confidence sequence")
                ax2.plot(xs, data["cs_high"].to_numpy(dtype=float), color="#1f4e79", ls="--", lw=1.2)
            ax2.plot(xs, est, color="black", label="estimate")
            ax2.axhline(0.0, color="#555555", lw=0.8)
            ax2.set_ylabel(f"{effect_name} ({effect_unit})")
            ax2.set_xlabel(xlabel)
            ax2.set_title("Effect estimate and intervals")
            finish_legend(ax2)
    return fig
