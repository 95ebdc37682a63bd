"""Feature drift: Evidently's test choice, scipy/statsmodels cross-checks, A/A false-positive
rate, configured shifts, scale invariance, missing/unknown features, sliding windows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance
from statsmodels.stats.proportion import proportions_ztest

from workbench.monitoring import drift
from workbench.monitoring.drift import (
    DEFAULT_THRESHOLDS,
    FeatureDriftMonitor,
    SlidingDriftMonitor,
    population_stability_index,
)
from workbench.stats.distances import jensen_shannon, normalised_wasserstein


def _frame(rng, n, shift=0.0, p_cat=(0.5, 0.3, 0.2), p_bin=0.3):
    return pd.DataFrame({
        "num": rng.normal(shift, 1.0, n),
        "cat": rng.choice(np.array(["a", "b", "c"]), n, p=p_cat),
        "flag": rng.random(n) < p_bin,
        "few": rng.integers(0, 4, n).astype(float),  # numeric, 4 values: treated as categorical
    })


def _row(report, feature):
    return report.table.set_index("feature").loc[feature]


@pytest.mark.parametrize(
    ("n_ref", "expected"),
    [(1000, {"num": "ks", "cat": "chisquare", "flag": "z", "few": "chisquare"}),
     (1001, {"num": "wasserstein", "cat": "jensenshannon", "flag": "jensenshannon",
             "few": "jensenshannon"})],
)
def test_default_test_choice_follows_evidently(n_ref, expected):
    rng = np.random.default_rng(0)
    report = FeatureDriftMonitor(_frame(rng, n_ref)).check(_frame(rng, 300))
    chosen = dict(zip(report.table["feature"], report.table["test"], strict=True))
    assert chosen == expected
    thresholds = dict(zip(report.table["feature"], report.table["threshold"], strict=True))
    assert thresholds == {f: DEFAULT_THRESHOLDS[t] for f, t in expected.items()}


def test_statistics_match_scipy_and_statsmodels():
    rng = np.random.default_rng(1)
    ref, cur = _frame(rng, 800), _frame(rng, 400, shift=0.2, p_cat=(0.4, 0.4, 0.2), p_bin=0.35)
    report = FeatureDriftMonitor(ref).check(cur)
    ks = stats.ks_2samp(ref["num"], cur["num"])
    assert _row(report, "num")["statistic"] == pytest.approx(ks.statistic)
    assert _row(report, "num")["p_value"] == pytest.approx(ks.pvalue)
    table = pd.crosstab(np.r_[np.zeros(800), np.ones(400)], np.r_[ref["cat"], cur["cat"]])
    chi = stats.chi2_contingency(table.to_numpy(), correction=False)
    assert _row(report, "cat")["p_value"] == pytest.approx(chi.pvalue)
    z, p = proportions_ztest([ref["flag"].sum(), cur["flag"].sum()], [800, 400])
    assert _row(report, "flag")["p_value"] == pytest.approx(p)
    assert abs(_row(report, "flag")["statistic"]) == pytest.approx(abs(z))


def test_large_reference_distances_match_scipy():
    rng = np.random.default_rng(2)
    ref, cur = _frame(rng, 3000), _frame(rng, 500, shift=0.3, p_cat=(0.3, 0.4, 0.3))
    report = FeatureDriftMonitor(ref).check(cur)
    w = stats.wasserstein_distance(ref["num"], cur["num"]) / np.std(ref["num"])
    assert _row(report, "num")["statistic"] == pytest.approx(w)
    rp = ref["cat"].value_counts(normalize=True).reindex(["a", "b", "c"]).to_numpy()
    cp = cur["cat"].value_counts(normalize=True).reindex(["a", "b", "c"]).to_numpy()
    # Evidently calls scipy's jensenshannon with its default (natural) logarithm
    assert _row(report, "cat")["statistic"] == pytest.approx(distance.jensenshannon(rp, cp))
    assert bool(_row(report, "num")["drift"]) is bool(w >= 0.1)


def _categorical(counts):
    return np.repeat(np.array(list(counts), dtype=object), list(counts.values()))


def test_jensen_shannon_uses_the_natural_log_as_evidently():
    # scipy.spatial.distance.jensenshannon docstring (scipy 1.x):
    #   jensenshannon([1.0, 0.0], [0.5, 0.5]) -> 0.46450140402245893 (natural log)
    ref = {"c": _categorical({"a": 1200})}
    cur = {"c": _categorical({"a": 300, "b": 300})}
    report = FeatureDriftMonitor(ref, feature_types={"c": "categorical"}).check(cur)
    assert _row(report, "c")["test"] == "jensenshannon"
    assert _row(report, "c")["statistic"] == pytest.approx(0.46450140402245893, rel=1e-12)
    # NannyML's base 2 is a named test; it is larger by 1/sqrt(ln 2)
    report2 = FeatureDriftMonitor(ref, feature_types={"c": "categorical"},
                                  stattests={"c": "jensenshannon_base2"}).check(cur)
    assert _row(report2, "c")["test"] == "jensenshannon_base2"
    assert _row(report2, "c")["statistic"] == pytest.approx(0.46450140402245893 / math.sqrt(math.log(2)))
    assert DEFAULT_THRESHOLDS["jensenshannon"] == DEFAULT_THRESHOLDS["jensenshannon_base2"] == 0.1


def test_jensen_shannon_threshold_is_calibrated_for_the_natural_log():
    # 50/50 against 62/38: scipy jensenshannon = 0.0856 (natural log), 0.1028 (base 2):
    # Evidently's 0.1 keeps it, the base-2 distance crosses the same threshold.
    ref = {"c": _categorical({"a": 1000, "b": 1000})}
    cur = {"c": _categorical({"a": 620, "b": 380})}
    mon = FeatureDriftMonitor(ref, feature_types={"c": "categorical"})
    row = _row(mon.check(cur), "c")
    assert row["statistic"] == pytest.approx(0.0855812286097025, rel=1e-9)
    assert not row["drift"]
    row2 = _row(FeatureDriftMonitor(ref, feature_types={"c": "categorical"},
                                    stattests={"c": "jensenshannon_base2"}).check(cur), "c")
    assert row2["statistic"] == pytest.approx(0.1027935314545897, rel=1e-9)
    assert row2["drift"]


def test_wasserstein_hand_example_and_forced_test():
    ref = {"x": np.array([0.0, 1.0, 2.0, 3.0])}
    cur = {"x": np.array([1.0, 2.0, 3.0, 4.0])}
    report = FeatureDriftMonitor(ref, stattests={"x": "wasserstein"}).check(cur)
    # W1 = 1 (every point moves by 1); reference std (ddof 0) = sqrt(1.25).
    assert _row(report, "x")["statistic"] == pytest.approx(1 / math.sqrt(1.25))


def test_wasserstein_constant_reference_is_floored_not_infinite():
    # reference std 0 is floored at 0.001 (Evidently): a change gives a large finite
    # statistic, no change gives 0; both rows say the reference was constant
    ref = {"x": np.full(20, 2.0)}
    mon = FeatureDriftMonitor(ref, stattests={"x": "wasserstein"})
    moved = _row(mon.check({"x": np.array([2.0, 2.0, 2.5, 2.5])}), "x")
    assert moved["statistic"] == pytest.approx(0.25 / 0.001) and moved["drift"]
    assert moved["note"] == "constant reference"
    still = _row(mon.check({"x": np.full(5, 2.0)}), "x")
    assert still["statistic"] == 0.0 and not still["drift"]


def test_psi_hand_computed():
    r, c = np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.25, 0.25])
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.5 - 0.25) * math.log(0.5 / 0.25)
    assert population_stability_index(r, c) == pytest.approx(expected)
    # an empty current bin is floored at 1e-4 (Evidently), so PSI stays finite
    assert math.isfinite(population_stability_index(np.array([0.5, 0.5]), np.array([1.0, 0.0])))


def test_psi_on_reference_deciles_flags_a_shift():
    rng = np.random.default_rng(3)
    ref = {"x": rng.normal(0, 1, 5000)}
    mon = FeatureDriftMonitor(ref)
    same = _row(mon.check({"x": rng.normal(0, 1, 5000)}), "x")
    moved = _row(mon.check({"x": rng.normal(0.5, 1, 5000)}), "x")
    assert same["psi"] < 0.01 and not same["psi_drift"]
    assert moved["psi"] > 0.1 and moved["psi_drift"]


@pytest.mark.parametrize("n", [300, 3000])
def test_aa_split_flagged_at_most_at_nominal_rate(n):
    # Small references use p-value tests at 5 %: over 150 seeds the flag rate of each feature
    # must stay within 5 % plus three binomial standard errors. Large references use
    # distances with threshold 0.1, which an A/A split of this size should essentially never reach.
    seeds = 150
    flags = {"num": 0, "cat": 0, "flag": 0, "few": 0}
    dataset = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        df = _frame(rng, 2 * n)
        report = FeatureDriftMonitor(df.iloc[:n]).check(df.iloc[n:])
        for f in flags:
            flags[f] += bool(_row(report, f)["drift"])
        dataset += report.dataset_drift
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / seeds) if n <= 1000 else 0.01
    for f, k in flags.items():
        assert k / seeds <= bound, (f, k)
    assert dataset / seeds <= bound


def test_evidently_goodness_of_fit_chi_square_would_inflate_aa():
    # Why we use the two-sample contingency test: treating the reference frequencies as exact
    # (scipy.stats.chisquare, Evidently's choice) flags far more than 5 % of A/A splits.
    gof = ours = 0
    for seed in range(150):
        rng = np.random.default_rng(seed)
        df = _frame(rng, 1000)
        ref, cur = df.iloc[:500], df.iloc[500:]
        rc = ref["cat"].value_counts().reindex(["a", "b", "c"]).to_numpy()
        cc = cur["cat"].value_counts().reindex(["a", "b", "c"]).to_numpy()
        gof += stats.chisquare(cc, rc * cc.sum() / rc.sum()).pvalue < 0.05
        ours += bool(_row(FeatureDriftMonitor(ref[["cat"]]).check(cur[["cat"]]), "cat")["drift"])
    assert gof / 150 > 0.15
    assert ours / 150 <= 0.09


@pytest.mark.parametrize("n_ref", [500, 4000])
def test_configured_shift_is_flagged(n_ref):
    rng = np.random.default_rng(4)
    ref = _frame(rng, n_ref)
    cur = _frame(rng, 500, shift=0.5, p_cat=(0.3, 0.3, 0.4), p_bin=0.45)
    report = FeatureDriftMonitor(ref).check(cur)
    assert report.drifted_features == ["num", "cat", "flag"]
    assert report.share_drifted == pytest.approx(0.75)
    assert report.dataset_drift


@pytest.mark.parametrize("n_ref", [500, 4000])
def test_scaling_by_1000_changes_no_decision(n_ref):
    rng = np.random.default_rng(5)
    for shift in (0.0, 0.05, 0.15, 0.5):
        ref = pd.DataFrame({"x": rng.lognormal(0, 0.5, n_ref), "k": rng.integers(0, 3, n_ref) * 1.0})
        cur = pd.DataFrame({"x": rng.lognormal(shift, 0.5, 400), "k": rng.integers(0, 3, 400) * 1.0})
        a = FeatureDriftMonitor(ref).check(cur).table
        b = FeatureDriftMonitor(ref * 1000).check(cur * 1000).table
        assert a["test"].tolist() == b["test"].tolist()
        assert a["drift"].tolist() == b["drift"].tolist()
        assert a["psi_drift"].tolist() == b["psi_drift"].tolist()
        np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-9)
        np.testing.assert_allclose(a["psi"], b["psi"], rtol=1e-9)


def test_missing_unknown_and_empty_features_are_reported_not_raised():
    rng = np.random.default_rng(6)
    ref = _frame(rng, 400)
    cur = _frame(rng, 400, shift=1.0).drop(columns=["cat"]).assign(extra=1.0, few=np.nan)
    report = FeatureDriftMonitor(ref).check(cur)
    t = report.table.set_index("feature")
    assert t.loc["cat", "test"] == "missing" and not t.loc["cat", "drift"]
    assert t.loc["extra", "test"] == "unknown" and "not in reference" in t.loc["extra", "note"]
    assert t.loc["few", "test"] == "empty" and math.isnan(t.loc["few", "statistic"])
    assert report.n_tested == 2  # num and flag only
    assert t.loc["num", "drift"]  # shifted by one sd
    assert report.n_drifted == 1 + int(t.loc["flag", "drift"])
    assert report.share_drifted == report.n_drifted / 2 and report.dataset_drift  # >= 0.5
    assert list(report.table.columns[:5]) == ["feature", "type", "test", "statistic", "p_value"]
    assert {"threshold", "drift", "psi"} <= set(report.table.columns)


def test_nothing_testable_gives_no_dataset_drift():
    report = FeatureDriftMonitor({"x": np.arange(10.0)}).check({"y": np.arange(5.0)})
    assert report.n_tested == 0 and math.isnan(report.share_drifted) and not report.dataset_drift


def test_thresholds_and_drift_share_are_configurable():
    rng = np.random.default_rng(8)
    ref, cur = _frame(rng, 500), _frame(rng, 500, shift=0.5)
    assert FeatureDriftMonitor(ref).check(cur).dataset_drift is False  # 1 of 4 features
    assert FeatureDriftMonitor(ref, drift_share=0.25).check(cur).dataset_drift is True
    strict = FeatureDriftMonitor(ref, thresholds={"ks": 1e-30}).check(cur)
    assert not _row(strict, "num")["drift"] and _row(strict, "num")["threshold"] == 1e-30
    with pytest.raises(ValueError, match="thresholds"):
        FeatureDriftMonitor(ref, thresholds={"kss": 0.1})
    with pytest.raises(ValueError, match="feature_types"):
        FeatureDriftMonitor(ref, feature_types={"num": "float"})
    with pytest.raises(ValueError, match="drift_share"):
        FeatureDriftMonitor(ref, drift_share=0.0)
    with pytest.raises(ValueError, match="reference"):
        FeatureDriftMonitor([1, 2, 3])


def test_feature_types_override_inference():
    rng = np.random.default_rng(9)
    ref = {"code": rng.integers(0, 50, 600).astype(float)}
    cur = {"code": rng.integers(0, 50, 600).astype(float)}
    assert _row(FeatureDriftMonitor(ref).check(cur), "code")["test"] == "ks"
    forced = FeatureDriftMonitor(ref, feature_types={"code": "categorical"}).check(cur)
    assert _row(forced, "code")["test"] == "chisquare"


# -- SlidingDriftMonitor -------------------------------------------------------------
def test_sliding_monitor_reference_window_and_detection():
    rng = np.random.default_rng(10)
    names = ["x", "y", "z", "c"]
    mon = SlidingDriftMonitor(names, reference_n=400, window_n=200,
                              feature_types={"c": "categorical"})
    rows = np.column_stack([rng.normal(0, 1, (2000, 3)), rng.integers(0, 3, 2000)])
    rows[1200:, 0] += 1.0  # x shifts at row 1200 (t = 600 s) ...
    rows[1200:, 3] = rng.choice(3, 800, p=[0.6, 0.2, 0.2])  # ... and so does c: 2 of 4 features
    times = np.arange(2000) * 0.5
    reports = {}
    for t, row in zip(times, rows, strict=True):
        if t % 50.0 == 0.0 and t > 0:  # the engine's schedule: every 50 s
            reports[t] = mon.evaluate(t)
        mon.observe(t, row)
        if mon.n_seen == 400:
            assert mon.reference_ready and mon.reference_end_s == t
    # reference: rows 0-399 (t < 200 s); a full 200-row window from t = 300 s
    assert all(reports[t] is None for t in reports if t < 300.0)
    assert all(reports[t] is not None for t in reports if t >= 300.0)
    assert mon.window().shape == (200, 4)
    np.testing.assert_array_equal(mon.window().to_numpy(), rows[-200:])
    hist = mon.history()
    assert not hist.loc[hist["time_s"] <= 600.0, "dataset_drift"].any()
    assert 600.0 < mon.first_drift_s <= 700.0
    final = mon.evaluate(1000.0)
    assert {"x", "c"} <= set(final.drifted_features) and final.dataset_drift
    assert final.window_start_s == times[-200] and final.window_end_s == times[-1]


def test_sliding_monitor_validation():
    with pytest.raises(ValueError, match="reference_n"):
        SlidingDriftMonitor(["x"], reference_n=1, window_n=10)
    with pytest.raises(ValueError, match="kwargs"):
        SlidingDriftMonitor(["x"], reference_n=10, window_n=10, nope=1)
    mon = SlidingDriftMonitor(["x", "y"], reference_n=10, window_n=10)
    with pytest.raises(ValueError, match="features"):
        mon.observe(0.0, [1.0])


# -- the sorted window's histograms and category counts equal the direct computation ---
# The drift check sorts the reference once and each window once; KS and Wasserstein come
# from workbench.stats.distances.SortedReference (tested there against scipy), the
# histograms and category counts from drift's own code, tested here.
def _bits(x):
    """Float64 bit patterns: equality that tells -0.0 from 0.0."""
    return np.asarray(x, dtype=np.float64).view(np.int64)


def _histogram_pairs():
    """Reference/current pairs: sizes, ties, constants, signed zeros, values on the edges."""
    rng = np.random.default_rng(20)
    pairs = [
        (np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])),
        (np.array([5.0]), np.array([5.0])),
        (np.array([5.0]), np.array([7.0, 1.0])),
        (np.full(30, 2.0), np.full(12, 2.0)),  # constant, unchanged
        (np.full(30, 2.0), np.array([2.0, 2.5, 2.0])),  # constant, moved
        (np.array([0.0, -0.0, 1.0, -0.0]), np.array([-0.0, 0.0, 0.0, 2.0, -1.0])),  # signed zeros
    ]
    for n1, n2 in ((700, 300), (41, 1100), (256, 256)):
        pairs.append((rng.normal(0, 1, n1), rng.normal(0.3, 1.5, n2)))
        pairs.append((rng.integers(0, 8, n1).astype(float), rng.integers(0, 10, n2).astype(float)))
    return pairs


@pytest.mark.parametrize(("ref", "cur"), _histogram_pairs())
def test_sorted_histogram_equals_numpy(ref, cur):
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    for a in (ref, cur):
        counts = drift._histogram_sorted(np.sort(a), edges)
        np.testing.assert_array_equal(counts, np.histogram(a, edges)[0])
        assert counts.dtype == np.histogram(a, edges)[0].dtype


@pytest.mark.parametrize("values", [
    (np.array(["b", "a", "b", "c"], dtype=object),
     np.array(["d", "a", "e", "e", "d", "e", "b", "f"], dtype=object)),  # new ones in first-seen order
    (np.array([2.0, 0.0, -0.0, 2.0]), np.array([1.0, -0.0, 3.0])),
    (np.array([True, 1, "x", 1.0], dtype=object), np.array([1, "y", False, "x"], dtype=object)),
    (np.array(["a"], dtype=object), np.array(["a", "a"], dtype=object)),
])
def test_category_counts_equal_factorising_both_samples(values):
    ref, cur = values
    codes, uniques = pd.factorize(np.concatenate([ref, cur]))
    rc = np.bincount(codes[: ref.size], minlength=uniques.size).astype(float)
    cc = np.bincount(codes[ref.size:], minlength=uniques.size).astype(float)
    f = drift._Feature(name="c", kind="categorical", values=ref)
    got_rc, got_cc = drift._Current(cur).counts(f)
    np.testing.assert_array_equal(got_rc, rc)
    np.testing.assert_array_equal(got_cc, cc)
    assert got_rc.dtype == got_cc.dtype == np.float64


# -- the whole check against a direct implementation ----------------------------------
# _direct_table computes the check the plain way: scipy's public functions on the raw
# samples, categories by factorising both samples together, a DataFrame from records.
def _direct_counts(ref, cur):
    codes, uniques = pd.factorize(np.concatenate([ref, cur]))
    rc = np.bincount(codes[: ref.size], minlength=len(uniques)).astype(float)
    cc = np.bincount(codes[ref.size:], minlength=len(uniques)).astype(float)
    return rc, cc


def _direct_statistic(test, kind, ref, cur):
    if test == "ks":
        res = stats.ks_2samp(ref, cur)
        return float(res.statistic), float(res.pvalue), ""
    if test == "wasserstein":
        std = float(np.std(ref))
        return (normalised_wasserstein(ref, cur, reference_std=std), math.nan,
                "constant reference" if std == 0 else "")
    if test in ("jensenshannon", "jensenshannon_base2"):
        if kind == "numeric" and np.unique(ref).size > 20:
            edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
            rp, cp = np.histogram(ref, edges)[0] / ref.size, np.histogram(cur, edges)[0] / cur.size
        else:
            rc, cc = _direct_counts(ref, cur)
            rp, cp = rc / rc.sum(), cc / cc.sum()
        base = 2.0 if test == "jensenshannon_base2" else None
        return jensen_shannon(rp, cp, base=base), math.nan, ""
    rc, cc = _direct_counts(ref, cur)
    if rc.size < 2:
        return 0.0, 1.0, "single category"
    if test == "chisquare":
        res = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
        return float(res.statistic), float(res.pvalue), ""
    n1, n2 = rc.sum(), cc.sum()
    pooled = (rc[0] + cc[0]) / (n1 + n2)
    z = (rc[0] / n1 - cc[0] / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(z), float(2 * stats.norm.sf(abs(z))), ""


def _direct_psi(kind, ref, cur, bins=10):
    if kind == "numeric" and np.unique(ref).size > bins:
        edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1))[1:-1])
        rp = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
        cp = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
        return population_stability_index(rp, cp)
    rc, cc = _direct_counts(ref, cur)
    return population_stability_index(rc / rc.sum(), cc / cc.sum())


def _direct_table(mon, reference, current, stattests):
    rows = []
    for name, raw in reference.items():
        kind = mon.feature_type(name)
        ref = drift._clean(np.asarray(raw), kind)
        base = {"feature": name, "type": kind, "statistic": math.nan, "p_value": math.nan,
                "threshold": math.nan, "drift": False, "psi": math.nan, "psi_drift": False,
                "n_reference": int(ref.size), "n_current": 0, "note": ""}
        if name not in current:
            rows.append({**base, "test": "missing", "note": "feature absent from current data"})
            continue
        cur = drift._clean(np.atleast_1d(np.asarray(current[name])), kind)
        base["n_current"] = int(cur.size)
        if cur.size == 0 or ref.size == 0:
            which = "current" if cur.size == 0 else "reference"
            rows.append({**base, "test": "empty", "note": f"no non-missing values in {which}"})
            continue
        n_values = pd.unique(np.concatenate([ref, cur])).size
        few = kind == "categorical" or n_values <= 5
        if name in stattests:
            test = stattests[name]
        elif ref.size <= 1000:
            test = ("chisquare" if n_values > 2 else "z") if few else "ks"
        else:
            test = "jensenshannon" if few else "wasserstein"
        statistic, p_value, note = _direct_statistic(test, kind, ref, cur)
        threshold = DEFAULT_THRESHOLDS[test]
        drifted = p_value < threshold if test in ("ks", "chisquare", "z") else statistic >= threshold
        psi = _direct_psi(kind, ref, cur)
        rows.append({**base, "test": test, "statistic": statistic, "p_value": p_value,
                     "threshold": threshold, "drift": bool(drifted), "psi": psi,
                     "psi_drift": bool(psi >= 0.1), "note": note})
    for name in current:
        if name not in reference:
            rows.append({"feature": name, "type": "", "test": "unknown", "statistic": math.nan,
                         "p_value": math.nan, "threshold": math.nan, "drift": False, "psi": math.nan,
                         "psi_drift": False, "n_reference": 0, "n_current": int(np.size(current[name])),
                         "note": "feature not in reference"})
    table = pd.DataFrame(rows, columns=["feature", "type", "test", "statistic", "p_value",
                                        "threshold", "drift", "psi", "psi_drift", "n_reference",
                                        "n_current", "note"])
    return table.astype({"drift": bool, "psi_drift": bool})


def _columns_for(rng, n, shift):
    """Features that reach every branch of the test choice, PSI and the table."""
    cols = {
        "normal": rng.normal(shift, 1.0 + shift, n),  # ks / wasserstein, PSI on deciles
        "ties": rng.integers(0, 12, n).astype(float),  # many tied values, PSI on deciles
        "seven": rng.integers(0, 7, n).astype(float),  # > 5 values, PSI on categories
        "few": rng.integers(0, 4, n).astype(float),  # numeric, <= 5 values: categorical tests
        "binary": rng.random(n) < 0.3 + 0.2 * shift,  # z / jensenshannon
        "cat": rng.choice(np.array(["a", "b", "c"], dtype=object), n),
        "constant": np.full(n, 2.0) + (shift > 0.3) * rng.integers(0, 2, n),
        "zeros": rng.choice(np.array([-0.0, 0.0, 1.0, -1.0, 2.0, 3.0, 4.0]), n),
    }
    cols["normal"][rng.random(n) < 0.05] = np.nan  # dropped before testing
    return cols


@pytest.mark.parametrize("seed", range(16))
def test_check_equals_the_direct_implementation(seed):
    rng = np.random.default_rng(100 + seed)
    n_ref = [8, 60, 400, 1000, 1001, 3000][seed % 6]
    n_cur = [1, 7, 250, 1000, 2000][seed % 5]
    reference = _columns_for(rng, n_ref, 0.0)
    reference["gaps"] = np.full(n_ref, np.nan)  # empty in the reference
    current = _columns_for(rng, n_cur, [0.0, 0.1, 0.5][seed % 3])
    current["gaps"] = rng.normal(0, 1, n_cur)
    del current["few"]  # missing
    current["extra"] = np.ones(n_cur)  # unknown
    current["cat"] = rng.choice(np.array(["a", "b", "d"], dtype=object), n_cur)  # a new category
    if seed % 4 == 0:
        current["ties"] = np.full(n_cur, np.nan)  # empty
    stattests = {}
    if seed % 2:  # every test forced where it applies, including Sturges bins for JS
        stattests = {"normal": ["jensenshannon", "jensenshannon_base2", "ks", "wasserstein"][seed % 8 // 2],
                     "ties": ["ks", "wasserstein", "chisquare", "z"][seed % 8 // 2],
                     "cat": ["chisquare", "z", "jensenshannon", "jensenshannon_base2"][seed % 8 // 2],
                     "constant": ["wasserstein", "chisquare", "ks", "wasserstein"][seed % 8 // 2]}
    mon = FeatureDriftMonitor(reference, feature_types={"zeros": "categorical"} if seed % 3 == 0 else None,
                              stattests=stattests)
    report = mon.check(current)
    expected = _direct_table(mon, reference, current, stattests)
    pd.testing.assert_frame_equal(report.table, expected, check_exact=True)
    for col in ("statistic", "p_value", "threshold", "psi"):
        assert _bits(report.table[col]).tolist() == _bits(expected[col]).tolist(), col
    tested = expected["test"].isin(["ks", "chisquare", "z", "wasserstein", "jensenshannon",
                                    "jensenshannon_base2"])
    assert report.n_tested == int(tested.sum())
    assert report.n_drifted == int(expected.loc[tested, "drift"].sum())
    assert report.drifted_features == expected.loc[expected["drift"], "feature"].tolist()
    # the same check twice gives the same table: nothing cached from one window leaks into the next
    pd.testing.assert_frame_equal(mon.check(current).table, report.table, check_exact=True)


def test_table_columns_and_dtypes_are_those_pandas_infers():
    report = FeatureDriftMonitor({"x": np.arange(50.0), "c": np.array(["a", "b"] * 25, dtype=object)}
                                 ).check({"x": np.arange(10.0), "y": np.ones(3)})
    assert report.table.columns.tolist() == ["feature", "type", "test", "statistic", "p_value",
                                             "threshold", "drift", "psi", "psi_drift",
                                             "n_reference", "n_current", "note"]
    assert report.table.dtypes.astype(str).tolist() == [
        "object", "object", "object", "float64", "float64", "float64", "bool", "float64", "bool",
        "int64", "int64", "object"]
    assert report.table["test"].tolist() == ["ks", "missing", "unknown"]
