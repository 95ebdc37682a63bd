"""Shadow: users always get legacy; a fraction of requests is mirrored to the candidate."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from strategy_fakes import FakeContext, build

import workbench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def started(seed=0, **table):
    strategy, _ = build({"kind": "shadow", **table})
    ctx = FakeContext(seed=seed)
    ctx.start(strategy)
    return strategy, ctx


def test_route_is_always_legacy_and_everything_is_mirrored_by_default():
    strategy, ctx = started()
    assert strategy.mirrors is True
    for i in range(2000):
        request, model = ctx.arrive(i * 0.05, i % 97)
        assert model == "legacy" and strategy.mirror(request) is True
    s = strategy.summary()
    assert s == {"kind": "shadow", "final_state": "running", "mirrored": 2000, "mirror_fraction": 1.0}
    assert strategy.candidate_weight() == 0.0


@pytest.mark.parametrize("fraction", [0.05, 0.25, 0.8])
def test_mirror_fraction_is_binomial_and_follows_the_stream(fraction):
    strategy, ctx = started(seed=9, mirror_fraction=fraction)
    n = 20_000
    mirrored = np.array([strategy.mirror(ctx.arrive(i * 0.01, i)[0]) for i in range(n)])
    assert stats.binomtest(int(mirrored.sum()), n, fraction).pvalue > 0.001
    np.testing.assert_array_equal(mirrored, np.random.default_rng(9).random(n) < fraction)
    assert strategy.summary()["mirrored"] == int(mirrored.sum())


def test_routing_draws_nothing_so_mirroring_never_changes_what_users_get():
    # with or without mirroring, the user-facing answer is legacy's and no draw depends on it
    strategy, ctx = started(mirror_fraction=0.5)
    assert {ctx.arrive(float(t), 1)[1] for t in range(500)} == {"legacy"}
    assert strategy.summary()["mirrored"] == 0  # route never mirrors; the engine asks mirror()


def test_shadow_never_changes_what_the_user_gets():
    # candidate ten times slower and failing half its calls
    sc = workbench.load_scenario(scen("shadow_candidate_crashes"), overrides={"duration_s": 400})
    cand = sc.models["candidate"]
    assert cand.error_rate == 0.5 and cand.latency.median_ms == 10 * sc.models["legacy"].latency.median_ms
    shadow = workbench.run(sc, seed=3)
    single = workbench.run(sc, seed=3, overrides={"strategy": {"kind": "single"}})
    cols = ["request_id", "time_s", "user_id", "model", "status", "queue_ms", "latency_ms", "prediction"]
    pd.testing.assert_frame_equal(shadow.requests[cols], single.requests[cols])
    sh = shadow.shadow
    assert len(sh) == len(shadow.requests)
    assert (sh.status == "error").mean() == pytest.approx(0.5, abs=0.03)
    assert sh.latency_ms.median() > 5 * shadow.requests.latency_ms.median()
    both = sh.prediction_diff.notna()
    np.testing.assert_allclose(sh.prediction_diff[both], (sh.prediction - sh.legacy_prediction)[both])
    assert 0 < shadow.summary.shadow.agreement < 1


def test_shadow_mirror_fraction():
    sc = workbench.load_scenario(scen("shadow_candidate_crashes"), overrides={"duration_s": 300, "strategy.mirror_fraction": 0.25})
    r = workbench.run(sc, seed=1)
    n = len(r.requests)
    assert stats.binomtest(len(r.shadow), n, 0.25).pvalue > 0.001
