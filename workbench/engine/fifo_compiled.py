"""The FIFO kernel's event loop compiled with numba: :class:`CompiledFifoPool`.

:class:`~.fifo.FifoPool` builds one of these instead of itself when the compiled
kernel is selected (:func:`~.fifo.default_kernel`). The rules, the order of events
and the float arithmetic are those of the pure-Python loop, operation for
operation, so the results are identical: releases, give-ups and arrivals are
ordered by time, then by creation number; busy replica-seconds are summed at every
start and release; no fast-math, so every sum and product rounds as Python's does.

The state lives in plain arrays the compiled functions update in place:

- the replicas in service, a binary min-heap of ``(release time, creation number)``
  in two parallel arrays (the keys are unique, so any heap pops them in one order);
- the waiting line, a ring buffer of ``(give-up time, creation number, request id)``
  whose length is a power of two;
- the counters (heap size, line head and length, creation numbers) in an int64
  array and the busy-time integral with its last update in a float64 array.

The heap and the line grow by doubling: the arrival loop stops before an arrival
that might not fit and the pool enlarges the arrays and resumes it, so memory
follows the busiest moment, not the number of requests.

This module imports numba; only :class:`~.fifo.FifoPool` imports it, when the
first compiled pool is built, so ``import workbench`` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from numba import njit

from ..status import DROPPED, ERROR, OK, PENDING, TIMEOUT
from .draws import OUTAGE_HANG, OUTAGE_REFUSE
from .fifo import _LAST, FifoPool

__all__ = ["CompiledFifoPool", "warm_up"]

# slots of the int64 state array
_HEAP_SIZE, _LINE_HEAD, _LINE_SIZE, _SEQ, _ARRIVAL_SEQ = range(5)
# slots of the float64 state array
_BUSY_S, _LAST_S = range(2)
_UNLIMITED = 1 << 62  # capacity or queue limit "None": larger than any count
_INITIAL_SLOTS = 16


# ----------------------------------------------------------------------------- heap on arrays
@njit(cache=True)
def _before(t_a, q_a, t_b, q_b):
    """Whether event ``(t_a, q_a)`` comes before ``(t_b, q_b)``: by time, then creation."""
    return t_a < t_b or (t_a == t_b and q_a < q_b)


@njit(cache=True)
def _heap_push(heap_t, heap_q, st, t, q):
    """Add ``(t, q)`` to the heap (room is checked by the caller)."""
    k = st[_HEAP_SIZE]
    while k > 0:
        parent = (k - 1) >> 1
        if _before(heap_t[parent], heap_q[parent], t, q):
            break
        heap_t[k] = heap_t[parent]
        heap_q[k] = heap_q[parent]
        k = parent
    heap_t[k] = t
    heap_q[k] = q
    st[_HEAP_SIZE] += 1


@njit(cache=True)
def _heap_sift(heap_t, heap_q, size, t, q):
    """Put ``(t, q)`` at the root of a heap of ``size`` entries and sift it down."""
    k = 0
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _before(heap_t[right], heap_q[right], heap_t[child], heap_q[child]):
            child = right
        if not _before(heap_t[child], heap_q[child], t, q):
            break
        heap_t[k] = heap_t[child]
        heap_q[k] = heap_q[child]
        k = child
    heap_t[k] = t
    heap_q[k] = q


@njit(cache=True)
def _heap_pop(heap_t, heap_q, st):
    """Remove the earliest entry."""
    size = st[_HEAP_SIZE] - 1
    st[_HEAP_SIZE] = size
    if size > 0:
        _heap_sift(heap_t, heap_q, size, heap_t[size], heap_q[size])


# ----------------------------------------------------------------------------- the pool's events
@njit(cache=True)
def _give_up_until(line_t, line_q, line_id, st, ended, has_timeout, now_s, seq):
    """Callers at the head of the line whose timeout comes before ``(now_s, seq)`` give up."""
    if not has_timeout:
        return
    mask = line_t.size - 1
    while st[_LINE_SIZE] > 0:
        h = st[_LINE_HEAD]
        deadline = line_t[h]
        if deadline > now_s or (deadline == now_s and line_q[h] > seq):
            return
        ended[line_id[h]] = TIMEOUT
        st[_LINE_HEAD] = (h + 1) & mask
        st[_LINE_SIZE] -= 1


@njit(cache=True)
def _pop_line(line_id, st):
    """Take the request at the head of the line."""
    h = st[_LINE_HEAD]
    st[_LINE_HEAD] = (h + 1) & (line_id.size - 1)
    st[_LINE_SIZE] -= 1
    return line_id[h]


@njit(cache=True)
def _start_queued(j, now_s, times, service, outage, start_s, wait_s, heap_t, heap_q, st, fs, hangs, timeout_s):
    """Queued call ``j`` takes a free replica at ``now_s``."""
    fs[_BUSY_S] += st[_HEAP_SIZE] * (now_s - fs[_LAST_S])
    fs[_LAST_S] = now_s
    wait = now_s - times[j]
    start_s[j] = now_s
    wait_s[j] = wait
    if hangs and outage[j] == OUTAGE_HANG:
        left = timeout_s - wait
        release = now_s + (left if left > 0.0 else 0.0)
    else:
        release = now_s + service[j]
    st[_SEQ] += 1
    _heap_push(heap_t, heap_q, st, release, st[_SEQ])


@njit(cache=True)
def _start_from_line(now_s, capacity, times, service, outage, start_s, wait_s, heap_t, heap_q, line_id, st, fs,
                     hangs, timeout_s):
    """Queued calls take free replicas at ``now_s`` while there are some."""
    while st[_LINE_SIZE] > 0 and st[_HEAP_SIZE] < capacity:
        j = _pop_line(line_id, st)
        _start_queued(j, now_s, times, service, outage, start_s, wait_s, heap_t, heap_q, st, fs, hangs, timeout_s)


@njit(cache=True)
def _advance(until_s, until_seq, capacity, times, service, outage, start_s, wait_s, ended, heap_t, heap_q,
             line_t, line_q, line_id, st, fs, has_timeout, hangs, timeout_s):
    """Release the replicas freed before ``until``, each starting queued calls, then the give-ups."""
    while st[_HEAP_SIZE] > 0:
        rt = heap_t[0]
        rseq = heap_q[0]
        if rt > until_s or (rt == until_s and rseq > until_seq):
            break
        fs[_BUSY_S] += st[_HEAP_SIZE] * (rt - fs[_LAST_S])
        fs[_LAST_S] = rt
        _heap_pop(heap_t, heap_q, st)
        if st[_LINE_SIZE] > 0:
            _give_up_until(line_t, line_q, line_id, st, ended, has_timeout, rt, rseq)
        _start_from_line(rt, capacity, times, service, outage, start_s, wait_s, heap_t, heap_q, line_id, st, fs,
                         hangs, timeout_s)
    _give_up_until(line_t, line_q, line_id, st, ended, has_timeout, until_s, until_seq)


@njit(cache=True)
def _serve(ids, has_ids, k, k_end, until_s, until_seq, capacity, queue_limit, clock, times, service, outage,
           start_s, wait_s, ended, heap_t, heap_q, line_t, line_q, line_id, st, fs, has_timeout, timeout_s,
           patience_s, refuses, hangs):
    """Serve arrivals ``k`` to ``k_end`` (positions in ``ids``, or request ids) that come before ``until``.

    Returns the position reached and whether the loop stopped for room: the heap
    or the line is full, and the next arrival might need a slot (the caller grows
    the arrays and calls again from there).
    """
    mask = line_t.size - 1
    aseq = st[_ARRIVAL_SEQ]
    seq = st[_SEQ]
    while k < k_end:
        if st[_HEAP_SIZE] == heap_t.size or st[_LINE_SIZE] == line_t.size:
            st[_ARRIVAL_SEQ] = aseq
            st[_SEQ] = seq
            return k, True
        i = ids[k] if has_ids else k
        t = clock[i]
        if t >= until_s and (t > until_s or aseq > until_seq):
            break
        k += 1
        while st[_HEAP_SIZE] > 0:  # replicas released before this arrival
            rt = heap_t[0]
            rseq = heap_q[0]
            if rt > t or (rt == t and rseq > aseq):
                break
            fs[_BUSY_S] += st[_HEAP_SIZE] * (rt - fs[_LAST_S])
            fs[_LAST_S] = rt
            if st[_LINE_SIZE] > 0 and has_timeout and line_t[st[_LINE_HEAD]] <= rt:
                _give_up_until(line_t, line_q, line_id, st, ended, has_timeout, rt, rseq)
            if st[_LINE_SIZE] > 0 and st[_HEAP_SIZE] <= capacity:  # the released replica takes the next call
                j = _pop_line(line_id, st)
                wait = rt - times[j]
                start_s[j] = rt
                wait_s[j] = wait
                seq += 1
                if hangs and outage[j] == OUTAGE_HANG:
                    left = timeout_s - wait
                    _heap_sift(heap_t, heap_q, st[_HEAP_SIZE], rt + (left if left > 0.0 else 0.0), seq)
                else:
                    _heap_sift(heap_t, heap_q, st[_HEAP_SIZE], rt + service[j], seq)
            else:
                _heap_pop(heap_t, heap_q, st)
        key_seq = aseq
        seq += 1
        aseq = seq  # the engine creates the next arrival's event first
        if refuses and outage[i] == OUTAGE_REFUSE:
            ended[i] = ERROR
        elif st[_HEAP_SIZE] < capacity:
            fs[_BUSY_S] += st[_HEAP_SIZE] * (t - fs[_LAST_S])
            fs[_LAST_S] = t
            start_s[i] = t
            seq += 1
            if hangs and outage[i] == OUTAGE_HANG:
                _heap_push(heap_t, heap_q, st, t + timeout_s, seq)
            else:
                _heap_push(heap_t, heap_q, st, t + service[i], seq)
        else:
            room = True
            if queue_limit < _UNLIMITED:
                if st[_LINE_SIZE] > 0:
                    _give_up_until(line_t, line_q, line_id, st, ended, has_timeout, t, key_seq)
                room = st[_LINE_SIZE] < queue_limit
            if room:
                seq += 1
                tail = (st[_LINE_HEAD] + st[_LINE_SIZE]) & mask
                line_t[tail] = t + patience_s
                line_q[tail] = seq
                line_id[tail] = i
                st[_LINE_SIZE] += 1
            else:
                ended[i] = DROPPED
    st[_ARRIVAL_SEQ] = aseq
    st[_SEQ] = seq
    return k, False


@njit(cache=True)
def _fill(ids, has_ids, lo, hi, start_s, wait_s, ended, service, clock, arrival, fails, outage, has_timeout,
          timeout_s, status_out, queue_ms_out, latency_ms_out, end_s_out, started_out):
    """Result columns of the requests at positions [lo, hi) (the engine's formulas, row by row)."""
    for k in range(lo, hi):
        i = ids[k] if has_ids else k
        start = start_s[i]
        if start == start:  # started (not NaN)
            wait = wait_s[i]
            done = start + service[i]
            code = ERROR if fails[i] else OK
            latency = (done - arrival[i]) * 1000.0
            if has_timeout and (outage[i] == OUTAGE_HANG or wait + service[i] > timeout_s):
                left = timeout_s - wait
                done = start + (left if left > 0.0 else 0.0)
                code = TIMEOUT
                latency = timeout_s * 1000.0
            started_out[i] = True
            status_out[i] = code
            queue_ms_out[i] = wait * 1000.0
            latency_ms_out[i] = latency
            end_s_out[i] = done
        else:
            code = ended[i]
            end = clock[i]
            waited_ms = 0.0
            if has_timeout and code == TIMEOUT:  # gave up in the line: the timeout is wait and latency
                end = clock[i] + timeout_s
                waited_ms = timeout_s * 1000.0
            started_out[i] = False
            status_out[i] = code
            queue_ms_out[i] = waited_ms
            latency_ms_out[i] = waited_ms
            end_s_out[i] = math.nan if code == PENDING else end


# ----------------------------------------------------------------------------- the pool
class _WaitingLine:
    """A read-only view of a compiled pool's waiting line: ``(give-up time, creation number, id)``."""

    def __init__(self, pool: CompiledFifoPool):
        self._pool = pool

    def __len__(self) -> int:
        return int(self._pool._st[_LINE_SIZE])

    def __getitem__(self, k: int) -> tuple[float, int, int]:
        pool = self._pool
        size = len(self)
        if k < 0:
            k += size
        if not 0 <= k < size:
            raise IndexError("waiting line index out of range")
        slot = (int(pool._st[_LINE_HEAD]) + k) & (pool._line_t.size - 1)
        return float(pool._line_t[slot]), int(pool._line_q[slot]), int(pool._line_id[slot])

    def __iter__(self) -> Iterator[tuple[float, int, int]]:
        return (self[k] for k in range(len(self)))


class CompiledFifoPool(FifoPool):
    """A :class:`~.fifo.FifoPool` whose event loop is compiled; same interface, identical results.

    Built by ``FifoPool(..., kernel="compiled")`` (or by default when numba is
    installed). ``waiting`` is a read-only view of the line and ``in_service`` a
    copy of the heap's entries.
    """

    def _init_state(self) -> None:
        self._st = np.zeros(5, dtype=np.int64)
        self._fs = np.zeros(2, dtype=np.float64)
        self._heap_t = np.empty(_INITIAL_SLOTS, dtype=np.float64)
        self._heap_q = np.empty(_INITIAL_SLOTS, dtype=np.int64)
        self._line_t = np.empty(_INITIAL_SLOTS, dtype=np.float64)
        self._line_q = np.empty(_INITIAL_SLOTS, dtype=np.int64)
        self._line_id = np.empty(_INITIAL_SLOTS, dtype=np.int64)
        self._line_view = _WaitingLine(self)
        self._cursor = 0
        # numpy views of the event loop's records (the buffers the results are computed from)
        self._start_np = np.frombuffer(self._start_s, dtype=np.float64)
        self._wait_np = np.frombuffer(self._wait_s, dtype=np.float64)
        self._ended_np = np.frombuffer(self._ended, dtype=np.int8)
        self._no_ids = np.empty(0, dtype=np.int64)

    # ------------------------------------------------------------------ state seen from Python
    @property
    def waiting(self) -> _WaitingLine:
        """The calls waiting for a replica, head first: ``(give-up time, creation number, id)``."""
        return self._line_view

    @property
    def in_service(self) -> list[tuple[float, int]]:
        """The busy replicas' ``(release time, creation number)``, in heap order (a copy)."""
        size = int(self._st[_HEAP_SIZE])
        return list(zip(self._heap_t[:size].tolist(), self._heap_q[:size].tolist(), strict=True))

    @property
    def busy(self) -> int:
        """Replicas serving (or held by a hung call) now."""
        return int(self._st[_HEAP_SIZE])

    @property
    def busy_s(self) -> float:
        """Busy replica-seconds accounted so far."""
        return float(self._fs[_BUSY_S])

    def mark(self) -> int:
        """A creation number for an event created now (a control event), to serve up to it."""
        self._st[_SEQ] += 1
        return int(self._st[_SEQ])

    def account(self, now_s: float) -> None:
        """Accumulate busy replica-seconds up to ``now_s`` (as the engine's autoscaler does)."""
        busy_s = float(self._fs[_BUSY_S]) + int(self._st[_HEAP_SIZE]) * (now_s - float(self._fs[_LAST_S]))
        self._fs[_BUSY_S] = busy_s
        self._fs[_LAST_S] = now_s

    # ------------------------------------------------------------------ arrays
    def _capacity_bound(self) -> int:
        return _UNLIMITED if self.capacity is None else self.capacity

    def _reserve_heap(self, slots: int) -> None:
        """Grow the heap arrays to at least ``slots`` entries (doubling)."""
        size = self._heap_t.size
        if slots <= size:
            return
        while size < slots:
            size *= 2
        used = int(self._st[_HEAP_SIZE])
        for name in ("_heap_t", "_heap_q"):
            old = getattr(self, name)
            new = np.empty(size, dtype=old.dtype)
            new[:used] = old[:used]
            setattr(self, name, new)

    def _grow_line(self) -> None:
        """Double the waiting line's ring buffer, its entries moved to the front in order."""
        head, size, slots = int(self._st[_LINE_HEAD]), int(self._st[_LINE_SIZE]), self._line_t.size
        order = (head + np.arange(size)) & (slots - 1)
        for name in ("_line_t", "_line_q", "_line_id"):
            old = getattr(self, name)
            new = np.empty(2 * slots, dtype=old.dtype)
            new[:size] = old[order]
            setattr(self, name, new)
        self._st[_LINE_HEAD] = 0

    # ------------------------------------------------------------------ serving
    def set_capacity(self, capacity: int | None, now_s: float) -> None:
        """Change the number of replicas at ``now_s``; a larger pool starts queued calls at once."""
        grows = capacity is None or (self.capacity is not None and capacity > self.capacity)
        self.capacity = capacity
        if grows:
            self._reserve_heap(int(self._st[_HEAP_SIZE] + self._st[_LINE_SIZE]))
            _start_from_line(now_s, self._capacity_bound(), self._arrival, self._service_np, self._outage_np,
                             self._start_np, self._wait_np, self._heap_t, self._heap_q, self._line_id, self._st,
                             self._fs, self._hangs, self._timeout_value())

    def _timeout_value(self) -> float:
        return math.nan if self.timeout_s is None else float(self.timeout_s)

    def serve(self, ids: Sequence[int] | None = None, until_s: float = math.inf, until_seq: int = _LAST) -> int:
        """Serve arrivals ``ids`` that come before ``until`` (see :meth:`FifoPool.serve`)."""
        if ids is None:
            first = self._cursor
            used = self._serve_positions(self._no_ids, False, first, self.n, until_s, until_seq)
            self._cursor += used
            self._record_served(None, used, first)
            return used
        ids_arr = np.ascontiguousarray(ids, dtype=np.int64)
        used = self._serve_positions(ids_arr, True, 0, ids_arr.size, until_s, until_seq)
        self._record_served(ids_arr, used)
        return used

    def _serve_positions(self, ids, has_ids: bool, k: int, k_end: int, until_s: float, until_seq: int) -> int:
        """Run the compiled arrival loop from position ``k``, growing the heap and line when full."""
        start = k
        to = self.timeout_s
        limit = _UNLIMITED if self.queue_limit is None else self.queue_limit
        while True:
            k, full = _serve(
                ids, has_ids, k, k_end, float(until_s), int(until_seq), self._capacity_bound(), limit,
                self._clock_np, self._arrival, self._service_np, self._outage_np,
                self._start_np, self._wait_np, self._ended_np, self._heap_t, self._heap_q,
                self._line_t, self._line_q, self._line_id, self._st, self._fs,
                to is not None, self._timeout_value(), math.inf if to is None else float(to),
                self._refuses, self._hangs,
            )
            if not full:
                return k - start
            if self._st[_HEAP_SIZE] == self._heap_t.size:
                self._reserve_heap(2 * self._heap_t.size)
            if self._st[_LINE_SIZE] == self._line_t.size:
                self._grow_line()

    def release(self) -> None:
        """Drop the per-request arrays once every result is written (see :meth:`FifoPool.release`)."""
        super().release()
        self._start_np = self._wait_np = self._ended_np = None

    def _fill(self, lo: int, hi: int) -> None:
        """Result columns of the requests served at positions [lo, hi), compiled (same formulas)."""
        out = self._out
        has_ids = self._ids is not None
        _fill(self._ids if has_ids else self._no_ids, has_ids, lo, hi, self._start_np, self._wait_np,
              self._ended_np, self._service_np, self._clock_np, self._arrival, self._fails_np, self._outage_np,
              self.timeout_s is not None, self._timeout_value(), out.status, out.queue_ms, out.latency_ms,
              out.end_s, out.started)

    def advance(self, until_s: float = math.inf, until_seq: int = _LAST) -> None:
        """Handle the pool's events before ``until`` (see :meth:`FifoPool.advance`)."""
        self._reserve_heap(int(self._st[_HEAP_SIZE] + self._st[_LINE_SIZE]))
        _advance(float(until_s), int(until_seq), self._capacity_bound(), self._arrival, self._service_np,
                 self._outage_np, self._start_np, self._wait_np, self._ended_np, self._heap_t, self._heap_q,
                 self._line_t, self._line_q, self._line_id, self._st, self._fs, self.timeout_s is not None,
                 self._hangs, self._timeout_value())


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel's functions with a tiny pool."""
    pool = CompiledFifoPool([0.0, 0.5], [1.0, 1.0], [False, False], [0, 0], capacity=1, queue_limit=1,
                            timeout_s=0.75, kernel="compiled")
    pool.serve()
    pool.serve([1])
    pool.set_capacity(2, 1.0)
    pool.advance()
