"""Experiments over many runs: paired strategy comparison (and Monte-Carlo sweeps)."""

from .compare import DEFAULT_STRATEGIES, compare, strategy_kpis

__all__ = ["compare", "strategy_kpis", "DEFAULT_STRATEGIES"]
