"""Operating-characteristic curves of a rollout policy, from sweep tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import new_figure, use_style
from .timeseries import require_table

__all__ = ["METRIC_LABELS", "metric_label", "interval_bounds", "oc_curve", "policy_comparison"]

#: Readable names of the operating-characteristic columns: (what is measured, unit).
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "false_rollback_rate": ("good candidates rolled back", "share of runs"),
    "detection_rate": ("bad candidates caught", "share of runs"),
    "promotion_rate": ("candidates promoted", "share of runs"),
    "time_to_detect_s": ("time to detect", "s"),
    "time_to_rollback_s": ("time to roll back", "s"),
    "blast_radius_requests": ("bad requests before rollback", "requests"),
    "blast_radius_users": ("users hurt before rollback", "users"),
    "time_to_full_rollout_s": ("time to full rollout", "s"),
}
_STATS = {"_mean": "mean", "_median": "median", "_p90": "90th percentile"}


def metric_label(metric: str) -> tuple[str, str]:
    """A readable title and the unit of an operating-characteristic column.

    Examples
    --------
    >>> metric_label("blast_radius_requests_mean")
    ('bad requests before rollback (mean)', 'requests')
    >>> metric_label("detection_rate")
    ('bad candidates caught', 'share of runs')
    """
    for suffix, stat in _STATS.items():
        base = metric.removesuffix(suffix)
        if base != metric and base in METRIC_LABELS:
            name, unit = METRIC_LABELS[base]
            return f"{name} ({stat})", unit
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    unit = "s" if metric.endswith("_s") or "_s_" in metric else (
        "share of runs" if metric.endswith("_rate") else "requests" if "requests" in metric else "")
    return metric.replace("_", " "), unit


def _is_rate(metric: str) -> bool:
    return metric.endswith("_rate")


def _confidence(oc: pd.DataFrame, confidence: float | None) -> float:
    level = oc.attrs.get("confidence", 0.95) if confidence is None else confidence
    if not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"confidence: must be strictly between 0 and 1, got {level!r}")
    return float(level)


def interval_bounds(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, rate: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds clipped to what the quantity can take: [0, 1] for a rate, >= 0 otherwise.

    A count, a duration or a rate cannot be negative, so a bound below zero (a
    t interval of a skewed count) is drawn at 0, and a rate's bound above 1 at 1.
    Bounds are also kept on either side of the estimate.

    Examples
    --------
    >>> lo, hi = interval_bounds(np.array([3.0]), np.array([-2.0]), np.array([9.0]), rate=False)
    >>> float(lo[0]), float(hi[0])
    (0.0, 9.0)
    """
    lo = np.minimum(np.maximum(lo, 0.0), values)  # NaN (no interval) stays NaN
    hi = np.maximum(hi, values)
    if rate:
        hi = np.minimum(hi, 1.0)
    return lo, hi


def _draw_interval_bars(ax, x: np.ndarray, values: np.ndarray, lo: np.ndarray, hi: np.ndarray, color) -> None:
    """Error bars from ``lo`` to ``hi`` at the finite points only."""
    fin = np.isfinite(values) & np.isfinite(lo) & np.isfinite(hi)
    if fin.any():
        ax.errorbar(x[fin], values[fin], yerr=[values[fin] - lo[fin], hi[fin] - values[fin]], fmt="none",
                    ecolor=color, capsize=4, lw=1.2)


def oc_curve(
    oc: pd.DataFrame,
    x: str,
    rate: str = "detection_rate",
    *,
    hue: str | None = None,
    x_label: str | None = None,
    delay: str | None = "time_to_detect_s",
    confidence: float | None = None,
) -> Figure:
    """Rate against a swept parameter, with its Monte-Carlo interval (an OC curve).

    Parameters
    ----------
    oc : DataFrame
        A table from :func:`workbench.experiments.operating_characteristics` grouped by
        ``x`` (and ``hue``), with ``<rate>``, ``<rate>_lo`` and ``<rate>_hi`` columns.
    x : str
        The swept parameter's column (e.g. ``"faults[0].error_rate"``).
    rate : str
        ``detection_rate``, ``false_rollback_rate`` or ``promotion_rate``.
    hue : str, optional
        A column splitting the curves (e.g. ``"policy"``).
    x_label : str, optional
        Axis label for ``x`` with its unit (default: the column name).
    delay : str or None
        Also draw the mean of this time column (``<delay>_mean`` with ``_lo``/``_hi``)
        on a second panel; None for the rate only.
    confidence : float, optional
        Level of the table's intervals, said in the titles (default:
        ``oc.attrs["confidence"]``, else 0.95, the default of
        ``operating_characteristics``).

    Notes
    -----
    Rates and their bands stay inside [0, 1] and delays at or above 0
    (:func:`interval_bounds`).
    """
    level = _confidence(oc, confidence)
    cols = [x, rate, f"{rate}_lo", f"{rate}_hi"] + ([hue] if hue else [])
    require_table(oc, "oc", cols)
    delay_cols = [f"{delay}_mean", f"{delay}_mean_lo", f"{delay}_mean_hi"] if delay else []
    draw_delay = bool(delay) and all(c in oc.columns for c in delay_cols)
    groups = [(None, oc)] if hue is None else list(oc.groupby(hue, sort=False))
    with use_style():
        fig, axes = new_figure(1, 2 if draw_delay else 1, width_in=10 if draw_delay else 6, height_in=3.6,
                               squeeze=False)
        ax = axes[0, 0]
        for name, part in groups:
            part = part.sort_values(x)
            xs = pd.to_numeric(part[x], errors="coerce").to_numpy(dtype=float)
            y = part[rate].to_numpy(dtype=float)
            lo, hi = interval_bounds(y, part[f"{rate}_lo"].to_numpy(dtype=float),
                                     part[f"{rate}_hi"].to_numpy(dtype=float), rate=True)
            ok = np.isfinite(y)
            line = ax.plot(xs[ok], y[ok], marker="o", clip_on=False,
                           label=None if name is None else str(name))[0]
            ax.fill_between(xs[ok], lo[ok], hi[ok], color=line.get_color(), alpha=0.18, linewidth=0)
            if draw_delay:
                d = part[delay_cols[0]].to_numpy(dtype=float)
                dl, dh = interval_bounds(d, part[delay_cols[1]].to_numpy(dtype=float),
                                         part[delay_cols[2]].to_numpy(dtype=float), rate=False)
                fin = np.isfinite(d)
                axes[0, 1].plot(xs[fin], d[fin], marker="o", color=line.get_color(),
                                label=None if name is None else str(name))
                _draw_interval_bars(axes[0, 1], xs, d, dl, dh, line.get_color())
        ax.set_ylim(0.0, 1.02)  # room for a marker at 1
        ax.set_xlabel(x_label or x)
        rate_name, rate_unit = metric_label(rate)
        ax.set_ylabel(f"{rate_name} ({rate_unit})")
        ax.set_title(f"{rate_name.capitalize()}, {level:.0%} Wilson interval", fontsize=10)
        if hue is not None:
            ax.legend(title=hue, fontsize=8)
        if draw_delay:
            delay_name, delay_unit = metric_label(f"{delay}_mean")
            axes[0, 1].set_ylim(bottom=0.0)
            axes[0, 1].set_xlabel(x_label or x)
            axes[0, 1].set_ylabel(f"{delay_name} ({delay_unit})")
            axes[0, 1].set_title(f"{delay_name.capitalize()}, {level:.0%} t interval", fontsize=10)
    return fig


def policy_comparison(
    oc: pd.DataFrame,
    metrics: Sequence[str] = ("false_rollback_rate", "detection_rate", "blast_radius_requests_mean"),
    *,
    policy: str = "policy",
    confidence: float | None = None,
) -> Figure:
    """One bar panel per metric, one bar per policy (same seeds), with the intervals.

    Parameters
    ----------
    oc : DataFrame
        A table from :func:`workbench.experiments.compare_policies`.
    metrics : sequence of str
        Columns to draw; those missing or without values are left out. A metric's
        interval is drawn as error bars when the table has ``<metric>_lo`` and
        ``<metric>_hi`` (Wilson for rates, Student t for means).
    policy : str
        The column naming the policies.
    confidence : float, optional
        Level of the intervals, said in the caption (default:
        ``oc.attrs["confidence"]``, else 0.95, the default of ``compare_policies``).

    Notes
    -----
    Titles are readable names (:func:`metric_label`); intervals are clipped at 0,
    and rates at 1 (:func:`interval_bounds`), so no bar or error bar goes below 0.
    """
    level = _confidence(oc, confidence)
    require_table(oc, "oc", [policy])
    metrics = [m for m in metrics if m in oc.columns and oc[m].notna().any()]
    if not metrics:
        raise ValueError("metrics: none of the requested columns are in oc (with values)")
    with use_style({"axes.grid.axis": "y"}):
        fig, axes = new_figure(1, len(metrics), width_in=3.6 * len(metrics), height_in=3.6, squeeze=False)
        for ax, metric in zip(axes[0], metrics, strict=True):
            part = oc.dropna(subset=[metric])
            names = part[policy].astype(str).tolist()
            values = part[metric].to_numpy(dtype=float)
            x = np.arange(len(names))
            ax.bar(x, values, width=0.6)
            lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
            if lo_col in part and hi_col in part:
                lo, hi = interval_bounds(values, part[lo_col].to_numpy(dtype=float),
                                         part[hi_col].to_numpy(dtype=float), rate=_is_rate(metric))
                _draw_interval_bars(ax, x, values, lo, hi, "#333333")
            ax.set_xticks(x, names, fontsize=8)
            name, unit = metric_label(metric)
            ax.set_ylabel({"s": "seconds", "": name}.get(unit, unit))
            ax.set_title(name, fontsize=10)
            if _is_rate(metric):
                ax.set_ylim(0.0, 1.02)  # room for a cap at 1
            else:
                ax.set_ylim(bottom=0.0)
        runs = oc["runs"].dropna().astype(int).unique() if "runs" in oc else []
        seeds = f" ({runs[0]} runs each)" if len(runs) == 1 else ""
        fig.suptitle(f"Policies on the same seeds{seeds}")
        fig.supxlabel(f"Bars: estimate; error bars: {level:.0%} interval (Wilson for rates, "
                      "Student t for means), Monte-Carlo error only", fontsize=8)
    return fig
