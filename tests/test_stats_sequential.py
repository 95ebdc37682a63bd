"""Sequential tests: GrowthBook's published numbers, Johari's formula, boundary tables."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from workbench.stats import (
    MSPRT,
    SummaryStats,
    confidence_sequence,
    group_sequential_bounds,
    mean_difference,
    msprt,
    msprt_mixing_variance,
    sequential_rho,
)

# GrowthBook gbstats tests/frequentist/test_tests.py::TestSequentialTTest
SEQ_A = SummaryStats(n=3000, sum=1396.87, sum_sq=52377.9767)
SEQ_B = SummaryStats(n=3461, sum=2422.7, sum_sq=134698.29)


def test_confidence_sequence_matches_growthbook_means():
    r = confidence_sequence(SEQ_A, SEQ_B, relative=True, tuning=1000)
    assert r.estimate == pytest.approx(0.50336, abs=5e-6)
    assert r.se == pytest.approx(0.33341, abs=5e-6)
    assert r.ci_low == pytest.approx(-0.55844, abs=5e-6)
    assert r.ci_high == pytest.approx(1.56516, abs=5e-6)
    assert r.p_value == 1.0


def test_confidence_sequence_matches_growthbook_proportions():
    a, b = SummaryStats.from_counts(1396, 3000), SummaryStats.from_counts(2422, 3461)
    r = confidence_sequence(a, b, relative=True)  # default tuning 5000
    assert r.estimate == pytest.approx(0.50386, abs=5e-6)
    assert r.se == pytest.approx(0.03386, abs=5e-6)
    assert r.ci_low == pytest.approx(0.40098, abs=5e-6)
    assert r.ci_high == pytest.approx(0.60675, abs=5e-6)
    assert r.p_value == pytest.approx(0.0, abs=5e-6)


def test_confidence_sequence_is_wider_than_fixed_interval_and_tuning_matters():
    fixed = mean_difference(SEQ_A, SEQ_B)
    seq = confidence_sequence(SEQ_A, SEQ_B)
    assert seq.ci_high - seq.ci_low > fixed.ci_high - fixed.ci_low
    # GrowthBook's test_sequential_test_tuning_as_expected: tuning near n is narrowest
    widths = {t: (lambda r: r.ci_high - r.ci_low)(confidence_sequence(SEQ_A, SEQ_B, tuning=t))
              for t in (10, 6461, 10000)}
    assert widths[6461] < widths[10000] < widths[10]


def test_rho_formula():
    la = math.log(0.05)
    assert sequential_rho(0.05, 5000) == pytest.approx(math.sqrt((-2 * la + math.log(1 - 2 * la)) / 5000))
    with pytest.raises(ValueError, match="tuning"):
        sequential_rho(0.05, 0)


def test_msprt_equals_johari_formula_for_paired_streams():
    # Johari et al.: V = variance of one difference, n pairs, mean difference dbar
    rng = np.random.default_rng(4)
    n = 400
    a, b = rng.normal(0, 1, n), rng.normal(0.1, 1, n)
    sa, sb = SummaryStats.from_array(a), SummaryStats.from_array(b)
    v = sa.variance + sb.variance
    dbar = sb.mean - sa.mean
    tau2 = 0.05
    expected = math.sqrt(v / (v + n * tau2)) * math.exp(n**2 * tau2 * dbar**2 / (2 * v * (v + n * tau2)))
    # tau2 in Johari's units is per-observation; in ours it's the estimate's units: same thing here
    r = msprt(sa, sb, tau2=tau2)
    assert r.likelihood_ratio == pytest.approx(expected, rel=1e-12)
    assert r.p_value == pytest.approx(min(1.0, 1 / expected))
    # the always-valid interval is where the likelihood ratio stays below 1/alpha
    for edge in (r.ci_low, r.ci_high):
        shifted = SummaryStats(sb.n, sb.sum - edge * sb.n, sb.sum_sq - 2 * edge * sb.sum + edge**2 * sb.n)
        assert msprt(sa, shifted, tau2=tau2).likelihood_ratio == pytest.approx(20.0, rel=1e-6)


def test_msprt_horizon_sets_mixing_variance():
    sa, sb = SummaryStats.from_moments(100, 0.0, 2.0), SummaryStats.from_moments(100, 0.0, 1.0)
    r = msprt(sa, sb, horizon_per_arm=1000)
    assert r.tau2 == pytest.approx(msprt_mixing_variance((4.0 + 1.0) / 1000))
    with pytest.raises(ValueError, match="tau2/horizon_per_arm"):
        msprt(sa, sb)


def test_msprt_class_keeps_running_minimum_and_stops_under_effect():
    rng = np.random.default_rng(9)
    t = MSPRT(horizon_per_arm=2000)
    a, b = SummaryStats(0, 0, 0), SummaryStats(0, 0, 0)
    ps = []
    for _ in range(20):
        a = a.update(rng.normal(0, 1, 100))
        b = b.update(rng.normal(0.3, 1, 100))
        t.update(a, b)
        ps.append(t.p_value)
    assert all(x >= y for x, y in zip(ps, ps[1:], strict=False))  # running minimum
    assert t.rejected_at is not None and t.rejected_at < 20
    assert t.ci_low > 0 and t.ci_low <= 0.3 <= t.ci_high


def test_confidence_sequence_time_uniform_coverage():
    """Check the interval after every batch of 50 (40 looks): misses the truth <= alpha."""
    rng = np.random.default_rng(21)
    sims, looks, batch, alpha = 400, 40, 50, 0.1
    ever_missed = 0
    for _ in range(sims):
        a, b = SummaryStats(0, 0, 0), SummaryStats(0, 0, 0)
        a_raw = rng.exponential(1.0, (looks, batch))
        b_raw = rng.exponential(1.0, (looks, batch)) + 0.2
        missed = False
        for k in range(looks):
            a, b = a.update(a_raw[k]), b.update(b_raw[k])
            r = confidence_sequence(a, b, alpha=alpha, tuning=2 * looks * batch)
            if not r.ci_low <= 0.2 <= r.ci_high:
                missed = True
                break
        ever_missed += missed
    # nominal time-uniform miss rate <= 0.10; the CS is conservative in practice
    assert ever_missed / sims <= 0.10 + 2 * math.sqrt(0.1 * 0.9 / sims)


# ---------------------------------------------------------------- group sequential
@pytest.mark.parametrize("looks,pocock,obf", [(2, 2.178, 1.977), (3, 2.289, 2.004),
                                              (4, 2.361, 2.024), (5, 2.413, 2.040),
                                              (10, 2.555, 2.087)])
def test_classical_bounds_match_jennison_turnbull_table_2_1(looks, pocock, obf):
    p = group_sequential_bounds(looks, kind="pocock", method="classical")
    o = group_sequential_bounds(looks, kind="obrien_fleming", method="classical")
    assert p.z_bounds == pytest.approx([pocock] * looks, abs=6e-4)
    assert o.z_bounds[-1] == pytest.approx(obf, abs=6e-4)
    assert o.z_bounds[0] == pytest.approx(obf * math.sqrt(looks), abs=2e-3)
    assert p.cumulative_alpha[-1] == pytest.approx(0.05, abs=1e-9)


def test_spending_bounds_spend_exactly_alpha():
    for kind in ("obrien_fleming", "pocock"):
        for convention in ("per_side", "full_alpha"):
            b = group_sequential_bounds(5, kind=kind, convention=convention)
            assert b.cumulative_alpha[-1] == pytest.approx(0.05, abs=1e-9)
            assert all(np.diff(b.cumulative_alpha) > 0)
    ob = group_sequential_bounds(5)
    # each side spends 2 - 2 Phi(z_{1 - 0.025/2}/sqrt(0.2)) at the first look
    first = 2 * stats.norm.sf(stats.norm.isf(0.0125) / math.sqrt(0.2))
    assert ob.z_bounds[0] == pytest.approx(stats.norm.isf(first), abs=1e-6)
    full = group_sequential_bounds(5, convention="full_alpha")
    # the full-alpha reading spends 2 - 2 Phi(z_{.975}/sqrt(0.2)) on |Z|: bound z_{.975}/sqrt(0.2)
    assert full.z_bounds[0] == pytest.approx(stats.norm.ppf(0.975) / math.sqrt(0.2), abs=1e-6)
    po = group_sequential_bounds(5, kind="pocock")
    assert po.z_bounds[0] == pytest.approx(stats.norm.isf(0.05 * math.log(1 + (math.e - 1) * 0.2) / 2), abs=1e-6)
    one = group_sequential_bounds(1)
    assert one.z_bounds[0] == pytest.approx(1.959964, abs=1e-6)


def test_obrien_fleming_spending_matches_ldbounds():
    # R ldbounds: ldBounds(t = seq(0.2, 1, 0.2), iuse = 1, alpha = 0.05) (sides = 2, alpha/2 per
    # side), upper bounds 4.8769 3.3569 2.6803 2.2898 2.0310; gsDesign(k = 5, test.type = 2,
    # alpha = 0.025, sfu = sfLDOF) gives the same.
    b = group_sequential_bounds(5)
    assert b.convention == "per_side"
    assert b.z_bounds == pytest.approx([4.8769, 3.3569, 2.6803, 2.2898, 2.0310], abs=2e-4)
    assert [round(z, 3) for z in b.z_bounds] == [4.877, 3.357, 2.680, 2.290, 2.031]


def _mvn_cumulative_alpha(bounds, t):
    """1 - P(|Z_1| < c_1, ..., |Z_k| < c_k) with corr(Z_i, Z_j) = sqrt(t_i / t_j), by scipy's
    multivariate normal CDF (Genz): an independent check of the recursive integration."""
    t = np.asarray(t, float)
    k = t.size
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    c = np.asarray(bounds[:k])
    mvn = stats.multivariate_normal(np.zeros(k), cov, seed=np.random.default_rng(0),
                                    maxpts=500_000, abseps=1e-7, releps=1e-7)
    inside = mvn.cdf(c, lower_limit=-c)
    return 1 - inside


def test_pocock_spending_bounds_cross_checked_by_multivariate_normal():
    # ldbounds iuse = 2 (Pocock type, alpha * log(1 + (e - 1) t), alpha/2 per side): our
    # recursion gives 2.4380 2.4268 2.4102 2.3966 2.3860; the Pocock type is linear in alpha,
    # so both conventions coincide.
    t = np.arange(1, 6) / 5
    po = group_sequential_bounds(5, kind="pocock")
    assert [round(z, 3) for z in po.z_bounds] == [2.438, 2.427, 2.410, 2.397, 2.386]
    full = group_sequential_bounds(5, kind="pocock", convention="full_alpha")
    assert full.z_bounds == pytest.approx(po.z_bounds, abs=1e-9)
    spent = 0.05 * np.log(1 + (math.e - 1) * t)
    ob = group_sequential_bounds(5)
    spent_ob = 4 * stats.norm.sf(stats.norm.isf(0.0125) / np.sqrt(t))
    for k in (2, 3, 5):
        assert _mvn_cumulative_alpha(po.z_bounds, t[:k]) == pytest.approx(spent[k - 1], abs=2e-5)
        assert _mvn_cumulative_alpha(ob.z_bounds, t[:k]) == pytest.approx(spent_ob[k - 1], abs=2e-5)


def test_spending_bounds_control_error_by_simulation_with_unequal_looks():
    info = [100, 250, 600, 1000]
    b = group_sequential_bounds(info, kind="obrien_fleming")
    rng = np.random.default_rng(3)
    t = np.array(info) / 1000
    incr = rng.standard_normal((100_000, 4)) * np.sqrt(np.diff(np.concatenate([[0], t])))
    z = np.cumsum(incr, 1) / np.sqrt(t)
    rate = np.mean((np.abs(z) >= np.array(b.z_bounds)).any(1))
    assert rate == pytest.approx(0.05, abs=0.004)
    assert b.first_crossing([0.5, 1.0, 3.0, 0.0]) == 2


def test_group_sequential_bad_input():
    with pytest.raises(ValueError, match="kind"):
        group_sequential_bounds(5, kind="haybittle")
    with pytest.raises(ValueError, match="looks"):
        group_sequential_bounds([3, 2, 1])
    with pytest.raises(ValueError, match="looks"):
        group_sequential_bounds([1, 2, 3], method="classical")
    with pytest.raises(ValueError, match="convention"):
        group_sequential_bounds(5, convention="one_sided")


# ---------------------------------------------------------------- properties
samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=3, max_size=40)


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.sampled_from([100.0, 5000.0]))
def test_confidence_sequence_properties(a, b, tuning):
    r = confidence_sequence(a, b, tuning=tuning)
    s = confidence_sequence(b, a, tuning=tuning)
    fixed = mean_difference(a, b, method="z")
    assert 0.0 <= r.p_value <= 1.0
    assert r.ci_low <= r.estimate <= r.ci_high
    assert s.estimate == pytest.approx(-r.estimate, abs=1e-9)
    assert s.p_value == pytest.approx(r.p_value, abs=1e-9)
    assert r.p_value >= fixed.p_value - 1e-12  # never more significant than one fixed look


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_msprt_properties(a, b):
    r = msprt(a, b, horizon_per_arm=500)
    s = msprt(b, a, horizon_per_arm=500)
    assert 0.0 <= r.p_value <= 1.0
    assert r.ci_low <= r.estimate <= r.ci_high
    assert s.estimate == pytest.approx(-r.estimate, abs=1e-9)
    assert s.p_value == pytest.approx(r.p_value, rel=1e-9, abs=1e-12)
