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

from ..status import OK, STATUS_NAMES
from .server import CallLog, ReplicaPool, Server

__all__ = ["Mirror"]


class Mirror:
    """Mirrored calls to one model on a pool of its own, logged apart from the users' requests."""

    def __init__(self, sim, model: str = "candidate", replicas: int | None = None):
        self.m = sim.model_index[model]
        cfg = sim.scenario.models[model]
        pool = ReplicaPool(f"{model}-shadow", replicas or cfg.replicas, cfg.queue_limit)
        pools: list[ReplicaPool | None] = [None] * len(sim.model_names)
        pools[self.m] = pool
        self.pool = pool
        self.log = CallLog(sim.n, with_request_ids=True)
        self.server = Server(sim, self.log, pools)

    def send(self, i: int, t: float) -> None:
        """Mirror request ``i`` (arrived at ``t``) to the model."""
        row = self.log.rows
        self.log.rows = row + 1
        self.log.request[row] = i
        self.server.dispatch(row, self.m, t)

    def to_frame(self, sim) -> pd.DataFrame:
        rows = self.log.rows
        ids = np.frombuffer(self.log.request, dtype=np.int64)[:rows].copy()
        status = np.frombuffer(self.log.status, dtype=np.int8)[:rows].copy()
        if (status < 0).any():  # pragma: no cover - conservation guard
            raise RuntimeError("mirrored calls left unfinished")
        cand = sim.draws[self.m].prediction[ids]
        ok = status == OK
        prediction = np.where(ok, cand, math.nan)
        legacy_ok = np.frombuffer(sim.log_status, dtype=np.int8)[ids] == OK
        user_model = np.frombuffer(sim.log_model, dtype=np.int8)[ids]
        served = np.full(ids.shape, math.nan)
        for k, d in enumerate(sim.draws):
            sel = legacy_ok & (user_model == k)
            served[sel] = d.prediction[ids[sel]]
        return pd.DataFrame(
            {
                "request_id": ids,
                "time_s": sim.traffic.time_s[ids],
                "status": pd.Categorical.from_codes(status, categories=list(STATUS_NAMES)),
                "queue_ms": np.frombuffer(self.log.queue_ms, dtype=np.float64)[:rows].copy(),
                "latency_ms": np.frombuffer(self.log.latency_ms, dtype=np.float64)[:rows].copy(),
                "prediction": prediction,
                "legacy_prediction": served,
                "prediction_diff": prediction - served,
                "label": sim.traffic.label[ids],
            }
        )
