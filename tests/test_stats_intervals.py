"""Confidence intervals: Wilson against statsmodels, t intervals against scipy."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from workbench.stats import SummaryStats, mean_difference, proportion_test
from workbench.stats.intervals import RateEstimate, critical_value, t_interval, wilson_interval


@pytest.mark.parametrize("k, n", [(0, 1), (0, 8), (3, 10), (7, 7), (50, 100), (1, 1000), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_statsmodels(k, n, confidence):
    r = wilson_interval(k, n, confidence)
    lo, hi = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    assert r.lower == pytest.approx(lo, abs=1e-12)
    assert r.upper == pytest.approx(hi, abs=1e-12)
    assert r.rate == k / n and (r.successes, r.n, r.confidence) == (k, n, confidence)
    assert 0.0 <= r.lower <= r.rate <= r.upper <= 1.0


def test_wilson_edges_are_exact_and_closed_form():
    z2 = stats.norm.ppf(0.975) ** 2
    r = wilson_interval(0, 8)
    assert r.lower == 0.0 and r.upper == pytest.approx(z2 / (8 + z2))
    assert wilson_interval(8, 8).upper == 1.0
    empty = wilson_interval(0, 0)
    assert isinstance(empty, RateEstimate) and math.isnan(empty.rate) and math.isnan(empty.upper)


@pytest.mark.parametrize("kwargs, match", [
    ({"successes": 5, "n": 4}, "exceeds"),
    ({"successes": -1, "n": 4}, "successes"),
    ({"successes": 1.5, "n": 4}, "successes"),
    ({"successes": 1, "n": True}, "n"),
    ({"successes": 1, "n": 4, "confidence": 1.5}, "confidence"),
    ({"successes": 1, "n": 4, "confidence": 0.0}, "confidence"),
])
def test_wilson_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(**kwargs)


@pytest.mark.parametrize("dof", [1, 4, 29.5, 1000])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(dof, confidence):
    lo, hi = t_interval(3.0, 0.7, dof, confidence)
    s_lo, s_hi = stats.t.interval(confidence, dof, loc=3.0, scale=0.7)
    assert (lo, hi) == pytest.approx((s_lo, s_hi), rel=1e-12)


def test_infinite_dof_is_the_normal_interval():
    lo, hi = t_interval(0.0, 1.0, math.inf, 0.95)
    assert hi == pytest.approx(1.959963984540054) and lo == -hi
    assert critical_value(0.95) == pytest.approx(stats.norm.ppf(0.975))
    with pytest.raises(ValueError, match="dof"):
        critical_value(0.95, 0)


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.1, 0.2, 0.05 / 3])
def test_quantile_level_from_confidence_equals_level_from_alpha(alpha):
    # callers holding alpha pass confidence = 1 - alpha; the quantile level must be the
    # same number as 1 - alpha / 2, bit for bit, so no interval moves
    assert 0.5 + (1 - alpha) / 2 == 1 - alpha / 2


def test_comparisons_use_the_shared_interval():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 40), rng.normal(0.3, 2, 60)
    r = mean_difference(a, b)
    assert (r.ci_low, r.ci_high) == t_interval(r.estimate, r.se, r.dof, 0.95)
    sa, sb = SummaryStats.from_array(a), SummaryStats.from_array(b)
    z = mean_difference(sa, sb, method="z", alpha=0.1)
    assert (z.ci_low, z.ci_high) == t_interval(z.estimate, z.se, math.inf, 0.9)
    p = proportion_test(100, 1000, 130, 1000)
    assert (p.ci_low, p.ci_high) == t_interval(p.estimate, p.se, math.inf, 0.95)
