"""The interleaving strategy in the engine."""

from __future__ import annotations

import os

import pandas as pd

import workbench

SCEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios",
                    "interleaving_recommenders.toml")


def test_every_ok_request_has_one_credited_impression():
    r = workbench.run(SCEN, overrides={"duration_s": 300})
    imp = r.tables["interleaving"]
    ok = r.requests[r.requests.status == "ok"]
    assert list(imp.request_id) == list(ok.request_id)
    joined = imp.merge(r.requests[["request_id", "user_id"]], on="request_id", suffixes=("", "_req"))
    assert (joined.user_id == joined.user_id_req).all()
    assert imp["items"].map(len).eq(10).all()
    assert imp.teams.map(lambda t: set(t) <= {"a", "b"}).all()
    assert imp.winner.isin(["a", "b", "tie"]).all()
    # credit follows the clicks: a winner needs a click on its team's item
    for row in imp.head(300).itertuples():
        clicked = [row.teams[p] for p in row.clicked_positions]
        expected = "tie" if clicked.count("a") == clicked.count("b") else ("a" if clicked.count("a") > clicked.count("b") else "b")
        assert row.winner == expected
    s = r.summary.strategy.to_dict()
    assert s["wins_legacy"] + s["wins_candidate"] + s["ties"] == len(imp)


def test_interleaving_prefers_the_better_ranker_and_is_reproducible():
    r = workbench.run(SCEN, seed=0)
    s = r.summary.strategy.to_dict()
    assert s["ndcg_candidate"] > s["ndcg_legacy"]
    assert s["delta_ab"] < 0 and s["sign_test_p_value"] < 0.05
    # the user-level sign test counts each user once: more users prefer the candidate
    assert s["users_prefer_candidate"] > s["users_prefer_legacy"] and s["user_sign_test_p_value"] < 0.05
    again = workbench.run(SCEN, seed=0)
    pd.testing.assert_frame_equal(r.tables["interleaving"], again.tables["interleaving"])
