"""The SimPy event loop: arrivals, routing, serving, ticks, autoscaling, monitors, drain.

The traffic and each model's per-request draws are made up front (see
:mod:`.traffic` and :mod:`.draws`); the event loop decides which model serves
each request and when a replica is free. Events are plain SimPy timeouts with
callbacks (no process per request), so the engine costs about what a bare SimPy
M/M/c loop costs (``bench/engine.py`` measures it). The run's shared state (the
request log, events, incidents, rollback) lives in :class:`~.context.RunContext`,
which is also what strategies see; results are built from it by
:func:`~.results.build_result`.

Statuses (:mod:`workbench.status`): every arrival ends in exactly one of ``ok``,
``error``, ``timeout``, ``dropped``. ``latency_ms`` is what the user waited (queue
plus service, or the timeout), ``queue_ms`` the wait for a replica.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import simpy
from simpy.events import Timeout

from ..scenario import MonitoringConfig, Scenario
from ..strategies import Request, Strategy
from .context import EVENT_COLUMNS
from .control import ControlPlane
from .labels import LabelPump
from .monitors import MonitorHub
from .server import ReplicaPool, Server
from .shadow import Mirror

__all__ = ["Simulation", "EVENT_COLUMNS"]


class Simulation(ControlPlane):
    """One run of one scenario with one seed. Use :func:`workbench.run` instead.

    Parameters
    ----------
    scenario : Scenario
    seed : int
    models : mapping of model name to an object with ``predict``, optional
        Real estimators to serve instead of the synthetic models.
    strategy : Strategy, optional
        A strategy object to use instead of the scenario's ``[strategy]``.
    progress : callable, optional
        ``progress(fraction_done)`` called about 100 times during the run.
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
        ctx = self._set_up_run(scenario, seed, simpy.Environment(), models=models, strategy=strategy,
                               progress=progress)
        self.pools = [
            ReplicaPool(d.name, d.config.replicas, d.config.queue_limit, tracked=d.config.autoscaling is not None)
            for d in ctx.draws
        ]
        self._init_autoscaling()
        self.outcome_listeners: list[Callable[[int, int, float, int, float], None]] = []
        self.mirror: Mirror | None = None
        self.server = Server(ctx, ctx.log, self.pools, self._on_finish)
        self._labels = LabelPump(ctx.traffic.label_time_s, ctx.log.status)
        self.hub: MonitorHub | None = None
        if (scenario.monitoring is not None and scenario.monitoring.enabled) or scenario.rollback is not None:
            self.hub = MonitorHub(ctx, scenario.monitoring or MonitoringConfig(), scenario.rollback, alert_callbacks)
            ctx.metrics_at = self.hub.snapshot
            self.outcome_listeners.append(self.hub.on_outcome)
        if self.strategy.mirrors:
            self.mirror = Mirror(ctx, "candidate", self.strategy.mirror_replicas)

    # ------------------------------------------------------------------ event loop
    def run(self) -> Simulation:
        """Simulate the whole scenario, then let in-flight requests finish."""
        env = self.env
        sc = self.scenario
        ctx = self.context
        self._start_run()
        if ctx.n:
            first = Timeout(env, ctx.arrival_s[0])
            first.callbacks.append(self._on_arrival)
        if self.strategy.tick_interval_s or self.strategy.wants_labels:
            env.process(self._ticker())
        if self.progress is not None:
            env.process(self._progress_ticker())
        env.process(self._resource_sampler())
        if self.hub is not None:
            env.process(self._monitor_loop())
        for m in self.autoscalers:
            env.process(self._autoscale(m))
        env.run(until=sc.duration_s)
        for pool in self.pools:
            pool.account_fleet(sc.duration_s)
        env.run()  # drain: in-flight requests complete, nothing new arrives
        if self.progress is not None:
            self.progress(1.0)
        return self

    def _set_capacity(self, m: int, capacity: int) -> None:
        """Give model ``m``'s pool ``capacity`` ready replicas now; a larger pool starts queued calls."""
        pool = self.pools[m]
        grows = capacity > pool.capacity
        pool.capacity = capacity
        if grows:
            self.server.drain(m)

    def _on_arrival(self, _event) -> None:
        env = self.env
        ctx = self.context
        i = ctx.arrived
        ctx.arrived = i + 1
        times = ctx.arrival_s
        t = times[i]
        if i + 1 < ctx.n:
            nxt = Timeout(env, times[i + 1] - env.now)
            nxt.callbacks.append(self._on_arrival)
        strategy = self.strategy
        if ctx.rolled_back or self.blocked:
            m = self._legacy  # legacy serves everything
            request = None
        else:
            request = Request(i, t, ctx.user_ids[i], ctx.traffic.features)
            name = strategy.route(request)
            try:
                m = ctx.model_index[name]
            except KeyError:
                raise RuntimeError(f"strategy {strategy.kind!r} routed to unknown model {name!r}") from None
        if strategy.mirrors and request is not None and self.mirror is not None and strategy.mirror(request):
            self.mirror.send(i, t)
        self.server.dispatch(i, m, t)

    def _on_finish(self, i: int, m: int, now: float, status: int, latency_ms: float) -> None:
        """A user's request finished: tell the strategy and the monitors."""
        if self.strategy.wants_outcomes:
            self.strategy.on_outcome(i, self.model_names[m], now, status, latency_ms)
        for listener in self.outcome_listeners:
            listener(i, m, now, status, latency_ms)
