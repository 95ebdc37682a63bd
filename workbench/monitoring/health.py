"""Per-model serving health over a rolling window: error rate, latency quantiles, throughput.

Every request ends in one terminal status (``ok``, ``error``, ``timeout``, ``dropped``),
so each is counted exactly once. :class:`HealthMonitor` keeps, per model, a rolling window of
those outcomes and of the latency the user waited, and answers a snapshot on demand.

Two windows are offered:

* **time window** (default): a ring of ``ceil(window_s / bucket_s)`` time buckets, each with
  status counts and the sketch keys of its latencies (those a
  :class:`~workbench.monitoring.quantiles.LogHistogramSketch` would file them under); running
  totals are kept by adding to them and subtracting whole buckets as they expire (the
  rolling-bucket design of Hystrix and Prometheus summaries). The running latency total is
  a dense array of counts over the keys seen, so an observation costs O(1), a batch and an
  expiry a few numpy calls, and a snapshot one cumulative sum: the quantiles are those of a
  sketch holding the window's latencies, bit for bit. The window is the current bucket plus
  the ``n_buckets - 1`` before it, so its start moves in ``bucket_s`` steps.
* **count window** (``window_count``): the last ``window_count`` requests exactly; a ring of
  (time, status, latency) entries whose oldest is subtracted when a new one arrives, O(1).

An error "rate" kept as a list of 1s with no denominator is not a rate; here every
rate carries its denominator ``n``, and an empty window gives NaN, never 0, so a "max"
threshold cannot silently pass on no data (Flagger's NaN trap: a NaN query result read
as 0 passes a "max" threshold).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from workbench.monitoring.quantiles import LogHistogramSketch

__all__ = ["STATUSES", "HealthMonitor", "HealthSnapshot"]

STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "dropped")
_CODE = {s: i for i, s in enumerate(STATUSES)}
# Below this many observations, observe_many calls observe for each: its numpy work costs
# about 100 us a call whatever the size (a batch over ten buckets), observe from a batch
# about 1.6 us an observation (measured).
_MIN_BATCH = 64


@dataclass(frozen=True)
class HealthSnapshot:
    """Health of one model over one window.

    Attributes
    ----------
    n : int
        Requests that reached a terminal status in the window (the denominator).
    ok, errors, timeouts, dropped : int
        Counts per status (they add up to ``n``).
    error_rate : float
        ``(errors + timeouts) / n``; NaN when ``n == 0``.
    failure_rate : float
        ``(errors + timeouts + dropped) / n``; NaN when ``n == 0``.
    timeout_rate, drop_rate : float
        ``timeouts / n`` and ``dropped / n``; NaN when ``n == 0``.
    latency_p50_ms, latency_p95_ms, latency_p99_ms : float
        Latency quantiles (NaN without latencies), within the sketch's relative accuracy.
    latency_quantiles_ms : tuple of (float, float)
        ``(q, value)`` for the monitor's configured quantiles.
    n_latency : int
        Latencies behind the quantiles.
    throughput_per_s : float
        ``n`` over the covered duration; NaN if that duration is 0.
    goodput_per_s : float
        ``ok`` over the covered duration.
    window_start_s, window_end_s : float
        The interval covered (the start never precedes ``start_s`` of the monitor).
    """

    n: int
    ok: int
    errors: int
    timeouts: int
    dropped: int
    error_rate: float
    failure_rate: float
    timeout_rate: float
    drop_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    latency_quantiles_ms: tuple[tuple[float, float], ...]
    n_latency: int
    throughput_per_s: float
    goodput_per_s: float
    window_start_s: float
    window_end_s: float

    def as_dict(self) -> dict[str, float]:
        """Flat metric-name -> value mapping (for rollback thresholds and DataFrames)."""
        d = asdict(self)
        d.pop("latency_quantiles_ms")
        for q, v in self.latency_quantiles_ms:
            d[f"latency_q{_qname(q)}_ms"] = v
        return d


def _qname(q: float) -> str:
    s = f"{q * 100:.10g}"
    return s.replace(".", "_")


class _Bucket:
    """One time bucket: status counts and where its latencies sit in the sketch.

    ``zero`` counts the latencies of the sketch's zero bucket; the keys of the others are
    kept as given, ints in ``keys`` (one by one) and int64 arrays in ``chunks`` (batches),
    so expiring the bucket takes one numpy subtraction from the running total.
    """

    __slots__ = ("counts", "zero", "keys", "chunks")

    def __init__(self) -> None:
        self.counts = [0, 0, 0, 0]
        self.zero = 0
        self.keys: list[int] = []
        self.chunks: list[np.ndarray] = []


# Widest dense key range of a time window's latency total (int64 counts, 512 KiB); 1 %
# accuracy needs about 36,500 keys for every positive double. A wider range (a much finer
# accuracy over many decades) moves the total to a LogHistogramSketch, with the same answers.
_MAX_COLUMNS = 1 << 16


class _KeyHistogram:
    """Running count of latencies per sketch key: what a LogHistogramSketch would hold.

    ``counts[i]`` holds key ``lo + i`` of the positive store, ``zero`` the zero bucket;
    a key outside the range widens it. Latencies are never negative, so the negative
    store stays empty. Quantiles walk the same order as
    :meth:`LogHistogramSketch.quantiles` (zeros, then keys upwards) with one cumulative
    sum and return the same floats. Past :data:`_MAX_COLUMNS` keys the counts move to a
    LogHistogramSketch (``sparse``) for good.
    """

    __slots__ = ("params", "lo", "counts", "zero", "n", "sparse")

    def __init__(self, relative_accuracy: float) -> None:
        self.params = LogHistogramSketch(relative_accuracy)  # gamma, key function, values
        self.lo = 0
        self.counts = np.zeros(0, dtype=np.int64)
        self.zero = 0
        self.n = 0
        self.sparse: LogHistogramSketch | None = None

    def key(self, latency_ms: float) -> int | None:
        """The positive-store key of a latency >= 0, or None for the zero bucket (as ``add`` files it)."""
        if latency_ms > self.params.min_value:
            return math.ceil(math.log(latency_ms) * self.params._inv_ln_gamma)
        return None

    def _cover(self, kmin: int, kmax: int) -> bool:
        """Widen the dense range to hold keys ``kmin..kmax``; False once the counts are sparse."""
        if self.sparse is not None:
            return False
        width = self.counts.size
        if width and self.lo <= kmin and kmax < self.lo + width:
            return True
        lo = min(self.lo, kmin) if width else kmin
        hi = max(self.lo + width, kmax + 1) if width else kmax + 1
        if hi - lo > _MAX_COLUMNS:
            sparse = LogHistogramSketch(self.params.relative_accuracy, self.params.min_value)
            nz = np.flatnonzero(self.counts)
            sparse.add_counts([1] * nz.size, (nz + self.lo).tolist(), self.counts[nz].tolist())
            sparse.add_counts([0], [0], [self.zero])
            self.sparse = sparse
            self.counts = np.zeros(0, dtype=np.int64)
            return False
        pad = max(64, (hi - lo) // 2)  # room for the keys to come, amortising the copies
        new_lo = lo - pad if not width or lo < self.lo else lo
        new_hi = hi + pad if not width or hi > self.lo + width else hi
        if new_hi - new_lo > _MAX_COLUMNS:
            new_lo, new_hi = lo, hi
        counts = np.zeros(new_hi - new_lo, dtype=np.int64)
        if width:
            counts[self.lo - new_lo:self.lo - new_lo + width] = self.counts
        self.lo, self.counts = new_lo, counts
        return True

    def add_key(self, key: int) -> None:
        """Count one latency of positive-store key ``key``."""
        if self._cover(key, key):
            self.counts[key - self.lo] += 1
        else:
            self.sparse.add_counts((1,), (key,), (1,))
        self.n += 1

    def add_zero(self, count: int) -> None:
        """Count ``count`` latencies of the zero bucket."""
        if self.sparse is None:
            self.zero += count
        else:
            self.sparse.add_counts((0,), (0,), (count,))
        self.n += count

    def add_keys(self, keys: np.ndarray) -> None:
        """Count one latency per element of ``keys`` (int64 positive-store keys, at least one)."""
        if self._cover(int(keys.min()), int(keys.max())):
            np.add.at(self.counts, keys - self.lo, 1)
        else:
            self.sparse.add_located(np.ones(keys.size, dtype=np.int8), keys)
        self.n += keys.size

    def remove(self, keys: np.ndarray, zero: int) -> None:
        """Remove latencies added before: positive-store ``keys`` and ``zero`` zeros."""
        if self.sparse is None:
            np.subtract.at(self.counts, keys - self.lo, 1)
            self.zero -= zero
        else:
            gone = LogHistogramSketch(self.params.relative_accuracy, self.params.min_value)
            if keys.size:
                gone.add_located(np.ones(keys.size, dtype=np.int8), keys)
            gone.add_counts((0,), (0,), (zero,))
            self.sparse.subtract(gone)
        self.n -= keys.size + zero

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """:meth:`LogHistogramSketch.quantiles` of the counts (``qs`` already checked)."""
        if self.sparse is not None:
            return self.sparse.quantiles(qs)
        n = self.n
        if n == 0:
            return [math.nan] * len(qs)
        ranks = [math.floor(q * (n - 1)) for q in qs]
        zero = self.zero
        above = [r - zero for r in ranks if r >= zero]
        if not above:
            return [0.0] * len(qs)
        # first key whose cumulative count passes the rank, as the sketch's walk stops
        cols = np.searchsorted(np.cumsum(self.counts), above, side="right").tolist()
        value = self.params._value
        lo = self.lo
        found = iter(cols)
        return [0.0 if r < zero else value(lo + next(found)) for r in ranks]

    def state(self) -> tuple[dict[int, int], int, int]:
        """``({key: count}, zeros, n)``: the sketch's positive store, zero count and count."""
        if self.sparse is not None:
            return dict(self.sparse._pos), self.sparse._zero, self.sparse.count
        nz = np.flatnonzero(self.counts)
        return dict(zip((nz + self.lo).tolist(), self.counts[nz].tolist(), strict=True)), self.zero, self.n


class HealthMonitor:
    """Rolling health of one model: status counts, latency quantiles and throughput.

    Parameters
    ----------
    window_s : float
        Length of the time window (ignored when ``window_count`` is given).
    window_count : int, optional
        If given, the window is the last ``window_count`` requests instead.
    bucket_s : float
        Time-bucket width; the time window advances in these steps.
    quantiles : sequence of float
        Latency quantiles reported in ``latency_quantiles_ms`` (p50/p95/p99 are always
        reported in their own fields).
    relative_accuracy : float
        Relative accuracy of the latency sketch (0.01 = 1 %).
    latency_statuses : sequence of str
        Statuses whose latency counts (default: all but ``dropped``, i.e. what users
        who got an answer, an error or a timeout waited).
    start_s : float
        When the monitor started watching; the first window is not longer than the time
        since then (so early throughput is not diluted).

    Examples
    --------
    >>> mon = HealthMonitor(window_s=10.0, bucket_s=1.0)
    >>> for i in range(100):
    ...     mon.observe(i * 0.1, "error" if i % 10 == 0 else "ok", 40.0 + i % 5)
    >>> snap = mon.snapshot(9.99)
    >>> snap.n, snap.errors, snap.error_rate, round(snap.throughput_per_s, 1)
    (100, 10, 0.1, 10.0)
    >>> mon.snapshot(10.0).n  # the bucket [0 s, 1 s) has left the 10 s window
    90
    >>> round(snap.latency_p50_ms)
    42
    >>> HealthMonitor().snapshot(5.0).error_rate
    nan
    """

    def __init__(self, window_s: float = 60.0, window_count: int | None = None,
                 bucket_s: float = 1.0, quantiles: Sequence[float] = (0.5, 0.95, 0.99),
                 relative_accuracy: float = 0.01,
                 latency_statuses: Sequence[str] = ("ok", "error", "timeout"),
                 start_s: float = 0.0) -> None:
        qs = tuple(float(q) for q in quantiles)
        for q in qs:
            if not (0.0 <= q <= 1.0):
                raise ValueError(f"quantiles: each must be in [0, 1], got {q!r}")
        for s in latency_statuses:
            if s not in _CODE:
                raise ValueError(f"latency_statuses: unknown status {s!r}; expected {STATUSES}")
        if not (0.0 < relative_accuracy < 1.0):
            raise ValueError(f"relative_accuracy: must be in (0, 1), got {relative_accuracy!r}")
        self.quantiles = qs
        self.relative_accuracy = float(relative_accuracy)
        self.latency_statuses = tuple(latency_statuses)
        self._lat_ok = [s in self.latency_statuses for s in STATUSES]
        self._lat_ok_array = np.array(self._lat_ok)
        self.start_s = float(start_s)
        self.n_late = 0  # observations too old for the window, ignored
        self.n_total = 0
        self._counts = [0, 0, 0, 0]  # status counts in the window
        if window_count is not None:
            if int(window_count) != window_count or window_count < 1:
                raise ValueError(f"window_count: must be a positive integer, got {window_count!r}")
            self.kind = "count"
            self.window_count = int(window_count)
            self.window_s = math.nan
            self.bucket_s = math.nan
            self._sketch = LogHistogramSketch(self.relative_accuracy)  # latencies in the window
            self._ring_t = [0.0] * self.window_count
            self._ring_code = [0] * self.window_count
            self._ring_lat = [math.nan] * self.window_count
            self._ring_len = 0
            self._ring_head = 0  # next slot to write
        else:
            if not (window_s > 0) or not math.isfinite(window_s):
                raise ValueError(f"window_s: must be a positive finite number, got {window_s!r}")
            if not (bucket_s > 0) or bucket_s > window_s:
                raise ValueError(f"bucket_s: must be in (0, window_s], got {bucket_s!r}")
            self.kind = "time"
            self.window_count = None
            self.window_s = float(window_s)
            self.bucket_s = float(bucket_s)
            self.n_buckets = max(1, math.ceil(self.window_s / self.bucket_s - 1e-9))
            self._lat = _KeyHistogram(self.relative_accuracy)  # latencies in the window
            self._buckets = [_Bucket() for _ in range(self.n_buckets)]
            self._ids: list[int | None] = [None] * self.n_buckets
            self._head: int | None = None  # newest bucket id

    # -- time ring -------------------------------------------------------------------
    def _advance(self, b: int) -> None:
        """Make bucket ``b`` the newest, expiring the buckets that fall out."""
        head = self._head
        nb = self.n_buckets
        if head is None:
            for j in range(nb):
                self._ids[(b - j) % nb] = b - j
            self._head = b
            return
        if b <= head:
            return
        tc = self._counts
        zero = 0
        keys: list[int] = []
        chunks: list[np.ndarray] = []
        for bid in range(max(head + 1, b - nb + 1), b + 1):
            slot = bid % nb
            bucket = self._buckets[slot]
            cc = bucket.counts
            if cc != [0, 0, 0, 0]:
                for i in range(4):
                    tc[i] -= cc[i]
                bucket.counts = [0, 0, 0, 0]
            if bucket.zero:
                zero += bucket.zero
                bucket.zero = 0
            if bucket.keys:
                keys += bucket.keys
                bucket.keys = []
            if bucket.chunks:
                chunks += bucket.chunks
                bucket.chunks = []
            self._ids[slot] = bid
        self._head = b
        if keys or chunks or zero:
            if keys:
                chunks.append(np.array(keys, dtype=np.int64))
            gone = np.concatenate(chunks) if len(chunks) > 1 else chunks[0] if chunks else np.zeros(0, np.int64)
            self._lat.remove(gone, zero)

    def observe(self, time_s: float, status: str, latency_ms: float | None = None) -> None:
        """Record one request's terminal status and the latency its user waited.

        ``latency_ms`` may be None or NaN (e.g. for ``dropped``); it is then not counted
        in the quantiles. Observations older than the time window are ignored
        (counted in ``n_late``).
        """
        code = _CODE.get(status)
        if code is None:
            raise ValueError(f"status: must be one of {STATUSES}, got {status!r}")
        lat = math.nan if latency_ms is None else float(latency_ms)
        use_lat = self._lat_ok[code] and lat == lat
        if use_lat and lat < 0:
            raise ValueError(f"latency_ms: must be >= 0, got {latency_ms!r}")
        if self.kind == "count":
            self.n_total += 1
            size = self.window_count
            h = self._ring_head
            if self._ring_len == size:
                old = self._ring_code[h]
                self._counts[old] -= 1
                old_lat = self._ring_lat[h]
                if old_lat == old_lat:
                    self._sketch.remove(old_lat)
            else:
                self._ring_len += 1
            self._ring_t[h] = float(time_s)
            self._ring_code[h] = code
            self._ring_lat[h] = lat if use_lat else math.nan
            self._ring_head = (h + 1) % size
            self._counts[code] += 1
            if use_lat:
                self._sketch.add(lat)
            return
        hist = self._lat
        key = hist.key(lat) if use_lat else None  # an infinite latency raises here, before anything changes
        self.n_total += 1
        b = math.floor(time_s / self.bucket_s)
        if self._head is None or b > self._head:
            self._advance(b)
        elif b <= self._head - self.n_buckets:
            self.n_late += 1
            return
        bucket = self._buckets[b % self.n_buckets]
        bucket.counts[code] += 1
        self._counts[code] += 1
        if not use_lat:
            return
        if key is None:
            bucket.zero += 1
            hist.add_zero(1)
            return
        bucket.keys.append(key)
        i = key - hist.lo
        if 0 <= i < hist.counts.size:
            hist.counts[i] += 1
            hist.n += 1
        else:
            hist.add_key(key)

    def observe_many(self, times_s: Sequence[float] | np.ndarray, status_codes: Sequence[int] | np.ndarray,
                     latencies_ms: Sequence[float] | np.ndarray | None = None) -> None:
        """Record many requests: the same state as :meth:`observe` on each element, in order.

        Parameters
        ----------
        times_s : array of float
            Times of the terminal statuses (any order; late ones are ignored as by
            :meth:`observe`).
        status_codes : array of int
            Indices into :data:`STATUSES` (the codes of :mod:`workbench.status`).
        latencies_ms : array of float, optional
            NaN (or None for all) where there is no latency, as None for :meth:`observe`.

        Notes
        -----
        A time window groups the batch by bucket with numpy: the newest bucket after
        each element is the running maximum, so an element is late exactly when its
        bucket is ``n_buckets`` or more behind that maximum, and only the elements in the
        final window's buckets are added (the others would have been added and then
        expired). A count window keeps the last ``window_count`` entries of old ring plus
        batch. Fewer than 64 elements go through :meth:`observe` one by one, which is
        faster for them.

        Invalid input (a status code outside 0-3, a negative latency that would count, a
        time that is not finite for a time window) raises ValueError, and an infinite
        latency that would count OverflowError; a batch of 64 or more is checked before
        anything changes, a smaller one keeps the elements before the invalid one, as
        calls to :meth:`observe` would.
        """
        t = np.asarray(times_s, dtype=np.float64).ravel()
        codes = np.asarray(status_codes).ravel()
        n = t.size
        if codes.size != n:
            raise ValueError(f"status_codes: expected {n} codes, got {codes.size}")
        if latencies_ms is None:
            lat = np.full(n, np.nan)
        else:
            lat = np.asarray(latencies_ms, dtype=np.float64).ravel()
            if lat.size != n:
                raise ValueError(f"latencies_ms: expected {n} latencies, got {lat.size}")
        if not n:
            return
        if n < _MIN_BATCH:
            for time_s, code, latency_ms in zip(t.tolist(), codes.tolist(), lat.tolist(), strict=True):
                if not (isinstance(code, int) and 0 <= code < len(STATUSES)):
                    raise ValueError(f"status_codes: each must be an integer in 0..{len(STATUSES) - 1}, got {code!r}")
                self.observe(time_s, STATUSES[code], latency_ms)
            return
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"status_codes: must be integers, got dtype {codes.dtype}")
        if codes.min() < 0 or codes.max() >= len(STATUSES):
            raise ValueError(f"status_codes: each must be in 0..{len(STATUSES) - 1} (an index into {STATUSES})")
        codes = codes.astype(np.intp)
        use_lat = self._lat_ok_array[codes] & ~np.isnan(lat)
        if (lat[use_lat] < 0).any():
            raise ValueError(f"latency_ms: must be >= 0, got {lat[use_lat].min()!r}")
        t_max = float(np.abs(t).max()) if self.kind == "time" else 0.0  # NaN if a time is NaN
        if not math.isfinite(t_max):
            raise ValueError("times_s: must be finite")
        if t_max / self.bucket_s >= 2.0**62:
            # bucket numbers beyond int64: one observe each
            for time_s, code, latency_ms in zip(t.tolist(), codes.tolist(), lat.tolist(), strict=True):
                self.observe(time_s, STATUSES[code], latency_ms)
            return
        if self.kind == "count":
            self._observe_many_count(t, codes, lat, use_lat)
        else:
            self._observe_many_time(t, codes, lat, use_lat)
        self.n_total += n

    def _observe_many_time(self, t: np.ndarray, codes: np.ndarray, lat: np.ndarray, use_lat: np.ndarray) -> None:
        nb = self.n_buckets
        hist = self._lat
        b = np.floor(t / self.bucket_s).astype(np.int64)  # math.floor(time_s / bucket_s), element by element
        newest = np.maximum.accumulate(b)
        if self._head is not None:
            newest = np.maximum(newest, self._head)
        head = int(newest[-1])
        first = head - nb + 1  # oldest bucket of the final window; late elements are all older
        keep = b >= first
        sel = keep & use_lat
        if sel.any():  # where each latency goes; an infinite one raises here, before anything changes
            stores, keys = hist.params.locate_many(lat[sel])
            rel_lat = b[sel] - first
        self.n_late += int(np.count_nonzero(b <= newest - nb))
        self._advance(head)
        if not keep.any():
            return
        rel = b[keep] - first
        counts = np.bincount(rel * 4 + codes[keep], minlength=nb * 4).reshape(nb, 4)
        buckets = self._buckets
        occupied = np.flatnonzero(counts.any(axis=1))
        for r, (c0, c1, c2, c3) in zip(occupied.tolist(), counts[occupied].tolist(), strict=True):
            cc = buckets[(first + r) % nb].counts
            cc[0] += c0
            cc[1] += c1
            cc[2] += c2
            cc[3] += c3
        tc = self._counts
        for code, c in enumerate(counts.sum(axis=0).tolist()):
            tc[code] += c
        if not sel.any():
            return
        pos = stores > 0  # latencies are never negative: the others are zeros
        if not pos.all():
            zeros = np.bincount(rel_lat[~pos], minlength=nb)
            for r in np.flatnonzero(zeros).tolist():
                buckets[(first + r) % nb].zero += int(zeros[r])
            hist.add_zero(int(np.count_nonzero(~pos)))
            keys, rel_lat = keys[pos], rel_lat[pos]
            if not keys.size:
                return
        if rel_lat[0] != rel_lat[-1]:  # several buckets: group the keys by bucket
            if (rel_lat[1:] < rel_lat[:-1]).any():
                order = np.argsort(rel_lat, kind="stable")
                keys, rel_lat = keys[order], rel_lat[order]
            cuts = (np.flatnonzero(rel_lat[1:] != rel_lat[:-1]) + 1).tolist()
            starts = [0, *cuts]
            for lo, hi, r in zip(starts, [*cuts, keys.size], rel_lat[starts].tolist(), strict=True):
                buckets[(first + r) % nb].chunks.append(keys[lo:hi])
        else:
            buckets[(first + int(rel_lat[0])) % nb].chunks.append(keys)
        hist.add_keys(keys)

    def _observe_many_count(self, t: np.ndarray, codes: np.ndarray, lat: np.ndarray, use_lat: np.ndarray) -> None:
        size = self.window_count
        n = t.size
        length, head = self._ring_len, self._ring_head
        sketch = self._sketch
        # old entries pushed out, oldest first; batch entries pushed out within the batch
        # were added and removed again, so they leave no trace
        evicted = min(max(length + n - size, 0), length)
        if evicted:
            slots = [(head - length + k) % size for k in range(evicted)]
            gone = LogHistogramSketch(self.relative_accuracy)
            gone_lat = []
            for slot in slots:
                self._counts[self._ring_code[slot]] -= 1
                old_lat = self._ring_lat[slot]
                if old_lat == old_lat:
                    gone_lat.append(old_lat)
            gone.add_many(gone_lat)
            sketch.subtract(gone)
        skip = max(n - size, 0)
        kept_lat = np.where(use_lat, lat, np.nan)[skip:]
        for k, (time_s, code, latency) in enumerate(
            zip(t[skip:].tolist(), codes[skip:].tolist(), kept_lat.tolist(), strict=True), start=skip,
        ):
            slot = (head + k) % size
            self._ring_t[slot] = time_s
            self._ring_code[slot] = code
            self._ring_lat[slot] = latency
        for code, c in enumerate(np.bincount(codes[skip:], minlength=4).tolist()):
            self._counts[code] += c
        sketch.add_many(kept_lat[~np.isnan(kept_lat)])
        self._ring_len = min(length + n, size)
        self._ring_head = (head + n) % size

    def snapshot(self, now_s: float) -> HealthSnapshot:
        """Health over the window ending at ``now_s`` (expires old buckets first)."""
        now_s = float(now_s)
        qs = (0.5, 0.95, 0.99, *self.quantiles)
        if self.kind == "count":
            if self._ring_len:
                oldest = (self._ring_head - self._ring_len) % self.window_count
                start = min(self._ring_t[oldest], now_s)
            else:
                start = now_s
            vals = self._sketch.quantiles(qs)
            n_latency = self._sketch.count
        else:
            b = math.floor(now_s / self.bucket_s)
            if self._head is None or b > self._head:
                self._advance(b)
            start = max((self._head - self.n_buckets + 1) * self.bucket_s, self.start_s)
            vals = self._lat.quantiles(qs)
            n_latency = self._lat.n
        ok, errors, timeouts, dropped = self._counts
        n = ok + errors + timeouts + dropped
        duration = now_s - start

        def rate(x: int) -> float:
            return x / n if n else math.nan

        return HealthSnapshot(
            n=n, ok=ok, errors=errors, timeouts=timeouts, dropped=dropped,
            error_rate=rate(errors + timeouts),
            failure_rate=rate(errors + timeouts + dropped),
            timeout_rate=rate(timeouts),
            drop_rate=rate(dropped),
            latency_p50_ms=vals[0], latency_p95_ms=vals[1], latency_p99_ms=vals[2],
            latency_quantiles_ms=tuple(zip(self.quantiles, vals[3:], strict=True)),
            n_latency=n_latency,
            throughput_per_s=n / duration if duration > 0 else math.nan,
            goodput_per_s=ok / duration if duration > 0 else math.nan,
            window_start_s=start,
            window_end_s=now_s,
        )

    def __repr__(self) -> str:
        if self.kind == "count":
            return f"HealthMonitor(window_count={self.window_count}, n_total={self.n_total})"
        return f"HealthMonitor(window_s={self.window_s}, bucket_s={self.bucket_s}, n_total={self.n_total})"
