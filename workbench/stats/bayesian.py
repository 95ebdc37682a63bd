"""Bayesian comparisons: chance to win, expected loss and credible intervals.

Two models, each with its prior stated in the result:

* :func:`beta_binomial` for rates (errors, clicks): independent
  ``Beta(alpha0, beta0)`` priors on each arm's rate, updated with the counts.
  The posterior quantities are one-dimensional integrals over arm ``a``'s
  posterior, computed deterministically on a quantile grid (no Monte Carlo).
* :func:`normal_lift` for means or lifts: the estimate and its standard error
  (Welch, delta method when relative) as a normal likelihood, with a normal
  prior on the effect (flat when ``prior_sd`` is None), as GrowthBook's
  Bayesian engine does.

Expected loss follows Stucchio's definition: the expected amount by which the
chosen arm is worse, ``E[max(a - b, 0)]`` for shipping ``b`` when higher is
better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from .frequentist import check_alpha, effect_moments
from .summary import as_summary

__all__ = ["BayesianResult", "beta_binomial", "normal_lift"]


@dataclass(frozen=True)
class BayesianResult:
    """Posterior summary of the candidate ``b`` against legacy ``a``.

    Attributes
    ----------
    chance_to_win : float
        Posterior probability that ``b`` is better (larger when
        ``higher_is_better``, smaller otherwise).
    expected_loss : float
        Expected shortfall if ``b`` is shipped (units of the effect).
    expected_loss_legacy : float
        Expected shortfall if ``a`` is kept.
    estimate : float
        Posterior mean of the effect (``b - a`` or ``b/a - 1``).
    ci_low, ci_high : float
        Equal-tailed ``1 - alpha`` credible interval of the effect.
    prior : str
        The prior used, in words.
    """

    chance_to_win: float
    expected_loss: float
    expected_loss_legacy: float
    estimate: float
    ci_low: float
    ci_high: float
    relative: bool
    higher_is_better: bool
    alpha: float
    prior: str


def beta_binomial(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    higher_is_better: bool = True,
    relative: bool = False,
    alpha: float = 0.05,
    grid_size: int = 20000,
) -> BayesianResult:
    """Beta-Binomial comparison of two rates.

    Each arm's rate gets a ``Beta(prior_alpha, prior_beta)`` prior (default
    uniform), so the posteriors are ``Beta(prior_alpha + s, prior_beta + n - s)``.
    For an error rate pass ``higher_is_better=False``.

    Examples
    --------
    >>> r = beta_binomial(40, 1000, 60, 1000)
    >>> round(r.chance_to_win, 4)
    0.9797
    """
    alpha = check_alpha(alpha)
    for name, s, n in (("successes_a", successes_a, n_a), ("successes_b", successes_b, n_b)):
        if n < 0 or s < 0 or s > n:
            raise ValueError(f"{name}: must be between 0 and its n ({n}), got {s!r}")
    if not (prior_alpha > 0 and prior_beta > 0):
        raise ValueError(f"prior_alpha/prior_beta: must be > 0, got {prior_alpha!r}, {prior_beta!r}")
    aa, ba = prior_alpha + successes_a, prior_beta + n_a - successes_a
    ab, bb = prior_alpha + successes_b, prior_beta + n_b - successes_b
    u = (np.arange(grid_size) + 0.5) / grid_size
    xa = special.betaincinv(aa, ba, u)  # quantiles of a's posterior

    def cdf_b(x: np.ndarray, shift_a: float = 0.0) -> np.ndarray:
        return special.betainc(ab + shift_a, bb, np.clip(x, 0.0, 1.0))

    mean_a, mean_b = aa / (aa + ba), ab / (ab + bb)
    p_b_less = float(np.mean(cdf_b(xa)))  # P(b < a)
    # E[max(a - b, 0)] = E[a F_b(a)] - E[b 1{b < a}],  E[b 1{b < x}] = mean_b F_{Beta(ab+1, bb)}(x)
    loss_b_worse_up = float(np.mean(xa * cdf_b(xa) - mean_b * cdf_b(xa, 1.0)))  # E[max(a-b,0)]
    loss_b_worse_up = max(loss_b_worse_up, 0.0)
    diff_mean = mean_b - mean_a
    loss_a_worse_up = max(loss_b_worse_up + diff_mean, 0.0)  # E[max(b-a,0)] = E[max(a-b,0)] + E[b-a]
    if higher_is_better:
        chance, loss_ship, loss_keep = 1.0 - p_b_less, loss_b_worse_up, loss_a_worse_up
    else:
        chance, loss_ship, loss_keep = p_b_less, loss_a_worse_up, loss_b_worse_up

    if relative:
        def cdf_effect(r: float) -> float:
            return float(np.mean(cdf_b((1.0 + r) * xa)))

        estimate = mean_b * (aa + ba - 1) / (aa - 1) - 1 if aa > 1 else float("nan")
        lo_b, hi_b = -1.0 + 1e-12, 1e6
    else:
        def cdf_effect(r: float) -> float:
            return float(np.mean(cdf_b(xa + r)))

        estimate = diff_mean
        lo_b, hi_b = -1.0, 1.0

    def quantile(q: float) -> float:
        f = lambda r: cdf_effect(r) - q  # noqa: E731
        if f(lo_b) >= 0:
            return lo_b
        if f(hi_b) <= 0:
            return hi_b
        return float(optimize.brentq(f, lo_b, hi_b, xtol=1e-10))

    prior = (f"Beta({prior_alpha:g}, {prior_beta:g}) prior on each arm's rate; "
             f"posteriors Beta({aa:g}, {ba:g}) and Beta({ab:g}, {bb:g})")
    return BayesianResult(
        chance_to_win=float(min(max(chance, 0.0), 1.0)), expected_loss=float(loss_ship),
        expected_loss_legacy=float(loss_keep), estimate=float(estimate),
        ci_low=quantile(alpha / 2), ci_high=quantile(1 - alpha / 2), relative=bool(relative),
        higher_is_better=bool(higher_is_better), alpha=alpha, prior=prior,
    )


def normal_lift(
    a: Any,
    b: Any,
    relative: bool = True,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> BayesianResult:
    """Normal approximation for the lift of ``b`` over ``a``.

    The likelihood is ``N(estimate, se^2)`` with the Welch / delta-method
    standard error; the prior on the effect is ``N(prior_mean, prior_sd^2)``
    (flat when ``prior_sd`` is None). With ``D ~ N(m, s^2)`` the posterior,
    ``P(D > 0) = Phi(m/s)`` and ``E[max(-D, 0)] = s phi(m/s) - m Phi(-m/s)``.

    Examples
    --------
    >>> from workbench.stats import SummaryStats
    >>> a = SummaryStats.from_moments(1000, 10.0, 2.0)
    >>> b = SummaryStats.from_moments(1000, 10.2, 2.0)
    >>> round(normal_lift(a, b, relative=False).chance_to_win, 4)
    0.9873
    """
    alpha = check_alpha(alpha)
    sa, sb = as_summary(a, "a"), as_summary(b, "b")
    est, var, _ = effect_moments(sa, sb, relative, "z")
    if prior_sd is None:
        m, v = est, var
        prior = "flat (improper) prior on the effect"
    else:
        if not prior_sd > 0:
            raise ValueError(f"prior_sd: must be > 0, got {prior_sd!r}")
        pv = prior_sd**2
        if var == 0:
            m, v = est, 0.0
        else:
            v = 1.0 / (1.0 / var + 1.0 / pv)
            m = v * (est / var + prior_mean / pv)
        prior = f"N({prior_mean:g}, {prior_sd:g}^2) prior on the effect"
    s = math.sqrt(v)
    if s == 0:
        p_pos = 1.0 if m > 0 else (0.0 if m < 0 else 0.5)
        loss_neg, loss_pos = max(-m, 0.0), max(m, 0.0)
        lo = hi = m
    else:
        z = m / s
        p_pos = float(stats.norm.cdf(z))
        loss_neg = float(s * stats.norm.pdf(z) - m * stats.norm.cdf(-z))  # E[max(-D, 0)]
        loss_pos = float(s * stats.norm.pdf(z) + m * stats.norm.cdf(z))  # E[max(D, 0)]
        q = float(stats.norm.ppf(1 - alpha / 2))
        lo, hi = m - q * s, m + q * s
    if higher_is_better:
        chance, ship, keep = p_pos, loss_neg, loss_pos
    else:
        chance, ship, keep = 1.0 - p_pos, loss_pos, loss_neg
    return BayesianResult(
        chance_to_win=float(chance), expected_loss=max(float(ship), 0.0),
        expected_loss_legacy=max(float(keep), 0.0), estimate=float(m), ci_low=float(lo),
        ci_high=float(hi), relative=bool(relative), higher_is_better=bool(higher_is_better),
        alpha=alpha, prior=prior,
    )
