"""Argo Rollouts' AnalysisRun, measured on the simulation's own request windows.

An :class:`AnalysisRun` measures the metrics of one or more
:class:`~workbench.scenario.AnalysisTemplate` on the schedule each metric sets
(``initial_delay_s``, then every ``interval_s``, ``count`` times) and assesses them
as Argo Rollouts' analysis controller does:

* a measurement is Successful, Failed, Inconclusive or Error by the metric's
  conditions (``EvaluateResult``: no conditions -> Successful; only a success
  condition -> Failed when it is false; only a failure condition -> Successful when
  it is false; both false -> Inconclusive; a condition that cannot be evaluated ->
  Error, retried after 10 s);
* a metric is Failed when failed measurements exceed ``failure_limit`` (a negative
  limit never fails), Inconclusive when inconclusive ones exceed
  ``inconclusive_limit``, Error when consecutive errors exceed
  ``consecutive_error_limit``, checked in that order with the last one that holds
  winning; it is Successful once ``count`` measurements were taken (errors do not
  count; without ``interval_s`` and ``count`` one is enough), and a metric without
  ``count`` runs until the run is terminated;
* the run is the worst of its metrics that decide (dry-run metrics never do;
  Successful < Running < Inconclusive < Error < Failed); once a deciding metric
  is Failed, Error or Inconclusive the run terminates, and metrics still running
  end Successful.

The simulated query returns ``[value]`` for the metric's ``measure`` over its window,
or ``[]`` (no data) when fewer than ``min_samples`` requests completed in it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..scenario import AnalysisMetric, AnalysisTemplate
from ..scenario.expressions import ConditionError, parse_condition

__all__ = [
    "SUCCESSFUL",
    "FAILED",
    "INCONCLUSIVE",
    "ERROR",
    "RUNNING",
    "ERROR_RETRY_S",
    "Measurement",
    "MetricState",
    "AnalysisRun",
    "evaluate_result",
    "query_result",
    "tick_resolution_s",
]

SUCCESSFUL, RUNNING, INCONCLUSIVE, ERROR, FAILED = "Successful", "Running", "Inconclusive", "Error", "Failed"
_ORDER = {SUCCESSFUL: 0, RUNNING: 1, INCONCLUSIVE: 3, ERROR: 4, FAILED: 5}  # Argo's analysisStatusOrder
_LABELLED = {"prediction_mae", "business_rate"}
_EPS_S = 1e-9
ERROR_RETRY_S = 10.0  # Argo's DefaultErrorRetryInterval: an errored measurement is retried after 10 s


def evaluate_result(metric: AnalysisMetric, result: list[float]) -> tuple[str, str]:
    """A measurement's phase from the metric's conditions (Argo's ``EvaluateResult``) and why.

    Examples
    --------
    >>> m = AnalysisMetric(name="sr", measure="success_rate", success_condition="result[0] >= 0.95")
    >>> evaluate_result(m, [0.99])[0], evaluate_result(m, [0.90])[0], evaluate_result(m, [])[0]
    ('Successful', 'Failed', 'Error')
    """
    success = failure = False
    try:
        if metric.success_condition:
            success = parse_condition(metric.success_condition).evaluate(result)
        if metric.failure_condition:
            failure = parse_condition(metric.failure_condition).evaluate(result)
    except ConditionError as exc:
        return ERROR, str(exc)
    if not metric.success_condition and not metric.failure_condition:
        return SUCCESSFUL, "no condition"
    if not metric.failure_condition:
        failure = not success
    elif not metric.success_condition:
        success = not failure
    if failure:
        return FAILED, (f"failureCondition {metric.failure_condition!r} holds" if metric.failure_condition
                        else f"successCondition {metric.success_condition!r} does not hold")
    if not success:
        return INCONCLUSIVE, "neither condition holds"
    return SUCCESSFUL, "successCondition holds" if metric.success_condition else "failureCondition does not hold"


def query_result(ctx, metric: AnalysisMetric, run_start_s: float, now_s: float) -> tuple[list[float], int]:
    """What the metric's simulated query returns now, and the requests behind it.

    ``[value]`` of ``metric.measure`` over ``model``'s requests in the last
    ``window_s`` (since ``run_start_s`` when unset), or ``[]`` with fewer than
    ``min_samples`` of them.
    """
    start = run_start_s if metric.window_s is None else max(0.0, now_s - metric.window_s)
    window = ctx.window(metric.model, start)
    n = window.n_labelled if metric.measure in _LABELLED else window.n
    if n < metric.min_samples:
        return [], n
    return [window.get(metric.measure) * metric.scale], n


@dataclass
class Measurement:
    """One measurement of one metric."""

    time_s: float
    run: str
    metric: str
    phase: str
    value: float
    samples: int
    reason: str
    dry_run: bool = False


@dataclass
class MetricState:
    """A metric's counters, as Argo's MetricResult keeps them."""

    metric: AnalysisMetric
    next_at_s: float
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    measured: int = 0
    phase: str = RUNNING
    message: str = ""

    def due(self, now_s: float) -> bool:
        """Whether a measurement is due at ``now_s`` (and the metric still measures)."""
        return self.phase == RUNNING and self.next_at_s <= now_s + _EPS_S

    def record(self, phase: str) -> None:
        """Update the counters as Argo does for a measurement of ``phase``."""
        self.measured += 1
        if phase == ERROR:
            self.error += 1
            self.consecutive_error += 1
            return
        self.count += 1
        self.consecutive_error = 0
        if phase == SUCCESSFUL:
            self.successful += 1
        elif phase == FAILED:
            self.failed += 1
        else:
            self.inconclusive += 1

    def limits_phase(self) -> tuple[str, str]:
        """Failed, Inconclusive or Error by the limits (Argo's ``assessMetricFailureInconclusiveOrError``)."""
        m = self.metric
        phase, message = "", ""
        if m.failure_limit >= 0 and self.failed > m.failure_limit:
            phase, message = FAILED, f"failed ({self.failed}) > failureLimit ({m.failure_limit})"
        if self.inconclusive > m.inconclusive_limit:
            phase, message = INCONCLUSIVE, f"inconclusive ({self.inconclusive}) > inconclusiveLimit ({m.inconclusive_limit})"
        if self.consecutive_error > m.consecutive_error_limit:
            phase, message = ERROR, (f"consecutiveErrors ({self.consecutive_error}) > consecutiveErrorLimit "
                                     f"({m.consecutive_error_limit})")
        return phase, message

    def assess(self, terminating: bool) -> str:
        """The metric's phase now (Argo's ``assessMetricStatus``); a completed phase sticks."""
        if self.phase != RUNNING:
            return self.phase
        if self.measured == 0:
            return SUCCESSFUL if terminating else RUNNING
        phase, message = self.limits_phase()
        count = self.metric.count if self.metric.count is not None else (1 if self.metric.interval_s is None else None)
        if phase:
            self.phase, self.message = phase, message
        elif count is not None and self.count >= count:
            self.phase, self.message = SUCCESSFUL, f"count ({self.count}) reached"
        elif terminating:
            self.phase, self.message = SUCCESSFUL, "run terminated"
        return self.phase


@dataclass
class AnalysisRun:
    """The metrics of some templates measured from ``started_s`` and assessed together.

    Parameters
    ----------
    name : str
        Shown in events and in the analysis table (e.g. ``background`` or ``step 2``).
    templates : sequence of (name, AnalysisTemplate)
        Whose metrics to measure (a metric is known as ``template/metric``).
    started_s : float
        When the run starts; measurements are scheduled from here.
    """

    name: str
    templates: Sequence[tuple[str, AnalysisTemplate]]
    started_s: float
    metrics: list[MetricState] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    phase: str = RUNNING
    message: str = ""

    def __post_init__(self) -> None:
        self.metrics = [
            MetricState(metric, next_at_s=self.started_s + metric.initial_delay_s)
            for _, template in self.templates for metric in template.metrics
        ]
        self._labels = [f"{tname}/{metric.name}" for tname, template in self.templates for metric in template.metrics]

    @property
    def done(self) -> bool:
        """Whether the run has completed (any phase but Running)."""
        return self.phase != RUNNING

    def advance(self, ctx, now_s: float) -> str:
        """Take every measurement due by ``now_s``, then assess the run; returns its phase."""
        if self.done:
            return self.phase
        for label, state in zip(self._labels, self.metrics, strict=True):
            if state.due(now_s):
                self._measure(ctx, label, state, now_s)
        return self._assess(terminating=False)

    def terminate(self, now_s: float) -> str:
        """End the run (the rollout completed or moved on): running metrics end Successful."""
        if not self.done:
            self._assess(terminating=True)
        return self.phase

    def _measure(self, ctx, label: str, state: MetricState, now_s: float) -> None:
        metric = state.metric
        result, n = query_result(ctx, metric, self.started_s, now_s)
        phase, reason = evaluate_result(metric, result)
        state.record(phase)
        value = result[0] if result else math.nan
        self.measurements.append(Measurement(now_s, self.name, label, phase, value, n, reason, metric.dry_run))
        if phase == ERROR:
            state.next_at_s = now_s + ERROR_RETRY_S
        elif metric.interval_s is not None:
            state.next_at_s = now_s + metric.interval_s
        else:
            state.next_at_s = math.inf
        state.assess(terminating=False)

    def _deciding(self):
        return [(label, s) for label, s in zip(self._labels, self.metrics, strict=True) if not s.metric.dry_run]

    def _assess(self, terminating: bool) -> str:
        for state in self.metrics:
            state.assess(terminating)
        deciding = self._deciding()
        if not terminating and any(s.phase in (FAILED, ERROR, INCONCLUSIVE) for _, s in deciding):
            terminating = True  # a deciding metric ended badly: the run stops measuring the others
            for state in self.metrics:
                state.assess(terminating)
        if not terminating and any(s.phase == RUNNING for s in self.metrics):
            return RUNNING
        worst, message = SUCCESSFUL, ""
        for label, state in deciding:
            if _ORDER[state.phase] > _ORDER[worst]:
                worst, message = state.phase, f"metric {label!r} assessed {state.phase}: {state.message}"
        self.phase, self.message = worst, message or "every metric successful"
        return self.phase

    def summary(self) -> dict[str, Any]:
        """Phase, message and each metric's counters (for events and the strategy summary)."""
        return {
            "run": self.name,
            "phase": self.phase,
            "message": self.message,
            "metrics": {
                label: {"phase": s.phase, "count": s.count, "successful": s.successful, "failed": s.failed,
                        "inconclusive": s.inconclusive, "error": s.error, "dry_run": s.metric.dry_run}
                for label, s in zip(self._labels, self.metrics, strict=True)
            },
        }


def tick_resolution_s(durations_s: Sequence[float | None], floor_s: float = 0.1) -> float | None:
    """The coarsest tick that lands on every duration (their greatest common divisor, in ms).

    Examples
    --------
    >>> tick_resolution_s([60, 300, 30, None])
    30.0
    >>> tick_resolution_s([0.25, 1]) , tick_resolution_s([None]) is None
    (0.25, True)
    """
    ms = [round(d * 1000) for d in durations_s if d is not None and math.isfinite(d) and d > 0]
    if not ms:
        return None
    g = 0
    for v in ms:
        g = math.gcd(g, v)
    return max(g / 1000.0, floor_s)
