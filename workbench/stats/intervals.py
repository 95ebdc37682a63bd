"""Confidence intervals: Wilson score interval for a proportion, t interval for a mean.

* :func:`wilson_interval` (Wilson 1927) keeps its coverage near the nominal level for
  small ``n`` and rates near 0 or 1, where the Wald interval ``p +- z sqrt(p(1-p)/n)``
  collapses to a point (0 successes give ``[0, 0]``). It is the interval for simulated
  rejection rates and for rollout outcome rates.
* :func:`t_interval` is ``estimate +- q se`` with ``q`` the two-sided Student-t quantile
  for ``dof`` degrees of freedom, or the normal quantile when ``dof`` is infinite.

scipy is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RateEstimate", "critical_value", "t_interval", "wilson_interval"]


@dataclass(frozen=True)
class RateEstimate:
    """A proportion with its Wilson score interval.

    Attributes
    ----------
    successes, n : int
    rate : float
        ``successes / n`` (NaN when ``n`` is 0).
    lower, upper : float
        Interval bounds, within [0, 1] (NaN when ``n`` is 0).
    confidence : float
        Coverage the interval was built for.
    """

    successes: int
    n: int
    rate: float
    lower: float
    upper: float
    confidence: float


def _check_confidence(confidence: float) -> float:
    if (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
            or not 0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence: must be strictly between 0 and 1, got {confidence!r}")
    return float(confidence)


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
    return int(value)


def critical_value(confidence: float, dof: float = math.inf) -> float:
    """Two-sided quantile ``q`` such that ``+-q`` holds ``confidence`` of the distribution.

    Student-t with ``dof`` degrees of freedom, or the standard normal when ``dof`` is
    infinite.

    Examples
    --------
    >>> round(critical_value(0.95), 4), round(critical_value(0.95, 9), 4)
    (1.96, 2.2622)
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    level = 0.5 + confidence / 2
    if math.isinf(dof):
        return float(stats.norm.ppf(level))
    if not dof > 0:
        raise ValueError(f"dof: must be > 0, got {dof!r}")
    return float(stats.t.ppf(level, dof))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> RateEstimate:
    """Wilson score interval for ``successes`` out of ``n`` (Wilson 1927).

    ``center = (p + z^2/2n) / (1 + z^2/n)``,
    ``half = z / (1 + z^2/n) * sqrt(p (1 - p) / n + z^2 / 4n^2)``; the bounds are
    exactly 0 when ``successes`` is 0 and exactly 1 when it is ``n``. With ``n = 0``
    rate and bounds are NaN.

    Parameters
    ----------
    successes, n : int
        Non-negative integers, ``successes <= n``.
    confidence : float
        Coverage, strictly between 0 and 1.

    Returns
    -------
    RateEstimate

    Examples
    --------
    >>> r = wilson_interval(0, 8)
    >>> round(r.lower, 4), round(r.upper, 4)   # upper = z^2 / (n + z^2)
    (0.0, 0.3244)
    >>> round(wilson_interval(3, 10).lower, 4)
    0.1078
    """
    confidence = _check_confidence(confidence)
    successes = _check_count(successes, "successes")
    n = _check_count(n, "n")
    if successes > n:
        raise ValueError(f"successes: {successes} exceeds n = {n}")
    if n == 0:
        return RateEstimate(0, 0, math.nan, math.nan, math.nan, confidence)
    z = critical_value(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lower = 0.0 if successes == 0 else max(0.0, center - half)
    upper = 1.0 if successes == n else min(1.0, center + half)
    return RateEstimate(successes, n, p, lower, upper, confidence)


def t_interval(estimate: float, se: float, dof: float, confidence: float = 0.95) -> tuple[float, float]:
    """``estimate -+ q se``, ``q`` the two-sided Student-t quantile for ``dof``.

    Parameters
    ----------
    estimate : float
        Point estimate (a mean, or a difference of means).
    se : float
        Its standard error.
    dof : float
        Degrees of freedom (``n - 1`` for one mean; Welch's for a difference); infinite
        gives the normal interval.
    confidence : float
        Coverage, strictly between 0 and 1.

    Returns
    -------
    (lower, upper) : tuple of float

    Examples
    --------
    >>> lo, hi = t_interval(10.0, 1.0, 9)
    >>> round(lo, 4), round(hi, 4)
    (7.7378, 12.2622)
    """
    half = critical_value(confidence, dof) * se
    return estimate - half, estimate + half
