"""Experiments over many runs: paired strategy comparison, Monte-Carlo sweeps,
operating characteristics, capacity comparisons and detection quality.

The sweep function is ``workbench.sweep`` (module :mod:`workbench.experiments.sweep`)."""

from .characteristics import compare_policies, operating_characteristics
from .compare import DEFAULT_STRATEGIES, compare, strategy_kpis

__all__ = [
    "compare",
    "strategy_kpis",
    "DEFAULT_STRATEGIES",
    "operating_characteristics",
    "compare_policies",
]
