"""Streaming quantiles and the rolling health monitor, checked against exact numpy answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.monitoring import health
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


# -- batch feeding: the same state as one call per value ------------------------------
def _sketch_state(s: LogHistogramSketch):
    return dict(s._pos), dict(s._neg), s._zero, s.count


def test_sketch_add_many_gives_the_keys_of_add_on_adversarial_values():
    # at 0.1 % accuracy numpy's log (x86-64, numpy 2.x) puts these three powers of gamma one
    # key away from math.log's (keys 145, 613, 5740); add_many must give add's keys
    s = LogHistogramSketch(0.001)
    edge = [1.3364276172135376, 3.4007650057364285, 96761.4380524592]
    s.add_many(edge)
    assert s._pos == {math.ceil(math.log(x) * s._inv_ln_gamma): 1 for x in edge} == {146: 1, 612: 1, 5741: 1}
    rng = np.random.default_rng(4)
    for alpha in (0.001, 0.01, 0.05):
        gamma = LogHistogramSketch(alpha).gamma
        powers = gamma ** np.arange(-3000.0, 3000.0)
        powers = powers[np.isfinite(powers)]
        values = np.concatenate([
            powers, np.nextafter(powers, 0.0), np.nextafter(powers, np.inf), -powers[::7],
            rng.lognormal(0.0, 8.0, 20_000), -rng.lognormal(0.0, 3.0, 2000),
            [0.0, -0.0, 5e-324, 1e-300, 1e-9, -1e-9, np.nextafter(1e-9, 1.0), -np.nextafter(1e-9, 1.0),
             1.0, 1.7976931348623157e308, -1.7976931348623157e308],
        ])
        one, many = LogHistogramSketch(alpha), LogHistogramSketch(alpha)
        for v in values.tolist():
            one.add(v)
        many.add_many(values[: values.size // 2])
        many.add_many(values[values.size // 2:])
        assert _sketch_state(many) == _sketch_state(one)
    assert s._zero == 0 and s.count == 3


def test_sketch_add_many_rejects_nan_and_infinity_before_adding():
    s = LogHistogramSketch()
    s.add_many([])
    assert _sketch_state(s) == ({}, {}, 0, 0)
    with pytest.raises(ValueError, match="NaN"):
        s.add_many([1.0, float("nan")])
    with pytest.raises(OverflowError):
        s.add(float("inf"))
    with pytest.raises(OverflowError, match="infinite"):
        s.add_many([1.0, float("inf")])
    assert s.count == 0


def _health_state(mon: HealthMonitor):
    out = {"n_total": mon.n_total, "n_late": mon.n_late, "counts": list(mon._counts)}
    if mon.kind == "time":
        out["head"] = mon._head
        out["ids"] = list(mon._ids)
        buckets = [(list(b.counts), b.zero, sorted([*b.keys, *(k for c in b.chunks for k in c.tolist())]))
                   for b in mon._buckets]
        out["buckets"] = buckets
        out["latencies"] = mon._lat.state()
        # the running totals are the sums of the buckets
        keys: dict[int, int] = {}
        for _, _, ks in buckets:
            for k in ks:
                keys[k] = keys.get(k, 0) + 1
        zeros = sum(z for _, z, _ in buckets)
        assert out["latencies"] == (keys, zeros, sum(keys.values()) + zeros)
        assert out["counts"] == [sum(c[i] for c, _, _ in buckets) for i in range(4)]
    else:
        out["sketch"] = _sketch_state(mon._sketch)
        out["ring"] = (mon._ring_len, mon._ring_head, list(mon._ring_t), list(mon._ring_code),
                       [None if x != x else x for x in mon._ring_lat])
    return out


def _same_snapshot(a: HealthSnapshot, b: HealthSnapshot) -> bool:
    """Field by field, exactly, NaN equal to NaN."""
    def same(x, y):
        return x == y or (x != x and y != y)
    da, db = a.as_dict(), b.as_dict()
    return da.keys() == db.keys() and all(same(da[k], db[k]) for k in da)


def _feed_both(one: HealthMonitor, many: HealthMonitor, t, codes, lat):
    for ti, ci, li in zip(t.tolist(), codes.tolist(), lat.tolist(), strict=True):
        one.observe(ti, STATUSES[ci], None if ci == 3 else li)
    many.observe_many(t, codes, lat)


@pytest.mark.parametrize("min_batch", [1, health._MIN_BATCH])  # numpy for every batch, or only for large ones
@pytest.mark.parametrize("kwargs", [
    {"window_s": 10.0, "bucket_s": 1.0}, {"window_s": 3.0, "bucket_s": 0.25}, {"window_s": 5.0, "bucket_s": 5.0},
    {"window_s": 10.0, "latency_statuses": ("ok",), "quantiles": (0.1, 0.999)},
    {"window_count": 1}, {"window_count": 37}, {"window_count": 500},
])
def test_observe_many_equals_observe_one_by_one(kwargs, min_batch, monkeypatch):
    monkeypatch.setattr(health, "_MIN_BATCH", min_batch)
    rng = np.random.default_rng(17)
    one, many = HealthMonitor(**kwargs), HealthMonitor(**kwargs)
    t0 = 0.0
    snaps = 0
    for _ in range(120):
        n = int(rng.choice([0, 1, 5, 15, 16, 40, 300]))
        shape = rng.integers(0, 5)
        if shape == 0:  # sorted, as the engine feeds them
            t = np.sort(t0 + rng.uniform(0.0, rng.choice([0.3, 4.0, 40.0]), n))
        elif shape == 1:  # any order, some late
            t = t0 + rng.uniform(-20.0, 3.0, n)
        elif shape == 2:  # exactly on bucket edges
            t = np.sort(t0 + rng.integers(0, 12, n) * 0.25)
        elif shape == 3:  # one instant
            t = np.full(n, t0 + 0.5)
        else:  # a long jump: the whole window expires inside the batch
            t = np.sort(np.r_[t0 + rng.uniform(0, 1, n // 2), t0 + 25.0 + rng.uniform(0, 1, n - n // 2)])
        codes = rng.choice(4, n, p=[0.8, 0.08, 0.07, 0.05]) if rng.random() < 0.9 else np.full(n, 3)
        lat = rng.lognormal(3.5, 1.2, n)
        lat[codes == 3] = np.nan
        lat[rng.random(n) < 0.03] = 0.0
        lat[rng.random(n) < 0.02] = np.nan  # no latency for a served request
        _feed_both(one, many, t, codes, lat)
        assert _health_state(many) == _health_state(one)
        if n:
            t0 = max(t0, float(t.max()))
        if rng.random() < 0.4:  # snapshots expire buckets between batches
            now = t0 + float(rng.choice([0.0, 0.25, 3.0, 11.0]))
            assert _same_snapshot(many.snapshot(now), one.snapshot(now))
            snaps += 1
    assert snaps > 20 and one.n_total > 5000
    assert _health_state(many) == _health_state(one)


def test_observe_many_known_answers_on_edges_and_expiry(monkeypatch):
    monkeypatch.setattr(health, "_MIN_BATCH", 1)
    mon = HealthMonitor(window_s=3.0, bucket_s=1.0)
    times = np.arange(20) * 0.5  # two per bucket, half of them on a bucket edge
    codes = np.array([0, 1, 2, 3] * 5)
    mon.observe_many(times, codes, np.where(codes == 3, np.nan, 10.0))
    snap = mon.snapshot(9.5)  # buckets 7, 8 and 9 remain: times 7.0 to 9.5
    assert (snap.n, snap.ok, snap.errors, snap.timeouts, snap.dropped, snap.n_latency) == (6, 1, 1, 2, 2, 4)
    assert mon.n_late == 0 and mon.n_total == 20
    mon.observe_many(np.full(20, 1.0), np.zeros(20, dtype=int), np.full(20, 5.0))  # all too old
    assert mon.n_late == 20 and mon.snapshot(9.5).n == 6
    mon.observe_many(np.full(20, 30.0), np.full(20, 3), np.full(20, np.nan))  # all dropped
    snap = mon.snapshot(30.0)
    assert (snap.n, snap.dropped, snap.n_latency) == (20, 20, 0)
    assert math.isnan(snap.latency_p50_ms) and snap.drop_rate == 1.0 and snap.error_rate == 0.0
    mon.observe_many([], [], [])
    assert mon.n_total == 60
    # bucket numbers beyond int64 go one by one, as observe files them
    far = HealthMonitor(window_s=3.0, bucket_s=1.0)
    far.observe_many(np.full(3, 1e300), np.zeros(3, dtype=int), np.full(3, 5.0))
    assert far._head == math.floor(1e300) and far.snapshot(1e300).n == 3


def test_observe_many_rejects_bad_input_before_recording():
    mon = HealthMonitor()
    n = health._MIN_BATCH
    with pytest.raises(ValueError, match="status_codes"):
        mon.observe_many(np.zeros(n), np.full(n, 4), np.ones(n))
    with pytest.raises(ValueError, match="status_codes"):
        mon.observe_many(np.zeros(n), np.full(n, -1), np.ones(n))
    with pytest.raises(ValueError, match="latency_ms"):
        mon.observe_many(np.zeros(n), np.zeros(n, dtype=int), np.r_[np.ones(n - 1), -1.0])
    with pytest.raises(ValueError, match="times_s"):
        mon.observe_many(np.r_[np.zeros(n - 1), np.nan], np.zeros(n, dtype=int), np.ones(n))
    with pytest.raises(ValueError, match="status_codes"):
        mon.observe_many(np.zeros(3), np.zeros(2, dtype=int), np.ones(3))
    assert mon.n_total == 0
    mon.observe_many(np.zeros(n), np.full(n, 3), np.full(n, -1.0))  # a dropped request's latency is ignored
    assert mon.snapshot(0.5).dropped == n
    # a small batch goes one by one: what precedes the bad element is recorded, as by observe
    small = HealthMonitor()
    with pytest.raises(ValueError, match="status_codes"):
        small.observe_many(np.zeros(5), np.array([0, 1, -1, 0, 0]), np.ones(5))
    with pytest.raises(ValueError, match="latency_ms"):
        small.observe_many(np.zeros(3), np.zeros(3, dtype=int), np.array([1.0, -1.0, 1.0]))
    assert small.n_total == 3 and small.snapshot(0.5).errors == 1


def _window_sketch(t, codes, lat, first_bucket, alpha, latency_codes=(0, 1, 2)):
    """A LogHistogramSketch of the latencies a time window from ``first_bucket`` on holds."""
    sketch = LogHistogramSketch(alpha)
    for ti, ci, li in zip(t.tolist(), codes.tolist(), lat.tolist(), strict=True):
        if math.floor(ti) >= first_bucket and ci in latency_codes and li == li:
            sketch.add(li)
    return sketch


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("alpha", [0.01, 0.001, 0.2])
def test_time_window_quantiles_are_the_sketch_of_the_window_bit_for_bit(alpha, batched, monkeypatch):
    # the dense running total answers what a LogHistogramSketch of the window's latencies answers
    monkeypatch.setattr(health, "_MIN_BATCH", 1)
    rng = np.random.default_rng(23)
    qs = (0.0, 0.001, 0.3, 0.5, 0.95, 0.99, 0.9999, 1.0)
    mon = HealthMonitor(window_s=8.0, bucket_s=1.0, quantiles=qs, relative_accuracy=alpha)
    t_all, c_all, l_all = [], [], []
    compared = 0
    for step in range(60):
        n = int(rng.integers(0, 200))
        t = np.sort(step + rng.uniform(-2.0, 1.0, n))  # some a little late
        codes = rng.choice(4, n, p=[0.85, 0.06, 0.05, 0.04])
        # decades of latencies, zeros, tiny ones that count as zero, and ties
        lat = np.where(rng.random(n) < 0.1, 0.0, rng.lognormal(2.0, 3.0, n))
        lat[rng.random(n) < 0.05] = 1e-12
        lat[rng.random(n) < 0.1] = 40.0
        lat[codes == 3] = np.nan
        if batched:
            mon.observe_many(t, codes, lat)
        else:
            for ti, ci, li in zip(t.tolist(), codes.tolist(), lat.tolist(), strict=True):
                mon.observe(ti, STATUSES[ci], li)
        t_all.append(t)
        c_all.append(codes)
        l_all.append(lat)
        if step % 3 == 0:
            now = step + 0.999
            snap = mon.snapshot(now)
            t_cat = np.concatenate(t_all)
            # late elements are those whose bucket was out of the window when they came;
            # here a batch is at most 2 s late and the window is 8 s, so none is
            assert mon.n_late == 0
            ref = _window_sketch(t_cat, np.concatenate(c_all), np.concatenate(l_all), step - 7, alpha)
            want = ref.quantiles((0.5, 0.95, 0.99, *qs))
            got = [snap.latency_p50_ms, snap.latency_p95_ms, snap.latency_p99_ms,
                   *(v for _, v in snap.latency_quantiles_ms)]
            assert snap.n_latency == ref.count
            assert got == want or (ref.count == 0 and all(math.isnan(v) for v in got))
            compared += ref.count > 0
    assert compared > 15
    pos, zeros, n = mon._lat.state()
    assert zeros > 0 and len(pos) > 20 and n == sum(pos.values()) + zeros


def test_wide_key_range_moves_to_a_sparse_sketch_with_the_same_answers(monkeypatch):
    # latencies over 300 decades at 0.1 % accuracy span about 345,000 keys: too many for the dense array
    monkeypatch.setattr(health, "_MIN_BATCH", 1)
    rng = np.random.default_rng(5)
    mon = HealthMonitor(window_s=5.0, bucket_s=1.0, relative_accuracy=0.001, quantiles=(0.5, 1.0))
    one = HealthMonitor(window_s=5.0, bucket_s=1.0, relative_accuracy=0.001, quantiles=(0.5, 1.0))
    snaps = []
    for step in range(20):
        n = 150
        t = np.sort(step + rng.uniform(0.0, 1.0, n))
        codes = rng.choice(4, n, p=[0.9, 0.04, 0.03, 0.03])
        lat = rng.lognormal(3.0, 0.5, n)
        if step == 6:
            codes[:3] = 0
            lat[:3] = (1e-8, 1e150, 0.0)
        lat[codes == 3] = np.nan
        _feed_both(one, mon, t, codes, lat)
        assert _health_state(mon) == _health_state(one)
        if step >= 6:
            assert mon._lat.sparse is not None and one._lat.sparse is not None
        else:
            assert mon._lat.sparse is None and mon._lat.counts.size <= health._MAX_COLUMNS
        snap = mon.snapshot(step + 0.9)
        assert _same_snapshot(snap, one.snapshot(step + 0.9))
        snaps.append(snap)
    assert snaps[6].latency_quantiles_ms[-1][1] == pytest.approx(1e150, rel=0.001)
    assert snaps[12].latency_quantiles_ms[-1][1] < 1e3  # the huge latency expired with its bucket
    assert mon._lat.sparse.count == mon._lat.n == snaps[-1].n_latency


def test_dense_total_grows_both_ways_and_keeps_its_counts():
    hist = health._KeyHistogram(0.01)
    hist.add_keys(np.array([100, 101, 101], dtype=np.int64))
    lo, width = hist.lo, hist.counts.size
    assert lo <= 100 and lo + width > 101 and width <= health._MAX_COLUMNS
    hist.add_key(lo - 500)  # below the range
    hist.add_keys(np.array([lo + width + 1000], dtype=np.int64))  # above it
    hist.add_zero(2)
    assert hist.state() == ({100: 1, 101: 2, lo - 500: 1, lo + width + 1000: 1}, 2, 7)
    hist.remove(np.array([101, lo - 500], dtype=np.int64), 1)
    assert hist.state() == ({100: 1, 101: 1, lo + width + 1000: 1}, 1, 4)
    ref = LogHistogramSketch(0.01)
    ref.add_counts([1, 1, 1, 0], [100, 101, lo + width + 1000, 0], [1, 1, 1, 1])
    qs = (0.0, 0.25, 0.5, 0.75, 1.0)
    # ranks 0, 0, 1, 2, 3 of (zero, key 100, key 101, the high key)
    want = [0.0, 0.0, ref._value(100), ref._value(101), ref._value(lo + width + 1000)]
    assert hist.quantiles(qs) == ref.quantiles(qs) == want
