"""The ``[slo]``, ``[business]`` and ``[resources]`` tables: what a run measures besides the models."""

from __future__ import annotations

from pydantic import Field

from .base import StrictModel

__all__ = ["ResourcesConfig", "SLOConfig", "BusinessConfig"]


class ResourcesConfig(StrictModel):
    """Sampling of each model's fleet (replicas, busy, queue, in flight) every ``sample_interval_s``."""

    sample_interval_s: float = Field(default=10.0, gt=0)


class SLOConfig(StrictModel):
    """Service-level objective: a request slower than ``latency_ms`` breaches it."""

    latency_ms: float = Field(default=250.0, gt=0)


class BusinessConfig(StrictModel):
    """Business KPI per request: whether it converts.

    An ``ok`` request converts with probability
    ``base_conversion * exp(-|prediction - label| / error_scale) * exp(-latency_s * latency_penalty_per_s)``,
    any other request with probability 0.
    """

    base_conversion: float = Field(default=0.1, ge=0, le=1)
    error_scale: float = Field(default=1.0, ge=1e-9)
    latency_penalty_per_s: float = Field(default=0.5, ge=0)
