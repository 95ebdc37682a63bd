"""Argo Rollouts' analysis semantics: measurements, limits, run phases, and rollouts driven by them.

Known answers follow Argo Rollouts' analysis controller: ``EvaluateResult``
(utils/evaluate/evaluate.go), ``assessMetricStatus`` and
``assessMetricFailureInconclusiveOrError`` (analysis/analysis.go), the status order
of utils/analysis/helpers.go and ``DefaultConsecutiveErrorLimit = 4``,
``DefaultErrorRetryInterval = 10 s``.
"""

from __future__ import annotations

import math
import os

import pytest
from strategy_fakes import FakeContext, build, window_metrics

import workbench
from workbench.scenario import AnalysisMetric, AnalysisTemplate, load_scenario
from workbench.strategies.analysis import (
    ERROR,
    FAILED,
    INCONCLUSIVE,
    RUNNING,
    SUCCESSFUL,
    AnalysisRun,
    evaluate_result,
    tick_resolution_s,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def metric(**fields):
    base = {"name": "m", "measure": "error_rate", "interval_s": 60, "success_condition": "result[0] < 0.05"}
    base.update(fields)
    return AnalysisMetric(**base)


class Script:
    """A context whose candidate window reads the next scripted error rate (None: no data)."""

    def __init__(self, values):
        self.values = list(values)

    def window(self, model, start_s, end_s=None):
        value = self.values.pop(0)
        if value is None:
            return window_metrics(model, n=0, error_rate=math.nan)
        return window_metrics(model, n=500, error_rate=value)


def run_script(values, times=None, **fields):
    """Measure one metric on scripted values at 0, 60, 120, ...; the run and its phase after each."""
    m = metric(**fields)
    run = AnalysisRun("bg", [("t", AnalysisTemplate(metrics=(m,)))], 0.0)
    ctx = Script(values)
    phases = []
    for k in range(len(values)):
        now = times[k] if times else 60.0 * k
        run.metrics[0].next_at_s = min(run.metrics[0].next_at_s, now)  # scripted times
        phases.append(run.advance(ctx, now))
    return run, phases


# ------------------------------------------------------------------ EvaluateResult


@pytest.mark.parametrize(("success", "failure", "result", "expected"), [
    ("", "", [0.5], SUCCESSFUL),                                    # no condition: always successful
    ("result[0] < 0.05", "", [0.01], SUCCESSFUL),
    ("result[0] < 0.05", "", [0.10], FAILED),                       # only success: false -> failed
    ("", "result[0] > 0.10", [0.20], FAILED),
    ("", "result[0] > 0.10", [0.05], SUCCESSFUL),                   # only failure: false -> successful
    ("result[0] < 0.05", "result[0] > 0.10", [0.07], INCONCLUSIVE),  # both false -> inconclusive
    ("result[0] < 0.05", "result[0] > 0.01", [0.03], FAILED),       # both true -> failed wins
    ("result[0] < 0.05", "", [], ERROR),                            # no values: index out of range
    ("len(result) == 0 || result[0] < 0.05", "", [], SUCCESSFUL),
    ("result < 0.05", "", [0.01], ERROR),                           # a vector compared with a number
])
def test_evaluate_result_follows_argo(success, failure, result, expected):
    m = metric(success_condition=success, failure_condition=failure)
    assert evaluate_result(m, result)[0] == expected


# ------------------------------------------------------------------ limits


def test_failure_limit_fails_the_metric_once_failures_exceed_it():
    run, phases = run_script([0.2, 0.01, 0.2, 0.2], failure_limit=2)
    assert phases == [RUNNING, RUNNING, RUNNING, FAILED]  # failed 3 > failureLimit 2; failures are not reset
    assert run.message == "metric 't/m' assessed Failed: failed (3) > failureLimit (2)"


def test_default_failure_limit_zero_fails_on_the_first_failure():
    _, phases = run_script([0.2])
    assert phases == [FAILED]


def test_negative_failure_limit_never_fails_and_count_then_succeeds():
    run, phases = run_script([0.2, 0.2, 0.2], failure_limit=-1, count=3)
    assert phases == [RUNNING, RUNNING, SUCCESSFUL]
    assert run.metrics[0].failed == 3


def test_count_reached_is_successful_with_failures_within_the_limit():
    _, phases = run_script([0.2, 0.01, 0.01], failure_limit=1, count=3)
    assert phases == [RUNNING, RUNNING, SUCCESSFUL]


def test_inconclusive_limit():
    both = {"success_condition": "result[0] < 0.05", "failure_condition": "result[0] > 0.10", "inconclusive_limit": 1}
    run, phases = run_script([0.07, 0.01, 0.07], **both)
    assert phases == [RUNNING, RUNNING, INCONCLUSIVE]
    assert "inconclusive (2) > inconclusiveLimit (1)" in run.message


def test_consecutive_errors_above_the_limit_error_the_metric_and_a_value_resets_them():
    # default consecutiveErrorLimit 4: the fifth error in a row errs
    run, phases = run_script([None] * 5)
    assert phases == [RUNNING] * 4 + [ERROR]
    assert "consecutiveErrors (5) > consecutiveErrorLimit (4)" in run.message
    _, phases = run_script([None] * 4 + [0.01] + [None] * 4)
    assert phases == [RUNNING] * 9
    _, phases = run_script([None, None], consecutive_error_limit=1)
    assert phases == [RUNNING, ERROR]


def test_errors_do_not_count_towards_count_and_are_retried_after_ten_seconds():
    m = metric(count=2)
    run = AnalysisRun("r", [("t", AnalysisTemplate(metrics=(m,)))], 0.0)
    ctx = Script([None, 0.01, 0.01])
    assert run.advance(ctx, 0.0) == RUNNING and run.metrics[0].next_at_s == 10.0  # error retry
    assert run.advance(ctx, 5.0) == RUNNING and len(run.measurements) == 1       # nothing due
    assert run.advance(ctx, 10.0) == RUNNING and run.metrics[0].next_at_s == 70.0
    assert run.advance(ctx, 70.0) == SUCCESSFUL
    assert [m.time_s for m in run.measurements] == [0.0, 10.0, 70.0]
    assert (run.metrics[0].count, run.metrics[0].error) == (2, 1)


def test_initial_delay_and_a_single_measurement_without_interval():
    m = metric(interval_s=None, initial_delay_s=30)
    run = AnalysisRun("r", [("t", AnalysisTemplate(metrics=(m,)))], 100.0)
    ctx = Script([0.01])
    assert run.advance(ctx, 120.0) == RUNNING and run.measurements == []
    assert run.advance(ctx, 130.0) == SUCCESSFUL  # one measurement is the whole count


def test_dry_run_metrics_never_decide_and_a_failed_metric_terminates_the_others():
    failing = metric(name="dry", failure_limit=0, dry_run=True)
    run = AnalysisRun("r", [("t", AnalysisTemplate(metrics=(failing,)))], 0.0)
    assert run.advance(Script([0.5]), 0.0) == SUCCESSFUL  # the only metric is a dry run: it ended, nothing decides
    deciding = metric(name="a")
    endless = metric(name="b", success_condition="result[0] < 0.5")
    run = AnalysisRun("r", [("t", AnalysisTemplate(metrics=(deciding, endless)))], 0.0)
    assert run.advance(Script([0.2, 0.2]), 0.0) == FAILED  # a fails; b is terminated as Successful
    assert [s.phase for s in run.metrics] == [FAILED, SUCCESSFUL]


def test_worst_phase_wins_error_over_inconclusive():
    errs = metric(name="e", consecutive_error_limit=0)
    inc = metric(name="i", failure_condition="result[0] > 0.9", success_condition="result[0] < 0.0")
    run = AnalysisRun("r", [("t", AnalysisTemplate(metrics=(errs, inc)))], 0.0)
    assert run.advance(Script([None, 0.5]), 0.0) == ERROR


def test_terminating_a_run_without_count_is_successful():
    run = AnalysisRun("bg", [("t", AnalysisTemplate(metrics=(metric(),)))], 0.0)
    run.advance(Script([0.01]), 0.0)
    assert run.terminate(500.0) == SUCCESSFUL


def test_tick_resolution_is_the_common_divisor():
    assert tick_resolution_s([300, 60, 10]) == 10.0
    assert tick_resolution_s([90, 60]) == 30.0


# ------------------------------------------------------------------ rollouts


def argo_scenario(faults=(), **strategy):
    base = load_scenario(os.path.join(ROOT, "scenarios", "progressive_bad_candidate.toml")).to_mapping()
    config = {
        "kind": "progressive",
        "steps": [{"weight": 20, "pause_s": 300}, {"weight": 40, "analysis": ["inline"]},
                  {"weight": 60, "pause_s": 300}, {"weight": 80, "manual": True}],
        "analysis_templates": {
            "inline": {"metrics": [{"name": "sr", "measure": "success_rate", "interval_s": 60, "count": 3,
                                    "window_s": 300, "success_condition": "result[0] >= 0.95"}]},
            "bg": {"metrics": [{"name": "er", "measure": "error_rate", "interval_s": 60, "window_s": 120,
                                "failure_condition": "result[0] > 0.05", "failure_limit": 1}]},
        },
        "background_analysis": ["bg"],
        "background_starting_step": 2,
        "manual_pause_s": 600,
    }
    config.update(strategy)
    base.update(strategy=config, faults=list(faults))
    return load_scenario(base)


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_a_good_argo_rollout_walks_its_steps_on_time(engine):
    r = workbench.run(argo_scenario(), engine=engine)
    steps = r.events[r.events.kind == "step"]
    # step 2's inline analysis measures at 300, 360, 420 (count 3), then step 3 waits 300 s,
    # step 4 waits for a person (600 s), and the rollout completes
    assert steps.time_s.tolist() == [0.0, 300.0, 420.0, 720.0]
    assert r.summary.strategy.final_state == "promoted" and r.summary.strategy.get("promoted_at_s") == 1320.0
    bg = r.tables["analysis"].query("run == 'background'")
    assert bg.time_s.iloc[0] == 300.0 and (bg.phase == "Successful").all()
    # a request split: each step sends its weight of requests (within 3 binomial sd)
    for row in r.tables["steps"].itertuples():
        sd = 100 * math.sqrt(row.weight / 100 * (1 - row.weight / 100) / row.requests)
        assert abs(row.realised_share - row.weight) < 3 * sd


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_background_analysis_aborts_after_failures_exceed_the_limit(engine):
    fault = {"kind": "error_burst", "target": "candidate", "start_s": 420, "error_rate": 0.08}
    r = workbench.run(argo_scenario(faults=[fault]), engine=engine)
    failed = r.events[r.events.kind == "gate_failed"]
    # measured every 60 s from step 2 (300 s) over the last 120 s: 480 and 540 see the fault (from 420)
    assert failed.time_s.tolist() == [480.0, 540.0]
    assert r.summary.rollback.rolled_back and r.summary.rollback.time_s == failed.time_s.iloc[1]
    assert "failed (2) > failureLimit (1)" in r.events[r.events.kind == "rollback"].reason.iloc[0]


def test_an_inconclusive_inline_analysis_pauses_until_a_person_resumes():
    inconclusive = {"metrics": [{"name": "sr", "measure": "success_rate", "interval_s": 60, "count": 1,
                                 "success_condition": "result[0] > 2", "failure_condition": "result[0] < 0"}]}
    s = argo_scenario(analysis_templates={"inline": inconclusive}, background_analysis=[],
                      steps=[{"weight": 20, "pause_s": 300}, {"weight": 40, "analysis": ["inline"]}, {"weight": 100}],
                      manual_pause_s=200)
    r = workbench.run(s)
    # at 300 the run has no data yet (Error, retried 10 s later); at 310 it is inconclusive:
    # the rollout pauses and a person resumes it 200 s later
    measured = r.tables["analysis"]
    assert measured.phase.tolist() == ["Error", "Inconclusive"] and measured.time_s.tolist() == [300.0, 310.0]
    assert r.events[r.events.kind == "pause"].time_s.tolist() == [310.0]
    assert r.summary.strategy.get("promoted_at_s") == 510.0
    failing = workbench.run(s.with_overrides({"strategy.inconclusive": "fail"}))
    assert failing.summary.rollback.rolled_back and failing.summary.rollback.time_s == 310.0


def test_user_split_realised_share_differs_from_the_weight_and_the_plan_uses_it():
    s = load_scenario(os.path.join(ROOT, "scenarios", "progressive_bad_candidate.toml"))
    users = workbench.run(s.with_overrides({"strategy.split": "users"}))
    requests = workbench.run(s)
    share_users = users.tables["steps"].realised_share.iloc[0]
    share_requests = requests.tables["steps"].realised_share.iloc[0]
    assert abs(share_requests - 5.0) < 0.5           # 5% of about 12,000 requests: sd 0.2 points
    assert abs(share_users - 5.0) > 0.5               # heavy users make a 5% cohort's share differ
    plan = users.summary.strategy.get("step_plan")
    if plan:
        assert plan[0]["request_share"] == pytest.approx(share_users, abs=1.0)


def test_progressive_unit_request_split_draws_from_the_strategy_stream():
    strategy, _ = build({"kind": "progressive", "steps": [{"weight": 30, "pause_s": 60}, {"weight": 100}]})
    ctx = FakeContext(seed=3)
    ctx.start(strategy)
    routed = [ctx.arrive(1.0, 7)[1] for _ in range(4000)]
    share = routed.count("candidate") / 4000
    assert abs(share - 0.30) < 3 * math.sqrt(0.3 * 0.7 / 4000)
