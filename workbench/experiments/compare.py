"""Paired comparison of strategies on the same traffic (same seed, same faults).

:func:`compare` with ``seed=`` (or neither argument) runs every strategy once and
returns one KPI row per strategy (:func:`strategy_kpis`); with ``seeds=`` it runs
every strategy on the same many seeds and returns the risk of each
(:class:`~workbench.experiments.risk.RiskComparison`: rates and means with intervals).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..api import resolve_scenario, run
from ..result import RunResult
from ..scenario import Scenario, ScenarioError
from ..scenario.presets import STRATEGY_PRESETS, strategy_preset
from .detection import candidate_fault_windows, union_length

__all__ = ["compare", "strategy_kpis", "strategy_tables", "DEFAULT_STRATEGIES"]

# The strategy tables used for a kind the scenario does not configure itself, under the
# name workbench.experiments exports (the presets themselves: workbench.scenario.presets).
DEFAULT_STRATEGIES = STRATEGY_PRESETS


def _strategy_config(scenario: Scenario, spec: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return dict(spec)
    if spec == scenario.strategy.kind:
        return scenario.strategy.model_dump(mode="json")
    if spec not in STRATEGY_PRESETS:
        raise ScenarioError(f"strategies: unknown strategy {spec!r}; expected one of {sorted(STRATEGY_PRESETS)}")
    return strategy_preset(spec)


def strategy_tables(
    scenario: Scenario, strategies: Sequence[str | Mapping[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Each strategy's row label and full strategy table, as :func:`compare` runs them.

    A kind the scenario configures itself runs with the scenario's table, another
    kind with its preset; a mapping is a full table whose optional ``label`` names
    its row (default: its ``kind``).

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "c", "duration_s": 60,
    ...                               "models": {"legacy": {}, "candidate": {}}})
    >>> [label for label, _ in strategy_tables(sc, ["ab", {"kind": "canary", "label": "c5"}])]
    ['ab', 'c5']
    """
    out = []
    for spec in strategies:
        config = _strategy_config(scenario, spec)
        label = spec if isinstance(spec, str) else config.get("label", config["kind"])
        config.pop("label", None)
        out.append((label, config))
    return out


def strategy_kpis(result: RunResult, label: str | None = None) -> dict[str, Any]:
    """One comparison row of KPIs from a run (see :func:`compare`).

    Times are measured from the first fault that hurts the candidate (a fault targeting
    it, or concept drift: :func:`~workbench.experiments.detection.candidate_fault_windows`
    with ``include_concept_drift``): ``time_to_detect_s`` until the first failed gate, candidate
    or traffic alert, or rollback at or after it; ``time_to_rollback_s`` until the
    rollback, if it came after the fault (``rollback_time_s`` is the absolute time,
    whatever the cause). ``time_degraded_s`` is how long users were served by the
    candidate while a fault hurt it (overlapping faults counted once).
    """
    sc = result.scenario
    req = result.requests
    ev = result.events
    cand = req["model"] == "candidate"
    bad = (req["status"] != "ok") | req["slo_breach"]
    faults = candidate_fault_windows(sc, include_concept_drift=True)
    fault_start = min((s for s, _ in faults), default=math.nan)
    strat = result.summary.strategy
    rollback = ev[ev["kind"] == "rollback"]
    rollback_s = float(rollback["time_s"].iloc[0]) if len(rollback) else math.nan
    signals = ev[(ev["kind"].isin(["gate_failed", "rollback"]))
                 | ((ev["kind"] == "alert") & ev["model"].isin(["candidate", ""]))]
    after = signals[signals["time_s"] >= fault_start] if not math.isnan(fault_start) else signals.iloc[:0]
    detect_s = float(after["time_s"].iloc[0]) - fault_start if len(after) else math.nan
    to_rollback_s = rollback_s - fault_start if rollback_s >= fault_start else math.nan
    promotion = ev[ev["kind"] == "promotion"]
    promoted_s = float(promotion["time_s"].iloc[0]) if len(promotion) else math.nan
    if cand.any():
        serve_start = float(req.loc[cand, "time_s"].iloc[0])
        serve_end = rollback_s if not math.isnan(rollback_s) else sc.duration_s
        degraded = union_length(
            (max(s, serve_start), min(e, serve_end)) for s, e in faults if min(e, serve_end) > max(s, serve_start)
        )
    else:
        degraded = 0.0
    final = strat.final_state
    if final == "running" and strat.kind == "progressive":
        final = "in_progress"
    ok = req["status"] == "ok"
    row = {
        "strategy": label or sc.strategy.kind,
        "kind": sc.strategy.kind,
        "seed": result.seed,
        "requests": int(len(req)),
        "candidate_requests": int(cand.sum()),
        "candidate_users": int(req.loc[cand, "user_id"].nunique()),
        "bad_requests_legacy": int((bad & ~cand).sum()),
        "bad_requests_candidate": int((bad & cand).sum()),
        "bad_users_candidate": int(req.loc[bad & cand, "user_id"].nunique()),
        "errors_candidate": int(((req["status"] == "error") & cand).sum()),
        "timeouts_candidate": int(((req["status"] == "timeout") & cand).sum()),
        "slo_breaches_candidate": int((req["slo_breach"] & cand).sum()),
        "time_to_detect_s": detect_s,
        "time_to_rollback_s": to_rollback_s,
        "rollback_time_s": rollback_s,
        "time_to_full_rollout_s": promoted_s,
        "time_degraded_s": float(degraded),
        "final_state": final,
        "prediction_mae": float(req.loc[ok, "abs_error"].mean()) if ok.any() else math.nan,
        "conversion_rate": float(req["converted"].mean()) if len(req) else math.nan,
        "error_rate": float((~ok).mean()) if len(req) else math.nan,
        "latency_p99_ms": float(np.percentile(req.loc[req["status"] != "dropped", "latency_ms"], 99))
        if len(req) else math.nan,
    }
    if result.summary.shadow is not None:
        row["shadow_agreement"] = result.summary.shadow.agreement
    return row


def compare(
    scenario,
    strategies: Sequence[str | Mapping[str, Any]] = ("ab", "canary", "progressive", "shadow", "blue_green"),
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    seeds: int | Sequence[int] | None = None,
    confidence: float = 0.95,
    client=None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | str = False,
    return_results: bool = False,
):
    """Run several strategies on the same traffic: one KPI row each, or their risk over many seeds.

    Every strategy runs with the same seed, so arrivals, users, features, model draws
    and faults are identical (common random numbers): the comparison is paired.
    ``strategies`` holds kinds (``"canary"``; the scenario's own configuration of
    that kind is used when it has one, else its preset,
    :func:`~workbench.scenario.presets.strategy_preset`) or full
    strategy tables (mappings with ``kind``).

    Parameters
    ----------
    scenario : Scenario, path or mapping
    strategies : sequence of str or mapping
        Kinds or full strategy tables (see above); labels must differ with ``seeds``.
    seed : int, optional
        One run per strategy with this seed (default: the scenario's seed).
    overrides : mapping, optional
        Dotted-path overrides applied to the scenario first.
    seeds : int or list of int, optional
        Run every strategy on these seeds instead (``n``: seeds ``0 .. n-1``, at most
        :data:`~workbench.experiments.grid.MAX_SEEDS`), the same seeds for every
        strategy; see :func:`~workbench.experiments.risk.compare_seeds`.
    confidence, client, workers, scheduler, progress
        With ``seeds`` only: interval level, and where the runs go (in this process
        up to :data:`~workbench.experiments.risk.INPROCESS_MAX_RUNS` runs or
        :data:`~workbench.experiments.risk.INPROCESS_MAX_REQUESTS` requests in all,
        else on Dask, as for :func:`~workbench.experiments.sweep.sweep`).
    return_results : bool
        With one seed: also return each strategy's
        :class:`~workbench.result.RunResult` by label.

    Returns
    -------
    DataFrame, (DataFrame, dict) or RiskComparison
        One row per strategy (:func:`strategy_kpis`); with ``return_results`` also
        the runs; with ``seeds`` a
        :class:`~workbench.experiments.risk.RiskComparison`.

    Raises
    ------
    ScenarioError
        An unknown strategy kind, or arguments that do not go together (``seed``
        with ``seeds``; executor arguments or ``return_results`` with one seed only
        or many seeds only); :class:`~workbench.experiments.grid.SweepError` for bad
        ``seeds``.

    Examples
    --------
    >>> import workbench
    >>> sc = {"name": "c", "duration_s": 60, "models": {"legacy": {}, "candidate": {}}}
    >>> table = workbench.compare(sc, ["ab", "shadow"], seed=1)
    >>> list(table["strategy"])
    ['ab', 'shadow']
    >>> risk = workbench.compare(sc, ["ab", "shadow"], seeds=3)
    >>> risk.summary["runs"].tolist(), risk.seeds
    ([3, 3], (0, 1, 2))
    """
    if seeds is not None:
        if seed is not None:
            raise ScenarioError("seed, seeds: give seed= (one run per strategy) or seeds= "
                                "(the same many seeds for every strategy), not both")
        if return_results:
            raise ScenarioError("return_results: only with a single seed (seed=)")
        # imported here: risk runs through the sweep executors, which import this module
        from .risk import compare_seeds

        return compare_seeds(scenario, strategies, seeds, overrides, confidence=confidence,
                             client=client, workers=workers, scheduler=scheduler, progress=progress)
    if client is not None or workers is not None or scheduler is not None:
        raise ScenarioError("client, workers, scheduler: only with seeds= (many seeds); "
                            "a single seed runs in this process")
    base = resolve_scenario(scenario, overrides)
    seed = base.seed if seed is None else int(seed)
    rows, results = [], {}
    for label, config in strategy_tables(base, strategies):
        sc = base.with_overrides({"strategy": config})
        result = run(sc, seed=seed)
        rows.append(strategy_kpis(result, label))
        results[label] = result
    table = pd.DataFrame(rows)
    if return_results:
        return table, results
    return table
