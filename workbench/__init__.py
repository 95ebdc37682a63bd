"""Rollout Workbench: rehearse ML model rollouts on a simulation of production traffic.

Public API: :func:`load_scenario`, :func:`run`, :class:`Scenario`,
:class:`ScenarioError`, :class:`RunResult`.
"""

__version__ = "0.1.0"

from .api import run
from .experiments import compare
from .experiments.sweep import sweep
from .result import RunResult
from .scenario import Scenario, ScenarioError, load_scenario

__all__ = ["__version__", "load_scenario", "run", "compare", "sweep", "Scenario", "ScenarioError", "RunResult"]
