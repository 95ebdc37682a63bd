"""How much work and memory a scenario asks for, checked before anything is allocated.

A scenario is plain data, so a typo (``interval_s = 1e-6``, ``duration_s = 1e12``) can
ask for a run that never ends or that fills the machine's memory. These limits are
checked when the scenario is validated (``workbench validate`` reports them), long
before the engine draws a single number:

* **arrivals**: at most :data:`MAX_ARRIVALS` per run (peak rate x duration);
* **horizon**: ``duration_s`` at most :data:`MAX_DURATION_S` (about 116 days);
* **ticks**: every timer-driven loop of the engine (monitor evaluations, fleet
  samples, the strategy's analyses, autoscaler syncs, once-a-second label delivery,
  traffic bursts) wakes at most :data:`MAX_TICKS` times per run, and every rolling
  window holds at most :data:`MAX_TICKS` buckets;
* **memory**: the estimate of :func:`estimate_memory` must stay within the budget,
  :data:`DEFAULT_MEMORY_BUDGET_MB` or the ``WORKBENCH_MEMORY_BUDGET_MB`` environment
  variable.

The memory estimate is a linear model of what a run keeps: per arrival the request log
and its pre-drawn randomness (:data:`BYTES_PER_REQUEST`, plus 8 bytes per feature and
:data:`BYTES_PER_MODEL_REQUEST` per model: the fast engine's queue kernel keeps each
model's arrivals, draws and result columns), per user-item pair of an interleaving catalogue its affinity, grades and
ranker scores, per health bucket its sketch. Its coefficients were measured with
:mod:`tracemalloc` on runs of 100,000 requests and are rounded up.

Examples
--------
>>> from workbench.scenario import load_scenario
>>> s = load_scenario({"name": "x", "duration_s": 600, "models": {"legacy": {}}})
>>> est = estimate_memory(s)
>>> est.arrivals, round(est.total_mb)
(30000, 10)
>>> sorted(run_ticks(s).items())[0]
('duration_s (label delivery)', 0)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .scenario import Scenario

__all__ = [
    "MAX_ARRIVALS",
    "MAX_DURATION_S",
    "MAX_TICKS",
    "DEFAULT_MEMORY_BUDGET_MB",
    "MemoryEstimate",
    "estimate_memory",
    "memory_budget_mb",
    "run_ticks",
]

MAX_ARRIVALS = 5e7
"""Arrivals per run (peak rate x duration); a longer horizon should be split into runs."""

MAX_DURATION_S = 1e7
"""Simulated horizon of one run, in seconds (about 116 days)."""

MAX_TICKS = 1_000_000
"""Wake-ups of any one timer-driven loop per run, and buckets of any rolling window."""

DEFAULT_MEMORY_BUDGET_MB = 8192.0
"""Memory a run may need by :func:`estimate_memory`, unless ``WORKBENCH_MEMORY_BUDGET_MB`` says otherwise."""

BUDGET_ENV = "WORKBENCH_MEMORY_BUDGET_MB"

# Coefficients of the memory model (bytes), measured with tracemalloc and rounded up.
BYTES_PER_REQUEST = 220.0  # request log, arrival times, users, draws, result tables
BYTES_PER_FEATURE_VALUE = 8.0  # one float64 per request and feature
BYTES_PER_MODEL_REQUEST = 80.0  # each model's pre-drawn values, and its queue kernel's copies and result columns
BYTES_PER_INTERLEAVED_REQUEST = 700.0  # two top-k lists, the interleaved list and credit
BYTES_PER_CATALOGUE_CELL = 48.0  # affinity, grades and both rankers' noisy scores
BYTES_PER_MIRRORED_CALL = 64.0  # the shadow table
BYTES_PER_HEALTH_BUCKET = 1024.0  # one bucket's counts and latency sketch
BYTES_PER_TICK = 64.0  # a fleet sample or an analysis event


def memory_budget_mb() -> float:
    """The memory budget in MB: ``WORKBENCH_MEMORY_BUDGET_MB`` if set, else the default.

    Raises
    ------
    ValueError
        If the environment variable is not a positive finite number.
    """
    text = os.environ.get(BUDGET_ENV)
    if text is None or not text.strip():
        return DEFAULT_MEMORY_BUDGET_MB
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{BUDGET_ENV}={text!r}: expected a number of megabytes") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{BUDGET_ENV}={text!r}: expected a positive number of megabytes")
    return value


def expected_arrivals(scenario: Scenario) -> float:
    """Mean number of arrivals of a run (bursty traffic at its long-run mean rate)."""
    tr = scenario.traffic
    rate = tr.rate_per_s
    if tr.pattern == "bursty":
        calm, burst = tr.calm_mean_s, tr.burst_mean_s
        rate = rate * (calm + tr.burst_multiplier * burst) / (calm + burst)
    return rate * scenario.duration_s


def _ticks(duration_s: float, interval_s: float) -> int:
    ratio = duration_s / interval_s
    return int(ratio) if math.isfinite(ratio) and ratio < 1e18 else 10**18


def run_ticks(scenario: Scenario) -> dict[str, int]:
    """Wake-ups of each timer-driven loop, keyed by the field that sets them.

    Buckets of each rolling window are counted too.

    The engine's loops: fleet sampling (``resources.sample_interval_s``), the monitor hub
    (``monitoring.interval_s``, with its drift checks and its health windows of one
    bucket per second), the strategy's analyses (``strategy.interval_s``), autoscaler
    syncs (``models.<m>.autoscaling.sync_period_s``), a bandit's batched updates
    (``strategy.update_interval_s``), label delivery once per simulated
    second for strategies fed by labels (``duration_s``), and the calm/burst switches of
    bursty traffic (``traffic.calm_mean_s``).
    """
    d = scenario.duration_s
    out: dict[str, int] = {
        "resources.sample_interval_s": _ticks(d, scenario.resources.sample_interval_s),
        "duration_s (label delivery)": 0,
    }
    strategy = scenario.strategy
    if getattr(strategy, "interval_s", None):
        out["strategy.interval_s"] = _ticks(d, strategy.interval_s)
    if getattr(strategy, "update_interval_s", None):
        out["strategy.update_interval_s"] = _ticks(d, strategy.update_interval_s)
    if strategy.kind == "bandit" and strategy.reward == "conversion":
        out["duration_s (label delivery)"] = _ticks(d, 1.0)
    mon = scenario.monitoring
    if mon is not None and mon.enabled:
        out["monitoring.interval_s"] = _ticks(d, mon.interval_s)
        out["monitoring.drift_interval_s"] = _ticks(d, mon.drift_interval_s)
        out["monitoring.health_window_s"] = math.ceil(min(mon.health_window_s, 1e18))  # one bucket per second
    for name, model in scenario.models.items():
        if model.autoscaling is not None:
            out[f"models.{name}.autoscaling.sync_period_s"] = _ticks(d, model.autoscaling.sync_period_s)
    tr = scenario.traffic
    if tr.pattern == "bursty":
        out["traffic.calm_mean_s"] = _ticks(d, tr.calm_mean_s + tr.burst_mean_s)
    return out


@dataclass(frozen=True)
class MemoryEstimate:
    """What a run is expected to hold in memory at its peak, by part (bytes)."""

    arrivals: int
    requests_bytes: float
    catalogue_bytes: float
    monitors_bytes: float

    @property
    def total_bytes(self) -> float:
        """Estimated total memory, in bytes."""
        return self.requests_bytes + self.catalogue_bytes + self.monitors_bytes

    @property
    def total_mb(self) -> float:
        """Estimated total memory, in megabytes (10**6 bytes)."""
        return self.total_bytes / 1e6

    def describe(self) -> str:
        """One line: the total and its largest parts."""
        parts = [f"{self.arrivals:,} arrivals {self.requests_bytes / 1e6:,.0f} MB"]
        if self.catalogue_bytes:
            parts.append(f"interleaving catalogue {self.catalogue_bytes / 1e6:,.0f} MB")
        if self.monitors_bytes >= 1e6:
            parts.append(f"monitors and samples {self.monitors_bytes / 1e6:,.0f} MB")
        return f"about {self.total_mb:,.0f} MB ({', '.join(parts)})"


def estimate_memory(scenario: Scenario) -> MemoryEstimate:
    """Estimate the peak memory of one run of ``scenario`` (see the module docstring)."""
    n = expected_arrivals(scenario)
    per_request = (
        BYTES_PER_REQUEST
        + BYTES_PER_FEATURE_VALUE * len(scenario.traffic.features)
        + BYTES_PER_MODEL_REQUEST * len(scenario.models)
    )
    strategy = scenario.strategy
    catalogue = 0.0
    if strategy.kind == "interleaving":
        per_request += BYTES_PER_INTERLEAVED_REQUEST
        catalogue = BYTES_PER_CATALOGUE_CELL * scenario.traffic.users * strategy.n_items
    if strategy.kind == "shadow":
        per_request += BYTES_PER_MIRRORED_CALL * strategy.mirror_fraction
    ticks = run_ticks(scenario)
    monitors = BYTES_PER_TICK * sum(v for k, v in ticks.items() if k != "monitoring.health_window_s")
    monitors *= max(1, len(scenario.models))
    health = ticks.get("monitoring.health_window_s", 0)
    monitors += BYTES_PER_HEALTH_BUCKET * min(health, 10**15) * len(scenario.models)
    return MemoryEstimate(
        arrivals=int(round(n)),
        requests_bytes=n * per_request,
        catalogue_bytes=catalogue,
        monitors_bytes=monitors,
    )
