"""A FIFO multi-server queue kernel: one replica pool's requests without per-request events.

:class:`FifoPool` serves the requests routed to one pool, in arrival order, with the
rules of :class:`~.server.Server`: ``capacity`` replicas (None: unlimited), a
waiting line of at most ``queue_limit`` (a fuller line drops the arrival), callers
who give up after ``timeout_s`` (in the line, or during service when wait plus
service exceeds it, the replica staying busy until the work ends, or until the
timeout for a hung outage), refusing outages (``error`` at once) and failures
(``error`` when the service ends).

It is the Kiefer-Wolfowitz recursion for c servers (Lindley's for one), run as
an event loop over the only events that change a pool: arrivals, replica releases
and callers giving up. A heap holds the release time of every busy replica and the
waiting line the calls that found them all busy, each with the time its caller
gives up; the kernel steps from one arrival to the next, releasing the replicas
freed in between (each starts the next queued call). A call's result is known
when it starts or gives up, so the loop records only the start time and the wait
(or why the call ended without a replica), and :meth:`FifoPool.result` computes
the result columns with numpy.

The results are those of the SimPy engine bit for bit (status, ``queue_ms``,
``latency_ms``, ``end_s`` and the busy replica-seconds of a tracked pool): the
kernel does the engine's float arithmetic in the engine's order, and orders
simultaneous events as SimPy does, by time, then by creation (SimPy's event id).
Every event carries a creation number from one counter, advanced where the engine
creates its timeouts: an arrival creates the next arrival's event before it is
served, a start creates the service end (or the caller's timeout, then the
release), a queued call its give-up, a control event the next one. The engine's
clock at an arrival is not always the drawn arrival time (it schedules the next
arrival ``times[i+1] - now`` after ``now``); :func:`arrival_clock` gives it.

For a pool that sees every arrival of the run this holds for every tie. For a
pool that sees a routed subset, the next arrival's event is numbered when the
pool's previous arrival is served, whereas the engine numbers it at the run's
previous arrival; the two orders differ only for a release or give-up of this pool
falling at exactly the float time of an arrival and created between those two
arrivals, which needs two arrivals at one float time or a sum of drawn times
landing exactly on an arrival time (not met with continuous draws).

The pool can be resumed between control events (autoscaling, a changed capacity):
:meth:`FifoPool.serve` serves the arrivals before a control event, given by its
time and creation number (from :meth:`FifoPool.mark`), :meth:`FifoPool.advance`
handles the pool's events up to it, and :meth:`FifoPool.set_capacity` and
:meth:`FifoPool.account` then act as the engine's control events do.
:func:`serve_fifo` serves a whole run in one call.

The event loop exists twice, with identical results: the pure-Python loop of
this class and the same loop compiled with numba
(:class:`~.fifo_compiled.CompiledFifoPool`, about ten times faster). ``FifoPool(...)``
builds the compiled pool when :func:`default_kernel` says ``"compiled"``:
:func:`set_kernel` or the ``WORKBENCH_KERNEL`` environment variable choose, and
without a choice the compiled loop serves runs of at least
:data:`COMPILED_MIN_REQUESTS` requests when numba is installed (and every run once
it is loaded). numba is imported only when the first compiled pool is built, and
its start-up costs most of a second (a few seconds the first time, when numba
compiles the loop into its cache), more than the compiled loop saves on a run
of fewer requests.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from heapq import heappop, heappush, heapreplace

import numpy as np

from ..status import DROPPED, ERROR, OK, PENDING, TIMEOUT
from .draws import OUTAGE_HANG, OUTAGE_REFUSE

__all__ = [
    "COMPILED_MIN_REQUESTS", "KERNELS", "FifoPool", "FifoResult", "ResultColumns", "arrival_clock",
    "compiled_available", "default_kernel", "prepare_kernel", "serve_fifo", "set_kernel",
]

_LAST = 1 << 62  # a creation number after every real one: "everything up to this time"

KERNELS = ("python", "compiled")
KERNEL_ENV = "WORKBENCH_KERNEL"
# Without a choice, smaller runs keep the Python loop: the compiled one saves about 0.6 us a
# request, and numba's start-up in a process costs about 0.7 s (2-3 s when it compiles).
COMPILED_MIN_REQUESTS = 1_000_000
_kernel_choice: str | None = None  # set_kernel(); None: the environment variable, else the default


def compiled_available() -> bool:
    """Whether numba is installed (checked without importing it)."""
    return importlib.util.find_spec("numba") is not None


def set_kernel(name: str | None) -> None:
    """Choose the event loop of the pools built from now on (None: back to the default).

    Parameters
    ----------
    name : {"python", "compiled"} or None
        ``"python"`` is the pure-Python loop, ``"compiled"`` the numba one; None
        returns to ``WORKBENCH_KERNEL``, or the choice by size (:func:`default_kernel`).
    """
    global _kernel_choice
    _kernel_choice = None if name is None else _checked_kernel(name, "set_kernel")


def _checked_kernel(name: str, where: str) -> str:
    if name not in KERNELS:
        raise ValueError(f"{where}: the FIFO kernel must be one of {', '.join(KERNELS)}, got {name!r}")
    if name == "compiled" and not compiled_available():
        raise ImportError(f"{where}: the compiled FIFO kernel needs numba (pip install 'rollout-workbench[fast]')")
    return name


def default_kernel(requests: int | None = None) -> str:
    """The event loop new pools use: :func:`set_kernel`'s choice, else ``WORKBENCH_KERNEL``, else the quicker.

    Parameters
    ----------
    requests : int, optional
        Requests of the run the pool serves; None for a large run.

    Returns
    -------
    str
        ``"compiled"`` or ``"python"``. Without a choice: compiled when numba is
        installed and the run has at least :data:`COMPILED_MIN_REQUESTS` requests,
        or the compiled loop is already loaded (its start-up is paid).

    Raises
    ------
    ValueError, ImportError
        When ``WORKBENCH_KERNEL`` names no kernel, or the compiled one without numba.
    """
    if _kernel_choice is not None:
        return _kernel_choice
    name = os.environ.get(KERNEL_ENV, "").strip().lower()
    if name:
        return _checked_kernel(name, KERNEL_ENV)
    if not compiled_available():
        return "python"
    large = requests is None or requests >= COMPILED_MIN_REQUESTS
    return "compiled" if large or f"{__package__}.fifo_compiled" in sys.modules else "python"


def prepare_kernel(total_requests: float) -> str:
    """Load the compiled kernel now when a batch of runs totals enough requests to repay it.

    A sweep or a comparison of many short runs pays numba's start-up once per
    process, then saves on every run: once loaded, :func:`default_kernel` picks it
    for every run. Without numba, or with a kernel chosen by :func:`set_kernel` or
    ``WORKBENCH_KERNEL``, nothing changes.

    Parameters
    ----------
    total_requests : float
        Requests expected over every run this process will serve for the batch.

    Returns
    -------
    str
        The kernel the batch's runs will use (``"compiled"`` or ``"python"``).
    """
    if (_kernel_choice is None and not os.environ.get(KERNEL_ENV, "").strip() and compiled_available()
            and total_requests >= COMPILED_MIN_REQUESTS):
        importlib.import_module(f"{__package__}.fifo_compiled")  # loading it is the point

    return default_kernel(0)


def arrival_clock(arrival_s) -> np.ndarray:
    """The engine's clock at each arrival: ``T[0] = t[0]``, ``T[i] = T[i-1] + (t[i] - T[i-1])``.

    The engine schedules each arrival ``t[i] - now`` after the previous one, which
    can land one unit in the last place away from ``t[i]`` when ``t[i-1]`` is less
    than half of ``t[i]``. The recursion is solved as the fixed point of its
    vectorised step (each step fixes at least one more element, and a wrong clock
    is corrected as soon as a difference is exact again, so few steps are needed).

    Parameters
    ----------
    arrival_s : array_like of float
        Arrival times in seconds, sorted (every arrival of the run, whichever pool).

    Returns
    -------
    numpy.ndarray
        The clock values, float64, same length: ``arrival_s`` itself when it is a
        float64 array the clock equals everywhere (the usual case), else a new array.
    """
    t = np.asarray(arrival_s, dtype=np.float64)
    if t.size < 2:
        return t
    clock = t
    for _ in range(64):
        step = np.empty_like(clock)
        step[0] = t[0]
        np.add(clock[:-1], t[1:] - clock[:-1], out=step[1:])
        if np.array_equal(step, clock):
            return clock
        clock = step  # a new array: ``t`` is never written
    # long chains of inexact steps (not met in practice): the plain recursion
    out = clock.tolist()
    times = t.tolist()
    now = 0.0
    for i, ti in enumerate(times):
        now = now + (ti - now)
        out[i] = now
    return np.array(out, dtype=np.float64)


@dataclass(frozen=True)
class FifoResult:
    """Per-request results of one pool, indexed by request id (rows not served stay pending).

    Attributes
    ----------
    status : numpy.ndarray
        int8 status codes (:mod:`workbench.status`); ``PENDING`` for requests not
        given to the pool or not decided yet.
    queue_ms, latency_ms : numpy.ndarray
        Wait for a replica and what the caller waited, in milliseconds.
    end_s : numpy.ndarray
        When each request finished (NaN while pending).
    started : numpy.ndarray
        bool: the request took a replica (it counts in the pool's busy time).
    busy_s : float
        Busy replica-seconds accounted so far (the integral of busy replicas over
        time, summed at every start and release as the engine's tracked pools do).
    """

    status: np.ndarray
    queue_ms: np.ndarray
    latency_ms: np.ndarray
    end_s: np.ndarray
    started: np.ndarray
    busy_s: float


@dataclass(frozen=True)
class ResultColumns:
    """Where a pool writes its results: full-length columns indexed by request id.

    Several pools may share one set (the engine's request log): each writes only
    the rows of the requests it served. ``started`` is a bool (or 0/1 int8) column.
    """

    status: np.ndarray
    queue_ms: np.ndarray
    latency_ms: np.ndarray
    end_s: np.ndarray
    started: np.ndarray

    @classmethod
    def empty(cls, n: int) -> ResultColumns:
        """Columns for ``n`` requests, every row pending."""
        return cls(status=np.full(n, PENDING, dtype=np.int8), queue_ms=np.zeros(n), latency_ms=np.zeros(n),
                   end_s=np.full(n, math.nan), started=np.zeros(n, dtype=bool))


def _as_list(values) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _buffer(code: str, values) -> tuple[array, np.ndarray]:
    """``values`` as an :class:`array.array` of type ``code`` and a numpy view of it.

    An :class:`array.array` of that type is used as it is (the engine's buffers are
    shared, not copied); anything else is copied once.
    """
    dtype = np.float64 if code == "d" else np.int8
    if isinstance(values, array) and values.typecode == code:
        return values, np.frombuffer(values, dtype=dtype)
    buf = array(code, np.ascontiguousarray(values, dtype=dtype).tobytes())
    return buf, np.frombuffer(buf, dtype=dtype)


class FifoPool:
    """One replica pool served by the FIFO kernel, resumable between control events.

    Parameters
    ----------
    arrival_s : array_like of float
        Arrival time of every request of the run, indexed by request id.
    service_s : array_like of float
        This pool's service time for every request (seconds).
    fails : array_like of bool
        Whether the pool's model would answer with an error.
    outage : array_like of int
        ``OUTAGE_NONE`` / ``OUTAGE_REFUSE`` / ``OUTAGE_HANG`` per request.
    capacity : int or None
        Replicas serving in parallel; None for unlimited.
    queue_limit : int or None
        Longest waiting line; None for unbounded.
    timeout_s : float or None
        When the caller gives up; None to wait forever.
    clock_s : array_like of float, optional
        The engine's clock at each arrival (default: :func:`arrival_clock` of
        ``arrival_s``, correct when it holds every arrival of the run).
    kernel : {"python", "compiled"}, optional
        The event loop (default: :func:`default_kernel`); ``"compiled"`` builds a
        :class:`~.fifo_compiled.CompiledFifoPool`, with identical results.
    out : ResultColumns, optional
        Where to write the results (default: the pool's own columns). Pools
        serving one run can share the run's request log: each writes only the
        rows of its own requests.

    Notes
    -----
    The event loop only records when each request started (and how long it
    waited), or why it ended without a replica; :meth:`result` turns these into
    the result columns with numpy, with the engine's scalar formulas applied
    elementwise (the same IEEE operations in the same order), for the rows this
    pool served and has not finalised yet. Inputs given as :class:`array.array`
    of the kernel's type (``"d"`` for times, ``"b"`` for flags) are used without
    a copy.
    """

    def __new__(cls, *args, kernel: str | None = None, **kwargs):
        """A pool of the chosen kernel's class (a :class:`~.fifo_compiled.CompiledFifoPool` when compiled)."""
        if cls is FifoPool:
            if kernel is None:
                arrival_s = args[0] if args else kwargs["arrival_s"]
                name = default_kernel(len(arrival_s))
            else:
                name = _checked_kernel(kernel, "FifoPool")
            if name == "compiled":
                from .fifo_compiled import CompiledFifoPool

                cls = CompiledFifoPool
        return super().__new__(cls)

    def __init__(
        self,
        arrival_s,
        service_s,
        fails,
        outage,
        *,
        capacity: int | None,
        queue_limit: int | None = None,
        timeout_s: float | None = None,
        clock_s=None,
        kernel: str | None = None,
        out: ResultColumns | None = None,
    ):
        del kernel  # chosen in __new__
        n = len(arrival_s)
        self.n = n
        self.capacity = capacity
        self.queue_limit = queue_limit
        self.timeout_s = timeout_s
        clock = arrival_clock(arrival_s) if clock_s is None else clock_s
        # one copy of each input: array.array buffers for the event loop, numpy views of them for results
        self._times, self._arrival = _buffer("d", arrival_s)
        self._clock, self._clock_np = _buffer("d", clock)
        self._service, self._service_np = _buffer("d", service_s)
        self._outage, self._outage_np = _buffer("b", outage)
        self._fails_np = (np.frombuffer(fails, dtype=np.int8).view(bool) if isinstance(fails, array)
                          else np.asarray(fails, dtype=bool))
        self._refuses = bool(np.any(self._outage_np == OUTAGE_REFUSE))
        self._hangs = timeout_s is not None and bool(np.any(self._outage_np == OUTAGE_HANG))
        # what the event loop records: start time and wait of started calls, else how they ended
        self._start_s = array("d", [math.nan]) * n
        self._wait_s = array("d", [0.0]) * n
        self._ended = array("b", [PENDING]) * n
        self._out = ResultColumns.empty(n) if out is None else out
        # the requests served, in order: positions 0.. (None while they are 0, 1, 2, ...)
        self._ids: np.ndarray | None = None
        self._served = 0  # requests served so far
        self._final = 0  # positions below this have final results
        self._init_state()

    def _init_state(self) -> None:
        """The event loop's state: replicas in service, waiting line, counters (a subclass keeps its own)."""
        self.in_service: list[tuple[float, int]] = []  # heap of (release time, creation number)
        self.waiting: deque[tuple[float, int, int]] = deque()  # (give-up time, creation number, id)
        self.busy_s = 0.0
        self._last_s = 0.0
        self._cursor = 0  # next request id when serving every request
        self._seq = 0  # creation numbers of events, in the order SimPy numbers them
        self._arrival_seq = 0  # the first arrival's event is created before anything else

    # ------------------------------------------------------------------ control
    def mark(self) -> int:
        """A creation number for an event created now (a control event), to serve up to it."""
        self._seq += 1
        return self._seq

    @property
    def busy(self) -> int:
        """Replicas serving (or held by a hung call) now."""
        return len(self.in_service)

    def account(self, now_s: float) -> None:
        """Accumulate busy replica-seconds up to ``now_s`` (as the engine's autoscaler does)."""
        self.busy_s += len(self.in_service) * (now_s - self._last_s)
        self._last_s = now_s

    def set_capacity(self, capacity: int | None, now_s: float) -> None:
        """Change the number of replicas at ``now_s``; a larger pool starts queued calls at once.

        Call it after :meth:`advance` up to the control event at ``now_s``. A smaller
        pool lets running work finish and starts nothing until ``busy < capacity``.
        """
        grows = capacity is None or (self.capacity is not None and capacity > self.capacity)
        self.capacity = capacity
        if grows:
            cap = math.inf if capacity is None else capacity
            while self.waiting and len(self.in_service) < cap:
                self._start_queued(self.waiting.popleft()[2], now_s)

    # ------------------------------------------------------------------ serving
    def serve(self, ids: Sequence[int] | None = None, until_s: float = math.inf, until_seq: int = _LAST) -> int:
        """Serve arrivals ``ids`` (request ids in arrival order) that come before ``until``.

        Each arrival is served after the pool's events before it (releases, callers
        giving up); nothing after the last arrival served is handled: call
        :meth:`advance` once no more arrivals come before the next control event,
        or the end of the run.

        Parameters
        ----------
        ids : sequence of int, optional
            The requests routed to this pool, in arrival order, from the first one
            not served yet (default: every request of the run, continuing where the
            last call stopped).
        until_s : float
            Stop at the first arrival after this time (default: serve them all).
        until_seq : int
            Creation number of the control event at ``until_s`` (from :meth:`mark`):
            an arrival at exactly ``until_s`` is served if created before it.

        Returns
        -------
        int
            How many of ``ids`` were served; the rest arrive after ``until``.
        """
        if ids is None:
            first = self._cursor
            used = self._serve_arrivals(range(first, self.n), until_s, until_seq)
            self._cursor += used
            self._record_served(None, used, first)
            return used
        ids_list = _as_list(ids)
        used = self._serve_arrivals(ids_list, until_s, until_seq)
        self._record_served(ids if isinstance(ids, np.ndarray) else ids_list, used)
        return used

    def _record_served(self, ids, used: int, first: int = 0) -> None:
        """Remember the first ``used`` of ``ids`` as served (None: request ids ``first``, ``first + 1``, ...)."""
        if not used:
            return
        if ids is None:
            new = None
            lo_id, hi_id = first, first + used - 1
        else:
            new = np.asarray(ids[:used], dtype=np.int64)
            lo_id, hi_id = int(new[0]), int(new[-1])
        if self._ids is None and lo_id == self._served and hi_id - lo_id == used - 1:
            self._served += used  # positions are still the request ids 0, 1, 2, ...
        else:
            if self._ids is None:
                self._ids = np.arange(max(2 * self._served, 16), dtype=np.int64)  # positions so far were ids
            self._store_ids(np.arange(lo_id, hi_id + 1, dtype=np.int64) if new is None else new)

    @property
    def served_until(self) -> int:
        """One past the last request id served so far (0 before any); the next ``ids`` start here."""
        if not self._served:
            return 0
        return self._served if self._ids is None else int(self._ids[self._served - 1]) + 1

    def _store_ids(self, new: np.ndarray) -> None:
        """Append ``new`` to the served ids (the array grows by doubling)."""
        end = self._served + new.size
        if end > self._ids.size:
            grown = np.empty(max(end, 2 * self._ids.size), dtype=np.int64)
            grown[: self._served] = self._ids[: self._served]
            self._ids = grown
        self._ids[self._served:end] = new
        self._served = end

    def advance(self, until_s: float = math.inf, until_seq: int = _LAST) -> None:
        """Handle the pool's events before ``until``: replicas freed, queued calls started, give-ups.

        Parameters
        ----------
        until_s : float
            Time of the next control event; the default runs the pool dry (the
            engine's drain at the end of a run).
        until_seq : int
            Creation number of that control event (from :meth:`mark`): events at
            exactly ``until_s`` are handled if created before it.
        """
        self._release_until(until_s, until_seq)
        self._give_up_until(until_s, until_seq)

    def _serve_arrivals(self, ids, until_s: float, until_seq: int) -> int:
        """The event loop: each arrival, after the replicas released before it (hot path)."""
        heap, waiting = self.in_service, self.waiting
        clock, times, service, outage = self._clock, self._times, self._service, self._outage
        start_s, wait_s, ended = self._start_s, self._wait_s, self._ended
        cap = math.inf if self.capacity is None else self.capacity
        to = self.timeout_s
        patience = math.inf if to is None else to
        limit = self.queue_limit
        refuses, hangs = self._refuses, self._hangs
        aseq, seq, busy_s, last = self._arrival_seq, self._seq, self.busy_s, self._last_s
        used = 0
        for i in ids:
            t = clock[i]
            if t >= until_s and (t > until_s or aseq > until_seq):
                break
            used += 1
            while heap:  # replicas released before this arrival
                top = heap[0]
                rt = top[0]
                if rt > t or (rt == t and top[1] > aseq):
                    break
                busy_s += len(heap) * (rt - last)
                last = rt
                if waiting and to is not None and waiting[0][0] <= rt:
                    self._give_up_until(rt, top[1])
                if waiting and len(heap) <= cap:  # the released replica takes the next call
                    j = waiting.popleft()[2]
                    wait = rt - times[j]
                    start_s[j] = rt
                    wait_s[j] = wait
                    seq += 1
                    if hangs and outage[j] == OUTAGE_HANG:
                        heapreplace(heap, (rt + max(0.0, to - wait), seq))
                    else:
                        heapreplace(heap, (rt + service[j], seq))
                else:
                    heappop(heap)
            key_seq = aseq
            seq += 1
            aseq = seq  # the engine creates the next arrival's event first
            if refuses and outage[i] == OUTAGE_REFUSE:
                ended[i] = ERROR
            elif len(heap) < cap:
                busy_s += len(heap) * (t - last)
                last = t
                start_s[i] = t
                seq += 1
                heappush(heap, (t + to if hangs and outage[i] == OUTAGE_HANG else t + service[i], seq))
            elif limit is None or self._room(t, key_seq):
                seq += 1
                waiting.append((t + patience, seq, i))
            else:
                ended[i] = DROPPED
        self._arrival_seq, self._seq, self.busy_s, self._last_s = aseq, seq, busy_s, last
        return used

    def _room(self, now_s: float, seq: int) -> bool:
        """Whether the waiting line has room at (now_s, seq), after the callers who gave up before."""
        if self.waiting:
            self._give_up_until(now_s, seq)
        return len(self.waiting) < self.queue_limit

    def _give_up_until(self, now_s: float, seq: int) -> None:
        """Callers at the head of the line whose timeout came before (now_s, seq) give up."""
        waiting = self.waiting
        if self.timeout_s is None:
            return
        while waiting:
            deadline, qseq, j = waiting[0]
            if deadline > now_s or (deadline == now_s and qseq > seq):
                return
            waiting.popleft()
            self._ended[j] = TIMEOUT

    def _release_until(self, now_s: float, seq: int) -> None:
        """Release the replicas freed before (now_s, seq), each starting the next queued call."""
        heap = self.in_service
        waiting = self.waiting
        while heap:
            rt, rseq = heap[0]
            if rt > now_s or (rt == now_s and rseq > seq):
                return
            self.account(rt)
            heappop(heap)
            if waiting:
                self._give_up_until(rt, rseq)
            cap = math.inf if self.capacity is None else self.capacity
            while waiting and len(heap) < cap:
                self._start_queued(waiting.popleft()[2], rt)

    def _start_queued(self, j: int, now_s: float) -> None:
        """Queued call ``j`` takes a free replica at ``now_s``."""
        self.account(now_s)
        wait = now_s - self._times[j]
        self._start_s[j] = now_s
        self._wait_s[j] = wait
        if self._hangs and self._outage[j] == OUTAGE_HANG:
            release = now_s + max(0.0, self.timeout_s - wait)
        else:
            release = now_s + self._service[j]
        self._seq += 1
        heappush(self.in_service, (release, self._seq))

    def release(self) -> None:
        """Drop the per-request arrays once every result is written (the run is over).

        The inputs are usually the engine's own buffers: the pool must not keep them
        alive while the results are built. Busy time, capacity and the counters stay.
        """
        self.flush()
        for name in ("_times", "_arrival", "_clock", "_clock_np", "_service", "_service_np", "_outage",
                     "_outage_np", "_fails_np", "_start_s", "_wait_s", "_ended", "_ids", "_out"):
            setattr(self, name, None)

    # ------------------------------------------------------------------ results
    def flush(self) -> None:
        """Write the results so far into the result columns (see :meth:`result`)."""
        lo, hi = self._final, self._served
        if hi > lo:
            self._fill(lo, hi)
            waiting = self.waiting
            if waiting:
                head = waiting[0][2]
                self._final = (head if self._ids is None
                               else int(np.searchsorted(self._ids[:hi], head, side="left")))
            else:
                self._final = hi

    def result(self) -> FifoResult:
        """The results so far: the result columns (shared when given as ``out``), updated.

        Writes the rows of the requests served since the last call, and of those
        still waiting then; rows before the head of the waiting line are final.
        """
        self.flush()
        out = self._out
        return FifoResult(status=out.status, queue_ms=out.queue_ms, latency_ms=out.latency_ms, end_s=out.end_s,
                          started=out.started, busy_s=self.busy_s)

    def _fill(self, lo: int, hi: int) -> None:
        """Result columns of the requests served at positions [lo, hi) (the engine's formulas)."""
        rows: slice | np.ndarray
        if self._ids is None:
            rows = slice(lo, hi)
        else:
            rows = self._ids[lo:hi]
            first, last = int(rows[0]), int(rows[-1])
            if last - first == hi - lo - 1:
                rows = slice(first, last + 1)  # consecutive ids: slices, no gathering
        start = np.frombuffer(self._start_s, dtype=np.float64)[rows]
        wait = np.frombuffer(self._wait_s, dtype=np.float64)[rows]
        ended = np.frombuffer(self._ended, dtype=np.int8)[rows]
        service = self._service_np[rows]
        clock = self._clock_np[rows]
        started = ~np.isnan(start)
        done = start + service
        status = np.where(self._fails_np[rows], np.int8(ERROR), np.int8(OK))
        latency = (done - self._arrival[rows]) * 1000.0
        to = self.timeout_s
        if to is not None:
            # a caller gives up in service when hung or when wait + service exceeds the timeout
            gave_up = (self._outage_np[rows] == OUTAGE_HANG) | (wait + service > to)
            done = np.where(gave_up, start + np.maximum(0.0, to - wait), done)
            status = np.where(gave_up, np.int8(TIMEOUT), status)
            latency = np.where(gave_up, to * 1000.0, latency)
            in_line = ended == TIMEOUT  # gave up in the line: the timeout is both wait and latency
            end_not_started = np.where(in_line, clock + to, clock)
            waited_ms = np.where(in_line, to * 1000.0, 0.0)
        else:
            end_not_started = clock
            waited_ms = np.zeros(started.size)
        pending = ~started & (ended == PENDING)
        out = self._out
        out.started[rows] = started
        out.status[rows] = np.where(started, status, ended)
        out.queue_ms[rows] = np.where(started, wait * 1000.0, waited_ms)
        out.latency_ms[rows] = np.where(started, latency, waited_ms)
        out.end_s[rows] = np.where(started, done, np.where(pending, math.nan, end_not_started))


def serve_fifo(
    arrival_s,
    service_s,
    fails,
    outage,
    *,
    capacity: int | None,
    queue_limit: int | None = None,
    timeout_s: float | None = None,
    clock_s=None,
    kernel: str | None = None,
) -> FifoResult:
    """Serve every request of a run on one pool with the FIFO kernel (see :class:`FifoPool`).

    Parameters
    ----------
    arrival_s, service_s, fails, outage : array_like
        Per-request arrival times, service times (seconds), failure flags and outage codes.
    capacity, queue_limit, timeout_s
        The pool's replicas (None: unlimited), longest waiting line and caller timeout.
    clock_s : array_like of float, optional
        The engine's clock at each arrival (default: :func:`arrival_clock`).
    kernel : {"python", "compiled"}, optional
        The event loop (default: :func:`default_kernel`); the results are the same.

    Returns
    -------
    FifoResult
        Status, ``queue_ms``, ``latency_ms`` and ``end_s`` of every request, and busy replica-seconds.

    Examples
    --------
    >>> r = serve_fifo([0.0, 0.1, 0.2], [0.15, 0.15, 0.15], [False] * 3, [0] * 3, capacity=1)
    >>> r.queue_ms.round(6).tolist(), r.end_s.round(6).tolist()
    ([0.0, 50.0, 100.0], [0.15, 0.3, 0.45])
    """
    pool = FifoPool(
        arrival_s, service_s, fails, outage,
        capacity=capacity, queue_limit=queue_limit, timeout_s=timeout_s, clock_s=clock_s, kernel=kernel,
    )
    pool.serve()
    pool.advance()
    return pool.result()
