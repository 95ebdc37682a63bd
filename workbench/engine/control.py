"""The control plane both engines share: the run's scheduled processes and event records.

Fault windows, dependency changes and pre-deployment validation are recorded as
events before the first arrival; the strategy's analyses (and label deliveries),
the fleet samples, the autoscalers and the progress reports are SimPy processes. The reference
engine (:class:`~.simulation.Simulation`) and the fast engine
(:class:`~.fast.FastSimulation`) both derive from :class:`ControlPlane`, so the
control events are the same code in both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from simpy.events import Timeout

from ..ops.autoscaling import HorizontalAutoscaler
from ..scenario import Scenario
from ..strategies import Strategy, build_strategy
from .context import RunContext, to_json_text
from .dependency_impacts import dependency_segments
from .draws import draw_model
from .predeployment import validate_candidate
from .traffic import generate_traffic

__all__ = ["ControlPlane"]


class ControlPlane:
    """Control processes and event records of one run (a base class of both engines).

    A subclass sets ``scenario``, ``seed``, ``env``, ``context``, ``strategy``,
    ``pools``, ``resource_samples``, ``progress``, ``validation``, ``blocked`` and
    ``_models_given``, ``hub`` (and ``_labels`` when its strategy wants labels), calls
    :meth:`_init_autoscaling`, and implements :meth:`_set_capacity`. A pool offers
    ``name``, ``capacity``, ``provisioning``, ``busy``, ``queue``, ``waiting(status)``,
    ``account(now_s)``, ``busy_area`` and ``account_fleet(now_s, end_s)``.
    """

    def _init_autoscaling(self) -> None:
        """One :class:`HorizontalAutoscaler` per autoscaled model (``autoscalers``, by model code)."""
        self.autoscalers: dict[int, HorizontalAutoscaler] = {}
        for k, d in enumerate(self.context.draws):
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
        self._cancelled: dict[int, int] = {}  # per model: provisioning replicas cancelled before ready

    def _set_capacity(self, m: int, capacity: int) -> None:
        """Give model ``m``'s pool ``capacity`` ready replicas now (a larger pool starts queued calls)."""
        raise NotImplementedError

    def _set_up_run(self, scenario: Scenario, seed: int, env, *, models: Mapping[str, Any] | None,
                    strategy: Strategy | None, progress: Callable[[float], None] | None) -> RunContext:
        """Draw the traffic and every model's values, build the strategy and the run's context.

        Both engines start a run this way, so they see the same draws and the same
        strategy; the engine then builds its pools around the context it returns.
        """
        self.scenario = scenario
        self.seed = int(seed)
        self.env = env
        models = dict(models or {})
        unknown = set(models) - set(scenario.models)
        if unknown:
            raise ValueError(f"models given for names not in the scenario: {sorted(unknown)}")
        traffic = generate_traffic(scenario, self.seed)
        draws = [draw_model(scenario, name, traffic, self.seed, models.get(name)) for name in scenario.models]
        traffic = dataclasses.replace(traffic, signal=None)  # the predictions are drawn
        self.strategy = strategy if strategy is not None else build_strategy(scenario)
        self.progress = progress
        self.context = ctx = RunContext(scenario, self.seed, env, traffic, draws)
        ctx.strategy = self.strategy
        self.n = ctx.n
        self.model_names = ctx.model_names
        self._legacy = ctx.model_index["legacy"]
        self.resource_samples: list[tuple] = []
        self.blocked = False  # a failed pre-deployment validation keeps the candidate out
        self.validation = None
        self._models_given = models
        return ctx

    def _start_run(self) -> None:
        """Record faults and dependency changes, run pre-deployment validation, start the strategy.

        A failed validation that blocks the rollout leaves the strategy unstarted
        (:meth:`~workbench.strategies.Strategy.block`): it routes nothing and decides nothing.
        """
        self._fault_events()
        self._dependency_events()
        if self.scenario.validation is not None:
            self._validate()
        if self.blocked:
            self.strategy.block(self.context)
        else:
            self.strategy.start(self.context)

    @property
    def rolled_back(self) -> bool:
        """Whether the run rolled back (every later request went to legacy)."""
        return self.context.rolled_back

    def _fault_events(self) -> None:
        """Record each fault window's start and end as events."""
        sc = self.scenario
        events = self.context.events
        for k, fault in enumerate(sc.faults):
            target = getattr(fault, "target", None) or getattr(fault, "feature", "") or "labels"
            details = fault.model_dump(mode="json")
            events.append((float(fault.start_s), "fault_start", "faults", target, f"{fault.kind} #{k} starts",
                           to_json_text(details)))
            if fault.end_s < sc.duration_s:
                events.append((float(fault.end_s), "fault_end", "faults", target, f"{fault.kind} #{k} ends",
                               to_json_text(details)))

    def _validate(self) -> None:
        """Pre-deployment validation of the candidate before any traffic moves."""
        report = validate_candidate(self.scenario, self.seed, self._models_given)
        self.validation = report
        rows = [
            {"name": r.name, "passed": bool(r.passed), "value": r.value, "threshold": r.threshold}
            for r in report.results
        ]
        if report.passed:
            self.context.emit("validation_passed", report.summary(), source="validation", model="candidate", time_s=0.0,
                      checks=rows)
        else:
            blocking = self.scenario.validation.require_pass
            self.context.emit("validation_failed", report.summary() + ("; rollout blocked" if blocking else "; not blocking"),
                      source="validation", model="candidate", time_s=0.0, checks=rows)
            self.blocked = blocking

    def _dependency_events(self) -> None:
        previous: frozenset = frozenset()
        segments = dependency_segments(self.scenario)
        starts = {seg.start_s for seg in segments}
        for seg in segments:
            hit = {n: round(v, 4) for n, v in seg.impacts.items() if v > 0}
            if seg.failed != previous:
                self.context.emit("dependency_failure", f"down: {', '.join(sorted(map(str, seg.failed)))}; "
                          f"affected: {', '.join(f'{n} ({v:g})' for n, v in sorted(hit.items()) if n not in seg.failed)}",
                          source="dependencies", time_s=seg.start_s, failed=sorted(map(str, seg.failed)), impacts=hit)
            previous = seg.failed
            if seg.end_s < self.scenario.duration_s:
                if seg.end_s not in starts:
                    self.context.emit("dependency_recovered", "all dependencies healthy again; downstream recovered",
                              source="dependencies", time_s=seg.end_s)
                    previous = frozenset()

    def _resource_sampler(self):
        interval = self.scenario.resources.sample_interval_s
        status = self.context.log.status
        while True:
            now = self.env.now
            for pool in self.pools:
                waiting = pool.waiting(status) if pool.queue else 0
                replicas = pool.capacity
                util = pool.busy / replicas if replicas else math.nan
                self.resource_samples.append(
                    (now, pool.name, math.nan if replicas is None else replicas, pool.provisioning,
                     pool.busy, waiting, pool.busy + waiting, util)
                )
            if now + interval > self.scenario.duration_s:
                return
            yield self.env.timeout(interval)

    def _monitor_loop(self):
        """Every ``monitoring.interval_s``: the monitor hub's scheduled evaluation."""
        interval = self.hub.config.interval_s
        while self.env.now + interval <= self.scenario.duration_s:
            yield self.env.timeout(interval)
            self.hub.evaluate(self.env.now)

    def _autoscale(self, m: int):
        """Every ``sync_period_s``: model ``m``'s utilisation since the last sync, and the autoscaler's answer."""
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
        """Add replicas (ready after ``delay_s``) or remove them (provisioning ones first)."""
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
            if remove - cancel:
                self._set_capacity(m, pool.capacity - (remove - cancel))  # running work finishes
        self.context.emit("scale", f"{pool.name}: {current} -> {desired} replicas (utilisation {util:.2f})",
                  source="autoscaler", model=pool.name, current=current, desired=desired, utilisation=util)

    def _on_provisioned(self, event) -> None:
        """Replicas finished provisioning: those not cancelled meanwhile start serving."""
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
        self._set_capacity(m, pool.capacity + add)

    def _progress_ticker(self):
        step = self.scenario.duration_s / 100.0
        while self.env.now + step < self.scenario.duration_s:
            yield self.env.timeout(step)
            self.progress(self.env.now / self.scenario.duration_s)

    def _ticker(self):
        """Wake the strategy for its analyses and its labels.

        Analyses run every ``tick_interval_s``; a strategy that wants labels is also
        woken every second to receive the labels that have arrived.
        """
        strategy = self.strategy
        interval = strategy.tick_interval_s
        next_tick = interval if interval else math.inf
        label_step = 1.0 if strategy.wants_labels else math.inf
        next_label = label_step
        duration = self.scenario.duration_s
        while True:
            wake = min(next_tick, next_label)
            if wake > duration:
                return
            yield self.env.timeout(wake - self.env.now)
            if strategy.wants_labels:
                self._deliver_labels()
                while next_label <= self.env.now + 1e-9:
                    next_label += label_step
            if interval and self.env.now >= next_tick - 1e-9:
                next_tick += interval
                strategy.tick(self.env.now)

    def _deliver_labels(self) -> None:
        ctx = self.context
        now = self.env.now
        on_label = self.strategy.on_label
        label = ctx.traffic.label
        model = ctx.log.model
        for i in self._labels.pump(now).tolist():
            m = model[i]
            on_label(i, ctx.model_names[m], now, float(ctx.predictions(m)[i]), float(label[i]))
