"""The ``[rollback]`` policy as a pure object: it decides from values, the monitor hub acts.

Health rule: at each evaluation the candidate's health window is compared with
each threshold. A window with fewer than ``min_samples`` requests says nothing
(neither breach nor pass); a metric that is NaN is inconclusive and ignored. Any
violated threshold is a breach; ``consecutive`` breaches in a row roll back when
``"health"`` is a trigger, and a clean evaluation resets the count.

Alert rule: an alert from a monitor named in ``triggers`` (other than health, which
uses the rule above) rolls back when it concerns the candidate (or all traffic)
and the alert does not say a rollback would not help (``may_roll_back``).

Examples
--------
>>> from workbench.scenario import RollbackConfig
>>> policy = RollbackPolicy(RollbackConfig(thresholds=[{"metric": "error_rate", "threshold": 0.05}],
...                                        consecutive=2, min_samples=10))
>>> policy.judge_health(5, {"error_rate": 0.5}) is None  # too few requests
True
>>> policy.judge_health(100, {"error_rate": 0.2}).roll_back
False
>>> policy.judge_health(100, {"error_rate": 0.3}).roll_back  # second breach in a row
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..scenario import RollbackConfig
from ..stats.thresholds import check_threshold

__all__ = ["RollbackPolicy", "HealthVerdict"]

_DEFAULT_COOLDOWN_S = 60.0


@dataclass(frozen=True)
class HealthVerdict:
    """One evaluation of the candidate's health against the thresholds.

    ``violations`` lists the breached thresholds (empty for a clean window);
    ``breaches`` is the count of breaches in a row; ``roll_back`` says whether the
    policy asks for the rollback now; ``text`` describes the violations.
    """

    violations: tuple[dict[str, Any], ...]
    breaches: int
    roll_back: bool
    text: str


class RollbackPolicy:
    """Rollback decisions of a scenario's ``[rollback]`` section (None: no policy)."""

    def __init__(self, config: RollbackConfig | None):
        self.config = config
        self.breaches = 0

    @property
    def cooldown_s(self) -> float:
        """Minimum time between two alerts of one monitor on one model."""
        return self.config.cooldown_s if self.config is not None else _DEFAULT_COOLDOWN_S

    @property
    def judges_health(self) -> bool:
        """Whether health windows are compared with thresholds at all."""
        c = self.config
        return c is not None and c.enabled and bool(c.thresholds)

    @property
    def performance_relative(self) -> bool:
        """Whether a candidate's performance alarm shared with legacy is blamed on the world."""
        return self.config is None or self.config.performance_relative

    def judge_health(self, n: int, metrics: Mapping[str, float]) -> HealthVerdict | None:
        """Compare one health window of ``n`` requests with the thresholds.

        Returns None when the policy does not judge health or the window is too small.
        """
        c = self.config
        if not self.judges_health or n < c.min_samples:
            return None
        violations = []
        for th in c.thresholds:
            value = metrics.get(th.metric)
            if check_threshold(value, th.threshold, th.direction, n=n, min_samples=c.min_samples).failed:
                violations.append({"metric": th.metric, "value": value, "threshold": th.threshold,
                                   "direction": th.direction})
        if not violations:
            self.breaches = 0
            return HealthVerdict((), 0, False, "")
        self.breaches += 1
        text = "; ".join(f"{v['metric']} {v['value']:.4g} {'>' if v['direction'] == 'max' else '<'} "
                         f"{v['threshold']:g}" for v in violations)
        roll_back = self.breaches >= c.consecutive and "health" in c.triggers
        return HealthVerdict(tuple(violations), self.breaches, roll_back, text)

    def rolls_back_on_alert(self, monitor: str, model: str, may_roll_back: bool = True) -> bool:
        """Whether an alert of ``monitor`` about ``model`` ("" for all traffic) triggers a rollback."""
        c = self.config
        return (c is not None and c.enabled and monitor in c.triggers and monitor != "health"
                and model in ("candidate", "") and may_roll_back)
