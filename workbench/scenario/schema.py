"""The root table :class:`Scenario`: its fields, the checks across tables, and validation.

Each table checks itself (see the modules of :mod:`workbench.scenario`); what needs
several tables at once (a fault's target is a model, a rollback needs a candidate, the
run fits the work and memory limits of :mod:`workbench.limits`) is checked here, one
method per check, in a fixed order, so the first mistake reported is always the same.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from ..limits import (
    MAX_ARRIVALS,
    MAX_DURATION_S,
    MAX_TICKS,
    estimate_memory,
    memory_budget_mb,
    run_ticks,
)
from .base import IDENTIFIER, MAX_NESTING, FrozenDict, ReadOnlyDict, StrictModel, nesting_depth
from .errors import FieldError, ScenarioError, format_error
from .faults import ConceptDrift, DataDrift, FaultConfig, Outage
from .measures import BusinessConfig, ResourcesConfig, SLOConfig
from .monitoring import MonitoringConfig, RollbackConfig
from .overrides import apply_overrides
from .serving import DependencyConfig, ModelConfig, ServiceConfig
from .strategies import SingleStrategy, StrategyConfig
from .traffic import TargetConfig, TrafficConfig
from .validation import ValidationConfig

__all__ = ["Scenario", "validate_mapping"]

MAX_INTERLEAVING_USERS = 20_000  # interleaving simulates a catalogue per user


class Scenario(StrictModel):
    """A validated, immutable scenario. Build with :func:`~workbench.scenario.load_scenario`.

    Examples
    --------
    >>> from workbench.scenario import load_scenario
    >>> s = load_scenario({"name": "demo", "duration_s": 60, "models": {"legacy": {}}})
    >>> s.traffic.rate_per_s
    50.0
    >>> s.with_overrides({"traffic.rate_per_s": 80}).traffic.rate_per_s
    80.0
    """

    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(gt=0)
    seed: int = Field(default=0, ge=0)
    warmup_s: float = Field(default=0.0, ge=0)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    models: FrozenDict[str, ModelConfig]
    strategy: StrategyConfig = Field(default_factory=SingleStrategy)
    faults: tuple[FaultConfig, ...] = Field(default_factory=tuple)
    slo: SLOConfig = Field(default_factory=SLOConfig)
    business: BusinessConfig = Field(default_factory=BusinessConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    monitoring: MonitoringConfig | None = None
    rollback: RollbackConfig | None = None
    validation: ValidationConfig | None = None
    services: FrozenDict[str, ServiceConfig] = Field(default_factory=ReadOnlyDict)
    dependencies: tuple[DependencyConfig, ...] = Field(default_factory=tuple)

    # where this scenario was loaded from, and the raw mapping it was validated from:
    # overrides apply to the raw mapping (as written), with defaults filled in where a
    # table on an override's path was left out
    source_path: str | None = Field(default=None, exclude=True)
    _raw: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        self._check_models()
        self._check_strategy()
        self._check_horizon()
        self._check_target()
        self._check_rollback()
        self._check_validation()
        self._check_detectors()
        self._check_services()
        self._check_dependencies()
        for i, fault in enumerate(self.faults):
            self._check_fault(i, fault)
        self._check_budget()
        return self

    def _check_models(self) -> None:
        """A ``legacy`` model, identifier names, and the candidates the strategy serves.

        ``ab`` and ``bandit`` serve every model in their ``arms``; the other strategies
        but ``single`` serve the model named ``candidate``.
        """
        if "legacy" not in self.models:
            raise FieldError("models.legacy", "a model named 'legacy' is required")
        for name in self.models:
            if not re.fullmatch(IDENTIFIER, name):
                raise FieldError(f"models.{name}", "model names must be identifiers")
        if self.strategy.kind in ("ab", "bandit"):
            for i, arm in enumerate(self.strategy.arms):
                if arm in self.models:
                    continue
                if arm == "candidate":  # the default arm: the message every other strategy gives
                    raise FieldError(
                        "models.candidate", f"strategy {self.strategy.kind!r} needs a model named 'candidate'"
                    )
                raise FieldError(f"strategy.arms[{i}]", f"unknown model {arm!r} (every arm must be a model)")
        elif self.strategy.kind != "single" and "candidate" not in self.models:
            raise FieldError(
                "models.candidate", f"strategy {self.strategy.kind!r} needs a model named 'candidate'"
            )

    def _check_strategy(self) -> None:
        """Interleaving's user cap, and the model a ``single`` strategy serves."""
        if self.strategy.kind == "interleaving" and self.traffic.users > MAX_INTERLEAVING_USERS:
            raise FieldError(
                "traffic.users",
                f"interleaving simulates a catalogue per user: at most {MAX_INTERLEAVING_USERS} users",
            )
        if self.strategy.kind == "single" and self.strategy.model not in self.models:
            raise FieldError("strategy.model", f"unknown model {self.strategy.model!r}")

    def _check_horizon(self) -> None:
        """Duration and arrivals within the limits of one run; the warm-up ends before the run."""
        if self.duration_s > MAX_DURATION_S:
            raise FieldError(
                "duration_s", f"must be at most {MAX_DURATION_S:.0e} s (about 116 days); split a longer horizon into runs"
            )
        peak = self.traffic.peak_rate_per_s
        if peak * self.duration_s > MAX_ARRIVALS:
            raise FieldError(
                "traffic.rate_per_s",
                f"rate x duration_s gives about {peak * self.duration_s:.3g} arrivals; at most {MAX_ARRIVALS:.0e} "
                "per run (split a long horizon into several runs or lower the rate)",
            )
        if self.warmup_s >= self.duration_s:
            raise FieldError("warmup_s", "must be less than duration_s")

    def _check_target(self) -> None:
        """Target weights name request features."""
        features = set(self.traffic.features)
        for name in self.target.weights:
            if name not in features:
                raise FieldError(f"target.weights.{name}", "unknown feature")

    def _check_rollback(self) -> None:
        """An enabled rollback needs a candidate that is served, and thresholds for the health trigger."""
        if self.rollback is None or not self.rollback.enabled:
            return
        if "candidate" not in self.models:
            raise FieldError("rollback", "a rollback policy needs a model named 'candidate'")
        if self.strategy.kind == "single":
            raise FieldError("rollback", "strategy 'single' never serves the candidate: nothing to roll back")
        if "health" in self.rollback.triggers and not self.rollback.thresholds:
            raise FieldError("rollback.thresholds", "the 'health' trigger needs at least one threshold")

    def _check_validation(self) -> None:
        """Pre-deployment validation needs a candidate to check."""
        if self.validation is not None and "candidate" not in self.models:
            raise FieldError("validation", "validation checks the model named 'candidate'")

    def _check_detectors(self) -> None:
        """Every detector watches a configured model."""
        if self.monitoring is None:
            return
        for i, det in enumerate(self.monitoring.detectors):
            if det.model not in self.models:
                raise FieldError(f"monitoring.detectors[{i}].model", f"unknown model {det.model!r}")

    def _check_services(self) -> None:
        """Services and models share one namespace (the nodes of the dependency graph)."""
        for name in self.services:
            if name in self.models:
                raise FieldError(f"services.{name}", "a service cannot share a model's name")

    def _check_dependencies(self) -> None:
        """Dependencies join known models or services, never a node to itself."""
        nodes = set(self.models) | set(self.services)
        for i, dep in enumerate(self.dependencies):
            for end in ("source", "target"):
                if getattr(dep, end) not in nodes:
                    raise FieldError(f"dependencies[{i}].{end}", f"unknown model or service {getattr(dep, end)!r}")
            if dep.source == dep.target:
                raise FieldError(f"dependencies[{i}].target", "a node cannot depend on itself")

    def _check_fault(self, i: int, fault: Any) -> None:
        """Fault ``i`` starts inside the run and names known models, services and features."""
        if fault.start_s >= self.duration_s:
            raise FieldError(f"faults[{i}].start_s", "must be less than duration_s")
        self._check_fault_target(i, fault)
        features = self.traffic.features
        if isinstance(fault, DataDrift) and fault.feature not in features:
            raise FieldError(f"faults[{i}].feature", f"unknown feature {fault.feature!r}")
        if isinstance(fault, ConceptDrift):
            for name in fault.weight_shift:
                if name not in features:
                    raise FieldError(f"faults[{i}].weight_shift.{name}", "unknown feature")
        if isinstance(fault, Outage) and fault.mode == "hang":
            self._check_hang(i, fault)

    def _check_fault_target(self, i: int, fault: Any) -> None:
        """An outage may hit a model or a service; the other faults with a target hit a model."""
        target = getattr(fault, "target", None)
        if isinstance(fault, Outage):
            if target not in self.models and target not in self.services:
                raise FieldError(f"faults[{i}].target", f"unknown model or service {target!r}")
        elif target is not None and target not in self.models:
            raise FieldError(f"faults[{i}].target", f"unknown model {target!r}")

    def _check_hang(self, i: int, fault: Outage) -> None:
        """A hanging outage is for a model with a timeout (a hung call must end)."""
        if fault.target in self.services:
            raise FieldError(
                f"faults[{i}].mode",
                "'hang' is for model outages; a service outage fails the requests that depend on it "
                "at once (use mode = 'refuse')",
            )
        if self.models[fault.target].timeout_ms is None:
            raise FieldError(
                f"faults[{i}].mode",
                f"'hang' needs models.{fault.target}.timeout_ms (a hung call must end)",
            )

    def _check_budget(self) -> None:
        """Bounded work: every timer-driven loop and the estimated memory (see :mod:`workbench.limits`)."""
        for field, ticks in run_ticks(self).items():
            if ticks > MAX_TICKS:
                what = "buckets" if field.endswith("window_s") else "ticks"
                raise FieldError(
                    field.split(" ")[0],
                    f"gives {ticks:.3g} {what} over duration_s = {self.duration_s:g}; at most {MAX_TICKS:.0e} per run "
                    "(use a longer interval or a shorter run)",
                )
        budget_mb = memory_budget_mb()
        estimate = estimate_memory(self)
        if estimate.total_mb > budget_mb:
            field = "strategy.n_items" if estimate.catalogue_bytes > estimate.requests_bytes else "traffic.rate_per_s"
            raise FieldError(
                field,
                f"the run would need {estimate.describe()}, over the memory budget of {budget_mb:,.0f} MB "
                "(lower the rate, the duration or the catalogue; or raise WORKBENCH_MEMORY_BUDGET_MB)",
            )

    # ------------------------------------------------------------------ helpers
    @property
    def feature_names(self) -> list[str]:
        """Names of the traffic's features, in column order."""
        return list(self.traffic.features)

    def __eq__(self, other: object) -> bool:
        """Equal content: the same values, however written (20 or 20.0, a default spelled out or not)."""
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.to_mapping() == other.to_mapping()

    __hash__ = StrictModel.__hash__  # frozen fields: equal content, equal hash

    def to_mapping(self) -> dict[str, Any]:
        """The scenario as a plain mapping (defaults filled in), loadable again."""
        return self.model_dump(mode="json", exclude={"source_path"})

    def to_toml(self, *, full: bool = False) -> str:
        """The scenario as TOML text that :func:`~workbench.scenario.load_scenario` reads back equal.

        Only fields that differ from their defaults are written (and every ``kind`` and
        ``dist`` tag), so the file reads like one written by hand; ``full`` writes all.
        """
        from .toml import dump_toml, minimal_mapping

        return dump_toml(self.to_mapping() if full else minimal_mapping(self))

    def content_hash(self) -> str:
        """A stable hash of the scenario's content (for the run registry)."""
        text = json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Scenario:
        """A new scenario with dotted-path overrides applied and re-validated."""
        if not overrides:
            return self
        raw = self._raw or self.to_mapping()
        raw = apply_overrides(raw, overrides, source=self.source_path, defaults=self.to_mapping())
        return validate_mapping(raw, source=self.source_path)


def validate_mapping(raw: Mapping[str, Any], *, source: str | None) -> Scenario:
    """Validate a raw scenario mapping (as read from TOML) into a :class:`Scenario`.

    Raises
    ------
    ScenarioError
        Naming ``source`` and every invalid field's path.
    """
    if not isinstance(raw, Mapping):
        raise ScenarioError("a scenario must be a table (mapping)", source=source)
    if nesting_depth(raw) > MAX_NESTING:
        raise ScenarioError(f"tables or arrays nested more than {MAX_NESTING} deep", source=source)
    try:
        memory_budget_mb()  # a bad budget is the environment's error, not a field's
    except ValueError as exc:
        raise ScenarioError(str(exc), source=source) from None
    raw = dict(raw)
    if "source_path" in raw:  # set by the loader, never by a file
        raise ScenarioError("source_path: unknown key (check the spelling; unknown keys are not allowed)",
                            source=source)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        messages = [format_error(err, raw) for err in exc.errors()]
        raise ScenarioError(messages[0], source=source, errors=messages) from None
    except FieldError as exc:  # pragma: no cover - pydantic wraps these, kept as a guard
        raise ScenarioError(str(exc), source=source) from None
    except (RecursionError, MemoryError) as exc:
        raise ScenarioError(f"cannot validate ({type(exc).__name__})", source=source) from None
    out = scenario.model_copy(update={"source_path": source})
    out._raw = copy.deepcopy(raw)
    return out
