"""Multiple testing across a family of metrics (Holm, Benjamini-Hochberg).

Guardrail metrics (latency, errors) are checked on their own, each at the
nominal level, and are left out of the family: correcting them would make
the guardrail weaker as more goal metrics are added (GrowthBook applies its
corrections to goal metrics only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["MetricDecision", "CorrectionResult", "adjust_p_values"]

_METHODS = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}


@dataclass(frozen=True)
class MetricDecision:
    """One metric's raw and adjusted p-value and decision."""

    metric: str
    p_value: float
    adjusted_p: float
    reject: bool
    guardrail: bool


@dataclass(frozen=True)
class CorrectionResult:
    """Decisions for every metric; ``family`` lists those that were corrected together."""

    decisions: tuple[MetricDecision, ...]
    method: str
    alpha: float
    family: tuple[str, ...]

    def __getitem__(self, metric: str) -> MetricDecision:
        for d in self.decisions:
            if d.metric == metric:
                return d
        raise KeyError(metric)

    @property
    def rejected(self) -> tuple[str, ...]:
        """Names of metrics whose null is rejected."""
        return tuple(d.metric for d in self.decisions if d.reject)


def adjust_p_values(
    p_values: Mapping[str, float],
    method: str = "holm",
    alpha: float = 0.05,
    guardrails: Iterable[str] = (),
) -> CorrectionResult:
    """Adjust p-values of a family of metrics; guardrails stay unadjusted.

    Parameters
    ----------
    p_values : mapping of metric name to p-value
    method : {"holm", "bh", "bonferroni", "none"}
        Holm's step-down (family-wise error) or Benjamini-Hochberg (false
        discovery rate); computed with statsmodels' ``multipletests``.
    guardrails : iterable of str
        Metrics tested on their own at ``alpha`` and excluded from the family.

    Examples
    --------
    >>> r = adjust_p_values({"ctr": 0.01, "revenue": 0.04, "latency_ms": 0.03},
    ...                     method="holm", guardrails=["latency_ms"])
    >>> r["ctr"].adjusted_p, r["revenue"].adjusted_p, r["latency_ms"].adjusted_p
    (0.02, 0.04, 0.03)
    >>> r.rejected
    ('ctr', 'revenue', 'latency_ms')
    """
    if method not in _METHODS:
        raise ValueError(f"method: must be one of {tuple(_METHODS)}, got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    guard = set(guardrails)
    unknown = guard - set(p_values)
    if unknown:
        raise ValueError(f"guardrails: not among the p-values: {sorted(unknown)}")
    for name, p in p_values.items():
        if not (0.0 <= float(p) <= 1.0):
            raise ValueError(f"p_values[{name!r}]: must be in [0, 1], got {p!r}")
    family = [m for m in p_values if m not in guard]
    adjusted: dict[str, float] = {}
    if family:
        raw = np.array([float(p_values[m]) for m in family])
        sm = _METHODS[method]
        adj = raw if sm is None else multipletests(raw, alpha=alpha, method=sm)[1]
        adjusted.update({m: float(min(p, 1.0)) for m, p in zip(family, adj, strict=True)})
    for m in guard:
        adjusted[m] = float(p_values[m])
    decisions = tuple(
        MetricDecision(metric=m, p_value=float(p_values[m]), adjusted_p=adjusted[m],
                       reject=bool(adjusted[m] <= alpha), guardrail=m in guard)
        for m in p_values
    )
    return CorrectionResult(decisions=decisions, method=method, alpha=float(alpha),
                            family=tuple(family))
