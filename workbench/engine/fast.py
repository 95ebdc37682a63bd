"""The fast engine: SimPy for the control plane, the FIFO kernel for the requests.

:class:`FastSimulation` gives the results of :class:`~.simulation.Simulation`, bit
for bit, for the scenarios :func:`supports` accepts, at a fraction of the cost: SimPy
schedules only the control events (strategy ticks, resource samples, progress),
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

What it cannot serve (see :func:`supports`): a monitor hub (monitors and rollback
policies read every outcome as it happens), autoscaling, strategies that want
outcomes or labels or mirror requests, custom strategy objects (their ``route``
might read the clock) and real estimators.

An arrival at exactly the float time of a control event is routed after it (the
engine orders the two by creation; with continuous arrival draws they never meet).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy
from simpy.core import EmptySchedule
from simpy.events import NORMAL

from ..scenario import Scenario
from ..strategies import (
    STRATEGY_KINDS,
    ABTest,
    BlueGreen,
    Canary,
    Progressive,
    Single,
    Strategy,
    build_strategy,
)
from .context import RunContext
from .control import ControlPlane
from .draws import draw_model
from .fifo import FifoPool, arrival_clock
from .traffic import generate_traffic

__all__ = ["FastSimulation", "supports", "FAST_STRATEGY_KINDS"]

# strategies whose route reads only the request (never the clock) and that want no outcomes,
# no labels and no mirrored calls
_FAST_STRATEGIES: dict[str, type[Strategy]] = {
    "single": Single,
    "ab": ABTest,
    "canary": Canary,
    "progressive": Progressive,
    "blue_green": BlueGreen,
}
FAST_STRATEGY_KINDS = tuple(_FAST_STRATEGIES)


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
    if scenario.monitoring is not None and scenario.monitoring.enabled:
        return "monitoring is enabled (monitors read every outcome as it happens)"
    if scenario.rollback is not None:
        return "a [rollback] policy needs the monitors"
    scaled = [name for name, cfg in scenario.models.items() if cfg.autoscaling is not None]
    if scaled:
        return f"model {scaled[0]!r} autoscales"
    if strategy is None:
        kind = scenario.strategy.kind
        if kind not in _FAST_STRATEGIES:
            return f"strategy {kind!r} is not one of {', '.join(FAST_STRATEGY_KINDS)}"
        return None
    if type(strategy) not in _FAST_STRATEGIES.values():
        if STRATEGY_KINDS.get(strategy.kind) is type(strategy):
            return f"strategy {strategy.kind!r} is not one of {', '.join(FAST_STRATEGY_KINDS)}"
        return f"custom strategy object {type(strategy).__name__} (its route might read the clock)"
    if strategy.wants_outcomes or strategy.wants_labels or strategy.mirrors:
        return f"strategy {strategy.kind!r} wants outcomes, labels or mirrored calls"
    return None


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
    """A model's :class:`FifoPool` seen as the engine's replica pool (name, capacity, busy, queue).

    It offers what the resource sampler and the results builder read of a
    :class:`~.server.ReplicaPool`; the fleet never changes (no autoscaling), so the
    paid replica-seconds are ``capacity * duration``.
    """

    def __init__(self, name: str, kernel: FifoPool):
        self.name = name
        self.kernel = kernel
        self.provisioning = 0
        self.fleet_area = 0.0

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

    def waiting(self, _status) -> int:
        """How many calls wait for a replica now."""
        return len(self.kernel.waiting)

    def account_fleet(self, now_s: float) -> None:
        """Paid replica-seconds from 0 to ``now_s`` (the run's end)."""
        if self.capacity is not None:
            self.fleet_area += (self.capacity + self.provisioning) * now_s


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
        Accepted for symmetry with the reference engine; unused (no monitors).

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
        del alert_callbacks  # no monitors on this engine
        self.scenario = scenario
        self.seed = int(seed)
        self.strategy = strategy if strategy is not None else build_strategy(scenario)
        reason = supports(scenario, self.strategy, models=models)
        if reason is not None:
            raise ValueError(f"the fast engine cannot run this scenario exactly: {reason}")
        self.env = _ControlEnvironment()
        traffic = generate_traffic(scenario, self.seed)
        draws = [draw_model(scenario, name, traffic, self.seed) for name in scenario.models]
        self.progress = progress
        self.context = ctx = RunContext(scenario, self.seed, self.env, traffic, draws)
        ctx.strategy = self.strategy
        self.n = ctx.n
        self.model_names = ctx.model_names
        del traffic, draws  # the context holds them
        self._legacy = ctx.model_index["legacy"]
        self.resource_samples: list[tuple] = []
        self.blocked = False
        self.validation = None
        self._models_given: dict[str, Any] = {}
        self.mirror = None
        self.hub = None
        self._clock_s = arrival_clock(ctx.traffic.time_s)
        self.pools = [
            _KernelPool(d.name, FifoPool(
                ctx.traffic.time_s, d.service_s, d.fails, d.outage,
                capacity=d.config.replicas, queue_limit=d.config.queue_limit,
                timeout_s=ctx.timeout_s[k], clock_s=self._clock_s,
            ))
            for k, d in enumerate(ctx.draws)
        ]
        self._kernels = [p.kernel for p in self.pools]
        self._unwritten = [0] * len(self.pools)  # per pool: log rows below this hold final results
        self._log_model = np.frombuffer(ctx.log.model, dtype=np.int8)
        self._log_columns = [
            (np.frombuffer(ctx.log.status, dtype=np.int8), "status"),
            (np.frombuffer(ctx.log.queue_ms, dtype=np.float64), "queue_ms"),
            (np.frombuffer(ctx.log.latency_ms, dtype=np.float64), "latency_ms"),
            (np.frombuffer(ctx.log.end_s, dtype=np.float64), "end_s"),
            (np.frombuffer(ctx.log.started, dtype=np.int8), "started"),
        ]
        self.env.stamp = lambda: tuple(kernel.mark() for kernel in self._kernels)

    # ------------------------------------------------------------------ control loop
    def run(self) -> FastSimulation:
        """Simulate the whole scenario, then let in-flight requests finish."""
        env = self.env
        sc = self.scenario
        ctx = self.context
        self._fault_events()
        self._dependency_events()
        if sc.validation is not None:
            self._validate()
        if self.blocked:
            self.strategy.block(ctx)
        else:
            self.strategy.start(ctx)
        if self.strategy.tick_interval_s:
            env.process(self._ticker())
        if self.progress is not None:
            env.process(self._progress_ticker())
        env.process(self._resource_sampler())
        # the skeleton of Simulation.run with env.run() unrolled: before each control
        # event, the requests are served up to it
        while env.peek() < math.inf:
            self._serve_until(env.peek(), env.next_stamp())
            env.step()
        self._serve_until(math.inf, None)
        for pool in self.pools:
            pool.account_fleet(sc.duration_s)
        if self.progress is not None:
            self.progress(1.0)
        return self

    # ------------------------------------------------------------------ data plane
    def _serve_until(self, until_s: float, stamp: tuple[int, ...] | None) -> None:
        """Route and serve the arrivals before ``until_s``, advance the pools to it, log the results."""
        ctx = self.context
        lo = ctx.arrived
        hi = int(np.searchsorted(self._clock_s, until_s, side="left")) if until_s < math.inf else ctx.n
        if hi > lo:
            codes = self._route(lo, hi)
            for m, kernel in enumerate(self._kernels):
                ids = np.flatnonzero(codes == m)
                if ids.size:
                    kernel.serve(ids + lo)
            ctx.arrived = hi
        for m, kernel in enumerate(self._kernels):
            if stamp is None:
                kernel.advance()
            else:
                kernel.advance(until_s, stamp[m])
            self._write(m, hi)

    def _route(self, lo: int, hi: int) -> np.ndarray:
        """Model codes of arrivals ``lo`` to ``hi`` (the strategy routes them as one batch, in order)."""
        ctx = self.context
        out = self._log_model[lo:hi]
        if ctx.rolled_back or self.blocked:
            out[:] = self._legacy  # legacy serves everything
            return out
        traffic = ctx.traffic
        names = self.strategy.route_batch(
            np.arange(lo, hi), traffic.time_s[lo:hi], traffic.user_id[lo:hi], traffic.features
        )
        routed = 0
        for name, code in ctx.model_index.items():
            mine = names == name
            out[mine] = code
            routed += int(np.count_nonzero(mine))
        if routed != hi - lo:
            bad = next(str(name) for name in names if name not in ctx.model_index)
            raise RuntimeError(f"strategy {self.strategy.kind!r} routed to unknown model {bad!r}")
        return out

    def _write(self, m: int, hi: int) -> None:
        """Copy pool ``m``'s decided results for the rows it has not finalised into the request log."""
        kernel = self._kernels[m]
        lo = self._unwritten[m]
        res = kernel.result()
        if hi > lo:
            mine = self._log_model[lo:hi] == m
            for column, name in self._log_columns:
                np.copyto(column[lo:hi], getattr(res, name)[lo:hi], where=mine, casting="unsafe")
        self._unwritten[m] = kernel.waiting[0][2] if kernel.waiting else hi
