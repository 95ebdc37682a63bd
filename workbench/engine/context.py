"""The state of one run shared by the engine's parts, and what strategies see of it.

:class:`RunContext` holds the request log (one slot per arrival, filled in place by
the servers), the traffic and the per-model draws as fast lookup buffers, the
event and incident records and the rollback state. It is the one implementation
of :class:`~workbench.strategies.StrategyContext`: strategies read windows of
finished requests through it, record decisions with :meth:`RunContext.emit` and
ask for the run's single rollback with :meth:`RunContext.rollback`. The event loop
(:mod:`.simulation`), the servers, the monitor hub and the results builder use
only its public attributes and methods.
"""

from __future__ import annotations

import dataclasses
import json
import math
from array import array
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..rng import stream
from ..scenario import Scenario
from ..status import DROPPED, ERROR, OK, PENDING, TIMEOUT
from ..strategies import Strategy, WindowMetrics
from .draws import ModelDraws
from .server import CallLog
from .traffic import Traffic

__all__ = ["RunContext", "EVENT_COLUMNS", "INCIDENT_COLUMNS", "to_json_text"]

EVENT_COLUMNS = ["time_s", "kind", "source", "model", "reason", "details"]
INCIDENT_COLUMNS = ["time_s", "trigger", "reason", "violations", "metrics", "strategy_state"]
CHUNK_ROWS = 16_384  # requests per chunk when building full-length result columns


class RunContext:
    """One run's shared state: request log, traffic, draws, events, incidents, rollback.

    Parameters
    ----------
    scenario : Scenario
    seed : int
    env : simpy.Environment
        The run's clock (``now_s``).
    traffic : Traffic
        Arrivals drawn up front; its ``time_s`` and ``user_id`` arrays are re-homed
        in :class:`array.array` buffers (fast scalar reads, no second copy).
    draws : list of ModelDraws
        Per-model draws in the order of ``scenario.models``; their service, failure
        and outage arrays are re-homed the same way.
    """

    def __init__(self, scenario: Scenario, seed: int, env, traffic: Traffic, draws: list[ModelDraws]):
        self.scenario = scenario
        self.seed = int(seed)
        self.env = env
        self.model_names: tuple[str, ...] = tuple(scenario.models)
        self.model_index = {name: k for k, name in enumerate(self.model_names)}
        self.draws = draws
        self.n = traffic.n
        self.log = CallLog(self.n)
        self.events: list[tuple] = []
        self.incidents: list[tuple] = []
        self.rolled_back = False
        self.rollback_time_s: float | None = None
        self.arrived = 0  # arrivals routed so far (request ids below this have arrived)
        self.rng = stream(self.seed, f"strategy:{scenario.strategy.kind}")
        self.strategy: Strategy | None = None  # set by the event loop before the first arrival
        # health of every model at a time, for incident records (the monitor hub's, when there is one)
        self.metrics_at: Callable[[float], dict[str, Any]] | None = None
        self._business_u: np.ndarray | None = None  # drawn on first use (see business_u)
        # fast per-model lookups (array.array indexing returns Python scalars); the numpy
        # arrays become zero-copy views of these buffers, one model at a time, so only one
        # model's arrays exist twice at any moment
        self.service_s: list[array] = []
        self.fails: list[array] = []
        self.outage: list[array] = []
        for d in draws:
            self.service_s.append(_buffer("d", d.service_s))
            d.service_s = np.frombuffer(self.service_s[-1], dtype=np.float64)
            self.fails.append(_buffer("b", d.fails.view(np.int8)))
            d.fails = np.frombuffer(self.fails[-1], dtype=np.int8).view(bool)
            self.outage.append(_buffer("b", d.outage))
            d.outage = np.frombuffer(self.outage[-1], dtype=np.int8)
        self.outage_any = [bool(d.outage.any()) for d in draws]
        self.timeout_s = [
            (d.config.timeout_ms / 1000.0) if d.config.timeout_ms is not None else None for d in draws
        ]
        # the traffic's arrays become views of these buffers too (one copy in memory)
        self.arrival_s = _buffer("d", traffic.time_s)
        traffic = dataclasses.replace(traffic, time_s=np.frombuffer(self.arrival_s, dtype=np.float64))
        user_dtype = np.int32 if traffic.user_id.dtype == np.int32 else np.int64
        self.user_ids = _buffer("i" if user_dtype is np.int32 else "q", traffic.user_id.astype(user_dtype, copy=False))
        self.traffic = dataclasses.replace(traffic, user_id=np.frombuffer(self.user_ids, dtype=user_dtype))

    # ------------------------------------------------------------------ the strategies' view
    @property
    def now_s(self) -> float:
        """Simulated time now, in seconds."""
        return self.env.now

    @property
    def models(self) -> tuple[str, ...]:
        """Model names in the scenario's order (their index is the model code)."""
        return self.model_names

    @property
    def slo_latency_ms(self) -> float:
        """The scenario's latency objective."""
        return self.scenario.slo.latency_ms

    def emit(self, kind: str, reason: str = "", *, source: str | None = None, model: str = "",
             time_s: float | None = None, **details: Any) -> None:
        """Record an event row (strategy decisions, gates, faults, alerts, rollbacks)."""
        src = source or f"strategy:{self.strategy.kind}"
        t = self.env.now if time_s is None else time_s
        self.events.append((float(t), kind, src, model, reason, to_json_text(details)))

    def rollback(self, reason: str, trigger: str, **details: Any) -> bool:
        """Send every request to legacy from the next one on, and record the incident.

        Returns False (and does nothing) if the run has already rolled back: a run
        has at most one rollback, whoever asks for it (gates or monitors).
        """
        if self.rolled_back:
            return False
        self.rolled_back = True
        now = self.env.now
        self.rollback_time_s = now
        self.emit("rollback", reason, source=trigger, model="candidate", **details)
        metrics = self.metrics_at(now) if self.metrics_at is not None else {
            name: {k: v for k, v in self.window(name, max(0.0, now - 60.0)).__dict__.items() if k != "model"}
            for name in self.model_names
        }
        violations = details.get("violations") or details.get("gates") or []
        strategy = self.strategy
        self.incidents.append((now, trigger, reason, to_json_text({"violations": violations}), to_json_text(metrics),
                               to_json_text({"strategy": strategy.kind, "state": strategy.state,
                                             "candidate_weight": strategy.candidate_weight()})))
        strategy.on_rollback(now)
        return True

    def window(self, model: str, start_s: float, end_s: float | None = None) -> WindowMetrics:
        """Aggregates of ``model`` over requests that arrived in ``[start_s, end_s)`` and finished."""
        idx, now = self._finished_in_window(model, start_s, end_s)
        status = np.frombuffer(self.log.status, dtype=np.int8)[idx]
        latency = np.frombuffer(self.log.latency_ms, dtype=np.float64)[idx]
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
        conv = self.conversions(labelled, model)
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

    def window_values(self, model: str, start_s: float, end_s: float | None = None) -> dict[str, np.ndarray]:
        """Per-request values of ``model`` for requests that arrived in the window and finished.

        Keys: ``latency_ms`` (non-dropped), ``error`` (1.0 for error/timeout/dropped),
        ``abs_error`` and ``business`` (for ``ok`` requests whose label has arrived).
        """
        idx, now = self._finished_in_window(model, start_s, end_s)
        status = np.frombuffer(self.log.status, dtype=np.int8)[idx]
        latency = np.frombuffer(self.log.latency_ms, dtype=np.float64)[idx]
        served = status != DROPPED
        labelled = idx[(status == OK) & (self.traffic.label_time_s[idx] <= now)]
        d = self.draws[self.model_index[model]]
        abs_err = np.abs(d.prediction[labelled] - self.traffic.label[labelled])
        return {
            "latency_ms": latency[served],
            "error": (status != OK).astype(float),
            "abs_error": abs_err,
            "business": self.conversions(labelled, model),
        }

    def user_activity(self, top: int = 100_000) -> tuple[np.ndarray, np.ndarray, float]:
        """The most active users' ids and request probabilities, and the rest's (for step planning)."""
        from .traffic import user_activity

        return user_activity(self.scenario, self.seed, top)

    def converted(self, request_id: int, model: str) -> bool:
        """Whether request ``request_id`` served by ``model`` converted (business KPI)."""
        return bool(self.conversions(np.array([request_id]), model)[0])

    def _finished_in_window(self, model: str, start_s: float, end_s: float | None) -> tuple[np.ndarray, float]:
        now = self.env.now
        end = now if end_s is None else min(end_s, now)
        lo = int(np.searchsorted(self.traffic.time_s, start_s, side="left"))
        hi = int(np.searchsorted(self.traffic.time_s, end, side="left"))
        m = self.model_index[model]
        model_col = np.frombuffer(self.log.model, dtype=np.int8)[lo:hi]
        status = np.frombuffer(self.log.status, dtype=np.int8)[lo:hi]
        finished = np.frombuffer(self.log.end_s, dtype=np.float64)[lo:hi]
        done = (model_col == m) & (status != PENDING) & (finished <= now)
        return np.nonzero(done)[0] + lo, now

    # ------------------------------------------------------------------ per-request values
    def predictions(self, m: int) -> np.ndarray:
        """Model ``m``'s prediction for every request (what it answers if it serves it)."""
        return self.draws[m].prediction

    @property
    def business_u(self) -> np.ndarray:
        """Uniform draw of each request's business outcome (stream ``business``, drawn on first use)."""
        if self._business_u is None:
            self._business_u = stream(self.seed, "business").random(self.n)
        return self._business_u

    @property
    def business_drawn(self) -> bool:
        """Whether anyone has asked for the business uniforms yet."""
        return self._business_u is not None

    def conversions(self, idx: np.ndarray, model: str, u: np.ndarray | None = None) -> np.ndarray:
        """Conversions (1.0 or 0.0) of requests ``idx`` served by ``model``; ``u`` their business uniforms."""
        b = self.scenario.business
        d = self.draws[self.model_index[model]]
        abs_err = np.abs(d.prediction[idx] - self.traffic.label[idx])
        lat_s = np.frombuffer(self.log.latency_ms, dtype=np.float64)[idx] / 1000.0
        p = b.base_conversion * np.exp(-abs_err / b.error_scale) * np.exp(-lat_s * b.latency_penalty_per_s)
        return ((self.business_u[idx] if u is None else u) < p).astype(float)

    def conversion_column(self, chunk: int = CHUNK_ROWS) -> np.ndarray:
        """Conversion of every request: 1.0 or 0.0 for ``ok`` requests, 0.0 otherwise.

        Computed ``chunk`` requests at a time, so the temporaries stay small; the
        business uniforms are drawn chunk by chunk when no one has drawn them yet
        (the same numbers as :attr:`business_u`).
        """
        n = self.n
        out = np.zeros(n)
        model = np.frombuffer(self.log.model, dtype=np.int8)
        status = np.frombuffer(self.log.status, dtype=np.int8)
        gen = stream(self.seed, "business") if self._business_u is None else None
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            u = gen.random(hi - lo) if gen is not None else self._business_u[lo:hi]
            ok = status[lo:hi] == OK
            part = model[lo:hi]
            for k, name in enumerate(self.model_names):
                sel = np.flatnonzero(ok & (part == k))
                if sel.size:
                    out[lo + sel] = self.conversions(lo + sel, name, u[sel])
        return out

    def release_draws(self) -> None:
        """Free the per-model draws and the business uniforms (once the results are built).

        Serving, window queries and conversions need them: call this only when the
        run is over and nothing will ask for per-request values again.
        """
        for buffers in (self.service_s, self.fails, self.outage):
            buffers.clear()
        self.draws.clear()
        self._business_u = None


def _buffer(code: str, values: np.ndarray) -> array:
    """A :class:`array.array` of type ``code`` holding a copy of ``values`` (same item size)."""
    out = array(code)
    if out.itemsize != values.itemsize:  # pragma: no cover - platform guard
        raise TypeError(f"array type {code!r} holds {out.itemsize} bytes, values have {values.itemsize}")
    out.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
    return out


def to_json_text(details: Mapping[str, Any]) -> str:
    """Event and incident details as JSON text (sorted keys; numpy values as Python values)."""
    return json.dumps(details, sort_keys=True, default=_json_default, allow_nan=True)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
