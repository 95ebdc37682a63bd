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
    assert wstats.SortedReference is SortedReference
    assert wstats.ReferenceComparison is distances_module.ReferenceComparison


def test_stats_package_exports_every_listed_name():
    assert set(wstats.__all__) == set(wstats._HOME)
    for name in wstats.__all__:
        assert getattr(wstats, name) is not None
    with pytest.raises(AttributeError):
        wstats.no_such_name  # noqa: B018


# -- SortedReference: scipy's KS test and Wasserstein distance, bit for bit ------------
# Every value is compared with scipy's public function on the raw samples (the reference
# in its own order) by its bits, so -0.0 against 0.0 would fail too.
def _bits(values):
    return np.asarray(values, dtype=np.float64).view(np.int64).tolist()


def _scipy_ks_w(ref_values, cur):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact-to-asymptotic switch
        ks = stats.ks_2samp(ref_values, cur)
    return float(ks.statistic), float(ks.pvalue), float(stats.wasserstein_distance(ref_values, cur))


def _assert_equals_scipy(ref_values, cur, std=0.7):
    """Every entry point of SortedReference, with and without the sorted current sample."""
    stat, p, w = _scipy_ks_w(ref_values, cur)
    w_norm = normalised_wasserstein(ref_values, cur, reference_std=std)
    ref = SortedReference(ref_values)
    cur_sorted = np.sort(cur, kind="stable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for given in (None, cur_sorted):
            assert _bits(ref.ks_2samp(cur, current_sorted=given)) == _bits([stat, p])
            res = ref.compare(cur, reference_std=std, current_sorted=given)
            assert _bits([res.ks_statistic, res.ks_p_value, res.wasserstein_norm]) == _bits([stat, p, w_norm])
            assert _bits([ref.normalised_wasserstein(cur, reference_std=1.0, current_sorted=given)]) == _bits([w])
            assert _bits([ref.normalised_wasserstein(cur, reference_std=1e-5, current_sorted=given)]) == \
                _bits([w / REFERENCE_STD_FLOOR])


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
            _assert_equals_scipy(*_draw(rng, kind, n1, n2))


def _sample_pairs():
    """Reference/current pairs: sizes, ties, shifts, scales, constants, signed zeros."""
    rng = np.random.default_rng(20)
    pairs = [
        (np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])),
        (np.array([5.0]), np.array([5.0])),
        (np.array([5.0]), np.array([7.0, 1.0])),
        (np.full(30, 2.0), np.full(12, 2.0)),  # constant, unchanged
        (np.full(30, 2.0), np.array([2.0, 2.5, 2.0])),  # constant, moved
        (np.array([0.0, -0.0, 1.0, -0.0]), np.array([-0.0, 0.0, 0.0, 2.0, -1.0])),  # signed zeros
        (np.array([0.0]), np.array([-0.0])),
        (np.array([-0.0, 0.0, -0.0]), np.array([0.0, -0.0])),
    ]
    for _ in range(40):
        n1, n2 = (int(v) for v in rng.integers(1, 1200, 2))
        kind = int(rng.integers(0, 5))
        if kind == 0:  # continuous, shifted and scaled
            ref = rng.normal(0, 1, n1)
            cur = rng.normal(rng.normal(0, 0.5), rng.uniform(0.5, 2.0), n2)
        elif kind == 1:  # heavy ties
            ref = rng.integers(0, 8, n1).astype(float)
            cur = rng.integers(0, 10, n2).astype(float)
        elif kind == 2:  # equal sizes (KS's square-lattice exact branch)
            ref, cur = rng.normal(0, 1, n1), rng.normal(0.2, 1, n1)
        elif kind == 3:  # current shifted down: the negative side of the KS statistic wins
            ref, cur = rng.exponential(1.0, n1), rng.exponential(1.0, n2) - 0.3
        else:  # rounded values shared by both samples, scaled by 1000
            ref = np.round(rng.normal(0, 1, n1), 1) * 1000
            cur = np.round(rng.normal(0, 1, n2), 1) * 1000
        pairs.append((ref, cur))
    large = rng.normal(0, 1, 3000)
    pairs.append((large, large[:2000].copy()))  # identical values in both
    pairs.append((large, rng.normal(0.1, 1, 2000)))
    return pairs


@pytest.mark.parametrize(("ref", "cur"), _sample_pairs())
def test_sorted_reference_equals_scipy_on_ties_constants_and_signed_zeros(ref, cur):
    _assert_equals_scipy(ref, cur)


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
    # the reference is sorted stably: equal values (-0.0, 0.0) keep their order
    assert _bits(SortedReference([1.0, 0.0, -0.0, -1.0, -0.0]).values) == _bits([-1.0, 0.0, -0.0, -0.0, 1.0])


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
    with pytest.raises(ValueError, match="current_sorted: has 1 values, current has 2"):
        ref.ks_2samp([2.0, 1.0], current_sorted=[1.0])
    with pytest.raises(ValueError, match="current_sorted: the values are not in ascending order"):
        ref.normalised_wasserstein([2.0, 1.0], current_sorted=[2.0, 1.0])
