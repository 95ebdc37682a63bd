"""workbench.compare: the single-seed table, its KPIs, and how seed= and seeds= go together."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.experiments.compare import strategy_kpis, strategy_tables
from workbench.experiments.risk import RiskComparison
from workbench.scenario import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "scenarios" / "progressive_bad_candidate.toml"
SHORT = {"duration_s": 720}  # the fault starts at 420 s; the progressive rollout rolls back by 540 s
TINY = {"name": "tiny", "duration_s": 40, "traffic": {"rate_per_s": 20, "users": 200},
        "models": {"legacy": {}, "candidate": {}}}

# compare(BAD, ["canary", "progressive", "shadow"], seed=5, overrides=SHORT), as the
# single-seed table has always been (bad_users_candidate is the one column added since)
RECORDED = {  # canary and progressive weights are shares of requests (the default split)
    "strategy": ["canary", "progressive", "shadow"], "kind": ["canary", "progressive", "shadow"],
    "seed": [5, 5, 5], "requests": [28763, 28763, 28763], "candidate_requests": [1412, 3019, 0],
    "candidate_users": [591, 1035, 0], "bad_requests_legacy": [57, 54, 60],
    "bad_requests_candidate": [50, 82, 0], "errors_candidate": [50, 82, 0],
    "timeouts_candidate": [0, 0, 0], "slo_breaches_candidate": [0, 0, 0],
    "time_to_detect_s": [math.nan, 60.0, math.nan], "time_to_rollback_s": [math.nan, 120.0, math.nan],
    "rollback_time_s": [math.nan, 540.0, math.nan], "time_to_full_rollout_s": [math.nan] * 3,
    "time_degraded_s": [300.0, 120.0, 0.0], "final_state": ["running", "rolled_back", "running"],
    "prediction_mae": [0.2510844527968575, 0.24875093311888044, 0.2525511790514822],
    "conversion_rate": [0.07697389006710009, 0.07721725828321108, 0.07700865695511595],
    "error_rate": [0.003720057017696346, 0.004728296770156104, 0.002086013280951222],
    "latency_p99_ms": [119.41349508704403, 118.9718969320539, 119.78873652888302],
    "shadow_agreement": [math.nan, math.nan, 0.7998485613326602],
}


@pytest.fixture(scope="module")
def single():
    return workbench.compare(BAD, ["canary", "progressive", "shadow"], seed=5, overrides=SHORT,
                             return_results=True)


def test_seed_gives_the_recorded_single_seed_table(single):
    table, _ = single
    assert isinstance(table, pd.DataFrame)
    expected = pd.DataFrame(RECORDED)
    pd.testing.assert_frame_equal(table.drop(columns="bad_users_candidate"), expected, check_dtype=False)
    assert list(table.columns).index("bad_users_candidate") == list(table.columns).index(
        "bad_requests_candidate") + 1


def test_bad_users_candidate_counts_users_with_a_bad_candidate_request(single):
    _, results = single
    for label, result in results.items():
        req = result.requests
        bad = ((req["status"] != "ok") | req["slo_breach"]) & (req["model"] == "candidate")
        row = strategy_kpis(result, label)
        assert row["bad_users_candidate"] == req.loc[bad, "user_id"].nunique()
        assert row["bad_users_candidate"] <= min(row["bad_requests_candidate"], row["candidate_users"])


def test_every_strategy_sees_the_same_arrivals_for_a_seed(single):
    _, results = single
    first, *others = results.values()
    for other in others:
        np.testing.assert_array_equal(other.requests["time_s"], first.requests["time_s"])
        np.testing.assert_array_equal(other.requests["user_id"], first.requests["user_id"])


def test_seeds_rows_are_the_single_seed_tables_paired_by_seed():
    risk = workbench.compare(TINY, ["ab", "canary", "shadow"], seeds=[3, 8])
    assert isinstance(risk, RiskComparison)
    assert risk.seeds == (3, 8) and risk.strategies == ("ab", "canary", "shadow")
    assert list(risk.runs["strategy"]) == ["ab", "ab", "canary", "canary", "shadow", "shadow"]
    for seed in risk.seeds:
        one = workbench.compare(TINY, ["ab", "canary", "shadow"], seed=seed)
        rows = risk.runs[risk.runs["seed"] == seed].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows[list(one.columns)], one, check_dtype=False)
        assert rows["requests"].nunique() == 1  # paired: same arrivals for every strategy
    assert set(risk.runs["candidate_faults"]) == {0}


def test_strategy_tables_labels_and_configs():
    sc = workbench.load_scenario({**TINY, "strategy": {"kind": "canary", "candidate_fraction": 0.3}})
    tables = strategy_tables(sc, ["canary", "ab", {"kind": "canary", "candidate_fraction": 0.1,
                                                    "label": "c10"}])
    assert [label for label, _ in tables] == ["canary", "ab", "c10"]
    assert tables[0][1]["candidate_fraction"] == 0.3  # the scenario's own canary
    assert "label" not in tables[2][1] and tables[2][1]["candidate_fraction"] == 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": 1, "seeds": 2}, "not both"),
        ({"seeds": 2, "return_results": True}, "return_results"),
        ({"seed": 1, "workers": 2}, "only with seeds="),
        ({"scheduler": "tcp://127.0.0.1:1"}, "only with seeds="),
        ({"seeds": 0}, "seeds: must be at least 1"),
        ({"seeds": [1, 1]}, "duplicates"),
        ({"seeds": 2, "strategies": []}, "at least one strategy"),
        ({"seeds": 2, "strategies": ["ab", {"kind": "ab", "candidate_fraction": 0.1}]}, "more than once"),
        ({"seeds": 2, "strategies": ["nope"]}, "unknown strategy"),
    ],
)
def test_arguments_that_do_not_go_together(kwargs, message):
    kwargs = {"strategies": ["ab"], **kwargs}
    with pytest.raises(ScenarioError, match=message):
        workbench.compare(TINY, **kwargs)
