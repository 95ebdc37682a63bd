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
from workbench.scenario import ScenarioError


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


# ----------------------------------------------------------------------------- replayed trace
TRACE = {"name": "t", "duration_s": 1200, "models": {"legacy": {}},
         "traffic": {"pattern": "trace", "trace_rates_per_s": [10, 40, 0, 20], "trace_step_s": 100}}


def test_trace_rate_is_piecewise_constant_and_repeats():
    sc = workbench.load_scenario(TRACE)
    assert sc.traffic.rate_per_s == 17.5 and sc.traffic.peak_rate_per_s == 40.0  # the trace's mean and max
    t = np.array([0.0, 99.9, 100.0, 250.0, 399.0, 400.0, 1150.0])
    np.testing.assert_array_equal(rate_at(sc, t), [10.0, 10.0, 40.0, 0.0, 20.0, 10.0, 20.0])
    # a given rate_per_s scales the whole curve to that mean, keeping its shape
    doubled = sc.with_overrides({"traffic.rate_per_s": 35.0})
    np.testing.assert_array_equal(rate_at(doubled, t), 2 * rate_at(sc, t))
    assert doubled.traffic.peak_rate_per_s == 80.0


def test_trace_arrivals_replay_the_rates_within_poisson_error():
    sc = workbench.load_scenario(TRACE)
    tr = generate_traffic(sc, seed=3)
    counts, _ = np.histogram(tr.time_s, bins=np.arange(0, 1201, 100))
    expected = np.tile([1000.0, 4000.0, 0.0, 2000.0], 3)
    assert np.all(counts[expected == 0] == 0)
    busy = expected > 0
    chi2 = float(np.sum((counts[busy] - expected[busy]) ** 2 / expected[busy]))
    assert chi2 < stats.chi2.ppf(0.999, df=int(busy.sum()))  # Poisson counts: chi-square with one df per step


def test_a_shorter_trace_run_is_the_beginning_of_a_longer_one():
    sc = workbench.load_scenario(TRACE)
    long = generate_traffic(sc, seed=4)
    short = generate_traffic(sc.with_overrides({"duration_s": 500}), seed=4)
    np.testing.assert_array_equal(long.time_s[: short.n], short.time_s)


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        ({"pattern": "trace"}, "traffic.trace_rates_per_s: is required for pattern = 'trace'"),
        ({"pattern": "trace", "trace_rates_per_s": []}, "traffic.trace_rates_per_s: list should have at least 1 item"),
        ({"pattern": "trace", "trace_rates_per_s": [1.0, -2.0]}, "traffic.trace_rates_per_s[1]: must be >= 0"),
        ({"pattern": "trace", "trace_rates_per_s": [0, 0]}, "traffic.trace_rates_per_s: the mean rate must be positive"),
        ({"pattern": "trace", "trace_rates_per_s": [1.0, "2"]}, "traffic.trace_rates_per_s[1]: expected a finite number"),
        ({"pattern": "trace", "trace_rates_per_s": [1.0], "trace_step_s": 0},
         "traffic.trace_step_s: input should be greater than 0"),
        ({"pattern": "diurnal", "trace_rates_per_s": [1.0]}, "traffic.trace_rates_per_s: is only for pattern = 'trace'"),
        ({"pattern": "trace", "trace_rates_per_s": [1.0, 1e9]}, "traffic.rate_per_s: rate x duration_s gives"),
    ],
)
def test_bad_traces_name_the_field(traffic, expected):
    with pytest.raises(ScenarioError) as info:
        workbench.load_scenario({"name": "t", "duration_s": 600, "models": {"legacy": {}}, "traffic": traffic})
    assert expected in str(info.value), str(info.value)


def test_both_engines_agree_on_a_trace_with_empirical_latencies():
    from workbench.engine import Simulation, build_result
    from workbench.engine.fast import FastSimulation, supports
    from workbench.outputs import dumps_strict

    latency = {"dist": "empirical", "probabilities": [0.1, 0.5, 0.9, 0.99], "quantiles_ms": [15.0, 30.0, 70.0, 160.0]}
    sc = workbench.load_scenario({
        "name": "calibrated", "duration_s": 300,
        "traffic": {"pattern": "trace", "trace_rates_per_s": [20, 60, 35], "trace_step_s": 60, "users": 500},
        "models": {"legacy": {"latency": latency, "replicas": 2, "timeout_ms": 400, "error_rate": 0.01},
                   "candidate": {"latency": {**latency, "quantiles_ms": [18.0, 36.0, 80.0, 200.0]}, "replicas": 1}},
        "strategy": {"kind": "ab", "candidate_fraction": 0.3},
    })
    assert supports(sc) is None
    ref = build_result(Simulation(sc, 2).run())
    fast = build_result(FastSimulation(sc, 2).run())
    pd.testing.assert_frame_equal(ref.requests, fast.requests, check_exact=True)
    pd.testing.assert_frame_equal(ref.events, fast.events, check_exact=True)
    assert dumps_strict(ref.summary.to_dict(), sort_keys=True) == dumps_strict(fast.summary.to_dict(), sort_keys=True)
    assert set(ref.requests.status) >= {"ok", "timeout"}  # queueing happened: the comparison says something
