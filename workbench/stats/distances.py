"""Distances between two distributions: normalised Wasserstein, Jensen-Shannon, PSI.

One definition of each, shared by the drift monitor, the performance monitor and
pre-deployment validation, so a threshold means the same wherever it is applied.

* :func:`normalised_wasserstein`: the Wasserstein-1 distance between two samples divided
  by the reference's standard deviation (Evidently's ``wasserstein_distance_norm``). The
  standard deviation is floored at :data:`REFERENCE_STD_FLOOR` (0.001, Evidently's floor):
  a constant reference then gives a finite, large value (any change of 0.0001 or more
  reaches the usual 0.1 threshold) rather than infinity, and an unchanged constant
  feature still gives 0.
* :func:`jensen_shannon`: the Jensen-Shannon *distance* (square root of the divergence)
  between two discrete distributions, natural logarithm by default as Evidently uses it
  (its 0.1 threshold is calibrated for that base); ``base=2`` is NannyML's convention and
  gives ``1/sqrt(ln 2)`` (about 1.2011) times the natural-log value.
* :func:`population_stability_index`: ``sum((r - c) ln(r / c))`` over bins, with empty
  bins floored at 0.0001 as Evidently does, so one empty bin cannot make it infinite.
* :class:`SortedReference`: one reference sample compared with many current samples (the
  two-sample KS test and the normalised Wasserstein distance), with results equal bit for
  bit to scipy's but sorted once and without scipy's per-call argument handling. The
  drift monitor and the performance monitor both compare their windows through it.

scipy is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PSI_EMPTY_BIN_FLOOR",
    "REFERENCE_STD_FLOOR",
    "ReferenceComparison",
    "SortedReference",
    "jensen_shannon",
    "normalised_wasserstein",
    "population_stability_index",
]

REFERENCE_STD_FLOOR = 1e-3
"""Smallest reference standard deviation :func:`normalised_wasserstein` divides by."""

PSI_EMPTY_BIN_FLOOR = 1e-4
"""Share given to an empty bin by :func:`population_stability_index`."""


def _sample(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: need at least one value")
    return arr


def normalised_wasserstein(reference, current, *, reference_std: float | None = None,
                           std_floor: float = REFERENCE_STD_FLOOR) -> float:
    """Wasserstein-1 distance between two samples over the reference standard deviation.

    Unit free, so one threshold (Evidently's 0.1) holds for every feature and scale.

    Parameters
    ----------
    reference, current : array_like
        The two samples (flattened; each needs at least one value).
    reference_std : float, optional
        The reference's population standard deviation when the caller already has it
        (``np.std(reference)`` otherwise).
    std_floor : float
        Floor of the denominator (default :data:`REFERENCE_STD_FLOOR`, 0.001).

    Returns
    -------
    float
        ``W1(reference, current) / max(reference_std, std_floor)``.

    Examples
    --------
    >>> round(normalised_wasserstein([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]), 4)
    0.8944
    >>> normalised_wasserstein([5.0, 5.0], [5.0, 5.0, 5.0])      # unchanged constant
    0.0
    >>> round(normalised_wasserstein([5.0, 5.0], [5.0, 5.5]), 6)  # 0.25 / 0.001
    250.0
    """
    from scipy import stats

    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    if not std_floor > 0:
        raise ValueError(f"std_floor: must be > 0, got {std_floor!r}")
    std = float(np.std(ref)) if reference_std is None else float(reference_std)
    return _normalise(stats.wasserstein_distance(ref, cur), std, std_floor)


def _normalise(distance, std: float, std_floor: float) -> float:
    return float(float(distance) / max(std, std_floor))


def jensen_shannon(reference_props, current_props, *, base: float | None = None) -> float:
    """Jensen-Shannon distance between two discrete distributions.

    Parameters
    ----------
    reference_props, current_props : array_like
        Non-negative weights per bin or category, in the same order (normalised here).
    base : float, optional
        Logarithm base; None (default) is the natural logarithm, 2 gives a distance in
        [0, 1].

    Returns
    -------
    float
        ``sqrt((KL(r || m) + KL(c || m)) / 2)`` with ``m = (r + c) / 2``; 0 for equal
        distributions.

    Examples
    --------
    >>> round(jensen_shannon([1.0, 0.0], [0.0, 1.0]), 4)          # sqrt(ln 2)
    0.8326
    >>> jensen_shannon([1.0, 0.0], [0.0, 1.0], base=2)
    1.0
    """
    from scipy.spatial import distance

    r = np.asarray(reference_props, dtype=float)
    c = np.asarray(current_props, dtype=float)
    if r.shape != c.shape or r.ndim != 1 or r.size == 0:
        raise ValueError(f"reference_props/current_props: need two 1-D arrays of one length, "
                         f"got shapes {r.shape} and {c.shape}")
    return float(distance.jensenshannon(r, c, base=base))


def _floor_zeros(p: np.ndarray) -> np.ndarray:
    p = p.astype(float).copy()
    p[p == 0] = PSI_EMPTY_BIN_FLOOR
    return p


def population_stability_index(reference_props, current_props) -> float:
    """PSI = sum((r - c) ln(r / c)) over bins, empty bins floored at 0.0001.

    Parameters
    ----------
    reference_props, current_props : array_like
        Shares per bin (each summing to 1), in the same bin order.

    Examples
    --------
    >>> round(population_stability_index(np.array([0.5, 0.5]), np.array([0.4, 0.6])), 4)
    0.0405
    """
    r = _floor_zeros(np.asarray(reference_props))
    c = _floor_zeros(np.asarray(current_props))
    return float(np.sum((r - c) * np.log(r / c)))


# scipy's ks_2samp with method="auto" is exact up to this sample size, asymptotic above.
_KS_MAX_EXACT_N = 10_000
_EXACT_CACHE_MAX = 65_536
# (n1, n2, h) -> scipy's _attempt_exact_2kssamp result; it depends on nothing else.
_exact_cache: dict[tuple[int, int, int], tuple[bool, float, float]] = {}


def _scipy_internals() -> tuple | None:
    """The routines scipy's ks_2samp and wasserstein_distance call, or None when absent."""
    from scipy.stats import _stats_py

    exact = getattr(_stats_py, "_attempt_exact_2kssamp", None)
    vecdot = getattr(_stats_py, "np_vecdot", None)
    kstwo = getattr(getattr(_stats_py, "distributions", None), "kstwo", None)
    if exact is None or vecdot is None or kstwo is None:
        return None
    return exact, vecdot, kstwo


@dataclass(frozen=True)
class ReferenceComparison:
    """One current sample against a :class:`SortedReference`."""

    ks_statistic: float
    ks_p_value: float
    wasserstein_norm: float


class SortedReference:
    """A reference sample sorted once, then compared with many current samples.

    :meth:`ks_2samp` and :meth:`normalised_wasserstein` return exactly (bit for bit) what
    ``scipy.stats.ks_2samp(values, current)`` (two-sided, ``method="auto"``) and
    :func:`normalised_wasserstein` on ``(values, current)`` return, ``values`` being the
    reference as given or sorted: the same numbers through the same floating-point
    operations, and scipy's own routines for the KS p-value (the exact one below 10 001
    values per sample, memoised on the sample sizes and the integer statistic, the only
    things it depends on; Smirnov's asymptotic one above). What is saved is the per-call
    work: sorting the reference (done once here), scipy's argument handling (axis, NaN
    policy, broadcasting), most of the cost at a few hundred values, and scipy's sorts
    and binary searches over both samples, replaced by one linear merge of the two
    sorted samples with running counts, which :meth:`compare` shares between the two
    statistics. A caller that already sorted the current sample passes it as
    ``current_sorted`` and it is not sorted again. A sample holding a NaN or an infinity, an exact p-value scipy cannot
    compute, or a scipy without these routines goes to scipy itself.

    Parameters
    ----------
    values : array_like
        The reference sample (flattened; at least one value). It is sorted with a stable
        sort, so equal values (``-0.0`` and ``0.0``) keep their order, as in scipy's merge.
    is_sorted : bool
        True when ``values`` is already in ascending order (checked): it is then kept
        as given.

    Examples
    --------
    >>> ref = SortedReference([0.0, 1.0, 2.0, 3.0])
    >>> ref.ks_2samp([1.0, 2.0, 3.0, 4.0])
    (0.25, 1.0)
    >>> round(ref.normalised_wasserstein([1.0, 2.0, 3.0, 4.0]), 4)
    0.8944
    >>> res = ref.compare([4.0, 1.0], current_sorted=[1.0, 4.0], reference_std=1.0)
    >>> res.ks_statistic, round(res.ks_p_value * 15, 9), res.wasserstein_norm  # p = 14/15
    (0.5, 14.0, 1.0)
    """

    def __init__(self, values, *, is_sorted: bool = False) -> None:
        arr = _sample(values, "values")
        if is_sorted:
            if arr.size > 1 and not bool(np.all(arr[1:] >= arr[:-1])):
                raise ValueError("values: is_sorted=True but the values are not in ascending order")
        else:
            arr = np.sort(arr, kind="stable")
        self.values = arr
        self.n = int(arr.size)
        self._finite = bool(np.isfinite(arr).all())
        self._internals = _scipy_internals() if self._finite else None
        self._std: float | None = None
        # 1, 2, ..., merged size: the positions of the last merge, reused while the
        # current sample's size stays the same (fixed-size windows)
        self._counts = np.empty(0, dtype=np.int64)

    @property
    def std(self) -> float:
        """Population standard deviation of the (sorted) reference, computed once."""
        if self._std is None:
            self._std = float(np.std(self.values))
        return self._std

    def _sorted_fast(self, cur: np.ndarray, current_sorted) -> np.ndarray | None:
        """``current`` in ascending order (stable) when the fast path applies, else None.

        Without ``current_sorted`` the sort comes first: NaN sorts last, so the sample is
        finite exactly when its first value is above -inf and its last below +inf.
        """
        if self._internals is None:
            return None
        if current_sorted is None:
            arr = np.sort(cur, kind="stable")
            return arr if -math.inf < arr[0] and arr[-1] < math.inf else None
        if not bool(np.isfinite(cur).all()):
            return None
        arr = np.asarray(current_sorted, dtype=float).ravel()
        if arr.size != cur.size:
            raise ValueError(f"current_sorted: has {arr.size} values, current has {cur.size}")
        if not bool(np.all(arr[1:] >= arr[:-1])):
            raise ValueError("current_sorted: the values are not in ascending order")
        return arr

    def _std_floor(self, reference_std: float | None, std_floor: float) -> float:
        if not std_floor > 0:
            raise ValueError(f"std_floor: must be > 0, got {std_floor!r}")
        return self.std if reference_std is None else float(reference_std)

    def ks_2samp(self, current, *, current_sorted=None) -> tuple[float, float]:
        """Two-sided two-sample KS test: ``(statistic, p_value)`` as scipy's ``ks_2samp``.

        ``current_sorted``, optional, is ``current`` already sorted (ascending; checked).
        """
        cur = _sample(current, "current")
        cur_sorted = self._sorted_fast(cur, current_sorted)
        if cur_sorted is None:
            return self._scipy_ks(cur)
        return self._ks(*self._merge(cur_sorted), cur_sorted)

    def normalised_wasserstein(self, current, *, reference_std: float | None = None,
                               std_floor: float = REFERENCE_STD_FLOOR,
                               current_sorted=None) -> float:
        """:func:`normalised_wasserstein` of the reference and ``current``, equal bit for bit.

        ``reference_std`` defaults to :attr:`std`. ``current_sorted``, optional, is
        ``np.sort(current, kind="stable")`` when the caller already has it (ascending order
        is checked; stability matters only for the sign of a zero distance between
        ``-0.0`` and ``0.0``).
        """
        cur = _sample(current, "current")
        std = self._std_floor(reference_std, std_floor)
        cur_sorted = self._sorted_fast(cur, current_sorted)
        if cur_sorted is None:
            return normalised_wasserstein(self.values, cur, reference_std=std, std_floor=std_floor)
        return _normalise(self._wasserstein(*self._merge(cur_sorted)), std, std_floor)

    def compare(self, current, *, reference_std: float | None = None,
                std_floor: float = REFERENCE_STD_FLOOR,
                current_sorted=None) -> ReferenceComparison:
        """:meth:`ks_2samp` and :meth:`normalised_wasserstein` together, from one merge."""
        cur = _sample(current, "current")
        std = self._std_floor(reference_std, std_floor)
        cur_sorted = self._sorted_fast(cur, current_sorted)
        if cur_sorted is None:
            stat, p = self._scipy_ks(cur)
            w_norm = normalised_wasserstein(self.values, cur, reference_std=std, std_floor=std_floor)
            return ReferenceComparison(stat, p, w_norm)
        diffs, steps = self._merge(cur_sorted)
        stat, p = self._ks(diffs, steps, cur_sorted)
        return ReferenceComparison(stat, p, _normalise(self._wasserstein(diffs, steps), std, std_floor))

    def _scipy_ks(self, cur: np.ndarray) -> tuple[float, float]:
        from scipy import stats

        res = stats.ks_2samp(self.values, cur)
        return float(res.statistic), float(res.pvalue)

    def _merge(self, cur_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One linear merge of the two sorted samples: ``(diffs, steps)``.

        scipy sorts the two samples together with a stable sort; a stable sort of the two
        sorted runs gives the same array (equal values: the reference's first, each
        sample in its own order) in linear time. Walking it with running counts ``u``
        (reference values so far) and ``v`` (current ones), ``diffs`` is
        ``u / n1 - v / n2`` at every merged position and ``steps`` the differences of
        consecutive merged values, the two things both statistics are made of.
        """
        n1 = self.n
        both = np.concatenate((self.values, cur_sorted))
        if self._counts.size != both.size:
            self._counts = np.arange(1, both.size + 1)
        order = np.argsort(both, kind="stable")  # two sorted runs: linear time
        merged = both[order]
        u = np.cumsum(order < n1)
        return u / n1 - (self._counts - u) / int(cur_sorted.size), merged[1:] - merged[:-1]

    def _ks(self, diffs: np.ndarray, steps: np.ndarray, cur_sorted: np.ndarray) -> tuple[float, float]:
        """The two-sided ``ks_2samp`` of scipy, from the merge.

        scipy evaluates ``cdf1 - cdf2`` at every value of both samples, the CDFs being the
        counts of values up to it (``searchsorted(..., "right")``) over the sizes. At the
        last of a run of equal merged values (a nonzero step follows, or the end) the
        running counts are those counts, so ``diffs`` there holds the same set of values,
        computed by the same divisions; its extremes are scipy's. The last position gives
        ``1.0 - 1.0 = 0.0``, so the maximum is >= 0 and the minimum <= 0: scipy's
        ``clip(-min, 0, 1)`` changes nothing where it decides the statistic.
        """
        n1, n2 = self.n, int(cur_sorted.size)
        run_ends = np.empty(diffs.size, dtype=bool)
        np.not_equal(steps, 0.0, out=run_ends[:-1])
        run_ends[-1] = True
        at_values = diffs[run_ends]
        max_s = at_values.max()
        min_s = -at_values.min()
        d = min_s if min_s > max_s else max_s
        exact, _, kstwo = self._internals
        if max(n1, n2) <= _KS_MAX_EXACT_N:
            g = math.gcd(n1, n2)
            h = round(float(d) * ((n1 // g) * n2))  # np.round: halves to even, as round()
            key = (n1, n2, h)
            found = _exact_cache.get(key)
            if found is None:
                success, d_exact, prob = exact(n1, n2, g, d, "two-sided")
                if success:
                    prob = float(np.clip(prob, 0, 1))
                found = (success, d_exact, prob)
                if len(_exact_cache) >= _EXACT_CACHE_MAX:
                    _exact_cache.clear()
                _exact_cache[key] = found
            success, d, prob = found
            if not success:  # scipy warns and switches to the asymptotic p-value
                return self._scipy_ks(cur_sorted)
            return float(d), prob
        m, n = sorted([float(n1), float(n2)], reverse=True)
        prob = kstwo.sf(d, np.round(m * n / (m + n)))
        return float(np.float64(d)), float(np.clip(prob, 0, 1))

    def _wasserstein(self, diffs: np.ndarray, steps: np.ndarray) -> float:
        """``scipy.stats.wasserstein_distance(values, current)`` from the merge.

        scipy sorts both samples together stably (the merge) and counts, by binary search,
        the values of each sample up to each merged value but the last. Where the next
        merged value is larger that count is the running count of the merge; where it
        ties, the step is a zero, so the term ``|U - V| * step`` is the same signed zero
        whichever count is used.
        """
        return self._internals[1](np.abs(diffs[:-1]), steps)
