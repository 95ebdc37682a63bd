"""Sufficient statistics for one arm: count, sum and sum of squares.

Every test in :mod:`workbench.stats` that needs only means and variances works
from these three numbers, so long runs can be analysed without keeping raw
per-request values (GrowthBook's ``SampleMeanStatistic`` works the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SummaryStats", "as_summary", "as_array"]


@dataclass(frozen=True)
class SummaryStats:
    """Count, sum and sum of squares of one arm's observations.

    Parameters
    ----------
    n : int
        Number of observations (>= 0).
    sum : float
        Sum of the observations.
    sum_sq : float
        Sum of the squared observations.
    binary : bool
        The observations are 0/1 (a proportion): the variance is then
        ``p (1 - p)``, as GrowthBook's ``ProportionStatistic`` and the Wald
        interval. :meth:`from_counts` sets it.

    Notes
    -----
    Otherwise the variance is the *sample* variance (divisor ``n - 1``), as in
    Welch's test and GrowthBook's ``SampleMeanStatistic``.

    Examples
    --------
    >>> s = SummaryStats.from_array([1.0, 2.0, 3.0, 4.0])
    >>> s.n, s.mean, round(s.variance, 4)
    (4, 2.5, 1.6667)
    >>> (s + SummaryStats.from_array([5.0])).n
    5
    """

    n: int
    sum: float
    sum_sq: float
    binary: bool = False

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 0:
            raise ValueError(f"n: must be a non-negative integer, got {self.n!r}")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "sum", float(self.sum))
        object.__setattr__(self, "sum_sq", float(self.sum_sq))
        if not (np.isfinite(self.sum) and np.isfinite(self.sum_sq)):
            raise ValueError(f"sum/sum_sq: must be finite, got {self.sum!r}, {self.sum_sq!r}")
        if self.sum_sq < 0:
            raise ValueError(f"sum_sq: must be >= 0, got {self.sum_sq!r}")

    # -- constructors -------------------------------------------------
    @classmethod
    def from_array(cls, values: Any, nan_policy: str = "raise") -> SummaryStats:
        """Summarise raw values.

        Parameters
        ----------
        values : array_like
            One-dimensional observations.
        nan_policy : {"raise", "omit"}
            ``"raise"`` (default) refuses NaN so that a missing value is never
            silently counted; ``"omit"`` drops NaN first.
        """
        x = as_array(values, "values", nan_policy=nan_policy)
        return cls(n=x.size, sum=float(x.sum()), sum_sq=float(np.dot(x, x)))

    @classmethod
    def from_counts(cls, successes: int, n: int) -> SummaryStats:
        """Summarise 0/1 data from a success count (e.g. errors out of requests)."""
        if int(n) != n or n < 0:
            raise ValueError(f"n: must be a non-negative integer, got {n!r}")
        if successes < 0 or successes > n:
            raise ValueError(f"successes: must be between 0 and n={n}, got {successes!r}")
        return cls(n=int(n), sum=float(successes), sum_sq=float(successes), binary=True)

    @classmethod
    def from_moments(cls, n: int, mean: float, sd: float) -> SummaryStats:
        """Build from a published mean and sample standard deviation."""
        if n < 1:
            raise ValueError(f"n: must be >= 1, got {n!r}")
        var = sd * sd if n > 1 else 0.0
        return cls(n=n, sum=n * mean, sum_sq=(n - 1) * var + n * mean * mean)

    # -- derived quantities -------------------------------------------
    @property
    def mean(self) -> float:
        """Arithmetic mean (NaN when ``n == 0``)."""
        return self.sum / self.n if self.n else float("nan")

    @property
    def variance(self) -> float:
        """Sample variance with divisor ``n - 1``, or ``p (1 - p)`` when ``binary``.

        NaN when ``n < 2``; clipped at 0.
        """
        if self.n < 2:
            return float("nan")
        if self.binary:
            p = self.sum / self.n
            return max(p * (1.0 - p), 0.0)
        return max((self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1), 0.0)

    @property
    def sd(self) -> float:
        """Sample standard deviation."""
        return float(np.sqrt(self.variance))

    @property
    def se(self) -> float:
        """Standard error of the mean."""
        return float(np.sqrt(self.variance / self.n)) if self.n >= 2 else float("nan")

    def __add__(self, other: SummaryStats) -> SummaryStats:
        if not isinstance(other, SummaryStats):
            return NotImplemented
        return SummaryStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq,
                            binary=self.binary and other.binary)

    def update(self, values: Any) -> SummaryStats:
        """Return a new summary with ``values`` added (this one is immutable)."""
        x = as_array(values, "values")
        binary = self.binary and bool(np.all((x == 0.0) | (x == 1.0)))
        return SummaryStats(self.n + x.size, self.sum + float(x.sum()),
                            self.sum_sq + float(np.dot(x, x)), binary=binary)


def as_array(values: Any, name: str, nan_policy: str = "raise") -> np.ndarray:
    """Convert to a 1-D float array, checking for NaN according to ``nan_policy``."""
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy: must be 'raise' or 'omit', got {nan_policy!r}")
    x = np.asarray(values, dtype=float)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        raise ValueError(f"{name}: must be one-dimensional, got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        if nan_policy == "omit" and not np.isinf(x).any():
            x = x[~bad]
        else:
            raise ValueError(f"{name}: contains {int(bad.sum())} NaN or infinite value(s)")
    return x


def as_summary(x: Any, name: str) -> SummaryStats:
    """Accept a :class:`SummaryStats` or raw values and return a :class:`SummaryStats`."""
    if isinstance(x, SummaryStats):
        return x
    return SummaryStats.from_array(as_array(x, name))
