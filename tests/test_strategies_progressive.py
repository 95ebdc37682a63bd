"""Progressive delivery and blue/green: steps, gates, failure limits, promotion, rollback."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from strategy_fakes import FakeContext, build, window_metrics

import workbench
from workbench.strategies import Cohort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ERROR_GATE = {"metric": "error_rate", "threshold": 0.05, "min_samples": 50}
GOOD = window_metrics(error_rate=0.01)
BAD = window_metrics(error_rate=0.2)
NAN = window_metrics(error_rate=math.nan)
FEW = window_metrics(n=10, error_rate=0.0)


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def progressive(seed=0, scenario=False, **table):
    config = {"kind": "progressive", "interval_s": 30,
              "steps": [{"weight": 10, "pause_s": 60}, {"weight": 50, "pause_s": 60}, {"weight": 100}],
              "gates": [ERROR_GATE], "split": "users"}
    config.update(table)
    strategy, sc = build(config)
    ctx = FakeContext(seed=seed, scenario=sc if scenario else None)
    ctx.start(strategy)
    return strategy, ctx


def run_ticks(strategy, ctx, windows, start_s=30.0, interval_s=30.0):
    """One tick per scripted candidate window, ``interval_s`` apart."""
    for k, wm in enumerate(windows):
        ctx.windows = {"candidate": wm}
        ctx.tick(start_s + k * interval_s)


# ---------------------------------------------------------------- progressive, unit


def test_start_announces_the_first_step():
    strategy, ctx = progressive()
    (event,) = ctx.events
    assert (event.kind, event.reason, event.model, event.time_s) == ("step", "step 1/3: weight 10%", "candidate", 0.0)
    assert event.details == {"step": 1, "weight": 10.0, "split": "users"}
    assert strategy.tick_interval_s == 30.0 and strategy.candidate_weight() == 10.0


def test_routing_follows_the_cohort_at_the_step_weight():
    strategy, ctx = progressive(salt="p-1")
    cohort = Cohort("p-1")
    for u in range(3000):
        assert ctx.arrive(1.0, u)[1] == ("candidate" if cohort.contains(u, 10.0) else "legacy")


def test_steps_advance_after_their_pause_when_gates_pass_and_the_last_promotes():
    strategy, ctx = progressive()
    run_ticks(strategy, ctx, [GOOD] * 4)  # ticks at 30, 60, 90, 120
    steps = ctx.of_kind("step")
    assert [(e.time_s, e.details["weight"]) for e in steps] == [(0.0, 10.0), (60.0, 50.0), (120.0, 100.0)]
    # each analysis covers the current step since it started
    assert [c[1] for c in ctx.window_calls] == [0.0, 0.0, 60.0, 60.0]
    (promotion,) = ctx.of_kind("promotion")
    assert promotion.time_s == 120.0 and promotion.details == {"analyses": 4}
    assert [e.details["treated_as"] for e in ctx.of_kind("analysis")] == ["pass"] * 4
    s = strategy.summary()
    assert (s["final_state"], s["step"], s["steps"], s["weight"], s["analyses"]) == ("promoted", 3, 3, 100.0, 4)
    assert s["promoted_at_s"] == 120.0 and s["first_failure_s"] is None and s["judge"] == "threshold"
    # promoted: every user to the candidate; later ticks analyse nothing
    assert {ctx.arrive(130.0, u)[1] for u in range(500)} == {"candidate"}
    ctx.tick(150.0)
    assert strategy.summary()["analyses"] == 4 and ctx.rollbacks == []


def test_a_step_holds_until_its_pause_has_elapsed():
    strategy, ctx = progressive(interval_s=25)
    run_ticks(strategy, ctx, [GOOD] * 2, start_s=25.0, interval_s=25.0)  # 25, 50 < pause 60
    assert strategy.step_index == 0
    run_ticks(strategy, ctx, [GOOD], start_s=75.0)
    assert strategy.step_index == 1 and strategy.step_start_s == 75.0


def test_window_s_limits_the_analysis_to_the_latest_seconds():
    strategy, ctx = progressive(window_s=20, steps=[{"weight": 10, "pause_s": 1000}, {"weight": 100}])
    run_ticks(strategy, ctx, [GOOD] * 3)
    assert [c[1] for c in ctx.window_calls] == [10.0, 40.0, 70.0]


def test_a_failing_gate_rolls_back_once_past_the_failure_limit_with_the_gates_reason():
    strategy, ctx = progressive(failure_limit=1)
    run_ticks(strategy, ctx, [BAD])
    assert ctx.rollbacks == [] and strategy.failures == 1
    (failed,) = ctx.of_kind("gate_failed")
    assert failed.reason == "step 1 (10%): fail: error_rate 0.2 > 0.05 (500 requests in 0-30 s)"
    assert failed.details["treated_as"] == "fail" and failed.details["gates"][0]["outcome"] == "fail"
    run_ticks(strategy, ctx, [BAD], start_s=60.0)
    (rb,) = ctx.rollbacks
    assert rb.accepted and rb.trigger == "strategy:progressive" and rb.time_s == 60.0
    assert rb.reason == "2 failed analyses > failure_limit 1: error_rate 0.2 > 0.05 (500 requests in 0-60 s)"
    assert rb.details["step"] == 1 and rb.details["weight"] == 10.0
    assert strategy.state == "rolled_back" and strategy.candidate_weight() == 0.0
    # rolled back: ticks analyse nothing, routing is the engine's (legacy) and no second rollback
    run_ticks(strategy, ctx, [BAD] * 3, start_s=90.0)
    assert len(ctx.rollbacks) == 1 and len(ctx.of_kind("gate_failed")) == 2
    assert ctx.arrive(200.0, 1)[1] == "legacy"
    s = strategy.summary()
    assert s["final_state"] == "rolled_back" and s["first_failure_s"] == 30.0 and s["analyses"] == 2
    assert s["promoted_at_s"] is None and s["weight"] == 0.0


def test_with_failure_limit_zero_the_first_failure_rolls_back():
    strategy, ctx = progressive()
    run_ticks(strategy, ctx, [GOOD, BAD])
    assert [r.time_s for r in ctx.rollbacks] == [60.0]


@pytest.mark.parametrize("consecutive,rolled_back", [(True, False), (False, True)])
def test_consecutive_failures_reset_on_a_pass(consecutive, rolled_back):
    strategy, ctx = progressive(failure_limit=1, consecutive=consecutive,
                                steps=[{"weight": 10, "pause_s": 1000}, {"weight": 100}])
    run_ticks(strategy, ctx, [BAD, GOOD, BAD])
    assert bool(ctx.rollbacks) is rolled_back
    assert strategy.failures == (1 if consecutive else 2)


@pytest.mark.parametrize("window", [NAN, FEW, window_metrics(n=0, error_rate=math.nan)],
                         ids=["nan", "too-few-samples", "empty"])
def test_inconclusive_analyses_hold_the_step_without_failing(window):
    strategy, ctx = progressive()
    run_ticks(strategy, ctx, [window] * 6)  # well past the step's pause
    assert strategy.step_index == 0 and strategy.failures == 0 and ctx.rollbacks == []
    analyses = ctx.of_kind("analysis")
    assert len(analyses) == 6 and ctx.of_kind("gate_failed") == []
    assert {e.details["outcome"] for e in analyses} == {"inconclusive"}
    assert {e.details["treated_as"] for e in analyses} == {"inconclusive"}
    assert strategy.summary()["final_state"] == "running" and strategy.inconclusives == 6


def test_without_gates_judge_or_analysis_steps_advance_on_their_pauses_and_say_so():
    # Argo's semantics: a step with no analysis waits its pause and goes on
    strategy, ctx = progressive(gates=[])
    assert strategy.tick_interval_s == 60.0  # the pauses' common divisor
    (planning,) = ctx.of_kind("planning")
    assert "no gates, judge or analysis" in planning.reason
    ctx.tick(60.0)
    assert strategy.step_index == 1 and ctx.of_kind("analysis") == []
    ctx.tick(120.0)
    assert strategy.summary()["final_state"] == "promoted" and strategy.summary()["promoted_at_s"] == 120.0


def test_inconclusive_can_be_treated_as_fail_or_pass():
    failing, ctx = progressive(inconclusive="fail")
    run_ticks(failing, ctx, [NAN])
    (rb,) = ctx.rollbacks
    assert "error_rate: value missing or NaN" in rb.reason
    assert ctx.of_kind("gate_failed")[0].details["treated_as"] == "fail"
    passing, ctx = progressive(inconclusive="pass")
    run_ticks(passing, ctx, [NAN] * 2)
    assert passing.step_index == 1 and ctx.rollbacks == []


def test_inconclusive_limit_turns_a_run_of_inconclusives_into_a_failure():
    strategy, ctx = progressive(inconclusive_limit=2)
    run_ticks(strategy, ctx, [NAN, NAN])
    assert ctx.rollbacks == []
    run_ticks(strategy, ctx, [NAN], start_s=90.0)
    assert len(ctx.rollbacks) == 1 and strategy.first_failure_s == 90.0
    # a pass resets the count
    strategy, ctx = progressive(inconclusive_limit=2, steps=[{"weight": 10, "pause_s": 1000}, {"weight": 100}])
    run_ticks(strategy, ctx, [NAN, NAN, GOOD, NAN, NAN])
    assert ctx.rollbacks == []


def test_a_bake_step_at_100_compares_with_legacy_before_it():
    rel = {"metric": "latency_p99_ms", "threshold": 1.5, "relative_to_legacy": True}
    strategy, ctx = progressive(steps=[{"weight": 50, "pause_s": 60}, {"weight": 100, "pause_s": 60}], gates=[rel])
    ctx.windows = {"candidate": window_metrics(), "legacy": window_metrics("legacy")}
    for t in (30.0, 60.0, 90.0, 120.0):
        ctx.tick(t)
    legacy_reads = [c for c in ctx.window_calls if c[0] == "legacy"]
    # same window as the candidate while legacy serves; the previous step's once it does not
    assert legacy_reads == [("legacy", 0.0, None), ("legacy", 0.0, None), ("legacy", 0.0, 60.0), ("legacy", 0.0, 60.0)]
    assert strategy.summary()["promoted_at_s"] == 120.0  # the bake step's pause is over


def test_a_rollback_from_elsewhere_stops_the_analysis():
    strategy, ctx = progressive()
    ctx.now_s = 45.0
    assert ctx.rollback("error-rate monitor", trigger="monitor:errors")
    assert strategy.state == "rolled_back" and strategy.candidate_weight() == 0.0
    run_ticks(strategy, ctx, [BAD] * 2, start_s=60.0)
    assert strategy.analyses == 0 and len(ctx.rollbacks) == 1


def test_a_statistical_judge_fails_on_scripted_harm_and_passes_on_equal_arms():
    judge = {"kind": "sequential", "metric": "error"}
    strategy, ctx = progressive(gates=[], judge=judge)
    worse = np.zeros(3000)
    worse[::5] = 1.0  # 20% errors against none
    ctx.values = {"legacy": {"error": np.zeros(3000)}, "candidate": {"error": worse}}
    ctx.tick(30.0)
    (rb,) = ctx.rollbacks
    assert ctx.of_kind("gate_failed")[0].details["judge"]["outcome"] == "fail"
    assert "judge:" in rb.reason
    assert ctx.values_calls == [("legacy", 0.0, None), ("candidate", 0.0, None)]
    good, ctx = progressive(gates=[], judge=judge)
    ctx.values = {m: {"error": np.zeros(3000)} for m in ("legacy", "candidate")}
    run_ticks(good, ctx, [GOOD] * 4)
    assert good.summary()["final_state"] == "promoted" and good.summary()["judge"] == "sequential"


def test_step_plan_flags_steps_too_short_to_detect_the_error_gate():
    from workbench.stats import canary_step_duration_s

    strategy, ctx = progressive(scenario=True, steps=[{"weight": 1, "pause_s": 60}, {"weight": 100}],
                                gates=[{"metric": "error_rate", "threshold": 0.02}])
    sc = ctx.scenario
    base = sc.models["legacy"].error_rate
    expected = canary_step_duration_s(sc.traffic.rate_per_s, 1.0, baseline_rate=base, effect=0.02 - base)
    assert strategy.plan == [{"step": 1, "weight": 1.0, "request_share": 1.0, "pause_s": 60.0,
                              "needed_s": pytest.approx(expected)}]
    (planning,) = ctx.of_kind("planning")
    assert planning.time_s == 0.0 and "needs" in planning.reason
    assert strategy.summary()["step_plan"] == strategy.plan
    # no scenario, or no absolute error-rate gate: no plan
    assert progressive()[0].plan == []
    assert progressive(scenario=True, gates=[{"metric": "latency_p99_ms", "threshold": 200}])[0].plan == []


# ---------------------------------------------------------------- blue/green, unit


def blue_green(**table):
    config = {"kind": "blue_green", "switch_s": 300, "interval_s": 30, "window_s": 120, "gates": [ERROR_GATE]}
    config.update(table)
    strategy, _ = build(config)
    ctx = FakeContext()
    ctx.start(strategy)
    return strategy, ctx


def test_blue_green_switches_at_switch_s():
    strategy, ctx = blue_green()
    assert {ctx.arrive(t, 1)[1] for t in np.arange(0.0, 300.0, 7.0)} == {"legacy"}
    assert strategy.candidate_weight() == 0.0 and strategy.summary()["final_state"] == "running"
    ctx.tick(270.0)  # before the switch: nothing to analyse
    assert ctx.window_calls == [] and ctx.events == []
    assert ctx.arrive(301.5, 2)[1] == "candidate"
    (switch,) = ctx.of_kind("switch")
    assert switch.time_s == 300.0 and switch.model == "candidate"
    assert {ctx.arrive(t, 3)[1] for t in np.arange(302.0, 600.0, 7.0)} == {"candidate"}
    assert len(ctx.of_kind("switch")) == 1
    assert strategy.candidate_weight() == 100.0
    s = strategy.summary()
    assert s["final_state"] == "switched" and s["switch_s"] == 300.0 and s["first_failure_s"] is None


def test_blue_green_analyses_green_since_the_switch_and_blue_before_it():
    rel = {"metric": "latency_p99_ms", "threshold": 1.5, "relative_to_legacy": True}
    strategy, ctx = blue_green(gates=[rel])
    ctx.arrive(300.0, 1)
    ctx.windows = {"candidate": window_metrics(), "legacy": window_metrics("legacy")}
    for t in (330.0, 450.0):
        ctx.tick(t)
    assert ctx.window_calls == [("candidate", 300.0, None), ("legacy", 180.0, 300.0),
                                ("candidate", 330.0, None), ("legacy", 180.0, 300.0)]
    assert [e.kind for e in ctx.events[1:]] == ["analysis", "analysis"]


def test_blue_green_rolls_back_past_the_failure_limit():
    strategy, ctx = blue_green(failure_limit=1)
    ctx.arrive(300.0, 1)
    run_ticks(strategy, ctx, [BAD, GOOD, BAD, NAN, BAD], start_s=330.0)  # a pass resets, inconclusive does not
    (rb,) = ctx.rollbacks
    assert rb.time_s == 450.0 and rb.trigger == "strategy:blue_green"
    assert rb.reason == "green failed its gates: error_rate 0.2 > 0.05 (500 requests in 330-450 s)"
    assert strategy.state == "rolled_back" and strategy.candidate_weight() == 0.0
    s = strategy.summary()
    assert s["final_state"] == "rolled_back" and s["first_failure_s"] == 330.0
    assert [e.kind for e in ctx.events[1:]] == ["gate_failed", "analysis", "gate_failed", "analysis",
                                                "gate_failed", "rollback"]
    ctx.tick(480.0)
    assert len(ctx.of_kind("gate_failed")) == 3  # no analysis after the rollback


@pytest.mark.parametrize(("policy", "rolled_back_at"), [("hold", None), ("fail", 360.0), ("pass", None)])
def test_blue_green_inconclusive_policy(policy, rolled_back_at):
    # Flagger's "no values" is a failed check: inconclusive = "fail" counts it
    strategy, ctx = blue_green(failure_limit=1, inconclusive=policy)
    ctx.arrive(300.0, 1)
    run_ticks(strategy, ctx, [FEW, FEW, BAD], start_s=330.0)
    assert [rb.time_s for rb in ctx.rollbacks] == ([rolled_back_at] if rolled_back_at else [])
    treated = [e.details["treated_as"] for e in ctx.events if e.kind in ("analysis", "gate_failed")]
    expected = {"hold": "inconclusive", "fail": "fail", "pass": "pass"}[policy]
    assert treated[:2] == [expected, expected]


def test_blue_green_without_gates_never_analyses():
    strategy, ctx = blue_green(gates=[])
    ctx.arrive(300.0, 1)
    ctx.tick(330.0)
    assert ctx.window_calls == [] and ctx.kinds() == ["switch"]


# ---------------------------------------------------------------- end to end


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
    assert r.summary.strategy.final_state == "rolled_back"
    failed = ev[ev.kind == "gate_failed"]
    assert len(failed) >= 2 and (failed.time_s <= t_rb).all()
    details = json.loads(failed.details.iloc[-1])
    assert any(g["metric"] == "error_rate" and g["outcome"] == "fail" for g in details["gates"])


@pytest.mark.slow
def test_progressive_good_candidate_never_rolls_back_over_20_seeds():
    sc = workbench.load_scenario(scen("progressive_good_candidate"), overrides={"duration_s": 1000})
    for seed in range(20):
        r = workbench.run(sc, seed=seed)
        assert not r.summary.rollback.rolled_back, (seed, r.events[r.events.kind == "gate_failed"].reason.tolist())
        assert r.summary.strategy.final_state == "promoted", seed
        after = r.requests[r.requests.time_s > r.summary.strategy.get("promoted_at_s")]
        assert (after.model == "candidate").all()


def test_inconclusive_holds_and_can_fail():
    sc = workbench.load_scenario(scen("progressive_good_candidate"), overrides={"duration_s": 900})
    # a gate on labels with a huge min_samples is always inconclusive: hold (no promotion) ...
    gates = [{"metric": "prediction_mae", "threshold": 10.0, "min_samples": 10**9}]
    held = workbench.run(sc, overrides={"strategy.gates": gates})
    assert held.summary.strategy.final_state == "running"
    assert held.summary.strategy.get("step") == 1
    assert not held.summary.rollback.rolled_back
    # ... or fail, which rolls back
    failed = workbench.run(sc, overrides={"strategy.gates": gates, "strategy.inconclusive": "fail"})
    assert failed.summary.rollback.rolled_back


@pytest.mark.parametrize("judge", [
    {"kind": "sequential", "metric": "error", "direction": "increase"},
    {"kind": "kayenta", "metrics": ["error", "latency_ms"], "direction": "increase"},
])
def test_statistical_judges_plug_into_progressive(judge):
    bad = workbench.run(scen("progressive_bad_candidate"), overrides={"strategy.gates": [], "strategy.judge": judge})
    assert bad.summary.rollback.rolled_back
    failed = bad.events[bad.events.kind == "gate_failed"]
    assert len(failed) and json.loads(failed.details.iloc[0])["judge"]["outcome"] == "fail"
    assert failed.time_s.iloc[0] > 420  # never before the fault
    good = workbench.run(scen("progressive_good_candidate"), overrides={"strategy.gates": [], "strategy.judge": judge})
    assert not good.summary.rollback.rolled_back
    assert good.summary.strategy.final_state == "promoted"


def test_progressive_plans_step_durations_with_the_power_helper():
    from workbench.stats import canary_step_duration_s

    r = workbench.run(scen("progressive_good_candidate"), overrides={
        "duration_s": 600, "strategy.steps": [{"weight": 1, "pause_s": 60}, {"weight": 100}]})
    plan = r.summary.strategy.get("step_plan")
    expected = canary_step_duration_s(40, 1, baseline_rate=0.002, effect=0.02 - 0.002)
    assert plan == [{"step": 1, "weight": 1.0, "request_share": 1.0, "pause_s": 60.0, "needed_s": pytest.approx(expected)}]
    warn = r.events[r.events.kind == "planning"]
    assert len(warn) == 1 and "needs" in warn.reason.iloc[0]
    ok = workbench.run(scen("progressive_good_candidate"), overrides={"duration_s": 600})
    assert not (ok.events.kind == "planning").any()  # 300 s steps are long enough


def test_sequential_judge_holds_without_evidence_of_non_inferiority():
    # margin 0: a pass needs evidence that the candidate's error rate is lower; with equal
    # rates the interval keeps straddling 0, every analysis is inconclusive, the step holds
    r = workbench.run(scen("progressive_good_candidate"), overrides={
        "duration_s": 600, "strategy.gates": [],
        "strategy.judge": {"kind": "sequential", "metric": "error", "margin": 0.0, "tuning": 2000}})
    assert r.summary.strategy.final_state == "running"
    analyses = [json.loads(d)["judge"] for d in r.events[r.events.kind == "analysis"].details]
    outcomes = [j["outcome"] for j in analyses]
    assert outcomes.count("inconclusive") > len(outcomes) / 2
    # a pass here needs an interval entirely below 0: the candidate measured better
    assert all("lies entirely below +0:" in j["reason"] for j in analyses if j["outcome"] == "pass")
    assert not r.summary.rollback.rolled_back


def test_blue_green_switches_and_rolls_back_on_gate_failure():
    r = workbench.run(scen("blue_green_switch"))
    req = r.requests
    assert (req.model[req.time_s < 300] == "legacy").all()
    rb = r.events[r.events.kind == "rollback"].time_s.iloc[0]
    assert (req.model[(req.time_s >= 300) & (req.time_s <= rb)] == "candidate").all()
    assert (req.model[req.time_s > rb] == "legacy").all()
    assert 600 < rb < 900
