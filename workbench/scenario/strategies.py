"""The ``[strategy]`` table: how traffic is split between legacy and the candidate.

One class per ``kind``, joined in the discriminated union :data:`StrategyConfig`; the
progressive and blue-green strategies carry their gates and judge configuration.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..limits import MAX_DURATION_S
from .base import FrozenDict, ReadOnlyDict, StrictModel
from .errors import FieldError

__all__ = [
    "SingleStrategy",
    "ABStrategy",
    "Split",
    "RampPoint",
    "CanaryStrategy",
    "Step",
    "Gate",
    "JudgeMetric",
    "KayentaMetricOptions",
    "JudgeConfig",
    "AnalysisMeasure",
    "AnalysisMetric",
    "AnalysisTemplate",
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
    """Random split between legacy and one or more candidate models (A/B/n).

    ``arms`` names the candidate models, in order; legacy is always arm 0.
    ``weights`` gives the percent of requests (of users when ``sticky``) per arm,
    legacy first, summing to 100. Without it legacy gets ``1 - candidate_fraction``
    and the candidates share ``candidate_fraction`` equally, so one candidate is the
    classic A/B test. With ``weights``, ``candidate_fraction`` is the candidates' total
    share (leave it out, or give the same value).

    ``cuped_pre_period_s`` (one candidate only; 0 turns it off) adds a CUPED-adjusted
    primary lift to the run's A/B verdict. The pre-period is simulated, not observed:
    each user's requests in it are Poisson with mean ``rate_per_s * cuped_pre_period_s``
    times the user's share of the traffic, and their conversions binomial at legacy's
    conversion rate in the run, from the run's own ``pre_period`` stream.
    """

    kind: Literal["ab"] = "ab"
    candidate_fraction: float = Field(default=0.5, ge=0, le=1)
    sticky: bool = False
    salt: str = "ab"
    arms: tuple[str, ...] = ("candidate",)
    weights: tuple[float, ...] | None = None
    cuped_pre_period_s: float = Field(
        default=0.0, ge=0, le=MAX_DURATION_S,
        description=(
            "Length in seconds of a simulated pre-period before the run whose per-user conversions are "
            "the CUPED covariate of the A/B verdict's primary metric; 0 (the default) turns CUPED off. "
            "Simulated from the same traffic model on legacy: per-user requests Poisson(rate_per_s x "
            "cuped_pre_period_s x the user's activity share), conversions Binomial(requests, legacy's "
            "conversion rate in the run). Only for an A/B test with one candidate."
        ),
    )

    @model_validator(mode="after")
    def _cuped_one_candidate(self) -> ABStrategy:
        if self.cuped_pre_period_s > 0 and len(self.arms) != 1:
            raise FieldError("cuped_pre_period_s", f"is only for an A/B test with one candidate "
                                                   f"({len(self.arms)} arms are given)")
        return self

    @staticmethod
    def check_arms(arms: tuple[str, ...]) -> tuple[str, ...]:
        """Candidate models of an ``ab`` or ``bandit`` strategy: at least one, distinct, never legacy."""
        if not arms:
            raise ValueError("name at least one candidate model")
        for i, arm in enumerate(arms):
            if arm == "legacy":
                raise FieldError(f"[{i}]", "legacy is always arm 0: list only the candidate models")
            if arm in arms[:i]:
                raise FieldError(f"[{i}]", f"duplicate arm {arm!r}")
        return arms

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return cls.check_arms(v)

    @model_validator(mode="after")
    def _weights(self) -> ABStrategy:
        """Weights: one per arm, each 0..100, summing to 100; ``candidate_fraction`` follows them."""
        if self.weights is None:
            return self
        w = self.weights
        if len(w) != len(self.arms) + 1:
            raise FieldError("weights", f"give one weight per arm, legacy first: {len(self.arms) + 1} "
                                        f"(legacy and {len(self.arms)} candidates), got {len(w)}")
        for i, x in enumerate(w):
            if not 0 <= x <= 100:
                raise FieldError(f"weights[{i}]", "must be between 0 and 100 (percent)")
        if not math.isclose(math.fsum(w), 100.0, rel_tol=0, abs_tol=1e-6):
            raise FieldError("weights", f"must sum to 100 (percent), got {math.fsum(w):g}")
        fraction = math.fsum(w[1:]) / 100.0
        if "candidate_fraction" in self.model_fields_set:
            if not math.isclose(self.candidate_fraction, fraction, rel_tol=0, abs_tol=1e-9):
                raise FieldError("candidate_fraction", f"the weights give the candidates {fraction:g}; "
                                                      "leave candidate_fraction out or make it match")
        else:
            object.__setattr__(self, "candidate_fraction", fraction)
        return self

    @property
    def arm_models(self) -> tuple[str, ...]:
        """Every arm's model, legacy first."""
        return ("legacy", *self.arms)

    @property
    def arm_shares(self) -> tuple[float, ...]:
        """Every arm's planned share (fractions summing to 1), legacy first.

        Exactly ``(1 - candidate_fraction, candidate_fraction)`` for the classic split.
        """
        if self.weights is not None:
            return tuple(x / 100.0 for x in self.weights)
        f = self.candidate_fraction
        return (1 - f, *(f / len(self.arms) for _ in self.arms))


# how a weight splits traffic: a seeded draw per request (Argo Rollouts' setWeight and
# Flagger's stepWeight are shares of requests) or sticky user cohorts (Flagger's
# sessionAffinity: a user keeps their model, but heavy users make the request share
# differ from the weight)
Split = Literal["requests", "users"]


def _per_request_alias(data):
    """Accept the older ``per_request = true/false`` as ``split = "requests"/"users"``."""
    if isinstance(data, dict) and "per_request" in data:
        data = dict(data)
        per_request = data.pop("per_request")
        if "split" in data:
            raise FieldError("per_request", "give either split or per_request, not both")
        if not isinstance(per_request, bool):
            raise FieldError("per_request", f"must be true or false, got {per_request!r}")
        data["split"] = "requests" if per_request else "users"
    return data


class RampPoint(StrictModel):
    """A point of a ramp schedule: from ``at_s`` seconds on, the candidate gets ``weight`` %."""

    at_s: float = Field(ge=0)
    weight: float = Field(ge=0, le=100)


class CanaryStrategy(StrictModel):
    """A share of traffic sees the candidate: ``candidate_fraction`` of requests, or of users.

    ``split = "requests"`` (default) draws every request (users then see both models);
    ``split = "users"`` keeps a sticky cohort (stable hash of salt and user id, basis
    points), so a user never switches model but the request share follows the cohort's
    activity. ``schedule`` optionally ramps the weight:
    ``[{at_s = 0, weight = 5}, {at_s = 600, weight = 10}]``. The older
    ``per_request = true/false`` reads as ``split = "requests"/"users"``.
    """

    kind: Literal["canary"] = "canary"
    candidate_fraction: float = Field(default=0.05, ge=0, le=1)
    schedule: tuple[RampPoint, ...] = Field(default_factory=tuple)
    split: Split = "requests"
    salt: str = "canary"

    _alias = model_validator(mode="before")(_per_request_alias)

    @field_validator("schedule")
    @classmethod
    def _monotone(cls, v: list[RampPoint]) -> list[RampPoint]:
        for i in range(1, len(v)):
            if v[i].at_s <= v[i - 1].at_s:
                raise FieldError(f"[{i}].at_s", "must be increasing")
        return v


class Step(StrictModel):
    """One progressive step: send ``weight`` percent to the candidate, then wait.

    In order: the step's inline ``analysis`` (names of ``strategy.analysis_templates``)
    runs to completion (Argo's ``analysis`` step), then the step waits ``pause_s``
    seconds, then, when ``manual``, for a person to promote it (Argo's ``pause: {}``;
    the simulated person answers after the strategy's ``manual_pause_s``). With gates
    or a judge, the step also needs a passing analysis at or after ``pause_s``.
    """

    weight: float = Field(ge=0, le=100)
    pause_s: float | None = Field(default=None, gt=0)
    manual: bool = False
    analysis: tuple[str, ...] = Field(default_factory=tuple)


# what a gate or a simulated analysis query reads, per model: the share of requests that
# failed (errors, timeouts, drops) or succeeded, latency quantiles, label-based metrics
AnalysisMeasure = Literal[
    "error_rate",
    "success_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "prediction_mae",
    "business_rate",
]


class Gate(StrictModel):
    """A threshold gate on one metric over the analysis window.

    ``metric``: ``error_rate``, ``latency_p50_ms``, ``latency_p95_ms``,
    ``latency_p99_ms``, ``prediction_mae`` (against labels that have arrived) or
    ``business_rate``. ``direction = "max"`` fails when the value exceeds
    ``threshold``; ``"min"`` when it falls below. ``relative_to_legacy`` compares
    the candidate with legacy in the same window (threshold is then a ratio).
    """

    metric: AnalysisMeasure
    threshold: float
    direction: Literal["max", "min"] = "max"
    relative_to_legacy: bool = False
    min_samples: int = Field(default=50, ge=1)
    name: str = ""  # as the imported spec called it (Flagger's metric name), for export and events


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


class AnalysisMetric(StrictModel):
    """One metric of an analysis template, with Argo Rollouts' measurement semantics.

    The simulated query reads ``measure`` of ``model``'s requests over the last
    ``window_s`` seconds (all since the analysis started when unset) and returns a
    vector: ``[value]``, or ``[]`` when fewer than ``min_samples`` requests completed
    (a series with no data). Conditions are evaluated on it as ``result``
    (see :mod:`workbench.scenario.expressions`).

    Measurements start ``initial_delay_s`` after the analysis and repeat every
    ``interval_s``, ``count`` times (without ``interval_s``: once; without ``count``:
    until the analysis ends). A measurement is Successful, Failed, Inconclusive or
    Error (a condition that cannot be evaluated, e.g. ``result[0]`` of no data). The
    metric fails when failed measurements exceed ``failure_limit``, is inconclusive
    when inconclusive ones exceed ``inconclusive_limit``, and errs when consecutive
    errors exceed ``consecutive_error_limit`` (Argo's default 4). ``dry_run`` metrics
    are measured and reported but never decide. ``scale`` multiplies the value before
    the conditions see it (0.001 when the query reports latency in seconds).
    ``provider`` and ``query`` keep the spec's provider and query for export.
    """

    name: str = Field(min_length=1)
    measure: AnalysisMeasure
    model: Literal["candidate", "legacy"] = "candidate"
    window_s: float | None = Field(default=None, gt=0)
    min_samples: int = Field(default=1, ge=1)
    interval_s: float | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, ge=1)
    initial_delay_s: float = Field(default=0.0, ge=0)
    success_condition: str = ""
    failure_condition: str = ""
    failure_limit: int = Field(default=0, ge=-1)
    inconclusive_limit: int = Field(default=0, ge=0)
    consecutive_error_limit: int = Field(default=4, ge=0)
    scale: float = Field(default=1.0, gt=0)
    dry_run: bool = False
    provider: str = "prometheus"
    query: str = ""

    @model_validator(mode="after")
    def _conditions(self) -> AnalysisMetric:
        from .expressions import ConditionError, parse_condition

        for field in ("success_condition", "failure_condition"):
            text = getattr(self, field)
            if text:
                try:
                    parse_condition(text)
                except ConditionError as exc:
                    raise FieldError(field, str(exc)) from None
        return self


class AnalysisTemplate(StrictModel):
    """A named set of metrics measured together (Argo's AnalysisTemplate)."""

    metrics: tuple[AnalysisMetric, ...] = Field(min_length=1)

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: tuple[AnalysisMetric, ...]) -> tuple[AnalysisMetric, ...]:
        names = [m.name for m in v]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise FieldError(f"[{i}].name", f"metric {name!r} appears twice")
        return v


class ProgressiveStrategy(StrictModel):
    """Argo/Flagger-style progressive delivery with analysis, gates and rollback.

    Two kinds of analysis, which may be combined:

    * ``gates`` and ``judge`` (Flagger's checks): every ``interval_s`` the current
      step since it started (or its last ``window_s`` seconds) is analysed; a step
      advances on a passing analysis once its ``pause_s`` has passed, failed analyses
      count towards ``failure_limit`` and inconclusive ones follow ``inconclusive``.
    * ``analysis_templates`` (Argo Rollouts' AnalysisTemplates): templates named in
      ``background_analysis`` run from step ``background_starting_step`` until
      promotion; templates named in a step's ``analysis`` run inline and block the
      step. A Failed or Error analysis aborts (rolls back); an Inconclusive one
      pauses the rollout, which then follows ``inconclusive`` (``hold``: a person
      resumes it after ``manual_pause_s``; ``fail``: abort; ``pass``: go on).

    ``rollback_on = "next_check"`` rolls back at the check after the one that took the
    failures past the limit, before analysing it: Flagger compares its failed checks
    with ``threshold`` at the start of each interval, so its rollback comes one
    interval after the last failed check.

    Without gates or a judge, steps advance on their pauses alone, as Argo's do.
    ``split`` says whether weights are shares of requests (default) or of users.
    A last step of weight 100 without ``pause_s`` is the promotion itself; with
    ``pause_s`` it is a bake period at 100% whose relative gates compare with
    legacy's previous-step window.
    """

    kind: Literal["progressive"] = "progressive"
    split: Split = "requests"
    steps: tuple[Step, ...] = Field(min_length=1)
    interval_s: float = Field(default=60.0, gt=0)
    window_s: float | None = Field(default=None, gt=0)
    gates: tuple[Gate, ...] = Field(default_factory=tuple)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    failure_limit: int = Field(default=0, ge=0)
    consecutive: bool = True
    inconclusive: Literal["hold", "fail", "pass"] = "hold"
    inconclusive_limit: int | None = Field(default=None, ge=0)
    rollback_on: Literal["failure", "next_check"] = "failure"
    analysis_templates: FrozenDict[str, AnalysisTemplate] = Field(default_factory=ReadOnlyDict)
    background_analysis: tuple[str, ...] = Field(default_factory=tuple)
    background_starting_step: int = Field(default=1, ge=1)
    manual_pause_s: float = Field(default=600.0, gt=0)
    salt: str = "progressive"

    @field_validator("steps")
    @classmethod
    def _increasing(cls, v: list[Step]) -> list[Step]:
        for i in range(1, len(v)):
            if v[i].weight < v[i - 1].weight:
                raise FieldError(f"[{i}].weight", "must be at least the previous step's weight")
        for i, s in enumerate(v[:-1]):
            if s.pause_s is None and not s.manual and not s.analysis and v[i + 1].weight == s.weight:
                raise FieldError(f"[{i}].pause_s", "a step that neither waits nor analyses must change the weight")
        return v

    @model_validator(mode="after")
    def _templates(self) -> ProgressiveStrategy:
        names = set(self.analysis_templates)
        for i, step in enumerate(self.steps):
            for name in step.analysis:
                if name not in names:
                    raise FieldError(f"steps[{i}].analysis", f"unknown analysis template {name!r}")
        for name in self.background_analysis:
            if name not in names:
                raise FieldError("background_analysis", f"unknown analysis template {name!r}")
        if self.background_analysis and self.background_starting_step > len(self.steps):
            raise FieldError("background_starting_step", f"must be at most the number of steps ({len(self.steps)})")
        return self

    def uses_checks(self) -> bool:
        """Whether steps are analysed by gates or a judge every ``interval_s``."""
        return bool(self.gates) or self.judge.kind != "threshold"


class ShadowStrategy(StrictModel):
    """Users get legacy; ``mirror_fraction`` of requests are also sent to the candidate."""

    kind: Literal["shadow"] = "shadow"
    mirror_fraction: float = Field(default=1.0, gt=0, le=1)
    candidate_replicas: int | None = Field(default=None, ge=1)
    agreement_tolerance: float = Field(default=0.5, ge=0)


class BlueGreenStrategy(StrictModel):
    """All traffic to legacy, switch to the candidate at ``switch_s``; gates may roll back.

    Analyses every ``interval_s`` look at the last ``window_s`` seconds of green; relative
    gates compare with blue's last ``window_s`` before the switch. An inconclusive
    analysis (too few samples, no data) holds (changes nothing), fails (counts towards
    ``failure_limit``, as Flagger's "no values") or passes, by ``inconclusive``.

    Argo Rollouts' ``blueGreen``: ``switch_s`` is ``autoPromotionSeconds`` (with
    ``auto_promotion = false`` a person promotes after ``manual_pause_s``);
    ``pre_promotion_analysis`` templates run from the start and must succeed before the
    switch (green has no production traffic then: a template that reads the candidate
    sees no values), ``post_promotion_analysis`` templates run after it and roll back
    on failure. ``split`` is accepted for symmetry: a switch moves every request.
    """

    kind: Literal["blue_green"] = "blue_green"
    switch_s: float = Field(default=600.0, ge=0)
    interval_s: float = Field(default=30.0, gt=0)
    window_s: float = Field(default=120.0, gt=0)
    gates: tuple[Gate, ...] = Field(default_factory=tuple)
    failure_limit: int = Field(default=0, ge=0)
    inconclusive: Literal["hold", "fail", "pass"] = "hold"
    split: Split = "requests"
    auto_promotion: bool = True
    manual_pause_s: float = Field(default=600.0, gt=0)
    analysis_templates: FrozenDict[str, AnalysisTemplate] = Field(default_factory=ReadOnlyDict)
    pre_promotion_analysis: tuple[str, ...] = Field(default_factory=tuple)
    post_promotion_analysis: tuple[str, ...] = Field(default_factory=tuple)

    @model_validator(mode="after")
    def _templates(self) -> BlueGreenStrategy:
        for field in ("pre_promotion_analysis", "post_promotion_analysis"):
            for name in getattr(self, field):
                if name not in self.analysis_templates:
                    raise FieldError(field, f"unknown analysis template {name!r}")
        return self


class BanditStrategy(StrictModel):
    """Thompson sampling (Beta-Bernoulli) or epsilon-greedy on reward "ok within the SLO".

    ``update_interval_s = 0`` (default) updates the arms' counts with every reward as it
    arrives. A positive ``update_interval_s`` buffers the rewards and applies them every
    ``update_interval_s`` seconds, as deployed bandits update their posteriors in
    batches; between two updates the allocation is fixed. ``arms`` names the candidate
    models (legacy is always arm 0); Thompson sampling and epsilon-greedy pick among
    all arms, and the guardrail keeps ``min_legacy_share`` on legacy.
    """

    kind: Literal["bandit"] = "bandit"
    algorithm: Literal["thompson", "epsilon_greedy"] = "thompson"
    epsilon: float = Field(default=0.1, ge=0, le=1)
    min_legacy_share: float = Field(default=0.1, ge=0, le=1)
    reward: Literal["ok_within_slo", "conversion"] = "ok_within_slo"
    prior_alpha: float = Field(default=1.0, gt=0)
    prior_beta: float = Field(default=1.0, gt=0)
    update_interval_s: float = Field(default=0.0, ge=0)
    arms: tuple[str, ...] = ("candidate",)

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return ABStrategy.check_arms(v)

    @property
    def arm_models(self) -> tuple[str, ...]:
        """Every arm's model, legacy first."""
        return ("legacy", *self.arms)


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
