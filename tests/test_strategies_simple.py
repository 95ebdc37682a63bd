"""``single`` and ``ab``: one model, or a random (per request) or sticky (per user) split."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats
from strategy_fakes import FakeContext, build

import workbench
from workbench.rng import bucket
from workbench.scenario import ScenarioError
from workbench.strategies import DROPPED, ERROR, OK, Request

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


# ---------------------------------------------------------------------------------- A/B/n
LAT = {"dist": "lognormal", "median_ms": 40, "p99_ms": 120}
THREE_MODELS = {"legacy": {"latency": LAT}, "fast": {"latency": LAT}, "slow": {"latency": LAT}}
THREE = ("legacy", "fast", "slow")


def build3(**table):
    return build({"kind": "ab", "arms": ["fast", "slow"], **table}, models=THREE_MODELS)[0]


def started3(seed=0, **table):
    strategy = build3(**table)
    ctx = FakeContext(seed=seed, models=THREE)
    ctx.start(strategy)
    return strategy, ctx


def test_ab_three_arm_per_request_split_follows_the_weights_and_the_stream():
    strategy, ctx = started3(seed=5, weights=[50, 30, 20])
    n = 30_000
    routed = np.array(route_all(strategy, ctx, np.zeros(n, dtype=int)))
    counts = [int((routed == m).sum()) for m in THREE]
    # each arm's count within 4.5 binomial standard deviations of its weight (p ~ 7e-6 each)
    for count, share in zip(counts, (0.5, 0.3, 0.2), strict=True):
        assert abs(count - n * share) < 4.5 * math.sqrt(n * share * (1 - share))
    assert stats.chisquare(counts, [n * 0.5, n * 0.3, n * 0.2]).pvalue > 0.001
    # known answer: one uniform per request; [0, 0.3) fast, [0.3, 0.5) slow, [0.5, 1) legacy
    u = np.random.default_rng(5).random(n)
    np.testing.assert_array_equal(routed, np.where(u < 0.3, "fast", np.where(u < 0.5, "slow", "legacy")))
    s = strategy.summary()
    assert [s[f"assigned_{m}"] for m in THREE] == counts
    assert s["arms"] == list(THREE) and s["weights"] == [50.0, 30.0, 20.0] and s["candidate_fraction"] == 0.5


def test_ab_default_weights_share_the_candidate_fraction_equally():
    strategy = build3(candidate_fraction=0.3)
    assert strategy.config.arm_shares == pytest.approx((0.7, 0.15, 0.15))
    assert strategy._bounds == pytest.approx([0.15, 0.3])


def test_ab_three_arm_sticky_users_keep_their_arm_by_bucket():
    users = np.random.default_rng(0).integers(0, 4000, 15_000)
    strategy, ctx = started3(seed=1, sticky=True, salt="abn", weights=[40, 35, 25])
    routed = route_all(strategy, ctx, users)
    per_user: dict[int, set] = {}
    for u, m in zip(users.tolist(), routed, strict=True):
        per_user.setdefault(u, set()).add(m)
    assert all(len(v) == 1 for v in per_user.values())
    # basis-point buckets: [0, 3500) fast, [3500, 6000) slow, the rest legacy
    expected = {u: "fast" if bucket("abn", u) < 3500 else "slow" if bucket("abn", u) < 6000 else "legacy"
                for u in per_user}
    assert {u: v.pop() for u, v in per_user.items()} == expected
    unit, counts = strategy.arm_counts()
    assert unit == "users" and counts == tuple(sum(m == a for m in expected.values()) for a in THREE)
    n = len(expected)
    assert stats.chisquare(counts, [0.4 * n, 0.35 * n, 0.25 * n]).pvalue > 0.001
    assert ctx.rng.random() == np.random.default_rng(1).random(4097)[-1]  # nothing drawn beyond the first block


@pytest.mark.parametrize("sticky", [False, True])
def test_ab_three_arm_batch_routing_equals_per_request_routing(sticky):
    rng = np.random.default_rng(9)
    n = 5000
    times = np.sort(rng.uniform(0, 600, n))
    users = rng.integers(0, 800, n)
    users[::97] = -3  # a user outside the dense tables
    features = np.zeros((n, 1))
    table = {"sticky": sticky, "weights": [20, 50, 30]}
    (one, ctx_one), (batch, ctx_batch) = started3(seed=4, **table), started3(seed=4, **table)
    index = {"legacy": 0, "fast": 2, "slow": 1}
    cuts = np.unique(np.concatenate([[0, n], rng.integers(0, n, 30)])).tolist()
    for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        expected = [one.route(Request(i, float(times[i]), int(users[i]), features)) for i in range(lo, hi)]
        args = (np.arange(lo, hi), times[lo:hi], users[lo:hi], features)
        if k % 2:
            got = batch.route_batch(*args).tolist()
        else:
            got = [THREE[[0, 2, 1].index(c)] for c in batch.route_batch_indices(*args, index).tolist()]
        assert got == expected
    assert repr(one.summary()) == repr(batch.summary()) and one.arm_counts() == batch.arm_counts()  # NaN == NaN
    assert ctx_one.rng.random() == ctx_batch.rng.random()


def test_ab_generic_path_with_one_candidate_routes_as_the_classic_split():
    classic, ctx_a = build({"kind": "ab", "candidate_fraction": 0.3})[0], FakeContext(seed=2)
    weighted, ctx_b = build({"kind": "ab", "weights": [70, 30]})[0], FakeContext(seed=2)
    ctx_a.start(classic)
    ctx_b.start(weighted)
    assert classic._classic and not weighted._classic and weighted.fraction == 0.3
    users = np.arange(3000) % 700
    assert route_all(classic, ctx_a, users) == route_all(weighted, ctx_b, users)
    # the classic split's summary keeps its fields, and only them
    assert set(classic.summary()) == {"kind", "final_state", "assigned_legacy", "assigned_candidate",
                                      "candidate_fraction", "sticky"}


@pytest.mark.parametrize("table,path,message", [
    ({"weights": [50, 50]}, "strategy.weights", "one weight per arm"),
    ({"weights": [50, 30, 30]}, "strategy.weights", "must sum to 100"),
    ({"weights": [50, 60, -10]}, "strategy.weights[2]", "between 0 and 100"),
    ({"weights": [50, 30, 20], "candidate_fraction": 0.2}, "strategy.candidate_fraction", "weights give"),
    ({"arms": ["fast", "fast"]}, "strategy.arms[1]", "duplicate arm"),
    ({"arms": ["legacy", "fast"]}, "strategy.arms[0]", "legacy is always arm 0"),
    ({"arms": []}, "strategy.arms", "at least one"),
    ({"arms": ["fast", "nope"]}, "strategy.arms[1]", "unknown model 'nope'"),
])
def test_ab_arms_and_weights_are_validated(table, path, message):
    with pytest.raises(ScenarioError) as err:
        build({"kind": "ab", "arms": ["fast", "slow"], **table}, models=THREE_MODELS)
    assert f"{path}: " in str(err.value) and message in str(err.value)


def test_ab_without_a_candidate_model_still_names_it():
    with pytest.raises(ScenarioError, match="models.candidate: strategy 'ab' needs a model named 'candidate'"):
        build({"kind": "ab"}, models=THREE_MODELS)


def test_srm_over_all_arms_is_scipy_chisquare_on_the_counts():
    strategy, ctx = started3(seed=3, weights=[50, 25, 25])
    route_all(strategy, ctx, np.zeros(4000, dtype=int))
    report = strategy.summary()["arm_comparison"]
    counts = report["counts"]
    assert counts == [strategy.assigned[m] for m in THREE] and report["unit"] == "requests"
    assert report["srm_p_value"] == pytest.approx(stats.chisquare(counts, [2000, 1000, 1000]).pvalue, rel=1e-12)
    assert report["srm_mismatch"] is False and report["expected_shares"] == [0.5, 0.25, 0.25]


def test_srm_flags_a_broken_split():
    from workbench.strategies.simple import ArmOutcomes, arm_comparison

    out = arm_comparison(ArmOutcomes(THREE, 0.0), (5000, 2000, 3000), "requests", (0.5, 0.25, 0.25))
    assert out["srm_mismatch"] is True
    assert out["srm_p_value"] == pytest.approx(stats.chisquare([5000, 2000, 3000], [5000, 2500, 2500]).pvalue)
    zero = arm_comparison(ArmOutcomes(THREE, 0.0), (5000, 10, 4990), "requests", (0.5, 0.0, 0.5))
    assert zero["srm_p_value"] == 0.0 and zero["srm_mismatch"] is True  # traffic on an arm planned at 0 %


def test_arm_outcomes_count_the_requests_after_the_warm_up():
    from workbench.strategies.simple import ArmOutcomes

    o = ArmOutcomes(THREE, warmup_s=10.0)
    o.routed_batch(np.arange(4), np.array([8.0, 9.5, 10.0, 11.0]))
    assert o.first_warm_id == 2
    o.add(1, "fast", 10.5, OK, 30.0)  # arrived in the warm-up, finished after it: not counted
    o.add(2, "fast", 10.2, ERROR, 50.0)
    o.add(3, "slow", 11.1, DROPPED, 0.0)
    assert o.requests == [0, 1, 1] and o.failed == [0, 1, 1]
    assert o.latency_ms("fast").tolist() == [50.0] and o.latency_ms("slow").size == 0  # dropped: no latency


def test_shipped_abn_scenario_flags_the_worse_candidate_only_and_engines_agree():
    fast = workbench.run(scen("abn_three_models"), engine="fast")
    arms = fast.summary.arms
    assert arms.arms == THREE_SHIPPED and not arms.srm_mismatch and arms.srm_p_value > 0.001
    assert arms.flagged == ("flaky",)
    assert arms.get("flaky").verdict == "worse" and arms.get("flaky").error_adjusted_p < 0.05
    assert arms.get("faster").verdict == "better" and arms.get("faster").latency_diff_ms < 0
    for c in arms.candidates:  # the report counts what the per-model KPIs count
        kpis = fast.summary.models[c.candidate]
        assert (c.n_candidate, c.error_rate_candidate) == (kpis.requests, kpis.error_rate)
        assert c.mean_latency_candidate_ms == pytest.approx(kpis.mean_latency_ms, rel=1e-12)
    short = {"duration_s": 240, "warmup_s": 30}
    a = workbench.run(scen("abn_three_models"), engine="reference", overrides=short)
    b = workbench.run(scen("abn_three_models"), engine="fast", overrides=short)
    assert a.summary.to_json() == b.summary.to_json()
    assert a.requests["model"].equals(b.requests["model"]) and a.requests["latency_ms"].equals(b.requests["latency_ms"])


THREE_SHIPPED = ("legacy", "faster", "flaky")
