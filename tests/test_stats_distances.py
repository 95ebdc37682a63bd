"""Distances between distributions: checked against scipy and Evidently's formulas."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

import workbench.stats as wstats
from workbench.monitoring import population_stability_index as psi_from_monitoring
from workbench.monitoring.drift import population_stability_index as psi_from_drift
from workbench.stats.distances import (
    REFERENCE_STD_FLOOR,
    jensen_shannon,
    normalised_wasserstein,
    population_stability_index,
)
from workbench.validation import normalised_wasserstein as nw_from_validation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normalised_wasserstein_matches_scipy_over_reference_std(seed):
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(0, 3, 400), rng.normal(0.5, 2, 300)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert normalised_wasserstein(ref, cur) == pytest.approx(expected, rel=1e-12)
    # a standard deviation the caller already has is used as given
    assert normalised_wasserstein(ref, cur, reference_std=2.0) == pytest.approx(
        stats.wasserstein_distance(ref, cur) / 2.0, rel=1e-12)


def test_normalised_wasserstein_is_unit_free():
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(0, 1, 300), rng.normal(0.3, 1, 300)
    assert normalised_wasserstein(1000 * ref, 1000 * cur) == pytest.approx(
        normalised_wasserstein(ref, cur), rel=1e-9)


def test_constant_reference_is_floored_like_evidently():
    # Evidently's wasserstein_distance_norm: W1 / max(std(reference), 0.001)
    assert REFERENCE_STD_FLOOR == 0.001
    ref = np.full(50, 3.0)
    assert normalised_wasserstein(ref, ref) == 0.0
    # W1 between the point mass at 3 and {3, 3, 4, 4} is 0.5; 0.5 / 0.001 = 500 (finite)
    value = normalised_wasserstein(ref, [3.0, 3.0, 4.0, 4.0])
    assert math.isfinite(value) and value == pytest.approx(500.0)
    # a tiny but non-zero reference spread is floored too
    tiny = np.array([0.0, 1e-5])
    assert normalised_wasserstein(tiny, tiny + 0.01) == pytest.approx(0.01 / 0.001)
    assert normalised_wasserstein(ref, ref + 1, std_floor=0.5) == pytest.approx(2.0)


def test_normalised_wasserstein_rejects_empty_samples_and_bad_floor():
    with pytest.raises(ValueError, match="reference"):
        normalised_wasserstein([], [1.0])
    with pytest.raises(ValueError, match="current"):
        normalised_wasserstein([1.0], [])
    with pytest.raises(ValueError, match="std_floor"):
        normalised_wasserstein([1.0], [1.0], std_floor=0.0)


@pytest.mark.parametrize("base", [None, 2.0, 10.0])
def test_jensen_shannon_matches_scipy(base):
    rng = np.random.default_rng(7)
    p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    assert jensen_shannon(p, q, base=base) == pytest.approx(distance.jensenshannon(p, q, base=base), rel=1e-12)


def test_jensen_shannon_known_values_and_bases():
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(math.sqrt(math.log(2)))
    assert jensen_shannon([1, 0], [0, 1], base=2) == pytest.approx(1.0)
    assert jensen_shannon([0.2, 0.8], [0.2, 0.8]) == pytest.approx(0.0, abs=1e-12)
    # base 2 is larger by 1 / sqrt(ln 2), whatever the distributions
    p, q = [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]
    assert jensen_shannon(p, q, base=2) / jensen_shannon(p, q) == pytest.approx(1 / math.sqrt(math.log(2)))
    # weights are normalised, as scipy does
    assert jensen_shannon([2, 8], [5, 5]) == pytest.approx(jensen_shannon([0.2, 0.8], [0.5, 0.5]))
    with pytest.raises(ValueError, match="shapes"):
        jensen_shannon([0.5, 0.5], [1.0])


def test_population_stability_index_by_hand_and_empty_bins():
    # (0.5-0.4) ln(0.5/0.4) + (0.5-0.6) ln(0.5/0.6)
    expected = 0.1 * math.log(1.25) - 0.1 * math.log(5 / 6)
    assert population_stability_index([0.5, 0.5], [0.4, 0.6]) == pytest.approx(expected)
    # an empty bin counts as 0.0001 (Evidently), so PSI stays finite
    value = population_stability_index([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    by_hand = (0.1 * math.log(0.5 / 0.4)) * 2 + (1e-4 - 0.2) * math.log(1e-4 / 0.2)
    assert value == pytest.approx(by_hand)
    assert population_stability_index([0.3, 0.7], [0.3, 0.7]) == 0.0


def test_one_home_for_each_distance():
    assert psi_from_drift is population_stability_index
    assert psi_from_monitoring is population_stability_index
    assert nw_from_validation is normalised_wasserstein
    assert wstats.normalised_wasserstein is normalised_wasserstein
    assert wstats.jensen_shannon is jensen_shannon


def test_stats_package_exports_every_listed_name():
    assert set(wstats.__all__) == set(wstats._HOME)
    for name in wstats.__all__:
        assert getattr(wstats, name) is not None
    with pytest.raises(AttributeError):
        wstats.no_such_name  # noqa: B018
