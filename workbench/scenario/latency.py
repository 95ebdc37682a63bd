"""Service-time distributions of a model: each spec owns its sampling and its quantiles.

Every distribution is a table with a ``dist`` tag and offers the same interface, so
code that uses a latency never asks which kind it is:

* ``sample(n, rng)``: ``n`` service times in milliseconds;
* ``median_ms``, ``p99_ms``, ``mean_ms``: exact quantiles and mean (properties);
* ``quantile(p)``: the exact ``p`` quantile, for any probability in [0, 1];
* ``scaled(factor)``: the same kind of distribution with every latency times ``factor``.

Adding a distribution means adding one class here and to :data:`Latency`.

Examples
--------
>>> lat = LognormalLatency(median_ms=40, p99_ms=120)
>>> round(lat.mean_ms, 3), lat.scaled(0.5).p99_ms
(44.719, 60.0)
>>> ExponentialLatency(mean_ms=10).scaled(2.0).median_ms == 20 * math.log(2.0)
True
>>> emp = EmpiricalLatency(probabilities=[0.5, 0.9, 0.99], quantiles_ms=[41.0, 80.0, 140.0])
>>> emp.median_ms, emp.quantile(0.9), round(emp.quantile(0.95), 3)
(41.0, 80.0, 97.185)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Annotated, Any, ClassVar, Literal

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
    "EmpiricalLatency",
    "MAX_EMPIRICAL_POINTS",
    "Latency",
]

LOGNORMAL_Z99 = 2.3263478740408408  # standard normal 99th percentile
MAX_LATENCY_MS = 3.6e6  # a configured latency (median, p99, mean, constant, added) of at most an hour
MAX_LATENCY_SPREAD = 1e4  # lognormal p99 / median: beyond this the tail overflows simulated time
MAX_EMPIRICAL_POINTS = 1000  # points of an empirical quantile table
_MAX_SIGMA = math.log(MAX_LATENCY_SPREAD) / LOGNORMAL_Z99  # the widest lognormal tail (the lognormal's own bound)
_NORMAL = NormalDist()


def _normal_score(p: float) -> float:
    """``Phi^-1(p)`` for ``p`` in [0, 1] (infinite at the ends)."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return _NORMAL.inv_cdf(p)


def _normal_mass(lo: float, hi: float) -> float:
    """``Phi(hi) - Phi(lo)``, from the nearer tail so that a far interval keeps its digits."""
    if lo > 0.0:  # both in the upper tail: Phi(-lo) - Phi(-hi)
        lo, hi = -hi, -lo
    return 0.5 * (math.erfc(-hi / math.sqrt(2.0)) - math.erfc(-lo / math.sqrt(2.0)))


def _refuse_non_numbers(data: Any, fields: tuple[str, ...]) -> None:
    """Every item of the list fields ``fields`` of a raw table is a number (not a boolean, not text)."""
    if not isinstance(data, Mapping):
        return
    for name in fields:
        values = data.get(name)
        if isinstance(values, (list, tuple)):
            for i, v in enumerate(values):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise FieldError(f"{name}[{i}]", f"expected a number, got {v!r}")


def _check_probability(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: must be a probability in [0, 1], got {p!r}")
    return p


class LatencyDistribution(StrictModel):
    """Base of the latency specs: ``scaled`` multiplies the fields named in ``scale_fields``.

    Subclasses define ``sample`` and the ``median_ms``, ``p99_ms`` and ``mean_ms``
    properties (a field of the same name counts as the property).
    """

    scale_fields: ClassVar[tuple[str, ...]] = ()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` service times in milliseconds, drawn from ``rng``."""
        raise NotImplementedError  # pragma: no cover

    def quantile(self, p: float) -> float:
        """The exact ``p`` quantile in milliseconds (``p`` in [0, 1]; 0 and 1 give the support's ends)."""
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

    def quantile(self, p: float) -> float:
        """``median * exp(sigma * Phi^-1(p))``."""
        z = _normal_score(_check_probability(p))
        return 0.0 if z == -math.inf else self.median_ms * math.exp(self.sigma * z)

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

    def quantile(self, p: float) -> float:
        """``-mean * ln(1 - p)``."""
        p = _check_probability(p)
        return math.inf if p == 1.0 else -self.mean_ms * math.log1p(-p)

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

    def quantile(self, p: float) -> float:
        """``ms`` for every ``p``."""
        _check_probability(p)
        return self.ms

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` copies of ``ms`` (``rng`` is not drawn from)."""
        return np.full(n, self.ms)


class EmpiricalLatency(LatencyDistribution):
    """Service time given by a table of observed quantiles (a request log, a Prometheus histogram).

    ``probabilities`` (strictly increasing, inside (0, 1)) and ``quantiles_ms`` (positive,
    non-decreasing) are two lists of the same length, at least two points:
    ``quantiles_ms[i]`` is the ``probabilities[i]`` quantile. Between two points the log of
    the latency is linear in the normal score ``z = Phi^-1(p)``, so the table of any
    lognormal gives back that lognormal exactly, and a table of a few quantiles gives a
    piecewise lognormal through every one of them. Below the lowest and above the highest
    point the first and last segments go on: each tail is the lognormal through the two
    extreme quantiles at its end (flat, i.e. clamped, when those two are equal). The slope
    of the upper tail (``sigma`` of the log) is at most that of the widest lognormal allowed
    (p99 / median at most :data:`MAX_LATENCY_SPREAD`), so the tail never overflows
    simulated time.

    Sampling is by the inverse CDF: ``Q(Phi(Z))`` with ``Z`` standard normal, i.e. one
    ``standard_normal`` draw per request interpolated on the table (a lognormal spec with
    the same median and p99 draws from the same numbers). ``mean_ms`` is exact: the sum over
    the segments of ``exp(a + b**2 / 2) * (Phi(z_hi - b) - Phi(z_lo - b))`` for a segment
    ``ln x = a + b z``.
    """

    scale_fields: ClassVar[tuple[str, ...]] = ("quantiles_ms",)

    dist: Literal["empirical"] = "empirical"
    probabilities: tuple[float, ...] = Field(min_length=2, max_length=MAX_EMPIRICAL_POINTS)
    quantiles_ms: tuple[float, ...] = Field(min_length=2, max_length=MAX_EMPIRICAL_POINTS)

    @model_validator(mode="before")
    @classmethod
    def _numbers(cls, data: Any) -> Any:
        _refuse_non_numbers(data, ("probabilities", "quantiles_ms"))
        return data

    @model_validator(mode="after")
    def _table(self) -> EmpiricalLatency:
        ps, qs = self.probabilities, self.quantiles_ms
        if len(ps) != len(qs):
            raise FieldError("quantiles_ms", f"has {len(qs)} values; probabilities has {len(ps)} (one quantile each)")
        for i, p in enumerate(ps):
            if not 0.0 < p < 1.0:
                raise FieldError(f"probabilities[{i}]", f"must be strictly between 0 and 1, got {p!r}")
            if i and p <= ps[i - 1]:
                raise FieldError(f"probabilities[{i}]", "must be greater than the one before (strictly increasing)")
        for i, q in enumerate(qs):
            if not 0.0 < q <= MAX_LATENCY_MS:
                raise FieldError(f"quantiles_ms[{i}]", f"must be in (0, {MAX_LATENCY_MS:g}] ms, got {q!r}")
            if i and q < qs[i - 1]:
                raise FieldError(f"quantiles_ms[{i}]", "must be at least the one before (quantiles never decrease)")
        z = [_normal_score(p) for p in ps]
        if z[-1] - z[0] <= 0.0:  # probabilities too close to tell apart in floating point
            raise FieldError("probabilities", "the probabilities are too close together to interpolate between")
        dz = z[-1] - z[-2]
        if dz <= 0.0 or math.log(qs[-1] / qs[-2]) / dz > _MAX_SIGMA:  # the lower tail only shrinks towards 0
            raise FieldError(
                "quantiles_ms",
                "the upper tail (the lognormal through the two highest quantiles) is wider than a lognormal "
                f"with p99 / median = {MAX_LATENCY_SPREAD:g}; the tail would overflow simulated time",
            )
        return self

    def _knots(self) -> tuple[np.ndarray, np.ndarray]:
        """Normal scores of the probabilities and logs of the quantiles (the interpolation knots)."""
        z = np.array([_normal_score(p) for p in self.probabilities])
        return z, np.log(np.array(self.quantiles_ms, dtype=float))

    def _log_latency(self, z: np.ndarray) -> np.ndarray:
        """``ln Q(Phi(z))``: linear between the knots, extended by the end segments."""
        zk, lk = self._knots()
        out = np.interp(z, zk, lk)
        lo_slope = (lk[1] - lk[0]) / (zk[1] - zk[0])
        hi_slope = (lk[-1] - lk[-2]) / (zk[-1] - zk[-2])
        below = z < zk[0]
        above = z > zk[-1]
        out[below] = lk[0] + lo_slope * (z[below] - zk[0])
        out[above] = lk[-1] + hi_slope * (z[above] - zk[-1])
        return out

    def quantile(self, p: float) -> float:
        """``Q(p)`` from the table (log-linear in the normal score; lognormal tails beyond it)."""
        p = _check_probability(p)
        if p in self.probabilities:  # a knot: the table's own value, not exp(log(value))
            return self.quantiles_ms[self.probabilities.index(p)]
        z = _normal_score(p)
        zk, lk = self._knots()
        if z == -math.inf:
            return self.quantiles_ms[0] if lk[1] == lk[0] else 0.0
        if z == math.inf:
            return self.quantiles_ms[-1] if lk[-1] == lk[-2] else math.inf
        return float(np.exp(self._log_latency(np.array([z]))[0]))

    @property
    def median_ms(self) -> float:
        """The 0.5 quantile."""
        return self.quantile(0.5)

    @property
    def p99_ms(self) -> float:
        """The 0.99 quantile."""
        return self.quantile(0.99)

    @property
    def mean_ms(self) -> float:
        """Exact mean of the piecewise lognormal (see the class docstring)."""
        zk, lk = self._knots()
        bounds = np.concatenate([[-np.inf], zk, [np.inf]])
        slopes = np.diff(lk) / np.diff(zk)
        slopes = np.concatenate([[slopes[0]], slopes, [slopes[-1]]])
        anchors = np.concatenate([[0], np.arange(zk.size)])  # the knot each segment's line goes through
        total = 0.0
        for k in range(bounds.size - 1):
            b = float(slopes[k])
            a = float(lk[anchors[k]] - b * zk[anchors[k]])
            total += math.exp(a + b * b / 2) * _normal_mass(float(bounds[k]) - b, float(bounds[k + 1]) - b)
        return total

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``Q(Phi(Z))`` for ``n`` standard normal draws ``Z`` (see the class docstring)."""
        return np.exp(self._log_latency(rng.standard_normal(n)))

    def scaled(self, factor: float) -> EmpiricalLatency:
        """The same table with every quantile multiplied by ``factor`` (the probabilities kept)."""
        if not factor >= 0:
            raise ValueError(f"factor: must be >= 0, got {factor!r}")
        return self.model_copy(update={"quantiles_ms": tuple(q * factor for q in self.quantiles_ms)})


Latency = Annotated[
    LognormalLatency | ExponentialLatency | ConstantLatency | EmpiricalLatency, Field(discriminator="dist")
]
