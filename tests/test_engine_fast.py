"""The fast engine against the reference engine (bit for bit) and against queueing theory.

Every shipped scenario either is one the fast engine declines (with a reason) or
gives, at seeds 1 to 3, the reference engine's request table, events, incidents,
tables and summary exactly. On its own, the fast engine's M/M/c waits match
Erlang C, Little's law holds, every request ends in exactly one status, and a
run is the same in another process with another hash seed.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scenario_builders import MIXED, mmc, with_changes

import workbench
from workbench.api import resolve_scenario
from workbench.engine import Simulation, build_result
from workbench.engine.fast import FastSimulation, supports
from workbench.engine.fifo import KERNELS, compiled_available, set_kernel
from workbench.outputs import dumps_strict
from workbench.scenario import ScenarioError
from workbench.strategies import Progressive, Strategy

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
SEEDS = (1, 2, 3)
MAX_DURATION_S = 1800.0  # longer shipped scenarios are cut to this, to keep the test short
FAST_SCENARIOS = {
    "ab_test", "abn_three_models", "autoscaling_diurnal", "baseline", "blue_green_switch", "canary_latency_spike", "capacity_crunch",
    "concept_drift", "data_drift", "error_burst", "feature_store_outage", "gradual_data_drift",
    "interleaving_recommenders", "latency_spike",
    "progressive_bad_candidate", "progressive_good_candidate", "shadow_candidate_crashes", "silent_concept_drift",
    "validation_gate",
}


def _scenario(path: Path):
    sc = resolve_scenario(path)
    if sc.duration_s > MAX_DURATION_S:
        sc = sc.with_overrides({"duration_s": MAX_DURATION_S})
    return sc


def assert_same_results(a, b) -> None:
    """Two RunResults are equal in every table and in their summary (NaN equal to NaN)."""
    pd.testing.assert_frame_equal(a.requests, b.requests, check_exact=True)
    pd.testing.assert_frame_equal(a.events, b.events, check_exact=True)
    pd.testing.assert_frame_equal(a.incidents, b.incidents, check_exact=True)
    pd.testing.assert_frame_equal(a.shadow, b.shadow, check_exact=True)
    assert sorted(a.tables) == sorted(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True, obj=name)
    assert dumps_strict(a.summary.to_dict(), sort_keys=True) == dumps_strict(b.summary.to_dict(), sort_keys=True)


def _both(scenario, seed: int, **kwargs):
    reference = build_result(Simulation(scenario, seed, **kwargs).run())
    fast = build_result(FastSimulation(scenario, seed, **kwargs).run())
    return reference, fast


# ----------------------------------------------------------------------------- shipped scenarios
def test_the_fast_engine_serves_the_expected_shipped_scenarios():
    served = {p.stem for p in SCENARIOS if supports(resolve_scenario(p)) is None}
    assert served == FAST_SCENARIOS


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_fast_equals_reference_or_is_declined(path, seed):
    sc = _scenario(path)
    reason = supports(sc)
    if reason is not None:
        assert path.stem not in FAST_SCENARIOS
        assert isinstance(reason, str) and reason
        with pytest.raises(ValueError, match="cannot run this scenario exactly"):
            FastSimulation(sc, seed)
        return
    reference, fast = _both(sc, seed)
    assert_same_results(reference, fast)


# ----------------------------------------------------------------------------- edge cases
def test_every_status_and_cause_matches_the_reference():
    """Timeouts in the line and in service, a full queue, errors, a burst: all exact."""
    sc = resolve_scenario(MIXED)
    for seed in (1, 2):
        reference, fast = _both(sc, seed)
        assert_same_results(reference, fast)
        assert set(fast.requests["status"]) == {"ok", "error", "timeout", "dropped"}


def test_outages_unlimited_replicas_and_a_strategy_object_match_the_reference():
    sc = resolve_scenario(with_changes(
        MIXED,
        models={
            "legacy": {"latency": {"dist": "lognormal", "median_ms": 30, "p99_ms": 120}, "replicas": None},
            "candidate": {"latency": {"dist": "exponential", "mean_ms": 35}, "replicas": 2, "timeout_ms": 150,
                          "queue_limit": 3},
        },
        faults=[
            {"kind": "outage", "target": "candidate", "start_s": 40, "duration_s": 30, "mode": "hang"},
            {"kind": "outage", "target": "candidate", "start_s": 120, "duration_s": 30, "mode": "refuse"},
        ],
        strategy={"kind": "progressive", "interval_s": 20,
                  "steps": [{"weight": 20, "pause_s": 60}, {"weight": 50, "pause_s": 60}, {"weight": 100}],
                  "gates": [{"metric": "error_rate", "threshold": 0.5}]},
    ))
    reference = build_result(Simulation(sc, 4, strategy=Progressive(sc.strategy)).run())
    fast = build_result(FastSimulation(sc, 4, strategy=Progressive(sc.strategy)).run())
    assert_same_results(reference, fast)


def test_progress_is_reported_as_on_the_reference_engine():
    sc = resolve_scenario(mmc(30.0, 40.0, 2, duration=300))
    seen: dict[str, list[float]] = {"reference": [], "fast": []}
    Simulation(sc, 1, progress=seen["reference"].append).run()
    FastSimulation(sc, 1, progress=seen["fast"].append).run()
    assert seen["fast"] == seen["reference"] and seen["fast"][-1] == 1.0 and len(seen["fast"]) > 90


def test_an_empty_run_is_served():
    sc = resolve_scenario(mmc(0.001, 40.0, 2, duration=1))
    reference, fast = _both(sc, 1)
    assert len(fast.requests) == 0
    assert_same_results(reference, fast)


# ----------------------------------------------------------------------------- autoscaling
_FAST_SCALING = {"min_replicas": 1, "max_replicas": 8, "sync_period_s": 5, "provisioning_delay_s": 25,
                 "scale_down_stabilisation_s": 0, "target_utilisation": 0.8}
"""An autoscaler that scales every few seconds and cancels replicas still provisioning."""

SCALED_MIXED = with_changes(
    MIXED,
    duration_s=300,
    traffic={"rate_per_s": 80, "users": 400, "pattern": "diurnal", "period_s": 100.0, "amplitude": 0.9},
    models={
        "legacy": {**MIXED["models"]["legacy"], "queue_limit": 6, "autoscaling": _FAST_SCALING},
        "candidate": {**MIXED["models"]["candidate"], "autoscaling": {**_FAST_SCALING, "max_replicas": 5}},
    },
    faults=[*MIXED["faults"],
            {"kind": "outage", "target": "candidate", "start_s": 40, "duration_s": 20, "mode": "hang"},
            {"kind": "outage", "target": "legacy", "start_s": 220, "duration_s": 10, "mode": "refuse"}],
    strategy={"kind": "progressive", "interval_s": 20,
              "steps": [{"weight": 20, "pause_s": 60}, {"weight": 50, "pause_s": 60}, {"weight": 100}],
              "gates": [{"metric": "error_rate", "threshold": 0.5}]},
)
"""Two autoscaled pools under a progressive rollout: timeouts, a full queue, outages, scaling both ways."""


def _kernel_param(name: str):
    skip = pytest.mark.skipif(not compiled_available(), reason="numba is not installed")
    return pytest.param(name, marks=[skip] if name == "compiled" else [], id=name)


@pytest.fixture(params=[_kernel_param(k) for k in KERNELS])
def kernel(request):
    """Each FIFO event loop in turn (the compiled one when numba is installed)."""
    set_kernel(request.param)
    yield request.param
    set_kernel(None)


def _run_fast_watching_scales(scenario, seed: int):
    """A fast run, and per scale-down whether it cancelled provisioning and left busy > capacity."""
    sim = FastSimulation(scenario, seed)
    seen: list[tuple[bool, bool]] = []
    scale = sim._scale

    def watch(m, current, desired, delay_s, util):
        pool = sim.pools[m]
        provisioning = pool.provisioning
        scale(m, current, desired, delay_s, util)
        if desired < current:
            seen.append((provisioning > 0, pool.busy > pool.capacity))

    sim._scale = watch
    return build_result(sim.run()), seen


def test_autoscaled_pools_match_the_reference(kernel):
    """Scale-ups, scale-downs below the busy replicas and cancelled provisioning: all exact."""
    sc = resolve_scenario(SCALED_MIXED)
    scale_downs = []
    for seed in SEEDS:
        reference = build_result(Simulation(sc, seed).run())
        fast, seen = _run_fast_watching_scales(sc, seed)
        assert_same_results(reference, fast)
        scale_downs += seen
        assert set(fast.events.loc[fast.events["kind"] == "scale", "model"]) == {"legacy", "candidate"}
        assert set(fast.requests["status"]) == {"ok", "error", "timeout", "dropped"}
    assert any(cancels for cancels, _ in scale_downs) and any(over for _, over in scale_downs)


def test_the_whole_autoscaling_scenario_matches_the_reference():
    """The shipped autoscaled scenario over its full hour, past the provisioning at its end."""
    sc = resolve_scenario(ROOT / "scenarios" / "autoscaling_diurnal.toml")
    reference, fast = _both(sc, 1)
    assert_same_results(reference, fast)
    assert fast.summary.resources["legacy"].scale_events > 4


# ----------------------------------------------------------------------------- monitors
def test_a_health_rollback_and_alert_callbacks_match_the_reference():
    """The latency spike rolled back by the health policy alone (no per-outcome detector)."""
    sc = _scenario(ROOT / "scenarios" / "latency_spike_rollback.toml").with_overrides({"monitoring.detectors": []})
    assert supports(sc) is None
    for seed in (1, 2):
        alerts: dict[str, list] = {"reference": [], "fast": []}
        reference = build_result(Simulation(sc, seed, alert_callbacks=[alerts["reference"].append]).run())
        fast = build_result(FastSimulation(sc, seed, alert_callbacks=[alerts["fast"].append]).run())
        assert_same_results(reference, fast)
        assert alerts["fast"] == alerts["reference"] and alerts["fast"]
        assert len(fast.incidents) == 1 and fast.summary.rollback is not None


def test_health_drift_and_performance_monitors_match_the_reference(kernel):
    """Every evaluation-time monitor on a progressive rollout, late labels in flight included."""
    sc = _scenario(ROOT / "scenarios" / "progressive_bad_candidate.toml").with_overrides({
        "duration_s": 900,
        "traffic.label_delay_s": 0.05,  # labels due while their requests are still being served
        "monitoring": {"interval_s": 7.0, "drift_reference_n": 2000, "drift_window_n": 1000,
                       "drift_interval_s": 30.0, "performance_reference_n": 200, "performance_window_n": 100,
                       "detectors": [{"name": "page_hinkley", "signal": "abs_error", "model": "candidate"}]},
    })
    assert supports(sc) is None
    for seed in (1, 2):
        reference, fast = _both(sc, seed)
        assert_same_results(reference, fast)
        assert {"health", "drift", "performance"} <= set(fast.tables) and len(fast.tables["drift"])


# ----------------------------------------------------------------------------- run(engine=...)
def test_run_picks_the_engine():
    path = ROOT / "scenarios" / "ab_test.toml"
    overrides = {"duration_s": 300}
    auto = workbench.run(path, seed=1, overrides=overrides)
    fast = workbench.run(path, seed=1, overrides=overrides, engine="fast")
    reference = workbench.run(path, seed=1, overrides=overrides, engine="reference")
    assert_same_results(reference, auto)
    assert_same_results(reference, fast)


@pytest.mark.parametrize("strategy", [
    {"algorithm": "thompson"},
    {"algorithm": "epsilon_greedy", "epsilon": 0.2},
    {"algorithm": "thompson", "reward": "conversion"},
], ids=["thompson", "epsilon_greedy", "conversion"])
def test_a_bandit_with_batched_updates_matches_the_reference(strategy):
    """Rewards reported before each update tick, in end-time order; labels after their requests end."""
    base = resolve_scenario(ROOT / "scenarios" / "bandit_better_candidate.toml")
    changes = {f"strategy.{key}": value for key, value in {**strategy, "update_interval_s": 10}.items()}
    sc = base.with_overrides({"duration_s": 300, **changes})
    assert supports(sc) is None
    reference, fast = _both(sc, 4)
    assert_same_results(reference, fast)
    details = fast.summary.strategy
    assert details.get("updates") >= 25 and details.get("mean_batch_size") > 100
    table = fast.tables["bandit"]  # one row per tick; "updates" counts those that applied rewards
    assert int((table["batch_size"] > 0).sum()) == details.get("updates")
    assert table["batch_size"].sum() / details.get("updates") == pytest.approx(details.get("mean_batch_size"))
    # per-request updates need the reference engine, and say why
    assert "update_interval_s" in supports(base)


def test_fast_engine_on_an_unsupported_run_names_the_reason():
    path = ROOT / "scenarios" / "bandit_better_candidate.toml"
    with pytest.raises(ScenarioError, match="engine 'fast' cannot run.*update_interval_s"):
        workbench.run(path, seed=1, overrides={"duration_s": 60}, engine="fast")
    with pytest.raises(ValueError, match="engine: must be one of"):
        workbench.run(path, seed=1, engine="turbo")


def test_monitors_estimators_and_custom_strategies_are_declined():
    base = resolve_scenario(mmc(30.0, 40.0, 2, duration=60))
    assert supports(base) is None
    assert supports(base.with_overrides({"monitoring.enabled": True})) is None
    for signal in ("latency_ms", "error"):
        watched = base.with_overrides({"monitoring": {"detectors": [{"signal": signal, "model": "legacy"}]}})
        assert "reads every outcome" in supports(watched)
    assert "estimators" in supports(base, models={"legacy": object()})

    class Custom(Strategy):
        kind = "custom"

    assert "custom strategy" in supports(base, Custom())
    # auto falls back to the reference engine for them
    result = workbench.run(base, seed=1, strategy=Custom())
    assert (result.requests["model"] == "legacy").all()


# ----------------------------------------------------------------------------- queueing theory
def erlang_c_wait_s(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c: Erlang's C formula times 1 / (c mu - lambda)."""
    a = lam / mu
    top = a**c / (math.factorial(c) * (1 - a / c))
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def test_fast_engine_mmc_wait_is_erlang_c_and_littles_law_holds():
    lam, mean_ms, c = 72.0, 50.0, 4  # utilisation 0.9
    scenario = with_changes(mmc(lam, mean_ms, c, duration=2400), resources={"sample_interval_s": 1.0})
    r = workbench.run(scenario, seed=3, engine="fast")
    req = r.requests
    warm = req["time_s"].to_numpy() >= r.scenario.warmup_s
    wait_s = req["queue_ms"].to_numpy()[warm] / 1000.0
    means = np.array([b.mean() for b in np.array_split(wait_s, 25)])
    err = means.std(ddof=1) / 5.0
    expected = erlang_c_wait_s(lam, 1000.0 / mean_ms, c)
    assert abs(wait_s.mean() - expected) < 4 * err, (wait_s.mean(), expected, err)
    # Little's law: the sampled number in the system = arrival rate x time in the system
    res = r.tables["resources"]
    res = res[res["time_s"] >= r.scenario.warmup_s]
    lam_hat = warm.sum() / (r.scenario.duration_s - r.scenario.warmup_s)
    in_system_s = req["latency_ms"].to_numpy()[warm].mean() / 1000.0
    assert res["in_flight"].mean() == pytest.approx(lam_hat * in_system_s, rel=0.05)
    assert r.summary.models["legacy"].utilisation == pytest.approx(lam * mean_ms / 1000.0 / c, rel=0.02)


def test_fast_engine_conserves_requests():
    """Every arrival ends in exactly one status; busy replicas never exceed the pool."""
    r = workbench.run(with_changes(MIXED, duration_s=300), seed=2, engine="fast")
    req = r.requests
    counts = r.summary.status_counts
    assert sum(counts.values()) == len(req) == r.summary.requests
    assert req["end_time_s"].notna().all()
    assert (req["end_time_s"] >= req["time_s"]).all()
    dropped = req["status"] == "dropped"
    assert (req.loc[dropped, "latency_ms"] == 0.0).all()
    assert (req.loc[~dropped, "latency_ms"] >= req.loc[~dropped, "queue_ms"]).all()
    res = r.tables["resources"]
    assert (res["busy"] <= res["replicas"]).all()
    for name, kpi in r.summary.models.items():
        assert kpi.ok + kpi.error + kpi.timeout + kpi.dropped == kpi.requests, name


# ----------------------------------------------------------------------------- determinism
_DIGEST = """
import hashlib, sys
import pandas as pd
import workbench
r = workbench.run(sys.argv[1], seed=5, overrides={"duration_s": 1500}, engine="fast")
print(hashlib.sha256(pd.util.hash_pandas_object(r.requests, index=False).values.tobytes()).hexdigest())
"""


def test_fast_engine_is_deterministic_across_processes():
    path = str(ROOT / "scenarios" / "canary_latency_spike.toml")
    r = workbench.run(path, seed=5, overrides={"duration_s": 1500}, engine="fast")
    here = hashlib.sha256(pd.util.hash_pandas_object(r.requests, index=False).values.tobytes()).hexdigest()
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", _DIGEST, path], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == here
