"""Per-model service draws and the replica pool.

Everything about a model that does not depend on routing is drawn up front,
vectorised, from the model's own streams and indexed by request id: the service
time it would take, whether it would fail, and its prediction. A fault window
changes these arrays for the requests that arrive inside it. The simulation then
only decides *which* model serves a request and *when* it gets a replica.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..models import Model, SyntheticModel, as_model
from ..rng import stream
from ..scenario import (
    ConstantLatency,
    ErrorBurst,
    ExponentialLatency,
    LatencySpike,
    LognormalLatency,
    ModelConfig,
    Outage,
    Scenario,
)
from .dependencies import dependency_segments
from .traffic import Traffic, true_signal

__all__ = ["ModelDraws", "draw_model", "ReplicaPool", "OUTAGE_NONE", "OUTAGE_REFUSE", "OUTAGE_HANG"]

OUTAGE_NONE, OUTAGE_REFUSE, OUTAGE_HANG = 0, 1, 2
CAUSE_NONE, CAUSE_MODEL, CAUSE_BURST, CAUSE_UPSTREAM, CAUSE_OUTAGE = 0, 1, 2, 3, 4
CAUSE_MESSAGES = {
    CAUSE_MODEL: "model error",
    CAUSE_BURST: "model error (error burst)",
    CAUSE_UPSTREAM: "upstream dependency unavailable",
    CAUSE_OUTAGE: "model unavailable (outage)",
}


@dataclass
class ModelDraws:
    """Pre-drawn per-request quantities for one model (arrays indexed by request id)."""

    name: str
    config: ModelConfig
    service_s: np.ndarray
    fails: np.ndarray  # bool: the call would return an error
    outage: np.ndarray  # int8: OUTAGE_NONE / OUTAGE_REFUSE / OUTAGE_HANG
    prediction: np.ndarray
    cause: np.ndarray  # int8: why a call fails (CAUSE_*), for the structured log


def service_times_ms(latency, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` service times in milliseconds from a latency spec.

    Lognormal by median and p99: ``sigma = ln(p99 / median) / z_0.99``, with
    ``z_0.99 = 2.3263`` the standard normal 99% quantile.
    """
    if isinstance(latency, LognormalLatency):
        return latency.median_ms * np.exp(latency.sigma * rng.standard_normal(n))
    if isinstance(latency, ExponentialLatency):
        return rng.exponential(latency.mean_ms, size=n)
    if isinstance(latency, ConstantLatency):
        return np.full(n, latency.ms)
    raise TypeError(f"unknown latency spec {latency!r}")  # pragma: no cover


def draw_model(
    scenario: Scenario, name: str, traffic: Traffic, seed: int, model: Model | None = None
) -> ModelDraws:
    """Draw service times, failures and predictions of model ``name`` for every arrival."""
    cfg = scenario.models[name]
    n = traffic.n
    t = traffic.time_s
    service_ms = service_times_ms(cfg.latency, n, stream(seed, f"model:{name}:latency"))
    error_rate = np.full(n, cfg.error_rate)
    burst = np.zeros(n, dtype=bool)
    outage = np.zeros(n, dtype=np.int8)
    for fault in scenario.faults:
        if getattr(fault, "target", None) != name:
            continue
        inside = (t >= fault.start_s) & (t < fault.end_s)
        if isinstance(fault, LatencySpike):
            service_ms = np.where(inside, service_ms * fault.multiplier + fault.add_ms, service_ms)
        elif isinstance(fault, ErrorBurst):
            error_rate = np.where(inside, fault.error_rate, error_rate)
            burst |= inside
        elif isinstance(fault, Outage):
            code = OUTAGE_HANG if fault.mode == "hang" else OUTAGE_REFUSE
            outage = np.where(inside, code, outage).astype(np.int8)
    fails = stream(seed, f"model:{name}:errors").random(n) < error_rate
    cause = np.where(fails, np.where(burst, CAUSE_BURST, CAUSE_MODEL), CAUSE_NONE).astype(np.int8)
    # failures of upstream services and models propagate by the graph's impact
    segments = dependency_segments(scenario)
    if segments:
        u_dep = stream(seed, f"model:{name}:dependencies").random(n)
        for seg in segments:
            impact = seg.impacts.get(name, 0.0)
            if name in seg.failed or impact <= 0.0:
                continue
            hit = (t >= seg.start_s) & (t < seg.end_s) & (u_dep < impact)
            fails |= hit
            cause[hit] = CAUSE_UPSTREAM  # the upstream failure is why the call failed
    cause[outage != OUTAGE_NONE] = CAUSE_OUTAGE
    if model is None:
        model = SyntheticModel(
            lambda X: true_signal(scenario, X),
            noise=cfg.noise,
            bias=cfg.bias,
            rng=stream(seed, f"model:{name}:noise"),
        )
    else:
        model = as_model(model)
    prediction = np.asarray(model.predict(traffic.features), dtype=float).reshape(-1)
    if prediction.shape[0] != n:
        raise ValueError(f"model {name!r} returned {prediction.shape[0]} predictions for {n} rows")
    return ModelDraws(
        name=name,
        config=cfg,
        service_s=service_ms / 1000.0,
        fails=fails,
        outage=outage,
        prediction=prediction,
        cause=cause,
    )


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
        return sum(1 for i in self.queue if status[i] == -1)

    def queue_full(self, status) -> bool:
        """Is the waiting line at ``queue_limit``? Entries that gave up are dropped lazily;
        one pool has one timeout, so they are always at the head."""
        if self.queue_limit is None:
            return False
        queue = self.queue
        while queue and status[queue[0]] != -1:
            queue.popleft()
        return len(queue) >= self.queue_limit
