"""Distances between distributions: checked against scipy and Evidently's formulas."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

import workbench.stats as wstats
from workbench.monitoring import population_stability_index as psi_from_monitoring
from workbench.monitoring.drift import population_stability_index as psi_from_drift
from workbench.stats import distances as distances_module
from workbench.stats.distances import (
    REFERENCE_STD_FLOOR,
    SortedReference,
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


# -- SortedReference: scipy's KS test and Wasserstein distance, bit for bit ------------
def _scipy_ks_w(ref_sorted, cur):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact-to-asymptotic switch
        ks = stats.ks_2samp(ref_sorted, cur)
    return float(ks.statistic), float(ks.pvalue), float(stats.wasserstein_distance(ref_sorted, cur))


def _draw(rng, kind, n1, n2):
    if kind == "continuous":
        return rng.normal(0, 1, n1), rng.normal(rng.uniform(-0.5, 0.5), rng.uniform(0.7, 1.5), n2)
    if kind == "rounded":  # ties inside and across the samples
        return np.round(rng.normal(0, 1, n1), 1), np.round(rng.normal(0.2, 1, n2), 1)
    if kind == "few_values":  # heavy ties
        return rng.integers(0, 3, n1).astype(float), rng.integers(0, 4, n2).astype(float)
    ref = np.abs(rng.normal(0, 1, n1))  # current drawn from the reference's own values
    return ref, ref[rng.integers(0, n1, n2)]


# exact with n1 == n2 and n1 != n2 (scipy: max size <= 10000), asymptotic above, tiny samples
KS_SIZES = [(1, 1), (1, 6), (2, 3), (5, 5), (7, 7), (20, 20), (40, 25), (200, 500), (500, 200),
            (300, 300), (999, 1000), (10_001, 200), (150, 12_000)]


@pytest.mark.parametrize(("n1", "n2"), KS_SIZES)
def test_sorted_reference_equals_scipy_bit_for_bit(n1, n2):
    rng = np.random.default_rng(n1 * 7919 + n2)
    for kind in ("continuous", "rounded", "few_values", "resampled"):
        for _ in range(3):
            ref_values, cur = _draw(rng, kind, n1, n2)
            ref = SortedReference(ref_values)
            stat, p, w = _scipy_ks_w(ref.values, cur)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                assert ref.ks_2samp(cur) == (stat, p), kind
                res = ref.compare(cur, reference_std=0.7)
            assert (res.ks_statistic, res.ks_p_value) == (stat, p)
            assert res.wasserstein_norm == w / 0.7
            assert ref.normalised_wasserstein(cur) == normalised_wasserstein(ref.values, cur)
            assert ref.normalised_wasserstein(cur, reference_std=1e-5) == w / REFERENCE_STD_FLOOR


def test_sorted_reference_known_answers_and_scipy_edge_branches():
    ref = SortedReference([3.0, 0.0, 2.0, 1.0])
    assert ref.values.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert ref.ks_2samp([1.0, 2.0, 3.0, 4.0]) == (0.25, 1.0)
    assert ref.ks_2samp([0.0, 1.0, 2.0, 3.0]) == (0.0, 1.0)  # identical samples: h = 0
    # all of the current sample above or all below: 2 of the C(6, 2) = 15 orderings
    assert ref.ks_2samp([10.0, 11.0]) == (1.0, pytest.approx(2 / 15))
    # n1 = n2 = 5, D = 1/5: scipy's exact sum comes out just above 1, so it warns and uses
    # the asymptotic p-value; the same warning and the same numbers here
    five = SortedReference(np.arange(5.0))
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        got = five.ks_2samp(np.arange(1.0, 6.0))
    assert got == _scipy_ks_w(five.values, np.arange(1.0, 6.0))[:2]
    assert got[0] == 0.2


def test_sorted_reference_fast_path_does_not_call_scipy_wrappers(monkeypatch):
    rng = np.random.default_rng(2)
    ref_values, cur = rng.normal(0, 1, 500), rng.normal(0.3, 1, 200)
    expected = _scipy_ks_w(np.sort(ref_values), cur)
    ref = SortedReference(ref_values)

    def forbidden(*args, **kwargs):
        raise AssertionError("scipy's public wrapper was called")

    monkeypatch.setattr(stats, "ks_2samp", forbidden)
    monkeypatch.setattr(stats, "wasserstein_distance", forbidden)
    res = ref.compare(cur, reference_std=1.0)
    assert (res.ks_statistic, res.ks_p_value, res.wasserstein_norm) == expected


def _same(x, y):
    return x == y or (x != x and y != y)


def test_sorted_reference_falls_back_to_scipy(monkeypatch):
    rng = np.random.default_rng(4)
    ref_values, cur = rng.normal(0, 1, 60), rng.normal(0, 1, 40)
    ref = SortedReference(ref_values)
    for bad in (math.inf, -math.inf, math.nan):  # non-finite current values go to scipy
        cur_bad = cur.copy()
        cur_bad[3] = bad
        stat, p, w = _scipy_ks_w(ref.values, cur_bad)
        res = ref.compare(cur_bad, reference_std=1.0)
        assert _same(res.ks_statistic, stat) and _same(res.ks_p_value, p) and _same(res.wasserstein_norm, w)
    with_inf = SortedReference(np.r_[ref_values, math.inf])  # a non-finite reference too
    assert with_inf.ks_2samp(cur) == _scipy_ks_w(with_inf.values, cur)[:2]
    # a scipy without the private routines: every call goes through scipy's public functions
    monkeypatch.setattr(distances_module, "_scipy_internals", lambda: None)
    plain = SortedReference(ref_values)
    stat, p, w = _scipy_ks_w(plain.values, cur)
    assert plain.ks_2samp(cur) == (stat, p)
    assert plain.normalised_wasserstein(cur, reference_std=2.0) == w / 2.0


def test_sorted_reference_rejects_bad_input():
    with pytest.raises(ValueError, match="values"):
        SortedReference([])
    with pytest.raises(ValueError, match="ascending"):
        SortedReference([2.0, 1.0], is_sorted=True)
    ref = SortedReference([1.0, 2.0], is_sorted=True)
    with pytest.raises(ValueError, match="current"):
        ref.ks_2samp([])
    with pytest.raises(ValueError, match="std_floor"):
        ref.compare([1.0], std_floor=0.0)
