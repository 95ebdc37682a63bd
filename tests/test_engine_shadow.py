"""Mirrored calls: the candidate's answers on its own replicas, never reaching a user."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.engine import Simulation, generate_traffic
from workbench.engine.draws import draw_model


@pytest.fixture(scope="module")
def shadow_scenario(scenarios_dir):
    return workbench.load_scenario(scenarios_dir / "shadow_candidate_crashes.toml").with_overrides({"duration_s": 300})


@pytest.fixture(scope="module")
def mirrored(shadow_scenario):
    return workbench.run(shadow_scenario, seed=7)


def test_shadow_never_changes_what_users_get(shadow_scenario, mirrored):
    single = workbench.run(shadow_scenario, seed=7, overrides={"strategy": {"kind": "single"}})
    some = workbench.run(shadow_scenario, seed=7, overrides={"strategy.mirror_fraction": 0.3})
    for other in (single, some):
        pd.testing.assert_frame_equal(mirrored.requests, other.requests)
    assert (mirrored.requests.model == "legacy").all()
    assert single.shadow.empty and single.summary.shadow is None
    assert 0.25 < len(some.shadow) / len(some.requests) < 0.35
    assert set(some.shadow.request_id) < set(mirrored.shadow.request_id)


def test_every_mirrored_call_is_the_candidates_answer_beside_the_users(shadow_scenario, mirrored):
    sh = mirrored.shadow
    req = mirrored.requests
    assert list(sh.request_id) == list(range(len(req)))  # mirror_fraction 1: every request, in order
    np.testing.assert_array_equal(sh.time_s, req.time_s)
    assert set(sh.status) == {"ok", "error", "timeout"}  # 50% errors and a slow candidate
    # the mirrored answer is the candidate's draw for that request; the user's is what they got
    tr = generate_traffic(shadow_scenario, 7)
    cand = draw_model(shadow_scenario, "candidate", tr, 7).prediction
    ok = (sh.status == "ok").to_numpy()
    np.testing.assert_array_equal(sh.prediction[ok], cand[ok])
    assert sh.prediction[~ok].isna().all()
    np.testing.assert_array_equal(sh.legacy_prediction, req.prediction)
    np.testing.assert_allclose(sh.prediction_diff, sh.prediction - sh.legacy_prediction, equal_nan=True)
    np.testing.assert_array_equal(sh.label, req.label)
    kpis = mirrored.summary.shadow
    assert kpis.mirrored == len(sh) and sum(kpis.status_counts.values()) == len(sh)
    assert kpis.compared == int(sh.prediction_diff.notna().sum())
    assert kpis.candidate_error_rate == pytest.approx((sh.status != "ok").mean())
    assert kpis.agreement == pytest.approx((sh.prediction_diff.dropna().abs() <= 0.5).mean())


def test_mirrored_calls_use_their_own_pool_and_log():
    sc = {"name": "tiny-shadow", "duration_s": 60, "traffic": {"rate_per_s": 10},
          "models": {"legacy": {"replicas": 2}, "candidate": {"replicas": 3}},
          "strategy": {"kind": "shadow", "candidate_replicas": 5}}
    sim = Simulation(workbench.load_scenario(sc), 1)
    mirror = sim.mirror
    assert mirror is not None and mirror.pool.capacity == 5 and mirror.pool.name == "candidate-shadow"
    assert mirror.log is not sim.context.log and mirror.log.request is not None
    assert [p.name for p in sim.pools] == ["legacy", "candidate"]
    sim.run()
    assert mirror.log.rows == sim.n and sim.pools[1].busy == 0 and not any(s == -1 for s in mirror.log.status)
    assert set(np.frombuffer(sim.context.log.model, dtype=np.int8)) == {0}  # users: legacy only
