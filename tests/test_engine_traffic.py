"""Traffic drawn up front: Poisson arrivals, returning users, features with drift, labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scenario_builders import mmc
from scipy import stats

import workbench
from workbench.engine import generate_traffic
from workbench.engine.traffic import ramp_factor, rate_at, true_signal


def test_arrivals_are_poisson():
    tr = generate_traffic(workbench.load_scenario(mmc(50.0, 10.0, 1, duration=2000)), seed=11)
    gaps = np.diff(tr.time_s)
    assert len(tr.time_s) == pytest.approx(50 * 2000, rel=0.02)
    # exponential inter-arrival times: KS test against Exp(50)
    assert stats.kstest(gaps, "expon", args=(0, 1 / 50)).pvalue > 0.001


def test_diurnal_rate_follows_the_cycle():
    sc = mmc(40.0, 10.0, 1, duration=2400)
    sc["traffic"].update(pattern="diurnal", period_s=1200, amplitude=0.5)
    tr = generate_traffic(workbench.load_scenario(sc), seed=1)
    counts, _ = np.histogram(tr.time_s, bins=np.arange(0, 2401, 300))
    # first quarter of each cycle (sin > 0) busier than the third quarter (sin < 0)
    assert counts[0] > 1.3 * counts[2] and counts[4] > 1.3 * counts[6]
    assert len(tr.time_s) == pytest.approx(40 * 2400, rel=0.03)


def test_rate_at_known_values():
    sc = mmc(40.0, 10.0, 1, duration=2400)
    sc["traffic"].update(pattern="diurnal", period_s=1200, amplitude=0.5)
    diurnal = workbench.load_scenario(sc)
    np.testing.assert_allclose(rate_at(diurnal, np.array([0.0, 300.0, 600.0, 900.0])), [40.0, 60.0, 40.0, 20.0],
                               atol=1e-9)
    constant = workbench.load_scenario(mmc(40.0, 10.0, 1))
    np.testing.assert_array_equal(rate_at(constant, np.array([0.0, 1e3])), [40.0, 40.0])
    bursty = workbench.load_scenario({**mmc(40.0, 10.0, 1), "traffic": {"rate_per_s": 40.0, "pattern": "bursty",
                                                                         "burst_multiplier": 3.0}})
    np.testing.assert_array_equal(rate_at(bursty, np.array([1.0, 2.0]), np.array([True, False])), [120.0, 40.0])
    with pytest.raises(ValueError, match="burst indicator"):
        rate_at(bursty, np.array([1.0]))


def test_ramp_factor_known_values():
    t = np.array([0.0, 5.0, 10.0, 15.0, 19.0, 20.0, 25.0])
    np.testing.assert_allclose(ramp_factor(t, 5.0, 20.0, 10.0), [0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(ramp_factor(t, 5.0, 20.0, 0.0), [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])


def test_labels_are_the_true_signal_plus_noise_and_arrive_after_the_delay():
    sc = workbench.load_scenario({**mmc(20.0, 10.0, 1, duration=600),
                                  "traffic": {"rate_per_s": 20.0, "label_delay_s": 30.0}})
    tr = generate_traffic(sc, seed=2)
    np.testing.assert_array_equal(tr.label_time_s, tr.time_s + 30.0)
    residual = tr.label - true_signal(sc, tr.features)
    assert residual.mean() == pytest.approx(0.0, abs=4 * sc.target.noise_sd / np.sqrt(tr.n))
    assert residual.std() == pytest.approx(sc.target.noise_sd, rel=0.05)
    assert np.all(np.diff(tr.time_s) > 0) and tr.features.shape == (tr.n, len(tr.feature_names))


def test_users_come_back_with_skewed_activity():
    r = workbench.run(mmc(50.0, 10.0, 4, duration=600), seed=2)
    per_user = r.requests.user_id.value_counts()
    assert per_user.iloc[0] > 20 * per_user.median()
    assert r.requests.user_id.nunique() < len(r.requests)


def test_data_drift_moves_the_feature_mean_by_the_shift():
    sc = mmc(50.0, 10.0, 4, duration=1200)
    sc["faults"] = [{"kind": "data_drift", "feature": "x2", "start_s": 600, "shift": 1.5, "scale": 2.0}]
    req = workbench.run(sc, seed=4).requests
    before = req.feature_x2[req.time_s < 600]
    after = req.feature_x2[req.time_s >= 600]
    assert after.mean() - before.mean() == pytest.approx(1.5, abs=0.05)
    assert after.std() / before.std() == pytest.approx(2.0, rel=0.05)
    # other features are untouched
    assert req.feature_x1[req.time_s >= 600].mean() == pytest.approx(0.0, abs=0.05)


def test_gradual_data_drift_ramps_linearly():
    sc = mmc(50.0, 10.0, 4, duration=1200)
    sc["faults"] = [{"kind": "data_drift", "feature": "x1", "start_s": 300, "ramp_s": 600, "shift": 2.0}]
    req = workbench.run(sc, seed=4).requests
    mid = req.feature_x1[(req.time_s >= 550) & (req.time_s < 650)].mean()
    assert mid == pytest.approx(1.0, abs=0.15)


def test_concept_drift_worsens_predictions_but_not_health():
    sc = mmc(40.0, 20.0, 4, duration=1200)
    sc["models"]["legacy"]["noise"] = 0.2
    sc["faults"] = [{"kind": "concept_drift", "start_s": 600, "weight_shift": {"x1": 1.0}}]
    r = workbench.run(sc, seed=2)
    req = r.requests[r.requests.status == "ok"]
    before = req.abs_error[req.time_s < 600].mean()
    after = req.abs_error[req.time_s >= 600].mean()
    assert after > 2.5 * before
    drifted = workbench.run(sc | {"faults": []}, seed=2).requests
    np.testing.assert_array_equal(r.requests.latency_ms, drifted.latency_ms)


@pytest.mark.parametrize("pattern", ["constant", "diurnal", "bursty"])
def test_a_shorter_run_is_the_beginning_of_a_longer_one(pattern):
    sc = workbench.load_scenario({"name": "p", "duration_s": 3000, "models": {"legacy": {}},
                                  "traffic": {"pattern": pattern, "period_s": 900}})
    long = generate_traffic(sc, seed=4)
    short = generate_traffic(sc.with_overrides({"duration_s": 1000}), seed=4)
    n = len(short.time_s)
    assert n < len(long.time_s) and long.time_s[n - 1] < 1000 <= long.time_s[n]
    for field in ("time_s", "user_id", "features", "label"):
        np.testing.assert_array_equal(getattr(long, field)[:n], getattr(short, field))


def test_traffic_depends_on_the_run_seed_only():
    sc = workbench.load_scenario(mmc(20.0, 10.0, 4, duration=300))
    a = workbench.run(sc.with_overrides({"seed": 0}), seed=3).requests
    b = workbench.run(sc.with_overrides({"seed": 5}), seed=3).requests
    pd.testing.assert_frame_equal(a, b)
    # the heaviest users differ between run seeds (no population shared by every seed)
    tops = {tuple(workbench.run(sc, seed=s).requests.user_id.value_counts().index[:3]) for s in range(4)}
    assert len(tops) == 4


def test_user_ids_are_int32_with_the_64_bit_draws():
    from workbench.rng import stream

    sc = workbench.load_scenario({**mmc(20.0, 10.0, 2, duration=200), "traffic": {"rate_per_s": 20.0,
                                                                                  "users": 5000, "user_skew": 0}})
    tr = generate_traffic(sc, 4)
    assert tr.user_id.dtype == np.int32
    # the same numbers as a 64-bit draw from the ``users`` stream (common random numbers)
    np.testing.assert_array_equal(tr.user_id, stream(4, "users").integers(0, 5000, size=tr.n))
    r = workbench.run(sc, seed=4)
    assert r.requests.user_id.dtype == np.int32
    np.testing.assert_array_equal(r.requests.user_id.to_numpy(), tr.user_id)


@pytest.mark.parametrize("users, skew", [(1, 1.0), (3, 2.0), (1000, 0.0), (10_000, 1.1), (70_000, 0.9),
                                         (300_000, 1.0)])
def test_guided_inverse_cdf_gives_searchsorted_for_every_draw(users, skew):
    from workbench.engine.traffic import inverse_cdf_ranks

    cdf = np.cumsum(1.0 / np.arange(1, users + 1) ** skew)
    cdf /= cdf[-1]
    rng = np.random.default_rng(users)
    u = rng.uniform(size=max(50_000, 5 * users))
    k = min(users - 1, 5000)
    u[:k] = cdf[:k]  # exactly on points of the cdf
    u[k:k + 4096] = np.arange(4096) / 4096.0  # exactly on slice edges
    u[-3:] = [0.0, np.nextafter(1.0, 0.0), np.nextafter(cdf[0], 0.0)]
    assert np.array_equal(inverse_cdf_ranks(cdf, u), np.searchsorted(cdf, u, side="right"))
