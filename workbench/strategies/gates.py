"""Analysis of a rollout window: threshold gates and pluggable judges.

Each measurement is ``pass``, ``fail`` or ``inconclusive`` (Argo Rollouts'
Successful / Failed / Inconclusive). A window with too few samples, or a metric
that is missing or NaN, is *inconclusive*: never a silent pass (Flagger's NaN
trap: a NaN read as 0 passes a "max" threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..scenario import Gate, JudgeConfig
from ..stats.thresholds import FAIL, INCONCLUSIVE, PASS, check_threshold
from .base import StrategyContext, WindowMetrics

__all__ = ["GateResult", "Measurement", "evaluate_gates", "build_judge", "analyse"]

# non-inferiority margins of the sequential judge when the scenario sets none:
# one percentage point of error rate, 5 ms of mean latency
SEQUENTIAL_DEFAULT_MARGINS = {"error": 0.01, "latency_ms": 5.0}
_LABELLED = {"prediction_mae", "business_rate"}


@dataclass(frozen=True)
class GateResult:
    """One threshold gate's outcome in one analysis window.

    Attributes
    ----------
    metric : str
        Window metric the gate reads.
    outcome : str
        ``pass``, ``fail`` or ``inconclusive``.
    value : float
        Measured value (a ratio when the gate is relative to legacy; NaN when missing).
    threshold : float
        Limit the value is held to.
    direction : str
        ``max`` fails above ``threshold``, ``min`` below it.
    samples : int
        Requests behind the value (labelled requests for label-based metrics).
    reason : str
        One line for the event log.
    """

    metric: str
    outcome: str
    value: float
    threshold: float
    direction: str
    samples: int
    reason: str


@dataclass(frozen=True)
class Measurement:
    """One analysis: the overall outcome and what each gate or judge said."""

    outcome: str
    reason: str
    gates: list[GateResult] = field(default_factory=list)
    judge: dict[str, Any] | None = None

    def details(self) -> dict[str, Any]:
        """Outcome, gate results and judge output as plain dicts (for event details)."""
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "gates": [g.__dict__ for g in self.gates],
        }
        if self.judge is not None:
            out["judge"] = self.judge
        return out


def _samples(metric: str, window: WindowMetrics) -> int:
    """Requests behind a metric (labelled requests for label-based metrics)."""
    return window.n_labelled if metric in _LABELLED else window.n


def _legacy_baseline(gate: Gate, legacy: WindowMetrics | None) -> float | None:
    """Legacy's value of the gate's metric, or None when it cannot serve as a denominator."""
    base = legacy.get(gate.metric) if legacy is not None else math.nan
    base_n = _samples(gate.metric, legacy) if legacy else 0
    if base_n < gate.min_samples or not math.isfinite(base) or base == 0:
        return None
    return base


def _gate(gate: Gate, cand: WindowMetrics, legacy: WindowMetrics | None, span: str = "") -> GateResult:
    samples = _samples(gate.metric, cand)
    counted = "labelled requests" if gate.metric in _LABELLED else "requests"
    value = cand.get(gate.metric)
    if gate.relative_to_legacy and samples >= gate.min_samples:
        base = _legacy_baseline(gate, legacy)
        if base is None:
            return GateResult(gate.metric, INCONCLUSIVE, math.nan, gate.threshold, gate.direction, samples,
                              f"{gate.metric}: no usable legacy baseline ({samples:,} {counted}{span})")
        value = value / base
    check = check_threshold(value, gate.threshold, gate.direction, n=samples, min_samples=gate.min_samples)
    if check.why == "too_few_samples":
        reason = f"{gate.metric}: {samples} samples < {gate.min_samples}{span}"
    elif check.why == "not_finite":
        reason = f"{gate.metric}: value missing or NaN ({samples:,} {counted}{span})"
    else:
        what = "ratio to legacy " if gate.relative_to_legacy else ""
        verdict = f"{check.breach_sign} {gate.threshold:g}" if check.failed else "ok"
        reason = f"{gate.metric} {what}{check.value:.4g} {verdict} ({samples:,} {counted}{span})"
    return GateResult(gate.metric, check.outcome, check.value, gate.threshold, gate.direction, samples, reason)


def evaluate_gates(gates: list[Gate], cand: WindowMetrics, legacy: WindowMetrics | None,
                   span: str = "") -> list[GateResult]:
    """Check every gate against the candidate's window (and legacy's, for relative gates).

    Each reason names the value, the limit and how many requests it rests on, then
    ``span`` (e.g. ``" in 300-480 s"``, the window measured).
    """
    return [_gate(g, cand, legacy, span) for g in gates]


def window_span(start_s: float, end_s: float) -> str:
    """The measured window as text for a gate's reason: ``" in 300-480 s"``."""
    return f" in {start_s:.0f}-{end_s:.0f} s"


def build_judge(config: JudgeConfig):
    """A statistical judge from :mod:`workbench.stats` (None for threshold gates)."""
    if config.kind == "threshold":
        return None
    from ..stats import judges  # stats never imports the engine; strategies may use stats

    if config.kind == "sequential":
        margin = config.margin if config.margin is not None else SEQUENTIAL_DEFAULT_MARGINS[config.metric]
        return judges.SequentialJudge(
            metric=config.metric, direction=config.direction, alpha=config.alpha,
            min_samples=max(config.min_samples, 2), margin=margin, tuning=config.tuning,
        )
    metrics = [
        judges.KayentaMetric(name=name, direction=config.direction,
                             **(config.metric_options[name].model_dump() if name in config.metric_options else {}))
        for name in config.metrics
    ]
    return judges.KayentaJudge(
        metrics,
        pass_threshold=config.pass_threshold,
        marginal_threshold=config.marginal_threshold,
        min_samples=config.min_samples,
    )


def analyse(
    ctx: StrategyContext,
    gates: list[Gate],
    judge,
    start_s: float,
    legacy_window: tuple[float, float | None] | None = None,
) -> Measurement:
    """Evaluate gates (and the judge, if any) on the candidate's window ``[start_s, now)``.

    Legacy, for relative gates and judges, is read over the same window unless
    ``legacy_window`` (start, end) says otherwise (e.g. when legacy gets no traffic).
    """
    cand = ctx.window("candidate", start_s)
    l_start, l_end = legacy_window if legacy_window is not None else (start_s, None)
    needs_legacy = any(g.relative_to_legacy for g in gates)
    legacy = ctx.window("legacy", l_start, l_end) if needs_legacy else None
    results = evaluate_gates(gates, cand, legacy, window_span(start_s, ctx.now_s))
    outcomes = [r.outcome for r in results]
    judge_info = None
    if judge is not None:
        verdict = judge.judge(ctx.window_values("legacy", l_start, l_end), ctx.window_values("candidate", start_s))
        outcomes.append(verdict.outcome)
        judge_info = {"outcome": verdict.outcome, "score": verdict.score, "reason": verdict.reason}
    if not outcomes:
        # no gates and no judge: nothing can pass a step silently
        return Measurement(INCONCLUSIVE, "no gates configured", results, judge_info)
    if FAIL in outcomes:
        outcome = FAIL
        reasons = [r.reason for r in results if r.outcome == FAIL]
    elif INCONCLUSIVE in outcomes:
        outcome = INCONCLUSIVE
        reasons = [r.reason for r in results if r.outcome == INCONCLUSIVE]
    else:
        outcome = PASS
        reasons = [r.reason for r in results]
    if judge_info is not None and judge_info["outcome"] == outcome:
        reasons.append(f"judge: {judge_info['reason']}")
    return Measurement(outcome, "; ".join(reasons), results, judge_info)
