"""Scenario files: schema, defaults, loading, overrides and errors that name the field.

A scenario is a TOML file (read with :mod:`tomllib`) validated by pydantic into an
immutable :class:`Scenario`. Every default lives in this module, next to the field it
belongs to, so that this file is the one place to read them.

Errors are :class:`ScenarioError` and name the file and the field path, e.g.
``scenarios/x.toml: models.candidate.latency.p99_ms: must be greater than median_ms``.
Unknown keys are errors: a typo never passes silently.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..limits import (
    MAX_ARRIVALS,
    MAX_DURATION_S,
    MAX_TICKS,
    estimate_memory,
    memory_budget_mb,
    run_ticks,
)

__all__ = [
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_override_value",
    "apply_overrides",
]

LOGNORMAL_Z99 = 2.3263478740408408  # standard normal 99th percentile
MAX_FILE_BYTES = 10_000_000  # scenario files larger than this are refused before parsing
MAX_LATENCY_MS = 3.6e6  # a configured latency (median, p99, mean, constant, added) of at most an hour
MAX_LATENCY_SPREAD = 1e4  # lognormal p99 / median: beyond this the tail overflows simulated time
MAX_MULTIPLIER = 1e3  # a latency spike's multiplier
MAX_FEATURES = 1000  # request features
MAX_MAGNITUDE = 1e12  # any real number in a scenario: beyond it products and squares overflow


MAX_SHOWN_ERRORS = 20  # a file with thousands of mistakes shows the first ones and a count


class ScenarioError(ValueError):
    """A scenario is invalid. The message names the file (when known) and the field path."""

    def __init__(self, message: str, *, source: str | None = None, errors: list[str] | None = None):
        self.source = source
        self.errors = errors or [message]
        prefix = f"{source}: " if source else ""
        if errors and len(errors) > 1:
            shown = errors[:MAX_SHOWN_ERRORS]
            text = prefix + f"{len(errors)} errors\n" + "\n".join(f"  {e}" for e in shown)
            if len(errors) > len(shown):
                text += f"\n  ... and {len(errors) - len(shown)} more"
        else:
            text = prefix + message
        super().__init__(text)


class _ReadOnlyDict(dict):
    """A dict that refuses changes, so a loaded scenario cannot be edited in place
    (use :meth:`Scenario.with_overrides`, which re-validates)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("scenario tables are read-only; use Scenario.with_overrides(...)")

    __setitem__ = __delitem__ = __ior__ = _refuse
    pop = popitem = clear = update = setdefault = _refuse

    def __deepcopy__(self, memo):
        return _ReadOnlyDict({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def __reduce__(self):
        return (_ReadOnlyDict, (dict(self),))


class _FrozenDictAlias:
    """``FrozenDict[K, V]``: a dict field validated as ``dict[K, V]`` and frozen after."""

    def __class_getitem__(cls, params):
        return Annotated[dict[params], AfterValidator(_ReadOnlyDict)]


FrozenDict = _FrozenDictAlias


class _FieldError(ValueError):
    """Raised inside validators to point at a sub-field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of a field's annotation (``Annotated`` and ``X | None`` unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(annotation) for alt in _unwrap(arg)]
    return [annotation]


def _type_problem(annotation: Any, value: Any) -> tuple[str, str] | None:
    """``(sub-path, why)`` when ``value`` has the wrong kind for ``annotation``, else None.

    Stricter than pydantic's lax mode on purpose: a boolean is not a number
    (``rate_per_s = true``), a number is not a boolean (``sticky = 1``) and text is not a
    number (``rate_per_s = "50"``), so a typo in a scenario never becomes a value.
    """
    alternatives = _unwrap(annotation)
    numeric = [a for a in alternatives if a in (int, float)]
    if numeric or bool in alternatives:
        if isinstance(value, bool):
            return None if bool in alternatives else ("", "expected a number, got a boolean")
        if isinstance(value, (int, float)):
            if not numeric and str not in alternatives:
                return "", "expected true or false, got a number"
            finite = not isinstance(value, float) or math.isfinite(value)  # inf and NaN: pydantic's message
            if float in alternatives and finite and abs(value) > MAX_MAGNITUDE:
                return "", f"must be between {-MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g} (larger values overflow)"
            return None
        if isinstance(value, str) and str not in alternatives:
            return "", f"expected {'a number' if numeric else 'true or false'}, got text {value!r}"
        return None
    for alt in alternatives:
        if typing.get_origin(alt) is dict and isinstance(value, Mapping):
            inner = typing.get_args(alt)[1] if len(typing.get_args(alt)) == 2 else Any
            for key, item in value.items():
                problem = _type_problem(inner, item)
                if problem:
                    return f".{key}{problem[0]}", problem[1]
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_type_juggling(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if field is not None:
                    problem = _type_problem(field.annotation, value)
                    if problem:
                        raise _FieldError(name + problem[0], problem[1])
        return data


# --------------------------------------------------------------------------- latency
class LognormalLatency(_Strict):
    """Lognormal service time given by its median and 99th percentile: ``sigma = ln(p99 / median) / z_0.99``."""

    dist: Literal["lognormal"] = "lognormal"
    median_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    p99_ms: float = Field(gt=0, le=MAX_LATENCY_MS)

    @model_validator(mode="after")
    def _p99_above_median(self) -> LognormalLatency:
        if self.p99_ms <= self.median_ms:
            raise _FieldError("p99_ms", "must be greater than median_ms")
        if self.p99_ms / self.median_ms > MAX_LATENCY_SPREAD:
            raise _FieldError(
                "p99_ms",
                f"must be at most {MAX_LATENCY_SPREAD:g} x median_ms (a wider tail overflows simulated time)",
            )
        return self

    @property
    def sigma(self) -> float:
        return math.log(self.p99_ms / self.median_ms) / LOGNORMAL_Z99

    @property
    def mean_ms(self) -> float:
        return self.median_ms * math.exp(self.sigma**2 / 2)


class ExponentialLatency(_Strict):
    """Exponential service time with mean ``mean_ms`` (M/M/c checks use it)."""

    dist: Literal["exponential"] = "exponential"
    mean_ms: float = Field(gt=0, le=MAX_LATENCY_MS)


class ConstantLatency(_Strict):
    """Deterministic service time of ``ms`` milliseconds."""

    dist: Literal["constant"] = "constant"
    ms: float = Field(ge=0, le=MAX_LATENCY_MS)

    @property
    def mean_ms(self) -> float:
        return self.ms


Latency = Annotated[
    LognormalLatency | ExponentialLatency | ConstantLatency, Field(discriminator="dist")
]


# --------------------------------------------------------------------------- traffic
class FeatureSpec(_Strict):
    """Distribution of one numeric request feature."""

    dist: Literal["normal", "uniform", "lognormal"] = "normal"
    mean: float = 0.0  # normal: mean; lognormal: mean of log
    sd: float = Field(default=1.0, gt=0)  # normal: sd; lognormal: sd of log
    low: float = 0.0  # uniform
    high: float = 1.0  # uniform

    @model_validator(mode="after")
    def _bounds(self) -> FeatureSpec:
        if self.dist == "uniform" and self.high <= self.low:
            raise _FieldError("high", "must be greater than low")
        if self.dist == "lognormal" and self.mean + 8 * self.sd > 700:  # exp() overflows near 709
            raise _FieldError("sd", "lognormal mean + 8 sd (of the log) must be at most 700: exp() would overflow")
        return self


def _default_features() -> dict[str, FeatureSpec]:
    return _ReadOnlyDict({
        "x1": FeatureSpec(dist="normal", mean=0.0, sd=1.0),
        "x2": FeatureSpec(dist="normal", mean=0.0, sd=1.0),
        "x3": FeatureSpec(dist="uniform", low=0.0, high=1.0),
    })


class TrafficConfig(_Strict):
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
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"feature name {name!r} must be an identifier")
        return v


class TargetConfig(_Strict):
    """Ground truth: ``label = intercept + sum(weights[f] * x_f) + nonlinearity * sin(x_first) + noise_sd * e``.

    Features missing from ``weights`` get weight 1.0.
    """

    intercept: float = 0.0
    weights: FrozenDict[str, float] = Field(default_factory=_ReadOnlyDict)
    nonlinearity: float = 0.5
    noise_sd: float = Field(default=0.1, ge=0)


# --------------------------------------------------------------------------- models
class AutoscalingConfig(_Strict):
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
            raise _FieldError("max_replicas", "must be >= min_replicas")
        return self


class ModelConfig(_Strict):
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
            raise _FieldError("queue_limit", "needs replicas (unlimited replicas never queue)")
        if self.autoscaling is not None:
            if self.replicas is None:
                raise _FieldError("autoscaling", "needs replicas (the initial fleet size)")
            a = self.autoscaling
            if not a.min_replicas <= self.replicas <= a.max_replicas:
                raise _FieldError("replicas", "must be between autoscaling.min_replicas and max_replicas")
        return self


class ServiceConfig(_Strict):
    """A shared service models depend on (feature store, embedding service, ...)."""

    description: str = ""


class DependencyConfig(_Strict):
    """``target`` depends on ``source`` with ``criticality`` in [0, 1].

    While ``source`` (or anything it depends on) is down, requests to a model fail
    with probability equal to the model's impact: the best path's weakest link from
    the failed node (maximum bottleneck path). 1 is a hard dependency; 0.3 degrades
    30% of requests.
    """

    source: str
    target: str
    criticality: float = Field(ge=0, le=1)


class DetectorSpec(_Strict):
    """A streaming change detector on a per-request signal of one model.

    ``signal``: ``latency_ms``, ``error`` (1 for error/timeout/dropped) or ``abs_error``
    (prediction error, fed when labels arrive). ``params`` go to
    :func:`workbench.monitoring.detectors.make_detector`.
    """

    name: Literal["adwin", "page_hinkley", "kswin", "ddm", "eddm", "hddm_a", "cusum"] = "adwin"
    signal: Literal["latency_ms", "error", "abs_error"] = "latency_ms"
    model: str = "candidate"
    params: FrozenDict[str, bool | int | float | str] = Field(default_factory=_ReadOnlyDict)

    @model_validator(mode="after")
    def _params_build(self) -> DetectorSpec:
        from ..monitoring.detectors import check_detector_params, make_detector

        if "rng" in self.params or (self.name == "kswin" and "seed" in self.params):
            key = "rng" if "rng" in self.params else "seed"
            raise _FieldError(f"params.{key}", "is set by the engine from the run's seed (runs stay reproducible)")
        try:
            check_detector_params(self.name, self.params)  # river's own checks come too late (at update)
            make_detector(self.name, **self.params)
        except Exception as exc:  # a third-party constructor may raise anything: name the field
            message = str(exc)
            key, sep, rest = message.partition(": ")
            if sep and key in self.params:
                raise _FieldError(f"params.{key}", rest) from None
            raise _FieldError("params", message.removeprefix("params: ")) from None
        return self


class MonitoringConfig(_Strict):
    """Monitors the engine feeds and evaluates every ``interval_s``.

    Health (per model, rolling ``health_window_s``): error rate with its denominator,
    timeouts, latency quantiles from a streaming sketch, throughput. Performance (per
    model, from late labels): baseline from the first ``performance_reference_n``
    labels, non-overlapping windows of ``performance_window_n``. Feature drift: the
    first ``drift_reference_n`` arrivals are the reference, the last ``drift_window_n``
    the current window (Evidently's test choice), checked every ``drift_interval_s``;
    a feature alerts when flagged ``drift_consecutive`` checks in a row, because
    overlapping windows make single flags correlated and frequent.
    Detectors: see :class:`DetectorSpec`.
    """

    enabled: bool = True
    interval_s: float = Field(default=10.0, gt=0)
    health_window_s: float = Field(default=60.0, gt=0)
    performance: bool = True
    performance_reference_n: int = Field(default=500, ge=20)
    performance_window_n: int = Field(default=200, ge=20)
    drift: bool = True
    drift_reference_n: int = Field(default=3000, ge=20)
    drift_window_n: int = Field(default=2000, ge=20)
    drift_interval_s: float = Field(default=60.0, gt=0)
    drift_consecutive: int = Field(default=3, ge=1)
    detectors: tuple[DetectorSpec, ...] = Field(default_factory=tuple)


class RollbackThreshold(_Strict):
    """A health threshold on the candidate: ``metric`` of its rolling health snapshot.

    Metrics: ``error_rate``, ``timeout_rate``, ``latency_p50_ms``, ``latency_p95_ms``,
    ``latency_p99_ms``, ``throughput_per_s``. ``direction = "max"`` breaches above.
    """

    metric: Literal[
        "error_rate", "timeout_rate", "failure_rate", "latency_p50_ms", "latency_p95_ms",
        "latency_p99_ms", "throughput_per_s",
    ]
    threshold: float
    direction: Literal["max", "min"] = "max"


class RollbackConfig(_Strict):
    """Automated rollback: which monitors may trigger it, and when.

    A health threshold must be breached at ``consecutive`` evaluations in a row
    (flaky metrics should not roll back a good release); a window with fewer than
    ``min_samples`` requests is not evaluated (neither breach nor pass). Monitors
    named in ``triggers`` (``health``, ``performance``, ``drift``, ``detector``) roll
    back when they alarm; the others only raise alerts. No alert of the same monitor
    is repeated within ``cooldown_s``. Rolling back twice is impossible. With
    ``performance_relative`` (default) a candidate's performance alarm rolls back only
    if legacy's own performance monitor has not alarmed too: when both got worse the
    world changed (concept drift), and going back to legacy would not help.
    """

    enabled: bool = True
    triggers: tuple[Literal["health", "performance", "drift", "detector"], ...] = Field(
        default_factory=lambda: ("health",)
    )
    thresholds: tuple[RollbackThreshold, ...] = Field(default_factory=tuple)
    consecutive: int = Field(default=2, ge=1)
    min_samples: int = Field(default=30, ge=1)
    cooldown_s: float = Field(default=60.0, ge=0)
    performance_relative: bool = True


class PerformanceCheck(_Strict):
    """The candidate's ``metric`` on held-out data must be at most ``max_value`` (errors)
    or at least ``min_value`` (scores)."""

    kind: Literal["performance"] = "performance"
    metric: Literal["mae", "mse", "rmse", "r2"] = "mae"
    max_value: float | None = None
    min_value: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> PerformanceCheck:
        if self.max_value is None and self.min_value is None:
            raise _FieldError("max_value", "give max_value or min_value")
        return self


class BoundsCheck(_Strict):
    """Predictions must lie in [lower, upper] (up to ``max_fraction_outside``)."""

    kind: Literal["bounds"] = "bounds"
    lower: float | None = None
    upper: float | None = None
    max_fraction_outside: float = Field(default=0.0, ge=0, le=1)


class PredictionDriftCheck(_Strict):
    """The candidate's predictions must not drift from legacy's on the same rows
    (KS p-value >= threshold, or normalised Wasserstein < threshold)."""

    kind: Literal["drift"] = "drift"
    method: Literal["auto", "ks", "wasserstein"] = "auto"
    threshold: float | None = Field(default=None, gt=0)


class LatencyBudgetCheck(_Strict):
    """The candidate's configured service-time p99 must be within ``budget_p99_ms``."""

    kind: Literal["latency"] = "latency"
    budget_p99_ms: float = Field(gt=0)


ValidationCheck = Annotated[
    PerformanceCheck | BoundsCheck | PredictionDriftCheck | LatencyBudgetCheck, Field(discriminator="kind")
]


class ValidationConfig(_Strict):
    """Pre-deployment validation of the candidate on ``holdout_n`` held-out rows drawn
    from the traffic's feature distributions (labels from the true target). With
    ``require_pass`` a failing suite blocks the rollout: no request reaches the
    candidate, and the failure is an event with the numbers."""

    holdout_n: int = Field(default=2000, ge=50, le=1_000_000)
    require_pass: bool = True
    checks: tuple[ValidationCheck, ...] = Field(min_length=1)


class ResourcesConfig(_Strict):
    """Sampling of each model's fleet (replicas, busy, queue, in flight) every ``sample_interval_s``."""

    sample_interval_s: float = Field(default=10.0, gt=0)


class SLOConfig(_Strict):
    """Service-level objective: a request slower than ``latency_ms`` breaches it."""

    latency_ms: float = Field(default=250.0, gt=0)


class BusinessConfig(_Strict):
    """Business KPI per request: a conversion with probability
    ``base_conversion * exp(-|prediction - label| / error_scale) * exp(-latency_s * latency_penalty_per_s)``
    for an ``ok`` request, 0 otherwise.
    """

    base_conversion: float = Field(default=0.1, ge=0, le=1)
    error_scale: float = Field(default=1.0, ge=1e-9)
    latency_penalty_per_s: float = Field(default=0.5, ge=0)


# --------------------------------------------------------------------------- strategies
class SingleStrategy(_Strict):
    """Everything to legacy."""

    kind: Literal["single"] = "single"
    model: str = "legacy"


class ABStrategy(_Strict):
    """Random split: ``candidate_fraction`` of requests (or of users when ``sticky``)."""

    kind: Literal["ab"] = "ab"
    candidate_fraction: float = Field(default=0.5, ge=0, le=1)
    sticky: bool = False
    salt: str = "ab"


class RampPoint(_Strict):
    at_s: float = Field(ge=0)
    weight: float = Field(ge=0, le=100)


class CanaryStrategy(_Strict):
    """A cohort of users (stable hash of salt and user id, basis points) sees the candidate.

    ``schedule`` optionally ramps the weight: ``[{at_s = 0, weight = 5}, {at_s = 600, weight = 10}]``.
    ``per_request = true`` randomises every request instead (users then see both models).
    """

    kind: Literal["canary"] = "canary"
    candidate_fraction: float = Field(default=0.05, ge=0, le=1)
    schedule: tuple[RampPoint, ...] = Field(default_factory=tuple)
    per_request: bool = False
    salt: str = "canary"

    @field_validator("schedule")
    @classmethod
    def _monotone(cls, v: list[RampPoint]) -> list[RampPoint]:
        for i in range(1, len(v)):
            if v[i].at_s <= v[i - 1].at_s:
                raise _FieldError(f"[{i}].at_s", "must be increasing")
        return v


class Step(_Strict):
    """One progressive step: send ``weight`` percent to the candidate for ``pause_s``."""

    weight: float = Field(gt=0, le=100)
    pause_s: float | None = Field(default=None, gt=0)


class Gate(_Strict):
    """A threshold gate on one metric over the analysis window.

    ``metric``: ``error_rate``, ``latency_p50_ms``, ``latency_p95_ms``,
    ``latency_p99_ms``, ``prediction_mae`` (against labels that have arrived) or
    ``business_rate``. ``direction = "max"`` fails when the value exceeds
    ``threshold``; ``"min"`` when it falls below. ``relative_to_legacy`` compares
    the candidate with legacy in the same window (threshold is then a ratio).
    """

    metric: Literal[
        "error_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "prediction_mae",
        "business_rate",
    ]
    threshold: float
    direction: Literal["max", "min"] = "max"
    relative_to_legacy: bool = False
    min_samples: int = Field(default=50, ge=1)


# the per-request values the engine hands a judge (see StrategyContext.window_values)
JudgeMetric = Literal["latency_ms", "error", "abs_error", "business"]


class KayentaMetricOptions(_Strict):
    """Kayenta's per-metric settings for one metric of ``strategy.judge.metrics``.

    ``effect_size_measure``: ``meanRatio`` (candidate mean / legacy mean) or ``cles``
    (P(candidate > legacy) + ties / 2). A metric the rank test classifies as High must
    also have an effect of at least ``allowed_increase`` (Low: at most
    ``allowed_decrease``) to fail; defaults 1.0 (meanRatio) or 0.5 (cles), Kayenta's
    ``defaultEffectSize``. A ``critical`` metric whose effect reaches
    ``critical_increase`` (or ``critical_decrease``) fails the whole judgement.
    """

    critical: bool = False
    effect_size_measure: Literal["meanRatio", "cles"] = "meanRatio"
    allowed_increase: float | None = Field(default=None, ge=0)
    allowed_decrease: float | None = Field(default=None, ge=0)
    critical_increase: float | None = Field(default=None, ge=0)
    critical_decrease: float | None = Field(default=None, ge=0)


class JudgeConfig(_Strict):
    """Which judge decides an analysis: ``threshold`` gates (default), ``sequential``
    (always-valid confidence sequence) or ``kayenta`` (Mann-Whitney canary score).

    The sequential judge passes a step only on evidence of non-inferiority: the
    always-valid interval for candidate - legacy lies entirely below ``+margin`` (for
    ``direction = "increase"``); it fails when the interval lies entirely above 0 (the
    candidate is significantly worse) without being within the margin, and is
    inconclusive otherwise. ``margin`` is in the metric's units (default: 0.01 for
    ``error``, a one-point rise of the error rate; 5 for ``latency_ms``; required for other
    metrics). ``tuning`` is the confidence sequence's total sample size (both arms) at
    which it is narrowest (its mixture parameter rho; GrowthBook's default 5000).
    ``metric_options`` holds the Kayenta judge's per-metric settings (effect sizes,
    critical metrics), keyed by metric: see :class:`KayentaMetricOptions`.
    """

    kind: Literal["threshold", "sequential", "kayenta"] = "threshold"
    metric: JudgeMetric = "latency_ms"
    direction: Literal["increase", "decrease", "either"] = "increase"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    metrics: tuple[JudgeMetric, ...] = Field(default_factory=lambda: ("latency_ms", "error"), min_length=1)
    pass_threshold: float = Field(default=95.0, ge=0, le=100)
    marginal_threshold: float = Field(default=75.0, ge=0, le=100)
    min_samples: int = Field(default=50, ge=1)
    margin: float | None = None
    tuning: float = 5000.0
    metric_options: FrozenDict[JudgeMetric, KayentaMetricOptions] = Field(default_factory=_ReadOnlyDict)

    @model_validator(mode="after")
    def _thresholds(self) -> JudgeConfig:
        if self.marginal_threshold > self.pass_threshold:
            raise _FieldError("marginal_threshold", "must be at most pass_threshold")
        for name in self.metric_options:
            if name not in self.metrics:
                raise _FieldError(f"metric_options.{name}", f"is not one of the judge's metrics {list(self.metrics)}")
        if self.margin is not None and not (math.isfinite(self.margin) and self.margin >= 0):
            raise _FieldError("margin", f"must be a finite number >= 0, got {self.margin!r}")
        if not (math.isfinite(self.tuning) and self.tuning > 0):
            raise _FieldError("tuning", f"must be a finite number > 0, got {self.tuning!r}")
        if self.kind == "sequential" and self.margin is None and self.metric not in ("error", "latency_ms"):
            raise _FieldError("margin", f"is required for the sequential judge on {self.metric!r}")
        return self


class ProgressiveStrategy(_Strict):
    """Argo/Flagger-style progressive delivery with analysis, gates and rollback.

    Each analysis covers the current step since it started, or only the last
    ``window_s`` seconds of it when set. A last step of weight 100 without
    ``pause_s`` is the promotion itself; with ``pause_s`` it is a bake period at 100%
    whose relative gates compare with legacy's previous-step window.
    """

    kind: Literal["progressive"] = "progressive"
    steps: tuple[Step, ...] = Field(min_length=1)
    interval_s: float = Field(default=60.0, gt=0)
    window_s: float | None = Field(default=None, gt=0)
    gates: tuple[Gate, ...] = Field(default_factory=tuple)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    failure_limit: int = Field(default=0, ge=0)
    consecutive: bool = True
    inconclusive: Literal["hold", "fail", "pass"] = "hold"
    inconclusive_limit: int | None = Field(default=None, ge=0)
    salt: str = "progressive"

    @field_validator("steps")
    @classmethod
    def _increasing(cls, v: list[Step]) -> list[Step]:
        for i in range(1, len(v)):
            if v[i].weight <= v[i - 1].weight:
                raise _FieldError(f"[{i}].weight", "must be greater than the previous step's weight")
        for i, s in enumerate(v[:-1]):
            if s.pause_s is None:
                raise _FieldError(f"[{i}].pause_s", "is required on every step but the last")
        return v


class ShadowStrategy(_Strict):
    """Users get legacy; ``mirror_fraction`` of requests are also sent to the candidate."""

    kind: Literal["shadow"] = "shadow"
    mirror_fraction: float = Field(default=1.0, gt=0, le=1)
    candidate_replicas: int | None = Field(default=None, ge=1)
    agreement_tolerance: float = Field(default=0.5, ge=0)


class BlueGreenStrategy(_Strict):
    """All traffic to legacy, switch to the candidate at ``switch_s``; gates may roll back.

    Analyses every ``interval_s`` look at the last ``window_s`` seconds of green; relative
    gates compare with blue's last ``window_s`` before the switch.
    """

    kind: Literal["blue_green"] = "blue_green"
    switch_s: float = Field(default=600.0, ge=0)
    interval_s: float = Field(default=30.0, gt=0)
    window_s: float = Field(default=120.0, gt=0)
    gates: tuple[Gate, ...] = Field(default_factory=tuple)
    failure_limit: int = Field(default=0, ge=0)


class BanditStrategy(_Strict):
    """Thompson sampling (Beta-Bernoulli) or epsilon-greedy on reward "ok within the SLO"."""

    kind: Literal["bandit"] = "bandit"
    algorithm: Literal["thompson", "epsilon_greedy"] = "thompson"
    epsilon: float = Field(default=0.1, ge=0, le=1)
    min_legacy_share: float = Field(default=0.1, ge=0, le=1)
    reward: Literal["ok_within_slo", "conversion"] = "ok_within_slo"
    prior_alpha: float = Field(default=1.0, gt=0)
    prior_beta: float = Field(default=1.0, gt=0)


class InterleavingStrategy(_Strict):
    """Recommendation requests: the legacy and candidate rankers' top-``k`` lists are
    interleaved (team-draft by default), users click by a click model, and each
    impression is credited to a ranker (win, loss or tie).

    The catalogue has ``n_items`` items with graded relevance per user (from user
    and item embeddings); ranking quality is the noise on true relevance of each
    ranker (lower is better). ``naive_shuffle`` is the starting design's method,
    kept as a counter-example.
    """

    kind: Literal["interleaving"] = "interleaving"
    method: Literal["team_draft", "balanced", "probabilistic", "naive_shuffle"] = "team_draft"
    click_model: Literal["navigational", "informational", "cascade", "pbm", "perfect"] = "navigational"
    k: int = Field(default=10, ge=1, le=50)
    n_items: int = Field(default=500, ge=10, le=20_000)
    legacy_noise_sd: float = Field(default=1.0, ge=0)
    candidate_noise_sd: float = Field(default=0.8, ge=0)
    catalogue_seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _k_items(self) -> InterleavingStrategy:
        if self.k > self.n_items:
            raise _FieldError("k", "must be at most n_items")
        return self


StrategyConfig = Annotated[
    SingleStrategy
    | ABStrategy
    | CanaryStrategy
    | ProgressiveStrategy
    | ShadowStrategy
    | BlueGreenStrategy
    | BanditStrategy
    | InterleavingStrategy,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- faults
class _FaultBase(_Strict):
    start_s: float = Field(ge=0)
    duration_s: float | None = Field(default=None, gt=0)

    @property
    def end_s(self) -> float:
        return math.inf if self.duration_s is None else self.start_s + self.duration_s


class LatencySpike(_FaultBase):
    """Requests to ``target`` arriving in the window take ``multiplier`` x longer plus ``add_ms``."""

    kind: Literal["latency_spike"] = "latency_spike"
    target: str
    multiplier: float = Field(default=1.0, ge=0, le=MAX_MULTIPLIER)
    add_ms: float = Field(default=0.0, ge=0, le=MAX_LATENCY_MS)

    @model_validator(mode="after")
    def _does_something(self) -> LatencySpike:
        if self.multiplier == 1.0 and self.add_ms == 0.0:
            raise _FieldError("multiplier", "a latency spike needs multiplier != 1 or add_ms > 0")
        return self


class ErrorBurst(_FaultBase):
    """Requests to ``target`` in the window fail with probability ``error_rate``."""

    kind: Literal["error_burst"] = "error_burst"
    target: str
    error_rate: float = Field(ge=0, le=1)


class Outage(_FaultBase):
    """``target`` is unavailable: requests are refused at once (``error``) or hang until their timeout."""

    kind: Literal["outage"] = "outage"
    target: str
    mode: Literal["refuse", "hang"] = "refuse"


class DataDrift(_FaultBase):
    """Feature ``feature`` becomes ``mean + (x - mean) * scale + shift``, reached over ``ramp_s``."""

    kind: Literal["data_drift"] = "data_drift"
    feature: str
    shift: float = 0.0
    scale: float = Field(default=1.0, gt=0)
    ramp_s: float = Field(default=0.0, ge=0)


class ConceptDrift(_FaultBase):
    """The target function changes: weights move by ``weight_shift`` and the label by ``offset``.

    The models keep predicting the old function, so their predictions quietly get worse.
    """

    kind: Literal["concept_drift"] = "concept_drift"
    weight_shift: FrozenDict[str, float] = Field(default_factory=_ReadOnlyDict)
    offset: float = 0.0
    ramp_s: float = Field(default=0.0, ge=0)


FaultConfig = Annotated[
    LatencySpike | ErrorBurst | Outage | DataDrift | ConceptDrift, Field(discriminator="kind")
]


# --------------------------------------------------------------------------- scenario
class Scenario(_Strict):
    """A validated, immutable scenario. Build with :func:`load_scenario`.

    Examples
    --------
    >>> s = load_scenario({"name": "demo", "duration_s": 60, "models": {"legacy": {}}})
    >>> s.traffic.rate_per_s
    50.0
    >>> s.with_overrides({"traffic.rate_per_s": 80}).traffic.rate_per_s
    80.0
    """

    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(gt=0)
    seed: int = Field(default=0, ge=0)
    warmup_s: float = Field(default=0.0, ge=0)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    models: FrozenDict[str, ModelConfig]
    strategy: StrategyConfig = Field(default_factory=SingleStrategy)
    faults: tuple[FaultConfig, ...] = Field(default_factory=tuple)
    slo: SLOConfig = Field(default_factory=SLOConfig)
    business: BusinessConfig = Field(default_factory=BusinessConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    monitoring: MonitoringConfig | None = None
    rollback: RollbackConfig | None = None
    validation: ValidationConfig | None = None
    services: FrozenDict[str, ServiceConfig] = Field(default_factory=_ReadOnlyDict)
    dependencies: tuple[DependencyConfig, ...] = Field(default_factory=tuple)

    # where this scenario was loaded from, and the raw mapping it was validated from:
    # overrides apply to the raw mapping (as written), with defaults filled in where a
    # table on an override's path was left out
    source_path: str | None = Field(default=None, exclude=True)
    _raw: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        if "legacy" not in self.models:
            raise _FieldError("models.legacy", "a model named 'legacy' is required")
        for name in self.models:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise _FieldError(f"models.{name}", "model names must be identifiers")
        needs_candidate = self.strategy.kind not in ("single",)
        if needs_candidate and "candidate" not in self.models:
            raise _FieldError(
                "models.candidate", f"strategy {self.strategy.kind!r} needs a model named 'candidate'"
            )
        if self.strategy.kind == "interleaving" and self.traffic.users > 20_000:
            raise _FieldError("traffic.users", "interleaving simulates a catalogue per user: at most 20000 users")
        if self.strategy.kind == "single" and self.strategy.model not in self.models:
            raise _FieldError("strategy.model", f"unknown model {self.strategy.model!r}")
        if self.duration_s > MAX_DURATION_S:
            raise _FieldError(
                "duration_s", f"must be at most {MAX_DURATION_S:.0e} s (about 116 days); split a longer horizon into runs"
            )
        peak = self.traffic.peak_rate_per_s
        if peak * self.duration_s > MAX_ARRIVALS:
            raise _FieldError(
                "traffic.rate_per_s",
                f"rate x duration_s gives about {peak * self.duration_s:.3g} arrivals; at most {MAX_ARRIVALS:.0e} "
                "per run (split a long horizon into several runs or lower the rate)",
            )
        if self.warmup_s >= self.duration_s:
            raise _FieldError("warmup_s", "must be less than duration_s")
        features = set(self.traffic.features)
        for name in self.target.weights:
            if name not in features:
                raise _FieldError(f"target.weights.{name}", "unknown feature")
        if self.rollback is not None and self.rollback.enabled:
            if "candidate" not in self.models:
                raise _FieldError("rollback", "a rollback policy needs a model named 'candidate'")
            if self.strategy.kind == "single":
                raise _FieldError("rollback", "strategy 'single' never serves the candidate: nothing to roll back")
            if "health" in self.rollback.triggers and not self.rollback.thresholds:
                raise _FieldError("rollback.thresholds", "the 'health' trigger needs at least one threshold")
        if self.validation is not None and "candidate" not in self.models:
            raise _FieldError("validation", "validation checks the model named 'candidate'")
        if self.monitoring is not None:
            for i, det in enumerate(self.monitoring.detectors):
                if det.model not in self.models:
                    raise _FieldError(f"monitoring.detectors[{i}].model", f"unknown model {det.model!r}")
        for name in self.services:
            if name in self.models:
                raise _FieldError(f"services.{name}", "a service cannot share a model's name")
        nodes = set(self.models) | set(self.services)
        for i, dep in enumerate(self.dependencies):
            for end in ("source", "target"):
                if getattr(dep, end) not in nodes:
                    raise _FieldError(f"dependencies[{i}].{end}", f"unknown model or service {getattr(dep, end)!r}")
            if dep.source == dep.target:
                raise _FieldError(f"dependencies[{i}].target", "a node cannot depend on itself")
        for i, fault in enumerate(self.faults):
            if fault.start_s >= self.duration_s:
                raise _FieldError(f"faults[{i}].start_s", "must be less than duration_s")
            target = getattr(fault, "target", None)
            if isinstance(fault, Outage):
                if target not in nodes:
                    raise _FieldError(f"faults[{i}].target", f"unknown model or service {target!r}")
            elif target is not None and target not in self.models:
                raise _FieldError(f"faults[{i}].target", f"unknown model {target!r}")
            if isinstance(fault, DataDrift) and fault.feature not in features:
                raise _FieldError(f"faults[{i}].feature", f"unknown feature {fault.feature!r}")
            if isinstance(fault, ConceptDrift):
                for name in fault.weight_shift:
                    if name not in features:
                        raise _FieldError(f"faults[{i}].weight_shift.{name}", "unknown feature")
            if isinstance(fault, Outage) and fault.mode == "hang":
                if target in self.services:
                    raise _FieldError(
                        f"faults[{i}].mode",
                        "'hang' is for model outages; a service outage fails the requests that depend on it "
                        "at once (use mode = 'refuse')",
                    )
                if self.models[fault.target].timeout_ms is None:
                    raise _FieldError(
                        f"faults[{i}].mode",
                        f"'hang' needs models.{fault.target}.timeout_ms (a hung call must end)",
                    )
        self._check_budget()
        return self

    def _check_budget(self) -> None:
        """Bounded work: every timer-driven loop and the estimated memory (see :mod:`workbench.limits`)."""
        for field, ticks in run_ticks(self).items():
            if ticks > MAX_TICKS:
                what = "buckets" if field.endswith("window_s") else "ticks"
                raise _FieldError(
                    field.split(" ")[0],
                    f"gives {ticks:.3g} {what} over duration_s = {self.duration_s:g}; at most {MAX_TICKS:.0e} per run "
                    "(use a longer interval or a shorter run)",
                )
        budget_mb = memory_budget_mb()
        estimate = estimate_memory(self)
        if estimate.total_mb > budget_mb:
            field = "strategy.n_items" if estimate.catalogue_bytes > estimate.requests_bytes else "traffic.rate_per_s"
            raise _FieldError(
                field,
                f"the run would need {estimate.describe()}, over the memory budget of {budget_mb:,.0f} MB "
                "(lower the rate, the duration or the catalogue; or raise WORKBENCH_MEMORY_BUDGET_MB)",
            )

    # ------------------------------------------------------------------ helpers
    @property
    def feature_names(self) -> list[str]:
        return list(self.traffic.features)

    def to_mapping(self) -> dict[str, Any]:
        """The scenario as a plain mapping (defaults filled in), loadable again."""
        return self.model_dump(mode="json", exclude={"source_path"})

    def content_hash(self) -> str:
        """A stable hash of the scenario's content (for the run registry)."""
        text = json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Scenario:
        """A new scenario with dotted-path overrides applied and re-validated."""
        if not overrides:
            return self
        raw = self._raw or self.to_mapping()
        raw = apply_overrides(raw, overrides, source=self.source_path, defaults=self.to_mapping())
        return _validate(raw, source=self.source_path)


# --------------------------------------------------------------------------- loading
def load_scenario(path_or_mapping: str | Path | Mapping[str, Any], overrides=None) -> Scenario:
    """Load and validate a scenario from a TOML path or a mapping.

    Raises
    ------
    ScenarioError
        If the file cannot be read or parsed, or any field is invalid. The message
        names the file and the field path.
    """
    if isinstance(path_or_mapping, Scenario):
        return path_or_mapping.with_overrides(overrides)
    if isinstance(path_or_mapping, Mapping):
        raw = copy.deepcopy(dict(path_or_mapping))
        source = None
    else:
        path = Path(path_or_mapping)
        source = str(path)
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise ScenarioError("is a directory, not a scenario file", source=source)
            if size > MAX_FILE_BYTES:
                raise ScenarioError(
                    f"file is {size:,} bytes; scenario files are at most {MAX_FILE_BYTES:,} bytes", source=source
                )
            with path.open("rb") as fh:  # read at most the cap: the file may grow (or be a pipe)
                data = fh.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise ScenarioError(f"file is over {MAX_FILE_BYTES:,} bytes", source=source)
            text = data.decode("utf-8")
        except FileNotFoundError:
            raise ScenarioError("file not found", source=source) from None
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None
        except OSError as exc:
            raise ScenarioError(f"cannot read file ({exc.strerror or exc})", source=source) from None
        raw = _parse_toml(text, source)
    if overrides:
        try:
            defaults = _validate(raw, source=source).to_mapping()
        except ScenarioError:
            defaults = None  # the file alone is invalid: the overrides may be what fixes it
        raw = apply_overrides(raw, overrides, source=source, defaults=defaults)
    return _validate(raw, source=source)


MAX_NESTING = 64  # tables and arrays inside each other; a scenario needs fewer than ten


def _parse_toml(text: str, source: str | None) -> dict[str, Any]:
    """Parse TOML text; nesting deep enough to exhaust the parser's recursion is an error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", source=source) from None
    except RecursionError:
        raise ScenarioError(f"tables or arrays nested more than {MAX_NESTING} deep", source=source) from None


def _nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Depth of nested tables and arrays, counted up to ``limit + 1``."""
    stack = [(value, 0)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _validate(raw: Mapping[str, Any], *, source: str | None) -> Scenario:
    if not isinstance(raw, Mapping):
        raise ScenarioError("a scenario must be a table (mapping)", source=source)
    if _nesting_depth(raw) > MAX_NESTING:
        raise ScenarioError(f"tables or arrays nested more than {MAX_NESTING} deep", source=source)
    try:
        memory_budget_mb()  # a bad budget is the environment's error, not a field's
    except ValueError as exc:
        raise ScenarioError(str(exc), source=source) from None
    raw = dict(raw)
    if "source_path" in raw:  # set by the loader, never by a file
        raise ScenarioError("source_path: unknown key (check the spelling; unknown keys are not allowed)",
                            source=source)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        messages = [_format_error(err, raw) for err in exc.errors()]
        raise ScenarioError(messages[0], source=source, errors=messages) from None
    except _FieldError as exc:  # pragma: no cover - pydantic wraps these, kept as a guard
        raise ScenarioError(str(exc), source=source) from None
    except (RecursionError, MemoryError) as exc:
        raise ScenarioError(f"cannot validate ({type(exc).__name__})", source=source) from None
    out = scenario.model_copy(update={"source_path": source})
    out._raw = copy.deepcopy(raw)
    return out


def _format_error(err: Mapping[str, Any], raw: Any) -> str:
    """Turn one pydantic error into ``path: message`` with tags of unions removed."""
    loc = list(err.get("loc", ()))
    parts: list[str] = []
    node = raw
    tag_seen = False
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        if isinstance(node, Mapping) and item in (node.get("kind"), node.get("dist")) and not tag_seen:
            tag_seen = True  # the discriminated-union tag pydantic inserts (once per table)
            continue
        if isinstance(node, Mapping) and item in node:
            parts.append(item if not parts else f".{item}")
            node = node[item]
            tag_seen = False
        elif item in ("function-after", "function-before") or item.startswith("function-"):
            continue
        else:
            parts.append(item if not parts else f".{item}")
            node = None
    path = "".join(parts)
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    kind = err.get("type", "")
    if isinstance(inner, _FieldError):
        sub = inner.field
        joiner = "" if sub.startswith("[") or not path else "."
        path = f"{path}{joiner}{sub}"
        message = str(inner).split(": ", 1)[1]
    elif kind == "extra_forbidden":
        message = "unknown key (check the spelling; unknown keys are not allowed)"
    elif kind == "missing":
        message = "is required"
    elif kind == "union_tag_invalid":
        expected = ctx.get("expected_tags", "")
        tag = ctx.get("tag", "")
        message = f"unknown kind {tag!r}; expected one of {expected}"
        if isinstance(node, Mapping):
            key = "kind" if "kind" in node else ("dist" if "dist" in node else None)
            if key:
                path = f"{path}.{key}" if path else key
    elif kind == "union_tag_not_found":
        message = f"needs a {ctx.get('discriminator', 'kind')!s} field"
    else:
        message = err.get("msg", "invalid value")
        message = message.removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        message = message.replace("tuple", "list")
    return f"{path or '<root>'}: {message}"


# --------------------------------------------------------------------------- overrides
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_path(path: str) -> list[str | int]:
    if not path or path.strip() != path:
        raise ValueError(f"bad override path {path!r}")
    tokens: list[str | int] = []
    pos = 0
    for m in _PATH_TOKEN.finditer(path):
        gap = path[pos : m.start()]
        if gap not in ("", "."):
            raise ValueError(f"bad override path {path!r}")
        tokens.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(path) or not tokens:
        raise ValueError(f"bad override path {path!r}")
    return tokens


def apply_overrides(
    raw: Mapping[str, Any],
    overrides: Mapping[str, Any],
    *,
    source: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of ``raw`` with dotted-path overrides set.

    Paths look like ``traffic.rate_per_s``, ``faults[0].multiplier`` or
    ``strategy.steps[1].weight``. A missing table on the way is created; a list
    index out of range is an error. With ``defaults`` (the validated scenario's full
    mapping), a table missing on the way is first filled from the defaults, unless the
    overrides themselves set that table's ``kind`` or ``dist`` (a different variant).

    Examples
    --------
    >>> apply_overrides({"traffic": {"rate_per_s": 5}}, {"traffic.rate_per_s": 8})
    {'traffic': {'rate_per_s': 8}}
    """
    out = copy.deepcopy(dict(raw))
    for path, value in overrides.items():
        try:
            tokens = _parse_path(path)
        except ValueError as exc:
            raise ScenarioError(str(exc), source=source) from None
        node: Any = out
        default: Any = defaults
        for depth, tok in enumerate(tokens[:-1]):
            nxt = tokens[depth + 1]
            where = _render(tokens[: depth + 1])
            if isinstance(tok, int):
                if not isinstance(node, list) or tok >= len(node):
                    raise ScenarioError(f"{where}: no such list element", source=source)
                node = node[tok]
                default = default[tok] if isinstance(default, list) and tok < len(default) else None
            else:
                if not isinstance(node, dict):
                    raise ScenarioError(f"{where}: not a table", source=source)
                default = default.get(tok) if isinstance(default, Mapping) else None
                if tok not in node or node[tok] is None:
                    prefix = _render(tokens[: depth + 1])
                    variant_set = any(k in (f"{prefix}.kind", f"{prefix}.dist") for k in overrides)
                    if isinstance(default, (dict, list)) and not variant_set:
                        node[tok] = copy.deepcopy(default)
                    else:
                        node[tok] = [] if isinstance(nxt, int) else {}
                node = node[tok]
        last = tokens[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise ScenarioError(f"{_render(tokens)}: no such list element", source=source)
            node[last] = copy.deepcopy(value)
        else:
            if not isinstance(node, dict):
                raise ScenarioError(f"{_render(tokens[:-1])}: not a table", source=source)
            node[last] = copy.deepcopy(value)
    return out


def _render(tokens: list[str | int]) -> str:
    text = ""
    for t in tokens:
        text += f"[{t}]" if isinstance(t, int) else (f".{t}" if text else t)
    return text


def parse_override_value(text: str) -> Any:
    """Parse a CLI ``--set`` value as TOML (numbers, booleans, arrays), else a string.

    Examples
    --------
    >>> parse_override_value("80"), parse_override_value("true"), parse_override_value("abc")
    (80, True, 'abc')
    """
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ScenarioError(f"value {text[:20]!r}...: arrays or tables nested more than {MAX_NESTING} deep") from None
    if _nesting_depth(value) > MAX_NESTING:
        raise ScenarioError(f"value {text[:20]!r}...: arrays or tables nested more than {MAX_NESTING} deep")
    return value
