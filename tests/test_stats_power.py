"""Power, sample size and MDE: published statsmodels values and cross-checks."""

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from workbench.stats import (
    canary_step_duration_s,
    mde_proportions,
    mde_ttest,
    power_proportions,
    power_ttest,
    power_ztest,
    proportion_test,
    sample_size_proportions,
    sample_size_ttest,
    sample_size_ztest,
)


def test_published_power_values():
    assert power_ttest(1.0, 30, alpha=0.05) == pytest.approx(0.967708, abs=5e-7)
    assert power_ztest(0.3, 80, alpha=0.05) == pytest.approx(0.475101, abs=5e-7)


@pytest.mark.parametrize("d,n,alpha", [(0.2, 50, 0.05), (0.5, 64, 0.05), (0.8, 10, 0.01),
                                       (0.05, 20000, 0.05), (-0.4, 100, 0.1)])
def test_power_matches_statsmodels(d, n, alpha):
    assert power_ttest(d, n, alpha) == pytest.approx(TTestIndPower().power(abs(d), n, alpha), abs=1e-9)
    assert power_ztest(d, n, alpha) == pytest.approx(NormalIndPower().power(abs(d), n, alpha), abs=1e-9)


def test_power_ttest_survives_huge_n():
    # scipy's nct can return NaN far out: the result must stay a probability
    p = power_ttest(0.01, 5_000_000)
    assert 0.99 < p <= 1.0


@pytest.mark.parametrize("d", [0.1, 0.25, 0.5, 1.0])
def test_sample_size_is_smallest_n_reaching_power(d):
    n = sample_size_ttest(d, power=0.8)
    assert n == math.ceil(TTestIndPower().solve_power(d, power=0.8, alpha=0.05))
    assert power_ttest(d, n) >= 0.8 > power_ttest(d, n - 1)
    nz = sample_size_ztest(d)
    assert nz == math.ceil(2 * (1.959963985 + 0.841621234) ** 2 / d**2)


def test_mde_inverts_power():
    d = mde_ttest(64)
    assert power_ttest(d, 64) == pytest.approx(0.8, abs=1e-9)
    assert d == pytest.approx(TTestIndPower().solve_power(nobs1=64, power=0.8, alpha=0.05), abs=1e-6)


def test_proportions_planning_is_consistent_and_checked_by_simulation():
    n = sample_size_proportions(0.10, 0.12)
    assert n == 3841  # Fleiss et al. eq. 4.14 without continuity correction
    assert power_proportions(0.10, 0.12, n) == pytest.approx(0.8, abs=2e-3)
    assert mde_proportions(0.10, n) == pytest.approx(0.02, abs=2e-4)
    # simulate the z-test at this size: rejection rate should be ~0.80
    rng = np.random.default_rng(0)
    sims = 1500
    ka, kb = rng.binomial(n, 0.10, sims), rng.binomial(n, 0.12, sims)
    rate = np.mean([proportion_test(x, n, y, n).p_value < 0.05 for x, y in zip(ka, kb, strict=True)])
    assert rate == pytest.approx(0.80, abs=0.035)


def test_canary_step_duration_gives_requested_power():
    rate, weight, sd, effect = 50.0, 10.0, 20.0, 5.0
    t = canary_step_duration_s(rate, weight, effect=effect, baseline_mean=40, baseline_sd=sd)
    n_legacy, n_cand = rate * t * 0.9, rate * t * 0.1
    power = NormalIndPower().power(effect / sd, nobs1=n_legacy, alpha=0.05, ratio=n_cand / n_legacy)
    assert power == pytest.approx(0.8, abs=1e-3)
    # relative effect, smaller weight: longer; more traffic: shorter, in proportion
    rel = canary_step_duration_s(rate, weight, effect=0.125, relative=True, baseline_mean=40,
                                 baseline_sd=sd)
    assert rel == pytest.approx(t)
    assert canary_step_duration_s(rate, 5, effect=effect, baseline_sd=sd) > t
    assert canary_step_duration_s(2 * rate, weight, effect=effect, baseline_sd=sd) == pytest.approx(t / 2)


def test_canary_step_duration_for_error_rates():
    t = canary_step_duration_s(100.0, 20.0, effect=0.01, baseline_rate=0.01)
    n_legacy, n_cand = 100 * t * 0.8, 100 * t * 0.2
    # normal-approximation power of the pooled z-test at those sizes
    from scipy import stats
    pa, pb = 0.01, 0.02
    pbar = 0.8 * pa + 0.2 * pb
    se0 = math.sqrt(pbar * (1 - pbar) * (1 / n_legacy + 1 / n_cand))
    se1 = math.sqrt(pa * (1 - pa) / n_legacy + pb * (1 - pb) / n_cand)
    power = stats.norm.sf((1.959964 * se0 - 0.01) / se1)
    assert power == pytest.approx(0.8, abs=2e-3)


def test_planning_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="weight"):
        canary_step_duration_s(50, 100, effect=5, baseline_sd=20)
    with pytest.raises(ValueError, match="baseline_sd/baseline_rate"):
        canary_step_duration_s(50, 10, effect=5)
    with pytest.raises(ValueError, match="rate_per_s"):
        canary_step_duration_s(0, 10, effect=5, baseline_sd=1)
    with pytest.raises(ValueError, match="n_per_arm"):
        power_ttest(0.5, 1)
    with pytest.raises(ValueError, match="power"):
        sample_size_ttest(0.5, power=1.2)
    with pytest.raises(ValueError, match="effect_size"):
        sample_size_ttest(0.0)
