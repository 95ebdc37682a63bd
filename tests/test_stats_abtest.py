"""A/B verdicts: lift with interval and p-value, CUPED, guardrails under Holm.

Reference values were computed with scipy (``ttest_ind(equal_var=False)``), statsmodels
(``confint_proportions_2indep``, ``proportions_ztest``, ``multipletests``, OLS) and
GrowthBook's published test case, and are written in.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.stats import SummaryStats, mean_difference
from workbench.stats.abtest import Lift, ab_verdict, cuped, lift

A = [12.1, 9.8, 11.4, 10.2, 13.5, 8.9, 10.7, 11.9, 9.5, 12.8]
B = [13.2, 12.4, 14.1, 11.8, 15.0, 12.9, 13.7, 11.1, 14.6, 12.2, 13.9, 16.3]


def _binary(successes: int, n: int) -> np.ndarray:
    return np.r_[np.ones(successes), np.zeros(n - successes)]


# ----------------------------------------------------------------------------- lift
def test_mean_lift_matches_scipy_welch():
    r = lift(A, B, metric="latency_ms")
    # scipy.stats.ttest_ind(B, A, equal_var=False) and its confidence_interval(0.95)
    assert r.p_value == pytest.approx(0.001553450246383641, rel=1e-9)
    assert r.difference_ci_low == pytest.approx(1.017889902034696, rel=1e-9)
    assert r.difference_ci_high == pytest.approx(3.6887767646319674, rel=1e-9)
    assert r.difference == pytest.approx(np.mean(B) - np.mean(A))
    assert (r.n_control, r.n_treatment, r.method, r.kind) == (10, 12, "welch", "mean")
    assert r.relative == pytest.approx(np.mean(B) / np.mean(A) - 1)
    assert r.relative_ci_low < r.relative < r.relative_ci_high
    assert r.significant and math.isnan(r.cuped_theta)


def test_relative_lift_matches_growthbooks_published_case():
    a = SummaryStats(n=3407, sum=1396.87, sum_sq=52377.9767)
    b = SummaryStats(n=3461, sum=2422.7, sum_sq=134698.29)
    r = lift(a, b)
    assert round(r.difference, 5) == 0.29 and round(r.difference_ci_low, 5) == 0.04538
    assert round(r.p_value, 5) == 0.02016
    # gbstats test_two_sided_ttest, relative: expected 0.70732, ci [-0.03526, 1.44989], p 0.06191
    assert round(r.relative, 5) == 0.70732
    assert (round(r.relative_ci_low, 5), round(r.relative_ci_high, 5)) == (-0.03526, 1.44989)
    assert round(mean_difference(a, b, relative=True).p_value, 5) == 0.06191


def test_proportion_lift_matches_statsmodels():
    r = lift(_binary(100, 1000), _binary(130, 1000), kind="proportion", metric="conversion")
    # confint_proportions_2indep(130, 1000, 100, 1000, method="wald", compare="diff")
    assert r.difference_ci_low == pytest.approx(0.0020679344393763587, rel=1e-9)
    assert r.difference_ci_high == pytest.approx(0.057932065560623636, rel=1e-9)
    # proportions_ztest([130, 100], [1000, 1000])
    assert r.p_value == pytest.approx(0.03548845046647471, rel=1e-9)
    assert r.difference == pytest.approx(0.03) and r.relative == pytest.approx(0.3)
    # delta method: var = pb(1-pb)/(pa^2 nb) + pa(1-pa) pb^2/(pa^4 na) = 0.01131 + 0.01521
    half = 1.959963984540054 * math.sqrt(0.02652)
    assert r.relative_ci_low == pytest.approx(0.3 - half, rel=1e-9)
    assert r.relative_ci_high == pytest.approx(0.3 + half, rel=1e-9)
    assert r.method == "proportion_z" and (r.mean_control, r.mean_treatment) == (0.1, 0.13)


def test_lift_refuses_bad_input_naming_the_field():
    with pytest.raises(ValueError, match="kind"):
        lift(A, B, kind="median")
    with pytest.raises(ValueError, match="treatment: a proportion needs 0/1"):
        lift([0, 1], [0.5, 1], kind="proportion")
    with pytest.raises(ValueError, match="covariate_control/covariate_treatment"):
        lift(A, B, covariate_control=A)
    with pytest.raises(ValueError, match="covariate_treatment: needs one value"):
        lift(A, B, covariate_control=A, covariate_treatment=A)
    with pytest.raises(ValueError, match="alpha"):
        lift(A, B, alpha=1.5)


def test_relative_lift_is_nan_when_the_control_mean_is_zero():
    r = lift([0, 0, 0], [0, 1, 0], kind="proportion")
    assert math.isnan(r.relative) and r.difference == pytest.approx(1 / 3)


# ----------------------------------------------------------------------------- CUPED
def _cuped_data(n: int = 4000, rho: float = 0.8, effect: float = 0.1):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(n)
    treated = np.arange(n) % 2 == 1
    y = 1.0 + rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n) + effect * treated
    return x, y, treated


def test_cuped_theta_is_the_ols_slope_and_reduction_is_rho_squared():
    x, y, _ = _cuped_data()
    adjusted, theta, reduction = cuped(y, x)
    slope, _ = np.polyfit(x, y, 1)
    assert theta == pytest.approx(slope, rel=1e-10)
    assert reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-10)
    assert reduction == pytest.approx(0.8**2, abs=0.02)  # the population rho^2 of the data
    assert adjusted.mean() == pytest.approx(y.mean())
    assert np.var(adjusted) == pytest.approx((1 - reduction) * np.var(y), rel=1e-10)


def test_cuped_lift_matches_the_ols_treatment_coefficient_up_to_the_pooled_theta():
    import statsmodels.api as sm

    x, y, treated = _cuped_data()
    r = lift(y[~treated], y[treated], covariate_control=x[~treated], covariate_treatment=x[treated])
    design = sm.add_constant(np.column_stack([treated.astype(float), x - x.mean()]))
    fit = sm.OLS(y, design).fit()
    beta_t, theta_ols = fit.params[1], fit.params[2]
    dx = x[treated].mean() - x[~treated].mean()
    dy = y[treated].mean() - y[~treated].mean()
    # CUPED: dy - theta dx with theta pooled over both arms; OLS: the same with its within-arm slope
    assert r.difference == pytest.approx(dy - r.cuped_theta * dx, rel=1e-10)
    assert beta_t == pytest.approx(dy - theta_ols * dx, rel=1e-10)
    assert r.difference - beta_t == pytest.approx(-(r.cuped_theta - theta_ols) * dx, abs=1e-12)
    assert r.method == "cuped_welch" and r.variance_reduction > 0.6
    plain = lift(y[~treated], y[treated])
    assert (r.difference_ci_high - r.difference_ci_low) < 0.7 * (plain.difference_ci_high - plain.difference_ci_low)


def test_cuped_without_correlation_changes_little_and_constant_covariate_nothing():
    y = np.arange(10.0)
    adjusted, theta, reduction = cuped(y, np.ones(10))
    assert theta == 0.0 and reduction == 0.0 and adjusted.tolist() == y.tolist()
    with pytest.raises(ValueError, match="x: needs one covariate"):
        cuped(y, np.ones(3))


# ----------------------------------------------------------------------------- verdict
def _lift(metric: str, difference: float, p: float, kind: str = "mean") -> Lift:
    return Lift(metric=metric, kind=kind, method="welch", alpha=0.05, n_control=100, n_treatment=100,
                mean_control=1.0, mean_treatment=1.0 + difference, difference=difference,
                difference_ci_low=difference - 1, difference_ci_high=difference + 1, p_value=p,
                relative=difference, relative_ci_low=difference - 1, relative_ci_high=difference + 1)


def test_guardrails_are_holm_adjusted_as_statsmodels_multipletests():
    primary = _lift("conversion", 0.1, 0.001)
    guards = {"error_rate": (_lift("error_rate", -0.01, 0.012), "lower"),
              "mean_latency_ms": (_lift("mean_latency_ms", 3.0, 0.04), "lower"),
              "throughput": (_lift("throughput", -1.0, 0.3), "higher")}
    v = ab_verdict(primary, guards)
    # multipletests([0.012, 0.04, 0.3], method="holm")[1]
    assert [g.adjusted_p for g in v.guardrails] == pytest.approx([0.036, 0.08, 0.3])
    assert [g.status for g in v.guardrails] == ["better", "ok", "ok"]
    assert v.decision == "ship" and v.breached == ()


def test_a_breached_guardrail_blocks_a_significant_primary():
    guards = {"error_rate": (_lift("error_rate", 0.02, 0.0004), "lower"),
              "mean_latency_ms": (_lift("mean_latency_ms", -2.0, 0.02), "lower"),
              "ctr": (_lift("ctr", -0.01, 0.019), "higher")}
    v = ab_verdict(_lift("conversion", 0.1, 0.001), guards)
    # multipletests([0.0004, 0.02, 0.019], method="holm")[1]
    assert [g.adjusted_p for g in v.guardrails] == pytest.approx([0.0012, 0.038, 0.038])
    assert [g.status for g in v.guardrails] == ["breached", "better", "breached"]
    assert v.decision == "don't ship" and v.breached == ("error_rate", "ctr")
    assert "error_rate, ctr" in v.reason


def test_primary_decisions():
    ok = {"error_rate": (_lift("error_rate", 0.0, 0.9), "lower")}
    assert ab_verdict(_lift("c", 0.1, 0.2), ok).decision == "inconclusive"
    assert ab_verdict(_lift("c", -0.1, 0.01), ok).decision == "don't ship"
    assert ab_verdict(_lift("c", -0.1, 0.01), ok, primary_direction="lower").decision == "ship"
    nodata = Lift.no_data("c", "mean", 1, 0)
    v = ab_verdict(nodata, {"error_rate": (Lift.no_data("error_rate", "proportion", 1, 0), "lower")})
    assert v.decision == "inconclusive" and v.guardrails[0].status == "no data"
    assert math.isnan(v.guardrails[0].adjusted_p)
    with pytest.raises(ValueError, match="guardrails\\['error_rate'\\]"):
        ab_verdict(_lift("c", 0.1, 0.2), {"error_rate": (_lift("e", 0, 0.5), "smaller")})
    with pytest.raises(ValueError, match="correction"):
        ab_verdict(_lift("c", 0.1, 0.2), ok, correction="sidak")
