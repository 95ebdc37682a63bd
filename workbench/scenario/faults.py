"""The ``[[faults]]`` tables: what goes wrong during a run, and when.

Every fault has a window (``start_s``, optional ``duration_s``); one class per ``kind``,
joined in the discriminated union :data:`FaultConfig`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import FrozenDict, ReadOnlyDict, StrictModel
from .errors import FieldError
from .latency import MAX_LATENCY_MS

__all__ = [
    "MAX_MULTIPLIER",
    "FaultWindow",
    "LatencySpike",
    "ErrorBurst",
    "Outage",
    "DataDrift",
    "ConceptDrift",
    "FaultConfig",
]

MAX_MULTIPLIER = 1e3  # a latency spike's multiplier


class FaultWindow(StrictModel):
    """The window of a fault: from ``start_s`` for ``duration_s`` seconds (open-ended when omitted)."""

    start_s: float = Field(ge=0)
    duration_s: float | None = Field(default=None, gt=0)

    @property
    def end_s(self) -> float:
        """End of the window in seconds (infinite when it has no duration)."""
        return math.inf if self.duration_s is None else self.start_s + self.duration_s


class LatencySpike(FaultWindow):
    """Requests to ``target`` arriving in the window take ``multiplier`` x longer plus ``add_ms``."""

    kind: Literal["latency_spike"] = "latency_spike"
    target: str
    multiplier: float = Field(default=1.0, ge=0, le=MAX_MULTIPLIER)
    add_ms: float = Field(default=0.0, ge=0, le=MAX_LATENCY_MS)

    @model_validator(mode="after")
    def _does_something(self) -> LatencySpike:
        if self.multiplier == 1.0 and self.add_ms == 0.0:
            raise FieldError("multiplier", "a latency spike needs multiplier != 1 or add_ms > 0")
        return self


class ErrorBurst(FaultWindow):
    """Requests to ``target`` in the window fail with probability ``error_rate``."""

    kind: Literal["error_burst"] = "error_burst"
    target: str
    error_rate: float = Field(ge=0, le=1)


class Outage(FaultWindow):
    """``target`` is unavailable: requests are refused at once (``error``) or hang until their timeout."""

    kind: Literal["outage"] = "outage"
    target: str
    mode: Literal["refuse", "hang"] = "refuse"


class DataDrift(FaultWindow):
    """Feature ``feature`` becomes ``mean + (x - mean) * scale + shift``, reached over ``ramp_s``."""

    kind: Literal["data_drift"] = "data_drift"
    feature: str
    shift: float = 0.0
    scale: float = Field(default=1.0, gt=0)
    ramp_s: float = Field(default=0.0, ge=0)


class ConceptDrift(FaultWindow):
    """The target function changes: weights move by ``weight_shift`` and the label by ``offset``.

    The models keep predicting the old function, so their predictions quietly get worse.
    """

    kind: Literal["concept_drift"] = "concept_drift"
    weight_shift: FrozenDict[str, float] = Field(default_factory=ReadOnlyDict)
    offset: float = 0.0
    ramp_s: float = Field(default=0.0, ge=0)


FaultConfig = Annotated[
    LatencySpike | ErrorBurst | Outage | DataDrift | ConceptDrift, Field(discriminator="kind")
]
