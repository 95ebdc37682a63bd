"""Distances between two distributions: normalised Wasserstein, Jensen-Shannon, PSI.

One definition of each, shared by the drift monitor, the performance monitor and
pre-deployment validation, so a threshold means the same wherever it is applied.

* :func:`normalised_wasserstein`: the Wasserstein-1 distance between two samples divided
  by the reference's standard deviation (Evidently's ``wasserstein_distance_norm``). The
  standard deviation is floored at :data:`REFERENCE_STD_FLOOR` (0.001, Evidently's floor):
  a constant reference then gives a finite, large value (any change of 0.0001 or more
  reaches the usual 0.1 threshold) rather than infinity, and an unchanged constant
  feature still gives 0.
* :func:`jensen_shannon`: the Jensen-Shannon *distance* (square root of the divergence)
  between two discrete distributions, natural logarithm by default as Evidently uses it
  (its 0.1 threshold is calibrated for that base); ``base=2`` is NannyML's convention and
  gives ``1/sqrt(ln 2)`` (about 1.2011) times the natural-log value.
* :func:`population_stability_index`: ``sum((r - c) ln(r / c))`` over bins, with empty
  bins floored at 0.0001 as Evidently does, so one empty bin cannot make it infinite.

scipy is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PSI_EMPTY_BIN_FLOOR",
    "REFERENCE_STD_FLOOR",
    "jensen_shannon",
    "normalised_wasserstein",
    "population_stability_index",
]

REFERENCE_STD_FLOOR = 1e-3
"""Smallest reference standard deviation :func:`normalised_wasserstein` divides by."""

PSI_EMPTY_BIN_FLOOR = 1e-4
"""Share given to an empty bin by :func:`population_stability_index`."""


def _sample(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: need at least one value")
    return arr


def normalised_wasserstein(reference, current, *, reference_std: float | None = None,
                           std_floor: float = REFERENCE_STD_FLOOR) -> float:
    """Wasserstein-1 distance between two samples over the reference standard deviation.

    Unit free, so one threshold (Evidently's 0.1) holds for every feature and scale.

    Parameters
    ----------
    reference, current : array_like
        The two samples (flattened; each needs at least one value).
    reference_std : float, optional
        The reference's population standard deviation when the caller already has it
        (``np.std(reference)`` otherwise).
    std_floor : float
        Floor of the denominator (default :data:`REFERENCE_STD_FLOOR`, 0.001).

    Returns
    -------
    float
        ``W1(reference, current) / max(reference_std, std_floor)``.

    Examples
    --------
    >>> round(normalised_wasserstein([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]), 4)
    0.8944
    >>> normalised_wasserstein([5.0, 5.0], [5.0, 5.0, 5.0])      # unchanged constant
    0.0
    >>> round(normalised_wasserstein([5.0, 5.0], [5.0, 5.5]), 6)  # 0.25 / 0.001
    250.0
    """
    from scipy import stats

    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    if not std_floor > 0:
        raise ValueError(f"std_floor: must be > 0, got {std_floor!r}")
    std = float(np.std(ref)) if reference_std is None else float(reference_std)
    return float(float(stats.wasserstein_distance(ref, cur)) / max(std, std_floor))


def jensen_shannon(reference_props, current_props, *, base: float | None = None) -> float:
    """Jensen-Shannon distance between two discrete distributions.

    Parameters
    ----------
    reference_props, current_props : array_like
        Non-negative weights per bin or category, in the same order (normalised here).
    base : float, optional
        Logarithm base; None (default) is the natural logarithm, 2 gives a distance in
        [0, 1].

    Returns
    -------
    float
        ``sqrt((KL(r || m) + KL(c || m)) / 2)`` with ``m = (r + c) / 2``; 0 for equal
        distributions.

    Examples
    --------
    >>> round(jensen_shannon([1.0, 0.0], [0.0, 1.0]), 4)          # sqrt(ln 2)
    0.8326
    >>> jensen_shannon([1.0, 0.0], [0.0, 1.0], base=2)
    1.0
    """
    from scipy.spatial import distance

    r = np.asarray(reference_props, dtype=float)
    c = np.asarray(current_props, dtype=float)
    if r.shape != c.shape or r.ndim != 1 or r.size == 0:
        raise ValueError(f"reference_props/current_props: need two 1-D arrays of one length, "
                         f"got shapes {r.shape} and {c.shape}")
    return float(distance.jensenshannon(r, c, base=base))


def _floor_zeros(p: np.ndarray) -> np.ndarray:
    p = p.astype(float).copy()
    p[p == 0] = PSI_EMPTY_BIN_FLOOR
    return p


def population_stability_index(reference_props, current_props) -> float:
    """PSI = sum((r - c) ln(r / c)) over bins, empty bins floored at 0.0001.

    Parameters
    ----------
    reference_props, current_props : array_like
        Shares per bin (each summing to 1), in the same bin order.

    Examples
    --------
    >>> round(population_stability_index(np.array([0.5, 0.5]), np.array([0.4, 0.6])), 4)
    0.0405
    """
    r = _floor_zeros(np.asarray(reference_props))
    c = _floor_zeros(np.asarray(current_props))
    return float(np.sum((r - c) * np.log(r / c)))
