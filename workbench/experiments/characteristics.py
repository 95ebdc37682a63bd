"""Operating characteristics of a rollout policy, with Monte-Carlo intervals.

From a sweep table (one row per simulated rollout, see
:func:`~workbench.experiments.sweep.sweep`) this module estimates what no
production tool tells you before you ship:

- **false-rollback rate**: how often a good candidate is rolled back (what users of
  progressive-delivery tools most often ask to have fewer of);
- **detection rate** (power) per fault size, and the **missed-detection rate**
  ``1 - detection`` (Bifet et al., CD-MOA 2013);
- **time to detect** (first failing analysis after the fault starts) and **time
  to roll back**, as mean (with interval), median and 90th percentile (CD-MOA's
  mean time to detection);
- **blast radius**: user requests the candidate served badly (error, timeout or
  SLO breach), and the users behind them when the table has ``bad_users_candidate``;
  after a rollback the candidate serves nobody, so for a rolled-back run this is
  the harm done before the rollback;
- **time to full rollout** of a good candidate (promoted runs).

Intervals: Wilson score intervals for rates (Wilson 1927; recommended over the
Wald interval by Brown, Cai and DasGupta 2001, it stays inside [0, 1] and is not
degenerate at 0 or n successes), Student-t intervals for means, both from
:mod:`workbench.stats.intervals`. Both describe Monte-Carlo error only: more seeds
make them narrower.

Which runs have a good candidate: the ``good_candidate`` argument, else a
``good_candidate`` column, else ``candidate_faults == 0`` (the sweep records how
many faults target the candidate in every run:
:func:`~workbench.experiments.detection.candidate_fault_windows`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..api import resolve_scenario
from ..stats.intervals import RateEstimate, t_interval, wilson_interval
from .executors import run_sweep
from .grid import sweep_tasks

__all__ = [
    "RateEstimate",
    "DistributionSummary",
    "wilson_interval",
    "summarise_values",
    "good_candidate_flags",
    "operating_characteristics",
    "compare_policies",
    "format_characteristics",
]

# distribution summaries: OC column prefix <- sweep column (blast_radius_users only when
# the table has the column: tables written before it existed lack it)
_DISTRIBUTIONS = {
    "time_to_detect_s": "time_to_detect_s",
    "time_to_rollback_s": "time_to_rollback_s",
    "blast_radius_requests": "bad_requests_candidate",
    "time_to_full_rollout_s": "time_to_full_rollout_s",
    "blast_radius_users": "bad_users_candidate",
}
_REQUIRED = ("final_state", "time_to_rollback_s", "time_to_detect_s", "bad_requests_candidate",
             "time_to_full_rollout_s")


@dataclass(frozen=True)
class DistributionSummary:
    """Mean (with a Student-t interval), median and 90th percentile of finite values."""

    n: int
    mean: float
    lower: float
    upper: float
    median: float
    p90: float
    confidence: float


def _check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence: must be strictly between 0 and 1, got {confidence!r}")
    return float(confidence)


def summarise_values(values: Iterable[float], confidence: float = 0.95) -> DistributionSummary:
    """Mean with a Student-t interval, median and p90 of the finite values (NaN dropped).

    One value gives a mean without interval (NaN bounds); none gives all NaN. When no
    value is negative (users hurt, seconds to detect), the interval's lower bound is
    clipped at 0: a skewed count's t interval would otherwise reach below zero.

    Examples
    --------
    >>> s = summarise_values([60, 60, 120, float("nan")])
    >>> s.n, s.mean, s.median
    (3, 80.0, 60.0)
    """
    confidence = _check_confidence(confidence)
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return DistributionSummary(0, math.nan, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = float(x.mean())
    if n >= 2:
        se = float(x.std(ddof=1)) / math.sqrt(n)
        lower, upper = t_interval(mean, se, n - 1, confidence)
        if x.min() >= 0:  # counts and durations: no negative bound for a quantity that cannot be negative
            lower = max(lower, 0.0)
    else:
        lower = upper = math.nan
    return DistributionSummary(n, mean, lower, upper, float(np.median(x)),
                               float(np.percentile(x, 90)), confidence)


def good_candidate_flags(df: pd.DataFrame, good_candidate: bool | str | None = None) -> pd.Series:
    """Whether the candidate of each run (row) is good: the one rule of every OC table.

    ``good_candidate`` as for :func:`operating_characteristics`: a constant, a boolean
    column's name, or None for the ``good_candidate`` column, else
    ``candidate_faults == 0`` (no fault from
    :func:`~workbench.experiments.detection.candidate_fault_windows` hurts it).

    Examples
    --------
    >>> good_candidate_flags(pd.DataFrame({"candidate_faults": [0, 2]})).tolist()
    [True, False]
    """
    if isinstance(good_candidate, (bool, np.bool_)):
        return pd.Series(bool(good_candidate), index=df.index)
    if isinstance(good_candidate, str):
        if good_candidate not in df.columns:
            raise ValueError(f"good_candidate: no column {good_candidate!r} in the table")
        return df[good_candidate].astype(bool)
    if good_candidate is not None:
        raise ValueError(
            f"good_candidate: must be None, a bool or a column name, got {good_candidate!r}")
    if "good_candidate" in df.columns:
        return df["good_candidate"].astype(bool)
    if "candidate_faults" in df.columns:
        return df["candidate_faults"] == 0
    raise ValueError("good_candidate: the table has neither a 'good_candidate' nor a "
                     "'candidate_faults' column; pass good_candidate=True/False or a column name")


def operating_characteristics(
    df: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    good_candidate: bool | str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Operating characteristics of a policy, one row per group, with intervals.

    Parameters
    ----------
    df : DataFrame
        A sweep table (:func:`~workbench.experiments.sweep.sweep`): needs
        ``final_state``, ``time_to_detect_s``, ``time_to_rollback_s``,
        ``bad_requests_candidate`` and ``time_to_full_rollout_s``.
    by : str or list of str, optional
        Grouping columns (e.g. the fault size). Default: the sweep's parameter
        columns (``df.attrs["params"]``), or one group if unknown. ``[]`` pools all.
    good_candidate : bool, str or None
        Whether the candidate is good in each run: a constant, a boolean column, or
        (None) the ``good_candidate`` column, else ``candidate_faults == 0``. It is
        always a grouping key, so good and bad runs are never pooled.
    confidence : float
        Level of every interval.

    Returns
    -------
    DataFrame
        Grouping columns, ``good_candidate``, ``runs``, ``rollbacks``,
        ``rollbacks_before_fault`` (a bad-candidate run rolled back before its
        fault began: a false alarm, not a detection), ``promotions``,
        ``in_progress``; ``false_rollback_rate`` (good groups) or
        ``detection_rate`` (bad groups: rolled back after the fault began) and
        ``promotion_rate``, each with ``_lo``/``_hi`` Wilson bounds; for
        ``time_to_detect_s``, ``time_to_rollback_s``, ``blast_radius_requests``
        (``bad_requests_candidate``), ``time_to_full_rollout_s`` (promoted runs) and,
        when the table has ``bad_users_candidate``, ``blast_radius_users``:
        ``_n``, ``_mean``, ``_mean_lo``, ``_mean_hi``, ``_median``, ``_p90``.

    Examples
    --------
    >>> runs = pd.DataFrame({"final_state": ["rolled_back", "promoted", "promoted", "promoted"],
    ...                      "time_to_detect_s": [float("nan")] * 4,
    ...                      "time_to_rollback_s": [300.0] + [float("nan")] * 3,
    ...                      "bad_requests_candidate": [5, 20, 22, 24],
    ...                      "time_to_full_rollout_s": [float("nan"), 900.0, 900.0, 960.0],
    ...                      "candidate_faults": [0, 0, 0, 0]})
    >>> oc = operating_characteristics(runs)
    >>> float(oc.loc[0, "false_rollback_rate"]), float(oc.loc[0, "time_to_full_rollout_s_mean"])
    (0.25, 920.0)
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df: must be a DataFrame, got {type(df).__name__}")
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"df: missing column(s) {missing}; expected a sweep table")
    confidence = _check_confidence(confidence)
    if by is None:
        keys = [c for c in df.attrs.get("params", []) if c in df.columns]
    elif isinstance(by, str):
        keys = [by]
    else:
        keys = list(by)
    for k in keys:
        if k not in df.columns:
            raise ValueError(f"by: no column {k!r} in the table")
        if k == "good_candidate":
            raise ValueError("by: 'good_candidate' is always a grouping key; do not list it")
    work = df.copy()
    work["good_candidate"] = good_candidate_flags(df, good_candidate).to_numpy()
    group_keys = [*keys, "good_candidate"]
    rows = []
    for values, g in work.groupby(group_keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        rows.append({**dict(zip(group_keys, values, strict=True)), **_group_row(g, confidence)})
    return pd.DataFrame(rows)


def _group_row(g: pd.DataFrame, confidence: float) -> dict[str, Any]:
    good = bool(g["good_candidate"].iloc[0])
    state = g["final_state"].astype(str)
    rolled = (state == "rolled_back").to_numpy()
    ttr = pd.to_numeric(g["time_to_rollback_s"], errors="coerce").to_numpy(dtype=float)
    # a bad candidate rolled back with no time from its fault (NaN: the rollback came first) or a
    # negative one was rolled back before the fault began: a false alarm, not a detection
    before_fault = rolled & ~(ttr >= 0) if not good else np.zeros(len(g), dtype=bool)
    n = len(g)
    row: dict[str, Any] = {
        "runs": n,
        "rollbacks": int(rolled.sum()),
        "rollbacks_before_fault": int(before_fault.sum()),
        "promotions": int((state == "promoted").sum()),
        "in_progress": int(state.isin(["in_progress", "running"]).sum()),
    }
    rb = wilson_interval(int(rolled.sum()), n, confidence)
    det = wilson_interval(int((rolled & ~before_fault).sum()), n, confidence)
    for name, est in (("false_rollback_rate", rb if good else None),
                      ("detection_rate", det if not good else None),
                      ("promotion_rate", wilson_interval(row["promotions"], n, confidence))):
        row[name] = est.rate if est else math.nan
        row[f"{name}_lo"] = est.lower if est else math.nan
        row[f"{name}_hi"] = est.upper if est else math.nan
    for prefix, col in _DISTRIBUTIONS.items():
        if col not in g.columns:
            continue
        values = pd.to_numeric(g[col], errors="coerce").to_numpy(dtype=float)
        if prefix in ("time_to_detect_s", "time_to_rollback_s"):
            values = values[values >= 0]  # an alarm before the fault is no detection delay
        s = summarise_values(values, confidence)
        row.update({f"{prefix}_n": s.n, f"{prefix}_mean": s.mean, f"{prefix}_mean_lo": s.lower,
                    f"{prefix}_mean_hi": s.upper, f"{prefix}_median": s.median,
                    f"{prefix}_p90": s.p90})
    return row


def compare_policies(
    scenario,
    policies: Mapping[str, Mapping[str, Any]],
    seeds: int | Iterable[int],
    vary: Mapping[str, Sequence[Any]] | None = None,
    *,
    good_candidate: bool | str | None = None,
    confidence: float = 0.95,
    return_runs: bool = False,
    client=None,
    workers: int | None = None,
    out: str | os.PathLike | None = None,
    progress: bool | str = "auto",
    scheduler: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    record: bool = True,
    registry=None,
    force: bool = False,
):
    """Operating characteristics of several policies on the same seeds (paired).

    Every policy (a name and its dotted-path overrides) runs on the same seeds, so
    all policies meet the same traffic and the same faults (common random numbers).

    Parameters
    ----------
    policies : mapping of name to overrides
        E.g. ``{"threshold": {}, "sequential": {"strategy.judge.kind": "sequential"},
        "kayenta": {"strategy.judge.kind": "kayenta"}}``.
    seeds, vary, client, workers, out, progress, scheduler, overrides, record, registry, force
        As for :func:`~workbench.experiments.sweep.sweep`.
    good_candidate, confidence
        As for :func:`operating_characteristics`.
    return_runs : bool
        Also return the run table (with a ``policy`` column).

    Returns
    -------
    DataFrame, or (DataFrame, DataFrame) with ``return_runs``
        One row per policy (and per point of ``vary``), columns as for
        :func:`operating_characteristics`.
    """
    base = resolve_scenario(scenario, overrides)
    tasks, columns = sweep_tasks(seeds, vary, variants=policies)
    runs = run_sweep(base, tasks, columns, client=client, workers=workers, out=out,
                     progress=progress, scheduler=scheduler, record=record, registry=registry,
                     kind="sweep", force=force)
    oc = operating_characteristics(runs, by=columns, good_candidate=good_candidate,
                                   confidence=confidence)
    return (oc, runs) if return_runs else oc


def _fmt_rate(rate: float, lo: float, hi: float) -> str:
    if not math.isfinite(rate):
        return "-"
    return f"{rate:.3f} [{lo:.3f}, {hi:.3f}]"


def _fmt_num(x: float, digits: int = 0) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}f}"


def format_characteristics(oc: pd.DataFrame) -> str:
    """A compact text table of :func:`operating_characteristics` (for the CLI).

    Rates are shown with their interval; times as mean [interval] / median / p90.
    """
    if not isinstance(oc, pd.DataFrame):
        raise ValueError(f"oc: must be a DataFrame, got {type(oc).__name__}")
    first = list(oc.columns[: list(oc.columns).index("good_candidate")]) if "good_candidate" in oc else []
    lines = []
    for _, r in oc.iterrows():
        line: dict[str, str] = {c: str(r[c]) for c in first}
        line["candidate"] = "good" if r["good_candidate"] else "bad"
        line["runs"] = str(int(r["runs"]))
        if r["good_candidate"]:
            line["rollback rate"] = _fmt_rate(r["false_rollback_rate"], r["false_rollback_rate_lo"],
                                              r["false_rollback_rate_hi"])
        else:
            line["rollback rate"] = _fmt_rate(r["detection_rate"], r["detection_rate_lo"],
                                              r["detection_rate_hi"])
        line["promoted"] = _fmt_rate(r["promotion_rate"], r["promotion_rate_lo"],
                                     r["promotion_rate_hi"])
        for prefix, label in (("time_to_detect_s", "detect s"), ("time_to_rollback_s", "rollback s"),
                              ("blast_radius_requests", "blast radius"),
                              ("time_to_full_rollout_s", "full rollout s")):
            if r[f"{prefix}_n"] == 0:
                line[label] = "-"
            else:
                line[label] = (f"{_fmt_num(r[f'{prefix}_mean'])} "
                               f"[{_fmt_num(r[f'{prefix}_mean_lo'])}, {_fmt_num(r[f'{prefix}_mean_hi'])}]"
                               f" / {_fmt_num(r[f'{prefix}_median'])} / {_fmt_num(r[f'{prefix}_p90'])}")
        lines.append(line)
    table = pd.DataFrame(lines)
    note = ("rollback rate = false-rollback rate (good candidate) or detection rate (bad); "
            "times: mean [interval] / median / p90")
    return table.to_string(index=False) + "\n" + note
