"""The rollout planner (workbench.experiments.plan): answers known by construction.

The scenario: legacy and candidate both fail 2% of calls, the only gate fails an
analysis whose candidate error rate exceeds 8%, an analysis every second, steps of
10 s at 10, 25, 50 and 75%. The bad candidate fails 30% of its calls from 10 s on.

- With ``min_samples = 1`` and ``failure_limit = 0`` (the plan as given) the first
  analysis of the second step (at 25%: about 10 calls) fails on a single error, so a
  good candidate is rolled back with probability at least ``1 - exp(-10 * 0.02)``
  (0.18) at that analysis alone, and each step's first analyses add to it: that plan
  cannot keep false rollbacks under 10%. With ``min_samples = 100`` an analysis needs
  9 errors in 100 calls or more to fail (P = 0.02% at 100 calls).
- A 50-100 plan with 10 s steps is promoted by the analysis at 10 s, over calls
  before the fault: it never catches the bad candidate (detection exactly 0).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.experiments.grid import SweepError
from workbench.experiments.plan import (
    OBJECTIVES,
    RECHECK_SEED_OFFSET,
    PlanSpace,
    _good_scenario,
    pareto_mask,
    plan,
)
from workbench.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]
P_ERR, RATE, SECOND_WEIGHT = 0.02, 40.0, 0.25
SCENARIO = {
    "name": "plan-small",
    "duration_s": 75,
    "traffic": {"rate_per_s": RATE, "users": 5000},
    "models": {
        "legacy": {"error_rate": P_ERR, "replicas": 8, "timeout_ms": 2000},
        "candidate": {"error_rate": P_ERR, "replicas": 8, "timeout_ms": 2000},
    },
    "strategy": {
        "kind": "progressive",
        "steps": [{"weight": w, "pause_s": 10} for w in (10, 25, 50, 75)] + [{"weight": 100}],
        "interval_s": 1,
        "failure_limit": 0,
        "gates": [{"metric": "error_rate", "threshold": 0.08, "direction": "max", "min_samples": 1}],
    },
    # as given the fault is harmless (the candidate's own error rate); `bad` raises it
    "faults": [{"kind": "error_burst", "target": "candidate", "start_s": 10, "error_rate": P_ERR}],
}
BAD = "faults[0].error_rate=0.3"
MAX_FR, MIN_DET = 0.1, 0.9
SEEDS = 8
SPACE = PlanSpace(
    schedules=((10, 25, 50, 75, 100), (50, 100)),
    pauses_s=(10.0,),
    fine_pauses_s=(5.0, 10.0, 15.0),
    intervals_s=(1.0,),
    failure_limits=(0,),
    min_samples=(1, 100),
    judges=("threshold",),
    coarse_seeds=4,
    refine=1,
    confirm=1,
)
TINY = PlanSpace(schedules=((10, 25, 50, 75, 100),), pauses_s=(10.0,), fine_pauses_s=(10.0,), intervals_s=(1.0,),
                 failure_limits=(0,), min_samples=(100,), judges=("threshold",), coarse_seeds=3,
                 refine=1, confirm=1)


def _tiny(**kw):
    args = {"bad": BAD, "max_false_rollback": MAX_FR, "min_detection": MIN_DET, "seeds": 3,
            "recheck_seeds": 3, "space": TINY}
    return plan(SCENARIO, **{**args, **kw})


@pytest.fixture(scope="module")
def planned():
    return plan(SCENARIO, bad=BAD, max_false_rollback=MAX_FR, min_detection=MIN_DET, seeds=SEEDS,
                recheck_seeds=SEEDS, space=SPACE)


def _row(df: pd.DataFrame, **settings) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for k, v in settings.items():
        mask &= (df[k] == v).to_numpy()
    return df[mask]


def test_no_sample_floor_rolls_back_good_candidates(planned):
    # the plan as given: min_samples 1, failure_limit 0
    given = planned.candidates[planned.candidates["given"]].iloc[0]
    assert (given["min_samples"], given["failure_limit"], given["pause_s"]) == (1, 0, 10)
    assert given["steps"] == "10-25-50-75-100"
    first_analysis = float(stats.poisson.sf(0, RATE * SECOND_WEIGHT * 1.0 * P_ERR))  # P(>= 1 error)
    assert first_analysis == pytest.approx(0.1813, abs=1e-4)
    assert given["seeds"] == SEEDS  # the plan as given is always confirmed on every seed
    assert given["false_rollback_rate"] > MAX_FR
    assert given["false_rollback_rate_high"] >= first_analysis  # its interval covers the lower bound
    assert not given["feasible"]


def test_promoting_before_the_fault_never_catches_it(planned):
    c = planned.candidates
    rows = c[c["steps"] == "50-100"]
    assert len(rows) >= 1
    assert (rows["detection_rate"] == 0.0).all()
    assert not rows["feasible"].any()
    # promoted by the analysis at the end of the pause, or later when an analysis fails
    assert (rows["time_to_full_rollout_s"] >= rows["pause_s"]).all()


def test_recommendation_is_the_fastest_feasible_confirmed_plan(planned):
    c = planned.candidates
    rec = c[c["recommended"]]
    assert len(rec) == 1 and rec.iloc[0]["plan"] == planned.recommended["plan"]
    confirmed = c[c["stage"] == "confirm"]
    assert (confirmed["seeds"] == SEEDS).all()
    feasible = confirmed[confirmed["feasible"]]
    assert planned.feasible and len(feasible) >= 1
    assert rec.iloc[0]["stage"] == "confirm" and rec.iloc[0]["feasible"]
    assert rec.iloc[0]["time_to_full_rollout_s"] == feasible["time_to_full_rollout_s"].min()
    # the refine stage found what the screen could not: a sample floor of 100
    assert rec.iloc[0]["min_samples"] == 100
    assert planned.recommended["strategy"]["gates"][0]["min_samples"] == 100


def test_recommended_plan_meets_constraints_on_fresh_seeds(planned):
    r = planned.recheck
    assert r["seeds"] == SEEDS and r["first_seed"] == RECHECK_SEED_OFFSET
    assert r["false_rollback_rate"] <= MAX_FR and r["detection_rate"] >= MIN_DET
    assert planned.meets_constraints
    # Wilson bounds of the recheck's counts
    k = round(r["detection_rate"] * SEEDS)
    assert r["detection_rate_low"] < k / SEEDS <= r["detection_rate_high"] or k == SEEDS
    assert planned.certified == (r["false_rollback_rate_high"] <= MAX_FR and r["detection_rate_low"] >= MIN_DET)


def test_search_and_recheck_seeds_are_disjoint(planned):
    assert planned.search_seeds == tuple(range(SEEDS))
    assert planned.recheck_seeds == tuple(range(RECHECK_SEED_OFFSET, RECHECK_SEED_OFFSET + SEEDS))
    assert not set(planned.search_seeds) & set(planned.recheck_seeds)


def test_pareto_set_has_no_dominated_plan(planned):
    c = planned.candidates
    x = c[list(OBJECTIVES)].to_numpy(dtype=float)
    x[~np.isfinite(x)] = np.inf
    dominated = [any((x[j] <= x[i]).all() and (x[j] < x[i]).any() for j in range(len(x))) for i in range(len(x))]
    assert c["pareto"].tolist() == [not d for d in dominated]
    assert planned.pareto["plan"].tolist() == c.loc[c["pareto"], "plan"].tolist()
    assert len(planned.pareto) >= 1


def test_pareto_mask_known_answer():
    df = pd.DataFrame({"time_to_full_rollout_s": [60, 60, 30, 90, math.nan],
                       "false_rollback_rate": [0.0, 0.0, 0.2, 0.0, 0.0],
                       "blast_radius_users": [10, 10, 50, 5, 1]})
    # equal rows 0 and 1 both stay; 3 trades time for users; NaN time is worst but 1 user is best
    assert pareto_mask(df).tolist() == [True, True, True, True, True]
    df.loc[3, "blast_radius_users"] = 20
    assert pareto_mask(df).tolist() == [True, True, True, False, True]


# 50-100 promotes the bad candidate before its fault: those runs go on to the end;
# the others are settled before their horizon (rolled back, or a good one promoted)
EXACT = PlanSpace(schedules=((50, 100),), pauses_s=(10.0,), fine_pauses_s=(10.0,), intervals_s=(1.0,),
                  failure_limits=(0,), min_samples=(100,), judges=("threshold",), coarse_seeds=3,
                  refine=1, confirm=1)


@pytest.fixture(scope="module")
def early():
    return _tiny(space=EXACT)


def test_same_inputs_give_the_same_plan(early):
    again = _tiny(space=EXACT)
    pd.testing.assert_frame_equal(early.candidates, again.candidates)
    assert early.recommended == again.recommended and early.recheck == again.recheck


def test_early_stop_gives_the_figures_of_full_runs(early):
    full = _tiny(space=EXACT, early_stop=False)
    assert early.runs > full.runs  # the runs not settled early ran twice
    assert set(early.candidates["steps"]) == {"10-25-50-75-100", "50-100"}
    pd.testing.assert_frame_equal(early.candidates, full.candidates)
    assert early.recheck == full.recheck


def test_no_feasible_plan_names_the_binding_constraint():
    # the fault starts after every plan of the space has promoted: nothing can catch it
    p = _tiny(bad=["faults[0].error_rate=0.3", "faults[0].start_s=70"], early_stop=False)
    assert not p.feasible and p.binding == "detection"
    assert (p.candidates["detection_rate"] == 0).all()
    assert not p.meets_constraints
    assert "No plan meets the constraints (no plan catches" in p.summary()


def test_good_candidate_drops_only_candidate_faults():
    spike = {"kind": "latency_spike", "target": "legacy", "start_s": 50, "multiplier": 1.1}
    given = load_scenario({**SCENARIO, "faults": [*SCENARIO["faults"], spike]})
    good = _good_scenario(given)
    assert [f.target for f in good.faults] == ["legacy"]
    assert good.strategy == given.strategy


def test_bad_as_a_mapping_adds_a_fault():
    sc = {**SCENARIO, "faults": []}
    fault = {"kind": "error_burst", "target": "candidate", "start_s": 10, "error_rate": 0.3}
    p = plan(sc, bad={"faults": [fault]}, max_false_rollback=MAX_FR, min_detection=MIN_DET,
             seeds=3, recheck_seeds=3, space=TINY)
    assert p.recheck["detection_rate"] == 1.0
    assert p.scenario().faults == ()


def test_plan_text_toml_and_scenario(planned):
    text = planned.summary()
    rec = planned.recommended["plan"]
    assert f"Recommended ({rec}, the fastest plan that meets both constraints)" in text
    assert f"Recheck on {SEEDS} fresh seeds ({RECHECK_SEED_OFFSET}..{RECHECK_SEED_OFFSET + SEEDS - 1})" in text
    assert "-> meets the constraints on the fresh seeds" in text
    sc = planned.scenario()
    assert sc.strategy.model_dump(mode="json") == planned.recommended["strategy"]
    assert sc.faults == load_scenario(SCENARIO).faults  # the scenario as given, with the new strategy
    again = load_scenario(tomllib.loads(planned.to_toml()))
    assert again.to_mapping() == sc.to_mapping()


def test_to_argo_and_flagger_export_the_recommended_scenario(planned):
    rollouts = pytest.importorskip("workbench.rollouts")
    assert planned.to_argo() == rollouts.to_argo(planned.scenario())
    assert planned.to_flagger() == rollouts.to_flagger(planned.scenario())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bad": "faults[0].error_rate"}, "bad: expected PATH=VALUE"),
        ({"bad": []}, "bad: give at least one"),
        ({"bad": "strategy.interval_s=5"}, "bad: 'strategy.interval_s': the bad candidate keeps"),
        ({"bad": "faults[7].error_rate=0.3"}, "faults[7]: no such list element"),
        ({"bad": "faults[0].error_rate=3"}, "faults[0].error_rate"),
        ({"max_false_rollback": 1.0}, "max_false_rollback: must be a number in [0, 1)"),
        ({"min_detection": 0}, "min_detection: must be a number in (0, 1]"),
        ({"seeds": 1}, "seeds: must be an integer from 2"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ScenarioError) as info:
        plan(SCENARIO, **{"bad": BAD, **kwargs})
    assert message in str(info.value)


def test_bad_that_leaves_the_candidate_alone_is_refused():
    with pytest.raises(ScenarioError, match="bad: traffic.rate_per_s=41 does not change the candidate"):
        plan({**SCENARIO, "faults": []}, bad="traffic.rate_per_s=41", seeds=2, space=TINY)


def test_space_errors_are_sweep_errors():
    with pytest.raises(SweepError, match=r"space\.schedules\[0\]: weights must increase"):
        PlanSpace(schedules=((50, 25),))
    with pytest.raises(SweepError, match=r"space\.failure_limits\[0\]: must be an integer >= 0"):
        PlanSpace(failure_limits=(-1,))
    with pytest.raises(SweepError, match=r"space\.judges: must be a non-empty list"):
        PlanSpace(judges=())


def test_a_non_progressive_scenario_is_refused(tmp_path):
    path = tmp_path / "canary.toml"
    path.write_text('name = "c"\nduration_s = 60\n[models.legacy]\n[models.candidate]\n'
                    '[strategy]\nkind = "canary"\n')
    with pytest.raises(ScenarioError, match=r"canary\.toml: strategy\.kind: the planner needs a 'progressive'"):
        plan(path, bad="models.candidate.error_rate=0.5")


def test_steps_with_inline_analysis_or_a_manual_pause_are_refused():
    template = {"metrics": [{"name": "er", "measure": "error_rate", "failure_condition": "result[0] > 0.1"}]}
    for step in ({"weight": 10, "analysis": ["t"]}, {"weight": 10, "manual": True}):
        strategy = {**SCENARIO["strategy"], "steps": [step, {"weight": 100}], "gates": [],
                    "analysis_templates": {"t": template}}
        with pytest.raises(ScenarioError, match=r"strategy\.steps\[0\]: the planner proposes ladders"):
            plan({**SCENARIO, "strategy": strategy}, bad=BAD, seeds=2, space=TINY)
