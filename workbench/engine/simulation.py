"""The SimPy engine: arrivals, routing, replica queues, outcomes, labels, ticks, rollback.

The traffic and each model's per-request draws are made up front (see
:mod:`.traffic` and :mod:`.serving`); the event loop decides which model serves
each request and when a replica is free. Events are plain SimPy timeouts with
callbacks (no process per request), so the engine costs about what a bare SimPy
M/M/c loop costs (``bench/engine.py`` measures it).

Statuses: every arrival ends in exactly one of ``ok``, ``error``, ``timeout``,
``dropped``. ``latency_ms`` is what the user waited (queue plus service, or the
timeout), ``queue_ms`` the wait for a replica.
"""

from __future__ import annotations

import dataclasses
import json
import math
from array import array
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import simpy
from simpy.events import Timeout

from ..ops.autoscaling import HorizontalAutoscaler
from ..rng import stream
from ..scenario import MonitoringConfig, Scenario
from ..strategies import (
    DROPPED,
    ERROR,
    OK,
    TIMEOUT,
    Request,
    Strategy,
    WindowMetrics,
    build_strategy,
)
from .dependency_impacts import dependency_segments
from .draws import ModelDraws, draw_model
from .labels import LabelPump
from .monitors import MonitorHub
from .predeployment import validate_candidate
from .server import CallLog, ReplicaPool, Server
from .shadow import Mirror
from .traffic import Traffic, generate_traffic

__all__ = ["Simulation", "EVENT_COLUMNS"]

EVENT_COLUMNS = ["time_s", "kind", "source", "model", "reason", "details"]
_CHUNK_ROWS = 16_384  # requests per chunk when building full-length result columns


class Simulation:
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
        self.traffic: Traffic = generate_traffic(scenario, self.seed)
        models = dict(models or {})
        unknown = set(models) - set(scenario.models)
        if unknown:
            raise ValueError(f"models given for names not in the scenario: {sorted(unknown)}")
        self.model_names: tuple[str, ...] = tuple(scenario.models)
        self.model_index = {name: k for k, name in enumerate(self.model_names)}
        self._legacy = self.model_index["legacy"]
        self.draws: list[ModelDraws] = [
            draw_model(scenario, name, self.traffic, self.seed, models.get(name))
            for name in self.model_names
        ]
        self.strategy = strategy if strategy is not None else build_strategy(scenario)
        self.progress = progress
        n = self.traffic.n
        self.n = n
        # request log: columnar buffers, one slot per arrival, filled in place
        self.log = CallLog(n)
        self.log_model = self.log.model
        self.log_status = self.log.status
        self.log_queue_ms = self.log.queue_ms
        self.log_latency_ms = self.log.latency_ms
        self.log_end_s = self.log.end_s
        self._started = self.log.started
        self.events: list[tuple] = []
        self.pools = [
            ReplicaPool(d.name, d.config.replicas, d.config.queue_limit, tracked=d.config.autoscaling is not None)
            for d in self.draws
        ]
        self.resource_samples: list[tuple] = []
        self.autoscalers: dict[int, HorizontalAutoscaler] = {}
        for k, d in enumerate(self.draws):
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
        self.rolled_back = False
        self.blocked = False  # a failed pre-deployment validation keeps the candidate out
        self.validation = None
        self._models_given = models
        self.rollback_time_s: float | None = None
        self.outcome_listeners: list[Callable[[int, int, float, int, float], None]] = []
        self._next = 0
        self.mirror = None
        self.rng = stream(self.seed, f"strategy:{scenario.strategy.kind}")
        self._cancelled: dict[int, int] = {}
        self._business_u: np.ndarray | None = None  # drawn on first use (see business_u)
        # fast per-model lookups (array.array indexing returns Python scalars)
        # (the numpy arrays become zero-copy views of these buffers: no duplicate memory)
        # (one model at a time, so only one model's arrays exist twice at any moment)
        self._service: list[array] = []
        self._fails: list[array] = []
        self._outage: list[array] = []
        for d in self.draws:
            self._service.append(_buffer("d", d.service_s))
            d.service_s = np.frombuffer(self._service[-1], dtype=np.float64)
            self._fails.append(_buffer("b", d.fails.view(np.int8)))
            d.fails = np.frombuffer(self._fails[-1], dtype=np.int8).view(bool)
            self._outage.append(_buffer("b", d.outage))
            d.outage = np.frombuffer(self._outage[-1], dtype=np.int8)
        self._outage_any = [bool(d.outage.any()) for d in self.draws]
        self._timeout_s = [
            (d.config.timeout_ms / 1000.0) if d.config.timeout_ms is not None else None
            for d in self.draws
        ]
        # the traffic's arrays become views of these buffers too (one copy in memory)
        self._times = _buffer("d", self.traffic.time_s)
        self.traffic = dataclasses.replace(self.traffic, time_s=np.frombuffer(self._times, dtype=np.float64))
        user_dtype = np.int32 if self.traffic.user_id.dtype == np.int32 else np.int64
        self._users = _buffer("i" if user_dtype is np.int32 else "q", self.traffic.user_id.astype(user_dtype, copy=False))
        self.traffic = dataclasses.replace(self.traffic, user_id=np.frombuffer(self._users, dtype=user_dtype))
        self.server = Server(self, self.log, self.pools, self._on_finish)
        self._labels = LabelPump(self.traffic.label_time_s, self.log_status)
        self.incidents: list[tuple] = []
        self.hub: MonitorHub | None = None
        if (scenario.monitoring is not None and scenario.monitoring.enabled) or scenario.rollback is not None:
            self.hub = MonitorHub(self, scenario.monitoring or MonitoringConfig(), scenario.rollback, alert_callbacks)
            self.outcome_listeners.append(self.hub.on_outcome)
        if self.strategy.mirrors:
            replicas = getattr(getattr(self.strategy, "config", None), "candidate_replicas", None)
            self.mirror = Mirror(self, "candidate", replicas)

    # ------------------------------------------------------------------ context for strategies
    @property
    def now_s(self) -> float:
        return self.env.now

    @property
    def models(self) -> tuple[str, ...]:
        return self.model_names

    @property
    def slo_latency_ms(self) -> float:
        return self.scenario.slo.latency_ms

    def emit(self, kind: str, reason: str = "", *, source: str | None = None, model: str = "", time_s: float | None = None, **details: Any) -> None:
        """Record an event row (strategy decisions, gates, faults, rollbacks)."""
        src = source or f"strategy:{self.strategy.kind}"
        t = self.env.now if time_s is None else time_s
        self.events.append((float(t), kind, src, model, reason, _json(details)))

    def rollback(self, reason: str, trigger: str, **details: Any) -> bool:
        """Send every request to legacy from the next one on. Returns False if already rolled back."""
        if self.rolled_back:
            return False
        self.rolled_back = True
        self.rollback_time_s = self.env.now
        self.emit("rollback", reason, source=trigger, model="candidate", **details)
        now = self.env.now
        metrics = self.hub.snapshot(now) if self.hub is not None else {
            name: {k: v for k, v in self.window(name, max(0.0, now - 60.0)).__dict__.items()
                   if k not in ("model",)}
            for name in self.model_names
        }
        violations = details.get("violations") or details.get("gates") or []
        self.incidents.append((now, trigger, reason, _json({"violations": violations}), _json(metrics),
                               _json({"strategy": self.strategy.kind, "state": self.strategy.state,
                                      "candidate_weight": self.strategy.candidate_weight()})))
        self.strategy.on_rollback(self.env.now)
        return True

    def _window_slice(self, start_s: float, end_s: float | None) -> tuple[int, int, float]:
        now = self.env.now
        end = now if end_s is None else min(end_s, now)
        lo = int(np.searchsorted(self.traffic.time_s, start_s, side="left"))
        hi = int(np.searchsorted(self.traffic.time_s, end, side="left"))
        return lo, hi, now

    def _window_arrays(self, model: str, start_s: float, end_s: float | None):
        lo, hi, now = self._window_slice(start_s, end_s)
        m = self.model_index[model]
        model_col = np.frombuffer(self.log_model, dtype=np.int8)[lo:hi]
        status = np.frombuffer(self.log_status, dtype=np.int8)[lo:hi]
        end = np.frombuffer(self.log_end_s, dtype=np.float64)[lo:hi]
        done = (model_col == m) & (status >= 0) & (end <= now)
        idx = np.nonzero(done)[0] + lo
        return idx, now

    def window_values(self, model: str, start_s: float, end_s: float | None = None) -> dict[str, np.ndarray]:
        """Per-request values of ``model`` for requests that arrived in the window and finished.

        Keys: ``latency_ms`` (non-dropped), ``error`` (1.0 for error/timeout/dropped),
        ``abs_error`` and ``business`` (for ``ok`` requests whose label has arrived).
        """
        idx, now = self._window_arrays(model, start_s, end_s)
        status = np.frombuffer(self.log_status, dtype=np.int8)[idx]
        latency = np.frombuffer(self.log_latency_ms, dtype=np.float64)[idx]
        served = status != DROPPED
        labelled = idx[(status == OK) & (self.traffic.label_time_s[idx] <= now)]
        d = self.draws[self.model_index[model]]
        abs_err = np.abs(d.prediction[labelled] - self.traffic.label[labelled])
        return {
            "latency_ms": latency[served],
            "error": (status != OK).astype(float),
            "abs_error": abs_err,
            "business": self._conversions(labelled, model),
        }

    def converted(self, request_id: int, model: str) -> bool:
        """Did request ``request_id`` served by ``model`` convert (business KPI)?"""
        return bool(self._conversions(np.array([request_id]), model)[0])

    @property
    def business_u(self) -> np.ndarray:
        """Uniform draw of each request's business outcome (stream ``business``, drawn on first use)."""
        if self._business_u is None:
            self._business_u = stream(self.seed, "business").random(self.n)
        return self._business_u

    def _conversions(self, idx: np.ndarray, model: str, u: np.ndarray | None = None) -> np.ndarray:
        """Conversions (1.0 or 0.0) of requests ``idx`` served by ``model``; ``u`` their business uniforms."""
        b = self.scenario.business
        d = self.draws[self.model_index[model]]
        abs_err = np.abs(d.prediction[idx] - self.traffic.label[idx])
        lat_s = np.frombuffer(self.log_latency_ms, dtype=np.float64)[idx] / 1000.0
        p = b.base_conversion * np.exp(-abs_err / b.error_scale) * np.exp(-lat_s * b.latency_penalty_per_s)
        return ((self.business_u[idx] if u is None else u) < p).astype(float)

    def conversion_column(self, chunk: int = _CHUNK_ROWS) -> np.ndarray:
        """Conversion of every request: 1.0 or 0.0 for ``ok`` requests, 0.0 otherwise.

        Computed ``chunk`` requests at a time, so the temporaries stay small; the
        business uniforms are drawn chunk by chunk when no one has drawn them yet
        (the same numbers as :attr:`business_u`).
        """
        n = self.n
        out = np.zeros(n)
        model = np.frombuffer(self.log_model, dtype=np.int8)
        status = np.frombuffer(self.log_status, dtype=np.int8)
        gen = stream(self.seed, "business") if self._business_u is None else None
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            u = gen.random(hi - lo) if gen is not None else self._business_u[lo:hi]
            ok = status[lo:hi] == OK
            part = model[lo:hi]
            for k, name in enumerate(self.model_names):
                sel = np.flatnonzero(ok & (part == k))
                if sel.size:
                    out[lo + sel] = self._conversions(lo + sel, name, u[sel])
        return out

    def release_draws(self) -> None:
        """Free the per-model draws and the business uniforms (once the results are built).

        Serving, window queries and conversions need them: call this only when the
        run is over and nothing will ask the simulation for per-request values again.
        """
        for buffers in (self._service, self._fails, self._outage):
            buffers.clear()
        self.draws.clear()
        self._business_u = None

    def window(self, model: str, start_s: float, end_s: float | None = None) -> WindowMetrics:
        """Aggregates of ``model`` over requests that arrived in ``[start_s, end_s)`` and finished."""
        idx, now = self._window_arrays(model, start_s, end_s)
        status = np.frombuffer(self.log_status, dtype=np.int8)[idx]
        latency = np.frombuffer(self.log_latency_ms, dtype=np.float64)[idx]
        n = int(idx.size)
        errors = int(np.count_nonzero(status == ERROR))
        timeouts = int(np.count_nonzero(status == TIMEOUT))
        dropped = int(np.count_nonzero(status == DROPPED))
        lat = latency[status != DROPPED]
        if lat.size:
            p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        else:
            p50 = p95 = p99 = math.nan
        labelled = idx[(status == OK) & (self.traffic.label_time_s[idx] <= now)]
        d = self.draws[self.model_index[model]]
        mae = float(np.mean(np.abs(d.prediction[labelled] - self.traffic.label[labelled]))) if labelled.size else math.nan
        conv = self._conversions(labelled, model)
        return WindowMetrics(
            model=model,
            start_s=float(start_s),
            end_s=float(now if end_s is None else min(end_s, now)),
            n=n,
            errors=errors,
            timeouts=timeouts,
            dropped=dropped,
            error_rate=(errors + timeouts + dropped) / n if n else math.nan,
            latency_p50_ms=float(p50),
            latency_p95_ms=float(p95),
            latency_p99_ms=float(p99),
            n_labelled=int(labelled.size),
            prediction_mae=mae,
            business_rate=float(conv.mean()) if conv.size else math.nan,
            slo_breaches=int(np.count_nonzero(lat > self.scenario.slo.latency_ms)),
        )

    # ------------------------------------------------------------------ event loop
    def run(self) -> Simulation:
        """Simulate the whole scenario, then let in-flight requests finish."""
        env = self.env
        sc = self.scenario
        for k, fault in enumerate(sc.faults):
            target = getattr(fault, "target", None) or getattr(fault, "feature", "") or "labels"
            details = fault.model_dump(mode="json")
            self.events.append((float(fault.start_s), "fault_start", "faults", target, f"{fault.kind} #{k} starts", _json(details)))
            if fault.end_s < sc.duration_s:
                self.events.append((float(fault.end_s), "fault_end", "faults", target, f"{fault.kind} #{k} ends", _json(details)))
        self._dependency_events()
        if sc.validation is not None:
            self._validate()
        if self.blocked:
            self.strategy.ctx = self  # never started: it routes nothing and decides nothing
            self.strategy.state = "blocked"
        else:
            self.strategy.start(self)
        if self.n:
            first = Timeout(env, self._times[0])
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

    def _validate(self) -> None:
        """Pre-deployment validation of the candidate before any traffic moves."""
        report = validate_candidate(self.scenario, self.seed, self._models_given)
        self.validation = report
        rows = [
            {"name": r.name, "passed": bool(r.passed), "value": r.value, "threshold": r.threshold}
            for r in report.results
        ]
        if report.passed:
            self.emit("validation_passed", report.summary(), source="validation", model="candidate", time_s=0.0,
                      checks=rows)
        else:
            blocking = self.scenario.validation.require_pass
            self.emit("validation_failed", report.summary() + ("; rollout blocked" if blocking else "; not blocking"),
                      source="validation", model="candidate", time_s=0.0, checks=rows)
            self.blocked = blocking

    def _dependency_events(self) -> None:
        previous: frozenset = frozenset()
        segments = dependency_segments(self.scenario)
        starts = {seg.start_s for seg in segments}
        for seg in segments:
            hit = {n: round(v, 4) for n, v in seg.impacts.items() if v > 0}
            if seg.failed != previous:
                self.emit("dependency_failure", f"down: {', '.join(sorted(map(str, seg.failed)))}; "
                          f"affected: {', '.join(f'{n} ({v:g})' for n, v in sorted(hit.items()) if n not in seg.failed)}",
                          source="dependencies", time_s=seg.start_s, failed=sorted(map(str, seg.failed)), impacts=hit)
            previous = seg.failed
            if seg.end_s < self.scenario.duration_s:
                if seg.end_s not in starts:
                    self.emit("dependency_recovered", "all dependencies healthy again; downstream recovered",
                              source="dependencies", time_s=seg.end_s)
                    previous = frozenset()

    def _monitor_loop(self):
        interval = self.hub.config.interval_s
        while self.env.now + interval <= self.scenario.duration_s:
            yield self.env.timeout(interval)
            self.hub.evaluate(self.env.now)

    def _resource_sampler(self):
        interval = self.scenario.resources.sample_interval_s
        status = self.log_status
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
        self.emit("scale", f"{pool.name}: {current} -> {desired} replicas (utilisation {util:.2f})",
                  source="autoscaler", model=pool.name, current=current, desired=desired, utilisation=util)

    def _on_provisioned(self, event) -> None:
        m, add = event._value
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

    def _progress_ticker(self):
        step = self.scenario.duration_s / 100.0
        while self.env.now + step < self.scenario.duration_s:
            yield self.env.timeout(step)
            self.progress(self.env.now / self.scenario.duration_s)

    def _ticker(self):
        """Wake for the strategy's analyses (every ``tick_interval_s``) and, when it wants
        labels, every second to deliver the labels that have arrived."""
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
        now = self.env.now
        on_label = self.strategy.on_label
        label = self.traffic.label
        for i in self._labels.pump(now).tolist():
            m = self.log_model[i]
            on_label(i, self.model_names[m], now, float(self.draws[m].prediction[i]), float(label[i]))

    def _on_arrival(self, _event) -> None:
        env = self.env
        i = self._next
        self._next = i + 1
        t = self._times[i]
        if i + 1 < self.n:
            nxt = Timeout(env, self._times[i + 1] - env.now)
            nxt.callbacks.append(self._on_arrival)
        strategy = self.strategy
        if self.rolled_back or self.blocked:
            m = self._legacy  # legacy serves everything
            request = None
        else:
            request = Request(i, t, self._users[i], self.traffic.features)
            name = strategy.route(request)
            try:
                m = self.model_index[name]
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


def _buffer(code: str, values: np.ndarray) -> array:
    """A :class:`array.array` of type ``code`` holding a copy of ``values`` (same item size)."""
    out = array(code)
    if out.itemsize != values.itemsize:  # pragma: no cover - platform guard
        raise TypeError(f"array type {code!r} holds {out.itemsize} bytes, values have {values.itemsize}")
    out.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
    return out


def _json(details: Mapping[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, default=_json_default, allow_nan=True)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
