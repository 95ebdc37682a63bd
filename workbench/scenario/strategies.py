"""The ``[strategy]`` table: how traffic is split between legacy and the candidate.

One class per ``kind``, joined in the discriminated union :data:`StrategyConfig`; the
progressive and blue-green strategies carry their gates and judge configuration.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import FrozenDict, ReadOnlyDict, StrictModel
from .errors import FieldError

__all__ = [
    "SingleStrategy",
    "ABStrategy",
    "RampPoint",
    "CanaryStrategy",
    "Step",
    "Gate",
    "JudgeMetric",
    "KayentaMetricOptions",
    "JudgeConfig",
    "ProgressiveStrategy",
    "ShadowStrategy",
    "BlueGreenStrategy",
    "BanditStrategy",
    "InterleavingStrategy",
    "StrategyConfig",
]


class SingleStrategy(StrictModel):
    """Everything to legacy."""

    kind: Literal["single"] = "single"
    model: str = "legacy"


class ABStrategy(StrictModel):
    """Random split: ``candidate_fraction`` of requests (or of users when ``sticky``)."""

    kind: Literal["ab"] = "ab"
    candidate_fraction: float = Field(default=0.5, ge=0, le=1)
    sticky: bool = False
    salt: str = "ab"


class RampPoint(StrictModel):
    """A point of a ramp schedule: from ``at_s`` seconds on, the candidate gets ``weight`` %."""

    at_s: float = Field(ge=0)
    weight: float = Field(ge=0, le=100)


class CanaryStrategy(StrictModel):
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
                raise FieldError(f"[{i}].at_s", "must be increasing")
        return v


class Step(StrictModel):
    """One progressive step: send ``weight`` percent to the candidate for ``pause_s``."""

    weight: float = Field(gt=0, le=100)
    pause_s: float | None = Field(default=None, gt=0)


class Gate(StrictModel):
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


class KayentaMetricOptions(StrictModel):
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


class JudgeConfig(StrictModel):
    """Which judge decides an analysis.

    ``threshold`` gates (default), ``sequential`` (always-valid confidence sequence)
    or ``kayenta`` (Mann-Whitney canary score).

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
    metric_options: FrozenDict[JudgeMetric, KayentaMetricOptions] = Field(default_factory=ReadOnlyDict)

    @model_validator(mode="after")
    def _thresholds(self) -> JudgeConfig:
        if self.marginal_threshold > self.pass_threshold:
            raise FieldError("marginal_threshold", "must be at most pass_threshold")
        for name in self.metric_options:
            if name not in self.metrics:
                raise FieldError(f"metric_options.{name}", f"is not one of the judge's metrics {list(self.metrics)}")
        if self.margin is not None and not (math.isfinite(self.margin) and self.margin >= 0):
            raise FieldError("margin", f"must be a finite number >= 0, got {self.margin!r}")
        if not (math.isfinite(self.tuning) and self.tuning > 0):
            raise FieldError("tuning", f"must be a finite number > 0, got {self.tuning!r}")
        if self.kind == "sequential" and self.margin is None and self.metric not in ("error", "latency_ms"):
            raise FieldError("margin", f"is required for the sequential judge on {self.metric!r}")
        return self


class ProgressiveStrategy(StrictModel):
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
                raise FieldError(f"[{i}].weight", "must be greater than the previous step's weight")
        for i, s in enumerate(v[:-1]):
            if s.pause_s is None:
                raise FieldError(f"[{i}].pause_s", "is required on every step but the last")
        return v


class ShadowStrategy(StrictModel):
    """Users get legacy; ``mirror_fraction`` of requests are also sent to the candidate."""

    kind: Literal["shadow"] = "shadow"
    mirror_fraction: float = Field(default=1.0, gt=0, le=1)
    candidate_replicas: int | None = Field(default=None, ge=1)
    agreement_tolerance: float = Field(default=0.5, ge=0)


class BlueGreenStrategy(StrictModel):
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


class BanditStrategy(StrictModel):
    """Thompson sampling (Beta-Bernoulli) or epsilon-greedy on reward "ok within the SLO".

    ``update_interval_s = 0`` (default) updates the arms' counts with every reward as it
    arrives. A positive ``update_interval_s`` buffers the rewards and applies them every
    ``update_interval_s`` seconds, as deployed bandits update their posteriors in
    batches; between two updates the allocation is fixed.
    """

    kind: Literal["bandit"] = "bandit"
    algorithm: Literal["thompson", "epsilon_greedy"] = "thompson"
    epsilon: float = Field(default=0.1, ge=0, le=1)
    min_legacy_share: float = Field(default=0.1, ge=0, le=1)
    reward: Literal["ok_within_slo", "conversion"] = "ok_within_slo"
    prior_alpha: float = Field(default=1.0, gt=0)
    prior_beta: float = Field(default=1.0, gt=0)
    update_interval_s: float = Field(default=0.0, ge=0)


class InterleavingStrategy(StrictModel):
    """Interleaving experiment on recommendation requests.

    The legacy and candidate rankers' top-``k`` lists are interleaved (team-draft by
    default), users click by a click model, and each impression is credited to a
    ranker (win, loss or tie).

    The catalogue has ``n_items`` items with graded relevance per user (from user
    and item embeddings); ranking quality is the noise on true relevance of each
    ranker (lower is better). ``naive_shuffle`` (alternate, then
    shuffle) measures item sets rather than rankings; it is kept as a counter-example.
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
            raise FieldError("k", "must be at most n_items")
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
