"""The ``[models.*]``, ``[services.*]`` and ``[[dependencies]]`` tables: what serves requests."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import StrictModel
from .errors import FieldError
from .latency import Latency, LognormalLatency

__all__ = ["AutoscalingConfig", "ModelConfig", "ServiceConfig", "DependencyConfig"]


class AutoscalingConfig(StrictModel):
    """Kubernetes HPA on replica utilisation (busy / ready replicas).

    Every ``sync_period_s`` the autoscaler sets
    ``desired = ceil(current * utilisation / target_utilisation)`` (no change inside
    the ``tolerance`` band; scale-down uses the highest recommendation of the last
    ``scale_down_stabilisation_s``), clamped to ``[min_replicas, max_replicas]``.
    Added replicas serve after ``provisioning_delay_s``; removed ones stop taking
    work at once. Defaults are Kubernetes' HPA defaults.
    """

    target_utilisation: float = Field(default=0.6, gt=0, le=1)
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=20, ge=1)
    tolerance: float = Field(default=0.1, ge=0, lt=1)
    scale_down_stabilisation_s: float = Field(default=300.0, ge=0)
    provisioning_delay_s: float = Field(default=30.0, ge=0)
    sync_period_s: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.max_replicas < self.min_replicas:
            raise FieldError("max_replicas", "must be >= min_replicas")
        return self


class ModelConfig(StrictModel):
    """A served model: its replicas, latency, failures and prediction quality.

    ``replicas`` omitted means unlimited concurrency (no queueing). ``queue_limit``
    bounds the FIFO queue (requests beyond it are ``dropped``). ``noise`` is the sd
    of the model's prediction error around the true signal, ``bias`` a constant
    offset. ``timeout_ms``: a request whose wait plus service exceeds it ends as
    ``timeout`` after exactly ``timeout_ms``.
    """

    latency: Latency = Field(default_factory=lambda: LognormalLatency(median_ms=40, p99_ms=120))
    error_rate: float = Field(default=0.001, ge=0, le=1)
    replicas: int | None = Field(default=None, ge=1)
    queue_limit: int | None = Field(default=None, ge=0)
    timeout_ms: float | None = Field(default=None, gt=0)
    noise: float = Field(default=0.3, ge=0)
    bias: float = 0.0
    version: str | None = None
    autoscaling: AutoscalingConfig | None = None

    @model_validator(mode="after")
    def _queue_needs_replicas(self) -> ModelConfig:
        if self.queue_limit is not None and self.replicas is None:
            raise FieldError("queue_limit", "needs replicas (unlimited replicas never queue)")
        if self.autoscaling is not None:
            if self.replicas is None:
                raise FieldError("autoscaling", "needs replicas (the initial fleet size)")
            a = self.autoscaling
            if not a.min_replicas <= self.replicas <= a.max_replicas:
                raise FieldError("replicas", "must be between autoscaling.min_replicas and max_replicas")
        return self


class ServiceConfig(StrictModel):
    """A shared service models depend on (feature store, embedding service, ...)."""

    description: str = ""


class DependencyConfig(StrictModel):
    """``target`` depends on ``source`` with ``criticality`` in [0, 1].

    While ``source`` (or anything it depends on) is down, requests to a model fail
    with probability equal to the model's impact: the best path's weakest link from
    the failed node (maximum bottleneck path). 1 is a hard dependency; 0.3 degrades
    30% of requests.
    """

    source: str
    target: str
    criticality: float = Field(ge=0, le=1)
