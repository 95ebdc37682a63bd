"""The fast engine: SimPy for the control plane, the FIFO kernel for the requests.

:class:`FastSimulation` gives the results of :class:`~.simulation.Simulation`, bit
for bit, for the scenarios :func:`supports` accepts, at a fraction of the cost: SimPy
schedules only the control events (strategy ticks, resource samples, autoscaler
syncs and replicas becoming ready, progress),
and between two of them the arrivals are routed as one batch
(``strategy.route_batch``) and served by one :class:`~.fifo.FifoPool` per model, which
needs no per-request events.

Before a control event runs, every arrival before it has been routed and served,
each pool has handled its releases and give-ups before it (ties at one float time
ordered by creation, as SimPy orders them: each control event carries the pools'
creation numbers from the moment it was scheduled), and the kernel's decided
results are in the request log. A request that has started has a known end, so the
log may hold a result whose ``end_s`` lies after the control event's time; every
reader of the log during a run (:meth:`RunContext.window`, ``window_values``,
``rollback``) keeps only requests with ``end_s <= now``, which are exactly those
the reference engine has finished by then. The resource sampler sees each pool's
busy replicas, waiting line and capacity at that moment.

Autoscaling is the control plane's own (:meth:`ControlPlane._autoscale`): at a
sync the pool's busy replica-seconds are brought up to that moment
(``FifoPool.account``, the sum the reference pool keeps), and a changed fleet
reaches the kernel through ``FifoPool.set_capacity``, which starts queued calls on
new replicas at once, as the reference engine's drain does.

The monitors act only at their evaluations (health, drift, performance from labels,
detectors on prediction error): before each control event, the requests finished
by then are fed to the hub in end-time order, and the labels of requests still in
flight wait for their end, so every evaluation sees what it sees on the reference
engine.

A bandit that batches its updates (``update_interval_s > 0``, ``batch_routing``)
is reported the same outcomes (and labels) before each control event, so its
counts at every update tick are the reference engine's. A shadow strategy's
mirrored calls are served by a kernel pool of their own (:class:`_KernelMirror`).

What it cannot serve (see :func:`supports`): detectors on latency or errors (fed
with every outcome, they may alarm and roll back between control events), a
bandit that learns from each outcome before routing the next request, custom
strategy objects (their ``route`` might read the clock) and real estimators.

An arrival at exactly the float time of a control event is routed after it (the
engine orders the two by creation; with continuous arrival draws they never meet).
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Callable, Mapping
from heapq import heappop, heappush
from typing import Any

import numpy as np
import pandas as pd
import simpy
from simpy.core import EmptySchedule
from simpy.events import NORMAL

from ..scenario import MonitoringConfig, Scenario
from ..status import PENDING
from ..strategies import (
    STRATEGY_KINDS,
    ABTest,
    Bandit,
    BlueGreen,
    Canary,
    Interleaving,
    Progressive,
    Shadow,
    Single,
    Strategy,
)
from .control import ControlPlane
from .fifo import FifoPool, ResultColumns, arrival_clock
from .labels import LabelPump
from .monitors import MonitorHub
from .shadow import shadow_frame

__all__ = ["FastSimulation", "supports", "FAST_STRATEGY_KINDS"]

# strategies whose route reads only the request (never the clock); those that learn from
# outcomes or labels only when they batch their updates (``batch_routing``)
_FAST_STRATEGIES: dict[str, type[Strategy]] = {
    "single": Single,
    "ab": ABTest,
    "canary": Canary,
    "progressive": Progressive,
    "blue_green": BlueGreen,
    "bandit": Bandit,
    "shadow": Shadow,
    "interleaving": Interleaving,
}
FAST_STRATEGY_KINDS = tuple(_FAST_STRATEGIES)
# detectors fed with each outcome as it happens; the others act at evaluation times only
_PER_OUTCOME_SIGNALS = ("latency_ms", "error")


def supports(
    scenario: Scenario, strategy: Strategy | None = None, *, models: Mapping[str, Any] | None = None
) -> str | None:
    """Whether the fast engine serves ``scenario`` exactly: None if so, else the reason.

    Parameters
    ----------
    scenario : Scenario
    strategy : Strategy, optional
        The strategy object the run would use (default: the scenario's ``[strategy]``).
    models : mapping, optional
        Real estimators the run would serve; any makes the run need the reference engine.

    Returns
    -------
    str or None
        None when :class:`FastSimulation` gives the reference engine's results, else
        why not (for error messages).
    """
    if models:
        return "real estimators are served by the reference engine"
    monitoring = scenario.monitoring
    hub = (monitoring is not None and monitoring.enabled) or scenario.rollback is not None
    if hub and monitoring is not None:
        signals = [d.signal for d in monitoring.detectors if d.signal in _PER_OUTCOME_SIGNALS]
        if signals:
            return (f"a monitoring detector on {signals[0]} reads every outcome as it happens "
                    "(it may alarm and roll back between control events)")
    if strategy is None:
        kind = scenario.strategy.kind
        if kind not in _FAST_STRATEGIES:
            return f"strategy {kind!r} is not one of {', '.join(FAST_STRATEGY_KINDS)}"
        if kind == "bandit" and not scenario.strategy.update_interval_s:
            return _PER_REQUEST_BANDIT
        return None
    if type(strategy) not in _FAST_STRATEGIES.values():
        if STRATEGY_KINDS.get(strategy.kind) is type(strategy):
            return f"strategy {strategy.kind!r} is not one of {', '.join(FAST_STRATEGY_KINDS)}"
        return f"custom strategy object {type(strategy).__name__} (its route might read the clock)"
    if (strategy.wants_outcomes or strategy.wants_labels) and not strategy.batch_routing:
        return _PER_REQUEST_BANDIT if strategy.kind == "bandit" else (
            f"strategy {strategy.kind!r} learns from every outcome as it happens")
    return None


_PER_REQUEST_BANDIT = ("a bandit that updates on every outcome (update_interval_s = 0) routes each request "
                       "with what it learnt from the one before; set update_interval_s to batch its updates")


class _ControlEnvironment(simpy.Environment):
    """A SimPy environment that stamps every scheduled event with the pools' creation numbers.

    A parallel heap keyed as SimPy keys its queue (time, priority, creation order)
    keeps, for each pending event, what ``stamp()`` returned when it was scheduled,
    so the run can serve the pools up to the next event with SimPy's tie order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stamp: Callable[[], tuple[int, ...]] = tuple
        self._stamps: list[tuple] = []
        self._order = itertools.count()

    def schedule(self, event, priority=NORMAL, delay=0) -> None:
        """Schedule ``event`` as SimPy does, and remember the pools' creation numbers now."""
        super().schedule(event, priority, delay)
        heappush(self._stamps, (self.now + delay, priority, next(self._order), self.stamp()))

    def next_stamp(self) -> tuple[int, ...]:
        """The creation numbers of the next event to run."""
        return self._stamps[0][3]

    def step(self) -> None:
        """Run the next event (and forget its stamp)."""
        if not self._stamps:
            raise EmptySchedule
        heappop(self._stamps)
        super().step()


class _KernelPool:
    """A model's :class:`FifoPool` seen as the engine's replica pool.

    It offers what the control plane, the resource sampler and the results builder
    read of a :class:`~.server.ReplicaPool`: capacity, busy replicas, waiting line,
    replicas provisioning, busy replica-seconds (``account``, ``busy_area``) and paid
    replica-seconds (``account_fleet``, ``fleet_area``, the same arithmetic).
    """

    def __init__(self, name: str, kernel: FifoPool):
        self.name = name
        self.kernel = kernel
        self.provisioning = 0  # replicas starting up, not serving yet
        self.fleet_area = 0.0  # replica-seconds paid for (ready + provisioning)
        self._fleet_last_s = 0.0

    @property
    def capacity(self) -> int | None:
        """Replicas serving in parallel (None: unlimited)."""
        return self.kernel.capacity

    @property
    def busy(self) -> int:
        """Replicas busy now."""
        return self.kernel.busy

    @property
    def queue(self):
        """Calls waiting for a replica now (only those still waiting)."""
        return self.kernel.waiting

    @property
    def busy_area(self) -> float:
        """Busy replica-seconds so far (up to the last :meth:`account` or pool event)."""
        return self.kernel.busy_s

    def waiting(self, _status) -> int:
        """How many calls wait for a replica now."""
        return len(self.kernel.waiting)

    def account(self, now_s: float) -> None:
        """Accumulate busy replica-seconds up to ``now_s``."""
        self.kernel.account(now_s)

    def account_fleet(self, now_s: float, end_s: float = math.inf) -> None:
        """Accumulate paid replica-seconds up to ``now_s`` (call before the fleet changes).

        Nothing is billed past ``end_s`` (the run's end).
        """
        now_s = min(now_s, end_s)
        if self.capacity is not None and now_s > self._fleet_last_s:
            self.fleet_area += (self.capacity + self.provisioning) * (now_s - self._fleet_last_s)
        self._fleet_last_s = max(self._fleet_last_s, now_s)


class _KernelMirror:
    """Mirrored (shadow) calls on a FIFO kernel pool of their own (see :class:`~.shadow.Mirror`).

    The pool serves the candidate's draws for the mirrored requests, with the
    mirror's replicas, the candidate's queue limit and timeout; its results go to
    columns of its own, never to the users' request log.
    """

    def __init__(self, ctx, model: str, replicas: int | None, clock):
        self.m = ctx.model_index[model]
        cfg = ctx.scenario.models[model]
        self._results = ResultColumns.empty(ctx.n)
        self.kernel = FifoPool(
            ctx.arrival_s, ctx.service_s[self.m], ctx.fails[self.m], ctx.outage[self.m],
            capacity=replicas or cfg.replicas, queue_limit=cfg.queue_limit, timeout_s=ctx.timeout_s[self.m],
            clock_s=clock, out=self._results,
        )
        self._sent: list[np.ndarray] = []

    def send(self, ids: np.ndarray) -> None:
        """Mirror requests ``ids`` (in arrival order, all before the next control event)."""
        if ids.size:
            self._sent.append(ids)
            self.kernel.serve(ids)

    def to_frame(self, ctx) -> pd.DataFrame:
        """The mirrored calls, as :meth:`~.shadow.Mirror.to_frame` gives them."""
        ids = np.concatenate(self._sent) if self._sent else np.empty(0, dtype=np.int64)
        res = self._results
        return shadow_frame(ctx, self.m, ids=ids.astype(np.int64, copy=False), status=res.status[ids],
                            queue_ms=res.queue_ms[ids], latency_ms=res.latency_ms[ids])


class FastSimulation(ControlPlane):
    """One run of one scenario with one seed on the fast engine. Use :func:`workbench.run`.

    The control plane (:class:`~.control.ControlPlane`) is the reference engine's.
    Same parameters and public attributes as :class:`~.simulation.Simulation`
    (``context``, ``pools``, ``resource_samples``, ``strategy``, ``mirror``,
    ``validation``, ``blocked``, ``hub``, ``scenario``, ``seed``), so
    :func:`~.results.build_result` turns it into the same
    :class:`~workbench.result.RunResult`. Only for scenarios :func:`supports` accepts.

    Parameters
    ----------
    scenario : Scenario
    seed : int
    models : mapping, optional
        Must be empty (real estimators need the reference engine).
    strategy : Strategy, optional
        A strategy object to use instead of the scenario's ``[strategy]``.
    progress : callable, optional
        ``progress(fraction_done)`` called about 100 times during the run.
    alert_callbacks : list of callables, optional
        ``callback(alert)`` for every alert the monitors raise.

    Raises
    ------
    ValueError
        When :func:`supports` gives a reason the run cannot be served exactly.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        *,
        models: Mapping[str, Any] | None = None,
        strategy: Strategy | None = None,
        progress: Callable[[float], None] | None = None,
        alert_callbacks: list[Callable[[Any], Any]] | None = None,
    ):
        reason = supports(scenario, strategy, models=models)
        if reason is not None:
            raise ValueError(f"the fast engine cannot run this scenario exactly: {reason}")
        ctx = self._set_up_run(scenario, seed, _ControlEnvironment(), models=models, strategy=strategy,
                               progress=progress)
        self._init_autoscaling()
        self._clock_s = arrival_clock(ctx.traffic.time_s)
        # the clock is the arrival times except for rare roundings: share their buffer when it is
        clock = ctx.arrival_s if self._clock_s is ctx.traffic.time_s else self._clock_s
        log = ctx.log
        self._log_model = np.frombuffer(log.model, dtype=np.int8)
        self._log_status = np.frombuffer(log.status, dtype=np.int8)
        self._log_latency = np.frombuffer(log.latency_ms, dtype=np.float64)
        self._log_end = np.frombuffer(log.end_s, dtype=np.float64)
        # every pool writes its own requests' results straight into the request log
        columns = ResultColumns(
            status=self._log_status, queue_ms=np.frombuffer(log.queue_ms, dtype=np.float64),
            latency_ms=self._log_latency, end_s=self._log_end,
            started=np.frombuffer(log.started, dtype=np.int8).view(bool),
        )
        self.pools = [
            _KernelPool(d.name, FifoPool(
                ctx.arrival_s, ctx.service_s[k], ctx.fails[k], ctx.outage[k],
                capacity=d.config.replicas, queue_limit=d.config.queue_limit,
                timeout_s=ctx.timeout_s[k], clock_s=clock, out=columns,
            ))
            for k, d in enumerate(ctx.draws)
        ]
        self._kernels = [p.kernel for p in self.pools]
        self.mirror: _KernelMirror | None = None
        if self.strategy.mirrors:
            self.mirror = _KernelMirror(ctx, "candidate", self.strategy.mirror_replicas, clock)
        # every pool, the mirror's last, marks the control events (see _ControlEnvironment)
        self._all_kernels = self._kernels + ([self.mirror.kernel] if self.mirror is not None else [])
        self.env.stamp = lambda: tuple(kernel.mark() for kernel in self._all_kernels)
        self.hub: MonitorHub | None = None
        monitored = (scenario.monitoring is not None and scenario.monitoring.enabled) or scenario.rollback is not None
        self._feeds_outcomes = monitored or self.strategy.wants_outcomes or self.strategy.wants_labels
        if self._feeds_outcomes:
            # status of the requests reported as finished (to the monitors and the strategy),
            # PENDING until then: the labels of requests still in flight wait for their end,
            # as on the reference engine
            self._fed_status = array("b", [PENDING]) * ctx.n
            self._fed = np.frombuffer(self._fed_status, dtype=np.int8)
            self._unfed = 0  # rows below this have all been reported
        if self.strategy.wants_labels:
            self._labels = LabelPump(ctx.traffic.label_time_s, self._fed_status)
        if monitored:
            self.hub = MonitorHub(ctx, scenario.monitoring or MonitoringConfig(), scenario.rollback, alert_callbacks,
                                  label_status=self._fed_status)
            ctx.metrics_at = self.hub.snapshot

    # ------------------------------------------------------------------ control loop
    def run(self) -> FastSimulation:
        """Simulate the whole scenario, then let in-flight requests finish."""
        env = self.env
        sc = self.scenario
        self._start_run()
        if self.strategy.tick_interval_s or self.strategy.wants_labels:
            env.process(self._ticker())
        if self.progress is not None:
            env.process(self._progress_ticker())
        env.process(self._resource_sampler())
        if self.hub is not None:
            env.process(self._monitor_loop())
        for m in self.autoscalers:
            env.process(self._autoscale(m))
        # the skeleton of Simulation.run with env.run() unrolled: before each control
        # event, the requests are served up to it
        while env.peek() < math.inf:
            self._serve_until(env.peek(), env.next_stamp())
            env.step()
        self._serve_until(math.inf, None)
        for kernel in self._all_kernels:
            kernel.release()  # every result is in the logs: free the kernels' per-request arrays
        self._clock_s = None
        for pool in self.pools:
            pool.account_fleet(sc.duration_s)
        if self.progress is not None:
            self.progress(1.0)
        return self

    def _set_capacity(self, m: int, capacity: int) -> None:
        """Give model ``m``'s pool ``capacity`` ready replicas now; a larger pool starts queued calls."""
        self._kernels[m].set_capacity(capacity, self.env.now)

    # ------------------------------------------------------------------ data plane
    def _serve_until(self, until_s: float, stamp: tuple[int, ...] | None) -> None:
        """Route and serve the arrivals before ``until_s``, advance the pools to it, log the results."""
        ctx = self.context
        lo = ctx.arrived
        if until_s < math.inf:
            hi = lo + int(np.searchsorted(self._clock_s[lo:], until_s, side="left"))
        else:
            hi = ctx.n
        if hi > lo:
            codes = self._route(lo, hi)
            for m, kernel in enumerate(self._kernels):
                ids = np.flatnonzero(codes == m)
                if ids.size:
                    kernel.serve(ids + lo)
            ctx.arrived = hi
        for m, kernel in enumerate(self._all_kernels):
            if stamp is None:
                kernel.advance()
            else:
                kernel.advance(until_s, stamp[m])
            kernel.flush()  # the pool's decided results into the request log
        if self._feeds_outcomes:
            self._report_outcomes(until_s)

    def _report_outcomes(self, until_s: float) -> None:
        """Report every request that finished by ``until_s`` and was not reported yet, by end time.

        The reference engine reports them as requests finish: by end time, then by
        the creation of the finishing events, to the strategy (when it wants
        outcomes) and to the monitors. Each model has its own health monitor, whose
        state after observations at one time is the same in any order (integer
        counts in time buckets), and a batch-routing strategy's counts are sums, so
        sorting by end time alone gives their state exactly.
        """
        ctx = self.context
        lo, hi = self._unfed, ctx.arrived
        if hi <= lo:
            return
        end = self._log_end[lo:hi]
        fed = self._fed[lo:hi]
        new = np.flatnonzero((end <= until_s) & (fed == PENDING))  # NaN (in flight) compares False
        if new.size:
            rows = new[np.argsort(end[new], kind="stable")] + lo
            status = self._log_status[rows]
            self._fed[rows] = status
            models, end_s, latency_ms = self._log_model[rows], self._log_end[rows], self._log_latency[rows]
            strategy = self.strategy
            if strategy.wants_outcomes:
                names = ctx.model_names
                on_outcome = strategy.on_outcome
                for i, m, t, code, lat in zip(rows.tolist(), models.tolist(), end_s.tolist(), status.tolist(),
                                              latency_ms.tolist(), strict=True):
                    on_outcome(i, names[m], t, code, lat)
            if self.hub is not None:
                self.hub.on_outcomes(rows, models, end_s, status, latency_ms)
        pending = np.flatnonzero(fed == PENDING)
        self._unfed = lo + int(pending[0]) if pending.size else hi

    def _route(self, lo: int, hi: int) -> np.ndarray:
        """Model codes of arrivals ``lo`` to ``hi`` (the strategy routes them as one batch, in order)."""
        ctx = self.context
        out = self._log_model[lo:hi]
        if ctx.rolled_back or self.blocked:
            out[:] = self._legacy  # legacy serves everything
            return out
        traffic = ctx.traffic
        batch = (np.arange(lo, hi), traffic.time_s[lo:hi], traffic.user_id[lo:hi], traffic.features)
        out[:] = self.strategy.route_batch_indices(*batch, ctx.model_index)
        if self.mirror is not None:
            # the reference engine asks after routing each request; the mirror serves its
            # copies before the users' calls arrive at their pools (no shared pool)
            self.mirror.send(batch[0][self.strategy.mirror_batch(*batch)])
        return out
