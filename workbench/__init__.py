"""Rollout Workbench: rehearse ML model rollouts on a simulation of production traffic.

Public API: :func:`load_scenario`, :func:`run`, :func:`compare`, :func:`sweep`,
:func:`calibrate` (traffic and latency from a request log), :func:`plan` (a safer
rollout), :class:`Scenario`, :class:`ScenarioError`, :class:`RunResult`,
:class:`RunSummary`; Argo Rollouts and Flagger specs in and out in
:mod:`workbench.rollouts`.

The names are loaded on first use, so ``import workbench`` (and ``workbench --help``)
does not pay for the engine, pandas or scipy until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import run
    from .experiments.compare import compare
    from .experiments.plan import plan
    from .experiments.sweep import sweep
    from .ops.calibrate import calibrate
    from .result import RunResult
    from .scenario import Scenario, ScenarioError, load_scenario
    from .summary import RunSummary

__all__ = ["__version__", "load_scenario", "run", "compare", "sweep", "calibrate", "plan", "Scenario",
           "ScenarioError", "RunResult", "RunSummary"]

_HOMES = {
    "run": "workbench.api",
    "compare": "workbench.experiments.compare",
    "sweep": "workbench.experiments.sweep",
    "calibrate": "workbench.ops.calibrate",
    "plan": "workbench.experiments.plan",
    "RunResult": "workbench.result",
    "RunSummary": "workbench.summary",
    "Scenario": "workbench.scenario",
    "ScenarioError": "workbench.scenario",
    "load_scenario": "workbench.scenario",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
