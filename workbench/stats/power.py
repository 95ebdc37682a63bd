"""Planning: power, sample size and minimum detectable effect; canary step length.

The two-sample t power uses the noncentral t distribution, as statsmodels'
``TTestIndPower`` (both rejection tails counted); the normal version matches
``NormalIndPower``. Proportions use the standard normal-approximation formula
with the pooled variance under the null and unpooled under the alternative
(Fleiss, Levin and Paik 2003, eq. 4.14, without continuity correction).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

__all__ = [
    "power_ttest",
    "power_ztest",
    "sample_size_ttest",
    "sample_size_ztest",
    "mde_ttest",
    "power_proportions",
    "sample_size_proportions",
    "mde_proportions",
    "canary_step_duration_s",
]


def _check_common(alpha: float, power: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    if power is not None and not alpha < power < 1.0:
        raise ValueError(f"power: must be in (alpha, 1), got {power!r}")


def power_ttest(effect_size: float, n_per_arm: float, alpha: float = 0.05) -> float:
    """Power of a two-sided, two-sample t-test with equal arms.

    Parameters
    ----------
    effect_size : float
        Cohen's d (difference in means over the common standard deviation).
    n_per_arm : float
        Observations in each arm (>= 2).

    Examples
    --------
    >>> round(power_ttest(1.0, 30), 6)   # statsmodels TTestIndPower
    0.967708
    """
    _check_common(alpha)
    if n_per_arm < 2:
        raise ValueError(f"n_per_arm: must be >= 2, got {n_per_arm!r}")
    df = 2 * n_per_arm - 2
    nc = abs(effect_size) * math.sqrt(n_per_arm / 2)
    crit = stats.t.ppf(1 - alpha / 2, df)
    upper = float(stats.nct.sf(crit, df, nc))
    lower = float(stats.nct.cdf(-crit, df, nc))
    if not np.isfinite(lower):  # scipy's nct returns NaN far in the tail: the tail is ~0
        lower = 0.0
    if not np.isfinite(upper):  # ... and for huge df or nc: use the normal limit
        return power_ztest(effect_size, n_per_arm, alpha)
    return min(upper + lower, 1.0)


def power_ztest(effect_size: float, n_per_arm: float, alpha: float = 0.05) -> float:
    """Power of a two-sided, two-sample z-test with equal arms (statsmodels ``NormalIndPower``).

    Examples
    --------
    >>> round(power_ztest(0.3, 80), 6)
    0.475101
    """
    _check_common(alpha)
    if n_per_arm <= 0:
        raise ValueError(f"n_per_arm: must be > 0, got {n_per_arm!r}")
    nc = abs(effect_size) * math.sqrt(n_per_arm / 2)
    crit = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.sf(crit - nc) + stats.norm.cdf(-crit - nc))


def _solve_n(power_fn, target: float, n_min: float) -> float:
    """Smallest real n with power_fn(n) >= target, growing the bracket gradually."""
    lo, hi = n_min, max(2 * n_min, 4.0)
    while power_fn(hi) < target:
        lo, hi = hi, hi * 2
        if hi > 1e12:
            raise ValueError("effect_size: too small to reach the requested power")
    if power_fn(lo) >= target:
        return lo
    return float(optimize.brentq(lambda n: power_fn(n) - target, lo, hi, xtol=1e-9))


def sample_size_ttest(effect_size: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """Observations per arm for a two-sided two-sample t-test to reach ``power``.

    Returns the real solution rounded up (statsmodels' ``solve_power`` gives the
    unrounded 63.77 for d = 0.5).

    Examples
    --------
    >>> sample_size_ttest(0.5)
    64
    """
    _check_common(alpha, power)
    if effect_size == 0 or not np.isfinite(effect_size):
        raise ValueError(f"effect_size: must be finite and non-zero, got {effect_size!r}")
    n = _solve_n(lambda n: power_ttest(effect_size, n, alpha), power, 2.0)
    return int(math.ceil(n - 1e-9))


def sample_size_ztest(effect_size: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """Observations per arm for a two-sided z-test: ``2 (z_{1-a/2} + z_{power})^2 / d^2``, rounded up.

    Examples
    --------
    >>> sample_size_ztest(0.5)
    63
    """
    _check_common(alpha, power)
    if effect_size == 0 or not np.isfinite(effect_size):
        raise ValueError(f"effect_size: must be finite and non-zero, got {effect_size!r}")
    n = _solve_n(lambda n: power_ztest(effect_size, n, alpha), power, 1e-6)
    return int(math.ceil(n - 1e-9))


def mde_ttest(n_per_arm: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Smallest Cohen's d detectable with ``power`` by a two-sided t-test.

    Examples
    --------
    >>> round(mde_ttest(64), 3)
    0.499
    """
    _check_common(alpha, power)
    if n_per_arm < 2:
        raise ValueError(f"n_per_arm: must be >= 2, got {n_per_arm!r}")
    f = lambda d: power_ttest(d, n_per_arm, alpha) - power  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
        if hi > 1e6:
            raise ValueError(f"n_per_arm: {n_per_arm} is too small to reach power {power}")
    return float(optimize.brentq(f, 1e-9, hi, xtol=1e-12))


def _proportion_power(p_a: float, p_b: float, n_a: float, n_b: float, alpha: float) -> float:
    pbar = (n_a * p_a + n_b * p_b) / (n_a + n_b)
    se0 = math.sqrt(pbar * (1 - pbar) * (1 / n_a + 1 / n_b))
    se1 = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    z = stats.norm.ppf(1 - alpha / 2)
    d = abs(p_b - p_a)
    if se1 == 0:
        return 1.0 if d > 0 else alpha
    return float(stats.norm.sf((z * se0 - d) / se1) + stats.norm.cdf((-z * se0 - d) / se1))


def _check_p(name: str, p: float) -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name}: must be a proportion in (0, 1), got {p!r}")


def power_proportions(p_a: float, p_b: float, n_per_arm: float, alpha: float = 0.05) -> float:
    """Power of the two-sided two-proportion z-test (pooled under the null).

    Examples
    --------
    >>> round(power_proportions(0.10, 0.12, 3841), 3)
    0.8
    """
    _check_common(alpha)
    _check_p("p_a", p_a)
    _check_p("p_b", p_b)
    if n_per_arm <= 0:
        raise ValueError(f"n_per_arm: must be > 0, got {n_per_arm!r}")
    return _proportion_power(p_a, p_b, n_per_arm, n_per_arm, alpha)


def sample_size_proportions(p_a: float, p_b: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """Observations per arm to detect ``p_a`` vs ``p_b`` with a two-sided z-test.

    ``n = (z_{1-a/2} sqrt(2 pbar qbar) + z_{power} sqrt(pa qa + pb qb))^2 / (pa - pb)^2``.

    Examples
    --------
    >>> sample_size_proportions(0.10, 0.12)
    3841
    """
    _check_common(alpha, power)
    _check_p("p_a", p_a)
    _check_p("p_b", p_b)
    if p_a == p_b:
        raise ValueError("p_b: must differ from p_a")
    pbar = (p_a + p_b) / 2
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))
    return int(math.ceil(num**2 / (p_a - p_b) ** 2 - 1e-9))


def mde_proportions(p_a: float, n_per_arm: float, power: float = 0.8, alpha: float = 0.05,
                    direction: str = "increase") -> float:
    """Smallest absolute change of a proportion from ``p_a`` detectable with ``power``.

    Examples
    --------
    >>> round(mde_proportions(0.10, 3841), 4)
    0.02
    """
    _check_common(alpha, power)
    _check_p("p_a", p_a)
    if direction not in ("increase", "decrease"):
        raise ValueError(f"direction: must be 'increase' or 'decrease', got {direction!r}")
    sign = 1.0 if direction == "increase" else -1.0
    limit = (1 - p_a) if sign > 0 else p_a
    f = lambda d: _proportion_power(p_a, p_a + sign * d, n_per_arm, n_per_arm, alpha) - power  # noqa: E731
    if f(limit * (1 - 1e-9)) < 0:
        raise ValueError(f"n_per_arm: {n_per_arm} is too small to reach power {power}")
    return float(optimize.brentq(f, 1e-12, limit * (1 - 1e-9), xtol=1e-12))


def canary_step_duration_s(
    rate_per_s: float,
    weight: float,
    baseline_mean: float | None = None,
    baseline_sd: float | None = None,
    effect: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    *,
    baseline_rate: float | None = None,
    relative: bool = False,
) -> float:
    """Seconds a canary step must last to detect ``effect`` with ``power``.

    The candidate receives ``weight`` percent of ``rate_per_s`` and legacy the
    rest; with ``T`` seconds the arms hold ``r w T`` and ``r (1 - w) T``
    observations, and the two-sided z-test has the requested power when
    ``effect = (z_{1-a/2} + z_{power}) se(T)`` (normal approximation, fine at
    the hundreds of requests a step needs). The null variance is the
    baseline's in both arms for means; for rates it is the pooled one.

    Parameters
    ----------
    rate_per_s : float
        Total request rate reaching both arms.
    weight : float
        Candidate share in percent, as the ``weight`` of a progressive step
        (5 means 5 %); must be in (0, 100).
    effect : float
        Change to detect, in the metric's units (ms for latency, an absolute
        rate difference for errors), or a fraction of the baseline when
        ``relative``.
    baseline_mean, baseline_sd : float
        For a continuous metric: the legacy mean (needed when relative) and
        standard deviation per request.
    baseline_rate : float
        For a 0/1 metric (errors): the legacy rate. Give either this or
        ``baseline_sd``.

    Examples
    --------
    Latency with sd 20 ms, detect +5 ms at 50 req/s with 10 % on the candidate:

    >>> round(canary_step_duration_s(50, 10, 40.0, 20.0, 5.0), 1)
    27.9

    Error rate 1 %, detect +1 point at 100 req/s with 20 % on the candidate:

    >>> round(canary_step_duration_s(100, 20, baseline_rate=0.01, effect=0.01))
    66
    """
    _check_common(alpha, power)
    if effect is None:
        raise ValueError("effect: required (the change to detect)")
    if not rate_per_s > 0:
        raise ValueError(f"rate_per_s: must be > 0, got {rate_per_s!r}")
    if not 0 < weight < 100:
        raise ValueError(f"weight: must be a percentage in (0, 100), got {weight!r}")
    if effect == 0 or not np.isfinite(effect):
        raise ValueError(f"effect: must be finite and non-zero, got {effect!r}")
    if (baseline_sd is None) == (baseline_rate is None):
        raise ValueError("baseline_sd/baseline_rate: give exactly one of them")
    w = weight / 100.0
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    if baseline_sd is not None:
        if baseline_sd <= 0:
            raise ValueError(f"baseline_sd: must be > 0, got {baseline_sd!r}")
        delta = abs(effect)
        if relative:
            if not baseline_mean:
                raise ValueError("baseline_mean: needed (and non-zero) when relative=True")
            delta = abs(effect * baseline_mean)
        var_unit = baseline_sd**2 * (1 / w + 1 / (1 - w))  # se^2 * r * T
        t = (za + zb) ** 2 * var_unit / (delta**2 * rate_per_s)
        return float(t)
    assert baseline_rate is not None
    _check_p("baseline_rate", baseline_rate)
    p_a = baseline_rate
    p_b = p_a * (1 + effect) if relative else p_a + effect
    _check_p("effect (baseline_rate + effect)", p_b)
    pbar = (1 - w) * p_a + w * p_b
    s0 = math.sqrt(pbar * (1 - pbar) * (1 / w + 1 / (1 - w)))
    s1 = math.sqrt(p_a * (1 - p_a) / (1 - w) + p_b * (1 - p_b) / w)
    n_total = ((za * s0 + zb * s1) / abs(p_b - p_a)) ** 2
    return float(n_total / rate_per_s)
