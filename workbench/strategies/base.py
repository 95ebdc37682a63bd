"""The strategy interface: routing objects that know nothing of SimPy.

The engine asks a strategy to ``route`` each request, feeds it outcomes and
(late) labels, and calls ``tick`` every ``tick_interval_s`` of simulated time.
A strategy reads aggregate metrics through the :class:`StrategyContext` the
engine gives it, records every decision with ``ctx.emit``, and asks for a
rollback with ``ctx.rollback`` (one rollback path for gates and monitors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..status import DROPPED, ERROR, OK, STATUS_NAMES, TIMEOUT

__all__ = [
    "Request",
    "Strategy",
    "UniformStream",
    "StrategyContext",
    "WindowMetrics",
    "STATUS_NAMES",
    "OK",
    "ERROR",
    "TIMEOUT",
    "DROPPED",
]



class Request:
    """One arrival, as a strategy sees it."""

    __slots__ = ("request_id", "time_s", "user_id", "_features")

    def __init__(self, request_id: int, time_s: float, user_id: int, features: np.ndarray):
        self.request_id = request_id
        self.time_s = time_s
        self.user_id = user_id
        self._features = features

    @property
    def features(self) -> np.ndarray:
        """The request's feature row (read-only view)."""
        row = self._features[self.request_id]
        row.flags.writeable = False
        return row

    def __repr__(self) -> str:
        return f"Request(id={self.request_id}, t={self.time_s:.3f}s, user={self.user_id})"


@dataclass(frozen=True)
class WindowMetrics:
    """Aggregates of one model's requests that arrived in ``[start_s, end_s)`` and completed.

    Every rate carries its denominator; a metric with no data is NaN, never 0, so a
    gate can tell "no data" from "good".
    """

    model: str
    start_s: float
    end_s: float
    n: int
    errors: int
    timeouts: int
    dropped: int
    error_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    n_labelled: int
    prediction_mae: float
    business_rate: float
    slo_breaches: int

    def get(self, metric: str) -> float:
        """The value of field ``metric`` as a float."""
        return float(getattr(self, metric))

    @property
    def empty(self) -> bool:
        """Whether the window holds no requests."""
        return self.n == 0


class StrategyContext(Protocol):
    """What the engine offers a strategy (implemented by the engine)."""

    rng: np.random.Generator
    models: tuple[str, ...]
    slo_latency_ms: float
    scenario: Any  # the validated Scenario (read-only), for planning

    @property
    def now_s(self) -> float:
        """Current simulated time in seconds."""

    @property
    def rolled_back(self) -> bool:
        """Whether the run has rolled back."""

    def emit(self, kind: str, reason: str = "", *, source: str | None = None, model: str = "",
             time_s: float | None = None, **details: Any) -> None:
        """Record an event row.

        ``source`` defaults to ``strategy:<kind>``, ``model`` and ``time_s`` (default
        now) are columns, the other keywords go to ``details``.
        """

    def rollback(self, reason: str, trigger: str, **details: Any) -> bool:
        """Roll back the run (once); returns whether this call did it."""

    def window(self, model: str, start_s: float, end_s: float | None = None) -> WindowMetrics:
        """Metrics of ``model``'s requests in ``[start_s, end_s)`` (``end_s`` default now)."""

    def window_values(
        self, model: str, start_s: float, end_s: float | None = None
    ) -> dict[str, np.ndarray]:
        """Per-request values of ``model`` in the window, keyed by metric (for judges)."""

    def converted(self, request_id: int, model: str) -> bool:
        """Whether request ``request_id`` served by ``model`` converted (business KPI)."""


class UniformStream:
    """Uniform draws from the strategy's generator, fetched in blocks.

    One numpy call per ``block`` requests rather than one per request; the sequence
    is the generator's own.

    Examples
    --------
    >>> u = UniformStream(np.random.default_rng(0), block=4)
    >>> [round(u.next(), 3) for _ in range(5)] == [round(x, 3) for x in np.random.default_rng(0).random(8)[:5]]
    True
    """

    __slots__ = ("rng", "block", "_values", "_pos")

    def __init__(self, rng: np.random.Generator, block: int = 4096):
        self.rng = rng
        self.block = block
        self._values = rng.random(block)
        self._pos = 0

    def next(self) -> float:
        """The next uniform draw in [0, 1)."""
        if self._pos >= self.block:
            self._values = self.rng.random(self.block)
            self._pos = 0
        u = self._values[self._pos]
        self._pos += 1
        return u


class Strategy:
    """Base class: route everything to legacy; no outcomes, no ticks.

    Subclasses override :meth:`route` and, when they need them, set
    ``wants_outcomes`` / ``wants_labels`` / ``tick_interval_s``.
    """

    kind = "base"
    wants_outcomes = False
    wants_labels = False
    mirrors = False
    tick_interval_s: float | None = None
    mirror_replicas: int | None = None  # replicas of the mirrored calls' own pool (None: as configured)
    agreement_tolerance: float = float("nan")  # |difference| at which mirrored predictions agree

    def __init__(self) -> None:
        self.ctx: StrategyContext | None = None
        self.state = "running"

    def start(self, ctx: StrategyContext) -> None:
        """Called once before the first arrival."""
        self.ctx = ctx

    def block(self, ctx: StrategyContext) -> None:
        """Keep the candidate out: called instead of :meth:`start` when validation fails.

        The strategy never starts, routes nothing and decides nothing.
        """
        self.ctx = ctx
        self.state = "blocked"

    def route(self, request: Request) -> str:
        """The model that serves ``request``: legacy, always."""
        return "legacy"

    def mirror(self, request: Request) -> bool:
        """Whether to also send this request to the candidate (shadow strategies)."""
        return False

    def on_outcome(self, request_id: int, model: str, time_s: float, status: int, latency_ms: float) -> None:
        """A request finished (``status`` is one of OK, ERROR, TIMEOUT, DROPPED)."""

    def on_label(self, request_id: int, model: str, time_s: float, prediction: float, label: float) -> None:
        """The label of an ``ok`` request arrived (``label_delay_s`` after the request)."""

    def tick(self, now_s: float) -> None:
        """Periodic analysis (every ``tick_interval_s``)."""

    def on_rollback(self, now_s: float) -> None:
        """The engine rolled back (every later request goes to legacy)."""
        self.state = "rolled_back"

    def candidate_weight(self) -> float:
        """Current nominal share of traffic for the candidate, in percent (for plots)."""
        return 0.0

    def tables(self) -> dict[str, Any]:
        """Extra DataFrames the strategy logged (exported in ``RunResult.tables``)."""
        return {}

    def summary(self) -> dict[str, Any]:
        """Strategy-specific KPIs (``RunResult.summary.strategy.details``)."""
        return {"kind": self.kind, "final_state": self.state}
