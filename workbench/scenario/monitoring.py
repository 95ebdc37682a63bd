"""The ``[monitoring]`` and ``[rollback]`` tables: what the engine watches and when it rolls back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import FrozenDict, ReadOnlyDict, StrictModel
from .errors import FieldError

__all__ = ["DetectorSpec", "MonitoringConfig", "RollbackThreshold", "RollbackConfig"]


class DetectorSpec(StrictModel):
    """A streaming change detector on a per-request signal of one model.

    ``signal``: ``latency_ms``, ``error`` (1 for error/timeout/dropped) or ``abs_error``
    (prediction error, fed when labels arrive). ``params`` go to
    :func:`workbench.monitoring.detectors.make_detector`.
    """

    name: Literal["adwin", "page_hinkley", "kswin", "ddm", "eddm", "hddm_a", "cusum"] = "adwin"
    signal: Literal["latency_ms", "error", "abs_error"] = "latency_ms"
    model: str = "candidate"
    params: FrozenDict[str, bool | int | float | str] = Field(default_factory=ReadOnlyDict)

    @model_validator(mode="after")
    def _params_build(self) -> DetectorSpec:
        from ..monitoring.detectors import check_detector_params, make_detector

        if "rng" in self.params or (self.name == "kswin" and "seed" in self.params):
            key = "rng" if "rng" in self.params else "seed"
            raise FieldError(f"params.{key}", "is set by the engine from the run's seed (runs stay reproducible)")
        try:
            check_detector_params(self.name, self.params)  # river's own checks come too late (at update)
            make_detector(self.name, **self.params)
        except Exception as exc:  # a third-party constructor may raise anything: name the field
            message = str(exc)
            key, sep, rest = message.partition(": ")
            if sep and key in self.params:
                raise FieldError(f"params.{key}", rest) from None
            raise FieldError("params", message.removeprefix("params: ")) from None
        return self


class MonitoringConfig(StrictModel):
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


class RollbackThreshold(StrictModel):
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


class RollbackConfig(StrictModel):
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
