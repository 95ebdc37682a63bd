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
    "CandidateHarm",
    "CandidateComparison",
    "ArmComparison",
    "format_summary",
    "format_arms",
    "AbLift",
    "AbGuardrail",
    "AbVerdict",
    "format_ab_verdict",
    "outcome_lines",
    "model_order",
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
class CandidateHarm(_Record):
    """Who the candidate hurt: its requests that failed or breached the SLO, and their users.

    Counts cover the whole run, warm-up included (the same counts as ``workbench
    compare``'s ``bad_requests_candidate`` and ``bad_users_candidate``). "Bad" is any
    status but ``ok``, or an ``ok`` answer slower than the SLO; ``failed`` counts
    only errors, timeouts and drops. After a rollback the candidate serves no one,
    so with ``rollback_s`` set every count is "before the rollback".
    """

    requests: int
    users: int
    bad_requests: int
    bad_users: int
    failed_requests: int
    failed_users: int
    slo_ms: float
    rollback_s: float | None


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


@dataclass(frozen=True)
class AbLift(_Record):
    """One metric of an A/B verdict: candidate minus legacy, absolute and relative.

    ``difference`` is ``mean_treatment - mean_control`` (treatment is the candidate,
    control legacy) with its ``1 - alpha`` interval and two-sided ``p_value``;
    ``relative`` is ``mean_treatment / mean_control - 1`` with its delta-method
    interval. ``method`` is ``welch``, ``proportion_z`` (two-proportion z test, unpooled
    interval) or ``cuped_welch`` (Welch on CUPED-adjusted values, whose means are then
    the adjusted means; ``cuped_theta`` and ``variance_reduction`` are NaN otherwise).
    Without enough data every estimate is NaN and ``method`` is ``none``.
    """

    metric: str
    kind: str
    method: str
    alpha: float
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    difference: float
    difference_ci_low: float
    difference_ci_high: float
    p_value: float
    relative: float
    relative_ci_low: float
    relative_ci_high: float
    cuped_theta: float = math.nan
    variance_reduction: float = math.nan


@dataclass(frozen=True)
class AbGuardrail(_Record):
    """A guardrail of an A/B verdict: its lift, which way is better, its adjusted p-value, its status.

    ``direction`` is ``lower`` or ``higher`` (which way is better); ``status`` is
    ``breached`` (significantly worse after the correction across the guardrails),
    ``better``, ``ok`` or ``no data``.
    """

    metric: str
    direction: str
    lift: AbLift
    adjusted_p: float
    status: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AbGuardrail:
        """Build from :meth:`to_dict` output or its JSON form."""
        return cls(metric=str(data["metric"]), direction=str(data["direction"]),
                   lift=AbLift.from_dict(data["lift"]), adjusted_p=_float(data.get("adjusted_p")),
                   status=str(data["status"]))


@dataclass(frozen=True)
class AbVerdict(_Record):
    """The statistical verdict of a two-arm A/B run: primary lift, CUPED, guardrails, decision.

    ``unit`` is what was randomised and analysed: ``users`` for a sticky split (the
    primary metric is each user's conversions), ``requests`` otherwise (each request's
    conversion). The window is the requests after the warm-up (and before the
    rollback when ``before_rollback_only``). ``cuped`` is the primary lift adjusted by
    a simulated pre-period of ``cuped_pre_period_s`` seconds (None when off), and the
    decision uses it when present (``decided_on``). Guardrails (non-ok rate and mean
    latency of served requests, per request) are adjusted together by ``correction``.
    ``decision`` is ``ship``, ``don't ship`` or ``inconclusive``; ``reason`` says why.
    """

    unit: str
    primary: AbLift
    cuped: AbLift | None
    cuped_pre_period_s: float
    guardrails: tuple[AbGuardrail, ...]
    correction: str
    alpha: float
    decision: str
    reason: str
    decided_on: str
    before_rollback_only: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the ``ab_verdict`` entry of ``summary.json``)."""
        out = super().to_dict()
        out["guardrails"] = [g.to_dict() for g in self.guardrails]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AbVerdict:
        """Build from :meth:`to_dict` output or its JSON form."""
        cuped = data.get("cuped")
        return cls(
            unit=str(data["unit"]),
            primary=AbLift.from_dict(data["primary"]),
            cuped=None if cuped is None else AbLift.from_dict(cuped),
            cuped_pre_period_s=_float(data.get("cuped_pre_period_s", 0.0)),
            guardrails=tuple(AbGuardrail.from_dict(g) for g in data.get("guardrails", ())),
            correction=str(data["correction"]),
            alpha=_float(data["alpha"]),
            decision=str(data["decision"]),
            reason=str(data.get("reason", "")),
            decided_on=str(data.get("decided_on", "primary")),
            before_rollback_only=bool(data.get("before_rollback_only", False)),
        )


_SECTIONS: dict[str, type] = {
    "validation": ValidationOutcome,
    "monitoring": MonitoringOutcome,
    "shadow": ShadowKpis,
    "srm": SampleRatioCheck,
    "harm": CandidateHarm,
    "ab_verdict": AbVerdict,
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
    harm: CandidateHarm | None = None
    ab_verdict: AbVerdict | None = None

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
    ("error", "error", "{:d}"),
    ("timeout", "timeout", "{:d}"),
    ("dropped", "dropped", "{:d}"),
    ("error_rate", "non-ok %", "{:.2%}"),
    ("latency_p50_ms", "p50 ms", "{:.1f}"),
    ("latency_p95_ms", "p95 ms", "{:.1f}"),
    ("latency_p99_ms", "p99 ms", "{:.1f}"),
    ("mean_queue_ms", "queue ms", "{:.2f}"),
    ("utilisation", "util", "{:.2f}"),
    ("prediction_mae", "MAE", "{:.3f}"),
    ("conversion_rate", "conv %", "{:.2%}"),
]


def model_order(models: Any) -> list[str]:
    """Models in display order: legacy, candidate, then the rest alphabetically.

    One order for every table and figure, whatever order a file listed them in (a run
    read back from disk has its keys sorted).

    Examples
    --------
    >>> model_order(["candidate", "zeta", "legacy"])
    ['legacy', 'candidate', 'zeta']
    """
    names = {str(m) for m in models}
    first = [m for m in ("legacy", "candidate") if m in names]
    return first + sorted(names - set(first))


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
    rows = [["candidate", "requests", "non-ok %", "d err pts", "p adj", "mean ms", "d ms", "p adj", "verdict"]]
    for c in arms.candidates:
        rows.append([
            c.candidate, str(c.n_candidate), _fmt(c.error_rate_candidate, "{:.2%}"),
            _signed(100 * c.error_rate_diff, "{:+.2f}"), _p(c.error_adjusted_p),
            _fmt(c.mean_latency_candidate_ms, "{:.1f}"), _signed(c.latency_diff_ms, "{:+.1f}"),
            _p(c.latency_adjusted_p), c.verdict,
        ])
    return title + "\n" + ("\n" if markdown else "") + _table(rows, markdown)


_AB_WIDTH = 120  # columns of a verdict line


def _ab_decimals(lift: AbLift, scale: float) -> int:
    """Decimals that show the interval's half-width to two significant digits (0 to 6)."""
    half = abs(lift.difference_ci_high - lift.difference_ci_low) / 2 * scale
    if not math.isfinite(half) or half <= 0:
        return 2
    return min(6, max(0, 1 - math.floor(math.log10(half))))


def _ab_p(p: float, name: str = "p") -> str:
    if math.isnan(p):
        return f"{name} -"
    return f"{name} < 0.001" if p < 0.001 else f"{name} = {p:.2g}"


def _ab_parts(lift: AbLift) -> tuple[str, str, str]:
    """The metric's label, its two means and its ``difference [interval]`` in the metric's units."""
    name = lift.metric
    label = name[:-3] if name.endswith("_ms") else name
    label = label.replace("_", " ")
    if lift.kind == "proportion":
        means = f"legacy {_fmt(lift.mean_control, '{:.2%}')}  candidate {_fmt(lift.mean_treatment, '{:.2%}')}"
        scale, unit = 100.0, " pp"
    else:
        unit = " ms" if name.endswith("_ms") else ""
        means = f"legacy {_fmt(lift.mean_control, '{:.3g}')}{unit}  candidate {_fmt(lift.mean_treatment, '{:.3g}')}{unit}"
        scale = 1.0
    if math.isnan(lift.difference):
        return label, means, "no data"
    d = _ab_decimals(lift, scale)
    diff = (f"{lift.difference * scale:+.{d}f}{unit} [{lift.difference_ci_low * scale:+.{d}f}, "
            f"{lift.difference_ci_high * scale:+.{d}f}]")
    return label, means, diff


def _ab_relative(lift: AbLift) -> str:
    if math.isnan(lift.relative):
        return "relative -"
    return f"{lift.relative:+.1%} [{lift.relative_ci_low:+.1%}, {lift.relative_ci_high:+.1%}]"


def format_ab_verdict(verdict: AbVerdict, markdown: bool = False) -> str:
    """The A/B verdict, one line each (at most 120 columns): primary lift, CUPED, guardrails, decision.

    Differences are candidate minus legacy, absolute then relative, each with its
    ``1 - alpha`` interval; a proportion's absolute difference is in percentage points
    (pp). A line that would be too long is split. ``markdown`` makes each line a list item.
    """
    p, unit = verdict.primary, verdict.unit
    label, means, diff = _ab_parts(p)
    test = {"welch": "Welch", "proportion_z": "z test"}.get(p.method, p.method)
    when = "" if not verdict.before_rollback_only else ", before the rollback"
    head = f"primary: {label}  {means}  lift {diff}, {_ab_relative(p)}  {_ab_p(p.p_value)}"
    tail = f"  ({test}, {p.n_control} vs {p.n_treatment} {unit}{when})"
    if math.isnan(p.difference):
        lines = [f"primary: {label}  {means}  no data ({p.n_control} vs {p.n_treatment} {unit}{when})"]
    elif len(head) + len(tail) <= _AB_WIDTH:
        lines = [head + tail]
    elif len(head) <= _AB_WIDTH:
        lines = [head, f"primary test: {test} over {p.n_control} legacy and {p.n_treatment} candidate {unit}{when}"]
    else:
        lines = [f"primary: {label}  {means}  lift {diff}  {_ab_p(p.p_value)}",
                 f"primary relative lift {_ab_relative(p)}  ({test}, {p.n_control} vs {p.n_treatment} {unit}{when})"]
    c = verdict.cuped
    if c is not None:
        _, _, cdiff = _ab_parts(c)
        lines.append(f"CUPED (pre-period {verdict.cuped_pre_period_s:g} s): variance "
                     f"{-c.variance_reduction:+.0%}, lift {cdiff}, {_ab_relative(c)}, {_ab_p(c.p_value)}")
    parts = []
    for g in verdict.guardrails:
        glabel, _, gdiff = _ab_parts(g.lift)
        parts.append(f"{glabel} no data" if math.isnan(g.adjusted_p)
                     else f"{glabel} {gdiff} {_ab_p(g.adjusted_p, 'p_adj')} {g.status}")
    if parts:
        title = f"guardrails ({'Holm' if verdict.correction == 'holm' else verdict.correction})"
        joined = f"{title}: " + "; ".join(parts)
        lines += [joined] if len(joined) <= _AB_WIDTH else [f"{title}: {part}" for part in parts]
    basis = " (on the CUPED lift)" if verdict.decided_on == "cuped" else ""
    reason = verdict.reason
    for lift in (p, *(g.lift for g in verdict.guardrails)):
        if lift.metric:
            reason = reason.replace(lift.metric, _ab_parts(lift)[0])
    lines.append(f"verdict: {verdict.decision}{basis}: {reason}")
    if markdown:
        return "\n".join(f"- {line}" for line in lines)
    return "\n".join(lines)


def format_summary(summary: RunSummary, markdown: bool = False) -> str:
    """The per-model table of a summary, as aligned text or markdown.

    An A/B/n run (several candidates) adds its report below: the sample-ratio check
    and one line per candidate against legacy (:func:`format_arms`).
    """
    header = ["model"] + [label for _, label, _ in _COLUMNS]
    rows = [header]
    for name in model_order(summary.models):
        m = summary.models[name]
        rows.append([name] + [_fmt(getattr(m, key), spec) for key, _, spec in _COLUMNS])
    text = _table(rows, markdown)
    arms = summary.arms
    if arms is not None:
        text += "\n\n" + format_arms(arms, markdown)
    return text


def _outcome_line(summary: RunSummary) -> str:
    strat = summary.strategy
    if summary.validation is not None and summary.validation.blocked:
        return f"outcome: blocked before any traffic by pre-deployment validation: {summary.validation.summary}"
    if summary.rollback.rolled_back:
        why = ""
        if summary.incidents:
            first = summary.incidents[0]
            why = f" ({first.trigger}: {first.reason})"
        return f"outcome: rolled back at {summary.rollback.time_s:.0f} s{why}"
    promoted = strat.get("promoted_at_s")
    if promoted is not None:
        return f"outcome: promoted to 100% at {promoted:.0f} s"
    if strat.final_state == "switched":
        return f"outcome: switched to the candidate at {strat.get('switch_s'):.0f} s and stayed there"
    return f"outcome: {strat.kind} still {strat.final_state} at the end ({summary.duration_s:.0f} s)"


def _harm_line(summary: RunSummary) -> str | None:
    h = summary.harm
    if h is None or summary.strategy.kind in ("shadow", "interleaving"):  # users never get its answers
        return None
    if h.requests == 0:
        return "users hurt: none (the candidate served no request)"
    when = (f"before the rollback at {h.rollback_s:.0f} s" if h.rollback_s is not None
            else "by the candidate over the whole run")
    return (f"users hurt {when}: {h.bad_users:,} of the {h.users:,} users the candidate served got a bad answer; "
            f"{h.bad_requests:,} of its {h.requests:,} requests were bad ({h.failed_requests:,} errors, timeouts "
            f"or drops, the rest slower than the {h.slo_ms:g} ms SLO)")


def _interleaving_lines(strat: StrategyOutcome) -> list[str]:
    d = strat.details
    n = d.get("impressions", 0)
    if not n:
        return ["interleaving: no impressions"]
    ci = d.get("delta_ci")
    ci_text = f" [{ci[0]:+.4f}, {ci[1]:+.4f}] (95% bootstrap over users)" if ci else ""
    users_b, users_a = d["users_prefer_candidate"], d["users_prefer_legacy"]
    p_user, p_imp = d["user_sign_test_p_value"], d["sign_test_p_value"]
    if p_user < 0.05:
        better = "candidate" if users_b > users_a else "legacy"
        verdict = f"verdict: {better} ranks better (sign test over users p = {p_user:.2g} < 0.05)"
    else:
        verdict = f"verdict: no ranker is shown better (sign test over users p = {p_user:.2g})"
    return [
        f"interleaving ({d['method']}, {d['click_model']} clicks): {n:,} impressions; wins candidate "
        f"{d['wins_candidate']:,}, legacy {d['wins_legacy']:,}, ties {d['ties']:,}",
        f"Delta_AB = {d['delta_ab']:+.4f}{ci_text}; below 0 favours the candidate",
        f"sign test over impressions p = {p_imp:.2g}; over users ({users_b:,} prefer the candidate, "
        f"{users_a:,} legacy) p = {p_user:.2g}",
        verdict,
        "trust the test over users: it counts each user once, while the test over impressions treats a returning "
        "user's impressions as independent (they are not), so a few heavy users can sway it",
    ]


def _bandit_lines(summary: RunSummary) -> list[str]:
    d = summary.strategy.details
    routed = {k[len("routed_"):]: int(v) for k, v in d.items() if k.startswith("routed_")}
    routed = {m: routed[m] for m in model_order(routed)}
    total = sum(routed.values())
    if not total:
        return ["bandit: no request routed"]
    shares = ", ".join(f"{m} {routed[m] / total:.1%}" for m in routed)
    rates = ", ".join(f"{m} " + _fmt(d.get(f"reward_rate_{m}"), "{:.2%}") for m in routed)
    lines = [f"bandit ({d.get('algorithm')}, reward {d.get('reward')}): {total:,} requests routed: {shares}",
             f"observed reward rates: {rates}"]
    regret = d.get("regret")
    if regret is not None:
        lines.append(f"regret: {regret:,.1f} rewards lost against always serving {d.get('better_arm')} "
                     f"({regret / total:.2%} of the routed requests)")
    return lines


def _srm_line(summary: RunSummary) -> str:
    srm = summary.srm
    flag = "MISMATCH" if srm.mismatch else "ok"
    if srm.unit == "users":
        what = "users, by the arm of their first request"
    else:
        what = "requests"
    when = (f"arriving before the rollback at {summary.rollback.time_s:.0f} s" if srm.before_rollback_only
            else "over the whole run")
    return (f"sample ratio ({what}, {when}, warm-up included; the table counts after the warm-up): "
            f"{[int(c) for c in srm.counts]} vs {list(srm.expected_shares)}: p = {srm.p_value:.4g} {flag}")


def _shadow_line(summary: RunSummary) -> str:
    sh = summary.shadow
    return (f"shadow: {sh.mirrored:,} mirrored calls; candidate non-ok rate {sh.candidate_error_rate:.2%}, "
            f"p99 {sh.candidate_latency_p99_ms:.0f} ms; agreement {sh.agreement:.1%} "
            f"(|diff| <= {sh.agreement_tolerance:g}) over {sh.compared:,} compared; users got legacy's answers")


def _monitoring_line(summary: RunSummary) -> str | None:
    mon = summary.monitoring
    if mon is None or not mon.alerts:
        return None
    parts = []
    for monitor, count in mon.alerts.items():
        firsts = [f"{key.split(':', 1)[1]} at {t:.0f} s" for key, t in mon.first_alarm_s.items()
                  if key.split(":", 1)[0] == monitor]
        parts.append(f"{monitor} {count:,}" + (f" (first: {', '.join(firsts)})" if firsts else ""))
    return "monitor alerts: " + "; ".join(parts)


def outcome_lines(summary: RunSummary) -> list[str]:
    """What the run showed, one line each: the outcome, who was hurt, and each strategy's own verdict.

    The outcome (rolled back, promoted, blocked, still running), the users and requests
    the candidate hurt (before the rollback, if any), the interleaving verdict, the
    bandit's shares and regret, the shadow's health, the A/B verdict and sample-ratio
    check, and monitor alerts; whichever apply to the run.
    """
    lines = [_outcome_line(summary)]
    harm = _harm_line(summary)
    if harm:
        lines.append(harm)
    kind = summary.strategy.kind
    if kind == "interleaving":
        lines += _interleaving_lines(summary.strategy)
    elif kind == "bandit":
        lines += _bandit_lines(summary)
    if summary.shadow is not None:
        lines.append(_shadow_line(summary))
    if summary.ab_verdict is not None:
        lines += format_ab_verdict(summary.ab_verdict).splitlines()
    if summary.srm is not None:
        lines.append(_srm_line(summary))
    monitoring = _monitoring_line(summary)
    if monitoring:
        lines.append(monitoring)
    return lines
