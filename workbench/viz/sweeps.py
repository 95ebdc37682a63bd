"""Operating-characteristic curves of a rollout policy, from sweep tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import new_figure, use_style
from .timeseries import require_table

__all__ = ["oc_curve", "policy_comparison"]

_RATES = {
    "detection_rate": "detection rate (share of runs)",
    "false_rollback_rate": "false rollbacks (share of runs)",
    "promotion_rate": "promotion rate (share of runs)",
}


def oc_curve(
    oc: pd.DataFrame,
    x: str,
    rate: str = "detection_rate",
    *,
    hue: str | None = None,
    x_label: str | None = None,
    delay: str | None = "time_to_detect_s",
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
    """
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
            lo, hi = part[f"{rate}_lo"].to_numpy(dtype=float), part[f"{rate}_hi"].to_numpy(dtype=float)
            ok = np.isfinite(y)
            line = ax.plot(xs[ok], y[ok], marker="o", label=None if name is None else str(name))[0]
            ax.fill_between(xs[ok], lo[ok], hi[ok], color=line.get_color(), alpha=0.18, linewidth=0)
            if draw_delay:
                d = part[delay_cols[0]].to_numpy(dtype=float)
                dl, dh = part[delay_cols[1]].to_numpy(dtype=float), part[delay_cols[2]].to_numpy(dtype=float)
                fin = np.isfinite(d)
                axes[0, 1].errorbar(xs[fin], d[fin], yerr=[d[fin] - dl[fin], dh[fin] - d[fin]], marker="o",
                                    capsize=3, color=line.get_color(), label=None if name is None else str(name))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(x_label or x)
        ax.set_ylabel(_RATES.get(rate, f"{rate} (share of runs)"))
        ax.set_title("Operating characteristic (95% interval)")
        if hue is not None:
            ax.legend(title=hue, fontsize=8)
        if draw_delay:
            axes[0, 1].set_xlabel(x_label or x)
            axes[0, 1].set_ylabel(f"mean {delay.removesuffix('_s').replace('_', ' ')} (s)")
            axes[0, 1].set_title("Delay (mean, 95% interval)")
    return fig


def policy_comparison(
    oc: pd.DataFrame,
    metrics: Sequence[str] = ("false_rollback_rate", "detection_rate", "blast_radius_requests_mean"),
    *,
    policy: str = "policy",
) -> Figure:
    """One bar panel per metric, one bar per policy (same seeds), with intervals where present."""
    require_table(oc, "oc", [policy])
    metrics = [m for m in metrics if m in oc.columns and oc[m].notna().any()]
    if not metrics:
        raise ValueError("metrics: none of the requested columns are in oc (with values)")
    with use_style({"axes.grid.axis": "y"}):
        fig, axes = new_figure(1, len(metrics), width_in=3.6 * len(metrics), height_in=3.4, squeeze=False)
        for ax, metric in zip(axes[0], metrics, strict=True):
            part = oc.dropna(subset=[metric])
            names = part[policy].astype(str).tolist()
            values = part[metric].to_numpy(dtype=float)
            x = np.arange(len(names))
            lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
            yerr = None
            if lo_col in part and hi_col in part:
                yerr = [values - part[lo_col].to_numpy(dtype=float), part[hi_col].to_numpy(dtype=float) - values]
            ax.bar(x, values, yerr=yerr, capsize=4, width=0.6)
            ax.set_xticks(x, names, fontsize=8)
            unit = "requests" if "requests" in metric else ("s" if metric.endswith("_s") or "_s_" in metric
                                                           else "share of runs")
            ax.set_ylabel(f"{metric.replace('_', ' ')} ({unit})")
            ax.set_title(metric.replace("_", " "), fontsize=10)
        fig.suptitle("Policies on the same seeds")
    return fig
