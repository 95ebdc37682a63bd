"""Strategies side by side: paired comparisons, their KPIs, and strategy settings named in errors.

Each strategy's own behaviour is tested in ``test_strategies_<module>.py``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import workbench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def test_compare_is_paired():
    table, results = workbench.compare(scen("progressive_bad_candidate"), ["ab", "canary", "progressive", "shadow", "blue_green"],
                                       overrides={"duration_s": 900}, return_results=True)
    assert list(table.strategy) == ["ab", "canary", "progressive", "shadow", "blue_green"]
    first = next(iter(results.values())).requests
    for res in results.values():
        np.testing.assert_array_equal(res.requests.time_s, first.time_s)
        np.testing.assert_array_equal(res.requests.user_id, first.user_id)
    row = table.set_index("strategy").loc["progressive"]
    assert row.final_state == "rolled_back" and row.time_to_detect_s > 0
    assert table.set_index("strategy").loc["shadow", "candidate_requests"] == 0


@pytest.mark.parametrize(
    "strategy,path",
    [
        ({"kind": "progressive", "steps": [{"weight": 25, "pause_s": 60}, {"weight": 5}]}, "strategy.steps[1].weight"),
        ({"kind": "progressive", "steps": [{"weight": 150}]}, "strategy.steps[0].weight"),
        ({"kind": "progressiv"}, "strategy.kind"),
        ({"kind": "canary", "candidate_fraction": 1.5}, "strategy.candidate_fraction"),
        ({"kind": "progressive", "steps": [{"weight": 5}, {"weight": 5}]}, "strategy.steps[0].pause_s"),
    ],
)
def test_bad_strategy_parameters_name_the_field(strategy, path):
    with pytest.raises(workbench.ScenarioError) as err:
        workbench.load_scenario(scen("ab_test"), overrides={"strategy": strategy})
    assert path in str(err.value) and "ab_test.toml" in str(err.value)


def test_compare_kpis_measure_from_the_fault_and_count_overlaps_once():
    from workbench.experiments import strategy_kpis

    # two overlapping candidate faults: degraded time is their union while the candidate serves
    r = workbench.run(scen("error_burst"), overrides={"faults": [
        {"kind": "error_burst", "target": "candidate", "start_s": 300, "duration_s": 200, "error_rate": 0.1},
        {"kind": "latency_spike", "target": "candidate", "start_s": 400, "duration_s": 200, "multiplier": 2.0}]})
    assert strategy_kpis(r)["time_degraded_s"] == pytest.approx(300.0)
    # detection counts monitor alerts, not only failed gates
    spike = workbench.run(scen("latency_spike_rollback"), overrides={"duration_s": 900})
    row = strategy_kpis(spike)
    assert 0 < row["time_to_detect_s"] < row["time_to_rollback_s"] <= 90
    # a rollback before the fault is no reaction to it: no time to rollback, only the time
    early = workbench.run(scen("progressive_bad_candidate"), overrides={
        "duration_s": 900, "strategy.gates": [{"metric": "latency_p99_ms", "threshold": 1.0, "min_samples": 20}]})
    kpi = strategy_kpis(early)
    assert kpi["rollback_time_s"] < 420  # the fault starts at 420 s
    assert math.isnan(kpi["time_to_rollback_s"]) and math.isnan(kpi["time_to_detect_s"])
