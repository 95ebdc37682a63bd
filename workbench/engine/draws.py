"""Per-model service draws: what each model would do with each request.

Everything about a model that does not depend on routing is drawn up front,
vectorised, from the model's own streams and indexed by request id: the service
time it would take, whether it would fail, and its prediction. A fault window
changes these arrays for the requests that arrive inside it. The simulation then
only decides *which* model serves a request and *when* it gets a replica.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import Model, SyntheticModel, as_model
from ..rng import stream
from ..scenario import ErrorBurst, LatencyDistribution, LatencySpike, ModelConfig, Outage, Scenario
from .dependency_impacts import dependency_segments
from .traffic import Traffic, true_signal

__all__ = ["ModelDraws", "draw_model", "OUTAGE_NONE", "OUTAGE_REFUSE", "OUTAGE_HANG"]

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


def service_times_ms(latency: LatencyDistribution, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` service times in milliseconds from a latency spec (see :meth:`LatencyDistribution.sample`)."""
    return latency.sample(n, rng)


def draw_model(
    scenario: Scenario, name: str, traffic: Traffic, seed: int, model: Model | None = None
) -> ModelDraws:
    """Draw service times, failures and predictions of model ``name`` for every arrival."""
    cfg = scenario.models[name]
    n = traffic.n
    t = traffic.time_s
    service_ms = service_times_ms(cfg.latency, n, stream(seed, f"model:{name}:latency"))
    error_rate: float | np.ndarray = cfg.error_rate  # an array only when an error burst targets the model
    burst: bool | np.ndarray = False
    outage = np.zeros(n, dtype=np.int8)
    for fault in scenario.faults:
        if getattr(fault, "target", None) != name:
            continue
        inside = (t >= fault.start_s) & (t < fault.end_s)
        if isinstance(fault, LatencySpike):
            service_ms = np.where(inside, service_ms * fault.multiplier + fault.add_ms, service_ms)
        elif isinstance(fault, ErrorBurst):
            error_rate = np.where(inside, fault.error_rate, error_rate)
            burst = burst | inside
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
        def signal(X: np.ndarray) -> np.ndarray:
            # the run's own features: the target computed once when the traffic was drawn
            return traffic.signal if X is traffic.features and traffic.signal is not None else true_signal(scenario, X)

        model = SyntheticModel(
            signal,
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
