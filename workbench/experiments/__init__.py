"""Experiments over many runs.

Paired strategy comparison, risk over many paired seeds, Monte-Carlo sweeps,
operating characteristics, capacity comparisons and detection quality. Modules:
:mod:`.compare` (strategies on the same traffic), :mod:`.risk` (the same over many
paired seeds, every KPI with its interval and each strategy's risk figures), :mod:`.sweep` (the
``workbench.sweep`` driver, built on :mod:`.grid`, :mod:`.checkpoint` and
:mod:`.executors`), :mod:`.characteristics` (what a sweep says about a policy),
:mod:`.capacity` (autoscaled against fixed fleets) and :mod:`.detection` (monitors
scored against known faults).
"""

from .characteristics import compare_policies, operating_characteristics
from .compare import DEFAULT_STRATEGIES, compare, strategy_kpis
from .risk import RiskComparison, compare_seeds, format_risk, risk_summary

__all__ = [
    "compare",
    "strategy_kpis",
    "DEFAULT_STRATEGIES",
    "operating_characteristics",
    "compare_policies",
    "RiskComparison",
    "compare_seeds",
    "risk_summary",
    "format_risk",
]
