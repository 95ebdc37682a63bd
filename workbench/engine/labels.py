"""Late labels: which requests' labels have arrived since a consumer last asked."""

from __future__ import annotations

import numpy as np

from ..status import OK
from .server import PENDING

__all__ = ["LabelPump"]


class LabelPump:
    """Hands out, once each, the ``ok`` requests whose label arrived by ``now``.

    Label times are sorted (arrival time plus a constant delay), so a pointer and a
    ``searchsorted`` find the new ones; a request still in flight when its label
    arrives is handed out after it finishes. Requests that failed have no prediction
    to score and are skipped. Each consumer (strategy, monitors) owns one pump.
    """

    def __init__(self, label_time_s: np.ndarray, log_status):
        self.label_time_s = label_time_s
        self.status = log_status
        self._ptr = 0
        self._late = np.empty(0, dtype=np.int64)

    def pump(self, now: float) -> np.ndarray:
        """Request ids (in order) of ``ok`` requests whose labels are new by ``now``."""
        hi = int(np.searchsorted(self.label_time_s, now, side="right"))
        lo, self._ptr = self._ptr, max(hi, self._ptr)
        idx = np.arange(lo, self._ptr, dtype=np.int64)
        if self._late.size:
            idx = np.concatenate([self._late, idx])
        if not idx.size:
            return idx
        status = np.frombuffer(self.status, dtype=np.int8)[idx]
        self._late = idx[status == PENDING]  # still in flight: hand out when finished
        return idx[status == OK]
