"""Sample ratio mismatch: whether the arms' counts match the planned split.

A chi-square goodness-of-fit test against the expected shares; GrowthBook
flags a mismatch at p < 0.001 (GrowthBook's SRM check default). A mismatch means the
assignment or logging is broken, so any effect estimate is suspect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["SRMResult", "srm_test"]


@dataclass(frozen=True)
class SRMResult:
    """Outcome of a sample-ratio-mismatch check."""

    chi2: float
    p_value: float
    mismatch: bool
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    threshold: float


def srm_test(
    counts: Sequence[float], expected_shares: Sequence[float], threshold: float = 0.001
) -> SRMResult:
    """Chi-square test of observed arm counts against the planned split.

    Parameters
    ----------
    counts : sequence of int
        Observations (users or requests) per arm.
    expected_shares : sequence of float
        Planned shares per arm, in any positive scale (``[50, 50]``,
        ``[0.95, 0.05]``); they are normalised.
    threshold : float
        Flag a mismatch when ``p_value < threshold`` (GrowthBook: 0.001).

    Examples
    --------
    >>> r = srm_test([1000, 1200], [0.5, 0.5])
    >>> round(r.p_value, 9), r.mismatch
    (2.0079e-05, True)
    """
    obs = np.asarray(counts, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if obs.ndim != 1 or obs.size < 2:
        raise ValueError(f"counts: need at least two arms, got {counts!r}")
    if shares.shape != obs.shape:
        raise ValueError(
            f"expected_shares: must have one share per arm ({obs.size}), got {expected_shares!r}"
        )
    if np.any(obs < 0) or not np.all(np.isfinite(obs)):
        raise ValueError(f"counts: must be finite and non-negative, got {counts!r}")
    if np.any(shares <= 0) or not np.all(np.isfinite(shares)):
        raise ValueError(f"expected_shares: must be positive, got {expected_shares!r}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold: must be in (0, 1), got {threshold!r}")
    total = obs.sum()
    expected = shares / shares.sum() * total
    if total == 0:
        chi2, p = 0.0, 1.0
    else:
        chi2 = float(np.sum((obs - expected) ** 2 / expected))
        p = float(stats.chi2.sf(chi2, obs.size - 1))
    return SRMResult(
        chi2=chi2, p_value=p, mismatch=bool(p < threshold),
        observed=tuple(int(c) for c in obs), expected=tuple(float(e) for e in expected),
        threshold=float(threshold),
    )
