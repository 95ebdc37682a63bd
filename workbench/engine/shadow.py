"""Mirrored (shadow) calls: the candidate serves a copy of the request on its own replicas.

The mirror has its own replica pool and its own log; it shares the candidate's
per-request draws (service time, failure, prediction), so a shadow run sees exactly
what the candidate would have done with that request. Nothing here writes to the
user-facing request log.
"""

from __future__ import annotations

import math
from array import array

import numpy as np
import pandas as pd
from simpy.events import Timeout

from ..strategies import DROPPED, ERROR, OK, STATUS_NAMES, TIMEOUT
from .serving import OUTAGE_HANG, OUTAGE_REFUSE, ReplicaPool

__all__ = ["Mirror"]


class Mirror:
    def __init__(self, sim, model: str = "candidate", replicas: int | None = None):
        self.sim = sim
        self.m = sim.model_index[model]
        cfg = sim.scenario.models[model]
        self.pool = ReplicaPool(f"{model}-shadow", replicas or cfg.replicas, cfg.queue_limit)
        self.timeout_s = cfg.timeout_ms / 1000.0 if cfg.timeout_ms is not None else None
        self.ids = array("q")
        self.status = array("b")
        self.queue_ms = array("d")
        self.latency_ms = array("d")
        self.started = array("b")
        self._row: dict[int, int] = {}

    def send(self, i: int, t: float) -> None:
        row = len(self.ids)
        self.ids.append(i)
        self.status.append(-1)
        self.queue_ms.append(0.0)
        self.latency_ms.append(0.0)
        self.started.append(0)
        sim = self.sim
        m = self.m
        if sim._outage_any[m] and sim._outage[m][i] == OUTAGE_REFUSE:
            self._finish(row, ERROR, 0.0, 0.0)
            return
        pool = self.pool
        if pool.capacity is None or pool.busy < pool.capacity:
            pool.busy += 1
            self._start(row, 0.0)
        elif pool.queue_limit is not None and pool.queue_full(self.status):
            self._finish(row, DROPPED, 0.0, 0.0)
        else:
            pool.queue.append(row)
            if self.timeout_s is not None:
                ev = Timeout(sim.env, self.timeout_s, row)
                ev.callbacks.append(self._on_queue_timeout)

    def _start(self, row: int, wait_s: float) -> None:
        sim = self.sim
        i = self.ids[row]
        m = self.m
        service_s = sim._service[m][i]
        hang = sim._outage_any[m] and sim._outage[m][i] == OUTAGE_HANG
        self.queue_ms[row] = wait_s * 1000.0
        self.started[row] = 1
        if self.timeout_s is not None and (hang or wait_s + service_s > self.timeout_s):
            left = Timeout(sim.env, max(0.0, self.timeout_s - wait_s), row)
            left.callbacks.append(self._on_timeout)
            hold = max(0.0, self.timeout_s - wait_s) if hang else service_s
            rel = Timeout(sim.env, hold)
            rel.callbacks.append(self._on_release)
        else:
            done = Timeout(sim.env, service_s, row)
            done.callbacks.append(self._on_done)

    def _on_done(self, event) -> None:
        row = event._value
        i = self.ids[row]
        status = ERROR if self.sim._fails[self.m][i] else OK
        self._finish(row, status, self.queue_ms[row], (self.sim.env.now - self.sim._times[i]) * 1000.0)
        self._on_release(None)

    def _on_timeout(self, event) -> None:
        row = event._value
        self._finish(row, TIMEOUT, self.queue_ms[row], self.timeout_s * 1000.0)

    def _on_queue_timeout(self, event) -> None:
        row = event._value
        if self.status[row] != -1 or self.started[row]:
            return
        ms = self.timeout_s * 1000.0
        self._finish(row, TIMEOUT, ms, ms)

    def _on_release(self, _event) -> None:
        pool = self.pool
        pool.busy -= 1
        while pool.queue and (pool.capacity is None or pool.busy < pool.capacity):
            row = pool.queue.popleft()
            if self.status[row] != -1:
                continue
            pool.busy += 1
            i = self.ids[row]
            self._start(row, self.sim.env.now - self.sim._times[i])

    def _finish(self, row: int, status: int, queue_ms: float, latency_ms: float) -> None:
        self.status[row] = status
        self.queue_ms[row] = queue_ms
        self.latency_ms[row] = latency_ms

    def to_frame(self, sim) -> pd.DataFrame:
        ids = np.frombuffer(self.ids, dtype=np.int64).copy()
        status = np.frombuffer(self.status, dtype=np.int8).copy()
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
                "queue_ms": np.frombuffer(self.queue_ms, dtype=np.float64).copy(),
                "latency_ms": np.frombuffer(self.latency_ms, dtype=np.float64).copy(),
                "prediction": prediction,
                "legacy_prediction": served,
                "prediction_diff": prediction - served,
                "label": sim.traffic.label[ids],
            }
        )
