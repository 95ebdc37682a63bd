"""Canary: a stable, monotone user cohort (or a random share of requests), ramped on a schedule."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from strategy_fakes import FakeContext, build

import workbench
from workbench.strategies import Cohort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def started(table, seed=0):
    strategy, _ = build(table)
    ctx = FakeContext(seed=seed)
    ctx.start(strategy)
    return strategy, ctx


def test_canary_cohort_is_stable_monotone_and_matches_the_weight():
    cohort = Cohort("salt-1")
    users = range(20000)
    at5 = {u for u in users if cohort.contains(u, 5)}
    at10 = {u for u in users if cohort.contains(u, 10)}
    assert at5 <= at10
    for k, w in ((len(at5), 0.05), (len(at10), 0.10)):
        assert stats.binomtest(k, 20000, w).pvalue > 0.001
    # basis-point granularity
    assert 0 < len({u for u in users if cohort.contains(u, 0.05)}) < len({u for u in users if cohort.contains(u, 0.1)})


def test_canary_cohort_same_across_processes_and_runs(tmp_path):
    code = (
        "import sys, json; from workbench.strategies import Cohort;"
        "c = Cohort('canary-2026-11');"
        "print(json.dumps([u for u in range(5000) if c.contains(u, 5.0)]))"
    )
    outs = []
    for hs in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        outs.append(json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                              capture_output=True, text=True).stdout))
    assert outs[0] == outs[1] and len(outs[0]) > 0
    # and in the engine: users routed to the candidate at 5% are exactly the cohort
    r = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1250})
    req = r.requests[r.requests.time_s < 600]
    cand_users = set(req.loc[req.model == "candidate", "user_id"])
    c = Cohort("canary-2026-11")
    assert cand_users == {u for u in set(req.user_id) if c.contains(u, 5.0)}
    # ramping up moves users from legacy to the candidate; without a ramp nobody sees both
    assert r.summary.strategy.get("share_users_saw_both") > 0
    flat = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1250, "strategy.schedule": []})
    assert flat.summary.strategy.get("share_users_saw_both") == 0.0


def test_canary_ramp_keeps_users_and_per_request_mixes():
    r = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1300})
    req = r.requests
    early = set(req.loc[(req.time_s < 600) & (req.model == "candidate"), "user_id"])
    late_legacy = set(req.loc[(req.time_s >= 1200) & (req.model == "legacy"), "user_id"])
    assert early and not (early & late_legacy)
    steps = r.events[r.events.kind == "step"]
    assert list(steps.time_s) == [600.0, 1200.0]
    mixed = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1250, "strategy.split": "requests"})
    assert mixed.summary.strategy.get("share_users_saw_both") > 0.05


def test_cohort_canary_routes_exactly_the_cohort_and_users_keep_their_model():
    strategy, ctx = started({"kind": "canary", "candidate_fraction": 0.1, "salt": "c-1", "split": "users"})
    users = np.random.default_rng(0).integers(0, 3000, 15_000).tolist()
    cohort = Cohort("c-1")
    seen: dict[int, set] = {}
    for i, u in enumerate(users):
        _, model = ctx.arrive(i * 0.1, u)
        assert model == ("candidate" if cohort.contains(u, 10.0) else "legacy")
        seen.setdefault(u, set()).add(model)
    assert all(len(v) == 1 for v in seen.values())
    s = strategy.summary()
    assert s["users"] == len(seen) and s["users_saw_both"] == 0 and s["share_users_saw_both"] == 0.0
    assert s["final_weight"] == 10.0 and s["per_request"] is False
    assert strategy.candidate_weight() == 10.0
    in_cohort = sum(cohort.contains(u, 10.0) for u in seen)
    assert stats.binomtest(in_cohort, len(seen), 0.1).pvalue > 0.001
    assert ctx.events == []  # no schedule: no step events


def test_per_request_canary_randomises_requests_so_users_see_both():
    strategy, ctx = started({"kind": "canary", "candidate_fraction": 0.2, "per_request": True}, seed=5)
    n = 20_000
    users = np.arange(n) % 500
    routed = np.array([ctx.arrive(i * 0.1, int(u))[1] for i, u in enumerate(users)])
    k = int((routed == "candidate").sum())
    assert stats.binomtest(k, n, 0.2).pvalue > 0.001
    # known answer: the candidate's when the request's uniform (in percent) is below the weight
    expected = np.where(np.random.default_rng(5).random(n) * 100.0 < 20.0, "candidate", "legacy")
    np.testing.assert_array_equal(routed, expected)
    s = strategy.summary()
    assert s["per_request"] is True and s["users"] == 500
    assert s["share_users_saw_both"] > 0.95  # 40 requests each at 20%: almost everyone sees both


def test_schedule_steps_at_their_times_and_only_when_the_weight_changes():
    schedule = [{"at_s": 0, "weight": 5}, {"at_s": 600, "weight": 10}, {"at_s": 900, "weight": 10},
                {"at_s": 1200, "weight": 50}]
    strategy, ctx = started({"kind": "canary", "candidate_fraction": 0.05, "schedule": schedule, "salt": "r", "split": "users"})
    # the point at 0 s is announced at start even though the weight does not change
    assert [(e.time_s, e.details["weight"]) for e in ctx.of_kind("step")] == [(0.0, 5.0)]
    cohort = Cohort("r")
    users = list(range(4000))
    at5 = {u for u in users if ctx.arrive(100.0, u)[1] == "candidate"}
    assert at5 == {u for u in users if cohort.contains(u, 5.0)}
    # the first request after 600 s applies the ramp; the event carries the ramp's time
    at10 = {u for u in users if ctx.arrive(650.0, u)[1] == "candidate"}
    assert at5 < at10 and at10 == {u for u in users if cohort.contains(u, 10.0)}
    assert strategy.candidate_weight() == 10.0
    # a request after 1200 s passes two points at once: 900 s (no change, no event) and 1200 s
    ctx.arrive(1300.0, 1)
    steps = ctx.of_kind("step")
    assert [(e.time_s, e.details["weight"]) for e in steps] == [(0.0, 5.0), (600.0, 10.0), (1200.0, 50.0)]
    assert steps[1].reason == "canary weight 5% -> 10% (5.17% of 4000 requests went to the candidate at 5%)"
    assert steps[1].model == "candidate" and steps[1].details["requests"] == 4000
    assert strategy.summary()["final_weight"] == 50.0
    # ramped users saw legacy first, then the candidate
    user_1_moved = 1 not in at10 and cohort.contains(1, 50.0)
    assert strategy.summary()["users_saw_both"] == len(at10 - at5) + user_1_moved


def test_canary_summary_without_traffic():
    strategy, _ = started({"kind": "canary"})
    s = strategy.summary()
    assert s["users"] == 0 and math.isnan(s["share_users_saw_both"]) and s["final_weight"] == 5.0


def test_canary_schedule_must_increase():
    with pytest.raises(workbench.ScenarioError, match=r"strategy.schedule\[1\].at_s"):
        build({"kind": "canary", "schedule": [{"at_s": 10, "weight": 5}, {"at_s": 10, "weight": 10}]})


def test_a_ramp_reports_the_share_of_requests_each_weight_sent():
    r = workbench.run(scen("canary_latency_spike"), overrides={"duration_s": 1250, "strategy.split": "requests"})
    steps = r.events[r.events.kind == "step"]
    ramp = steps[steps.time_s > 0]
    assert ramp.time_s.tolist() == [600.0, 1200.0]
    # the request split sends its weight of requests: 5% until minute 10, then 10%
    for previous, (_, row) in zip((5.0, 10.0), ramp.iterrows(), strict=True):
        d = json.loads(row["details"])
        sd = 100 * (previous / 100 * (1 - previous / 100) / d["requests"]) ** 0.5
        assert abs(d["realised_share"] - previous) < 3 * sd
        assert f"went to the candidate at {previous:g}%" in row["reason"]
