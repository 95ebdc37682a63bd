"""The typed summary of a run: KPIs per model, the strategy's outcome, rollback and incidents.

:class:`RunSummary` and its parts are frozen dataclasses. They are built in one
place (:func:`workbench.engine.results.build_result`), read by attribute
everywhere (CLI, compare, sweeps, widgets, notebooks) and written to
``summary.json`` as strict JSON: :meth:`RunSummary.to_json` writes NaN and
infinities as ``null``, and :meth:`RunSummary.from_json` reads them back as NaN,
so a summary survives the round trip.

A metric with no data is NaN, never 0 (a gate or a reader can tell "no data"
from "good"). Optional sections (``validation``, ``monitoring``, ``shadow``,
``srm``) are None when the run has no such part.

Examples
--------
>>> s = RunSummary.from_dict({
...     "scenario": "tiny", "seed": 1, "duration_s": 10.0, "warmup_s": 0.0, "requests": 0, "users": 0,
...     "status_counts": {"ok": 0, "error": 0, "timeout": 0, "dropped": 0}, "error_rate": None,
...     "throughput_per_s": 0.0, "models": {}, "strategy": {"kind": "single", "final_state": "running"},
...     "resources": {}, "rollback": {"rolled_back": False, "time_s": None}})
>>> s.strategy.kind, s.rollback.rolled_back
('single', False)
>>> RunSummary.from_json(s.to_json()).to_json() == s.to_json()
True
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .status import STATUS_NAMES

__all__ = [
    "RunSummary",
    "ModelKpis",
    "StrategyOutcome",
    "ResourceKpis",
    "RollbackOutcome",
    "Incident",
    "ValidationOutcome",
    "MonitoringOutcome",
    "ShadowKpis",
    "SampleRatioCheck",
    "format_summary",
]


def _float(value: Any) -> float:
    """A float field read from JSON: ``null`` stands for NaN."""
    return math.nan if value is None else float(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


class _Record:
    """Shared conversion of a flat frozen dataclass to and from a plain mapping."""

    def to_dict(self) -> dict[str, Any]:
        """The record as plain Python values (floats may be NaN; optional fields None)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Build from :meth:`to_dict` output or its JSON form (``null`` floats become NaN)."""
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                continue
            kwargs[f.name] = _coerce(hints[f.name], data[f.name])
        return cls(**kwargs)


def _coerce(hint: Any, value: Any) -> Any:
    if hint is float:
        return _float(value)
    if hint == (float | None):
        return _opt_float(value)
    if hint is int:
        return int(value)
    if hint is bool:
        return bool(value)
    if typing.get_origin(hint) is tuple and value is not None:
        return tuple(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ModelKpis(_Record):
    """KPIs of one model over the requests that arrived after the warm-up.

    ``error_rate`` counts error, timeout and dropped; latencies exclude dropped
    requests; ``utilisation`` is busy replica-seconds over paid replica-seconds;
    ``prediction_mae``/``prediction_rmse`` cover ``ok`` requests; ``conversion_rate``
    is the business KPI.
    """

    requests: int
    users: int
    ok: int
    error: int
    timeout: int
    dropped: int
    error_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    mean_latency_ms: float
    mean_queue_ms: float
    throughput_per_s: float
    utilisation: float
    prediction_mae: float
    prediction_rmse: float
    conversion_rate: float
    slo_breaches: int


@dataclass(frozen=True)
class StrategyOutcome:
    """What the strategy did: its kind, its final state and its own KPIs.

    ``details`` holds the strategy-specific values (a canary's final weight, a
    progressive rollout's step and promotion time, a bandit's regret, ...), as
    each strategy's ``summary()`` reports them.
    """

    kind: str
    final_state: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A strategy-specific value by name (``default`` when this strategy has none)."""
        return self.details.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """``kind``, ``final_state`` and the details, flat (the ``summary.json`` form)."""
        return {"kind": self.kind, "final_state": self.final_state, **self.details}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrategyOutcome:
        """Build from :meth:`to_dict` output."""
        rest = {k: v for k, v in data.items() if k not in ("kind", "final_state")}
        return cls(kind=str(data["kind"]), final_state=str(data["final_state"]), details=rest)


@dataclass(frozen=True)
class ResourceKpis(_Record):
    """Cost of one model's fleet: replica-seconds paid, mean and peak replicas, busy seconds.

    An unlimited pool (no replica count) has NaN costs and no ``scale_events``.
    """

    replica_seconds: float
    mean_replicas: float
    peak_replicas: float
    busy_seconds: float
    scale_events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plain form; ``scale_events`` only for a pool with a replica count."""
        out = super().to_dict()
        if self.scale_events is None:
            del out["scale_events"]
        return out


@dataclass(frozen=True)
class RollbackOutcome(_Record):
    """Whether the run rolled back, and when (None when it did not)."""

    rolled_back: bool
    time_s: float | None


@dataclass(frozen=True)
class Incident(_Record):
    """One rollback incident: when, what triggered it and why (details in ``RunResult.incidents``)."""

    time_s: float
    trigger: str
    reason: str


@dataclass(frozen=True)
class ValidationOutcome(_Record):
    """Pre-deployment validation: passed, whether it blocked the rollout, and its one-line summary."""

    passed: bool
    blocked: bool
    summary: str


@dataclass(frozen=True)
class MonitoringOutcome(_Record):
    """Alerts per monitor, and the first alarm time per ``monitor:model`` (``traffic`` for none)."""

    alerts: Mapping[str, int]
    first_alarm_s: Mapping[str, float]


@dataclass(frozen=True)
class ShadowKpis(_Record):
    """Mirrored calls: the candidate's health and its agreement with what users got."""

    mirrored: int
    status_counts: Mapping[str, int]
    candidate_error_rate: float
    candidate_latency_p50_ms: float
    candidate_latency_p99_ms: float
    compared: int
    agreement_tolerance: float
    agreement: float
    mean_abs_diff: float


@dataclass(frozen=True)
class SampleRatioCheck(_Record):
    """Sample-ratio-mismatch check of an A/B split (chi-square; mismatch at p < 0.001)."""

    unit: str
    counts: tuple[int, ...]
    expected_shares: tuple[float, ...]
    p_value: float
    mismatch: bool
    before_rollback_only: bool


_SECTIONS: dict[str, type] = {
    "validation": ValidationOutcome,
    "monitoring": MonitoringOutcome,
    "shadow": ShadowKpis,
    "srm": SampleRatioCheck,
}


@dataclass(frozen=True)
class RunSummary:
    """KPIs of one run (see the module docstring for the conventions).

    ``requests``, ``users``, ``status_counts``, ``error_rate`` and ``throughput_per_s``
    cover the whole run; ``models`` holds per-model KPIs after ``warmup_s``.
    """

    scenario: str
    seed: int
    duration_s: float
    warmup_s: float
    requests: int
    users: int
    status_counts: Mapping[str, int]
    error_rate: float
    throughput_per_s: float
    models: Mapping[str, ModelKpis]
    strategy: StrategyOutcome
    resources: Mapping[str, ResourceKpis]
    rollback: RollbackOutcome
    incidents: tuple[Incident, ...] = ()
    validation: ValidationOutcome | None = None
    monitoring: MonitoringOutcome | None = None
    shadow: ShadowKpis | None = None
    srm: SampleRatioCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, the layout of ``summary.json``; absent optional sections are left out."""
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "requests": self.requests,
            "users": self.users,
            "status_counts": {k: int(self.status_counts.get(k, 0)) for k in STATUS_NAMES},
            "error_rate": self.error_rate,
            "throughput_per_s": self.throughput_per_s,
            "models": {name: m.to_dict() for name, m in self.models.items()},
            "strategy": self.strategy.to_dict(),
            "resources": {name: r.to_dict() for name, r in self.resources.items()},
            "rollback": self.rollback.to_dict(),
            "incidents": [i.to_dict() for i in self.incidents],
        }
        for name in _SECTIONS:
            part = getattr(self, name)
            if part is not None:
                out[name] = part.to_dict()
        return out

    def to_json(self, **kwargs: Any) -> str:
        """Strict JSON (NaN and infinities as ``null``); keyword arguments go to :func:`json.dumps`."""
        from .outputs import dumps_strict

        return dumps_strict(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        """Build from :meth:`to_dict` output or its JSON form."""
        sections = {name: kind.from_dict(data[name]) for name, kind in _SECTIONS.items()
                    if data.get(name) is not None}
        return cls(
            scenario=str(data["scenario"]),
            seed=int(data["seed"]),
            duration_s=_float(data["duration_s"]),
            warmup_s=_float(data["warmup_s"]),
            requests=int(data["requests"]),
            users=int(data["users"]),
            status_counts={k: int(v) for k, v in data["status_counts"].items()},
            error_rate=_float(data["error_rate"]),
            throughput_per_s=_float(data["throughput_per_s"]),
            models={name: ModelKpis.from_dict(m) for name, m in data["models"].items()},
            strategy=StrategyOutcome.from_dict(data["strategy"]),
            resources={name: ResourceKpis.from_dict(r) for name, r in data["resources"].items()},
            rollback=RollbackOutcome.from_dict(data["rollback"]),
            incidents=tuple(Incident.from_dict(i) for i in data.get("incidents", ())),
            **sections,
        )

    @classmethod
    def from_json(cls, text: str) -> RunSummary:
        """Read a summary written by :meth:`to_json` (e.g. a run directory's ``summary.json``)."""
        return cls.from_dict(json.loads(text))


_COLUMNS = [
    ("requests", "requests", "{:d}"),
    ("users", "users", "{:d}"),
    ("ok", "ok", "{:d}"),
    ("error", "error", "{:d}"),
    ("timeout", "timeout", "{:d}"),
    ("dropped", "dropped", "{:d}"),
    ("error_rate", "err %", "{:.2%}"),
    ("latency_p50_ms", "p50 ms", "{:.1f}"),
    ("latency_p95_ms", "p95 ms", "{:.1f}"),
    ("latency_p99_ms", "p99 ms", "{:.1f}"),
    ("mean_queue_ms", "queue ms", "{:.2f}"),
    ("utilisation", "util", "{:.2f}"),
    ("prediction_mae", "MAE", "{:.3f}"),
    ("conversion_rate", "conv %", "{:.2%}"),
]


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return spec.format(value).replace("%", "") + ("%" if spec.endswith("%}") else "")


def format_summary(summary: RunSummary, markdown: bool = False) -> str:
    """The per-model table of a summary, as aligned text or markdown."""
    header = ["model"] + [label for _, label, _ in _COLUMNS]
    rows = [header]
    for name, m in summary.models.items():
        rows.append([name] + [_fmt(getattr(m, key), spec) for key, _, spec in _COLUMNS])
    if markdown:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(out)
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)
