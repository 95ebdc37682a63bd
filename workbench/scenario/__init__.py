"""Scenario files: schema, defaults, loading, overrides and errors that name the field.

A scenario is a TOML file (read with :mod:`tomllib`) validated by pydantic into an
immutable :class:`Scenario`. Every default lives next to the field it belongs to, in
the module of its table:

* :mod:`~workbench.scenario.traffic`: ``[traffic]`` and ``[target]``;
* :mod:`~workbench.scenario.latency`: the service-time distributions of ``[models.*.latency]``;
* :mod:`~workbench.scenario.serving`: ``[models.*]``, ``[services.*]``, ``[[dependencies]]``;
* :mod:`~workbench.scenario.strategies`: ``[strategy]`` with its gates and judges;
* :mod:`~workbench.scenario.faults`: ``[[faults]]``;
* :mod:`~workbench.scenario.monitoring`: ``[monitoring]`` and ``[rollback]``;
* :mod:`~workbench.scenario.validation`: ``[validation]`` (pre-deployment checks);
* :mod:`~workbench.scenario.measures`: ``[slo]``, ``[business]``, ``[resources]``;
* :mod:`~workbench.scenario.schema`: the root table and the checks across tables.

:mod:`~workbench.scenario.loading` reads files, :mod:`~workbench.scenario.overrides`
applies ``--set`` style dotted paths, :mod:`~workbench.scenario.errors` formats errors
and :mod:`~workbench.scenario.base` holds what every table shares.

Errors are :class:`ScenarioError` and name the file and the field path, e.g.
``scenarios/x.toml: models.candidate.latency.p99_ms: must be greater than median_ms``.
Unknown keys are errors: a typo never passes silently.
"""

from __future__ import annotations

from ..limits import MAX_ARRIVALS, MAX_DURATION_S, MAX_TICKS
from .base import MAX_MAGNITUDE, MAX_NESTING, FrozenDict, ReadOnlyDict, StrictModel, nesting_depth
from .errors import MAX_SHOWN_ERRORS, FieldError, ScenarioError, format_error
from .expressions import Condition, ConditionError, parse_condition
from .faults import (
    MAX_MULTIPLIER,
    ConceptDrift,
    DataDrift,
    ErrorBurst,
    FaultConfig,
    FaultWindow,
    LatencySpike,
    Outage,
)
from .latency import (
    LOGNORMAL_Z99,
    MAX_LATENCY_MS,
    MAX_LATENCY_SPREAD,
    ConstantLatency,
    EmpiricalLatency,
    ExponentialLatency,
    Latency,
    LatencyDistribution,
    LognormalLatency,
)
from .loading import MAX_FILE_BYTES, load_scenario, parse_toml, read_scenario_file
from .measures import BusinessConfig, ResourcesConfig, SLOConfig
from .monitoring import DetectorSpec, MonitoringConfig, RollbackConfig, RollbackThreshold
from .overrides import apply_overrides, parse_override_value, parse_path, render_path
from .schema import Scenario, validate_mapping
from .serving import AutoscalingConfig, DependencyConfig, ModelConfig, ServiceConfig
from .strategies import (
    ABStrategy,
    AnalysisMeasure,
    AnalysisMetric,
    AnalysisTemplate,
    BanditStrategy,
    BlueGreenStrategy,
    CanaryStrategy,
    Gate,
    InterleavingStrategy,
    JudgeConfig,
    JudgeMetric,
    KayentaMetricOptions,
    ProgressiveStrategy,
    RampPoint,
    ShadowStrategy,
    SingleStrategy,
    Split,
    Step,
    StrategyConfig,
)
from .traffic import MAX_FEATURES, FeatureSpec, TargetConfig, TrafficConfig
from .validation import (
    BoundsCheck,
    LatencyBudgetCheck,
    PerformanceCheck,
    PredictionDriftCheck,
    ValidationCheck,
    ValidationConfig,
)

__all__ = [
    # loading, overrides, errors
    "Scenario",
    "ScenarioError",
    "FieldError",
    "load_scenario",
    "read_scenario_file",
    "parse_toml",
    "validate_mapping",
    "apply_overrides",
    "parse_override_value",
    "parse_path",
    "render_path",
    "format_error",
    "nesting_depth",
    # building blocks
    "StrictModel",
    "ReadOnlyDict",
    "FrozenDict",
    # tables
    "FeatureSpec",
    "TrafficConfig",
    "TargetConfig",
    "LatencyDistribution",
    "LognormalLatency",
    "ExponentialLatency",
    "EmpiricalLatency",
    "ConstantLatency",
    "Latency",
    "AutoscalingConfig",
    "ModelConfig",
    "ServiceConfig",
    "DependencyConfig",
    "DetectorSpec",
    "MonitoringConfig",
    "RollbackThreshold",
    "RollbackConfig",
    "PerformanceCheck",
    "BoundsCheck",
    "PredictionDriftCheck",
    "LatencyBudgetCheck",
    "ValidationCheck",
    "ValidationConfig",
    "ResourcesConfig",
    "SLOConfig",
    "BusinessConfig",
    "SingleStrategy",
    "ABStrategy",
    "RampPoint",
    "CanaryStrategy",
    "Step",
    "Gate",
    "JudgeMetric",
    "KayentaMetricOptions",
    "JudgeConfig",
    "Split",
    "AnalysisMeasure",
    "AnalysisMetric",
    "AnalysisTemplate",
    "Condition",
    "ConditionError",
    "parse_condition",
    "ProgressiveStrategy",
    "ShadowStrategy",
    "BlueGreenStrategy",
    "BanditStrategy",
    "InterleavingStrategy",
    "StrategyConfig",
    "FaultWindow",
    "LatencySpike",
    "ErrorBurst",
    "Outage",
    "DataDrift",
    "ConceptDrift",
    "FaultConfig",
    # limits
    "LOGNORMAL_Z99",
    "MAX_ARRIVALS",
    "MAX_DURATION_S",
    "MAX_TICKS",
    "MAX_FILE_BYTES",
    "MAX_LATENCY_MS",
    "MAX_LATENCY_SPREAD",
    "MAX_MULTIPLIER",
    "MAX_FEATURES",
    "MAX_MAGNITUDE",
    "MAX_NESTING",
    "MAX_SHOWN_ERRORS",
]
