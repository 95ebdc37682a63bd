"""Gates and judges: pass, fail or inconclusive, never a silent pass on missing data."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pytest
from strategy_fakes import FakeContext, window_metrics

import workbench
from workbench.scenario import Gate, JudgeConfig
from workbench.stats import judges
from workbench.strategies.gates import (
    SEQUENTIAL_DEFAULT_MARGINS,
    Measurement,
    analyse,
    build_judge,
    evaluate_gates,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


_wm = window_metrics


def one(gate, cand, legacy=None):
    (res,) = evaluate_gates([gate], cand, legacy)
    return res


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


@pytest.mark.parametrize("value,direction,outcome,reason", [
    (150.0, "max", "pass", "latency_p99_ms 150 ok (500 requests)"),
    (200.0, "max", "pass", "latency_p99_ms 200 ok (500 requests)"),  # at the threshold: within it
    (250.0, "max", "fail", "latency_p99_ms 250 > 200 (500 requests)"),
    (250.0, "min", "pass", "latency_p99_ms 250 ok (500 requests)"),
    (150.0, "min", "fail", "latency_p99_ms 150 < 200 (500 requests)"),
])
def test_absolute_gates(value, direction, outcome, reason):
    res = one(Gate(metric="latency_p99_ms", threshold=200.0, direction=direction), _wm(latency_p99_ms=value))
    assert (res.outcome, res.reason, res.value, res.samples) == (outcome, reason, value, 500)
    assert (res.metric, res.threshold, res.direction) == ("latency_p99_ms", 200.0, direction)


def test_relative_gates_compare_the_ratio_to_legacy():
    gate = Gate(metric="latency_p95_ms", threshold=1.2, relative_to_legacy=True)
    legacy = _wm("legacy", latency_p95_ms=100.0)
    ok = one(gate, _wm(latency_p95_ms=110.0), legacy)
    assert ok.outcome == "pass" and ok.value == pytest.approx(1.1) and ok.reason == "latency_p95_ms ratio to legacy 1.1 ok (500 requests)"
    bad = one(gate, _wm(latency_p95_ms=130.0), legacy)
    assert bad.outcome == "fail" and bad.reason == "latency_p95_ms ratio to legacy 1.3 > 1.2 (500 requests)"


@pytest.mark.parametrize("legacy", [
    None,
    _wm("legacy", error_rate=0.0),  # a zero baseline cannot be a denominator
    _wm("legacy", n=20, error_rate=0.01),  # too few legacy samples
    _wm("legacy", error_rate=math.nan),
], ids=["none", "zero", "few", "nan"])
def test_relative_gates_without_a_usable_baseline_are_inconclusive(legacy):
    res = one(Gate(metric="error_rate", threshold=2.0, relative_to_legacy=True), _wm(error_rate=0.5), legacy)
    assert res.outcome == "inconclusive" and res.reason == "error_rate: no usable legacy baseline (500 requests)"
    assert math.isnan(res.value)


def test_min_samples_counts_labelled_requests_for_label_metrics():
    gate = Gate(metric="business_rate", threshold=0.05, direction="min", min_samples=100)
    few = one(gate, _wm(n=5000, n_labelled=99))
    assert few.outcome == "inconclusive" and few.reason == "business_rate: 99 samples < 100" and few.samples == 99
    assert one(gate, _wm(n=100, n_labelled=100, business_rate=0.08)).outcome == "pass"
    # request metrics count every finished request
    assert one(Gate(metric="error_rate", threshold=0.1, min_samples=100), _wm(n=100, n_labelled=0)).outcome == "pass"


def test_nan_with_enough_samples_says_why():
    res = one(Gate(metric="prediction_mae", threshold=1.0), _wm(prediction_mae=math.nan))
    assert res.outcome == "inconclusive" and res.reason == "prediction_mae: value missing or NaN (400 labelled requests)"


# ---------------------------------------------------------------- analyse


def analysed(gates, cand, legacy=None, judge=None, start_s=10.0, legacy_window=None, now_s=70.0):
    ctx = FakeContext()
    ctx.now_s = now_s
    ctx.windows = {"candidate": cand, **({"legacy": legacy} if legacy is not None else {})}
    return analyse(ctx, [Gate(**g) for g in gates], judge, start_s, legacy_window), ctx


ERR = {"metric": "error_rate", "threshold": 0.05}
P99 = {"metric": "latency_p99_ms", "threshold": 200.0}


def test_fail_outranks_inconclusive_which_outranks_pass():
    m, _ = analysed([ERR, P99], _wm(error_rate=0.1, latency_p99_ms=math.nan))
    assert (m.outcome, m.reason) == ("fail", "error_rate 0.1 > 0.05 (500 requests in 10-70 s)")
    m, _ = analysed([ERR, P99], _wm(latency_p99_ms=math.nan))
    assert (m.outcome, m.reason) == ("inconclusive", "latency_p99_ms: value missing or NaN (500 requests in 10-70 s)")
    m, _ = analysed([ERR, P99], _wm(error_rate=0.01))
    assert (m.outcome, m.reason) == ("pass", "error_rate 0.01 ok (500 requests in 10-70 s); latency_p99_ms 120 ok (500 requests in 10-70 s)")
    assert [g.outcome for g in m.gates] == ["pass", "pass"] and m.judge is None


def test_analyse_reads_the_candidate_since_start_and_legacy_only_for_relative_gates():
    _, ctx = analysed([ERR], _wm())
    assert ctx.window_calls == [("candidate", 10.0, None)]
    rel = {"metric": "latency_p99_ms", "threshold": 1.5, "relative_to_legacy": True}
    m, ctx = analysed([ERR, rel], _wm(), _wm("legacy"))
    assert ctx.window_calls == [("candidate", 10.0, None), ("legacy", 10.0, None)] and m.outcome == "pass"
    _, ctx = analysed([rel], _wm(), _wm("legacy"), legacy_window=(0.0, 10.0))
    assert ctx.window_calls == [("candidate", 10.0, None), ("legacy", 0.0, 10.0)]


def test_a_gate_reason_names_its_requests_and_the_window_measured():
    m, _ = analysed([ERR], _wm(n=1234, error_rate=0.1))  # measured at 70 s since 10 s
    assert m.reason == "error_rate 0.1 > 0.05 (1,234 requests in 10-70 s)"
    (res,) = evaluate_gates([Gate(metric="prediction_mae", threshold=0.3, min_samples=10)],
                            _wm(n_labelled=40, prediction_mae=0.5), None, " in 0-60 s")
    assert res.reason == "prediction_mae 0.5 > 0.3 (40 labelled requests in 0-60 s)"


def test_no_gates_and_no_judge_is_inconclusive():
    m, ctx = analysed([], _wm())
    assert (m.outcome, m.reason, m.gates) == ("inconclusive", "no gates configured", [])


@dataclass
class ScriptedJudge:
    """A judge that answers what it is told and records the values it was given."""

    outcome: str
    calls: list

    def judge(self, legacy, candidate):
        self.calls.append((legacy, candidate))
        return judges.JudgeVerdict(self.outcome, 42.0, f"scripted {self.outcome}", {})


@pytest.mark.parametrize("gate_error,judge_outcome,outcome,reason", [
    (0.01, "pass", "pass", "error_rate 0.01 ok (500 requests in 10-70 s); judge: scripted pass"),
    (0.01, "fail", "fail", "judge: scripted fail"),
    (0.01, "inconclusive", "inconclusive", "judge: scripted inconclusive"),
    (0.10, "pass", "fail", "error_rate 0.1 > 0.05 (500 requests in 10-70 s)"),  # the judge's pass is not the outcome's reason
])
def test_the_judge_votes_with_the_gates(gate_error, judge_outcome, outcome, reason):
    judge = ScriptedJudge(judge_outcome, [])
    m, ctx = analysed([ERR], _wm(error_rate=gate_error), judge=judge, legacy_window=(0.0, 10.0))
    assert (m.outcome, m.reason) == (outcome, reason)
    assert m.judge == {"outcome": judge_outcome, "score": 42.0, "reason": f"scripted {judge_outcome}"}
    # the judge sees legacy over the legacy window and the candidate since start
    assert ctx.values_calls == [("legacy", 0.0, 10.0), ("candidate", 10.0, None)]
    assert m.details()["judge"] == m.judge and m.details()["outcome"] == outcome


def test_measurement_details_list_every_gate():
    m, _ = analysed([ERR], _wm())
    (gate,) = m.details()["gates"]
    assert gate == {"metric": "error_rate", "outcome": "pass", "value": 0.0, "threshold": 0.05,
                    "direction": "max", "samples": 500, "reason": "error_rate 0 ok (500 requests in 10-70 s)"}
    assert "judge" not in Measurement("pass", "").details()


# ---------------------------------------------------------------- judges


def test_threshold_judge_is_no_judge():
    assert build_judge(JudgeConfig()) is None


def test_sequential_judge_defaults():
    j = build_judge(JudgeConfig(kind="sequential", metric="error", min_samples=1))
    assert isinstance(j, judges.SequentialJudge)
    assert j.margin == SEQUENTIAL_DEFAULT_MARGINS["error"] == 0.01 and j.min_samples == 2
    j = build_judge(JudgeConfig(kind="sequential", metric="latency_ms", margin=2.0, tuning=800, alpha=0.1))
    assert (j.margin, j.tuning, j.alpha, j.metric, j.direction) == (2.0, 800, 0.1, "latency_ms", "increase")


def test_kayenta_judge_gets_its_metrics():
    j = build_judge(JudgeConfig(kind="kayenta", metrics=("error", "latency_ms"), pass_threshold=90,
                                marginal_threshold=60, min_samples=30))
    assert isinstance(j, judges.KayentaJudge)
    assert [m.name for m in j.metrics] == ["error", "latency_ms"]
    rng = np.random.default_rng(0)
    same = {"latency_ms": rng.exponential(40, 500), "error": np.zeros(500)}
    assert j.judge(same, same).outcome == "pass"


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
