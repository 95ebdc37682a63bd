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

import math
from collections.abc import Callable, Mapping
from typing import Any

import simpy
from simpy.events import Timeout

from ..ops.autoscaling import HorizontalAutoscaler
from ..scenario import MonitoringConfig, Scenario
from ..strategies import Request, Strategy, build_strategy
from .context import EVENT_COLUMNS, RunContext
from .control import ControlPlane
from .draws import draw_model
from .labels import LabelPump
from .monitors import MonitorHub
from .server import ReplicaPool, Server
from .shadow import Mirror
from .traffic import generate_traffic

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
        self.scenario = scenario
        self.seed = int(seed)
        self.env = simpy.Environment()
        traffic = generate_traffic(scenario, self.seed)
        models = dict(models or {})
        unknown = set(models) - set(scenario.models)
        if unknown:
            raise ValueError(f"models given for names not in the scenario: {sorted(unknown)}")
        draws = [draw_model(scenario, name, traffic, self.seed, models.get(name)) for name in scenario.models]
        self.strategy = strategy if strategy is not None else build_strategy(scenario)
        self.progress = progress
        self.context = ctx = RunContext(scenario, self.seed, self.env, traffic, draws)
        ctx.strategy = self.strategy
        self.n = ctx.n
        self.model_names = ctx.model_names
        del traffic, draws  # the context holds them (re-homed in its buffers)
        self._legacy = ctx.model_index["legacy"]
        self.pools = [
            ReplicaPool(d.name, d.config.replicas, d.config.queue_limit, tracked=d.config.autoscaling is not None)
            for d in ctx.draws
        ]
        self.resource_samples: list[tuple] = []
        self.autoscalers: dict[int, HorizontalAutoscaler] = {}
        for k, d in enumerate(ctx.draws):
            a = d.config.autoscaling
            if a is not None:
                self.autoscalers[k] = HorizontalAutoscaler(
                    a.target_utilisation,
                    a.min_replicas,
                    a.max_replicas,
                    tolerance=a.tolerance,
                    scale_down_stabilisation_s=a.scale_down_stabilisation_s,
                    provisioning_delay_s=a.provisioning_delay_s,
                    sync_period_s=a.sync_period_s,
                )
        self.blocked = False  # a failed pre-deployment validation keeps the candidate out
        self.validation = None
        self._models_given = models
        self.outcome_listeners: list[Callable[[int, int, float, int, float], None]] = []
        self.mirror: Mirror | None = None
        self._cancelled: dict[int, int] = {}
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
        self._fault_events()
        self._dependency_events()
        if sc.validation is not None:
            self._validate()
        if self.blocked:
            self.strategy.block(ctx)
        else:
            self.strategy.start(ctx)
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

    def _monitor_loop(self):
        interval = self.hub.config.interval_s
        while self.env.now + interval <= self.scenario.duration_s:
            yield self.env.timeout(interval)
            self.hub.evaluate(self.env.now)

    def _autoscale(self, m: int):
        hpa = self.autoscalers[m]
        pool = self.pools[m]
        period = hpa.sync_period_s
        last_area, last_t = 0.0, 0.0
        while self.env.now + period <= self.scenario.duration_s:
            yield self.env.timeout(period)
            now = self.env.now
            pool.account(now)
            ready = pool.capacity or 0
            span = now - last_t
            util = (pool.busy_area - last_area) / (span * ready) if ready and span > 0 else math.nan
            last_area, last_t = pool.busy_area, now
            current = ready + pool.provisioning
            desired = hpa.recommend(now, current, util)
            if desired != current:
                self._scale(m, current, desired, hpa.provisioning_delay_s, util)

    def _scale(self, m: int, current: int, desired: int, delay_s: float, util: float) -> None:
        pool = self.pools[m]
        now = self.env.now
        pool.account_fleet(now, self.scenario.duration_s)
        if desired > current:
            add = desired - current
            pool.provisioning += add
            ev = Timeout(self.env, delay_s, (m, add))
            ev.callbacks.append(self._on_provisioned)
        else:
            remove = current - desired
            cancel = min(remove, pool.provisioning)
            pool.provisioning -= cancel
            self._cancelled[m] = self._cancelled.get(m, 0) + cancel
            pool.capacity -= remove - cancel  # running work finishes; nothing new starts
        self.context.emit("scale", f"{pool.name}: {current} -> {desired} replicas (utilisation {util:.2f})",
                  source="autoscaler", model=pool.name, current=current, desired=desired, utilisation=util)

    def _on_provisioned(self, event) -> None:
        m, add = event.value
        pool = self.pools[m]
        cancelled = min(add, self._cancelled.get(m, 0))
        if cancelled:
            self._cancelled[m] -= cancelled
            add -= cancelled
            if not add:
                return
        pool.account_fleet(self.env.now, self.scenario.duration_s)
        pool.provisioning -= add
        pool.capacity += add
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
