"""Bandit routing: allocation moves to the better arm, a legacy guardrail, rewards, regret."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats
from strategy_fakes import FakeContext, build

import workbench
from workbench.strategies import ERROR, OK, TIMEOUT

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
