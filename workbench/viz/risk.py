"""Risk of each strategy over many paired seeds: point estimates with their intervals.

:func:`risk_plot` draws the summary of ``workbench.compare(scenario, strategies,
seeds=N)`` (a :class:`~workbench.experiments.risk.RiskComparison` or its ``summary``
table), one panel per risk figure, one row per strategy: the point estimate as a dot
and its interval as a bar (Wilson for rates, Student t for means). Quantities that
cannot be negative (rates, times, users) never show a negative bound; rates never
exceed 100 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import model_color, new_figure, use_style

__all__ = ["RISK_FIGURES", "risk_intervals", "risk_plot"]

#: Risk figures :func:`risk_plot` knows: summary column -> (panel title, axis label, kind,
#: factor, what a row without a value means). ``kind`` is ``"rate"`` (columns ``name``,
#: ``name_low``, ``name_high``) or ``"mean"`` (``name_mean``, ``name_low``, ``name_high``);
#: values are multiplied by ``factor``.
RISK_FIGURES: dict[str, tuple[str, str, str, float, str]] = {
    "false_rollback_rate": ("Rolls back a good candidate", "share of runs (%)", "rate", 100.0,
                            "n/a: the candidate is bad"),
    "detection_rate": ("Catches a bad candidate", "share of runs (%)", "rate", 100.0,
                       "n/a: the candidate is good"),
    "time_to_detect_s": ("Time to detect a fault", "time from fault start (s)", "mean", 1.0,
                         "n/a: nothing detected"),
    "blast_radius_users": ("Users hurt before rollback", "users (count)", "mean", 1.0, "n/a"),
    "time_to_full_rollout_s": ("Time to full rollout", "time since start (s)", "mean", 1.0,
                               "n/a: never fully rolled out"),
}


def _labels(summary: pd.DataFrame, by: str) -> list[str]:
    """Row labels: the strategy, with ``(good)``/``(bad)`` when it has both kinds of runs."""
    names = [str(v) for v in summary[by]]
    out = []
    for i, name in enumerate(names):
        if names.count(name) > 1 and "good_candidate" in summary.columns:
            name = f"{name} ({'good' if bool(summary['good_candidate'].iloc[i]) else 'bad'})"
        out.append(name)
    return out


def _columns(name: str, kind: str) -> tuple[str, str, str]:
    point = name if kind == "rate" else f"{name}_mean"
    return point, f"{name}_low", f"{name}_high"


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def risk_intervals(summary: pd.DataFrame, name: str) -> pd.DataFrame:
    """One figure's point estimate and drawn bounds per row, as :func:`risk_plot` draws them.

    Bounds are clipped at 0 (and rates at 100 %); a bound that is NaN (a single run)
    is drawn at the point estimate.

    Examples
    --------
    >>> s = pd.DataFrame({"strategy": ["a"], "time_to_detect_s_mean": [20.0],
    ...                   "time_to_detect_s_low": [-5.0], "time_to_detect_s_high": [45.0]})
    >>> risk_intervals(s, "time_to_detect_s")[["value", "low", "high"]].values.tolist()
    [[20.0, 0.0, 45.0]]
    """
    if name not in RISK_FIGURES:
        raise ValueError(f"figures: unknown risk figure {name!r}; expected some of {list(RISK_FIGURES)}")
    _, _, kind, factor, _ = RISK_FIGURES[name]
    point, low, high = _columns(name, kind)
    missing = [c for c in (point, low, high) if c not in summary.columns]
    if missing:
        raise ValueError(f"summary: no column(s) {missing} for {name!r}")
    value = pd.to_numeric(summary[point], errors="coerce").to_numpy(dtype=float) * factor
    lo = pd.to_numeric(summary[low], errors="coerce").to_numpy(dtype=float) * factor
    hi = pd.to_numeric(summary[high], errors="coerce").to_numpy(dtype=float) * factor
    lo = np.where(np.isfinite(lo), lo, value)
    hi = np.where(np.isfinite(hi), hi, value)
    lo = np.maximum(lo, 0.0)
    if kind == "rate":
        hi = np.minimum(hi, 100.0)
    return pd.DataFrame({"value": value, "low": lo, "high": hi})


def risk_plot(
    summary: Any,
    figures: Sequence[str] | None = None,
    *,
    ncols: int = 3,
    by: str | None = None,
) -> Figure:
    """Each strategy's risk with intervals, one panel per risk figure.

    Parameters
    ----------
    summary : DataFrame or RiskComparison
        ``RiskComparison.summary`` (or the comparison itself): one row per strategy
        (and per good/bad candidate) with the columns of
        :func:`~workbench.experiments.risk.risk_summary`.
    figures : sequence of str, optional
        Keys of :data:`RISK_FIGURES`. Default: every one the table has columns for.
    ncols : int
        Panels per row.
    by : str, optional
        The column naming each row; default the first column.

    Returns
    -------
    matplotlib.figure.Figure
        Panel ``i`` draws figure ``i``: a dot per row at the point estimate (a
        ``Line2D``) and one horizontal bar per row from the low to the high bound
        (a ``LineCollection``; y = the row's position, top row first). A row without a
        value reads ``n/a`` and why (no good candidate to roll back, nothing detected).

    Examples
    --------
    >>> s = pd.DataFrame({"strategy": ["canary", "progressive"], "good_candidate": [False, False],
    ...                   "detection_rate": [0.4, 0.9], "detection_rate_low": [0.17, 0.6],
    ...                   "detection_rate_high": [0.69, 0.98]})
    >>> fig = risk_plot(s)
    >>> fig.axes[0].get_title(), [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ('Catches a bad candidate', ['canary', 'progressive'])
    """
    table = getattr(summary, "summary", summary)
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("summary: expected a non-empty risk summary table (RiskComparison.summary)")
    by = table.columns[0] if by is None else by
    if by not in table.columns:
        raise ValueError(f"by: no column {by!r} in the summary")
    if figures is None:
        figures = [n for n, (_, _, kind, _, _) in RISK_FIGURES.items()
                   if all(c in table.columns for c in _columns(n, kind))]
        if not figures:
            raise ValueError(f"summary: no risk figure columns; expected some of {list(RISK_FIGURES)}")
    figures = list(figures)
    if not figures:
        raise ValueError("figures: give at least one risk figure")
    if int(ncols) < 1:
        raise ValueError(f"ncols: must be >= 1, got {ncols!r}")
    drawn = [risk_intervals(table, name) for name in figures]  # checks names and columns first
    labels = _labels(table, by)
    strategies = [str(v) for v in table[by]]
    colors = [model_color(s, list(dict.fromkeys(strategies))) for s in strategies]
    y = np.arange(len(labels), dtype=float)
    ncols = min(int(ncols), len(figures))
    nrows = math.ceil(len(figures) / ncols)
    confidence = float(table.attrs.get("confidence", getattr(summary, "confidence", 0.95)))
    runs = sorted({int(r) for r in table["runs"]}) if "runs" in table.columns else []
    with use_style({"axes.grid.axis": "x"}):
        fig, axes = new_figure(nrows, ncols, width_in=3.8 * ncols,
                               height_in=nrows * (1.4 + 0.5 * len(labels)), squeeze=False)
        flat = axes.ravel()
        for ax, name, d in zip(flat, figures, drawn, strict=False):
            title, axis_label, kind, _, missing = RISK_FIGURES[name]
            ok = np.isfinite(d["value"].to_numpy())
            rows = y[ok]
            ax.hlines(rows, d["low"].to_numpy()[ok], d["high"].to_numpy()[ok],
                      colors=[c for c, k in zip(colors, ok, strict=True) if k], lw=3.0, alpha=0.55)
            ax.plot(d["value"].to_numpy()[ok], rows, ls="", marker="o", ms=7, color="#222222", zorder=3)
            top = float(d["high"].to_numpy()[ok].max()) if ok.any() else 0.0
            right = 100.0 if kind == "rate" else (top * 1.15 if top > 0 else 1.0)
            ax.set_xlim(0.0, right * 1.04)  # room for a dot at the right end
            for yi, row in zip(y, d.itertuples(index=False), strict=True):
                if math.isfinite(row.value):  # the estimate, just above its dot
                    text = f"{row.value:.0f}%" if kind == "rate" else _fmt(row.value)
                    ax.annotate(text, (row.value, yi), xytext=(0, 6), textcoords="offset points",
                                ha="center", va="bottom", fontsize=9)
                else:
                    ax.text(0.02 * right, yi, missing, va="center", ha="left", fontsize=9, color="#666666")
            ax.set_yticks(y, labels)
            ax.set_ylim(len(labels) - 0.5, -0.5)  # first strategy on top
            ax.set_xlabel(axis_label)
            ax.set_title(title, fontsize=11)
        for ax in flat[len(figures):]:
            ax.set_visible(False)
        seeds = f"{runs[0]} seeds" if len(runs) == 1 else "many seeds"
        fig.suptitle(f"Risk of each strategy over {seeds} (dot: estimate, bar: {confidence:.0%} interval)")
    return fig
