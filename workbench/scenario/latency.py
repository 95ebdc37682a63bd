"""Service-time distributions of a model: each spec owns its sampling and its quantiles.

Every distribution is a table with a ``dist`` tag and offers the same interface, so
code that uses a latency never asks which kind it is:

* ``sample(n, rng)``: ``n`` service times in milliseconds;
* ``median_ms``, ``p99_ms``, ``mean_ms``: exact quantiles and mean (properties);
* ``scaled(factor)``: the same kind of distribution with every latency times ``factor``.

Adding a distribution means adding one class here and to :data:`Latency`.

Examples
--------
>>> lat = LognormalLatency(median_ms=40, p99_ms=120)
>>> round(lat.mean_ms, 3), lat.scaled(0.5).p99_ms
(44.719, 60.0)
>>> ExponentialLatency(mean_ms=10).scaled(2.0).median_ms == 20 * math.log(2.0)
True
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from .base import StrictModel
from .errors import FieldError

__all__ = [
    "LOGNORMAL_Z99",
    "MAX_LATENCY_MS",
    "MAX_LATENCY_SPREAD",
    "LatencyDistribution",
    "LognormalLatency",
    "ExponentialLatency",
    "ConstantLatency",
    "Latency",
]

LOGNORMAL_Z99 = 2.3263478740408408  # standard normal 99th percentile
MAX_LATENCY_MS = 3.6e6  # a configured latency (median, p99, mean, constant, added) of at most an hour
MAX_LATENCY_SPREAD = 1e4  # lognormal p99 / median: beyond this the tail overflows simulated time


class LatencyDistribution(StrictModel):
    """Base of the latency specs: ``scaled`` multiplies the fields named in ``scale_fields``.

    Subclasses define ``sample`` and the ``median_ms``, ``p99_ms`` and ``mean_ms``
    properties (a field of the same name counts as the property).
    """

    scale_fields: ClassVar[tuple[str, ...]] = ()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` service times in milliseconds, drawn from ``rng``."""
        raise NotImplementedError  # pragma: no cover

    def scaled(self, factor: float):
        """The same distribution with every latency multiplied by ``factor`` (>= 0).

        The shape is kept (a lognormal's ``sigma`` does not change). The copy is not
        checked against the scenario limits again: a scenario that receives it validates it.

        Raises
        ------
        ValueError
            If ``factor`` is negative or NaN.
        """
        if not factor >= 0:
            raise ValueError(f"factor: must be >= 0, got {factor!r}")
        return self.model_copy(update={name: getattr(self, name) * factor for name in self.scale_fields})


class LognormalLatency(LatencyDistribution):
    """Lognormal service time given by its median and 99th percentile: ``sigma = ln(p99 / median) / z_0.99``."""

    scale_fields: ClassVar[tuple[str, ...]] = ("median_ms", "p99_ms")

    dist: Literal["lognormal"] = "lognormal"
    median_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    p99_ms: float = Field(gt=0, le=MAX_LATENCY_MS)

    @model_validator(mode="after")
    def _p99_above_median(self) -> LognormalLatency:
        if self.p99_ms <= self.median_ms:
            raise FieldError("p99_ms", "must be greater than median_ms")
        if self.p99_ms / self.median_ms > MAX_LATENCY_SPREAD:
            raise FieldError(
                "p99_ms",
                f"must be at most {MAX_LATENCY_SPREAD:g} x median_ms (a wider tail overflows simulated time)",
            )
        return self

    @property
    def sigma(self) -> float:
        """Standard deviation of the log of the service time."""
        return math.log(self.p99_ms / self.median_ms) / LOGNORMAL_Z99

    @property
    def mean_ms(self) -> float:
        """``median * exp(sigma**2 / 2)``."""
        return self.median_ms * math.exp(self.sigma**2 / 2)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``median * exp(sigma * Z)`` with ``Z`` standard normal."""
        return self.median_ms * np.exp(self.sigma * rng.standard_normal(n))


class ExponentialLatency(LatencyDistribution):
    """Exponential service time with mean ``mean_ms`` (M/M/c checks use it)."""

    scale_fields: ClassVar[tuple[str, ...]] = ("mean_ms",)

    dist: Literal["exponential"] = "exponential"
    mean_ms: float = Field(gt=0, le=MAX_LATENCY_MS)

    @property
    def median_ms(self) -> float:
        """``mean * ln 2``."""
        return self.mean_ms * math.log(2.0)

    @property
    def p99_ms(self) -> float:
        """``mean * ln 100``."""
        return self.mean_ms * math.log(100.0)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` exponential service times in milliseconds."""
        return rng.exponential(self.mean_ms, size=n)


class ConstantLatency(LatencyDistribution):
    """Deterministic service time of ``ms`` milliseconds."""

    scale_fields: ClassVar[tuple[str, ...]] = ("ms",)

    dist: Literal["constant"] = "constant"
    ms: float = Field(ge=0, le=MAX_LATENCY_MS)

    @property
    def median_ms(self) -> float:
        """``ms``: every sample is the same."""
        return self.ms

    @property
    def p99_ms(self) -> float:
        """``ms``: every sample is the same."""
        return self.ms

    @property
    def mean_ms(self) -> float:
        """``ms``: every sample is the same."""
        return self.ms

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` copies of ``ms`` (``rng`` is not drawn from)."""
        return np.full(n, self.ms)


Latency = Annotated[
    LognormalLatency | ExponentialLatency | ConstantLatency, Field(discriminator="dist")
]
