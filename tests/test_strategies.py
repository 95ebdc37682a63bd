"""Strategies, checked by the properties that define them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import workbench
from workbench.scenario import Gate
from workbench.strategies import Cohort, WindowMetrics
from workbench.strategies.gates import evaluate_gates

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def test_shadow_never_changes_what_the_user_gets():
    # candidate ten times slower and failing half its calls
    sc = workbench.load_scenario(scen("shadow_candidate_crashes"), overrides={"duration_s": 400})
    cand = sc.models["candidate"]
    assert cand.error_rate == 0.5 and cand.latency.median_ms == 10 * sc.models["legacy"].latency.median_ms
    shadow = workbench.run(sc, seed=3)
    single = workbench.run(sc, seed=3, overrides={"strategy": {"kind": "single"}})
    cols = ["request_id", "time_s", "user_id", "model", "status", "queue_ms", "latency_ms", "prediction"]
    pd.testing.assert_frame_equal(shadow.requests[cols], single.requests[cols])
    sh = shadow.shadow
    assert len(sh) == len(shadow.requests)
    assert (sh.status == "error").mean() == pytest.approx(0.5, abs=0.03)
    assert sh.latency_ms.median() > 5 * shadow.requests.latency_ms.median()
    both = sh.prediction_diff.notna()
    np.testing.assert_allclose(sh.prediction_diff[both], (sh.prediction - sh.legacy_prediction)[both])
    assert 0 < shadow.summary["shadow"]["agreement"] < 1


def test_shadow_mirror_fraction():
    sc = workbench.load_scenario(scen("shadow_candidate_crashes"), overrides={"duration_s": 300, "strategy.mirror_fraction": 0.25})
    r = workbench.run(sc, seed=1)
    n = len(r.requests)
    assert stats.binomtest(len(r.shadow), n, 0.25).pvalue > 0.001


def test_canary_cohort_is_stable_monotone_and_matches_the_weight():
    cohort = Cohort("salt-1")
    users = range(20000)
    at5 = {u for u in users if cohort.contains(u, 5)}
    at10 = {u for u in users if cohort.contains(u, 10)}
    assert at5 <= at10
    for k, w in ((len(at5), 0.05), (len(at10), 0.10)):
        assert stats.binomtest(k, 20000, w).pvalue > 0.001
    # basis-point granularity
    assert 0 < len({u for u in users if cohort.contains(u, 0.05)}) < len({u for u in users if cohort.contains(u, 0.1)})


def test_canary_cohort_same_across_processes_and_runs(tmp_path):
    code = (
        "import sys, json; from workbench.strategies import Cohort;"
        "c = Cohort('canary-2026-11');"
        "print(json.dumps([u for u in range(5000) if c.contains(u, 5.0)]))"
    )
    outs = []
    for hs in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        outs.append(json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                              capture_output=True, text=True).stdout))
    assert outs[0] == outs[1] and len(outs[0]) > 0
    # and in the engine: users routed to the candidate at 5% are exactly the cohort
    r = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1250})
    req = r.requests[r.requests.time_s < 600]
    cand_users = set(req.loc[req.model == "candidate", "user_id"])
    c = Cohort("canary-2026-11")
    assert cand_users == {u for u in set(req.user_id) if c.contains(u, 5.0)}
    # ramping up moves users from legacy to the candidate; without a ramp nobody sees both
    assert r.summary["strategy"]["share_users_saw_both"] > 0
    flat = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1250, "strategy.schedule": []})
    assert flat.summary["strategy"]["share_users_saw_both"] == 0.0


def test_canary_ramp_keeps_users_and_per_request_mixes():
    r = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1300})
    req = r.requests
    early = set(req.loc[(req.time_s < 600) & (req.model == "candidate"), "user_id"])
    late_legacy = set(req.loc[(req.time_s >= 1200) & (req.model == "legacy"), "user_id"])
    assert early and not (early & late_legacy)
    steps = r.events[r.events.kind == "step"]
    assert list(steps.time_s) == [600.0, 1200.0]
    mixed = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1250, "strategy.per_request": True})
    assert mixed.summary["strategy"]["share_users_saw_both"] > 0.05


def test_progressive_bad_candidate_rolls_back_and_never_serves_candidate_after():
    r = workbench.run(scen("progressive_bad_candidate"))
    ev = r.events
    rb = ev[ev.kind == "rollback"]
    assert len(rb) == 1
    t_rb = rb.time_s.iloc[0]
    fault = ev[ev.kind == "fault_start"].time_s.iloc[0]
    assert fault < t_rb <= fault + 300
    after = r.requests[r.requests.time_s > t_rb]
    assert len(after) > 1000 and (after.model == "legacy").all()
    assert r.summary["strategy"]["final_state"] == "rolled_back"
    failed = ev[ev.kind == "gate_failed"]
    assert len(failed) >= 2 and (failed.time_s <= t_rb).all()
    details = json.loads(failed.details.iloc[-1])
    assert any(g["metric"] == "error_rate" and g["outcome"] == "fail" for g in details["gates"])


@pytest.mark.slow
def test_progressive_good_candidate_never_rolls_back_over_20_seeds():
    sc = workbench.load_scenario(scen("progressive_good_candidate"), overrides={"duration_s": 1000})
    for seed in range(20):
        r = workbench.run(sc, seed=seed)
        assert not r.summary["rollback"]["rolled_back"], (seed, r.events[r.events.kind == "gate_failed"].reason.tolist())
        assert r.summary["strategy"]["final_state"] == "promoted", seed
        after = r.requests[r.requests.time_s > r.summary["strategy"]["promoted_at_s"]]
        assert (after.model == "candidate").all()


def _wm(**kw):
    base = dict(model="candidate", start_s=0.0, end_s=60.0, n=500, errors=0, timeouts=0, dropped=0,
                error_rate=0.0, latency_p50_ms=40.0, latency_p95_ms=90.0, latency_p99_ms=120.0,
                n_labelled=400, prediction_mae=0.2, business_rate=0.08, slo_breaches=0)
    base.update(kw)
    return WindowMetrics(**base)


@pytest.mark.parametrize("direction", ["max", "min"])
def test_missing_or_nan_metric_never_passes_a_gate(direction):
    gate = Gate(metric="latency_p99_ms", threshold=200.0, direction=direction)
    for wm in (_wm(latency_p99_ms=math.nan), _wm(n=0, latency_p99_ms=math.nan), _wm(n=10)):
        (res,) = evaluate_gates([gate], wm, None)
        assert res.outcome == "inconclusive", res
    rel = Gate(metric="error_rate", threshold=1.5, relative_to_legacy=True)
    (res,) = evaluate_gates([rel], _wm(error_rate=0.01), _wm(model="legacy", n=0, error_rate=math.nan))
    assert res.outcome == "inconclusive"
    (res,) = evaluate_gates([Gate(metric="prediction_mae", threshold=1.0)], _wm(n_labelled=3), None)
    assert res.outcome == "inconclusive"


def test_inconclusive_holds_and_can_fail():
    sc = workbench.load_scenario(scen("progressive_good_candidate"), overrides={"duration_s": 900})
    # a gate on labels with a huge min_samples is always inconclusive: hold (no promotion) ...
    gates = [{"metric": "prediction_mae", "threshold": 10.0, "min_samples": 10**9}]
    held = workbench.run(sc, overrides={"strategy.gates": gates})
    assert held.summary["strategy"]["final_state"] == "running"
    assert held.summary["strategy"]["step"] == 1
    assert not held.summary["rollback"]["rolled_back"]
    # ... or fail, which rolls back
    failed = workbench.run(sc, overrides={"strategy.gates": gates, "strategy.inconclusive": "fail"})
    assert failed.summary["rollback"]["rolled_back"]


def test_blue_green_switches_and_rolls_back_on_gate_failure():
    r = workbench.run(scen("blue_green_switch"))
    req = r.requests
    assert (req.model[req.time_s < 300] == "legacy").all()
    rb = r.events[r.events.kind == "rollback"].time_s.iloc[0]
    assert (req.model[(req.time_s >= 300) & (req.time_s <= rb)] == "candidate").all()
    assert (req.model[req.time_s > rb] == "legacy").all()
    assert 600 < rb < 900


def test_bandit_prefers_the_better_model_and_keeps_the_guardrail():
    r = workbench.run(scen("bandit_better_candidate"), overrides={"duration_s": 900})
    s = r.summary["strategy"]
    assert s["better_arm"] == "candidate"
    share_legacy = s["routed_legacy"] / (s["routed_legacy"] + s["routed_candidate"])
    assert 0.1 * 0.8 < share_legacy < 0.3
    assert s["regret"] >= 0
    eg = workbench.run(scen("bandit_better_candidate"), overrides={"duration_s": 900, "strategy.algorithm": "epsilon_greedy"})
    assert eg.summary["strategy"]["routed_candidate"] > eg.summary["strategy"]["routed_legacy"]


def test_ab_sample_ratio_check():
    r = workbench.run(scen("ab_test"), overrides={"duration_s": 600})
    srm = r.summary["srm"]
    assert srm["unit"] == "users" and not srm["mismatch"]
    r2 = workbench.run(scen("ab_test"), overrides={"duration_s": 600, "strategy.sticky": False})
    assert r2.summary["srm"]["unit"] == "requests" and r2.summary["srm"]["p_value"] > 0.001


def test_compare_is_paired():
    table, results = workbench.compare(scen("progressive_bad_candidate"), ["ab", "canary", "progressive", "shadow", "blue_green"],
                                       overrides={"duration_s": 900}, return_results=True)
    assert list(table.strategy) == ["ab", "canary", "progressive", "shadow", "blue_green"]
    first = next(iter(results.values())).requests
    for res in results.values():
        np.testing.assert_array_equal(res.requests.time_s, first.time_s)
        np.testing.assert_array_equal(res.requests.user_id, first.user_id)
    row = table.set_index("strategy").loc["progressive"]
    assert row.final_state == "rolled_back" and row.time_to_detect_s > 0
    assert table.set_index("strategy").loc["shadow", "candidate_requests"] == 0


@pytest.mark.parametrize(
    "strategy,path",
    [
        ({"kind": "progressive", "steps": [{"weight": 25, "pause_s": 60}, {"weight": 5}]}, "strategy.steps[1].weight"),
        ({"kind": "progressive", "steps": [{"weight": 150}]}, "strategy.steps[0].weight"),
        ({"kind": "progressiv"}, "strategy.kind"),
        ({"kind": "canary", "candidate_fraction": 1.5}, "strategy.candidate_fraction"),
        ({"kind": "progressive", "steps": [{"weight": 5}, {"weight": 50}]}, "strategy.steps[0].pause_s"),
    ],
)
def test_bad_strategy_parameters_name_the_field(strategy, path):
    with pytest.raises(workbench.ScenarioError) as err:
        workbench.load_scenario(scen("ab_test"), overrides={"strategy": strategy})
    assert path in str(err.value) and "ab_test.toml" in str(err.value)


@pytest.mark.parametrize("judge", [
    {"kind": "sequential", "metric": "error", "direction": "increase"},
    {"kind": "kayenta", "metrics": ["error", "latency_ms"], "direction": "increase"},
])
def test_statistical_judges_plug_into_progressive(judge):
    bad = workbench.run(scen("progressive_bad_candidate"), overrides={"strategy.gates": [], "strategy.judge": judge})
    assert bad.summary["rollback"]["rolled_back"]
    failed = bad.events[bad.events.kind == "gate_failed"]
    assert len(failed) and json.loads(failed.details.iloc[0])["judge"]["outcome"] == "fail"
    assert failed.time_s.iloc[0] > 420  # never before the fault
    good = workbench.run(scen("progressive_good_candidate"), overrides={"strategy.gates": [], "strategy.judge": judge})
    assert not good.summary["rollback"]["rolled_back"]
    assert good.summary["strategy"]["final_state"] == "promoted"


def test_progressive_plans_step_durations_with_the_power_helper():
    from workbench.stats import canary_step_duration_s

    r = workbench.run(scen("progressive_good_candidate"), overrides={
        "duration_s": 600, "strategy.steps": [{"weight": 1, "pause_s": 60}, {"weight": 100}]})
    plan = r.summary["strategy"]["step_plan"]
    expected = canary_step_duration_s(40, 1, baseline_rate=0.002, effect=0.02 - 0.002)
    assert plan == [{"step": 1, "weight": 1.0, "pause_s": 60.0, "needed_s": pytest.approx(expected)}]
    warn = r.events[r.events.kind == "planning"]
    assert len(warn) == 1 and "needs" in warn.reason.iloc[0]
    ok = workbench.run(scen("progressive_good_candidate"), overrides={"duration_s": 600})
    assert not (ok.events.kind == "planning").any()  # 300 s steps are long enough


def test_conversion_bandit_finishes_and_counts_failures_as_zero_reward():
    # the candidate fails 60% of its calls: fewer conversions per request despite its faster answers
    r = workbench.run(scen("bandit_better_candidate"), overrides={
        "duration_s": 300, "strategy.reward": "conversion", "traffic.label_delay_s": 5,
        "models.candidate.error_rate": 0.6})
    s = r.summary["strategy"]
    assert s["better_arm"] == "legacy"
    req = r.requests[r.requests.label_time_s <= 295]
    for model, key in (("legacy", "reward_rate_legacy"), ("candidate", "reward_rate_candidate")):
        part = req[req.model == model]
        assert s[key] == pytest.approx(part.converted.mean(), abs=0.03)


def test_compare_kpis_measure_from_the_fault_and_count_overlaps_once():
    from workbench.experiments import strategy_kpis

    # two overlapping candidate faults: degraded time is their union while the candidate serves
    r = workbench.run(scen("error_burst"), overrides={"faults": [
        {"kind": "error_burst", "target": "candidate", "start_s": 300, "duration_s": 200, "error_rate": 0.1},
        {"kind": "latency_spike", "target": "candidate", "start_s": 400, "duration_s": 200, "multiplier": 2.0}]})
    assert strategy_kpis(r)["time_degraded_s"] == pytest.approx(300.0)
    # detection counts monitor alerts, not only failed gates
    spike = workbench.run(scen("latency_spike_rollback"), overrides={"duration_s": 900})
    row = strategy_kpis(spike)
    assert 0 < row["time_to_detect_s"] < row["time_to_rollback_s"] <= 90
    # a rollback before the fault is no reaction to it: no time to rollback, only the time
    early = workbench.run(scen("progressive_bad_candidate"), overrides={
        "duration_s": 900, "strategy.gates": [{"metric": "latency_p99_ms", "threshold": 1.0, "min_samples": 20}]})
    kpi = strategy_kpis(early)
    assert kpi["rollback_time_s"] < 420  # the fault starts at 420 s
    assert math.isnan(kpi["time_to_rollback_s"]) and math.isnan(kpi["time_to_detect_s"])


def test_sequential_judge_holds_without_evidence_of_non_inferiority():
    # margin 0: a pass needs evidence that the candidate's error rate is lower; with equal
    # rates the interval keeps straddling 0, every analysis is inconclusive, the step holds
    r = workbench.run(scen("progressive_good_candidate"), overrides={
        "duration_s": 600, "strategy.gates": [],
        "strategy.judge": {"kind": "sequential", "metric": "error", "margin": 0.0, "tuning": 2000}})
    assert r.summary["strategy"]["final_state"] == "running"
    analyses = [json.loads(d)["judge"] for d in r.events[r.events.kind == "analysis"].details]
    outcomes = [j["outcome"] for j in analyses]
    assert outcomes.count("inconclusive") > len(outcomes) / 2
    # a pass here needs an interval entirely below 0: the candidate measured better
    assert all("lies entirely below +0:" in j["reason"] for j in analyses if j["outcome"] == "pass")
    assert not r.summary["rollback"]["rolled_back"]


@pytest.mark.parametrize("judge,path,message", [
    ({"kind": "sequential", "margin": -0.1}, "strategy.judge.margin", ">= 0"),
    ({"kind": "sequential", "margin": float("nan")}, "strategy.judge.margin", "finite"),
    ({"kind": "sequential", "tuning": 0}, "strategy.judge.tuning", "> 0"),
    ({"kind": "sequential", "metric": "business"}, "strategy.judge.margin", "required"),
])
def test_sequential_judge_settings_are_validated(judge, path, message):
    with pytest.raises(workbench.ScenarioError) as err:
        workbench.load_scenario(scen("progressive_good_candidate"), overrides={"strategy.judge": judge})
    assert path in str(err.value) and message in str(err.value)
