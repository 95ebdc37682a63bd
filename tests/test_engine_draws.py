"""Per-model draws: service times, failures and predictions, with fault windows applied."""

from __future__ import annotations

import numpy as np
import pytest
from scenario_builders import mmc
from scipy import stats

import workbench
from workbench.engine import generate_traffic
from workbench.engine.draws import (
    CAUSE_BURST,
    CAUSE_MODEL,
    CAUSE_NONE,
    CAUSE_OUTAGE,
    OUTAGE_HANG,
    OUTAGE_NONE,
    OUTAGE_REFUSE,
    draw_model,
)

TWO_MODELS = {
    "name": "two", "duration_s": 600,
    "traffic": {"rate_per_s": 40},
    "models": {"legacy": {"latency": {"dist": "constant", "ms": 20}, "error_rate": 0.05, "timeout_ms": 1000},
               "candidate": {"latency": {"dist": "lognormal", "median_ms": 40, "p99_ms": 120}, "error_rate": 0.01}},
    "strategy": {"kind": "ab", "candidate_fraction": 0.5},
}


def test_latency_spike_only_inside_window_and_only_for_target():
    sc = {
        "name": "spike",
        "duration_s": 600,
        "traffic": {"rate_per_s": 40},
        "models": {"legacy": {"latency": {"dist": "lognormal", "median_ms": 40, "p99_ms": 120}},
                   "candidate": {"latency": {"dist": "lognormal", "median_ms": 40, "p99_ms": 120}}},
        "strategy": {"kind": "ab", "candidate_fraction": 0.5},
        "faults": [{"kind": "latency_spike", "target": "candidate", "start_s": 200, "duration_s": 100, "multiplier": 3.0}],
    }
    spiked = workbench.run(sc, seed=1).requests
    calm = workbench.run(sc | {"faults": []}, seed=1).requests
    inside = (spiked.time_s >= 200) & (spiked.time_s < 300)
    cand = spiked.model == "candidate"
    np.testing.assert_allclose(spiked.latency_ms[inside & cand], 3 * calm.latency_ms[inside & cand])
    np.testing.assert_array_equal(spiked.latency_ms[~(inside & cand)], calm.latency_ms[~(inside & cand)])


def test_error_burst_rate_inside_window_matches_configuration():
    sc = mmc(80.0, 20.0, 8, duration=900)
    sc["faults"] = [{"kind": "error_burst", "target": "legacy", "start_s": 300, "duration_s": 300, "error_rate": 0.2}]
    r = workbench.run(sc, seed=8)
    req = r.requests
    inside = req[(req.time_s >= 300) & (req.time_s < 600)]
    outside = req[(req.time_s < 300) | (req.time_s >= 600)]
    k, n = int((inside.status == "error").sum()), len(inside)
    ci = stats.binomtest(k, n).proportion_ci(0.999)
    assert ci.low <= 0.2 <= ci.high
    assert (outside.status == "error").sum() == 0
    ev = r.events
    assert list(ev.kind[ev.source == "faults"]) == ["fault_start", "fault_end"]
    assert list(ev.time_s[ev.source == "faults"]) == [300.0, 600.0]


def test_sklearn_model_can_stand_in_for_a_synthetic_one():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    est = Ridge(alpha=1.0).fit(X[:, :3], y)
    sc = mmc(20.0, 20.0, 4, duration=120)
    r = workbench.run(sc, seed=1, models={"legacy": est})
    ok = r.requests[r.requests.status == "ok"]
    feats = ok[["feature_x1", "feature_x2", "feature_x3"]].to_numpy()
    np.testing.assert_allclose(ok.prediction.to_numpy(), est.predict(feats))
    assert sklearn.__version__


def test_a_models_draws_do_not_depend_on_the_other_models():
    """Each model draws from its own streams: changing legacy leaves the candidate's draws alone."""
    sc = workbench.load_scenario(TWO_MODELS)
    tr = generate_traffic(sc, 3)
    before = draw_model(sc, "candidate", tr, 3)
    other = sc.with_overrides({"models.legacy.error_rate": 0.5, "models.legacy.noise": 2.0})
    after = draw_model(other, "candidate", tr, 3)
    for field in ("service_s", "fails", "outage", "prediction", "cause"):
        np.testing.assert_array_equal(getattr(before, field), getattr(after, field))
    legacy = draw_model(sc, "legacy", tr, 3)
    np.testing.assert_array_equal(legacy.service_s, 0.02)  # constant 20 ms
    assert legacy.fails.mean() == pytest.approx(0.05, abs=0.01)
    assert not np.array_equal(legacy.prediction, before.prediction)


def test_fault_windows_set_outage_codes_and_failure_causes():
    sc = workbench.load_scenario({**TWO_MODELS, "faults": [
        {"kind": "error_burst", "target": "legacy", "start_s": 100, "duration_s": 100, "error_rate": 0.5},
        {"kind": "outage", "target": "legacy", "start_s": 300, "duration_s": 50},
        {"kind": "outage", "target": "legacy", "start_s": 400, "duration_s": 50, "mode": "hang"},
    ]})
    tr = generate_traffic(sc, 1)
    d = draw_model(sc, "legacy", tr, 1)
    t = tr.time_s
    burst = (t >= 100) & (t < 200)
    refuse = (t >= 300) & (t < 350)
    hang = (t >= 400) & (t < 450)
    assert (d.outage[refuse] == OUTAGE_REFUSE).all() and (d.outage[hang] == OUTAGE_HANG).all()
    assert (d.outage[~(refuse | hang)] == OUTAGE_NONE).all()
    assert (d.cause[refuse | hang] == CAUSE_OUTAGE).all()
    assert set(np.unique(d.cause[burst & d.fails])) == {CAUSE_BURST}
    assert set(np.unique(d.cause[~burst & ~refuse & ~hang & d.fails])) == {CAUSE_MODEL}
    assert (d.cause[~d.fails & ~refuse & ~hang] == CAUSE_NONE).all()
    assert d.fails[burst].mean() == pytest.approx(0.5, abs=0.05)
    # the candidate is not a target: its draws are those of the scenario without faults
    calm = draw_model(workbench.load_scenario(TWO_MODELS), "candidate", tr, 1)
    cand = draw_model(sc, "candidate", tr, 1)
    np.testing.assert_array_equal(cand.fails, calm.fails)
    np.testing.assert_array_equal(cand.outage, calm.outage)


def test_a_model_returning_the_wrong_number_of_predictions_is_refused():
    class Short:
        def predict(self, X):
            return np.zeros(len(X) - 1)

    sc = workbench.load_scenario(TWO_MODELS)
    tr = generate_traffic(sc, 1)
    with pytest.raises(ValueError, match=r"returned \d+ values for \d+ rows"):
        draw_model(sc, "legacy", tr, 1, Short())
