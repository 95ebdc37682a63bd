"""The public entry points: :func:`run` (one scenario, one seed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .engine import EVENT_COLUMNS, Simulation
from .engine.draws import CAUSE_MESSAGES
from .result import STATUS_CATEGORIES, RunResult, summarise
from .scenario import Scenario, load_scenario
from .status import STATUS_NAMES
from .strategies import Strategy

__all__ = ["run", "resolve_scenario"]


def resolve_scenario(
    scenario: Scenario | str | os.PathLike | Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """A :class:`Scenario` from a scenario, a path or a mapping, with overrides applied."""
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(overrides)
    if isinstance(scenario, (str, Path, os.PathLike)):
        return load_scenario(scenario, overrides=overrides)
    return load_scenario(scenario, overrides=overrides)


def run(
    scenario: Scenario | str | os.PathLike | Mapping[str, Any],
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    models: Mapping[str, Any] | None = None,
    strategy: Strategy | None = None,
    progress: Callable[[float], None] | None = None,
    alert_callbacks: list[Callable[[Any], Any]] | None = None,
) -> RunResult:
    """Simulate a scenario and return its :class:`~workbench.result.RunResult`.

    Parameters
    ----------
    scenario : Scenario, path or mapping
    seed : int, optional
        Defaults to the scenario's ``seed``. Same scenario and seed, same results.
    overrides : mapping, optional
        Dotted paths to values, e.g. ``{"traffic.rate_per_s": 80}``.
    models : mapping, optional
        Real estimators (anything with ``predict``) to serve instead of synthetic models.
    strategy : Strategy, optional
        A custom strategy object instead of the scenario's ``[strategy]``.
    alert_callbacks : list of callables, optional
        Called with each monitoring alert (a dict); one that raises is logged as an
        ``alert_callback_failed`` event and never stops the run.

    Examples
    --------
    >>> import workbench
    >>> r = workbench.run({"name": "tiny", "duration_s": 10, "models": {"legacy": {}}}, seed=1)
    >>> int(r.summary["status_counts"]["ok"]) + int(r.summary["status_counts"]["error"]) == len(r.requests)
    True
    """
    sc = resolve_scenario(scenario, overrides)
    seed = sc.seed if seed is None else int(seed)
    if seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed}")
    sim = Simulation(
        sc, seed, models=models, strategy=strategy, progress=progress, alert_callbacks=alert_callbacks
    ).run()
    return build_result(sim)


def build_result(sim: Simulation) -> RunResult:
    """Turn a finished simulation's buffers into DataFrames and a summary.

    The request table shares the engine's buffers (no copies), full-length columns
    are built in place or chunk by chunk, and the per-model draws are released
    (:meth:`Simulation.release_draws`) before the summary is computed.
    """
    sc = sim.scenario
    tr = sim.traffic
    n = sim.n
    # zero-copy views of the engine's buffers (the DataFrame keeps them alive)
    model_idx = np.frombuffer(sim.log_model, dtype=np.int8)
    status_idx = np.frombuffer(sim.log_status, dtype=np.int8)
    if n and (status_idx < 0).any():  # pragma: no cover - conservation guard
        raise RuntimeError(f"{int((status_idx < 0).sum())} requests never finished")
    latency = np.frombuffer(sim.log_latency_ms, dtype=np.float64)
    queue_ms = np.frombuffer(sim.log_queue_ms, dtype=np.float64)
    # busy replica-seconds first, before the result's own columns are allocated
    started = np.frombuffer(sim._started, dtype=np.int8).view(bool)  # 0/1 bytes
    busy_s: dict[str, float] = {}
    for k, d in enumerate(sim.draws):
        sel = started & (model_idx == k)
        hold = d.service_s[sel]
        timeout_s = sim._timeout_s[k]
        if timeout_s is not None:
            hang = d.outage[sel] == 2
            wait = queue_ms[sel] / 1000.0
            hold = np.where(hang, np.maximum(timeout_s - wait, 0.0), hold)
        busy_s[d.name] = float(hold.sum())
        del sel, hold
    ok = status_idx == 0
    failed = status_idx == 1
    prediction = np.full(n, np.nan)
    cause = np.zeros(n, dtype=np.int8)
    for k, d in enumerate(sim.draws):
        mine = model_idx == k
        np.copyto(prediction, d.prediction, where=ok & mine)
        np.copyto(cause, d.cause, where=failed & mine)
    del ok, failed, mine, d  # ``d`` would keep the last model's draws alive
    converted = sim.conversion_column()
    shadow = sim.mirror.to_frame(sim) if sim.mirror is not None else _empty_shadow()
    strategy_summary = sim.strategy.summary()
    strategy_tables = sim.strategy.tables()
    sim.release_draws()  # nothing below needs per-request draws
    abs_error = np.subtract(prediction, tr.label)
    np.abs(abs_error, out=abs_error)
    columns: dict[str, Any] = {
        "request_id": np.arange(n, dtype=np.int64),
        "time_s": tr.time_s,
        "user_id": tr.user_id,
        "model": pd.Categorical.from_codes(model_idx, categories=list(sim.model_names)),
        "status": pd.Categorical.from_codes(status_idx, dtype=STATUS_CATEGORIES),
        "queue_ms": queue_ms,
        "latency_ms": latency,
        "end_time_s": np.frombuffer(sim.log_end_s, dtype=np.float64),
        "prediction": prediction,
        "label": tr.label,
        "label_time_s": tr.label_time_s,
        "abs_error": abs_error,
        "converted": converted,
        "slo_breach": (latency > sc.slo.latency_ms) & (status_idx != 3),
    }
    for j, name in enumerate(tr.feature_names):
        columns[f"feature_{name}"] = tr.features[:, j]
    # failure causes as categorical codes (no per-request strings): 0 none, 1..4 the
    # engine's causes, then timeout and queue full
    categories = ["", *[CAUSE_MESSAGES[c] for c in sorted(CAUSE_MESSAGES)], "timeout", "queue full"]
    codes = cause  # int8, CAUSE_* values match the positions in ``categories``
    codes[status_idx == 2] = len(CAUSE_MESSAGES) + 1
    codes[status_idx == 3] = len(CAUSE_MESSAGES) + 2
    columns["failure_cause"] = pd.Categorical.from_codes(codes, categories=categories)
    requests = pd.DataFrame(columns, copy=False)
    del columns, prediction, abs_error, converted, cause, codes
    events = pd.DataFrame(sim.events, columns=EVENT_COLUMNS)
    if not events.empty:
        events = events.sort_values("time_s", kind="stable").reset_index(drop=True)
    incidents = pd.DataFrame(sim.incidents, columns=INCIDENT_COLUMNS)
    summary = summarise(
        requests,
        scenario=sc,
        seed=sim.seed,
        busy_s_by_model=busy_s,
        strategy_summary=strategy_summary,
    )
    resources = pd.DataFrame(
        sim.resource_samples,
        columns=["time_s", "model", "replicas", "provisioning", "busy", "queue_length", "in_flight", "utilisation"],
    )
    summary["resources"] = resource_kpis(sim, resources, busy_s)
    for name, kpi in summary["resources"].items():
        if sc.models[name].autoscaling is not None and kpi["replica_seconds"] > 0:
            summary["models"][name]["utilisation"] = busy_s[name] / kpi["replica_seconds"]
    tables = {"resources": resources, **strategy_tables}
    if sim.validation is not None:
        tables["validation"] = sim.validation.table
        summary["validation"] = {"passed": bool(sim.validation.passed), "blocked": sim.blocked,
                                 "summary": sim.validation.summary()}
    if sim.hub is not None:
        from .engine.monitors import DRIFT_COLUMNS, HEALTH_COLUMNS, PERFORMANCE_COLUMNS

        tables["health"] = pd.DataFrame(sim.hub.health_rows, columns=HEALTH_COLUMNS)
        tables["drift"] = pd.DataFrame(sim.hub.drift_rows, columns=DRIFT_COLUMNS)
        tables["performance"] = pd.DataFrame(sim.hub.performance_rows, columns=PERFORMANCE_COLUMNS)
        by_monitor: dict[str, int] = {}
        for a in sim.hub.alerts:
            by_monitor[a["monitor"]] = by_monitor.get(a["monitor"], 0) + 1
        summary["monitoring"] = {
            "alerts": by_monitor,
            "first_alarm_s": {f"{k[0]}:{k[1] or 'traffic'}": v for k, v in sim.hub.first_alarm_s.items()},
        }
    summary["rollback"] = {
        "rolled_back": sim.rolled_back,
        "time_s": sim.rollback_time_s,
    }
    if sim.mirror is not None:
        summary["shadow"] = shadow_summary(shadow, sim.strategy.config.agreement_tolerance)
    if sc.strategy.kind == "ab":
        summary["srm"] = ab_sample_ratio(requests, sc, sim.rollback_time_s)
    return RunResult(
        scenario=sc,
        seed=sim.seed,
        requests=requests,
        shadow=shadow,
        events=events,
        incidents=incidents,
        summary=summary,
        tables=tables,
    )


def resource_kpis(sim: Simulation, samples: pd.DataFrame, busy_s: dict[str, float]) -> dict[str, Any]:
    """Per model: replica-seconds paid (the cost), mean and peak replicas, mean utilisation."""
    out: dict[str, Any] = {}
    for pool in sim.pools:
        part = samples[samples["model"] == pool.name]
        if pool.capacity is None:
            out[pool.name] = {"replica_seconds": float("nan"), "mean_replicas": float("nan"),
                              "peak_replicas": float("nan"), "busy_seconds": busy_s.get(pool.name, 0.0)}
            continue
        paid = pool.fleet_area
        out[pool.name] = {
            "replica_seconds": float(paid),
            "mean_replicas": float(paid / sim.scenario.duration_s),
            "peak_replicas": float((part["replicas"] + part["provisioning"]).max()) if len(part) else float("nan"),
            "busy_seconds": busy_s.get(pool.name, 0.0),
            "scale_events": int(sum(1 for e in sim.events if e[1] == "scale" and e[3] == pool.name)),
        }
    return out


def shadow_summary(shadow: pd.DataFrame, tolerance: float) -> dict[str, Any]:
    """Mirrored calls: candidate health and agreement with what users got."""
    both = shadow["prediction_diff"].notna()
    lat = shadow.loc[shadow["status"] != "dropped", "latency_ms"].to_numpy()
    diff = shadow.loc[both, "prediction_diff"].abs().to_numpy()
    counts = shadow["status"].value_counts().reindex(list(STATUS_NAMES), fill_value=0)
    n = len(shadow)
    return {
        "mirrored": int(n),
        "status_counts": {k: int(v) for k, v in counts.items()},
        "candidate_error_rate": float((shadow["status"] != "ok").mean()) if n else float("nan"),
        "candidate_latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "candidate_latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "compared": int(both.sum()),
        "agreement_tolerance": tolerance,
        "agreement": float((diff <= tolerance).mean()) if diff.size else float("nan"),
        "mean_abs_diff": float(diff.mean()) if diff.size else float("nan"),
    }


def ab_sample_ratio(
    requests: pd.DataFrame, scenario: Scenario, rollback_time_s: float | None = None
) -> dict[str, Any]:
    """Sample-ratio-mismatch check of an A/B split (chi-square, flag at p < 0.001).

    A sticky split assigns users, so the check counts users; otherwise requests. After
    a rollback the split is intentionally broken, so only earlier arrivals count.
    """
    from .stats import srm_test

    if rollback_time_s is not None:
        requests = requests[requests["time_s"] < rollback_time_s]
    frac = scenario.strategy.candidate_fraction
    if scenario.strategy.sticky:
        first = requests.drop_duplicates("user_id")
        counts = [int((first["model"] == "legacy").sum()), int((first["model"] == "candidate").sum())]
        unit = "users"
    else:
        counts = [int((requests["model"] == "legacy").sum()), int((requests["model"] == "candidate").sum())]
        unit = "requests"
    if 0.0 < frac < 1.0 and sum(counts):
        res = srm_test(counts, [1 - frac, frac])
        p, mismatch = float(res.p_value), bool(res.mismatch)
    else:
        p, mismatch = float("nan"), False
    return {"unit": unit, "counts": counts, "expected_shares": [1 - frac, frac], "p_value": p,
            "mismatch": mismatch, "before_rollback_only": rollback_time_s is not None}


INCIDENT_COLUMNS = ["time_s", "trigger", "reason", "violations", "metrics", "strategy_state"]


def _empty_shadow() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": pd.Series(dtype="int64"),
            "time_s": pd.Series(dtype="float64"),
            "status": pd.Categorical([], categories=list(STATUS_NAMES)),
            "latency_ms": pd.Series(dtype="float64"),
            "prediction": pd.Series(dtype="float64"),
            "legacy_prediction": pd.Series(dtype="float64"),
            "prediction_diff": pd.Series(dtype="float64"),
        }
    )
