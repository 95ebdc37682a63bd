"""The rollback policy on scripted values: health verdicts and which alerts roll back."""

from __future__ import annotations

import math

import pytest

from workbench.engine.rollback import RollbackPolicy
from workbench.scenario import RollbackConfig

ERROR_RATE = {"metric": "error_rate", "threshold": 0.05}
P99 = {"metric": "latency_p99_ms", "threshold": 400.0}


def policy(**config) -> RollbackPolicy:
    config.setdefault("thresholds", [ERROR_RATE])
    return RollbackPolicy(RollbackConfig(**config))


def test_too_few_samples_says_nothing_and_keeps_the_count():
    p = policy(consecutive=2, min_samples=30)
    assert p.judge_health(100, {"error_rate": 0.5}).breaches == 1
    assert p.judge_health(29, {"error_rate": 0.5}) is None  # too few: neither breach nor pass
    assert p.breaches == 1
    second = p.judge_health(30, {"error_rate": 0.5})
    assert second.breaches == 2 and second.roll_back


def test_nan_metric_is_inconclusive_not_a_breach():
    p = policy(thresholds=[ERROR_RATE, P99], consecutive=1, min_samples=10)
    verdict = p.judge_health(100, {"error_rate": math.nan, "latency_p99_ms": math.nan})
    assert verdict.violations == () and not verdict.roll_back and verdict.text == ""
    # one metric missing, the other breached: only the breached one counts
    verdict = p.judge_health(100, {"error_rate": 0.2, "latency_p99_ms": math.nan})
    assert [v["metric"] for v in verdict.violations] == ["error_rate"]
    assert verdict.roll_back and verdict.text == "error_rate 0.2 > 0.05"


def test_consecutive_breaches_are_reset_by_a_clean_window():
    p = policy(consecutive=3, min_samples=10)
    script = [0.2, 0.2, 0.01, 0.2, 0.2, 0.2]
    verdicts = [p.judge_health(100, {"error_rate": x}) for x in script]
    assert [v.breaches for v in verdicts] == [1, 2, 0, 1, 2, 3]
    assert [v.roll_back for v in verdicts] == [False] * 5 + [True]
    assert verdicts[2].violations == () and verdicts[2].text == ""


def test_value_at_the_threshold_passes_and_min_direction_breaches_below():
    p = policy(thresholds=[{"metric": "throughput_per_s", "threshold": 10.0, "direction": "min"}, ERROR_RATE],
               consecutive=1, min_samples=1)
    assert p.judge_health(50, {"throughput_per_s": 10.0, "error_rate": 0.05}).violations == ()
    verdict = p.judge_health(50, {"throughput_per_s": 4.0, "error_rate": 0.0})
    assert verdict.violations == ({"metric": "throughput_per_s", "value": 4.0, "threshold": 10.0,
                                   "direction": "min"},)
    assert verdict.text == "throughput_per_s 4 < 10"


def test_health_not_a_trigger_never_rolls_back():
    p = policy(triggers=["performance"], consecutive=1, min_samples=1)
    verdicts = [p.judge_health(100, {"error_rate": 0.9}) for _ in range(5)]
    assert [v.breaches for v in verdicts] == [1, 2, 3, 4, 5]  # breaches still reported as alerts
    assert not any(v.roll_back for v in verdicts)


def test_disabled_or_absent_policy_judges_nothing():
    assert RollbackPolicy(None).judge_health(1000, {"error_rate": 1.0}) is None
    assert not RollbackPolicy(None).judges_health
    assert policy(enabled=False).judge_health(1000, {"error_rate": 1.0}) is None
    assert RollbackPolicy(RollbackConfig()).judge_health(1000, {"error_rate": 1.0}) is None  # no thresholds


@pytest.mark.parametrize(
    "triggers,monitor,model,may_roll_back,expected",
    [
        (["performance"], "performance", "candidate", True, True),
        (["performance"], "performance", "", True, True),  # an alert about all traffic
        (["performance"], "performance", "legacy", True, False),  # legacy's own alarm: nothing to undo
        (["performance"], "performance", "candidate", False, False),  # the alert says it would not help
        (["performance"], "drift", "", True, False),  # drift is not a trigger
        (["drift", "detector"], "drift", "", True, True),
        (["drift", "detector"], "detector", "candidate", True, True),
        (["health"], "health", "candidate", True, False),  # health rolls back by its own rule only
        (["health", "performance"], "health", "candidate", True, False),
    ],
)
def test_rolls_back_on_alert_truth_table(triggers, monitor, model, may_roll_back, expected):
    p = policy(triggers=triggers)
    assert p.rolls_back_on_alert(monitor, model, may_roll_back) is expected


def test_no_policy_or_a_disabled_one_never_rolls_back_on_alerts():
    assert not RollbackPolicy(None).rolls_back_on_alert("performance", "candidate")
    assert not policy(enabled=False, triggers=["performance"]).rolls_back_on_alert("performance", "candidate")


def test_cooldown_and_performance_relative_defaults():
    assert RollbackPolicy(None).cooldown_s == 60.0 and RollbackPolicy(None).performance_relative
    p = policy(cooldown_s=15.0, performance_relative=False)
    assert p.cooldown_s == 15.0 and not p.performance_relative
