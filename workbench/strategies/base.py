"""The strategy interface: routing objects that know nothing of SimPy.

The engine asks a strategy to ``route`` each request, feeds it outcomes and
(late) labels, and calls ``tick`` every ``tick_interval_s`` of simulated time.
A strategy reads aggregate metrics through the :class:`StrategyContext` the
engine gives it, records every decision with ``ctx.emit``, and asks for a
rollback with ``ctx.rollback`` (one rollback path for gates and monitors).
"""

from __future__ import annotations

import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..status import DROPPED, ERROR, OK, STATUS_NAMES, TIMEOUT

__all__ = [
    "Request",
    "Strategy",
    "UniformStream",
    "UserTable",
    "StrategyContext",
    "WindowMetrics",
    "arm_indices",
    "arm_names",
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

    @property
    def success_rate(self) -> float:
        """The share of requests that succeeded: ``1 - error_rate`` (NaN with no requests)."""
        return 1.0 - self.error_rate

    def get(self, metric: str) -> float:
        """The value of field ``metric`` (or of ``success_rate``) as a float."""
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

    def user_activity(self, top: int = 100_000) -> tuple[np.ndarray, np.ndarray, float]:
        """The ``top`` most active users' ids and request probabilities, and the rest's in all."""

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

    def take(self, k: int) -> np.ndarray:
        """The next ``k`` uniform draws, the same numbers ``k`` calls of :meth:`next` give.

        Examples
        --------
        >>> a, b = UniformStream(np.random.default_rng(3), block=4), UniformStream(np.random.default_rng(3), block=4)
        >>> bool((a.take(6) == [b.next() for _ in range(6)]).all() and a.next() == b.next())
        True
        """
        out = np.empty(k)
        filled = 0
        while filled < k:
            if self._pos >= self.block:
                self._values = self.rng.random(self.block)
                self._pos = 0
            n = min(k - filled, self.block - self._pos)
            out[filled:filled + n] = self._values[self._pos:self._pos + n]
            self._pos += n
            filled += n
        return out


class UserTable:
    """A small integer per user id, read and written one at a time or in batches.

    Ids in ``[0, dense_limit)`` live in a flat ``array.array`` (grown by doubling) seen
    through a NumPy view: one request reads or writes it as fast as a dict, and a
    batch of requests is one fancy-indexing call. Other ids (negative or huge) live
    in a dict. A user never stored reads ``empty``.

    Parameters
    ----------
    typecode : str
        The ``array.array`` type code of the stored values (``"h"`` int16, ``"B"`` uint8...).
    empty : int
        The value of a user never stored.
    dense_limit : int
        Ids below this are stored densely (bounds the array's memory).

    Examples
    --------
    >>> t = UserTable("B", empty=0)
    >>> t.set(7, 3); t.set(-1, 2); t.or_(7, 4)
    >>> t.get(7), t.get(-1), t.get(8), t.get_many(np.array([7, 8, -1])).tolist()
    (7, 2, 0, [7, 0, 2])
    """

    __slots__ = ("typecode", "empty", "dense_limit", "store", "dense", "size", "sparse")

    def __init__(self, typecode: str, empty: int, dense_limit: int = 1 << 22):
        self.typecode = typecode
        self.empty = int(empty)
        self.dense_limit = int(dense_limit)
        self.store = array.array(typecode)
        self.dense = np.frombuffer(self.store, dtype=self.store.typecode)
        self.size = 0
        self.sparse: dict[int, int] = {}

    def _grow(self, top: int) -> None:
        """Make the dense store cover ids up to ``top`` (which is below ``dense_limit``)."""
        size = min(max(top + 1, 2 * self.size, 1024), self.dense_limit)
        grown = array.array(self.typecode, [self.empty]) * size
        grown[:self.size] = self.store
        self.store, self.size = grown, size
        self.dense = np.frombuffer(grown, dtype=grown.typecode)

    def get(self, user_id: int) -> int:
        """The value stored for ``user_id`` (``empty`` if none)."""
        if 0 <= user_id < self.size:
            return self.store[user_id]
        return self.sparse.get(user_id, self.empty)

    def set(self, user_id: int, value: int) -> None:
        """Store ``value`` for ``user_id``."""
        if 0 <= user_id < self.size:
            self.store[user_id] = value
        elif 0 <= user_id < self.dense_limit:
            self._grow(user_id)
            self.store[user_id] = value
        else:
            self.sparse[user_id] = int(value)

    def or_(self, user_id: int, bits: int) -> None:
        """Set ``bits`` in the value of ``user_id``."""
        if 0 <= user_id < self.size:
            self.store[user_id] |= bits
        else:
            self.set(user_id, self.get(user_id) | bits)

    def _split(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``user_ids`` as int64, and the mask of the dense ones (None when all are dense)."""
        ids = np.asarray(user_ids, dtype=np.int64)
        if ids.size == 0:
            return ids, None
        lo, hi = int(ids.min()), int(ids.max())
        if lo >= 0 and hi < self.dense_limit:
            if hi >= self.size:
                self._grow(hi)
            return ids, None
        dense = (ids >= 0) & (ids < self.dense_limit)
        if dense.any():
            top = int(ids[dense].max())
            if top >= self.size:
                self._grow(top)
        return ids, dense

    def get_many(self, user_ids: np.ndarray) -> np.ndarray:
        """The values stored for each of ``user_ids`` (``empty`` where none)."""
        ids, dense = self._split(user_ids)
        if dense is None:
            return self.dense[ids]
        out = np.full(ids.size, self.empty, dtype=self.dense.dtype)
        out[dense] = self.dense[ids[dense]]
        sparse = self.sparse
        for i in np.flatnonzero(~dense).tolist():
            out[i] = sparse.get(int(ids[i]), self.empty)
        return out

    def set_many(self, user_ids: np.ndarray, values: np.ndarray) -> None:
        """Store ``values[k]`` for ``user_ids[k]`` (distinct ids)."""
        ids, dense = self._split(user_ids)
        values = np.asarray(values)
        if dense is None:
            self.dense[ids] = values
            return
        self.dense[ids[dense]] = values[dense]
        for uid, value in zip(ids[~dense].tolist(), values[~dense].tolist(), strict=True):
            self.sparse[uid] = int(value)

    def or_many(self, user_ids: np.ndarray, bits: int) -> None:
        """Set ``bits`` in the value of each of ``user_ids`` (repeats are harmless)."""
        ids, dense = self._split(user_ids)
        if dense is None:
            self.dense[ids] |= bits
            return
        self.dense[ids[dense]] |= bits
        sparse = self.sparse
        for uid in ids[~dense].tolist():
            sparse[uid] = sparse.get(uid, self.empty) | bits

    def values(self) -> np.ndarray:
        """The stored values that differ from ``empty`` (one per such user, in no particular order)."""
        dense = self.dense[self.dense != self.empty]
        if not self.sparse:
            return dense
        extra = np.fromiter((v for v in self.sparse.values() if v != self.empty), dtype=self.dense.dtype)
        return np.concatenate([dense, extra])


class Strategy:
    """Base class: route everything to legacy; no outcomes, no ticks.

    Subclasses override :meth:`route` and, when they need them, set
    ``wants_outcomes`` / ``wants_labels`` / ``tick_interval_s``.
    """

    kind = "base"
    wants_outcomes = False
    wants_labels = False
    mirrors = False
    # routing never reads outcomes or labels reported since the last ``tick`` (they are
    # buffered until then, or never used for routing), so an engine may route the arrivals
    # between two control events as one batch and report the outcomes before each event
    batch_routing = False
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

    def route_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """The models that serve a batch of requests, as :meth:`route` would, one by one, in order.

        The engine calls it with the arrivals between two control events, when nothing
        but routing itself changes the strategy's state. Overrides must leave the same
        state (counters, events, random stream position) as the per-request loop.

        Parameters
        ----------
        request_ids, times_s, user_ids : ndarray
            One entry per request, in arrival order.
        features : ndarray
            The run's whole feature matrix (row ``request_id`` is a request's features).

        Returns
        -------
        ndarray of str
            Model names (a NumPy unicode array), one per request.
        """
        route = self.route
        ids = np.asarray(request_ids).tolist()
        times = np.asarray(times_s).tolist()
        users = np.asarray(user_ids).tolist()
        names = [route(Request(rid, t, uid, features)) for rid, t, uid in zip(ids, times, users, strict=True)]
        return np.array(names, dtype=np.str_)

    def route_batch_indices(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray,
        model_index: Mapping[str, int],
    ) -> np.ndarray:
        """:meth:`route_batch` as indices into ``model_index`` (int8), which is what the engine stores.

        The default maps the names :meth:`route_batch` gives; strategies that pick
        between legacy and the candidate override it to skip the strings. Either
        way the strategy's state ends as :meth:`route_batch` leaves it.

        Raises
        ------
        RuntimeError
            When the strategy routes to a model that is not in ``model_index``.
        """
        names = np.asarray(self.route_batch(request_ids, times_s, user_ids, features))
        out = np.full(names.shape, -1, dtype=np.int8)
        for name, code in model_index.items():
            out[names == name] = code
        if (out < 0).any():
            bad = str(names[int(np.argmax(out < 0))])
            raise RuntimeError(f"strategy {self.kind!r} routed to unknown model {bad!r}")
        return out

    def mirror(self, request: Request) -> bool:
        """Whether to also send this request to the candidate (shadow strategies)."""
        return False

    def mirror_batch(
        self, request_ids: np.ndarray, times_s: np.ndarray, user_ids: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """:meth:`mirror` for a batch routed by :meth:`route_batch`: a bool per request, in order.

        The engine calls it right after ``route_batch`` on the same batch. Overrides
        must leave the same state as the per-request calls, which the reference
        engine makes after each request's ``route``.
        """
        mirror = self.mirror
        return np.array(
            [mirror(Request(rid, t, uid, features)) for rid, t, uid in zip(
                np.asarray(request_ids).tolist(), np.asarray(times_s).tolist(), np.asarray(user_ids).tolist(),
                strict=True)],
            dtype=bool,
        )

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


def arm_names(candidate: np.ndarray) -> np.ndarray:
    """Model names of a two-arm batch: ``"candidate"`` where ``candidate`` is True, else ``"legacy"``."""
    return np.where(candidate, "candidate", "legacy")


def arm_indices(candidate: np.ndarray, model_index: Mapping[str, int]) -> np.ndarray:
    """Model indices (int8) of a two-arm batch, as :func:`arm_names` names them."""
    return np.where(candidate, np.int8(model_index["candidate"]), np.int8(model_index["legacy"])).astype(np.int8)
