"""Interleaving as a strategy: every request to legacy's stack, one credited impression per ok answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from strategy_fakes import FakeContext, build

from workbench.interleaving import CascadeModel, Recommender, click_model, make_catalogue
from workbench.interleaving.evaluation import simulate_impression
from workbench.strategies import ERROR, OK, TIMEOUT

# clicks every item of grade 3 or 4 and never stops: impressions credited without chance
CLICK_RELEVANT = CascadeModel(click_prob=(0.0, 0.0, 0.0, 1.0, 1.0), stop_prob=(0.0,) * 5)


def started(seed=0, users=200, **table):
    config = {"kind": "interleaving", "n_items": 120, "k": 8, "catalogue_seed": 3, **table}
    strategy, _ = build(config, traffic={"users": users})
    ctx = FakeContext(seed=seed)
    ctx.start(strategy)
    return strategy, ctx


def serve(strategy, ctx, n, status=OK, users=200):
    for i in range(n):
        request, model = ctx.arrive(i * 0.1, i % users)
        assert model == "legacy"
        strategy.on_outcome(request.request_id, model, i * 0.1 + 0.05, status, 30.0)


def test_routes_everything_to_legacy_and_credits_only_ok_answers():
    strategy, ctx = started()
    serve(strategy, ctx, 50, status=ERROR)
    serve(strategy, ctx, 50, status=TIMEOUT)
    assert strategy.rows == []
    strategy.on_outcome(10_000, "legacy", 1.0, OK, 30.0)  # never routed: ignored
    assert strategy.rows == []
    serve(strategy, ctx, 40)
    assert len(strategy.rows) == 40 and strategy.candidate_weight() == 0.0
    frame = strategy.tables()["interleaving"]
    assert list(frame.columns) == ["request_id", "time_s", "user_id", "method", "items", "teams",
                                   "clicked_positions", "winner"]
    assert set(frame.winner) <= {"a", "b", "tie"} and (frame.method == "team_draft").all()


def test_impressions_are_the_evaluation_modules_with_the_strategys_stream():
    strategy, ctx = started(seed=21, method="balanced", click_model="informational")
    serve(strategy, ctx, 60)
    # rebuild the rankers from the catalogue seed and replay the stream
    cfg = strategy.config
    seeds = np.random.SeedSequence(cfg.catalogue_seed).spawn(3)
    cat = make_catalogue(n_users=200, n_items=cfg.n_items, rng=np.random.default_rng(seeds[0]))
    legacy = Recommender(cat, cfg.legacy_noise_sd, rng=np.random.default_rng(seeds[1]))
    candidate = Recommender(cat, cfg.candidate_noise_sd, rng=np.random.default_rng(seeds[2]))
    rng = np.random.default_rng(21)
    for row in strategy.rows:
        request_id, _, user, method, items, teams, clicked, winner = row
        imp = simulate_impression(cat, user, legacy, candidate, "balanced", click_model("informational"), 8, rng)
        assert (request_id % 200, method, items, teams, clicked, winner) == (
            user, "balanced", list(imp.items), list(imp.teams), list(imp.clicked_positions), imp.winner)


def test_winners_follow_clicks_with_a_deterministic_click_model():
    strategy, ctx = started(legacy_noise_sd=3.0, candidate_noise_sd=0.0)
    strategy.clicks = CLICK_RELEVANT
    serve(strategy, ctx, 400)
    grades = strategy.catalogue.grades
    for _, _, user, _, items, teams, clicked, winner in strategy.rows:
        relevant = [j for j, item in enumerate(items) if grades[user, item] >= 3]
        assert list(clicked) == relevant
        a, b = sum(teams[j] == "a" for j in relevant), sum(teams[j] == "b" for j in relevant)
        assert winner == ("a" if a > b else "b" if b > a else "tie")
    s = strategy.summary()
    assert s["impressions"] == 400 and s["wins_legacy"] + s["wins_candidate"] + s["ties"] == 400
    # the candidate ranks by true relevance: it wins clearly more often
    assert s["wins_candidate"] > 2 * s["wins_legacy"]
    assert s["delta_ab"] == pytest.approx((s["wins_legacy"] + 0.5 * s["ties"]) / 400 - 0.5)
    expected_p = stats.binomtest(s["wins_legacy"], s["wins_legacy"] + s["wins_candidate"], 0.5).pvalue
    assert s["sign_test_p_value"] == pytest.approx(expected_p)
    assert s["users_prefer_candidate"] > s["users_prefer_legacy"]
    low, high = s["delta_ci"]
    assert low <= s["delta_ab"] <= high and high < 0
    assert s["ndcg_candidate"] > s["ndcg_legacy"]


def test_the_table_is_ordered_by_request_even_when_answers_finish_out_of_order():
    strategy, ctx = started()
    requests = [ctx.arrive(i * 0.1, i)[0] for i in range(20)]
    for request in reversed(requests):
        strategy.on_outcome(request.request_id, "legacy", 5.0, OK, 30.0)
    frame = strategy.tables()["interleaving"]
    assert list(frame.request_id) == list(range(20))


def test_summary_without_impressions():
    strategy, _ = started()
    s = strategy.summary()
    assert s["impressions"] == 0 and math.isnan(s["delta_ab"]) and s["delta_ci"] is None
    assert s["users_prefer_legacy"] == s["users_prefer_candidate"] == 0
    assert strategy.tables()["interleaving"].empty
