"""The ``[validation]`` table: pre-deployment checks of the candidate on held-out data."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import StrictModel
from .errors import FieldError

__all__ = [
    "PerformanceCheck",
    "BoundsCheck",
    "PredictionDriftCheck",
    "LatencyBudgetCheck",
    "ValidationCheck",
    "ValidationConfig",
]


class PerformanceCheck(StrictModel):
    """Check of the candidate's ``metric`` on held-out data.

    The metric must be at most ``max_value`` (errors) or at least ``min_value``
    (scores).
    """

    kind: Literal["performance"] = "performance"
    metric: Literal["mae", "mse", "rmse", "r2"] = "mae"
    max_value: float | None = None
    min_value: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> PerformanceCheck:
        if self.max_value is None and self.min_value is None:
            raise FieldError("max_value", "give max_value or min_value")
        return self


class BoundsCheck(StrictModel):
    """Predictions must lie in [lower, upper] (up to ``max_fraction_outside``)."""

    kind: Literal["bounds"] = "bounds"
    lower: float | None = None
    upper: float | None = None
    max_fraction_outside: float = Field(default=0.0, ge=0, le=1)


class PredictionDriftCheck(StrictModel):
    """Check that the candidate's predictions do not drift from legacy's on the same rows.

    Passes with a KS p-value >= threshold, or a normalised Wasserstein < threshold.
    """

    kind: Literal["drift"] = "drift"
    method: Literal["auto", "ks", "wasserstein"] = "auto"
    threshold: float | None = Field(default=None, gt=0)


class LatencyBudgetCheck(StrictModel):
    """The candidate's configured service-time p99 must be within ``budget_p99_ms``."""

    kind: Literal["latency"] = "latency"
    budget_p99_ms: float = Field(gt=0)


ValidationCheck = Annotated[
    PerformanceCheck | BoundsCheck | PredictionDriftCheck | LatencyBudgetCheck, Field(discriminator="kind")
]


class ValidationConfig(StrictModel):
    """Pre-deployment validation of the candidate on ``holdout_n`` held-out rows.

    The rows are drawn from the traffic's feature distributions (labels from the true
    target). With ``require_pass`` a failing suite blocks the rollout: no request
    reaches the candidate, and the failure is an event with the numbers.
    """

    holdout_n: int = Field(default=2000, ge=50, le=1_000_000)
    require_pass: bool = True
    checks: tuple[ValidationCheck, ...] = Field(min_length=1)
