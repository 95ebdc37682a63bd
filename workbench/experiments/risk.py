"""Every answer with its risk: strategies compared over many paired seeds.

A design review asks of a rollout plan: how often does it roll back a good model,
how many users does a bad one hurt before it is caught, how long until full
rollout, and how sure are we? One seed answers with one number;
:func:`compare_seeds` (``workbench.compare(..., seeds=N)``) runs every strategy on
the same ``N`` seeds (common random numbers: for a given seed every strategy meets
the same arrivals, users and faults) and answers with intervals:

- per strategy, every numeric KPI of :func:`~workbench.experiments.compare.strategy_kpis`
  as a mean with a Student-t interval (``<kpi>_mean``, ``<kpi>_low``, ``<kpi>_high``);
- the risk figures of
  :func:`~workbench.experiments.characteristics.operating_characteristics`: the
  probability of rolling back a good candidate (``false_rollback_rate``) and of
  catching a bad one (``detection_rate``), both with Wilson intervals, and the
  time to detect, time to roll back, users and requests hurt (blast radius) and
  time to full rollout, each as mean with a t interval and median.

Whether the candidate is good in a run follows the one rule of sweeps: no fault of
:func:`~workbench.experiments.detection.candidate_fault_windows` targets it.
Intervals describe Monte-Carlo error only; more seeds make them narrower.

Up to :data:`INPROCESS_MAX_RUNS` runs (seeds x strategies), or up to
:data:`INPROCESS_MAX_REQUESTS` expected requests in all, go in this process, where
starting a Dask cluster would cost more than it saves (a cluster's start, its
workers' imports and its per-task traffic cost a few seconds); more, or any of
``client``/``workers``/``scheduler``, go through the sweep executors
(:func:`~workbench.experiments.executors.run_sweep`). Results are the same either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..api import resolve_scenario
from ..limits import expected_arrivals
from ..scenario import ScenarioError
from .characteristics import good_candidate_flags, operating_characteristics, summarise_values
from .compare import strategy_tables
from .executors import run_sweep
from .grid import sweep_tasks

__all__ = ["INPROCESS_MAX_REQUESTS", "INPROCESS_MAX_RUNS", "RiskComparison", "compare_seeds", "risk_summary", "risk_table",
           "format_risk"]

INPROCESS_MAX_RUNS = 40  # seeds x strategies run in this process without asking for Dask
# and any number of runs totalling at most this many requests (about 5-10 s in one process
# with the compiled queue kernel, which such a batch loads): the 4-strategy, 30-seed compare of
# the panel on progressive_bad_candidate (8.6M requests) takes 5.9 s here against 8.1 s on a
# 2-worker local cluster (bench/sweep.py)
INPROCESS_MAX_REQUESTS = 10_000_000

# rates of operating_characteristics, shown under the same names
_RATES = ("false_rollback_rate", "detection_rate", "promotion_rate")
# distributions of operating_characteristics: mean with interval, and median
_SPREADS = ("time_to_detect_s", "time_to_rollback_s", "blast_radius_users", "blast_radius_requests",
            "time_to_full_rollout_s")
# run-table columns that are not KPIs
_NOT_KPIS = frozenset({"seed", "candidate_faults", "good_candidate"})


@dataclass(frozen=True, eq=False)
class RiskComparison:
    """Strategies compared on the same seeds: every run, and each strategy's risk.

    Attributes
    ----------
    runs : DataFrame
        One row per strategy x seed (strategy-major): the columns of
        :func:`~workbench.experiments.compare.strategy_kpis` and ``candidate_faults``.
    summary : DataFrame
        One row per strategy: :func:`risk_summary` of ``runs``.
    seeds : tuple of int
        The seeds every strategy ran with, in order.
    strategies : tuple of str
        Row labels, in the order given.
    scenario : str
        Name of the scenario.
    confidence : float
        Level of every interval.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    seeds: tuple[int, ...]
    strategies: tuple[str, ...]
    scenario: str
    confidence: float

    def means(self) -> pd.DataFrame:
        """One row per strategy with the mean of every KPI under its own name.

        The shape of a single-seed :func:`~workbench.compare` table (without the
        text columns), e.g. for :func:`workbench.viz.compare_panel`.
        """
        names = [c[: -len("_mean")] for c in self.summary.columns
                 if c.endswith("_mean") and f"{c[: -len('_mean')]}_low" in self.summary.columns]
        out = pd.DataFrame({"strategy": self.summary["strategy"]})
        for name in names:
            out[name] = self.summary[f"{name}_mean"]
        return out

    def table(self) -> pd.DataFrame:
        """The summary as text cells, one column per strategy (:func:`risk_table`)."""
        return risk_table(self.summary)

    def format(self) -> str:
        """The summary as a readable text table (:func:`format_risk`)."""
        return format_risk(self.summary)


def _in_process(runs: int, requests: float, client, workers, scheduler) -> bool:
    if client is not None or workers is not None or scheduler is not None:
        return False
    return runs <= INPROCESS_MAX_RUNS or requests <= INPROCESS_MAX_REQUESTS


def compare_seeds(
    scenario,
    strategies: Sequence[str | Mapping[str, Any]],
    seeds: int | Iterable[int],
    overrides: Mapping[str, Any] | None = None,
    *,
    confidence: float = 0.95,
    client=None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | str = False,
) -> RiskComparison:
    """Run every strategy on the same seeds and summarise each one's risk with intervals.

    Parameters
    ----------
    scenario : Scenario, path or mapping
    strategies : sequence of str or mapping
        As for :func:`~workbench.compare`; their labels must differ.
    seeds : int or list of int
        ``n`` means seeds ``0 .. n-1``; checked as sweep seeds (at least 1, at most
        :data:`~workbench.experiments.grid.MAX_SEEDS`, distinct, non-negative).
    overrides : mapping, optional
        Dotted-path overrides applied to the scenario first.
    confidence : float
        Level of every interval.
    client, workers, scheduler, progress
        As for :func:`~workbench.experiments.sweep.sweep`. With none of the first
        three and at most :data:`INPROCESS_MAX_RUNS` runs, everything runs in this
        process.

    Returns
    -------
    RiskComparison

    Raises
    ------
    ScenarioError
        No strategy, an unknown kind, or two strategies with the same label;
        :class:`~workbench.experiments.grid.SweepError` for bad seeds or executor
        arguments.

    Examples
    --------
    >>> sc = {"name": "c", "duration_s": 30, "models": {"legacy": {}, "candidate": {}}}
    >>> risk = compare_seeds(sc, ["ab", "canary"], seeds=[4, 7])
    >>> risk.runs[["strategy", "seed"]].values.tolist()
    [['ab', 4], ['ab', 7], ['canary', 4], ['canary', 7]]
    >>> bool(risk.summary["good_candidate"].all())
    True
    """
    if isinstance(strategies, (str, Mapping)) or not (strategies := list(strategies)):
        raise ScenarioError("strategies: give a list of at least one strategy kind or table")
    base = resolve_scenario(scenario, overrides)
    tables = strategy_tables(base, strategies)
    labels = [label for label, _ in tables]
    repeated = sorted({str(x) for x in labels if labels.count(x) > 1})
    if repeated:
        raise ScenarioError(f"strategies: label(s) {repeated} given more than once; "
                            "give each strategy table its own 'label'")
    variants = {label: {"strategy": config} for label, config in tables}
    tasks, columns = sweep_tasks(seeds, variants=variants, variant_column="strategy")
    local = _in_process(len(tasks), len(tasks) * expected_arrivals(base), client, workers, scheduler)
    runs = run_sweep(base, tasks, columns, client=client, workers=1 if local else workers,
                     progress=progress, scheduler=scheduler, record=False, kind="compare")
    first = [c for c in ("strategy", "kind", "seed") if c in runs.columns]
    runs = runs[first + [c for c in runs.columns if c not in first]]
    return RiskComparison(
        runs=runs,
        summary=risk_summary(runs, confidence=confidence),
        seeds=tuple(dict.fromkeys(t.seed for t in tasks)),
        strategies=tuple(labels),
        scenario=base.name,
        confidence=float(confidence),
    )


def _kpi_columns(runs: pd.DataFrame, by: str) -> list[str]:
    """Numeric, non-boolean columns of a run table that are KPIs."""
    return [c for c in runs.columns
            if c != by and c not in _NOT_KPIS and pd.api.types.is_numeric_dtype(runs[c])
            and not pd.api.types.is_bool_dtype(runs[c])]


def _summary_row(g: pd.DataFrame, figures: pd.Series, by: str, kpis: list[str],
                 confidence: float) -> dict[str, Any]:
    row: dict[str, Any] = {by: figures[by]}
    if "kind" in g.columns:
        row["kind"] = g["kind"].iloc[0]
    row["good_candidate"] = bool(figures["good_candidate"])
    row["runs"] = int(figures["runs"])
    for name in _RATES:
        row[name] = figures[name]
        row[f"{name}_low"] = figures[f"{name}_lo"]
        row[f"{name}_high"] = figures[f"{name}_hi"]
    for name in _SPREADS:
        if f"{name}_n" not in figures.index:
            continue
        row[f"{name}_n"] = int(figures[f"{name}_n"])
        row[f"{name}_mean"] = figures[f"{name}_mean"]
        row[f"{name}_low"] = figures[f"{name}_mean_lo"]
        row[f"{name}_high"] = figures[f"{name}_mean_hi"]
        row[f"{name}_median"] = figures[f"{name}_median"]
    for kpi in kpis:
        if f"{kpi}_mean" in row:  # a risk figure above: the same values
            continue
        s = summarise_values(pd.to_numeric(g[kpi], errors="coerce"), confidence)
        row[f"{kpi}_mean"], row[f"{kpi}_low"], row[f"{kpi}_high"] = s.mean, s.lower, s.upper
    return row


def risk_summary(runs: pd.DataFrame, by: str = "strategy", confidence: float = 0.95) -> pd.DataFrame:
    """Each strategy's risk figures and KPI means, with intervals, from a run table.

    Parameters
    ----------
    runs : DataFrame
        One row per run: a ``by`` column, the columns of
        :func:`~workbench.experiments.compare.strategy_kpis` and ``candidate_faults``
        (or ``good_candidate``), as in :attr:`RiskComparison.runs` or a sweep table.
    by : str
        Column naming the strategy (or policy) of each run.
    confidence : float
        Level of every interval.

    Returns
    -------
    DataFrame
        One row per ``by`` value (and per good/bad candidate, never pooled), in
        order of appearance: ``by``, ``kind``, ``good_candidate``, ``runs``;
        ``false_rollback_rate`` (good candidate), ``detection_rate`` (bad
        candidate: rolled back after the fault began) and ``promotion_rate``, each
        with ``_low``/``_high`` Wilson bounds (NaN when they do not apply);
        ``time_to_detect_s``, ``time_to_rollback_s``, ``blast_radius_users``,
        ``blast_radius_requests`` and ``time_to_full_rollout_s`` with ``_n``,
        ``_mean``, ``_low``, ``_high`` (Student t) and ``_median``; then every other
        numeric KPI as ``<kpi>_mean``, ``<kpi>_low``, ``<kpi>_high`` over its finite
        values (one value: NaN bounds).

    Examples
    --------
    >>> runs = pd.DataFrame({"strategy": ["p"] * 4, "final_state": ["rolled_back"] + ["promoted"] * 3,
    ...                      "time_to_detect_s": [float("nan")] * 4,
    ...                      "time_to_rollback_s": [float("nan")] * 4,
    ...                      "bad_requests_candidate": [5, 20, 22, 24],
    ...                      "time_to_full_rollout_s": [float("nan"), 900.0, 900.0, 960.0],
    ...                      "candidate_faults": [0, 0, 0, 0]})
    >>> row = risk_summary(runs).iloc[0]
    >>> float(row["false_rollback_rate"]), float(row["time_to_full_rollout_s_median"])
    (0.25, 900.0)
    """
    if not isinstance(runs, pd.DataFrame):
        raise ValueError(f"runs: must be a DataFrame, got {type(runs).__name__}")
    if by not in runs.columns:
        raise ValueError(f"by: no column {by!r} in the table")
    work = runs.copy()
    work["good_candidate"] = good_candidate_flags(runs).to_numpy()
    oc = operating_characteristics(work, by=[by], confidence=confidence)
    kpis = _kpi_columns(runs, by)
    rows = []
    for _, figures in oc.iterrows():
        g = work[(work[by] == figures[by]) & (work["good_candidate"] == figures["good_candidate"])]
        rows.append(_summary_row(g, figures, by, kpis, confidence))
    out = pd.DataFrame(rows)
    out.attrs["confidence"] = float(confidence)
    return out


# ------------------------------------------------------------------------------ text
def _num(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 1 or x == 0:
        return f"{x:.1f}" if not float(x).is_integer() else f"{x:.0f}"
    return f"{x:.3g}"


def _rate(r: Mapping[str, Any], name: str) -> str:
    rate = float(r.get(name, math.nan))
    if not math.isfinite(rate):
        return "-"
    return f"{rate:.2f} [{float(r[f'{name}_low']):.2f}, {float(r[f'{name}_high']):.2f}]"


def _mean(r: Mapping[str, Any], name: str) -> str:
    mean = float(r.get(f"{name}_mean", math.nan))
    if not math.isfinite(mean):
        return "-"
    text = f"{_num(mean)} [{_num(float(r[f'{name}_low']))}, {_num(float(r[f'{name}_high']))}]"
    if f"{name}_median" in r:
        text += f", median {_num(float(r[f'{name}_median']))}"
    return text


# row label, column, how it is shown
_TABLE_ROWS = (
    ("rolls back a good candidate", "false_rollback_rate", _rate),
    ("catches a bad candidate", "detection_rate", _rate),
    ("promoted", "promotion_rate", _rate),
    ("time to detect (s)", "time_to_detect_s", _mean),
    ("time to roll back (s)", "time_to_rollback_s", _mean),
    ("users hurt", "blast_radius_users", _mean),
    ("requests hurt", "blast_radius_requests", _mean),
    ("time to full rollout (s)", "time_to_full_rollout_s", _mean),
    ("users on the candidate", "candidate_users", _mean),
    ("error rate, all users", "error_rate", _mean),
    ("p99 latency, all users (ms)", "latency_p99_ms", _mean),
)


def risk_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as text cells: one row per figure, one column per strategy.

    Rates read ``0.12 [0.07, 0.19]`` (Wilson interval), means
    ``312 [280, 344], median 300`` (Student-t interval); ``-`` where there is
    nothing to measure (no good candidate, no rollback, ...).
    """
    if not isinstance(summary, pd.DataFrame):
        raise ValueError(f"summary: must be a DataFrame, got {type(summary).__name__}")
    label = summary.columns[0]
    names = [str(v) for v in summary[label]]
    cells: dict[str, list[str]] = {}
    for i, r in enumerate(summary.to_dict("records")):
        name = names[i]
        if names.count(name) > 1:  # one strategy with good and bad runs: never pooled
            name = f"{name} ({'good' if r['good_candidate'] else 'bad'})"
        column = ["good" if r["good_candidate"] else "bad (a fault hurts it)", str(int(r["runs"]))]
        column += [show(r, col) for _, col, show in _TABLE_ROWS]
        cells[name] = column
    index = ["candidate", "runs", *(text for text, _, _ in _TABLE_ROWS)]
    return pd.DataFrame(cells, index=index)


def format_risk(summary: pd.DataFrame) -> str:
    """A readable text table of :func:`risk_summary` (what ``workbench compare --seeds`` prints).

    Examples
    --------
    >>> sc = {"name": "c", "duration_s": 30, "models": {"legacy": {}, "candidate": {}}}
    >>> text = format_risk(compare_seeds(sc, ["canary"], seeds=3).summary)
    >>> text.splitlines()[1].split()
    ['candidate', 'good']
    """
    table = risk_table(summary)
    level = f"{float(summary.attrs.get('confidence', 0.95)):.0%}"
    note = (f"value [{level} interval]: rates with Wilson intervals, means with Student-t intervals "
            "over the seeds; '-': nothing to measure")
    return table.to_string() + "\n" + note
