"""Capacity planning: an autoscaled fleet against a fixed fleet sized for the peak."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..api import resolve_scenario, run
from ..scenario import Scenario
from ..story import scale_counts

__all__ = ["autoscaling_vs_fixed", "peak_fleet_size"]


def peak_fleet_size(scenario: Scenario, model: str = "legacy") -> int:
    """Replicas a fixed fleet needs to run the peak rate at the autoscaler's target utilisation.

    ``ceil(peak_rate * mean_service_s / target_utilisation)``: the same sizing rule the
    HPA applies, evaluated once at the peak.
    """
    cfg = scenario.models[model]
    peak = scenario.traffic.peak_rate_per_s
    mean_ms = cfg.latency.mean_ms  # every latency spec knows its mean
    target = cfg.autoscaling.target_utilisation if cfg.autoscaling else 0.6
    return max(1, math.ceil(peak * mean_ms / 1000.0 / target))


def autoscaling_vs_fixed(
    scenario,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    model: str = "legacy",
    fixed_replicas: int | None = None,
) -> pd.DataFrame:
    """Run the scenario with its autoscaler and with a fixed fleet (same seed, same traffic).

    Returns one row per fleet: p95 and p99 latency, whether p95 is within the SLO,
    replica-seconds (the cost), mean and peak replicas, utilisation, and the
    autoscaler's scale events (up and down; 0 for the fixed fleet). The autoscaled
    fleet's scale events themselves (``time_s``, ``reason``) are in
    ``table.attrs["scale_events"]``.
    """
    sc = resolve_scenario(scenario, overrides)
    if sc.models[model].autoscaling is None:
        raise ValueError(f"models.{model}.autoscaling: the scenario has no autoscaler to compare")
    fixed = fixed_replicas or peak_fleet_size(sc, model)
    rows = []
    scale_events = pd.DataFrame(columns=["time_s", "reason"])
    for label, ov in (
        ("autoscaled", {}),
        (f"fixed ({fixed} replicas)", {f"models.{model}.autoscaling": None, f"models.{model}.replicas": fixed}),
    ):
        r = run(sc.with_overrides(ov) if ov else sc, seed=seed)
        m = r.summary.models[model]
        res = r.summary.resources[model]
        ups, downs = scale_counts(r.events, model)
        if not ov:
            ev = r.events
            scale_events = ev.loc[(ev["kind"] == "scale") & (ev["model"] == model), ["time_s", "reason"]]
            scale_events = scale_events.reset_index(drop=True)
        rows.append(
            {
                "fleet": label,
                "seed": r.seed,
                "latency_p95_ms": m.latency_p95_ms,
                "latency_p99_ms": m.latency_p99_ms,
                "slo_ms": sc.slo.latency_ms,
                "p95_within_slo": bool(m.latency_p95_ms <= sc.slo.latency_ms),
                "replica_seconds": res.replica_seconds,
                "mean_replicas": res.mean_replicas,
                "peak_replicas": res.peak_replicas,
                "utilisation": m.utilisation,
                "error_rate": m.error_rate,
                "scale_ups": ups,
                "scale_downs": downs,
            }
        )
    table = pd.DataFrame(rows)
    table["cost_vs_fixed"] = table["replica_seconds"] / table["replica_seconds"].iloc[1]
    table.attrs["scale_events"] = scale_events
    return table

