"""ModelComparison: pitfalls of a naive two-model tester, each with a test that catches it."""

import numpy as np
import pytest

from workbench.stats import ModelComparison, SummaryStats, confidence_sequence, mean_difference


def test_insufficient_data_rule_checks_both_arms():
    mc = ModelComparison(min_samples_per_arm=30)
    mc.add_legacy(np.arange(1000.0))  # a rule that checks only one arm would miss this
    mc.add_candidate(np.arange(10.0))
    r = mc.report()
    assert r.status == "insufficient_data" and not r.significant and np.isnan(r.p_value)
    assert "legacy has 1000 and candidate 10" in r.verdict
    mc.add_candidate(np.arange(20.0))
    assert mc.report().status != "insufficient_data"


def test_fixed_mode_is_welch_and_reports_sample_effect_sizes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 1, 200), rng.normal(10.5, 3, 50)
    r = ModelComparison(mode="fixed", expected_shares=(80, 20)).add("legacy", a).add("candidate", b).report()
    w = mean_difference(a, b)
    assert r.p_value == pytest.approx(w.p_value) and (r.ci_low, r.ci_high) == pytest.approx((w.ci_low, w.ci_high))
    pooled = np.sqrt((199 * a.var(ddof=1) + 49 * b.var(ddof=1)) / 248)
    assert r.cohens_d == pytest.approx((b.mean() - a.mean()) / pooled)
    assert r.hedges_g == pytest.approx(r.cohens_d * (1 - 3 / (4 * 248 - 1)))
    assert not r.srm.mismatch


def test_sequential_mode_uses_confidence_sequence_and_summaries():
    a = SummaryStats(n=3000, sum=1396.87, sum_sq=52377.9767)
    b = SummaryStats(n=3461, sum=2422.7, sum_sq=134698.29)
    mc = ModelComparison(relative=True, tuning=1000, expected_shares=(3000, 3461))
    r = mc.add("a", a).add("b", b).report()
    cs = confidence_sequence(a, b, relative=True, tuning=1000)
    assert (r.estimate, r.ci_low, r.ci_high, r.p_value) == (cs.estimate, cs.ci_low, cs.ci_high, cs.p_value)
    assert r.ci_low <= r.estimate <= r.ci_high
    assert "No significant difference" in r.verdict


def test_srm_is_flagged_in_the_report():
    mc = ModelComparison(mode="fixed")
    rng = np.random.default_rng(1)
    r = mc.add_legacy(rng.normal(0, 1, 1000)).add_candidate(rng.normal(0, 1, 1200)).report()
    assert r.status == "srm" and r.srm.mismatch
    assert r.srm.p_value == pytest.approx(0.000020079, abs=5e-10)
    assert r.verdict.startswith("Sample ratio mismatch: 1000 legacy vs 1200 candidate")


def test_verdict_says_better_or_worse():
    rng = np.random.default_rng(2)
    mc = ModelComparison(metric="latency_ms", higher_is_better=False)
    r = mc.add_legacy(rng.normal(40, 5, 3000)).add_candidate(rng.normal(45, 5, 3000)).report()
    assert r.significant and r.verdict.startswith("Candidate latency_ms is higher than legacy")
    assert r.verdict.endswith("the candidate is worse.")
    assert r.first_significant_look == 1


def test_continuous_monitoring_keeps_false_positives_at_alpha():
    """A/A, report after every batch of 25 per arm, 15 looks: fixed mode inflates, sequential doesn't."""
    rng = np.random.default_rng(3)
    sims, looks, batch = 200, 15, 25
    hits = {"fixed": 0, "sequential": 0}
    for _ in range(sims):
        data_a = rng.normal(0, 1, (looks, batch))
        data_b = rng.normal(0, 1, (looks, batch))
        for mode in hits:
            mc = ModelComparison(mode=mode, tuning=2 * looks * batch)
            for k in range(looks):
                mc.add_legacy(data_a[k]).add_candidate(data_b[k]).report()
            hits[mode] += mc.first_significant_look is not None
    assert hits["fixed"] / sims > 0.15  # peeking: about 22 % at 15 looks
    assert hits["sequential"] / sims <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        ModelComparison(mode="bayes")
    with pytest.raises(ValueError, match="arm"):
        ModelComparison().add("control", [1.0])
    with pytest.raises(ValueError, match="values: contains"):
        ModelComparison().add("legacy", [1.0, np.nan])
    with pytest.raises(ValueError, match="min_samples_per_arm"):
        ModelComparison(min_samples_per_arm=1)
