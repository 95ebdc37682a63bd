"""``single`` and ``ab``: one model, or a random (per request) or sticky (per user) split."""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import stats
from strategy_fakes import FakeContext, build

import workbench
from workbench.rng import bucket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def route_all(strategy, ctx, users):
    return [ctx.arrive(i * 0.01, int(u))[1] for i, u in enumerate(users)]


@pytest.mark.parametrize("model", ["legacy", "candidate"])
def test_single_sends_everything_to_its_model(model):
    strategy, _ = build({"kind": "single", "model": model})
    ctx = FakeContext()
    ctx.start(strategy)
    assert set(route_all(strategy, ctx, range(200))) == {model}
    assert strategy.summary() == {"kind": "single", "final_state": "running"}


def test_single_defaults_to_legacy():
    strategy, _ = build({"kind": "single"})
    assert strategy.model == "legacy"


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_ab_per_request_split_is_binomial_and_follows_the_stream(fraction):
    strategy, _ = build({"kind": "ab", "candidate_fraction": fraction})
    ctx = FakeContext(seed=11)
    ctx.start(strategy)
    n = 20_000
    routed = np.array(route_all(strategy, ctx, np.zeros(n, dtype=int)))  # one user: no stickiness
    k = int((routed == "candidate").sum())
    assert stats.binomtest(k, n, fraction).pvalue > 0.001
    # known answer: request i is the candidate's when the i-th uniform of the stream is below the fraction
    expected = np.where(np.random.default_rng(11).random(n) < fraction, "candidate", "legacy")
    np.testing.assert_array_equal(routed, expected)
    s = strategy.summary()
    assert (s["assigned_candidate"], s["assigned_legacy"]) == (k, n - k)
    assert s["candidate_fraction"] == fraction and s["sticky"] is False
    assert strategy.candidate_weight() == pytest.approx(100 * fraction)


@pytest.mark.parametrize("fraction,model", [(0.0, "legacy"), (1.0, "candidate")])
def test_ab_extreme_fractions_send_everything_one_way(fraction, model):
    for sticky in (False, True):
        strategy, _ = build({"kind": "ab", "candidate_fraction": fraction, "sticky": sticky})
        ctx = FakeContext()
        ctx.start(strategy)
        assert set(route_all(strategy, ctx, range(2000))) == {model}


def test_ab_sticky_users_keep_their_arm_across_requests_objects_and_seeds():
    table = {"kind": "ab", "candidate_fraction": 0.3, "sticky": True, "salt": "exp-7"}
    users = np.random.default_rng(0).integers(0, 5000, 20_000)
    arms = []
    for seed in (1, 2):  # two strategy objects from the same scenario; different context streams
        strategy, _ = build(table)
        ctx = FakeContext(seed=seed)
        ctx.start(strategy)
        routed = route_all(strategy, ctx, users)
        per_user: dict[int, set] = {}
        for u, m in zip(users.tolist(), routed, strict=True):
            per_user.setdefault(u, set()).add(m)
        assert all(len(v) == 1 for v in per_user.values())  # a user never switches arms
        arms.append({u: v.pop() for u, v in per_user.items()})
    assert arms[0] == arms[1]
    # the arm is the stable bucket of (salt, user) at basis-point granularity
    assert arms[0] == {u: "candidate" if bucket("exp-7", u) < 3000 else "legacy" for u in arms[0]}
    cohort = sum(m == "candidate" for m in arms[0].values())
    assert stats.binomtest(cohort, len(arms[0]), 0.3).pvalue > 0.001


def test_ab_sticky_cohort_depends_on_the_salt():
    a, _ = build({"kind": "ab", "sticky": True, "salt": "one"})
    b, _ = build({"kind": "ab", "sticky": True, "salt": "two"})
    same = sum(a.in_candidate_cohort(u) == b.in_candidate_cohort(u) for u in range(4000))
    assert 0.4 < same / 4000 < 0.6  # independent halves agree about half the time


def test_ab_sticky_routing_draws_nothing_from_the_stream():
    strategy, _ = build({"kind": "ab", "sticky": True})
    ctx = FakeContext(seed=3)
    ctx.start(strategy)
    route_all(strategy, ctx, range(5000))
    after = ctx.rng.random()
    reference = np.random.default_rng(3)
    reference.random(4096)  # the stream's first block, drawn at start
    assert after == reference.random()


def test_ab_sample_ratio_check():
    r = workbench.run(scen("ab_test"), overrides={"duration_s": 600})
    srm = r.summary.srm
    assert srm.unit == "users" and not srm.mismatch
    r2 = workbench.run(scen("ab_test"), overrides={"duration_s": 600, "strategy.sticky": False})
    assert r2.summary.srm.unit == "requests" and r2.summary.srm.p_value > 0.001
