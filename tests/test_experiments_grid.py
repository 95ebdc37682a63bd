"""Sweep grids: every grid point validated once, as the runs see it; one rule for
which faults make a candidate bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.experiments.detection import candidate_fault_windows
from workbench.experiments.executors import run_point, run_task
from workbench.experiments.grid import point_scenarios, sweep_tasks
from workbench.scenario import ScenarioError, load_scenario

BAD = Path(__file__).resolve().parents[1] / "scenarios" / "progressive_bad_candidate.toml"


def test_point_scenarios_are_the_mapping_with_overrides_shared_by_seeds():
    base = load_scenario(BAD, overrides={"duration_s": 720})
    tasks, _ = sweep_tasks(3, {"faults[0].error_rate": [0.03, 0.08]})
    scenarios = point_scenarios(base, tasks)
    assert len(scenarios) == 6
    assert scenarios[0] is scenarios[1] is scenarios[2]
    assert scenarios[3] is scenarios[5] and scenarios[3] is not scenarios[0]
    for task, sc in zip(tasks, scenarios, strict=True):
        expected = load_scenario(base.to_mapping(), overrides=task.overrides)
        assert sc.to_mapping() == expected.to_mapping()


def test_an_invalid_point_names_the_base_file_and_the_field():
    base = load_scenario(BAD)
    tasks, _ = sweep_tasks(1, {"faults[0].error_rate": [0.03, 2.0]})
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.error_rate") as err:
        point_scenarios(base, tasks)
    assert str(err.value).startswith(f"{BAD}: ")


def test_run_task_is_run_point_on_the_validated_mapping():
    base = load_scenario(BAD, overrides={"duration_s": 480})
    tasks, _ = sweep_tasks([4], {"faults[0].error_rate": [0.08]})
    (point,) = point_scenarios(base, tasks)
    assert repr(run_task(base.to_mapping(), tasks[0].overrides, 4)) == repr(run_point(point, 4))


def test_candidate_faults_target_the_candidate_and_concept_drift_is_not_one():
    sc = load_scenario({
        "name": "faults", "duration_s": 900, "models": {"legacy": {}, "candidate": {}},
        "faults": [
            {"kind": "latency_spike", "target": "candidate", "start_s": 600, "multiplier": 3},
            {"kind": "outage", "target": "legacy", "start_s": 100, "duration_s": 50},
            {"kind": "concept_drift", "start_s": 200, "duration_s": 100, "offset": 1.0},
            {"kind": "data_drift", "feature": "x1", "start_s": 300, "shift": 1.0},
        ],
    })
    assert candidate_fault_windows(sc) == [(600.0, 900.0)]  # open-ended: clipped to the run
    # paired comparisons time detection from concept drift too (it degrades every model)
    assert candidate_fault_windows(sc, include_concept_drift=True) == [(600.0, 900.0), (200.0, 300.0)]
