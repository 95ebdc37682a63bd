"""Bayesian comparisons: closed forms and seeded Monte-Carlo cross-checks."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln

from workbench.stats import SummaryStats, beta_binomial, mean_difference, normal_lift


def _miller_p_b_beats_a(aa, ba, ab, bb):
    """Evan Miller's closed form for P(p_b > p_a) with integer posterior parameters."""
    i = np.arange(ab)
    return float(np.sum(np.exp(betaln(aa + i, ba + bb) - np.log(bb + i) - betaln(1 + i, bb)
                               - betaln(aa, ba))))


@pytest.mark.parametrize("sa,na,sb,nb", [(40, 1000, 60, 1000), (3, 50, 1, 50), (500, 10000, 520, 10000),
                                         (0, 200, 0, 200)])
def test_chance_to_win_matches_closed_form(sa, na, sb, nb):
    r = beta_binomial(sa, na, sb, nb)
    expected = _miller_p_b_beats_a(1 + sa, 1 + na - sa, 1 + sb, 1 + nb - sb)
    assert r.chance_to_win == pytest.approx(expected, abs=2e-4)
    low = beta_binomial(sa, na, sb, nb, higher_is_better=False)
    assert low.chance_to_win == pytest.approx(1 - expected, abs=2e-4)


def test_expected_loss_and_credible_interval_match_monte_carlo():
    rng = np.random.default_rng(12)
    sa, na, sb, nb = 30, 600, 45, 620
    pa = rng.beta(2 + sa, 3 + na - sa, 400_000)
    pb = rng.beta(2 + sb, 3 + nb - sb, 400_000)
    r = beta_binomial(sa, na, sb, nb, prior_alpha=2, prior_beta=3)
    assert "Beta(2, 3)" in r.prior
    assert r.expected_loss == pytest.approx(np.mean(np.maximum(pa - pb, 0)), rel=0.03)
    assert r.expected_loss_legacy == pytest.approx(np.mean(np.maximum(pb - pa, 0)), rel=0.01)
    lo, hi = np.quantile(pb - pa, [0.025, 0.975])
    assert r.ci_low == pytest.approx(lo, abs=5e-4) and r.ci_high == pytest.approx(hi, abs=5e-4)
    rel = beta_binomial(sa, na, sb, nb, prior_alpha=2, prior_beta=3, relative=True)
    lo, hi = np.quantile(pb / pa - 1, [0.025, 0.975])
    assert rel.ci_low == pytest.approx(lo, abs=0.01) and rel.ci_high == pytest.approx(hi, abs=0.02)
    assert rel.estimate == pytest.approx(np.mean(pb / pa - 1), abs=0.005)
    assert rel.ci_low <= rel.estimate <= rel.ci_high


def test_error_rates_lower_is_better():
    r = beta_binomial(10, 5000, 40, 5000, higher_is_better=False)  # candidate errs 4x more
    assert r.chance_to_win < 0.001
    assert r.expected_loss == pytest.approx(0.006, abs=0.0015)  # about the rate difference


def test_normal_lift_flat_prior_agrees_with_frequentist_z():
    a = SummaryStats.from_moments(2000, 10.0, 3.0)
    b = SummaryStats.from_moments(2100, 10.25, 3.2)
    r = normal_lift(a, b, relative=True)
    z = mean_difference(a, b, relative=True, method="z")
    assert r.estimate == pytest.approx(z.estimate)
    assert r.chance_to_win == pytest.approx(stats.norm.cdf(z.estimate / z.se))
    assert (r.ci_low, r.ci_high) == pytest.approx((z.ci_low, z.ci_high))
    # E[max(-D, 0)] by integration of the normal posterior
    m, s = z.estimate, z.se
    x = np.linspace(m - 12 * s, m + 12 * s, 200_001)
    loss = np.trapezoid(np.maximum(-x, 0) * stats.norm.pdf(x, m, s), x)
    assert r.expected_loss == pytest.approx(loss, rel=1e-5)
    assert "flat" in r.prior


def test_normal_prior_shrinks_toward_prior_mean():
    a = SummaryStats.from_moments(200, 10.0, 3.0)
    b = SummaryStats.from_moments(200, 10.6, 3.0)
    flat = normal_lift(a, b, relative=False)
    tight = normal_lift(a, b, relative=False, prior_mean=0.0, prior_sd=0.1)
    se2 = flat.ci_high - flat.estimate
    assert 0 < tight.estimate < flat.estimate
    assert tight.ci_high - tight.estimate < se2
    # conjugate update: posterior precision = data precision + prior precision
    var_data = (9 / 200) * 2
    expected_mean = (0.6 / var_data) / (1 / var_data + 1 / 0.01)
    assert tight.estimate == pytest.approx(expected_mean, rel=1e-6)
    assert "N(0, 0.1^2)" in tight.prior


def test_bayesian_bad_input():
    with pytest.raises(ValueError, match="successes_b"):
        beta_binomial(1, 10, 11, 10)
    with pytest.raises(ValueError, match="prior_alpha"):
        beta_binomial(1, 10, 1, 10, prior_alpha=0)
    with pytest.raises(ValueError, match="prior_sd"):
        normal_lift([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], prior_sd=0)
