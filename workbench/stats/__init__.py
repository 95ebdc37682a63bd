"""Statistics engine for comparing a candidate with legacy.

Fixed-horizon, sequential and Bayesian comparisons, planning, judges,
distances between distributions, confidence intervals and threshold checks.
Pure functions and small classes with dataclass results; no simulation
imports. Conventions: ``a`` is legacy, ``b`` the candidate, and every effect
is ``b`` minus ``a`` (or ``b/a - 1`` when relative). Inputs are raw arrays or
:class:`SummaryStats` (n, sum, sum of squares), so large runs need no raw data.

The names below load their submodule on first use: the threshold check, distances and
intervals are needed at ``import workbench`` time, the scipy- and statsmodels-backed
tests only when a comparison runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "abtest": ("AbVerdict", "GuardrailCheck", "Lift", "ab_verdict", "cuped", "lift"),
    "bayesian": ("BayesianResult", "beta_binomial", "normal_lift"),
    "comparison": ("ComparisonReport", "ModelComparison"),
    "corrections": ("CandidateComparison", "CorrectionResult", "MetricDecision", "adjust_p_values",
                    "compare_with_legacy"),
    "distances": ("ReferenceComparison", "SortedReference", "jensen_shannon",
                  "normalised_wasserstein", "population_stability_index"),
    "frequentist": ("BootstrapResult", "EffectResult", "MannWhitneyResult", "bootstrap_ci",
                    "cohens_d", "hedges_g", "hodges_lehmann", "mann_whitney",
                    "mean_difference", "proportion_test"),
    "intervals": ("RateEstimate", "critical_value", "t_interval", "wilson_interval"),
    "judges": ("GateJudge", "JudgeVerdict", "KayentaJudge", "KayentaMetric",
               "MetricClassification", "SequentialJudge"),
    "peeking": ("peeking_study",),
    "power": ("canary_step_duration_s", "mde_proportions", "mde_ttest", "power_proportions",
              "power_ttest", "power_ztest", "sample_size_proportions", "sample_size_ttest",
              "sample_size_ztest"),
    "sequential": ("MSPRT", "GroupSequentialBounds", "MSPRTResult", "SequentialResult",
                   "confidence_sequence", "group_sequential_bounds", "msprt",
                   "msprt_mixing_variance", "sequential_rho"),
    "srm": ("SRMResult", "srm_test"),
    "summary": ("SummaryStats",),
    "thresholds": ("ThresholdCheck", "check_threshold"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AbVerdict", "GuardrailCheck", "Lift", "ab_verdict", "cuped", "lift",
    "BayesianResult", "BootstrapResult", "CandidateComparison", "ComparisonReport", "CorrectionResult",
    "EffectResult", "compare_with_legacy",
    "GateJudge", "GroupSequentialBounds", "JudgeVerdict", "KayentaJudge", "KayentaMetric",
    "MSPRT", "MSPRTResult", "MannWhitneyResult", "MetricClassification", "MetricDecision",
    "ModelComparison", "RateEstimate", "ReferenceComparison", "SRMResult", "SequentialJudge",
    "SequentialResult", "SortedReference", "SummaryStats", "ThresholdCheck", "adjust_p_values",
    "beta_binomial", "bootstrap_ci", "canary_step_duration_s", "check_threshold", "cohens_d",
    "confidence_sequence", "critical_value", "group_sequential_bounds", "hedges_g",
    "hodges_lehmann", "jensen_shannon", "mann_whitney", "mde_proportions", "mde_ttest",
    "mean_difference", "msprt", "msprt_mixing_variance", "normal_lift",
    "normalised_wasserstein", "peeking_study", "population_stability_index",
    "power_proportions", "power_ttest", "power_ztest", "proportion_test",
    "sample_size_proportions", "sample_size_ttest", "sample_size_ztest", "sequential_rho",
    "srm_test", "t_interval", "wilson_interval",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from .abtest import AbVerdict, GuardrailCheck, Lift, ab_verdict, cuped, lift
    from .bayesian import BayesianResult, beta_binomial, normal_lift
    from .comparison import ComparisonReport, ModelComparison
    from .corrections import (
        CandidateComparison,
        CorrectionResult,
        MetricDecision,
        adjust_p_values,
        compare_with_legacy,
    )
    from .distances import (
        ReferenceComparison,
        SortedReference,
        jensen_shannon,
        normalised_wasserstein,
        population_stability_index,
    )
    from .frequentist import (
        BootstrapResult,
        EffectResult,
        MannWhitneyResult,
        bootstrap_ci,
        cohens_d,
        hedges_g,
        hodges_lehmann,
        mann_whitney,
        mean_difference,
        proportion_test,
    )
    from .intervals import RateEstimate, critical_value, t_interval, wilson_interval
    from .judges import (
        GateJudge,
        JudgeVerdict,
        KayentaJudge,
        KayentaMetric,
        MetricClassification,
        SequentialJudge,
    )
    from .peeking import peeking_study
    from .power import (
        canary_step_duration_s,
        mde_proportions,
        mde_ttest,
        power_proportions,
        power_ttest,
        power_ztest,
        sample_size_proportions,
        sample_size_ttest,
        sample_size_ztest,
    )
    from .sequential import (
        MSPRT,
        GroupSequentialBounds,
        MSPRTResult,
        SequentialResult,
        confidence_sequence,
        group_sequential_bounds,
        msprt,
        msprt_mixing_variance,
        sequential_rho,
    )
    from .srm import SRMResult, srm_test
    from .summary import SummaryStats
    from .thresholds import ThresholdCheck, check_threshold


def __getattr__(name: str) -> Any:
    """Load the submodule that defines ``name`` on first access."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
