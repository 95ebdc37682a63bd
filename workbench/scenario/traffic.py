"""The ``[traffic]`` and ``[target]`` tables: arrivals, users, request features and ground truth."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import IDENTIFIER, FrozenDict, ReadOnlyDict, StrictModel
from .errors import FieldError

__all__ = ["MAX_FEATURES", "MAX_TRACE_STEPS", "FeatureSpec", "TrafficConfig", "TargetConfig"]

MAX_FEATURES = 1000  # request features
MAX_TRACE_STEPS = 100_000  # steps of a replayed rate trace (a month of minutes is 43,200)


class FeatureSpec(StrictModel):
    """Distribution of one numeric request feature."""

    dist: Literal["normal", "uniform", "lognormal"] = "normal"
    mean: float = 0.0  # normal: mean; lognormal: mean of log
    sd: float = Field(default=1.0, gt=0)  # normal: sd; lognormal: sd of log
    low: float = 0.0  # uniform
    high: float = 1.0  # uniform

    @model_validator(mode="after")
    def _bounds(self) -> FeatureSpec:
        if self.dist == "uniform" and self.high <= self.low:
            raise FieldError("high", "must be greater than low")
        if self.dist == "lognormal" and self.mean + 8 * self.sd > 700:  # exp() overflows near 709
            raise FieldError("sd", "lognormal mean + 8 sd (of the log) must be at most 700: exp() would overflow")
        return self


def _default_features() -> dict[str, FeatureSpec]:
    return ReadOnlyDict({
        "x1": FeatureSpec(dist="normal", mean=0.0, sd=1.0),
        "x2": FeatureSpec(dist="normal", mean=0.0, sd=1.0),
        "x3": FeatureSpec(dist="uniform", low=0.0, high=1.0),
    })


class TrafficConfig(StrictModel):
    """Arrival process and user population.

    ``rate_per_s`` is the mean Poisson rate (for ``bursty``, the calm rate; bursts
    multiply it by ``burst_multiplier``). ``diurnal`` follows
    ``rate * (1 + amplitude * sin(2 pi t / period_s))``. Users are drawn with Zipf-like
    activity ``p(k) ~ 1 / k**user_skew`` (0 = uniform), so users come back.

    ``trace`` replays an observed rate curve: ``trace_rates_per_s[k]`` is the rate over
    ``[k * trace_step_s, (k + 1) * trace_step_s)``, piecewise constant, and past the end
    the trace starts again from its first step (a day's curve repeats every day). Arrivals
    stay a Poisson process with that rate. For a trace ``rate_per_s`` is still the mean
    rate: left out, it is the trace's mean (so the trace is replayed as observed); given,
    the whole curve is scaled to that mean, keeping its shape
    (``rate(t) = trace_rates_per_s[k] * rate_per_s / mean(trace_rates_per_s)``), which is
    how a sweep over ``traffic.rate_per_s`` rehearses more or less of the same traffic.
    A step may have rate 0 (no request observed); the trace's mean must be positive.
    """

    rate_per_s: float = Field(default=50.0, gt=0)
    pattern: Literal["constant", "diurnal", "bursty", "trace"] = "constant"
    period_s: float = Field(default=86_400.0, gt=0)
    amplitude: float = Field(default=0.5, ge=0, lt=1)
    burst_multiplier: float = Field(default=4.0, ge=1)
    burst_mean_s: float = Field(default=30.0, gt=0)
    calm_mean_s: float = Field(default=270.0, gt=0)
    trace_rates_per_s: tuple[float, ...] | None = Field(default=None, min_length=1, max_length=MAX_TRACE_STEPS)
    trace_step_s: float = Field(default=60.0, gt=0)
    users: int = Field(default=10_000, ge=1, le=10_000_000)
    user_skew: float = Field(default=1.1, ge=0)
    label_delay_s: float = Field(default=60.0, ge=0)
    features: FrozenDict[str, FeatureSpec] = Field(default_factory=_default_features)

    @model_validator(mode="before")
    @classmethod
    def _trace_mean_by_default(cls, data: Any) -> Any:
        """Trace rates are finite numbers; a trace without ``rate_per_s`` gets the trace's mean."""
        if not isinstance(data, Mapping):
            return data
        rates = data.get("trace_rates_per_s")
        if not isinstance(rates, (list, tuple)) or not rates:
            return data  # pydantic or the after-check names what is wrong
        for i, v in enumerate(rates):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise FieldError(f"trace_rates_per_s[{i}]", f"expected a finite number, got {v!r}")
        if data.get("pattern") != "trace" or "rate_per_s" in data:
            return data
        mean = math.fsum(rates) / len(rates)
        return {**data, "rate_per_s": mean} if mean > 0 else data

    @model_validator(mode="after")
    def _trace(self) -> TrafficConfig:
        rates = self.trace_rates_per_s
        if self.pattern != "trace":
            if rates is not None:
                raise FieldError("trace_rates_per_s", f"is only for pattern = 'trace' (pattern is {self.pattern!r})")
            return self
        if rates is None:
            raise FieldError("trace_rates_per_s", "is required for pattern = 'trace' (the observed rate of each step)")
        for i, v in enumerate(rates):
            if v < 0:
                raise FieldError(f"trace_rates_per_s[{i}]", f"must be >= 0, got {v!r}")
        if not self.trace_mean_per_s > 0:
            raise FieldError("trace_rates_per_s", "the mean rate must be positive (every step is 0)")
        return self

    @property
    def trace_mean_per_s(self) -> float:
        """Mean of ``trace_rates_per_s`` over one pass of the trace (NaN without a trace)."""
        rates = self.trace_rates_per_s
        return math.fsum(rates) / len(rates) if rates else math.nan

    @property
    def trace_scale(self) -> float:
        """``rate_per_s / trace_mean_per_s``: 1.0 when the trace is replayed as observed."""
        return self.rate_per_s / self.trace_mean_per_s

    @property
    def peak_rate_per_s(self) -> float:
        """The highest arrival rate of the pattern (bursts, the top of the cycle, the trace's highest step)."""
        if self.pattern == "trace":
            return max(self.trace_rates_per_s) * self.trace_scale
        factor = {"constant": 1.0, "diurnal": 1.0 + self.amplitude, "bursty": self.burst_multiplier}
        return self.rate_per_s * factor[self.pattern]

    @field_validator("features")
    @classmethod
    def _some_features(cls, v: dict[str, FeatureSpec]) -> dict[str, FeatureSpec]:
        if not v:
            raise ValueError("at least one feature is required")
        if len(v) > MAX_FEATURES:
            raise ValueError(f"{len(v)} features; at most {MAX_FEATURES} (one column of the request table each)")
        for name in v:
            if not re.fullmatch(IDENTIFIER, name):
                raise ValueError(f"feature name {name!r} must be an identifier")
        return v


class TargetConfig(StrictModel):
    """Ground truth: ``label = intercept + sum(weights[f] * x_f) + nonlinearity * sin(x_first) + noise_sd * e``.

    Features missing from ``weights`` get weight 1.0.
    """

    intercept: float = 0.0
    weights: FrozenDict[str, float] = Field(default_factory=ReadOnlyDict)
    nonlinearity: float = 0.5
    noise_sd: float = Field(default=0.1, ge=0)
