"""Statistics engine: fixed-horizon, sequential and Bayesian comparisons, planning, judges.

Pure functions and small classes with dataclass results; no simulation
imports. Conventions: ``a`` is legacy, ``b`` the candidate, and every effect
is ``b`` minus ``a`` (or ``b/a - 1`` when relative). Inputs are raw arrays or
:class:`SummaryStats` (n, sum, sum of squares), so large runs need no raw data.
"""

from .bayesian import BayesianResult, beta_binomial, normal_lift
from .comparison import ComparisonReport, ModelComparison
from .corrections import CorrectionResult, MetricDecision, adjust_p_values
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

__all__ = [
    "BayesianResult",
    "BootstrapResult",
    "ComparisonReport",
    "CorrectionResult",
    "EffectResult",
    "GateJudge",
    "GroupSequentialBounds",
    "JudgeVerdict",
    "KayentaJudge",
    "KayentaMetric",
    "MSPRT",
    "MSPRTResult",
    "MannWhitneyResult",
    "MetricClassification",
    "MetricDecision",
    "ModelComparison",
    "SRMResult",
    "SequentialJudge",
    "SequentialResult",
    "SummaryStats",
    "adjust_p_values",
    "beta_binomial",
    "bootstrap_ci",
    "canary_step_duration_s",
    "cohens_d",
    "confidence_sequence",
    "group_sequential_bounds",
    "hedges_g",
    "hodges_lehmann",
    "mann_whitney",
    "mde_proportions",
    "mde_ttest",
    "mean_difference",
    "msprt",
    "msprt_mixing_variance",
    "normal_lift",
    "peeking_study",
    "power_proportions",
    "power_ttest",
    "power_ztest",
    "proportion_test",
    "sample_size_proportions",
    "sample_size_ttest",
    "sample_size_ztest",
    "sequential_rho",
    "srm_test",
]
