"""The ``[traffic]`` and ``[target]`` tables: arrivals, users, request features and ground truth."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import IDENTIFIER, FrozenDict, ReadOnlyDict, StrictModel
from .errors import FieldError

__all__ = ["MAX_FEATURES", "FeatureSpec", "TrafficConfig", "TargetConfig"]

MAX_FEATURES = 1000  # request features


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
    """

    rate_per_s: float = Field(default=50.0, gt=0)
    pattern: Literal["constant", "diurnal", "bursty"] = "constant"
    period_s: float = Field(default=86_400.0, gt=0)
    amplitude: float = Field(default=0.5, ge=0, lt=1)
    burst_multiplier: float = Field(default=4.0, ge=1)
    burst_mean_s: float = Field(default=30.0, gt=0)
    calm_mean_s: float = Field(default=270.0, gt=0)
    users: int = Field(default=10_000, ge=1, le=10_000_000)
    user_skew: float = Field(default=1.1, ge=0)
    label_delay_s: float = Field(default=60.0, ge=0)
    features: FrozenDict[str, FeatureSpec] = Field(default_factory=_default_features)

    @property
    def peak_rate_per_s(self) -> float:
        """The highest arrival rate of the pattern (bursts, the top of the cycle)."""
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
