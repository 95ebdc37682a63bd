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
    "CandidateComparison",
    "ArmComparison",
    "format_summary",
    "format_arms",
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


@dataclass(frozen=True)
class CandidateComparison(_Record):
    """One candidate against legacy in an A/B/n run (differences are candidate - legacy).

    Error rate (error, timeout and dropped over requests; two-proportion z test) and
    mean latency of served requests (Welch), over the requests after the warm-up;
    ``*_adjusted_p`` are corrected across the candidates. ``verdict``: ``worse``,
    ``better``, ``inconclusive`` or ``no data``.
    """

    candidate: str
    n_legacy: int
    n_candidate: int
    error_rate_legacy: float
    error_rate_candidate: float
    error_rate_diff: float
    error_p_value: float
    error_adjusted_p: float
    mean_latency_legacy_ms: float
    mean_latency_candidate_ms: float
    latency_diff_ms: float
    latency_p_value: float
    latency_adjusted_p: float
    verdict: str


@dataclass(frozen=True)
class ArmComparison(_Record):
    """The A/B/n report of an ``ab`` or ``bandit`` run with several candidates.

    ``counts`` are the units (``requests``, or ``users`` of a sticky split) each arm
    was assigned, legacy first; ``srm_p_value`` is the chi-square check of them
    against ``expected_shares`` (mismatch at p < 0.001). A bandit has no planned
    split: ``expected_shares`` is None, the p-value NaN and ``srm_note`` says why.
    ``candidates`` compares each candidate with legacy, p-values corrected across
    the candidates by ``correction`` at level ``alpha``.
    """

    arms: tuple[str, ...]
    unit: str
    counts: tuple[int, ...]
    expected_shares: tuple[float, ...] | None
    srm_p_value: float
    srm_mismatch: bool
    srm_note: str
    alpha: float
    correction: str
    candidates: tuple[CandidateComparison, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the ``arm_comparison`` entry of the strategy's details)."""
        out = super().to_dict()
        out["candidates"] = [c.to_dict() for c in self.candidates]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArmComparison:
        """Build from :meth:`to_dict` output or its JSON form."""
        shares = data.get("expected_shares")
        return cls(
            arms=tuple(str(a) for a in data["arms"]),
            unit=str(data["unit"]),
            counts=tuple(int(c) for c in data["counts"]),
            expected_shares=None if shares is None else tuple(_float(x) for x in shares),
            srm_p_value=_float(data.get("srm_p_value")),
            srm_mismatch=bool(data.get("srm_mismatch", False)),
            srm_note=str(data.get("srm_note", "")),
            alpha=_float(data["alpha"]),
            correction=str(data["correction"]),
            candidates=tuple(CandidateComparison.from_dict(c) for c in data["candidates"]),
        )

    def get(self, candidate: str) -> CandidateComparison:
        """The comparison of one candidate with legacy."""
        for c in self.candidates:
            if c.candidate == candidate:
                return c
        raise KeyError(candidate)

    @property
    def flagged(self) -> tuple[str, ...]:
        """The candidates significantly worse than legacy (after the correction)."""
        return tuple(c.candidate for c in self.candidates if c.verdict == "worse")


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

    @property
    def arms(self) -> ArmComparison | None:
        """The A/B/n report of an ``ab`` or ``bandit`` run with several candidates, else None.

        Read from the strategy's details (``strategy.arm_comparison`` in ``summary.json``).
        """
        data = self.strategy.details.get("arm_comparison")
        return None if data is None else ArmComparison.from_dict(data)

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


def _table(rows: list[list[str]], markdown: bool) -> str:
    """Rows (the first is the header) as right-aligned text columns or a markdown table."""
    if markdown:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(out)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def _signed(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else spec.format(value)


def format_arms(arms: ArmComparison, markdown: bool = False) -> str:
    """The A/B/n report: one line per candidate against legacy (and a bandit's note on sample ratios)."""
    # an A/B split's sample-ratio check over all arms is the run's own SRM line; a bandit has none
    srm = "" if arms.expected_shares is not None else (
        f"; sample ratio ({arms.unit}) {list(arms.counts)}: {arms.srm_note or 'not checked'}")
    title = (f"candidates vs legacy ({arms.correction}-adjusted p across {len(arms.candidates)} "
             f"candidates, alpha {arms.alpha:g}){srm}")
    rows = [["candidate", "requests", "err %", "d err pts", "p adj", "mean ms", "d ms", "p adj", "verdict"]]
    for c in arms.candidates:
        rows.append([
            c.candidate, str(c.n_candidate), _fmt(c.error_rate_candidate, "{:.2%}"),
            _signed(100 * c.error_rate_diff, "{:+.2f}"), _p(c.error_adjusted_p),
            _fmt(c.mean_latency_candidate_ms, "{:.1f}"), _signed(c.latency_diff_ms, "{:+.1f}"),
            _p(c.latency_adjusted_p), c.verdict,
        ])
    return title + "\n" + ("\n" if markdown else "") + _table(rows, markdown)


def format_summary(summary: RunSummary, markdown: bool = False) -> str:
    """The per-model table of a summary, as aligned text or markdown.

    An A/B/n run (several candidates) adds its report below: the sample-ratio check
    and one line per candidate against legacy (:func:`format_arms`).
    """
    header = ["model"] + [label for _, label, _ in _COLUMNS]
    rows = [header]
    for name, m in summary.models.items():
        rows.append([name] + [_fmt(getattr(m, key), spec) for key, _, spec in _COLUMNS])
    text = _table(rows, markdown)
    arms = summary.arms
    if arms is not None:
        text += "\n\n" + format_arms(arms, markdown)
    return text
