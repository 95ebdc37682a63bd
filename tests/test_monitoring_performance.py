"""Performance monitor: automatic baseline, non-overlapping windows cross-checked with scipy,
stationary false-alarm rate, detection after a known degradation, late labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from workbench.monitoring.performance import PerformanceMonitor


def _feed(mon, errors_sd, t0=0.0, dt=0.5, rng=None):
    rng = rng or np.random.default_rng(0)
    preds = []
    for i, sd in enumerate(errors_sd):
        p = rng.normal(0.0, sd)
        preds.append(p)
        mon.observe_label(t0 + i * dt, p, 0.0)
    return np.abs(np.array(preds))


def test_baseline_captured_from_first_reference_n_labels():
    mon = PerformanceMonitor(reference_n=300, window_n=100)
    assert mon.status(0.0).baseline is None
    errors = _feed(mon, np.ones(1000))
    base = mon.status(500.0).baseline
    assert base.n == 300 and base.start_s == 0.0 and base.end_s == 299 * 0.5
    assert base.mean_error == pytest.approx(errors[:300].mean())
    assert base.std_error == pytest.approx(errors[:300].std())
    assert base.p95_error == pytest.approx(np.quantile(errors[:300], 0.95))


def test_baseline_from_reference_period_in_seconds():
    mon = PerformanceMonitor(reference_s=100.0, window_n=50)
    errors = _feed(mon, np.ones(600), t0=20.0)  # first label at 20 s: period [20 s, 120 s)
    base = mon.status(400.0).baseline
    assert base.n == 200 and base.start_s == 20.0
    assert base.mean_error == pytest.approx(errors[:200].mean())
    assert mon.tests()["start_s"].iloc[0] == 120.0


def test_windows_do_not_overlap_and_match_scipy():
    mon = PerformanceMonitor(reference_n=400, window_n=150, detector=None)
    errors = _feed(mon, np.r_[np.ones(700), np.full(500, 1.4)], rng=np.random.default_rng(4))
    tests = mon.tests()
    assert len(tests) == (1200 - 400) // 150
    assert (tests["n"] == 150).all()
    # consecutive windows tile the stream: each starts one label after the previous ends
    np.testing.assert_allclose(tests["start_s"].to_numpy()[1:], tests["end_s"].to_numpy()[:-1] + 0.5)
    base = errors[:400]
    for k, row in tests.iterrows():
        window = errors[400 + 150 * k: 400 + 150 * (k + 1)]
        ks = stats.ks_2samp(base, window)
        assert row["ks_statistic"] == pytest.approx(ks.statistic)
        assert row["ks_p_value"] == pytest.approx(ks.pvalue)
        w = stats.wasserstein_distance(base, window) / base.std()
        assert row["wasserstein_norm"] == pytest.approx(w)
        assert row["mean_error"] == pytest.approx(window.mean())


def test_stationary_errors_raise_no_alarm_over_seeds():
    # Per window the false breach rate is <= ks_alpha (1 %); two in a row are needed, and
    # ADWIN's false-cut probability is <= delta per check: over 20 runs of 3000 labels we
    # expect essentially none (design: 20 x 12 windows x 1e-4 pairs + ADWIN's ~0.2).
    alarms = 0
    for seed in range(20):
        mon = PerformanceMonitor(reference_n=500, window_n=200)
        _feed(mon, np.ones(3000), rng=np.random.default_rng(seed))
        alarms += mon.status(1500.0).alarm
    assert alarms <= 1


def test_degradation_detected_within_stated_delay():
    # Errors grow by 50 % at label 1500 (t = 750 s): the monitor alarms within 100 s
    # (200 labels) in every seed.
    delays = []
    for seed in range(20):
        mon = PerformanceMonitor(reference_n=500, window_n=200)
        _feed(mon, np.r_[np.ones(1500), np.full(1500, 1.5)], rng=np.random.default_rng(seed))
        st = mon.status(1500.0)
        assert st.alarm
        delays.append(st.first_alarm_s - 750.0)
    assert min(delays) >= 0.0 and max(delays) <= 100.0


def test_window_test_alone_detects_after_two_windows():
    mon = PerformanceMonitor(reference_n=500, window_n=200, detector=None)
    _feed(mon, np.r_[np.ones(900), np.full(800, 2.0)], rng=np.random.default_rng(1))
    st = mon.status(1000.0)
    assert st.alarm and st.first_alarm_source == "window"
    # windows end at labels 699, 899, 1099, 1299: the change at label 900 is caught
    # by the windows ending at 1099 and 1299 (two in a row)
    assert st.first_alarm_s == 1299 * 0.5
    assert st.n_window_breaches >= 2 and st.last_test.breach


def test_improvement_is_not_an_incident_unless_asked():
    stream = np.r_[np.ones(900), np.full(1500, 0.5)]
    better = PerformanceMonitor(reference_n=500, window_n=200)
    _feed(better, stream, rng=np.random.default_rng(2))
    assert not better.status(1200.0).alarm
    assert better.tests()["ks_p_value"].iloc[-1] < 1e-6  # the change is real, just good
    either = PerformanceMonitor(reference_n=500, window_n=200, direction="either")
    _feed(either, stream, rng=np.random.default_rng(2))
    assert either.status(1200.0).alarm


def test_late_labels_use_arrival_time():
    # Predictions made every 0.5 s, labels arriving 60 s later: the monitor's clock is the
    # arrival time, so the baseline period and alarm are on that clock.
    mon = PerformanceMonitor(reference_s=100.0, window_n=100, detector=None, consecutive=1)
    rng = np.random.default_rng(3)
    for i in range(1200):
        sd = 1.0 if i < 600 else 3.0
        mon.observe_label(i * 0.5 + 60.0, rng.normal(0, sd), 0.0)
    st = mon.status(700.0)
    assert st.baseline.start_s == 60.0 and st.baseline.end_s < 160.0
    assert st.alarm and st.first_alarm_s >= 300.0 + 60.0


def test_error_kinds_and_detector_choices():
    mon = PerformanceMonitor(reference_n=3, window_n=2, error="zero_one", detector="ddm")
    for t, (p, y) in enumerate([(1, 1), (0, 1), (1, 1), (0, 0), (1, 0)]):
        mon.observe_label(float(t), p, y)
    assert mon.status(5.0).baseline.mean_error == pytest.approx(1 / 3)
    sq = PerformanceMonitor(reference_n=2, window_n=2, error="squared", detector="cusum")
    sq.observe_label(0.0, 3.0, 1.0)
    sq.observe_label(1.0, 1.0, 1.0)
    assert sq.status(1.0).baseline.mean_error == pytest.approx(2.0)
    assert sq._detector.mode == "up"  # direction="increase" watches increases only


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({}, "reference_s/reference_n"), ({"reference_n": 10, "reference_s": 5.0}, "reference_s"),
     ({"reference_n": 1}, "reference_n"), ({"reference_n": 10, "window_n": 1}, "window_n"),
     ({"reference_n": 10, "error": "mape"}, "error"), ({"reference_n": 10, "ks_alpha": 0.0}, "ks_alpha"),
     ({"reference_n": 10, "direction": "down"}, "direction"),
     ({"reference_n": 10, "detector": "nope"}, "name")],
)
def test_invalid_arguments_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PerformanceMonitor(**kwargs)


def test_nan_label_rejected():
    mon = PerformanceMonitor(reference_n=10)
    with pytest.raises(ValueError, match="label"):
        mon.observe_label(0.0, 1.0, math.nan)


def test_perfect_baseline_gives_a_finite_normalised_distance():
    # a model without error in the reference period has baseline std 0; the distance is
    # divided by the 0.001 floor instead, so a window of errors gives a large finite value
    mon = PerformanceMonitor(reference_n=50, window_n=20, error="zero_one", detector=None)
    for i in range(50):
        mon.observe_label(float(i), 1.0, 1.0)
    for i in range(20):
        mon.observe_label(50.0 + i, 1.0, 0.0 if i % 2 else 1.0)
    (row,) = mon.tests().to_dict("records")
    assert mon.baseline.std_error == 0.0
    assert row["wasserstein_norm"] == pytest.approx(0.5 / 0.001)
    assert row["breach"]


# -- batch feeding: the same state as one call per label ------------------------------
def _same(x, y) -> bool:
    return x == y or (x != x and y != y)


def _perf_state(mon: PerformanceMonitor, now_s: float):
    st = mon.status(now_s)
    flat = {k: v for k, v in st.__dict__.items() if k not in ("baseline", "last_test")}
    flat["baseline"] = None if st.baseline is None else tuple(st.baseline.__dict__.items())
    flat["last_test"] = None if st.last_test is None else tuple(st.last_test.__dict__.items())
    det = mon._detector
    return {
        "status": flat, "tests": [tuple(t.__dict__.values()) for t in mon._tests],
        "window": (mon._n_win, mon._win[: mon._n_win].tolist(), mon._win_start_s, mon._run),
        "reference": (mon._n_ref, mon._ref_buf[: mon._n_ref].tolist(), mon._ref_first_s, mon._last_time_s),
        "detections_s": list(mon.detector_alarm_times_s), "prev_estimate": mon._prev_estimate,
        "detector": None if det is None else (det.n_seen, det.detection_indices),
    }


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert a[key].keys() == b[key].keys()
            for k in a[key]:
                assert _same(a[key][k], b[key][k]), (key, k, a[key][k], b[key][k])
        else:
            assert repr(a[key]) == repr(b[key]), key  # exact floats, NaN included


@pytest.mark.parametrize("kwargs", [
    {"reference_n": 300, "window_n": 120},
    {"reference_n": 50, "window_n": 20, "consecutive": 1, "detector": "page_hinkley"},
    {"reference_n": 200, "window_n": 64, "detector": "cusum", "error": "squared"},
    {"reference_n": 100, "window_n": 40, "detector": None, "direction": "either"},
    {"reference_s": 30.0, "window_n": 80, "detector": "adwin"},
    {"reference_n": 40, "window_n": 25, "detector": "ddm", "error": "zero_one"},
])
def test_observe_labels_equals_observe_label_one_by_one(kwargs):
    rng = np.random.default_rng(23)
    one, many = PerformanceMonitor(**kwargs), PerformanceMonitor(**kwargs)
    binary = kwargs.get("error") == "zero_one"
    now = 0.0
    n_alarm_batches = 0
    for batch in range(150):
        now += float(rng.choice([0.5, 1.0, 7.0]))
        n = int(rng.choice([0, 1, 3, 60, 250]))
        sd = 1.0 if batch < 60 else 2.5  # the model gets worse: window breaches and detections
        if binary:
            preds = (rng.random(n) < (0.1 if batch < 60 else 0.4)).astype(float)
            labels = np.zeros(n)
        else:
            preds = rng.normal(0.0, sd, n)
            labels = rng.normal(0.0, 0.1, n)
        alarmed = one.alarm
        for p, y in zip(preds.tolist(), labels.tolist(), strict=True):
            one.observe_label(now, p, y)
        many.observe_labels(now, preds, labels)
        n_alarm_batches += one.alarm and not alarmed
        _assert_same_state(_perf_state(many, now), _perf_state(one, now))
    assert one.n_labels > 5000 and one.baseline is not None and len(one._tests) > 20
    assert one.alarm and n_alarm_batches == 1
    assert many.tests().equals(one.tests())


def test_observe_labels_keeps_the_window_and_detector_order_inside_a_batch():
    # a window that breaches on its last label, then detections later in the same batch:
    # the window's alarm came first, one by one, and must come first in a batch too
    kwargs = {"reference_n": 200, "window_n": 100, "consecutive": 1, "detector": "cusum",
              "detector_params": {"k": 0.5, "h": 40.0, "warmup": 100}}
    rng = np.random.default_rng(8)
    preds = np.r_[rng.normal(0.0, 1.0, 200), rng.normal(0.0, 1.6, 400)]  # window alarm at label 299, detection at 322
    one, many = PerformanceMonitor(**kwargs), PerformanceMonitor(**kwargs)
    for p in preds.tolist():
        one.observe_label(5.0, p, 0.0)
    many.observe_labels(5.0, preds[:250], np.zeros(250))
    many.observe_labels(5.0, preds[250:], np.zeros(350))
    assert (one.first_alarm_s, one.first_alarm_source) == (5.0, "window")
    assert (many.first_alarm_s, many.first_alarm_source) == (5.0, "window")
    assert len(one.detector_alarm_times_s) > 0
    _assert_same_state(_perf_state(many, 5.0), _perf_state(one, 5.0))


def test_observe_labels_rejects_nan_before_recording():
    mon = PerformanceMonitor(reference_n=10)
    with pytest.raises(ValueError, match="label"):
        mon.observe_labels(0.0, np.ones(5), np.r_[np.ones(4), math.nan])
    with pytest.raises(ValueError, match="lengths"):
        mon.observe_labels(0.0, np.ones(5), np.ones(4))
    mon.observe_labels(0.0, [], [])
    assert mon.n_labels == 0


def test_window_tests_equal_scipy_bit_for_bit():
    mon = PerformanceMonitor(reference_n=400, window_n=150, detector=None)
    errors = _feed(mon, np.r_[np.ones(700), np.full(900, 1.3)], rng=np.random.default_rng(6))
    base = np.sort(errors[:400])
    tests = mon.tests()
    assert len(tests) == 8 and tests["breach"].any()
    for k, row in tests.iterrows():
        window = errors[400 + 150 * k: 400 + 150 * (k + 1)]
        ks = stats.ks_2samp(base, window)
        assert (row["ks_statistic"], row["ks_p_value"]) == (float(ks.statistic), float(ks.pvalue))
        assert row["wasserstein_norm"] == float(stats.wasserstein_distance(base, window)) / errors[:400].std()


def test_observe_labels_keeps_only_increases_of_adwin_like_one_by_one():
    # a sensitive ADWIN on errors that rise, fall and rise again: detections both ways,
    # of which direction="increase" keeps the rises; batches of every size
    kwargs = {"reference_n": 300, "window_n": 100, "detector_params": {"delta": 0.3, "clock": 4}}
    rng = np.random.default_rng(12)
    sds = np.r_[np.ones(2000), np.full(1500, 2.0), np.full(1500, 0.7), np.full(1500, 1.8)]
    preds = rng.normal(0.0, sds)
    one, many = PerformanceMonitor(**kwargs), PerformanceMonitor(**kwargs)
    lo, now = 0, 0.0
    while lo < preds.size:
        n = int(rng.choice([0, 1, 2, 17, 99, 100, 101, 333]))
        now += 1.0
        for p in preds[lo: lo + n].tolist():
            one.observe_label(now, p, 0.0)
        many.observe_labels(now, preds[lo: lo + n], np.zeros(len(preds[lo: lo + n])))
        _assert_same_state(_perf_state(many, now), _perf_state(one, now))
        lo += n
    kept = len(many.detector_alarm_times_s)
    assert 0 < kept < many._detector.n_detections
