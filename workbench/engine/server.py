"""Serving calls on replica pools: FIFO beyond capacity, queue limit, timeouts, outages.

One :class:`Server` serves the users' requests; a shadow run has a second one that
serves the mirrored calls on the candidate's own pool and writes its own
:class:`CallLog`. Both use the per-request draws made up front (service time,
failure, outage), so a mirrored call does exactly what the candidate would have done.

Every call ends in exactly one status: ``ok``/``error`` when its service ends,
``timeout`` when its caller gives up (in the queue, or after ``timeout_ms`` of wait
plus service; the replica then stays busy until the work ends, or until the timeout
for a hung outage), ``dropped`` when the queue is full, ``error`` at once when the
model refuses calls (outage).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable

from simpy.events import Timeout

from ..status import DROPPED, ERROR, OK, PENDING, TIMEOUT
from .draws import OUTAGE_HANG, OUTAGE_REFUSE

__all__ = ["CallLog", "Server", "ReplicaPool", "PENDING"]



def _filled(code: str, n: int, fill) -> array:
    return array(code, [fill]) * n if n else array(code)


class CallLog:
    """Columnar buffers, one row per call, preallocated for ``n`` calls."""

    __slots__ = ("model", "status", "queue_ms", "latency_ms", "end_s", "started", "request", "rows")

    def __init__(self, n: int, *, with_request_ids: bool = False):
        self.model = _filled("b", n, -1)
        self.status = _filled("b", n, PENDING)
        self.queue_ms = _filled("d", n, 0.0)
        self.latency_ms = _filled("d", n, 0.0)
        self.end_s = _filled("d", n, math.nan)
        self.started = _filled("b", n, 0)
        # row -> request id (mirrored calls); None when row == request id (users' requests)
        self.request = _filled("q", n, -1) if with_request_ids else None
        self.rows = 0  # rows in use (mirrored calls are appended)


class Server:
    """Serve calls logged in ``log`` on ``pools`` (indexed by model)."""

    def __init__(
        self,
        ctx,
        log: CallLog,
        pools: list[ReplicaPool | None],
        on_finish: Callable[[int, int, float, int, float], None] | None = None,
    ):
        self.env = ctx.env
        self.log = log
        self.pools = pools
        self.on_finish = on_finish
        # the run's per-model draws and arrival times (see RunContext), bound once for speed
        self._service = ctx.service_s
        self._fails = ctx.fails
        self._outage = ctx.outage
        self._outage_any = ctx.outage_any
        self._timeout_s = ctx.timeout_s
        self._times = ctx.arrival_s
        self._request = log.request

    def _req(self, row: int) -> int:
        return row if self._request is None else self._request[row]

    def dispatch(self, row: int, m: int, t: float) -> None:
        """Call ``row`` (arrived at ``t``) asks model ``m`` for an answer now."""
        log = self.log
        log.model[row] = m
        i = self._req(row)
        if self._outage_any[m] and self._outage[m][i] == OUTAGE_REFUSE:
            self._finish(row, m, ERROR, 0.0, 0.0)
            return
        pool = self.pools[m]
        if pool.capacity is None or pool.busy < pool.capacity:
            if pool.tracked:
                pool.account(self.env.now)
            pool.busy += 1
            self._start(row, i, m, 0.0)
        elif pool.queue_limit is not None and pool.queue_full(log.status):
            self._finish(row, m, DROPPED, 0.0, 0.0)
        else:
            pool.queue.append(row)
            timeout_s = self._timeout_s[m]
            if timeout_s is not None:
                ev = Timeout(self.env, timeout_s, row)
                ev.callbacks.append(self._on_queue_timeout)

    def _start(self, row: int, i: int, m: int, wait_s: float) -> None:
        env = self.env
        service_s = self._service[m][i]
        hang = self._outage_any[m] and self._outage[m][i] == OUTAGE_HANG
        timeout_s = self._timeout_s[m]
        self.log.queue_ms[row] = wait_s * 1000.0
        self.log.started[row] = 1
        if timeout_s is not None and (hang or wait_s + service_s > timeout_s):
            left = max(0.0, timeout_s - wait_s)
            user_left = Timeout(env, left, row)
            user_left.callbacks.append(self._on_caller_timeout)
            release = Timeout(env, left if hang else service_s, m)
            release.callbacks.append(self._on_release)
        else:
            done = Timeout(env, service_s, row)
            done.callbacks.append(self._on_service_done)

    def _on_service_done(self, event) -> None:
        row = event.value
        log = self.log
        m = log.model[row]
        i = self._req(row)
        status = ERROR if self._fails[m][i] else OK
        self._finish(row, m, status, log.queue_ms[row], (self.env.now - self._times[i]) * 1000.0)
        self._release(m)

    def _on_caller_timeout(self, event) -> None:
        row = event.value
        m = self.log.model[row]
        self._finish(row, m, TIMEOUT, self.log.queue_ms[row], self._timeout_s[m] * 1000.0)

    def _on_release(self, event) -> None:
        self._release(event.value)

    def _on_queue_timeout(self, event) -> None:
        row = event.value
        log = self.log
        if log.status[row] != PENDING or log.started[row]:
            return  # already served or being served
        m = log.model[row]
        timeout_ms = self._timeout_s[m] * 1000.0
        self._finish(row, m, TIMEOUT, timeout_ms, timeout_ms)  # gave up in the queue

    def _release(self, m: int) -> None:
        pool = self.pools[m]
        if pool.tracked:
            pool.account(self.env.now)
        pool.busy -= 1
        if pool.queue:
            self.drain(m)

    def drain(self, m: int) -> None:
        """Start queued calls of model ``m`` while it has free replicas."""
        pool = self.pools[m]
        queue = pool.queue
        status = self.log.status
        while queue and (pool.capacity is None or pool.busy < pool.capacity):
            row = queue.popleft()
            if status[row] != PENDING:
                continue  # gave up while waiting
            if pool.tracked:
                pool.account(self.env.now)
            pool.busy += 1
            i = self._req(row)
            self._start(row, i, m, self.env.now - self._times[i])

    def _finish(self, row: int, m: int, status: int, queue_ms: float, latency_ms: float) -> None:
        log = self.log
        now = self.env.now
        log.status[row] = status
        log.queue_ms[row] = queue_ms
        log.latency_ms[row] = latency_ms
        log.end_s[row] = now
        if self.on_finish is not None:
            self.on_finish(row, m, now, status, latency_ms)


class ReplicaPool:
    """``capacity`` replicas serving in parallel with a FIFO queue beyond them.

    ``capacity`` None means unlimited concurrency. ``queue_limit`` bounds the
    waiting line (arrivals beyond it are dropped). The capacity may change during
    a run (autoscaling): a larger pool starts queued work at once; a smaller one
    lets running work finish and starts nothing new until ``busy < capacity``.
    """

    __slots__ = (
        "name", "capacity", "queue_limit", "busy", "queue", "tracked",
        "busy_area", "_last_s", "provisioning", "fleet_area", "_fleet_last_s",
    )

    def __init__(self, name: str, capacity: int | None, queue_limit: int | None, tracked: bool = False):
        self.name = name
        self.capacity = capacity
        self.queue_limit = queue_limit
        self.busy = 0
        self.queue: deque[int] = deque()
        self.tracked = tracked  # integrate busy replicas over time (autoscaling needs it)
        self.busy_area = 0.0
        self._last_s = 0.0
        self.provisioning = 0  # replicas starting up, not serving yet
        self.fleet_area = 0.0  # replica-seconds paid for (ready + provisioning)
        self._fleet_last_s = 0.0

    def account(self, now_s: float) -> None:
        """Accumulate busy replica-seconds up to ``now_s``."""
        self.busy_area += self.busy * (now_s - self._last_s)
        self._last_s = now_s

    def account_fleet(self, now_s: float, end_s: float = math.inf) -> None:
        """Accumulate paid replica-seconds up to ``now_s`` (call before the fleet changes).

        Nothing is billed past ``end_s`` (the run's end): replicas that finish
        provisioning while in-flight requests drain cost nothing more.
        """
        now_s = min(now_s, end_s)
        if self.capacity is not None and now_s > self._fleet_last_s:
            self.fleet_area += (self.capacity + self.provisioning) * (now_s - self._fleet_last_s)
        self._fleet_last_s = max(self._fleet_last_s, now_s)

    def waiting(self, status) -> int:
        """Requests really waiting (the queue drops given-up entries lazily)."""
        return sum(1 for i in self.queue if status[i] == PENDING)

    def queue_full(self, status) -> bool:
        """Whether the waiting line is at ``queue_limit``.

        Entries that gave up are dropped lazily; one pool has one timeout, so they are
        always at the head.
        """
        if self.queue_limit is None:
            return False
        queue = self.queue
        while queue and status[queue[0]] != PENDING:
            queue.popleft()
        return len(queue) >= self.queue_limit
