"""Mirrored (shadow) calls: the candidate serves a copy of the request on its own replicas.

The mirror has its own replica pool and its own log; it shares the candidate's
per-request draws (service time, failure, prediction), so a shadow run sees exactly
what the candidate would have done with that request. Nothing here writes to the
user-facing request log.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..status import OK, PENDING, STATUS_NAMES
from .server import CallLog, ReplicaPool, Server

__all__ = ["Mirror", "shadow_frame"]


class Mirror:
    """Mirrored calls to one model on a pool of its own, logged apart from the users' requests."""

    def __init__(self, ctx, model: str = "candidate", replicas: int | None = None):
        self.m = ctx.model_index[model]
        cfg = ctx.scenario.models[model]
        pool = ReplicaPool(f"{model}-shadow", replicas or cfg.replicas, cfg.queue_limit)
        pools: list[ReplicaPool | None] = [None] * len(ctx.model_names)
        pools[self.m] = pool
        self.pool = pool
        self.log = CallLog(ctx.n, with_request_ids=True)
        self.server = Server(ctx, self.log, pools)

    def send(self, i: int, t: float) -> None:
        """Mirror request ``i`` (arrived at ``t``) to the model."""
        row = self.log.rows
        self.log.rows = row + 1
        self.log.request[row] = i
        self.server.dispatch(row, self.m, t)

    def to_frame(self, ctx) -> pd.DataFrame:
        """The mirrored calls with the candidate's answers beside what users got (``RunResult.shadow``)."""
        rows = self.log.rows
        return shadow_frame(
            ctx, self.m,
            ids=np.frombuffer(self.log.request, dtype=np.int64)[:rows].copy(),
            status=np.frombuffer(self.log.status, dtype=np.int8)[:rows].copy(),
            queue_ms=np.frombuffer(self.log.queue_ms, dtype=np.float64)[:rows].copy(),
            latency_ms=np.frombuffer(self.log.latency_ms, dtype=np.float64)[:rows].copy(),
        )


def shadow_frame(ctx, m: int, *, ids: np.ndarray, status: np.ndarray, queue_ms: np.ndarray,
                 latency_ms: np.ndarray) -> pd.DataFrame:
    """The table of mirrored calls to model ``m`` (one row per call, in the order they were sent).

    Parameters
    ----------
    ctx : RunContext
        The finished run (its request log, predictions and labels).
    m : int
        The mirrored model's index.
    ids, status, queue_ms, latency_ms : numpy.ndarray
        Each mirrored call's request id and its outcome on the mirror's pool.
    """
    if (status == PENDING).any():  # pragma: no cover - conservation guard
        raise RuntimeError("mirrored calls left unfinished")
    cand = ctx.predictions(m)[ids]
    ok = status == OK
    prediction = np.where(ok, cand, math.nan)
    legacy_ok = np.frombuffer(ctx.log.status, dtype=np.int8)[ids] == OK
    user_model = np.frombuffer(ctx.log.model, dtype=np.int8)[ids]
    served = np.full(ids.shape, math.nan)
    for k in range(len(ctx.model_names)):
        sel = legacy_ok & (user_model == k)
        served[sel] = ctx.predictions(k)[ids[sel]]
    return pd.DataFrame(
        {
            "request_id": ids,
            "time_s": ctx.traffic.time_s[ids],
            "status": pd.Categorical.from_codes(status, categories=list(STATUS_NAMES)),
            "queue_ms": queue_ms,
            "latency_ms": latency_ms,
            "prediction": prediction,
            "legacy_prediction": served,
            "prediction_diff": prediction - served,
            "label": ctx.traffic.label[ids],
        }
    )
