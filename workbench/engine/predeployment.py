"""Pre-deployment validation of the candidate, run before any traffic moves."""

from __future__ import annotations

import numpy as np

from ..models import SyntheticModel, as_model
from ..rng import stream
from ..scenario import (
    BoundsCheck,
    LatencyBudgetCheck,
    LatencyDistribution,
    PerformanceCheck,
    PredictionDriftCheck,
    Scenario,
)
from ..validation import ValidationReport, ValidationResult, ValidationSuite
from .traffic import draw_feature, true_signal

__all__ = ["validate_candidate", "configured_p99_ms"]


def configured_p99_ms(latency: LatencyDistribution) -> float:
    """The 99th percentile of a latency spec (exponential: mean * ln 100)."""
    return latency.p99_ms


def _holdout(scenario: Scenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = scenario.validation.holdout_n
    names = scenario.feature_names
    X = np.empty((n, len(names)))
    for j, name in enumerate(names):
        X[:, j] = draw_feature(scenario.traffic.features[name], n, stream(seed, f"validation:features:{name}"))
    y = true_signal(scenario, X) + scenario.target.noise_sd * stream(seed, "validation:labels").standard_normal(n)
    return X, y


def _model(scenario: Scenario, name: str, seed: int, given=None):
    if given is not None:
        return as_model(given)
    cfg = scenario.models[name]
    return SyntheticModel(lambda X: true_signal(scenario, X), noise=cfg.noise, bias=cfg.bias,
                          rng=stream(seed, f"validation:model:{name}"))


def validate_candidate(scenario: Scenario, seed: int, models=None) -> ValidationReport:
    """Run the scenario's ``[validation]`` checks on the candidate with held-out data."""
    models = models or {}
    X, y = _holdout(scenario, seed)
    candidate = _model(scenario, "candidate", seed, models.get("candidate"))
    suite = ValidationSuite()
    for check in scenario.validation.checks:
        if isinstance(check, PerformanceCheck):
            suite.add_performance(check.metric, min_value=check.min_value, max_value=check.max_value)
        elif isinstance(check, BoundsCheck):
            suite.add_prediction_bounds(check.lower, check.upper, max_fraction_outside=check.max_fraction_outside)
        elif isinstance(check, PredictionDriftCheck):
            legacy = _model(scenario, "legacy", seed, models.get("legacy"))
            suite.add_prediction_drift(legacy.predict(X), method=check.method, threshold=check.threshold)
        elif isinstance(check, LatencyBudgetCheck):
            p99 = configured_p99_ms(scenario.models["candidate"].latency)
            budget = check.budget_p99_ms

            def latency_check(model, X_, y_, p99=p99, budget=budget):
                return ValidationResult(
                    name="latency_p99_ms", passed=p99 <= budget, value=p99, threshold=budget,
                    message=f"configured p99 {p99:.1f} ms {'<=' if p99 <= budget else '>'} budget {budget:g} ms",
                )

            suite.add_custom("latency_p99_ms", latency_check, threshold=budget)
    return suite.run(candidate, X, y, model_name="candidate")
