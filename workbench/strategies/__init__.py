"""Deployment strategies: routing objects driven by the engine, unaware of SimPy."""

from __future__ import annotations

from ..scenario import Scenario
from .bandit import Bandit
from .base import (
    DROPPED,
    ERROR,
    OK,
    STATUS_NAMES,
    TIMEOUT,
    Request,
    Strategy,
    StrategyContext,
    WindowMetrics,
)
from .canary import Canary, Cohort
from .interleaving import Interleaving
from .progressive import BlueGreen, Progressive
from .shadow import Shadow
from .simple import ABTest, Single

__all__ = [
    "Strategy",
    "StrategyContext",
    "Request",
    "WindowMetrics",
    "Single",
    "ABTest",
    "Canary",
    "Cohort",
    "Progressive",
    "BlueGreen",
    "Shadow",
    "Bandit",
    "Interleaving",
    "build_strategy",
    "STRATEGY_KINDS",
    "OK",
    "ERROR",
    "TIMEOUT",
    "DROPPED",
    "STATUS_NAMES",
]

STRATEGY_KINDS = {
    "single": Single,
    "ab": ABTest,
    "canary": Canary,
    "progressive": Progressive,
    "shadow": Shadow,
    "blue_green": BlueGreen,
    "bandit": Bandit,
    "interleaving": Interleaving,
}


def build_strategy(scenario: Scenario) -> Strategy:
    """The strategy object for ``scenario.strategy``."""
    config = scenario.strategy
    cls = STRATEGY_KINDS[config.kind]  # the schema admits only these kinds
    if config.kind == "interleaving":
        return cls(config, users=scenario.traffic.users)
    return cls(config)
