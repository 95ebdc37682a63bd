"""Streaming quantiles and the rolling health monitor, checked against exact numpy answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.monitoring.health import STATUSES, HealthMonitor, HealthSnapshot
from workbench.monitoring.quantiles import LogHistogramSketch, P2Quantile

QS = (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)


def _rel_err(est, exact):
    return np.abs(np.asarray(est) / np.asarray(exact) - 1.0)


# -- LogHistogramSketch ---------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_sketch_within_relative_accuracy_on_lognormal(alpha):
    rng = np.random.default_rng(11)
    x = rng.lognormal(mean=3.7, sigma=1.0, size=20_000)
    s = LogHistogramSketch(relative_accuracy=alpha)
    for v in x:
        s.add(v)
    exact = np.quantile(x, QS, method="lower")  # rank floor(q (n - 1)), the sketch's target
    assert s.count == x.size
    assert _rel_err(s.quantiles(QS), exact).max() <= alpha * (1 + 1e-9)


def test_sketch_handles_negatives_and_zeros():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 10, 5000), np.zeros(100)])
    s = LogHistogramSketch(0.01)
    for v in x:
        s.add(v)
    qs = (0.01, 0.3, 0.5, 0.7, 0.99)
    exact = np.quantile(x, qs, method="lower")
    est = np.asarray(s.quantiles(qs))
    assert np.all(np.abs(est - exact) <= 0.01 * np.abs(exact) * (1 + 1e-9))


def test_sketch_merge_and_subtract_are_exact():
    rng = np.random.default_rng(2)
    a_vals, b_vals = rng.lognormal(3, 0.5, 3000), rng.lognormal(4, 0.5, 2000)
    a, b, both = LogHistogramSketch(), LogHistogramSketch(), LogHistogramSketch()
    for v in a_vals:
        a.add(v)
        both.add(v)
    for v in b_vals:
        b.add(v)
        both.add(v)
    merged = a.copy()
    merged.merge(b)
    assert merged.quantiles(QS) == both.quantiles(QS)
    merged.subtract(b)
    assert merged.quantiles(QS) == a.quantiles(QS)
    assert merged.count == a.count


def test_sketch_empty_remove_and_validation():
    s = LogHistogramSketch()
    assert math.isnan(s.quantile(0.5))
    s.add(10.0)
    with pytest.raises(ValueError, match="x"):
        s.remove(20.0)
    with pytest.raises(ValueError, match="x"):
        s.add(float("nan"))
    with pytest.raises(ValueError, match="q"):
        s.quantile(1.5)
    with pytest.raises(ValueError, match="relative_accuracy"):
        LogHistogramSketch(relative_accuracy=0.0)
    with pytest.raises(ValueError, match="other"):
        s.merge(LogHistogramSketch(relative_accuracy=0.02))


# -- P-square -------------------------------------------------------------------------
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_p2_close_to_numpy_on_lognormal(q):
    rng = np.random.default_rng(7)
    x = rng.lognormal(3.0, 1.0, 20_000)
    est = P2Quantile(q)
    for v in x:
        est.update(v)
    assert abs(est.value / np.quantile(x, q) - 1) < 0.02


def test_p2_exact_below_five_points():
    est = P2Quantile(0.5)
    assert math.isnan(est.value)
    for v in (3.0, 1.0, 2.0, 10.0):
        est.update(v)
    assert est.value == np.quantile([3.0, 1.0, 2.0, 10.0], 0.5)
    with pytest.raises(ValueError, match="q"):
        P2Quantile(1.0)


# -- HealthMonitor --------------------------------------------------------------------
def _stream(seed, n=6000, rate=50.0):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / rate, n))
    lat = rng.lognormal(np.log(40), 0.5, n)
    status = rng.choice(np.array(STATUSES), n, p=[0.94, 0.03, 0.02, 0.01])
    return t, status, lat


def _check_against_exact(snap: HealthSnapshot, status, lat, alpha=0.01):
    assert snap.n == status.size
    assert snap.ok == np.sum(status == "ok")
    assert snap.errors == np.sum(status == "error")
    assert snap.timeouts == np.sum(status == "timeout")
    assert snap.dropped == np.sum(status == "dropped")
    assert snap.ok + snap.errors + snap.timeouts + snap.dropped == snap.n
    assert snap.error_rate == pytest.approx((snap.errors + snap.timeouts) / snap.n)
    assert snap.failure_rate == pytest.approx((snap.n - snap.ok) / snap.n)
    lat_used = lat[status != "dropped"]
    assert snap.n_latency == lat_used.size
    exact = np.quantile(lat_used, [0.5, 0.95, 0.99], method="lower")
    est = [snap.latency_p50_ms, snap.latency_p95_ms, snap.latency_p99_ms]
    assert _rel_err(est, exact).max() <= alpha * (1 + 1e-9)


def test_time_window_matches_exact_window_contents():
    t, status, lat = _stream(1)
    mon = HealthMonitor(window_s=30.0, bucket_s=1.0)
    checks = 0
    next_check = 10.0
    for ti, si, li in zip(t, status, lat, strict=True):
        while ti >= next_check:
            snap = mon.snapshot(next_check)
            start = max(math.floor(next_check) - 29.0, 0.0)  # 30 one-second buckets
            sel = (t >= start) & (t < next_check)
            assert snap.window_start_s == start and snap.window_end_s == next_check
            _check_against_exact(snap, status[sel], lat[sel])
            assert snap.throughput_per_s == pytest.approx(sel.sum() / (next_check - start))
            checks += 1
            next_check += 7.3
        mon.observe(ti, si, None if si == "dropped" else li)
    assert checks > 10


def test_count_window_is_exactly_the_last_n_requests():
    t, status, lat = _stream(2, n=3000)
    mon = HealthMonitor(window_count=500)
    for i, (ti, si, li) in enumerate(zip(t, status, lat, strict=True)):
        mon.observe(ti, si, li)
        if i in (10, 499, 500, 1777, 2999):
            lo = max(0, i + 1 - 500)
            snap = mon.snapshot(ti)
            _check_against_exact(snap, status[lo:i + 1], lat[lo:i + 1])
            assert snap.window_start_s == t[lo]


def test_empty_window_gives_nan_not_zero():
    mon = HealthMonitor(window_s=10.0)
    snap = mon.snapshot(3.0)
    assert snap.n == 0
    for v in (snap.error_rate, snap.failure_rate, snap.latency_p99_ms):
        assert math.isnan(v)
    mon.observe(1.0, "error", 50.0)
    assert mon.snapshot(2.0).error_rate == 1.0
    # Ten seconds later the bucket has expired: no data again, and NaN again.
    late = mon.snapshot(11.5)
    assert late.n == 0 and math.isnan(late.error_rate)


def test_dropped_latency_excluded_and_late_observations_ignored():
    mon = HealthMonitor(window_s=5.0, bucket_s=1.0)
    mon.observe(0.2, "ok", 10.0)
    mon.observe(0.3, "dropped", None)
    mon.observe(0.4, "dropped", float("nan"))
    snap = mon.snapshot(0.5)
    assert (snap.n, snap.dropped, snap.n_latency) == (3, 2, 1)
    assert snap.drop_rate == pytest.approx(2 / 3)
    mon.observe(20.0, "ok", 10.0)
    mon.observe(1.0, "error", 10.0)  # older than the window now
    assert mon.n_late == 1
    assert mon.snapshot(20.0).errors == 0


def test_out_of_order_within_window_counts():
    mon = HealthMonitor(window_s=10.0, bucket_s=1.0)
    mon.observe(5.5, "ok", 10.0)
    mon.observe(3.2, "timeout", 2000.0)  # earlier bucket, still in the window
    snap = mon.snapshot(6.0)
    assert (snap.n, snap.timeouts, snap.n_latency) == (2, 1, 2)


def test_throughput_uses_time_since_start():
    mon = HealthMonitor(window_s=60.0, start_s=0.0)
    for i in range(5):
        mon.observe(0.1 * i, "ok", 20.0)
    assert mon.snapshot(0.5).throughput_per_s == pytest.approx(10.0)


def test_snapshot_as_dict_and_custom_quantiles():
    mon = HealthMonitor(quantiles=(0.5, 0.999))
    for i in range(1000):
        mon.observe(i * 0.01, "ok", float(i + 1))
    d = mon.snapshot(10.0).as_dict()
    assert set(d) >= {"error_rate", "latency_p99_ms", "latency_q50_ms", "latency_q99_9_ms", "n"}
    assert d["latency_q99_9_ms"] == pytest.approx(999.0, rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"window_s": 0.0}, "window_s"), ({"bucket_s": 120.0}, "bucket_s"),
     ({"window_count": 0}, "window_count"), ({"quantiles": (1.2,)}, "quantiles"),
     ({"latency_statuses": ("bogus",)}, "latency_statuses")],
)
def test_invalid_arguments_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HealthMonitor(**kwargs)


def test_invalid_status_and_latency():
    mon = HealthMonitor()
    with pytest.raises(ValueError, match="status"):
        mon.observe(0.0, "success", 1.0)
    with pytest.raises(ValueError, match="latency_ms"):
        mon.observe(0.0, "ok", -1.0)
