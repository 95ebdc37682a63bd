"""Gate judges on data with a known answer."""

import numpy as np
import pytest

from workbench.stats import (
    GateJudge,
    JudgeVerdict,
    KayentaJudge,
    KayentaMetric,
    SequentialJudge,
)


def _arms(seed=0, n=600, latency_factor=1.0, error_rate_b=0.01, business_shift=0.0):
    rng = np.random.default_rng(seed)
    legacy = {
        "latency_ms": rng.lognormal(np.log(40), 0.4, n),
        "error": (rng.random(n) < 0.01).astype(float),
        "business": rng.normal(10, 2, n),
    }
    candidate = {
        "latency_ms": latency_factor * rng.lognormal(np.log(40), 0.4, n),
        "error": (rng.random(n) < error_rate_b).astype(float),
        "business": rng.normal(10 + business_shift, 2, n),
    }
    return legacy, candidate


METRICS = [
    KayentaMetric("latency_ms", direction="increase", group="latency"),
    KayentaMetric("error", direction="increase", group="errors"),
    KayentaMetric("business", direction="decrease", group="business"),
]


def test_both_judges_implement_the_protocol():
    assert isinstance(KayentaJudge(METRICS), GateJudge)
    assert isinstance(SequentialJudge(), GateJudge)


def test_kayenta_identical_and_same_distribution_pass():
    legacy, candidate = _arms()
    v = KayentaJudge(METRICS).judge(legacy, legacy)
    assert (v.outcome, v.score) == ("pass", 100.0)
    assert all(v.details[m.name]["classification"] == "Pass" for m in METRICS)
    v = KayentaJudge(METRICS).judge(legacy, candidate)  # independent draws, same distributions
    assert v.outcome == "pass" and v.score == 100.0
    assert "all 3 metrics passed" in v.reason


def test_kayenta_doubled_latency_fails_its_metric():
    legacy, candidate = _arms(latency_factor=2.0)
    v = KayentaJudge(METRICS).judge(legacy, candidate)
    d = v.details["latency_ms"]
    assert d["classification"] == "High" and d["test"] == "mann_whitney"
    # Hodges-Lehmann shift of a 2x lognormal(median 40) is about +40 ms
    assert d["shift"] == pytest.approx(40, rel=0.2)
    assert d["ci_low"] > d["band"] == pytest.approx(0.25 * d["shift"])
    # one of three equally weighted groups fails: 66.67 < 75
    assert v.score == pytest.approx(66.67) and v.outcome == "fail"
    assert "latency_ms High" in v.reason and "ms" in v.reason


def test_kayenta_direction_decides_which_change_fails():
    legacy, candidate = _arms(latency_factor=0.5)  # candidate is faster
    v = KayentaJudge(METRICS).judge(legacy, candidate)
    assert v.details["latency_ms"]["classification"] == "Pass" and v.outcome == "pass"
    either = KayentaJudge([KayentaMetric("latency_ms", direction="either")])
    assert either.judge(legacy, candidate).details["latency_ms"]["classification"] == "Low"
    legacy, candidate = _arms(business_shift=-1.0)
    v = KayentaJudge(METRICS).judge(legacy, candidate)
    assert v.details["business"]["classification"] == "Low" and v.outcome == "fail"


def test_kayenta_critical_metric_forces_zero():
    legacy, candidate = _arms(latency_factor=2.0)
    metrics = [KayentaMetric("latency_ms", direction="increase", critical=True)] + METRICS[1:] + [
        KayentaMetric(f"m{i}", direction="either") for i in range(20)]
    for i in range(20):
        legacy[f"m{i}"] = candidate[f"m{i}"] = np.arange(100.0)
    v = KayentaJudge(metrics).judge(legacy, candidate)
    assert v.score == 0.0 and v.outcome == "fail"  # 22 of 23 metrics pass, but it is critical
    assert v.reason.startswith("Critical metric latency_ms High")


def test_kayenta_doubled_error_rate_is_not_a_silent_pass():
    # Per-request 0/1 values give a Hodges-Lehmann shift of 0: compared as proportions instead
    legacy, candidate = _arms(n=20000, error_rate_b=0.03)
    v = KayentaJudge(METRICS).judge(legacy, candidate)
    d = v.details["error"]
    assert d["test"] == "proportions" and d["classification"] == "High"
    assert d["shift"] == pytest.approx(0.02, abs=0.005)


def test_kayenta_nan_and_empty_give_inconclusive():
    legacy, candidate = _arms()
    judge = KayentaJudge(METRICS)
    empty = dict(candidate, latency_ms=np.array([]))
    v = judge.judge(legacy, empty)
    assert v.outcome == "inconclusive" and v.score is None
    assert "latency_ms has 600 legacy and 0 candidate" in v.reason
    missing = {k: val for k, val in candidate.items() if k != "business"}
    assert judge.judge(legacy, missing).outcome == "inconclusive"
    all_nan = dict(candidate, latency_ms=np.full(600, np.nan))
    v = judge.judge(legacy, all_nan)
    assert v.outcome == "inconclusive" and v.details["latency_ms"]["nan_candidate"] == 600
    # "replace" turns NaN into 0 (Kayenta): now there is data, and it is Low, not High
    replace = KayentaJudge([KayentaMetric("latency_ms", direction="either", nan_strategy="replace")])
    v = replace.judge(legacy, all_nan)
    assert v.details["latency_ms"]["classification"] == "Low" and v.outcome == "fail"
    # few samples: inconclusive, never a pass
    small = {k: val[:20] for k, val in candidate.items()}
    assert judge.judge(legacy, small).outcome == "inconclusive"


def test_kayenta_marginal_score_and_group_weights():
    legacy, candidate = _arms(latency_factor=2.0)
    metrics = [KayentaMetric("latency_ms", direction="increase", group="g")] + [
        KayentaMetric(f"m{i}", direction="either", group="g") for i in range(4)]
    for i in range(4):
        legacy[f"m{i}"] = candidate[f"m{i}"] = np.arange(100.0)
    v = KayentaJudge(metrics).judge(legacy, candidate)
    assert v.score == 80.0 and v.outcome == "inconclusive" and v.details["marginal"] is True
    assert "marginal" in v.reason
    # Kayenta's group weights in percent; unlisted groups share the rest
    weighted = KayentaJudge(METRICS, group_weights={"latency": 10.0})
    v = weighted.judge(*_arms(latency_factor=2.0))
    assert v.score == pytest.approx(90.0) and v.details["group_scores"]["latency"] == 0.0
    # metric weights inside a group
    metrics = [KayentaMetric("latency_ms", direction="increase", weight=1.0),
               KayentaMetric("business", direction="decrease", weight=3.0)]
    v = KayentaJudge(metrics).judge(*_arms(latency_factor=2.0))
    assert v.score == 75.0 and v.outcome == "inconclusive"


def test_kayenta_constant_arms_and_bad_config():
    legacy = {"latency_ms": np.full(100, 40.0)}
    v = KayentaJudge([KayentaMetric("latency_ms", direction="increase")]).judge(
        legacy, {"latency_ms": np.full(100, 80.0)})
    assert v.outcome == "fail" and v.details["latency_ms"]["shift"] == 40.0
    with pytest.raises(ValueError, match="direction"):
        KayentaMetric("x", direction="up")
    with pytest.raises(ValueError, match="nan_strategy"):
        KayentaMetric("x", nan_strategy="zero")
    with pytest.raises(ValueError, match="duplicate"):
        KayentaJudge([KayentaMetric("x"), KayentaMetric("x")])
    with pytest.raises(ValueError, match="pass_threshold/marginal_threshold"):
        KayentaJudge([KayentaMetric("x")], pass_threshold=70, marginal_threshold=75)
    with pytest.raises(ValueError, match="outcome"):
        JudgeVerdict("maybe", None, "", {})


# ---------------------------------------------------------------- sequential judge
def test_sequential_judge_same_distribution_passes_and_2x_latency_fails():
    legacy, candidate = _arms(n=1000)
    j = SequentialJudge()
    v = j.judge(legacy, candidate)
    assert v.outcome == "pass" and v.score is None
    d = v.details["latency_ms"]
    assert d["ci_low"] <= 0 <= d["ci_high"] or d["ci_low"] <= j.margin
    legacy, candidate = _arms(n=1000, latency_factor=2.0)
    v = j.judge(legacy, candidate)
    assert v.outcome == "fail" and v.details["latency_ms"]["ci_low"] > 0
    assert v.reason.startswith("Fail: latency_ms change +") and "always-valid 95% CI" in v.reason


def test_sequential_judge_margin_relative_and_direction():
    legacy, candidate = _arms(n=3000, latency_factor=1.1)  # +10 % latency
    assert SequentialJudge(relative=True).judge(legacy, candidate).outcome == "fail"
    assert SequentialJudge(relative=True, margin=0.3).judge(legacy, candidate).outcome == "pass"
    assert SequentialJudge(direction="decrease").judge(legacy, candidate).outcome == "pass"
    legacy, candidate = _arms(n=3000, business_shift=-1.0)
    j = SequentialJudge(metric="business", direction="decrease")
    assert j.judge(legacy, candidate).outcome == "fail"
    assert SequentialJudge(metric="error").judge(*_arms(n=5000, error_rate_b=0.05)).outcome == "fail"


def test_sequential_judge_inconclusive_cases():
    legacy, candidate = _arms(n=1000)
    j = SequentialJudge()
    assert j.judge(legacy, {"latency_ms": np.array([])}).outcome == "inconclusive"
    assert j.judge(legacy, {}).outcome == "inconclusive"
    v = j.judge(legacy, {"latency_ms": np.full(1000, np.nan)})
    assert v.outcome == "inconclusive" and v.details["latency_ms"]["nan_candidate"] == 1000
    assert j.judge({"latency_ms": legacy["latency_ms"][:50]}, candidate).outcome == "inconclusive"
    zero = {"error": np.zeros(500)}
    v = SequentialJudge(metric="error", relative=True).judge(zero, {"error": np.ones(500)})
    assert v.outcome == "inconclusive" and "cannot be compared" in v.reason
    with pytest.raises(ValueError, match="margin"):
        SequentialJudge(margin=-1)


def test_sequential_judge_false_fail_rate_is_controlled_under_repeated_looks():
    """A/A windows judged after every 100 requests of a growing window: rarely a false fail."""
    rng = np.random.default_rng(5)
    j = SequentialJudge(alpha=0.05, tuning=4000)
    sims, looks, step = 60, 20, 100
    fails = 0
    for _ in range(sims):
        a, b = rng.lognormal(3.7, 0.5, looks * step), rng.lognormal(3.7, 0.5, looks * step)
        for k in range(1, looks + 1):
            if j.judge({"latency_ms": a[: k * step]}, {"latency_ms": b[: k * step]}).outcome == "fail":
                fails += 1
                break
    assert fails / sims <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims)
