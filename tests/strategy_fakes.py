"""A fake strategy context: strategies unit-tested without the engine.

:class:`FakeContext` implements :class:`workbench.strategies.StrategyContext` with
a settable clock, a numpy generator, scripted window metrics, per-request values and
conversions, and records every ``emit`` and ``rollback`` call. Its ``rollback``
follows the engine's contract: the first call succeeds (returns True, records a
``rollback`` event whose source is the trigger, then calls the strategy's
``on_rollback``); later calls return False and change nothing.

The driving helpers (:meth:`FakeContext.start`, :meth:`~FakeContext.arrive`,
:meth:`~FakeContext.tick`) call the strategy the way the engine does: no ``route``
after a rollback, ``mirror`` only for mirroring strategies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.strategies import Request, Strategy, StrategyContext, WindowMetrics

__all__ = [
    "FakeContext",
    "Emitted",
    "RollbackCall",
    "ProtocolOnly",
    "PROTOCOL_NAMES",
    "window_metrics",
    "empty_window",
    "build",
]

# what a strategy may read from its context: the StrategyContext protocol, nothing else
PROTOCOL_NAMES = frozenset(
    set(StrategyContext.__annotations__)
    | {name for name in vars(StrategyContext) if not name.startswith("_")}
)

# the per-request value keys the engine's window_values returns
VALUE_KEYS = ("latency_ms", "error", "abs_error", "business")

WindowScript = Callable[[str, float, float], WindowMetrics | None]
ValuesScript = Callable[[str, float, float], Mapping[str, np.ndarray] | None]


@dataclass(frozen=True)
class Emitted:
    """One ``emit`` call, as the engine would record it as an event row."""

    time_s: float
    kind: str
    source: str
    model: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RollbackCall:
    """One ``rollback`` call and whether it took effect (only the first one does)."""

    time_s: float
    reason: str
    trigger: str
    accepted: bool
    details: dict[str, Any] = field(default_factory=dict)


def window_metrics(model: str = "candidate", **fields: Any) -> WindowMetrics:
    """A healthy, well-sampled window (500 requests, 400 labelled), with ``fields`` replaced."""
    base: dict[str, Any] = dict(
        model=model, start_s=0.0, end_s=60.0, n=500, errors=0, timeouts=0, dropped=0,
        error_rate=0.0, latency_p50_ms=40.0, latency_p95_ms=90.0, latency_p99_ms=120.0,
        n_labelled=400, prediction_mae=0.2, business_rate=0.08, slo_breaches=0,
    )
    base.update(fields)
    return WindowMetrics(**base)


def empty_window(model: str, start_s: float = 0.0, end_s: float = 0.0) -> WindowMetrics:
    """A window without requests: every rate and percentile NaN, as the engine reports it."""
    return WindowMetrics(
        model=model, start_s=float(start_s), end_s=float(end_s), n=0, errors=0, timeouts=0,
        dropped=0, error_rate=math.nan, latency_p50_ms=math.nan, latency_p95_ms=math.nan,
        latency_p99_ms=math.nan, n_labelled=0, prediction_mae=math.nan, business_rate=math.nan,
        slo_breaches=0,
    )


class FakeContext:
    """A :class:`StrategyContext` for unit tests.

    Parameters
    ----------
    seed : int
        Seed of the context's generator (``rng``), the strategy's only random source.
    scenario : Scenario or None
        What ``ctx.scenario`` returns (strategies read it for planning).
    slo_latency_ms : float
        The latency SLO (bandit rewards).
    models : tuple of str
        Model names.

    Attributes
    ----------
    windows : dict or callable
        Scripted metrics: ``{model: WindowMetrics}`` or ``f(model, start_s, end_s)``
        returning a WindowMetrics (or None for no data). ``start_s`` and ``end_s`` of
        the answer are set to the queried window (``end_s`` is ``min(end, now)``, as
        in the engine). A model without a script has an empty window.
    values : dict or callable
        Scripted per-request values for judges, the same way (``{model: {key: array}}``).
    conversions : callable
        ``f(request_id, model) -> bool`` for ``converted`` (default: never).
    events, rollbacks, window_calls, values_calls
        What the strategy did: emitted events, rollback calls, and the windows it read
        as ``(model, start_s, end_s)`` tuples (``end_s`` as given, None for "now").
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        scenario: Any = None,
        slo_latency_ms: float = 250.0,
        models: tuple[str, ...] = ("legacy", "candidate"),
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.models = tuple(models)
        self.slo_latency_ms = float(slo_latency_ms)
        self.scenario = scenario
        self.strategy: Strategy | None = None
        self.windows: Mapping[str, WindowMetrics] | WindowScript = {}
        self.values: Mapping[str, Mapping[str, np.ndarray]] | ValuesScript = {}
        self.conversions: Callable[[int, str], bool] = lambda request_id, model: False
        self.events: list[Emitted] = []
        self.rollbacks: list[RollbackCall] = []
        self.window_calls: list[tuple[str, float, float | None]] = []
        self.values_calls: list[tuple[str, float, float | None]] = []
        self._now_s = 0.0
        self._rolled_back = False
        self._next_id = 0
        self._features = np.zeros((1024, 1))

    # ------------------------------------------------------------------ the protocol
    @property
    def now_s(self) -> float:
        return self._now_s

    @now_s.setter
    def now_s(self, value: float) -> None:
        self._now_s = float(value)

    @property
    def rolled_back(self) -> bool:
        return self._rolled_back

    def emit(self, kind: str, reason: str = "", *, source: str | None = None, model: str = "",
             time_s: float | None = None, **details: Any) -> None:
        """Record an event; ``source``, ``model`` and ``time_s`` are columns, as in the engine."""
        src = source or f"strategy:{getattr(self.strategy, 'kind', 'base')}"
        t = self._now_s if time_s is None else float(time_s)
        self.events.append(Emitted(t, kind, src, model, reason, dict(details)))

    def rollback(self, reason: str, trigger: str, **details: Any) -> bool:
        """Roll back once: True the first time (and the strategy hears of it), then False."""
        accepted = not self._rolled_back
        self.rollbacks.append(RollbackCall(self._now_s, reason, trigger, accepted, dict(details)))
        if not accepted:
            return False
        self._rolled_back = True
        self.emit("rollback", reason, source=trigger, model="candidate", **details)
        if self.strategy is not None:
            self.strategy.on_rollback(self._now_s)
        return True

    def window(self, model: str, start_s: float, end_s: float | None = None) -> WindowMetrics:
        self.window_calls.append((model, start_s, end_s))
        end = self._now_s if end_s is None else min(end_s, self._now_s)
        script = self.windows
        wm = script(model, start_s, end) if callable(script) else script.get(model)
        if wm is None:
            return empty_window(model, start_s, end)
        return dataclasses.replace(wm, model=model, start_s=float(start_s), end_s=float(end))

    def window_values(self, model: str, start_s: float, end_s: float | None = None) -> dict[str, np.ndarray]:
        self.values_calls.append((model, start_s, end_s))
        end = self._now_s if end_s is None else min(end_s, self._now_s)
        script = self.values
        got = script(model, start_s, end) if callable(script) else script.get(model)
        out = {key: np.empty(0) for key in VALUE_KEYS}
        out.update({key: np.asarray(v, dtype=float) for key, v in (got or {}).items()})
        return out

    def converted(self, request_id: int, model: str) -> bool:
        return bool(self.conversions(request_id, model))

    def user_activity(self, top: int = 100_000) -> tuple[np.ndarray, np.ndarray, float]:
        # no heavy users known: every request is spread thinly (a cohort sends its weight)
        return np.zeros(0, dtype=np.int64), np.zeros(0), 1.0

    # ------------------------------------------------------------------ driving a strategy
    def start(self, strategy: Strategy, ctx: Any = None) -> Strategy:
        """Start ``strategy`` on this context (or on ``ctx``, a view of it) and return it."""
        self.strategy = strategy
        strategy.start(self if ctx is None else ctx)
        return strategy

    def request(self, time_s: float, user_id: int, request_id: int | None = None) -> Request:
        """A request arriving at ``time_s`` (ids count up unless given)."""
        rid = self._next_id if request_id is None else request_id
        self._next_id = max(self._next_id, rid + 1)
        if rid >= self._features.shape[0]:
            self._features = np.zeros((max(2 * self._features.shape[0], rid + 1), 1))
        return Request(rid, float(time_s), int(user_id), self._features)

    def arrive(self, time_s: float, user_id: int, request_id: int | None = None) -> tuple[Request, str]:
        """Route one arrival as the engine does (legacy, without asking, after a rollback)."""
        self.now_s = time_s
        request = self.request(time_s, user_id, request_id)
        if self._rolled_back:
            return request, "legacy"
        model = self.strategy.route(request)
        if model not in self.models:
            raise AssertionError(f"routed to unknown model {model!r}")
        return request, model

    def tick(self, now_s: float) -> None:
        """Advance the clock to ``now_s`` and run the strategy's periodic analysis."""
        self.now_s = now_s
        self.strategy.tick(now_s)

    def kinds(self) -> list[str]:
        """Kinds of the events emitted so far, in order."""
        return [e.kind for e in self.events]

    def of_kind(self, kind: str) -> list[Emitted]:
        return [e for e in self.events if e.kind == kind]


class ProtocolOnly:
    """A view of a context offering only the StrategyContext protocol's names.

    A strategy started on it fails loudly (AttributeError) if it reads anything the
    protocol does not promise, e.g. an engine internal.
    """

    def __init__(self, ctx: FakeContext) -> None:
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "accessed", set())

    def __getattr__(self, name: str) -> Any:
        if name not in PROTOCOL_NAMES:
            raise AttributeError(f"{name!r} is not part of the StrategyContext protocol")
        self.accessed.add(name)
        return getattr(self._ctx, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"strategies must not set context attributes (tried {name!r})")


def build(strategy: Mapping[str, Any], **scenario_fields: Any) -> tuple[Strategy, Any]:
    """A strategy built the way the engine builds it, and its validated scenario.

    ``strategy`` is the ``[strategy]`` table; ``scenario_fields`` override the rest of
    a minimal two-model scenario (``traffic``, ``models``, ``slo``...).
    """
    import workbench
    from workbench.strategies import build_strategy

    latency = {"dist": "lognormal", "median_ms": 40, "p99_ms": 120}
    raw: dict[str, Any] = {
        "name": "unit",
        "duration_s": 600,
        "models": {"legacy": {"latency": latency}, "candidate": {"latency": latency}},
        "strategy": dict(strategy),
    }
    raw.update(scenario_fields)
    scenario = workbench.load_scenario(raw)
    return build_strategy(scenario), scenario
