"""Fixed-horizon comparisons of a legacy arm ``a`` and a candidate arm ``b``.

Conventions used throughout :mod:`workbench.stats`: ``a`` is the legacy
(control) arm, ``b`` the candidate; every estimate is ``b`` minus ``a`` (or
``mean(b) / mean(a) - 1`` when ``relative``), so a positive estimate means the
candidate's values are larger.

Sources: Welch's test and the delta-method relative lift follow GrowthBook's
``gbstats/frequentist/tests.py``; the Hodges-Lehmann interval follows R's
``wilcox.test`` (Bauer 1972) and Kayenta's ``MannWhitney`` port of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .intervals import t_interval
from .summary import SummaryStats, as_array, as_summary

__all__ = [
    "EffectResult",
    "MannWhitneyResult",
    "BootstrapResult",
    "mean_difference",
    "proportion_test",
    "mann_whitney",
    "hodges_lehmann",
    "bootstrap_ci",
    "cohens_d",
    "hedges_g",
]

_METHODS = ("welch", "student", "z")
_ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class EffectResult:
    """Estimate of ``b - a`` (or ``b / a - 1``) with its uncertainty.

    Attributes
    ----------
    estimate : float
        ``mean(b) - mean(a)``, or ``mean(b) / mean(a) - 1`` when ``relative``.
    se : float
        Standard error of ``estimate`` (delta method when relative).
    ci_low, ci_high : float
        Two-sided ``1 - alpha`` interval.
    p_value : float
        Two-sided p-value for "no difference".
    statistic : float
        ``estimate / se`` (t or z).
    dof : float
        Degrees of freedom (``inf`` for z and for sequential results).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float
    dof: float
    method: str
    relative: bool
    alpha: float
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float

    @property
    def significant(self) -> bool:
        """True when ``p_value < alpha``."""
        return bool(self.p_value < self.alpha)


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float, or a ValueError naming it unless ``0 < alpha < 1``."""
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    return float(alpha)


def effect_moments(
    sa: SummaryStats, sb: SummaryStats, relative: bool, method: str = "welch"
) -> tuple[float, float, float]:
    """Point estimate, its variance and Welch-Satterthwaite dof for ``b`` vs ``a``.

    Shared by the fixed-horizon and sequential tests. Relative variance is
    ``vb/(ma^2 nb) + va mb^2/(ma^4 na)`` (delta method, GrowthBook).
    """
    if method not in _METHODS:
        raise ValueError(f"method: must be one of {_METHODS}, got {method!r}")
    for name, s in (("a", sa), ("b", sb)):
        if s.n < 2:
            raise ValueError(f"{name}: needs at least 2 observations, got {s.n}")
    ma, mb, na, nb = sa.mean, sb.mean, sa.n, sb.n
    va, vb = sa.variance, sb.variance
    if method == "student":
        pooled = ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)
        va = vb = pooled
        dof = float(na + nb - 2)
    elif method == "z":
        dof = float("inf")
    else:
        num = (va / na + vb / nb) ** 2
        den = (va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1)
        dof = num / den if den > 0 else float("inf")
    if relative:
        if ma == 0:
            raise ValueError("a: relative lift is undefined when the mean of a is 0")
        estimate = (mb - ma) / ma
        var = vb / (ma**2 * nb) + va * mb**2 / (ma**4 * na)
    else:
        estimate = mb - ma
        var = va / na + vb / nb
    return float(estimate), float(var), float(dof)


def _two_sided_p(stat: float, dof: float) -> float:
    if np.isinf(dof):
        return float(2 * stats.norm.sf(abs(stat)))
    return float(2 * stats.t.sf(abs(stat), dof))


def mean_difference(
    a: Any,
    b: Any,
    relative: bool = False,
    alpha: float = 0.05,
    method: str = "welch",
) -> EffectResult:
    """Difference of means of candidate ``b`` and legacy ``a``: Welch (default), Student or z.

    Parameters
    ----------
    a, b : array_like or SummaryStats
        Legacy and candidate observations, raw or summarised.
    relative : bool
        Report ``mean(b)/mean(a) - 1`` with a delta-method standard error.
    alpha : float
        One minus the interval's coverage.
    method : {"welch", "student", "z"}
        Welch's unequal-variance t (the default: Student's equal-variance
        assumption misstates the error when the arms' variances differ),
        Student's pooled t, or a normal z.

    Returns
    -------
    EffectResult

    Examples
    --------
    GrowthBook's published test case (``gbstats`` ``test_two_sided_ttest``):

    >>> from workbench.stats import SummaryStats
    >>> a = SummaryStats(n=3407, sum=1396.87, sum_sq=52377.9767)
    >>> b = SummaryStats(n=3461, sum=2422.7, sum_sq=134698.29)
    >>> r = mean_difference(a, b)
    >>> round(r.estimate, 5), round(r.se, 5), round(r.ci_low, 5), round(r.p_value, 5)
    (0.29, 0.12478, 0.04538, 0.02016)
    >>> round(mean_difference(a, b, relative=True).p_value, 5)
    0.06191
    """
    alpha = check_alpha(alpha)
    sa, sb = as_summary(a, "a"), as_summary(b, "b")
    estimate, var, dof = effect_moments(sa, sb, relative, method)
    se = float(np.sqrt(var))
    if se == 0.0:
        p = 1.0 if estimate == 0.0 else 0.0
        stat = 0.0 if estimate == 0.0 else float(np.sign(estimate) * np.inf)
        lo = hi = estimate
    else:
        stat = estimate / se
        p = _two_sided_p(stat, dof)
        lo, hi = t_interval(estimate, se, dof, 1 - alpha)
    return EffectResult(
        estimate=estimate, se=se, ci_low=float(lo), ci_high=float(hi), p_value=float(p),
        statistic=float(stat), dof=dof, method=method, relative=bool(relative), alpha=alpha,
        n_a=sa.n, n_b=sb.n, mean_a=sa.mean, mean_b=sb.mean,
    )


def proportion_test(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    relative: bool = False,
    alpha: float = 0.05,
) -> EffectResult:
    """Two-proportion z-test of ``p_b - p_a`` (e.g. error rates of two models).

    The p-value uses the pooled standard error (the usual test of equal
    proportions, as statsmodels' ``proportions_ztest``); the interval uses the
    unpooled (Wald) standard error, or the delta method when ``relative``.

    Examples
    --------
    >>> r = proportion_test(100, 1000, 130, 1000)
    >>> round(r.estimate, 3), round(r.p_value, 4)
    (0.03, 0.0355)
    """
    alpha = check_alpha(alpha)
    sa = SummaryStats.from_counts(successes_a, n_a)
    sb = SummaryStats.from_counts(successes_b, n_b)
    for name, s in (("n_a", sa), ("n_b", sb)):
        if s.n < 1:
            raise ValueError(f"{name}: must be >= 1, got {s.n}")
    pa, pb = sa.mean, sb.mean
    pooled = (sa.sum + sb.sum) / (sa.n + sb.n)
    se0 = float(np.sqrt(pooled * (1 - pooled) * (1 / sa.n + 1 / sb.n)))
    diff = pb - pa
    if se0 == 0.0:
        p, stat = (1.0, 0.0) if diff == 0 else (0.0, float(np.sign(diff) * np.inf))
    else:
        stat = diff / se0
        p = float(2 * stats.norm.sf(abs(stat)))
    if relative:
        if pa == 0:
            raise ValueError("successes_a: relative lift is undefined when p_a is 0")
        estimate = (pb - pa) / pa
        var = pb * (1 - pb) / (pa**2 * sb.n) + pa * (1 - pa) * pb**2 / (pa**4 * sa.n)
    else:
        estimate = diff
        var = pa * (1 - pa) / sa.n + pb * (1 - pb) / sb.n
    se = float(np.sqrt(var))
    lo, hi = t_interval(float(estimate), se, math.inf, 1 - alpha)
    return EffectResult(
        estimate=float(estimate), se=se, ci_low=float(lo),
        ci_high=float(hi), p_value=p, statistic=float(stat), dof=float("inf"),
        method="proportion_z", relative=bool(relative), alpha=alpha, n_a=sa.n, n_b=sb.n,
        mean_a=pa, mean_b=pb,
    )


# ---------------------------------------------------------------------------
# Mann-Whitney U and the Hodges-Lehmann shift
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MannWhitneyResult:
    """Mann-Whitney U test of ``b`` against ``a`` with the Hodges-Lehmann shift.

    Attributes
    ----------
    u : float
        U statistic of ``b``: pairs with ``b > a`` plus half the ties.
    p_value : float
        From :func:`scipy.stats.mannwhitneyu` for ``alternative``: exact
        exactly when ``exact_ci`` is (as R's ``wilcox.test``), otherwise the
        continuity-corrected normal approximation.
    shift : float
        Hodges-Lehmann estimate: median of all ``b_j - a_i``.
    ci_low, ci_high : float
        ``1 - alpha`` interval for the shift (one-sided when ``alternative``
        is one-sided, as in R's ``wilcox.test``).
    exact_ci : bool
        Whether the interval used the exact null distribution of U.
    """

    u: float
    p_value: float
    shift: float
    ci_low: float
    ci_high: float
    alpha: float
    alternative: str
    n_a: int
    n_b: int
    exact_ci: bool


_DIRECT_PAIRS_LIMIT = 1_000_000


def _first_le(a_sorted: np.ndarray, b_sorted: np.ndarray, t: float) -> np.ndarray:
    """For each ``b_j``, the first index ``i`` with ``b_j - a_i <= t`` (``n`` if none).

    A vectorised binary search on the differences themselves (floating-point
    subtraction is monotone), so counts agree exactly with sorting all of them.
    """
    n = a_sorted.size
    lo = np.zeros(b_sorted.size, dtype=np.int64)
    hi = np.full(b_sorted.size, n, dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        pred = (b_sorted - a_sorted[np.minimum(mid, n - 1)]) <= t
        hi = np.where(active & pred, mid, hi)
        lo = np.where(active & ~pred, mid + 1, lo)


def _kth_pairwise_differences(a_sorted: np.ndarray, b_sorted: np.ndarray, ks: list[int],
                              direct_limit: int = _DIRECT_PAIRS_LIMIT) -> list[float]:
    """The k-th smallest (1-based) of all ``b_j - a_i``, without forming them when large.

    Small problems sort the ``n*m`` differences. Large ones bisect on the
    value, counting differences ``<= t`` per row by binary search, until the
    window ``(lo, hi]`` holds few differences (then they are listed and
    sorted) or only tied ones.
    """
    n, m = a_sorted.size, b_sorted.size
    if n * m <= direct_limit:
        diffs = np.sort(np.subtract.outer(b_sorted, a_sorted).ravel())
        return [float(diffs[k - 1]) for k in ks]
    window_limit = max(4 * m, 100_000)
    out = []
    for k in ks:
        lo_t = float(b_sorted[0] - a_sorted[-1]) - 1.0  # no difference is <= lo_t
        hi_t = float(b_sorted[-1] - a_sorted[0])  # every difference is <= hi_t
        f_lo = np.full(m, n, dtype=np.int64)
        f_hi = _first_le(a_sorted, b_sorted, hi_t)
        while True:
            c_lo = int((n - f_lo).sum())
            lengths = f_lo - f_hi  # differences in (lo_t, hi_t] per row
            total = int(lengths.sum())
            rows_hi = f_hi < n
            top = float(np.max(b_sorted[rows_hi] - a_sorted[f_hi[rows_hi]]))
            rows_lo = f_lo > 0
            bottom = float(np.min(b_sorted[rows_lo] - a_sorted[f_lo[rows_lo] - 1]))
            if top == bottom:  # the window holds one (tied) value
                out.append(top)
                break
            if total <= window_limit:
                starts = np.repeat(f_hi, lengths)
                offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
                window = np.sort(np.repeat(b_sorted, lengths) - a_sorted[starts + offsets])
                out.append(float(window[k - c_lo - 1]))
                break
            mid = 0.5 * (lo_t + hi_t)
            f_mid = _first_le(a_sorted, b_sorted, mid)
            if int((n - f_mid).sum()) >= k:
                hi_t, f_hi = mid, f_mid
            else:
                lo_t, f_lo = mid, f_mid
    return out


def _exact_u_cdf(n: int, m: int) -> np.ndarray:
    """CDF of the Mann-Whitney U null distribution for sizes ``n`` and ``m`` (no ties).

    Recursion on the largest observation: it belongs to the first sample with
    probability ``n/(n+m)`` and then adds ``m`` to U.
    """
    rows = [np.ones(1)] * (m + 1)  # i = 0: U = 0 surely
    for i in range(1, n + 1):
        new = [np.ones(1)]  # j = 0
        for j in range(1, m + 1):
            size = i * j + 1
            p = np.zeros(size)
            first = rows[j]  # (i-1, j), support 0..(i-1)j
            p[j : j + first.size] += (i / (i + j)) * first
            second = new[j - 1]  # (i, j-1), support 0..i(j-1)
            p[: second.size] += (j / (i + j)) * second
            new.append(p)
        rows = new
    return np.cumsum(rows[m])


def _qwilcox(p: float, cdf: np.ndarray) -> int:
    """Smallest q with P(U <= q) >= p (R's ``qwilcox``)."""
    return int(np.searchsorted(cdf, p - 1e-12, side="left"))


def _within_tie_term(x_sorted: np.ndarray) -> float:
    """``sum(t^3 - t)`` over the tie groups of one sample."""
    _, counts = np.unique(x_sorted, return_counts=True)
    c = counts.astype(float)
    return float(np.sum(c**3 - c))


def _normal_ci_ranks(n: int, m: int, tie_term: float, z: float, alternative: str
                     ) -> tuple[int, int]:
    """Ranks of the pairwise differences bounding R's asymptotic interval.

    R's ``wilcox.test.default`` (two-sample, ``exact = FALSE``, ``correct =
    TRUE``) finds each end with ``uniroot`` on the continuity-corrected
    statistic ``W(d) = (U(d) - nm/2 - CORRECTION) / SIGMA``, where ``U(d)``
    counts the differences ``b_j - a_i`` above ``d`` and ``SIGMA`` carries the
    tie correction of the shifted sample ``c(b - d, a)``. Between two
    consecutive differences W is constant (only ties within a sample remain),
    so each root is a jump of the step function: the order statistic of
    rank ``k``, the smallest count ``j`` of differences ``<= d`` with
    ``W_j <= zq``. For the two-sided lower end this is
    ``k = ceil(nm/2 - 1/2 - z SIGMA)``, i.e. ``nm/2 - z SIGMA`` rounded, not
    floored. Ranks are clamped to ``[1, nm]`` (R then returns ``min(b) -
    max(a)`` or ``max(b) - min(a)``).
    """
    nm = n * m
    big_n = n + m
    sigma = math.sqrt(nm / 12.0 * ((big_n + 1) - tie_term / (big_n * (big_n - 1))))

    def w_numerator(j: int) -> float:
        dz = nm / 2.0 - j  # U(d) - nm/2 while j differences are <= d
        if alternative == "two-sided":
            corr = 0.5 * float(np.sign(dz))
        else:
            corr = 0.5 if alternative == "greater" else -0.5
        return dz - corr

    def smallest_rank(zq: float) -> int:
        lo, hi = 0, nm + 1  # W_j is non-increasing in j: bisect for the first W_j <= zq
        while lo < hi:
            mid = (lo + hi) // 2
            if w_numerator(mid) <= zq * sigma:
                hi = mid
            else:
                lo = mid + 1
        return lo

    k_lo = smallest_rank(z) if alternative != "less" else 1
    k_hi = smallest_rank(-z) if alternative != "greater" else nm
    return min(max(k_lo, 1), nm), min(max(k_hi, 1), nm)


def hodges_lehmann(a: Any, b: Any, alpha: float = 0.05, alternative: str = "two-sided"
                   ) -> tuple[float, float, float, bool]:
    """Hodges-Lehmann shift ``b - a`` and its distribution-free interval.

    Returns ``(shift, ci_low, ci_high, exact)``, the numbers of R's
    ``wilcox.test(b, a, conf.int = TRUE, conf.level = 1 - alpha)``. Both
    samples under 50 values and no ties: order statistics of the pairwise
    differences at ranks from the exact U distribution (``qwilcox``).
    Otherwise R's normal approximation with continuity correction, whose
    ``uniroot`` solutions are order statistics of the differences (see
    :func:`_normal_ci_ranks`); R reports them to ``uniroot``'s tolerance of
    1e-4. The shift is the median of the pairwise differences (R's estimate
    in the exact case; in the asymptotic case R's ``uniroot`` lands on the
    same value when ``nm`` is odd and between the two middle differences
    when it is even).

    Examples
    --------
    Kayenta's ``MannWhitneySuite`` (a port of R's algorithm) gives 6 and 39
    for these samples at 95 %:

    >>> hodges_lehmann([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0])
    (22.5, 6.0, 39.0, True)
    """
    alpha = check_alpha(alpha)
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative: must be one of {_ALTERNATIVES}, got {alternative!r}")
    xa = np.sort(as_array(a, "a"))
    xb = np.sort(as_array(b, "b"))
    n, m = xa.size, xb.size
    if n == 0 or m == 0:
        raise ValueError(f"a, b: both need observations, got {n} and {m}")
    nm = n * m
    tail = alpha / 2 if alternative == "two-sided" else alpha
    pooled = np.concatenate([xa, xb])
    has_ties = np.unique(pooled).size < pooled.size
    exact = n < 50 and m < 50 and not has_ties
    if exact:
        k = max(_qwilcox(tail, _exact_u_cdf(n, m)), 1)
        k_lo, k_hi = k, nm + 1 - k
    else:
        tie_term = _within_tie_term(xa) + _within_tie_term(xb)
        k_lo, k_hi = _normal_ci_ranks(n, m, tie_term, float(stats.norm.ppf(1 - tail)),
                                      alternative)
    mid = [(nm + 1) // 2, nm // 2 + 1]
    ks = sorted({k_lo, k_hi, *mid})
    vals = dict(zip(ks, _kth_pairwise_differences(xa, xb, ks), strict=True))
    shift = 0.5 * (vals[mid[0]] + vals[mid[1]])
    lo, hi = vals[k_lo], vals[k_hi]
    if alternative == "greater":
        hi = float("inf")
    elif alternative == "less":
        lo = float("-inf")
    return float(shift), float(lo), float(hi), bool(exact)


def mann_whitney(a: Any, b: Any, alternative: str = "two-sided", alpha: float = 0.05
                 ) -> MannWhitneyResult:
    """Mann-Whitney U test of candidate ``b`` against legacy ``a``, with the shift.

    ``alternative="greater"`` tests whether ``b`` tends to be larger than ``a``.
    U is ``b``'s statistic, as ``scipy.stats.mannwhitneyu(b, a)``. As in R's
    ``wilcox.test``, the p-value and the interval use the same null
    distribution: exact when both samples are under 50 values without ties,
    the continuity-corrected normal approximation otherwise; so the interval
    excludes 0 exactly when the two-sided p-value is below ``alpha``.

    Examples
    --------
    The example of R's ``wilcox.test`` and scipy's ``mannwhitneyu``, with the
    ten-value sample as the candidate:

    >>> x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    >>> y = [1.15, 0.88, 0.90, 0.74, 1.21]
    >>> r = mann_whitney(a=y, b=x, alternative="greater")
    >>> r.u, round(r.p_value, 7)
    (35.0, 0.1272061)
    """
    alpha = check_alpha(alpha)
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative: must be one of {_ALTERNATIVES}, got {alternative!r}")
    xa, xb = as_array(a, "a"), as_array(b, "b")
    if xa.size == 0 or xb.size == 0:
        raise ValueError(f"a, b: both need observations, got {xa.size} and {xb.size}")
    shift, lo, hi, exact = hodges_lehmann(xa, xb, alpha=alpha, alternative=alternative)
    # R's rule for both: exact when both samples are under 50 and untied, else the normal
    # approximation with continuity correction, so the interval and the p-value agree.
    res = stats.mannwhitneyu(xb, xa, alternative=alternative,
                             method="exact" if exact else "asymptotic", use_continuity=True)
    p = float(res.pvalue)
    if not np.isfinite(p):  # all values identical: scipy returns NaN
        p = 1.0
    return MannWhitneyResult(
        u=float(res.statistic), p_value=p, shift=shift, ci_low=lo, ci_high=hi, alpha=alpha,
        alternative=alternative, n_a=xa.size, n_b=xb.size, exact_ci=exact,
    )


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap interval for a statistic of one arm or a difference of two."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    method: str
    alpha: float
    n_resamples: int


def _statistic_fn(statistic: str | float | Callable[..., Any]) -> Callable[..., Any]:
    if callable(statistic):
        return statistic
    if statistic == "mean":
        return np.mean
    if statistic == "median":
        return np.median
    if isinstance(statistic, (int, float)) and not isinstance(statistic, bool):
        q = float(statistic)
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"statistic: a quantile must be in [0, 1], got {q!r}")
        return lambda x, axis=-1: np.quantile(x, q, axis=axis)
    raise ValueError(
        f"statistic: must be 'mean', 'median', a quantile in [0, 1] or a callable, got {statistic!r}"
    )


def bootstrap_ci(
    a: Any,
    b: Any = None,
    statistic: str | float | Callable[..., Any] = "mean",
    relative: bool = False,
    alpha: float = 0.05,
    method: str = "BCa",
    n_resamples: int = 2000,
    rng: np.random.Generator | int = 0,
) -> BootstrapResult:
    """Bootstrap interval (percentile or BCa, via :func:`scipy.stats.bootstrap`).

    With only ``a``: an interval for ``statistic(a)``. With ``b``: for
    ``statistic(b) - statistic(a)``, or ``statistic(b)/statistic(a) - 1`` when
    ``relative``; the arms are resampled independently.

    Parameters
    ----------
    statistic : "mean", "median", float in [0, 1] (a quantile) or callable
        A callable must accept ``(x, axis)`` and reduce along ``axis``.
    method : {"BCa", "percentile", "basic"}
    rng : numpy.random.Generator or int
        Source of resampling randomness (a seed is turned into a generator).

    Examples
    --------
    >>> r = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], statistic="mean",
    ...                  method="percentile", n_resamples=500, rng=1)
    >>> r.ci_low < 4.5 < r.ci_high
    True
    """
    alpha = check_alpha(alpha)
    if method not in ("BCa", "percentile", "basic"):
        raise ValueError(f"method: must be 'BCa', 'percentile' or 'basic', got {method!r}")
    if n_resamples < 10:
        raise ValueError(f"n_resamples: must be >= 10, got {n_resamples!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    fn = _statistic_fn(statistic)
    xa = as_array(a, "a")
    if xa.size < 2:
        raise ValueError(f"a: needs at least 2 observations, got {xa.size}")
    if b is None:
        data: tuple[np.ndarray, ...] = (xa,)

        def stat(x: np.ndarray, axis: int = -1) -> Any:
            return fn(x, axis=axis)
    else:
        xb = as_array(b, "b")
        if xb.size < 2:
            raise ValueError(f"b: needs at least 2 observations, got {xb.size}")
        data = (xa, xb)

        def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> Any:
            fa, fb = fn(x, axis=axis), fn(y, axis=axis)
            return fb / fa - 1.0 if relative else fb - fa

    estimate = float(stat(*data, axis=-1))
    res = stats.bootstrap(data, stat, n_resamples=n_resamples, vectorized=True,
                          confidence_level=1 - alpha, method=method, rng=gen)
    ci = res.confidence_interval
    return BootstrapResult(
        estimate=estimate, ci_low=float(ci.low), ci_high=float(ci.high),
        se=float(res.standard_error), method=method, alpha=alpha, n_resamples=int(n_resamples),
    )


# ---------------------------------------------------------------------------
# Standardised effect sizes
# ---------------------------------------------------------------------------


def cohens_d(a: Any, b: Any) -> float:
    """Cohen's d of ``b`` vs ``a`` with the pooled *sample* variance (divisor n - 1 per arm).

    The pooled variance is ``((na-1) va + (nb-1) vb) / (na + nb - 2)`` with sample
    variances (population variances would shrink it for small arms).

    Examples
    --------
    >>> round(cohens_d([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), 6)
    1.0
    """
    sa, sb = as_summary(a, "a"), as_summary(b, "b")
    for name, s in (("a", sa), ("b", sb)):
        if s.n < 2:
            raise ValueError(f"{name}: needs at least 2 observations, got {s.n}")
    pooled = ((sa.n - 1) * sa.variance + (sb.n - 1) * sb.variance) / (sa.n + sb.n - 2)
    diff = sb.mean - sa.mean
    if pooled == 0:
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
    return float(diff / np.sqrt(pooled))


def hedges_g(a: Any, b: Any) -> float:
    """Hedges' g: Cohen's d times the small-sample correction ``J = 1 - 3/(4 df - 1)``.

    ``df = na + nb - 2`` (Hedges and Olkin 1985).

    Examples
    --------
    >>> round(hedges_g([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), 6)
    0.8
    """
    sa, sb = as_summary(a, "a"), as_summary(b, "b")
    d = cohens_d(sa, sb)
    df = sa.n + sb.n - 2
    return float(d * (1 - 3 / (4 * df - 1)))
