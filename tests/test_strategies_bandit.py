"""Bandit routing: allocation moves to the better arm, a legacy guardrail, rewards, regret.

Batched updates (``update_interval_s > 0``): rewards wait for the next update tick,
``route_batch`` routes a batch with the same choices and the same random stream
position as ``route`` request by request, and the run's results show every update.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats
from strategy_fakes import FakeContext, build

import workbench
from workbench.scenario import ScenarioError
from workbench.strategies import ERROR, OK, TIMEOUT, Bandit, Request
from workbench.strategies.bandit import BLOCK_ROWS, UPDATE_COLUMNS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def started(seed=0, slo_latency_ms=250.0, **table):
    strategy, _ = build({"kind": "bandit", **table})
    ctx = FakeContext(seed=seed, slo_latency_ms=slo_latency_ms)
    ctx.start(strategy)
    return strategy, ctx


def play(strategy, ctx, n, success_p, seed=1):
    """Route ``n`` requests with immediate feedback: arm ``m`` succeeds with ``success_p[m]``."""
    outcomes = np.random.default_rng(seed)
    routed = []
    for i in range(n):
        request, model = ctx.arrive(i * 0.02, i)
        ok = outcomes.random() < success_p[model]
        strategy.on_outcome(request.request_id, model, i * 0.02 + 0.01, OK if ok else ERROR, 30.0)
        routed.append(model)
    return np.array(routed)


@pytest.mark.parametrize("table", [{"algorithm": "thompson"}, {"algorithm": "epsilon_greedy", "epsilon": 0.1}],
                         ids=["thompson", "epsilon_greedy"])
def test_allocation_moves_to_the_better_arm_and_keeps_the_legacy_guardrail(table):
    strategy, ctx = started(seed=4, min_legacy_share=0.1, **table)
    routed = play(strategy, ctx, 6000, {"legacy": 0.6, "candidate": 0.9})
    late = routed[3000:]
    legacy_late = int((late == "legacy").sum())
    # guardrail: at least 10% of requests (plus exploration) stay on legacy; the rest exploit the candidate
    assert stats.binomtest(legacy_late, late.size, 0.1, alternative="less").pvalue > 0.001
    assert legacy_late / late.size < 0.2
    s = strategy.summary()
    assert s["better_arm"] == "candidate" and s["algorithm"] == table["algorithm"]
    assert s["routed_legacy"] + s["routed_candidate"] == 6000
    assert s["reward_rate_candidate"] == pytest.approx(0.9, abs=0.02)
    assert strategy.candidate_weight() == pytest.approx(100 * s["routed_candidate"] / 6000)


def test_allocation_moves_to_legacy_when_legacy_is_better():
    strategy, ctx = started(seed=2)
    routed = play(strategy, ctx, 4000, {"legacy": 0.9, "candidate": 0.3})
    assert (routed[2000:] == "legacy").mean() > 0.95
    assert strategy.summary()["better_arm"] == "legacy"


@pytest.mark.parametrize("share", [0.3, 1.0])
def test_min_legacy_share_holds_even_for_a_hopeless_legacy(share):
    strategy, ctx = started(seed=8, min_legacy_share=share)
    routed = play(strategy, ctx, 5000, {"legacy": 0.0, "candidate": 1.0})
    k = int((routed == "legacy").sum())
    if share == 1.0:
        assert k == 5000
    else:
        assert stats.binomtest(k, 5000, share, alternative="less").pvalue > 0.001


def test_ok_within_slo_reward():
    strategy, ctx = started(slo_latency_ms=100.0)
    strategy.on_outcome(0, "candidate", 1.0, OK, 99.0)
    strategy.on_outcome(1, "candidate", 1.0, OK, 100.0)  # at the SLO: still a success
    strategy.on_outcome(2, "candidate", 1.0, OK, 101.0)
    strategy.on_outcome(3, "legacy", 1.0, TIMEOUT, 50.0)
    strategy.on_outcome(4, "legacy", 1.0, OK, 20.0)
    assert strategy.successes == [1, 2] and strategy.trials == [2, 3]
    assert strategy.wants_outcomes and not strategy.wants_labels


def test_conversion_reward_waits_for_the_label_and_counts_failures_at_once():
    strategy, ctx = started(reward="conversion")
    assert strategy.wants_outcomes and strategy.wants_labels
    ctx.conversions = lambda request_id, model: request_id % 2 == 0
    strategy.on_outcome(0, "candidate", 1.0, OK, 30.0)  # waits for its label
    strategy.on_outcome(1, "candidate", 1.0, ERROR, 30.0)  # no answer: a zero reward now
    assert strategy.trials == [0, 1] and strategy.successes == [0, 0]
    strategy.on_label(0, "candidate", 61.0, 0.4, 0.5)
    strategy.on_label(3, "legacy", 61.0, 0.4, 0.5)
    strategy.on_label(4, "legacy", 61.0, 0.4, 0.5)
    assert strategy.trials == [2, 2] and strategy.successes == [1, 1]
    s = strategy.summary()
    assert s["reward"] == "conversion" and s["reward_rate_legacy"] == s["reward_rate_candidate"] == 0.5


def test_summary_regret_against_the_better_arms_observed_rate():
    strategy, _ = started()
    strategy.successes, strategy.trials, strategy.routed = [30, 80], [100, 100], [100, 300]
    s = strategy.summary()
    assert s["better_arm"] == "candidate"
    assert s["regret"] == pytest.approx(100 * (0.8 - 0.3))
    assert (s["reward_rate_legacy"], s["reward_rate_candidate"]) == (0.3, 0.8)


def test_summary_before_any_reward():
    strategy, ctx = started()
    s = strategy.summary()
    assert s["better_arm"] == "legacy" and s["regret"] == 0.0
    assert math.isnan(s["reward_rate_legacy"]) and math.isnan(s["reward_rate_candidate"])
    assert strategy.candidate_weight() == 0.0


def test_greedy_without_exploration_tries_each_arm_then_exploits():
    strategy, ctx = started(algorithm="epsilon_greedy", epsilon=0.0, min_legacy_share=0.0)
    # untried arms count as best; ties go to legacy
    routed = play(strategy, ctx, 200, {"legacy": 0.0, "candidate": 1.0})
    assert list(routed[:2]) == ["legacy", "candidate"]
    assert set(routed[2:]) == {"candidate"}


def test_bandit_prefers_the_better_model_and_keeps_the_guardrail():
    r = workbench.run(scen("bandit_better_candidate"), overrides={"duration_s": 900})
    s = r.summary.strategy.to_dict()
    assert s["better_arm"] == "candidate"
    share_legacy = s["routed_legacy"] / (s["routed_legacy"] + s["routed_candidate"])
    assert 0.1 * 0.8 < share_legacy < 0.3
    assert s["regret"] >= 0
    eg = workbench.run(scen("bandit_better_candidate"), overrides={"duration_s": 900, "strategy.algorithm": "epsilon_greedy"})
    assert eg.summary.strategy.get("routed_candidate") > eg.summary.strategy.get("routed_legacy")


def test_conversion_bandit_finishes_and_counts_failures_as_zero_reward():
    # the candidate fails 60% of its calls: fewer conversions per request despite its faster answers
    r = workbench.run(scen("bandit_better_candidate"), overrides={
        "duration_s": 300, "strategy.reward": "conversion", "traffic.label_delay_s": 5,
        "models.candidate.error_rate": 0.6})
    s = r.summary.strategy.to_dict()
    assert s["better_arm"] == "legacy"
    req = r.requests[r.requests.label_time_s <= 295]
    for model, key in (("legacy", "reward_rate_legacy"), ("candidate", "reward_rate_candidate")):
        part = req[req.model == model]
        assert s[key] == pytest.approx(part.converted.mean(), abs=0.03)


# ---------------------------------------------------------------------- batched updates
SCENARIOS = os.path.join(ROOT, "scenarios")


def test_update_interval_is_validated_and_shipped_bandit_scenarios_still_load():
    paths = [os.path.join(SCENARIOS, f) for f in sorted(os.listdir(SCENARIOS)) if f.endswith(".toml")]
    bandits = [workbench.load_scenario(p) for p in paths]
    bandits = [sc for sc in bandits if sc.strategy.kind == "bandit"]
    assert bandits
    for sc in bandits:
        assert sc.strategy.update_interval_s == 0.0
        assert sc.with_overrides({"strategy.update_interval_s": 10}).strategy.update_interval_s == 10.0
        with pytest.raises(ScenarioError, match=r"strategy\.update_interval_s.*greater than or equal to 0"):
            sc.with_overrides({"strategy.update_interval_s": -1})
        with pytest.raises(ScenarioError, match=r"strategy\.update_interval_s.*finite"):
            sc.with_overrides({"strategy.update_interval_s": math.inf})


def test_per_request_updates_by_default_apply_each_reward_at_once_and_add_nothing():
    strategy, ctx = started()
    assert not strategy.batch_routing and strategy.tick_interval_s is None
    strategy.on_outcome(0, "candidate", 1.0, OK, 30.0)
    assert strategy.trials == [0, 1] and strategy.successes == [0, 1]
    strategy.tick(10.0)  # a stray tick changes nothing
    assert strategy.tables() == {}
    assert set(strategy.summary()) == {"kind", "final_state", "algorithm", "reward", "routed_legacy",
                                       "routed_candidate", "reward_rate_legacy", "reward_rate_candidate",
                                       "better_arm", "regret"}


def test_batched_rewards_wait_for_the_update_tick():
    strategy, ctx = started(update_interval_s=10.0, slo_latency_ms=100.0)
    assert strategy.batch_routing and strategy.wants_outcomes and strategy.tick_interval_s == 10.0
    strategy.on_outcome(0, "candidate", 1.0, OK, 30.0)
    strategy.on_outcome(1, "candidate", 2.0, OK, 300.0)  # over the SLO: a zero reward
    strategy.on_outcome(2, "legacy", 3.0, ERROR, 30.0)
    assert strategy.trials == [0, 0] and strategy.successes == [0, 0]  # the posterior waits
    s = strategy.summary()  # the reward rates count rewards still waiting
    assert s["pending_rewards"] == 3 and s["reward_rate_candidate"] == 0.5 and s["reward_rate_legacy"] == 0.0
    assert s["updates"] == 0 and math.isnan(s["mean_batch_size"])
    strategy.tick(10.0)
    assert strategy.trials == [1, 2] and strategy.successes == [0, 1]
    strategy.tick(20.0)  # nothing new: a row in the table, not an update
    strategy.on_outcome(3, "legacy", 21.0, OK, 30.0)
    strategy.tick(30.0)
    assert strategy.trials == [2, 2] and strategy.successes == [1, 1]
    s = strategy.summary()
    assert (s["update_interval_s"], s["updates"], s["mean_batch_size"], s["pending_rewards"]) == (10.0, 2, 2.0, 0)
    table = strategy.tables()["bandit"]
    assert tuple(table.columns) == UPDATE_COLUMNS
    assert table.time_s.tolist() == [10.0, 20.0, 30.0] and table.batch_size.tolist() == [3, 0, 1]
    assert table.pulls_legacy.tolist() == [1, 1, 2] and table.successes_candidate.tolist() == [1, 1, 1]
    assert table.routed_legacy.tolist() == [0, 0, 0] and table.candidate_share.isna().all()


def test_batched_conversion_labels_wait_for_the_update_tick():
    strategy, ctx = started(reward="conversion", update_interval_s=5.0)
    ctx.conversions = lambda request_id, model: request_id == 0
    strategy.on_outcome(0, "candidate", 1.0, OK, 30.0)  # waits for its label
    strategy.on_outcome(1, "legacy", 1.0, TIMEOUT, 30.0)
    strategy.on_label(0, "candidate", 3.0, 0.4, 1.0)
    assert strategy.trials == [0, 0]
    strategy.tick(5.0)
    assert strategy.trials == [1, 1] and strategy.successes == [0, 1]
    assert strategy.tables()["bandit"].batch_size.tolist() == [2]


def test_the_share_routed_since_each_update_is_in_the_table():
    strategy, ctx = started(seed=3, update_interval_s=1.0, min_legacy_share=0.0)
    routed = [ctx.arrive(0.1 * i, i)[1] for i in range(10)]
    strategy.tick(1.0)
    routed_after = [ctx.arrive(1.0 + 0.1 * i, i)[1] for i in range(4)]
    strategy.tick(2.0)
    table = strategy.tables()["bandit"]
    assert table.routed_candidate.tolist() == [routed.count("candidate"), routed_after.count("candidate")]
    assert table.candidate_share.tolist() == [routed.count("candidate") / 10, routed_after.count("candidate") / 4]


def _drive_batches(config, seed, n=6000):
    """Route the same traffic per request and per batch, with the same rewards and ticks in between.

    Returns the two strategies, their contexts and how many batches crossed the end of
    a block of uniforms.
    """
    pair = [started(seed=seed, **config) for _ in range(2)]
    (one, ctx_one), (batch, ctx_batch) = pair
    rng = np.random.default_rng(seed + 10)
    cuts = np.unique(np.concatenate([[0, n], rng.integers(0, n, 50), [1, 2, 3]]))
    features = np.zeros((n, 1))
    success_p = {"legacy": 0.5, "candidate": 0.8}
    crossed = 0
    for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        pos = batch._pos
        expected = [one.route(Request(i, 0.01 * i, i, features)) for i in range(lo, hi)]
        got = batch.route_batch(np.arange(lo, hi), 0.01 * np.arange(lo, hi), np.arange(lo, hi), features)
        assert isinstance(got, np.ndarray) and got.shape == (hi - lo,)
        assert got.tolist() == expected, (lo, hi)
        assert batch._pos == one._pos
        crossed += batch._pos <= pos
        for i, model in enumerate(expected):  # the same rewards reach both, updates between batches
            status = OK if rng.random() < success_p[model] else ERROR
            one.on_outcome(lo + i, model, 0.0, status, 30.0)
            batch.on_outcome(lo + i, model, 0.0, status, 30.0)
        if rng.random() < 0.5:
            one.tick(0.01 * hi)
            batch.tick(0.01 * hi)
    return one, ctx_one, batch, ctx_batch, crossed


def _assert_same_state(one, ctx_one, batch, ctx_batch):
    assert repr(one.summary()) == repr(batch.summary())  # repr: NaN equals NaN
    assert one.tables()["bandit"].equals(batch.tables()["bandit"])
    assert one.routed == batch.routed and one.trials == batch.trials
    assert ctx_one.rng.random() == ctx_batch.rng.random()  # the stream is at the same place


BATCH_CONFIGS = [
    {"algorithm": "thompson"},
    {"algorithm": "thompson", "min_legacy_share": 0.0, "prior_alpha": 0.5, "prior_beta": 0.5},
    {"algorithm": "thompson", "min_legacy_share": 0.6, "prior_alpha": 3.0, "prior_beta": 2.0},
    {"algorithm": "epsilon_greedy", "epsilon": 0.1},
    {"algorithm": "epsilon_greedy", "epsilon": 0.8, "min_legacy_share": 0.3},
    {"algorithm": "epsilon_greedy", "epsilon": 1.0, "min_legacy_share": 0.0},
    {"algorithm": "epsilon_greedy", "epsilon": 0.0, "min_legacy_share": 1.0},
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("config", BATCH_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_route_batch_routes_and_draws_as_route_does_request_by_request(config, seed):
    one, ctx_one, batch, ctx_batch, crossed = _drive_batches({"update_interval_s": 10.0, **config}, seed)
    assert crossed >= 2  # batches ran across the end of a block of uniforms
    assert 0 < one.updates
    _assert_same_state(one, ctx_one, batch, ctx_batch)


def test_route_batch_of_epsilon_greedy_takes_an_explore_coin_from_the_next_block():
    pair = [started(seed=5, algorithm="epsilon_greedy", epsilon=0.5, min_legacy_share=0.1,
                    update_interval_s=1.0) for _ in range(2)]
    (one, ctx_one), (batch, ctx_batch) = pair
    crafted = np.column_stack([np.tile([0.3, 0.8], BLOCK_ROWS // 2), np.zeros(BLOCK_ROWS)])  # every row explores
    for strategy in (one, batch):
        strategy._block, strategy._pos = crafted.copy(), BLOCK_ROWS - 3
    features = np.zeros((40, 1))
    # rows 1021 and 1023 start requests; 1023's coin is the next block's first number
    first = [one.route(Request(i, 0.0, i, features)) for i in range(2)]
    assert one._pos == 1 and one._block.shape == (BLOCK_ROWS, 2) and one._block[0, 1] != 0.0
    assert first[0] == "candidate"  # its coin, row 1022's first number, is 0.3 < 0.5
    assert batch.route_batch(np.arange(2), np.zeros(2), np.arange(2), features).tolist() == first
    assert batch._pos == 1
    rest = [one.route(Request(i, 0.0, i, features)) for i in range(2, 40)]
    assert batch.route_batch(np.arange(2, 40), np.zeros(38), np.arange(2, 40), features).tolist() == rest
    _assert_same_state(one, ctx_one, batch, ctx_batch)


def test_thompson_with_batched_updates_learns_the_better_arm_either_way():
    for success_p, better in (({"legacy": 0.6, "candidate": 0.9}, "candidate"),
                              ({"legacy": 0.9, "candidate": 0.3}, "legacy")):
        strategy, ctx = started(seed=4, update_interval_s=2.0)
        routed = []
        outcomes = np.random.default_rng(1)
        for i in range(6000):  # 50 requests per second, an update every 100 requests
            t = i * 0.02
            if i and i % 100 == 0:
                strategy.tick(t)
            request, model = ctx.arrive(t, i)
            strategy.on_outcome(i, model, t + 0.01, OK if outcomes.random() < success_p[model] else ERROR, 30.0)
            routed.append(model)
        late = np.array(routed[3000:])
        assert strategy.summary()["better_arm"] == better
        assert (late == better).mean() > (0.85 if better == "candidate" else 0.9)
        assert strategy.summary()["mean_batch_size"] == 100.0


class _Recording(Bandit):
    """A bandit that records the counts it routes each request with."""

    def __init__(self, config):
        super().__init__(config)
        self.seen = []

    def route(self, request):
        self.seen.append((request.time_s, *self.trials, *self.successes))
        return super().route(request)


def test_reference_run_applies_rewards_in_batches_of_rate_times_interval():
    scenario = workbench.load_scenario(scen("bandit_better_candidate")).with_overrides(
        {"duration_s": 600, "strategy.update_interval_s": 10})
    strategy = _Recording(scenario.strategy)
    r = workbench.run(scenario, seed=3, strategy=strategy, engine="reference")
    s = r.summary.strategy.to_dict()
    table = r.tables["bandit"]
    # 40 requests per second, 10 s between updates: 400 rewards per update (Poisson, sd 20 per update;
    # the mean of 60 updates has sd 2.6, so 12 is more than 4 sd)
    assert s["update_interval_s"] == 10.0 and s["updates"] == 60 == len(table)
    assert s["mean_batch_size"] == pytest.approx(400, abs=12)
    assert table.time_s.tolist() == [10.0 * (k + 1) for k in range(60)]
    # each update applies exactly the requests that finished since the previous one
    ends = r.requests.end_time_s.to_numpy()
    finished = np.histogram(ends, bins=np.concatenate([[-np.inf], table.time_s.to_numpy()]))[0]
    assert table.batch_size.tolist() == finished.tolist()
    assert s["pending_rewards"] == int((ends > 600).sum())
    assert (table.pulls_legacy + table.pulls_candidate).tolist() == np.cumsum(finished).tolist()
    # the counts a request is routed with change only at the update ticks
    seen = np.array(strategy.seen)
    interval = np.floor(seen[:, 0] / 10.0).astype(int)
    for k in np.unique(interval):
        counts = seen[interval == k, 1:]
        assert (counts == counts[0]).all()
        applied = [0, 0, 0, 0] if k == 0 else table.loc[k - 1, ["pulls_legacy", "pulls_candidate",
                                                                 "successes_legacy", "successes_candidate"]]
        assert counts[0].tolist() == list(applied)
    # the candidate answers within the SLO more often: the bandit still moves traffic to it
    assert s["better_arm"] == "candidate"
    assert table.candidate_share.iloc[-10:].mean() > 0.8
    assert s["routed_legacy"] + s["routed_candidate"] == len(r.requests)


def test_reference_run_with_batched_updates_moves_traffic_off_a_failing_candidate():
    r = workbench.run(scen("bandit_better_candidate"), seed=1, engine="reference", overrides={
        "duration_s": 300, "strategy.update_interval_s": 15, "models.candidate.error_rate": 0.5})
    s = r.summary.strategy.to_dict()
    assert s["better_arm"] == "legacy" and s["updates"] == 20
    assert r.tables["bandit"].candidate_share.iloc[-5:].mean() < 0.1


# ---------------------------------------------------------------------------------- several candidates
LAT = {"dist": "lognormal", "median_ms": 40, "p99_ms": 120}
THREE = ("legacy", "good", "poor")


def started3(seed=0, **table):
    strategy, _ = build({"kind": "bandit", "arms": ["good", "poor"], **table},
                        models={m: {"latency": LAT} for m in THREE})
    ctx = FakeContext(seed=seed, models=THREE)
    ctx.start(strategy)
    return strategy, ctx


@pytest.mark.parametrize("table", [{"algorithm": "thompson"}, {"algorithm": "epsilon_greedy", "epsilon": 0.1}],
                         ids=["thompson", "epsilon_greedy"])
def test_three_arms_allocation_moves_to_the_best_arm_and_keeps_the_guardrail(table):
    strategy, ctx = started3(seed=3, min_legacy_share=0.1, **table)
    routed = play(strategy, ctx, 6000, {"legacy": 0.5, "good": 0.9, "poor": 0.3})
    late = routed[3000:]
    assert (late == "good").mean() > 0.75
    assert stats.binomtest(int((late == "legacy").sum()), late.size, 0.1, alternative="less").pvalue > 0.001
    s = strategy.summary()
    assert s["better_arm"] == "good" and [s[f"routed_{m}"] for m in THREE] == [int((routed == m).sum()) for m in THREE]
    assert set(s) >= {f"reward_rate_{m}" for m in THREE}
    report = s["arm_comparison"]
    assert report["expected_shares"] is None and math.isnan(report["srm_p_value"]) and not report["srm_mismatch"]
    assert "adaptive" in report["srm_note"]
    assert [c["candidate"] for c in report["candidates"]] == ["good", "poor"]


def test_three_arms_exploration_coin_picks_each_arm_uniformly():
    strategy, _ = started3()
    u = np.random.default_rng(0).random(30_000)
    arms = strategy._coin_arms(u)
    assert arms.tolist()[:200] == [strategy._coin_arm(x) for x in u[:200].tolist()]
    assert stats.chisquare(np.bincount(arms, minlength=3)).pvalue > 0.001
    assert strategy._coin_arm(0.0) == 2 and strategy._coin_arm(0.999999) == 0  # two arms: candidate for u < 0.5


@pytest.mark.parametrize("config", [{"algorithm": "thompson"}, {"algorithm": "epsilon_greedy", "epsilon": 0.6}],
                         ids=["thompson", "epsilon_greedy"])
def test_three_arms_route_batch_equals_route_request_by_request(config):
    (one, ctx_one), (batch, ctx_batch) = (started3(seed=7, update_interval_s=5.0, **config) for _ in range(2))
    rng = np.random.default_rng(8)
    n = 5000
    cuts = np.unique(np.concatenate([[0, n], rng.integers(0, n, 40)])).tolist()
    features = np.zeros((n, 1))
    success_p = {"legacy": 0.5, "good": 0.8, "poor": 0.2}
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        expected = [one.route(Request(i, 0.01 * i, i, features)) for i in range(lo, hi)]
        got = batch.route_batch(np.arange(lo, hi), 0.01 * np.arange(lo, hi), np.arange(lo, hi), features)
        assert got.tolist() == expected
        for i, model in enumerate(expected):
            status = OK if rng.random() < success_p[model] else ERROR
            for s in (one, batch):
                s.on_outcome(lo + i, model, 0.01 * (lo + i) + 0.02, status, 30.0)
        for s in (one, batch):
            s.tick(0.01 * hi)
    assert repr(one.summary()) == repr(batch.summary())
    table = one.tables()["bandit"]
    assert table.equals(batch.tables()["bandit"])
    assert list(table.columns) == ["time_s", "batch_size", "pulls_legacy", "successes_legacy", "pulls_good",
                                   "successes_good", "pulls_poor", "successes_poor", "routed_legacy",
                                   "routed_good", "routed_poor", "candidate_share"]
    assert ctx_one.rng.random() == ctx_batch.rng.random()


def test_two_arm_bandit_keeps_its_table_columns_and_summary_fields():
    strategy, ctx = started(seed=1, update_interval_s=1.0)
    play(strategy, ctx, 200, {"legacy": 0.5, "candidate": 0.7})
    strategy.tick(5.0)
    assert tuple(strategy.tables()["bandit"].columns) == UPDATE_COLUMNS
    assert "arm_comparison" not in strategy.summary() and strategy.outcomes is None


def test_three_arm_bandit_run_reports_each_candidate_against_legacy():
    r = workbench.run({
        "name": "bandit3", "duration_s": 240, "seed": 4, "traffic": {"rate_per_s": 30},
        "models": {"legacy": {"latency": LAT}, "good": {"latency": LAT},
                   "poor": {"latency": LAT, "error_rate": 0.2}},
        "strategy": {"kind": "bandit", "arms": ["good", "poor"], "update_interval_s": 10},
    }, engine="fast")
    arms = r.summary.arms
    assert arms.expected_shares is None and arms.flagged == ("poor",)
    assert arms.counts == tuple(r.summary.models[m].requests for m in THREE)
