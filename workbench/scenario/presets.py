"""Named strategy presets: a typical production configuration of each rollout strategy.

A preset is a ``[strategy]`` table (a plain mapping with ``kind``), used when a
strategy is named by kind only and the scenario does not configure that kind
itself: in a paired comparison (:func:`workbench.compare`) or when a user interface
switches a scenario to another strategy. Each is a valid ``strategy`` table of the
schema (the tests validate every one, and state how it differs from the schema's own
defaults for its kind):

``single``
    Everything to legacy: the schema's defaults.
``ab``
    A 50/50 split, sticky per user (the schema's split is per request), so a user
    sees one model throughout, as in a product A/B test.
``canary``
    A 5% cohort of users on the candidate (the schema's defaults).
``progressive``
    Argo Rollouts / Flagger style: 5%, 25%, 50% for 300 s each, then 100%; an
    analysis every 60 s against :data:`STANDARD_GATES`; one failed analysis is
    tolerated (``failure_limit = 1``), the second in a row rolls back, so a single
    noisy window does not roll back a good candidate. The schema has no default
    steps.
``shadow``
    Every request mirrored to the candidate (the schema's defaults).
``blue_green``
    Switch all traffic to the candidate at 300 s (the schema's default is 600 s),
    analyses every 30 s against :data:`STANDARD_GATES`, rollback at the first failure.
``bandit``
    Thompson sampling keeping at least 10% on legacy (the schema's defaults).
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ScenarioError

__all__ = ["STANDARD_GATES", "STRATEGY_PRESETS", "strategy_preset"]

# Flagger's and Argo's usual analysis: success rate (error rate at most 2%) and a
# latency tail at most 1.5 x legacy's, each on at least 50 requests per window.
STANDARD_GATES: list[dict[str, Any]] = [
    {"metric": "error_rate", "threshold": 0.02, "direction": "max", "min_samples": 50},
    {"metric": "latency_p99_ms", "threshold": 1.5, "direction": "max", "relative_to_legacy": True,
     "min_samples": 50},
]

STRATEGY_PRESETS: dict[str, dict[str, Any]] = {
    "single": {"kind": "single"},
    "ab": {"kind": "ab", "candidate_fraction": 0.5, "sticky": True},
    "canary": {"kind": "canary", "candidate_fraction": 0.05},
    "progressive": {
        "kind": "progressive",
        "steps": [{"weight": 5, "pause_s": 300}, {"weight": 25, "pause_s": 300},
                  {"weight": 50, "pause_s": 300}, {"weight": 100}],
        "interval_s": 60,
        "gates": STANDARD_GATES,
        "failure_limit": 1,
    },
    "shadow": {"kind": "shadow", "mirror_fraction": 1.0},
    "blue_green": {"kind": "blue_green", "switch_s": 300, "interval_s": 30,
                   "gates": STANDARD_GATES},
    "bandit": {"kind": "bandit", "algorithm": "thompson", "min_legacy_share": 0.1},
}


def strategy_preset(kind: str) -> dict[str, Any]:
    """A fresh copy of the preset ``[strategy]`` table for ``kind`` (safe to change).

    Raises
    ------
    ScenarioError
        ``kind`` has no preset (the message lists those that do).

    Examples
    --------
    >>> strategy_preset("canary")
    {'kind': 'canary', 'candidate_fraction': 0.05}
    """
    if kind not in STRATEGY_PRESETS:
        raise ScenarioError(f"strategy: no preset for {kind!r}; presets exist for "
                            f"{sorted(STRATEGY_PRESETS)}")
    return copy.deepcopy(STRATEGY_PRESETS[kind])
