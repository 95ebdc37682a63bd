"""One threshold check: a measured value against a limit, with an honest third outcome.

A check is ``pass``, ``fail`` or ``inconclusive`` (Argo Rollouts' Successful / Failed /
Inconclusive). Too few samples, or a value that is missing, NaN or infinite, is
*inconclusive*, never a silent pass: a NaN read as 0 would pass every "max" threshold
(a trap Flagger users hit), and a NaN compared with ``>`` is simply False.

Rollout gates and the rollback policy both use :func:`check_threshold`, so the same
window cannot pass one and fail the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FAIL", "INCONCLUSIVE", "PASS", "ThresholdCheck", "check_threshold"]

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
_DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class ThresholdCheck:
    """Outcome of :func:`check_threshold`.

    Attributes
    ----------
    outcome : {"pass", "fail", "inconclusive"}
    value : float
        The value checked; NaN when it was missing or not finite. With too few samples
        it is the value as given (NaN when None).
    threshold : float
    direction : {"max", "min"}
        ``"max"`` fails above the threshold, ``"min"`` below it.
    n, min_samples : int
        Samples behind the value and the fewest that allow a decision.
    why : {"", "too_few_samples", "not_finite"}
        Why the check is inconclusive (empty otherwise).
    """

    outcome: str
    value: float
    threshold: float
    direction: str
    n: int
    min_samples: int
    why: str = ""

    @property
    def failed(self) -> bool:
        """True when the value is on the wrong side of the threshold."""
        return self.outcome == FAIL

    @property
    def passed(self) -> bool:
        """True when the value is within the threshold."""
        return self.outcome == PASS

    @property
    def inconclusive(self) -> bool:
        """True when too few samples or a missing value left the check undecided."""
        return self.outcome == INCONCLUSIVE

    @property
    def breach_sign(self) -> str:
        """``">"`` for a ``"max"`` threshold, ``"<"`` for ``"min"``: how a breach compares."""
        return ">" if self.direction == "max" else "<"


def check_threshold(value: float | None, threshold: float, direction: str = "max", *,
                    n: int = 0, min_samples: int = 0) -> ThresholdCheck:
    """Compare ``value`` with ``threshold``; inconclusive when it cannot be decided.

    Parameters
    ----------
    value : float or None
        The measurement (None, NaN or +-inf: inconclusive).
    threshold : float
        The limit. A value equal to it passes.
    direction : {"max", "min"}
        ``"max"``: fail when ``value > threshold``; ``"min"``: fail when
        ``value < threshold``.
    n : int
        Samples behind ``value``.
    min_samples : int
        Fewest samples for a decision; ``n < min_samples`` is inconclusive, checked
        before the value.

    Returns
    -------
    ThresholdCheck

    Examples
    --------
    >>> check_threshold(0.02, 0.05, "max", n=200, min_samples=50).outcome
    'pass'
    >>> check_threshold(0.08, 0.05, "max", n=200, min_samples=50).outcome
    'fail'
    >>> r = check_threshold(float("nan"), 0.05, "max", n=200, min_samples=50)
    >>> r.outcome, r.why
    ('inconclusive', 'not_finite')
    >>> check_threshold(0.08, 0.05, "max", n=10, min_samples=50).why
    'too_few_samples'
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction: must be 'max' or 'min', got {direction!r}")
    threshold = float(threshold)
    if n < min_samples:
        given = math.nan if value is None else float(value)
        return ThresholdCheck(INCONCLUSIVE, given, threshold, direction, n, min_samples,
                              "too_few_samples")
    if value is None or not math.isfinite(value):
        return ThresholdCheck(INCONCLUSIVE, math.nan, threshold, direction, n, min_samples,
                              "not_finite")
    value = float(value)
    breach = value > threshold if direction == "max" else value < threshold
    return ThresholdCheck(FAIL if breach else PASS, value, threshold, direction, n, min_samples)
