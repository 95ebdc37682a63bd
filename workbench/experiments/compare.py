"""Paired comparison of strategies on the same traffic (same seed, same faults)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..api import resolve_scenario, run
from ..result import RunResult
from ..scenario import Scenario
from .detection_scoring import union_length

__all__ = ["compare", "strategy_kpis", "DEFAULT_STRATEGIES"]

# Defaults used when a strategy is named by kind only and the scenario does not
# configure that kind itself. Chosen to be typical production settings
# (Flagger/Argo: 60 s analyses, success-rate and latency gates; canary 5%).
_GATES = [
    {"metric": "error_rate", "threshold": 0.02, "direction": "max", "min_samples": 50},
    {"metric": "latency_p99_ms", "threshold": 1.5, "direction": "max", "relative_to_legacy": True,
     "min_samples": 50},
]
DEFAULT_STRATEGIES: dict[str, dict[str, Any]] = {
    "single": {"kind": "single"},
    "ab": {"kind": "ab", "candidate_fraction": 0.5, "sticky": True},
    "canary": {"kind": "canary", "candidate_fraction": 0.05},
    "progressive": {
        "kind": "progressive",
        "steps": [{"weight": 5, "pause_s": 300}, {"weight": 25, "pause_s": 300},
                  {"weight": 50, "pause_s": 300}, {"weight": 100}],
        "interval_s": 60,
        "gates": _GATES,
        "failure_limit": 1,
    },
    "shadow": {"kind": "shadow", "mirror_fraction": 1.0},
    "blue_green": {"kind": "blue_green", "switch_s": 300, "interval_s": 30, "gates": _GATES},
    "bandit": {"kind": "bandit", "algorithm": "thompson", "min_legacy_share": 0.1},
}


def _strategy_config(scenario: Scenario, spec: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return dict(spec)
    if spec == scenario.strategy.kind:
        return scenario.strategy.model_dump(mode="json")
    if spec not in DEFAULT_STRATEGIES:
        from ..scenario import ScenarioError

        raise ScenarioError(f"strategies: unknown strategy {spec!r}; expected one of {sorted(DEFAULT_STRATEGIES)}")
    return dict(DEFAULT_STRATEGIES[spec])


def _candidate_faults(scenario: Scenario) -> list[tuple[float, float]]:
    return [
        (f.start_s, min(f.end_s, scenario.duration_s))
        for f in scenario.faults
        if getattr(f, "target", None) == "candidate" or f.kind == "concept_drift"
    ]


def strategy_kpis(result: RunResult, label: str | None = None) -> dict[str, Any]:
    """One comparison row of KPIs from a run (see :func:`compare`).

    Times are measured from the first fault that hurts the candidate (a fault targeting
    it, or concept drift): ``time_to_detect_s`` until the first failed gate, candidate
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
    faults = _candidate_faults(sc)
    fault_start = min((s for s, _ in faults), default=math.nan)
    strat = result.summary["strategy"]
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
    final = strat.get("final_state", "running")
    if final == "running":
        final = "in_progress" if strat.get("kind") in ("progressive",) else "running"
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
    if "shadow" in result.summary:
        row["shadow_agreement"] = result.summary["shadow"]["agreement"]
    return row


def compare(
    scenario,
    strategies: Sequence[str | Mapping[str, Any]] = ("ab", "canary", "progressive", "shadow", "blue_green"),
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    return_results: bool = False,
):
    """Run several strategies on the same traffic and return one KPI row per strategy.

    Every strategy runs with the same seed, so arrivals, users, features, model draws
    and faults are identical (common random numbers): the comparison is paired.
    ``strategies`` holds kinds (``"canary"``; the scenario's own configuration of
    that kind is used when it has one, else :data:`DEFAULT_STRATEGIES`) or full
    strategy tables (mappings with ``kind``).

    Examples
    --------
    >>> import workbench
    >>> sc = {"name": "c", "duration_s": 60, "models": {"legacy": {}, "candidate": {}}}
    >>> table = workbench.compare(sc, ["ab", "shadow"], seed=1)
    >>> list(table["strategy"])
    ['ab', 'shadow']
    """
    base = resolve_scenario(scenario, overrides)
    seed = base.seed if seed is None else int(seed)
    rows, results = [], {}
    for spec in strategies:
        config = _strategy_config(base, spec)
        label = spec if isinstance(spec, str) else config.get("label", config["kind"])
        config.pop("label", None)
        sc = base.with_overrides({"strategy": config})
        result = run(sc, seed=seed)
        rows.append(strategy_kpis(result, label))
        results[label] = result
    table = pd.DataFrame(rows)
    if return_results:
        return table, results
    return table
