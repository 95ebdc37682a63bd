"""Streaming quantile estimators: a mergeable log-histogram sketch and P-square.

Monitors must not sort a whole window per request: that costs O(w log w) per
observation for a window of w values. Two estimators are offered:

* :class:`LogHistogramSketch`: a DDSketch-style histogram over logarithmic buckets
  (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable quantile sketch with
  relative-error guarantees", VLDB 2019). Every quantile it returns is within a relative
  error ``relative_accuracy`` of the exact order statistic of rank ``floor(q (n - 1))``
  (numpy's ``method="lower"``). Counts are integers, so sketches merge *and subtract*
  exactly, which is what rolling windows built from a ring of sub-window sketches need.
  ``add`` is O(1); a query is O(k log k) in the number k of occupied buckets (a few
  hundred for latencies spanning several orders of magnitude at 1 % accuracy).
  ``add_many`` files a whole array with numpy into the same buckets as ``add``.
* :class:`P2Quantile`: the P-square algorithm (Jain and Chlamtac, "The P² algorithm for
  dynamic calculation of quantiles and histograms without storing observations", CACM
  1985): five markers, O(1) memory and update, one quantile, no error guarantee and no
  merge; useful for a single long-running estimate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["LogHistogramSketch", "P2Quantile"]


class LogHistogramSketch:
    """Mergeable quantile sketch with a relative-accuracy guarantee (DDSketch-like).

    A positive value ``x`` goes to bucket ``i = ceil(log(x) / log(gamma))`` with
    ``gamma = (1 + a) / (1 - a)``, i.e. the interval ``(gamma**(i-1), gamma**i]``; the
    bucket is represented by ``2 gamma**i / (gamma + 1)``, which is within relative error
    ``a`` of every value in it (Masson et al. 2019, section 2). Negative values use a
    mirrored store; values with ``|x| < min_value`` are counted as zero.

    Parameters
    ----------
    relative_accuracy : float
        ``a`` in (0, 1); 0.01 means every returned quantile is within 1 % of the exact
        order statistic.
    min_value : float
        Magnitudes below this are treated as exactly zero (keeps the key range finite).

    Examples
    --------
    >>> s = LogHistogramSketch(relative_accuracy=0.01)
    >>> for v in [1.0, 2.0, 3.0, 4.0, 100.0]:
    ...     s.add(v)
    >>> s.count
    5
    >>> abs(s.quantile(0.5) - 3.0) / 3.0 <= 0.01
    True
    >>> s.remove(100.0)
    >>> abs(s.quantile(1.0) - 4.0) / 4.0 <= 0.01
    True
    """

    __slots__ = ("relative_accuracy", "min_value", "gamma", "_inv_ln_gamma", "_pos", "_neg",
                 "_zero", "count")

    def __init__(self, relative_accuracy: float = 0.01, min_value: float = 1e-9) -> None:
        if not (0.0 < relative_accuracy < 1.0):
            raise ValueError(f"relative_accuracy: must be in (0, 1), got {relative_accuracy!r}")
        if not (min_value > 0.0):
            raise ValueError(f"min_value: must be > 0, got {min_value!r}")
        self.relative_accuracy = float(relative_accuracy)
        self.min_value = float(min_value)
        self.gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._inv_ln_gamma = 1.0 / math.log(self.gamma)
        self._pos: dict[int, int] = {}
        self._neg: dict[int, int] = {}
        self._zero = 0
        self.count = 0

    # -- updates -------------------------------------------------------------------
    def _locate(self, x: float) -> tuple[dict[int, int] | None, int]:
        if x != x:  # NaN
            raise ValueError("x: NaN cannot be added to a quantile sketch")
        if x > self.min_value:
            return self._pos, math.ceil(math.log(x) * self._inv_ln_gamma)
        if x < -self.min_value:
            return self._neg, math.ceil(math.log(-x) * self._inv_ln_gamma)
        return None, 0

    def add(self, x: float, count: int = 1) -> None:
        """Add ``count`` copies of ``x`` (O(1))."""
        store, key = self._locate(x)
        if store is None:
            self._zero += count
        else:
            store[key] = store.get(key, 0) + count
        self.count += count

    def _keys_many(self, magnitudes: np.ndarray) -> np.ndarray:
        """``ceil(log(m) / log(gamma))`` for magnitudes above ``min_value``, as :meth:`_locate` computes it.

        ``numpy.log`` may differ from ``math.log`` in the last bit, which moves a key only
        when the product lies on an integer; products within a relative 1e-9 of one (far
        more than a few ulps) are recomputed with ``math.log`` so every key is the scalar one.
        """
        scaled = np.log(magnitudes) * self._inv_ln_gamma
        keys = np.ceil(scaled)
        close = np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))
        if close.any():
            idx = np.flatnonzero(close)
            inv = self._inv_ln_gamma
            keys[idx] = [math.ceil(math.log(m) * inv) for m in magnitudes[idx].tolist()]
        return keys.astype(np.int64)

    def locate_many(self, values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where :meth:`add` would file each value: its store and its key.

        Returns ``stores`` (int8: 1 positive, -1 negative, 0 zero) and ``keys`` (int64,
        0 for zeros), so callers can count values per bucket before adding them with
        :meth:`add_located`. Raises ValueError for NaN and OverflowError for an infinite
        value, as :meth:`add` does.
        """
        xs = np.asarray(values, dtype=np.float64).ravel()
        if not np.isfinite(xs).all():
            if np.isnan(xs).any():
                raise ValueError("values: NaN cannot be added to a quantile sketch")
            raise OverflowError("values: an infinite value cannot be added to a quantile sketch")
        bound = self.min_value
        pos = xs > bound
        if pos.all():  # every value above the zero bucket (latencies, usually): no masks
            return np.ones(xs.size, dtype=np.int8), self._keys_many(xs)
        neg = xs < -bound
        keys = np.zeros(xs.size, dtype=np.int64)
        keys[pos] = self._keys_many(xs[pos])
        if not neg.any():  # latencies: the usual case
            return pos.astype(np.int8), keys
        keys[neg] = self._keys_many(-xs[neg])
        return pos.astype(np.int8) - neg.astype(np.int8), keys

    def add_located(self, stores: np.ndarray, keys: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Add values already located by :meth:`locate_many` (``counts`` copies each, default 1)."""
        stores = np.asarray(stores)
        keys = np.asarray(keys)
        if not keys.size:
            return
        n = np.ones(keys.size, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        order = np.lexsort((keys, stores))
        s, k = stores[order], keys[order]
        new_run = np.ones(k.size, dtype=bool)
        new_run[1:] = (s[1:] != s[:-1]) | (k[1:] != k[:-1])
        starts = np.flatnonzero(new_run)
        sums = np.add.reduceat(n[order], starts)
        self.add_counts(s[starts].tolist(), k[starts].tolist(), sums.tolist())

    def add_counts(self, stores: Sequence[int], keys: Sequence[int], counts: Sequence[int]) -> None:
        """Add ``counts[j]`` values to bucket ``keys[j]`` of store ``stores[j]`` (1, -1 or 0, as :meth:`locate_many`)."""
        pos, neg = self._pos, self._neg
        get_pos = pos.get
        zero = 0
        for store, key, c in zip(stores, keys, counts, strict=True):
            if store > 0:
                pos[key] = get_pos(key, 0) + c
            elif store < 0:
                neg[key] = neg.get(key, 0) + c
            else:
                zero += c
        self._zero += zero
        self.count += sum(counts)

    def add_many(self, values: Sequence[float] | np.ndarray) -> None:
        """Add every value of ``values``: the same counts as :meth:`add` on each, in O(n) numpy work.

        Raises before changing anything if a value is NaN (ValueError) or infinite
        (OverflowError), the errors :meth:`add` raises for such a value.
        """
        stores, keys = self.locate_many(values)
        if keys.size:
            self.add_located(stores, keys)

    def remove(self, x: float, count: int = 1) -> None:
        """Remove ``count`` copies of a value previously added (O(1)); exact because counts are integers."""
        store, key = self._locate(x)
        if store is None:
            if self._zero < count:
                raise ValueError(f"x: {x!r} was not added {count} time(s)")
            self._zero -= count
        else:
            have = store.get(key, 0)
            if have < count:
                raise ValueError(f"x: {x!r} was not added {count} time(s)")
            if have == count:
                del store[key]
            else:
                store[key] = have - count
        self.count -= count

    def _check_compatible(self, other: LogHistogramSketch) -> None:
        if not isinstance(other, LogHistogramSketch):
            raise ValueError(f"other: expected a LogHistogramSketch, got {type(other).__name__}")
        if other.gamma != self.gamma or other.min_value != self.min_value:
            raise ValueError("other: sketches must share relative_accuracy and min_value")

    def merge(self, other: LogHistogramSketch) -> None:
        """Add every count of ``other`` into this sketch (O(k))."""
        self._check_compatible(other)
        for mine, theirs in ((self._pos, other._pos), (self._neg, other._neg)):
            for key, c in theirs.items():
                mine[key] = mine.get(key, 0) + c
        self._zero += other._zero
        self.count += other.count

    def subtract(self, other: LogHistogramSketch) -> None:
        """Remove every count of ``other`` (which must be contained in this sketch)."""
        self._check_compatible(other)
        for mine, theirs in ((self._pos, other._pos), (self._neg, other._neg)):
            for key, c in theirs.items():
                left = mine.get(key, 0) - c
                if left < 0:
                    raise ValueError("other: not contained in this sketch")
                if left == 0:
                    mine.pop(key, None)
                else:
                    mine[key] = left
        if other._zero > self._zero:
            raise ValueError("other: not contained in this sketch")
        self._zero -= other._zero
        self.count -= other.count

    def clear(self) -> None:
        """Forget every value."""
        self._pos.clear()
        self._neg.clear()
        self._zero = 0
        self.count = 0

    def copy(self) -> LogHistogramSketch:
        """An independent copy."""
        out = LogHistogramSketch(self.relative_accuracy, self.min_value)
        out._pos = dict(self._pos)
        out._neg = dict(self._neg)
        out._zero = self._zero
        out.count = self.count
        return out

    # -- queries -------------------------------------------------------------------
    def _value(self, key: int) -> float:
        return 2.0 * self.gamma ** key / (self.gamma + 1.0)

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """Estimates of several quantiles in one pass; NaN for an empty sketch.

        The estimate for ``q`` is the bucket holding the order statistic of rank
        ``floor(q (n - 1))``, so it is within ``relative_accuracy`` of
        ``numpy.quantile(data, q, method="lower")``.
        """
        for q in qs:
            if not (0.0 <= q <= 1.0):
                raise ValueError(f"q: must be in [0, 1], got {q!r}")
        if self.count == 0:
            return [math.nan] * len(qs)
        order = sorted(range(len(qs)), key=lambda j: qs[j])
        ranks = [math.floor(qs[j] * (self.count - 1)) for j in order]
        out = [math.nan] * len(qs)
        # Values in increasing order: negatives (largest |x| first), zeros, positives.
        segments: list[tuple[Iterable[tuple[int, int]], float]] = [
            (sorted(self._neg.items(), reverse=True), -1.0),
            ([(0, self._zero)] if self._zero else [], 0.0),
            (sorted(self._pos.items()), 1.0),
        ]
        j = 0
        cum = 0
        for items, sign in segments:
            for key, c in items:
                cum += c
                while j < len(ranks) and ranks[j] < cum:
                    out[order[j]] = 0.0 if sign == 0.0 else sign * self._value(key)
                    j += 1
                if j == len(ranks):
                    return out
        return out  # pragma: no cover - ranks < count always terminate above

    def quantile(self, q: float) -> float:
        """Estimate of quantile ``q`` (see :meth:`quantiles`)."""
        return self.quantiles([q])[0]

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return (f"LogHistogramSketch(relative_accuracy={self.relative_accuracy}, "
                f"count={self.count}, buckets={len(self._pos) + len(self._neg)})")


class P2Quantile:
    """P-square estimate of one quantile with five markers (Jain and Chlamtac 1985).

    O(1) memory and update. Below five observations the exact sample quantile (linear
    interpolation) is returned. The estimate has no formal bound; on smooth
    distributions it is typically within a few percent after a few thousand points.

    Parameters
    ----------
    q : float
        The quantile in (0, 1).

    Examples
    --------
    >>> est = P2Quantile(0.5)
    >>> for v in range(1, 102):
    ...     est.update(float(v))
    >>> round(est.value)
    51
    """

    __slots__ = ("q", "n", "_heights", "_pos", "_desired", "_incr")

    def __init__(self, q: float) -> None:
        if not (0.0 < q < 1.0):
            raise ValueError(f"q: must be in (0, 1), got {q!r}")
        self.q = float(q)
        self.n = 0
        self._heights: list[float] = []
        self._pos = [1.0, 2.0, 3.0, 4.0, 5.0]
        self._desired = [1.0, 1.0 + 2.0 * q, 1.0 + 4.0 * q, 3.0 + 2.0 * q, 5.0]
        self._incr = [0.0, q / 2.0, q, (1.0 + q) / 2.0, 1.0]

    def update(self, x: float) -> None:
        """Add one observation (O(1))."""
        x = float(x)
        if x != x:
            raise ValueError("x: NaN cannot be added to a quantile estimate")
        self.n += 1
        h = self._heights
        if self.n <= 5:
            h.append(x)
            h.sort()
            return
        # Find the cell k with h[k] <= x < h[k+1], adjusting the extremes.
        if x < h[0]:
            h[0] = x
            k = 0
        elif x >= h[4]:
            h[4] = x
            k = 3
        else:
            k = 0
            while x >= h[k + 1]:
                k += 1
        pos = self._pos
        for i in range(k + 1, 5):
            pos[i] += 1.0
        desired = self._desired
        incr = self._incr
        for i in range(5):
            desired[i] += incr[i]
        for i in (1, 2, 3):
            d = desired[i] - pos[i]
            if (d >= 1.0 and pos[i + 1] - pos[i] > 1.0) or (d <= -1.0 and pos[i - 1] - pos[i] < -1.0):
                s = 1.0 if d > 0 else -1.0
                # Piecewise-parabolic prediction, linear if it leaves the bracket.
                hp = h[i] + s / (pos[i + 1] - pos[i - 1]) * (
                    (pos[i] - pos[i - 1] + s) * (h[i + 1] - h[i]) / (pos[i + 1] - pos[i])
                    + (pos[i + 1] - pos[i] - s) * (h[i] - h[i - 1]) / (pos[i] - pos[i - 1])
                )
                if not (h[i - 1] < hp < h[i + 1]):
                    j = i + int(s)
                    hp = h[i] + s * (h[j] - h[i]) / (pos[j] - pos[i])
                h[i] = hp
                pos[i] += s

    @property
    def value(self) -> float:
        """Current estimate; NaN before the first observation."""
        if self.n == 0:
            return math.nan
        if self.n <= 5:
            return float(np.quantile(self._heights, self.q))
        return self._heights[2]
