"""The playground's widget-state -> overrides mapping, and the panel driven without a browser.

Known answers: each control lands on its dotted path with its value; a panel opened on
a scenario file runs exactly that file (round trip); a disabled fault is no fault; every
produced override validates; and a latency spike set in the panel multiplies the
candidate's median latency by the multiplier inside the window (lognormal service time,
low utilisation: the median of ``m * S`` is ``m`` times the median of ``S``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import workbench
from workbench.widgets import (
    CONTROLS,
    STRATEGY_KINDS,
    compare_specs,
    find_scenarios,
    state_from_scenario,
    state_to_overrides,
    strategy_table,
)

SCENARIO_FILES = find_scenarios()


def _load(scenarios_dir, name):
    return workbench.load_scenario(scenarios_dir / f"{name}.toml")


@pytest.fixture(scope="module")
def canary(scenarios_dir):
    return _load(scenarios_dir, "canary_latency_spike")


@pytest.fixture(scope="module")
def progressive(scenarios_dir):
    return _load(scenarios_dir, "progressive_bad_candidate")


def test_scenarios_found_next_to_the_package(scenarios_dir):
    assert SCENARIO_FILES and all(p.parent == scenarios_dir for p in SCENARIO_FILES)
    assert {"canary_latency_spike", "baseline", "progressive_bad_candidate"} <= {p.stem for p in SCENARIO_FILES}
    assert find_scenarios(scenarios_dir) == SCENARIO_FILES  # a scenarios/ directory given directly


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_round_trip_runs_the_file_unchanged(path):
    sc = workbench.load_scenario(path)
    state = state_from_scenario(sc)
    assert set(state) == {c.key for c in CONTROLS}
    again = sc.with_overrides(state_to_overrides(state, sc))
    assert again.to_mapping() == sc.to_mapping()


def test_general_controls_map_to_their_paths(canary):
    state = state_from_scenario(canary) | {"duration_s": 1800.0, "seed": 42, "rate_per_s": 20.0,
                                            "candidate_noise": 0.7, "candidate_median_ms": 70.0}
    ov = state_to_overrides(state, canary)
    assert ov["duration_s"] == 1800.0 and ov["seed"] == 42 and ov["traffic.rate_per_s"] == 20.0
    assert ov["models.candidate.noise"] == 0.7
    # lognormal 35/100 ms scaled to a 70 ms median keeps its shape: p99 200 ms
    assert ov["models.candidate.latency.median_ms"] == pytest.approx(70.0)
    assert ov["models.candidate.latency.p99_ms"] == pytest.approx(200.0)
    sc = canary.with_overrides(ov)
    assert sc.models["candidate"].latency.sigma == pytest.approx(canary.models["candidate"].latency.sigma)
    assert (sc.duration_s, sc.seed, sc.traffic.rate_per_s) == (1800.0, 42, 20.0)
    # a fault starting after the end is an error naming the field, not silently dropped
    with pytest.raises(ValueError, match=r"faults\[0\]\.start_s"):
        canary.with_overrides(state_to_overrides(state | {"duration_s": 900.0}, canary))


def test_strategy_parameters_map_to_the_strategy_table(canary):
    base = state_from_scenario(canary)
    ab = strategy_table(base | {"strategy": "ab", "ab_candidate_fraction": 0.3, "ab_sticky": False}, canary)
    assert ab == {"kind": "ab", "candidate_fraction": 0.3, "sticky": False}  # DEFAULT_STRATEGIES + panel
    can = state_to_overrides(base | {"canary_candidate_fraction": 0.2}, canary)["strategy"]
    assert can["candidate_fraction"] == 0.2
    assert can["schedule"] == [{"at_s": 600.0, "weight": 10.0}, {"at_s": 1200.0, "weight": 25.0}]  # kept
    assert can["salt"] == "canary-2026-11"
    sh = strategy_table(base | {"strategy": "shadow", "shadow_mirror_fraction": 0.5}, canary)
    assert sh == {"kind": "shadow", "mirror_fraction": 0.5}
    bg = strategy_table(base | {"strategy": "blue_green", "blue_green_switch_s": 600.0}, canary)
    assert bg["switch_s"] == 600.0 and bg["gates"]  # DEFAULT_STRATEGIES' gates kept
    bandit = strategy_table(base | {"strategy": "bandit", "bandit_algorithm": "epsilon_greedy",
                                    "bandit_min_legacy_share": 0.2}, canary)
    assert bandit == {"kind": "bandit", "algorithm": "epsilon_greedy", "min_legacy_share": 0.2}


@pytest.mark.parametrize(
    ("first", "weights"),
    [(10.0, [10.0, 25.0, 50.0, 100.0]), (30.0, [30.0, 50.0, 100.0]), (50.0, [50.0, 100.0])],
)
def test_progressive_first_step_pause_interval_failure_limit(progressive, first, weights):
    state = state_from_scenario(progressive) | {
        "progressive_first_weight": first, "progressive_pause_s": 120.0,
        "progressive_interval_s": 30.0, "progressive_failure_limit": 2}
    table = state_to_overrides(state, progressive)["strategy"]
    assert [s["weight"] for s in table["steps"]] == weights
    assert [s.get("pause_s") for s in table["steps"]] == [120.0] * (len(weights) - 1) + [None]
    assert table["interval_s"] == 30.0 and table["failure_limit"] == 2
    assert table["gates"] == progressive.strategy.model_dump(mode="json")["gates"]  # the file's gates
    assert progressive.with_overrides({"strategy": table}).strategy.steps[0].weight == first


def test_fault_controls_map_to_faults(canary):
    state = state_from_scenario(canary) | {
        "spike_start_s": 300.0, "spike_duration_s": 0.0, "spike_multiplier": 6.0,
        "burst_enabled": True, "burst_start_s": 400.0, "burst_duration_s": 120.0, "burst_error_rate": 0.25,
        "outage_enabled": True, "outage_start_s": 500.0, "outage_duration_s": 60.0,
        "data_drift_enabled": True, "data_drift_feature": "x2", "data_drift_start_s": 600.0,
        "data_drift_shift": -1.5, "data_drift_ramp_s": 120.0,
        "concept_drift_enabled": True, "concept_drift_feature": "x3", "concept_drift_start_s": 700.0,
        "concept_drift_weight_shift": 0.4,
    }
    faults = state_to_overrides(state, canary)["faults"]
    assert faults == [
        {"kind": "latency_spike", "start_s": 300.0, "duration_s": None, "target": "candidate",
         "multiplier": 6.0, "add_ms": 0.0},  # the file's spike, now open-ended
        {"kind": "error_burst", "start_s": 400.0, "target": "candidate", "duration_s": 120.0, "error_rate": 0.25},
        {"kind": "outage", "start_s": 500.0, "target": "candidate", "duration_s": 60.0},
        {"kind": "data_drift", "start_s": 600.0, "feature": "x2", "shift": -1.5, "ramp_s": 120.0},
        {"kind": "concept_drift", "start_s": 700.0, "weight_shift": {"x3": 0.4}},
    ]
    sc = canary.with_overrides({"faults": faults})
    assert [f.kind for f in sc.faults] == ["latency_spike", "error_burst", "outage", "data_drift", "concept_drift"]
    assert math.isinf(sc.faults[0].end_s)


def test_disabled_faults_produce_no_fault(canary, scenarios_dir):
    off = {f"{p}_enabled": False for p in ("spike", "burst", "outage", "data_drift", "concept_drift")}
    assert state_to_overrides(state_from_scenario(canary) | off, canary)["faults"] == []
    # a spike that multiplies by 1 and adds nothing is no fault either
    assert state_to_overrides(state_from_scenario(canary) | {"spike_multiplier": 1.0}, canary)["faults"] == []
    # faults no control stands for (outages of shared services) stay as the file has them
    outage = _load(scenarios_dir, "feature_store_outage")
    kept = state_to_overrides(state_from_scenario(outage) | off, outage)["faults"]
    assert [(f["kind"], f["target"]) for f in kept] == [("outage", "feature_store"), ("outage", "embedding_service")]
    # the file's data drift keeps its scale when the panel moves its shift
    drift = _load(scenarios_dir, "data_drift")
    f = state_to_overrides(state_from_scenario(drift) | {"data_drift_shift": 0.5}, drift)["faults"][0]
    assert (f["shift"], f["scale"], f["feature"]) == (0.5, 1.5, "x2")


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_strategy_with_every_fault_validates(path):
    sc = workbench.load_scenario(path)
    on = {f"{p}_enabled": True for p in ("spike", "burst", "outage", "data_drift", "concept_drift")}
    for kind in (*STRATEGY_KINDS, "single"):
        state = state_from_scenario(sc) | on | {"strategy": kind}
        out = sc.with_overrides(state_to_overrides(state, sc))
        assert out.strategy.kind == kind
        assert "candidate" in out.models
        assert {f.kind for f in out.faults} >= {"latency_spike", "error_burst", "outage", "data_drift",
                                                "concept_drift"}


def test_candidate_added_only_when_needed(scenarios_dir):
    base = _load(scenarios_dir, "baseline")  # legacy only, strategy single
    assert "models.candidate" not in state_to_overrides(state_from_scenario(base), base)
    state = state_from_scenario(base) | {"strategy": "canary", "candidate_median_ms": 20.0, "candidate_noise": 0.1}
    ov = state_to_overrides(state, base)
    cand = base.with_overrides(ov).models["candidate"]
    legacy = base.models["legacy"]
    assert cand.noise == 0.1 and cand.latency.median_ms == pytest.approx(20.0)
    assert cand.latency.sigma == pytest.approx(legacy.latency.sigma)
    assert cand.replicas == legacy.replicas
    spike = state_from_scenario(base) | {"spike_enabled": True}  # a candidate fault needs a candidate too
    assert "models.candidate" in state_to_overrides(spike, base)


def test_single_switches_a_rollback_policy_off(scenarios_dir):
    with_rollback = [workbench.load_scenario(p) for p in SCENARIO_FILES]
    with_rollback = [s for s in with_rollback if s.rollback is not None and s.rollback.enabled]
    assert with_rollback, "some scenario file has a rollback policy"
    sc = with_rollback[0]
    ov = state_to_overrides(state_from_scenario(sc) | {"strategy": "single"}, sc)
    assert ov["rollback.enabled"] is False
    assert sc.with_overrides(ov).strategy.kind == "single"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bogus": 1}, "unknown key"),
        ({"strategy": "yolo"}, "state['strategy']"),
        ({"data_drift_feature": "nope"}, "state['data_drift_feature']"),
        ({"spike_multiplier": float("nan")}, "state['spike_multiplier']"),
        ({"seed": "7"}, "state['seed']"),
    ],
)
def test_bad_state_names_the_key(canary, change, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        state_to_overrides(state_from_scenario(canary) | change, canary)


def test_missing_key_is_named(canary):
    state = state_from_scenario(canary)
    del state["spike_multiplier"]
    with pytest.raises(ValueError, match="missing key.*spike_multiplier"):
        state_to_overrides(state, canary)


def test_compare_specs(canary):
    state = state_from_scenario(canary) | {"canary_candidate_fraction": 0.2}
    specs = compare_specs(state, canary, ["canary", "progressive"])
    assert [s["label"] for s in specs] == ["canary", "progressive"]
    assert specs[0]["candidate_fraction"] == 0.2
    for bad in (["canary"], ["ab", "canary", "shadow", "bandit", "progressive"], ["ab", "ab"], ["ab", "nope"]):
        with pytest.raises(ValueError, match="kinds"):
            compare_specs(state, canary, bad)


def _median_latency_ms(result, start_s, end_s):
    req = result.requests
    sel = (req["model"] == "candidate") & (req["status"] == "ok") & req["time_s"].between(start_s, end_s)
    return float(np.median(req.loc[sel, "latency_ms"]))


def test_a_spike_set_in_the_panel_multiplies_candidate_latency(canary):
    # 10% canary at 50 req/s on 4 replicas: utilisation stays low even at 4x, so the
    # median latency inside the window is the multiplier times the median outside
    state = state_from_scenario(canary) | {
        "duration_s": 600.0, "canary_candidate_fraction": 0.1, "spike_start_s": 200.0,
        "spike_duration_s": 200.0, "spike_multiplier": 4.0}
    ov = state_to_overrides(state, canary)
    ov["strategy"]["schedule"] = []  # no ramp in this short run
    result = workbench.run(canary, seed=3, overrides=ov)
    before = _median_latency_ms(result, 0.0, 200.0)
    during = _median_latency_ms(result, 200.0, 400.0)
    after = _median_latency_ms(result, 400.0, 600.0)
    assert before == pytest.approx(35.0, rel=0.1)  # the candidate's median service time
    assert during / before == pytest.approx(4.0, rel=0.12)
    assert after == pytest.approx(35.0, rel=0.1)
    off = workbench.run(canary, seed=3, overrides=ov | {"faults": []})
    assert _median_latency_ms(off, 200.0, 400.0) == pytest.approx(35.0, rel=0.1)


# --------------------------------------------------------------------------- the panel, headless
@pytest.fixture(scope="module")
def panel(scenarios_dir):
    pytest.importorskip("ipywidgets")
    from workbench.widgets import control_panel

    p = control_panel(scenarios_dir / "canary_latency_spike.toml")
    return p


def test_panel_has_a_classed_widget_per_control(panel, canary):
    assert set(panel.controls) == {c.key for c in CONTROLS}
    for c in CONTROLS:
        assert c.css_class in panel.controls[c.key]._dom_classes
        assert panel.controls[c.key].description == c.description
    assert "wb-run-button" in panel.run_button._dom_classes
    assert "wb-slider-spike-multiplier" in panel.controls["spike_multiplier"]._dom_classes
    assert panel.picker.value == "canary_latency_spike"
    assert panel.state() == state_from_scenario(canary)


def test_panel_run_shows_summary_plots_and_previous_run(panel, canary):
    panel.set_state(state_from_scenario(canary) | {"duration_s": 600.0, "spike_start_s": 200.0,
                                                   "spike_duration_s": 200.0})
    seen = []
    first = panel.run(progress=seen.append)
    assert first is not None, panel.status.value
    assert seen[-1] == 1.0 and panel.progress.value == 1.0
    assert len(first.requests) > 0 and first.scenario.duration_s == 600.0
    assert "<b>Current run</b>" in panel.current_html.value and "candidate" in panel.current_html.value
    names = [w._dom_classes[-1] for w in panel.plots.children]
    assert names == ["wb-plot-traffic-share", "wb-plot-latency", "wb-plot-error-rate"]
    assert all(w.value[:8] == b"\x89PNG\r\n\x1a\n" for w in panel.plots.children)
    panel.controls["spike_multiplier"].value = 8.0
    panel.run_button.click()  # the button calls run()
    assert panel.result is not first
    assert "<b>Previous run</b>" in panel.previous_html.value
    assert "spike_multiplier: 4.0 &rarr; 8.0" in panel.changes_html.value
    assert panel.result.scenario.faults[0].multiplier == 8.0


def test_panel_compare_and_errors(panel):
    for kind, box in panel.compare_checks.items():
        box.value = kind in ("canary", "progressive")
    panel.compare_seeds.value = 1  # one seed: the paired table of that seed
    table = panel.compare()
    assert list(table["strategy"]) == ["canary", "progressive"]
    assert len(set(table["requests"])) == 1  # same seed, same traffic
    assert panel.compare_plot.children and "wb-plot-compare" in panel.compare_plot.children[0]._dom_classes
    panel.compare_checks["progressive"].value = False
    assert panel.compare() is None
    assert "wb-error" in panel.status.value and "two to four" in panel.status.value


def test_panel_keeps_start_times_inside_the_run(panel, canary):
    panel.set_state(state_from_scenario(canary))
    assert panel.controls["spike_start_s"].value == 1200.0
    panel.controls["duration_s"].value = 900.0
    assert panel.controls["spike_start_s"].max == 899.0
    assert panel.controls["spike_start_s"].value == 899.0  # clamped: the run stays valid
    assert panel.scenario.with_overrides(panel.overrides()).faults[0].start_s == 899.0


def test_panel_picker_reloads_the_scenario(panel, scenarios_dir):
    panel.picker.value = "progressive_bad_candidate"
    sc = _load(scenarios_dir, "progressive_bad_candidate")
    assert panel.state() == state_from_scenario(sc)
    assert panel._strategy_boxes["progressive"].layout.display == "flex"
    assert panel._strategy_boxes["canary"].layout.display == "none"
    assert panel.controls["spike_multiplier"].disabled  # no spike in this file
    assert panel.scenario.with_overrides(panel.overrides()).to_mapping() == sc.to_mapping()


def test_panel_compare_over_seeds_shows_intervals(panel):
    for kind, box in panel.compare_checks.items():
        box.value = kind in ("canary", "progressive")
    panel.controls["duration_s"].value = 900.0
    panel.compare_seeds.value = 3
    risk = panel.compare()
    seed = panel.controls["seed"].value
    assert risk.strategies == ("canary", "progressive") and risk.seeds == (seed, seed + 1, seed + 2)
    assert "wb-risk-table" in panel.compare_html.value and "catches a bad candidate" in panel.compare_html.value
    assert panel.comparison is risk
