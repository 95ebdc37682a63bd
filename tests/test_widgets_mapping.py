"""The playground's knobs without a browser: state <-> scenario, which knobs apply, save and load.

Known answers: each knob, moved on its own, changes exactly its scenario field (every
other value of the scenario's mapping stays as it was) to the value set; a panel
opened on any shipped scenario runs that scenario until a knob moves; a saved state
loads back to the same scenario and the same knobs; the detectors' default parameters
are their constructors' own.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from scenario_builders import shipped

import workbench
from workbench.scenario import AutoscalingConfig, DetectorSpec, Gate, ScenarioError
from workbench.widgets.mapping import (
    CONTROLS,
    DETECTOR_PARAMS,
    STRATEGY_KINDS,
    SWITCHES,
    TABS,
    applicable,
    choice_options,
    compare_specs,
    find_scenarios,
    inactive,
    load_state,
    save_state,
    scenario_from_state,
    state_from_scenario,
    state_to_overrides,
    strategy_table,
)

SCENARIO_FILES = find_scenarios()
KEYS = {c.key for c in CONTROLS}
FAULTS_ON = {f"{p}_enabled": True for p in ("spike", "burst", "outage", "data_drift", "concept_drift")}
EVERYTHING_ON = FAULTS_ON | {
    "rollback_enabled": True, "rollback_on_detector": True, "monitors_enabled": True, "detector_enabled": True,
    "autoscaling_enabled": True, "progressive_gate_enabled": True, "blue_green_gate_enabled": True,
}



@pytest.fixture(scope="module")
def canary():
    return shipped("canary_latency_spike")


@pytest.fixture(scope="module")
def progressive():
    return shipped("progressive_bad_candidate")


def _diff(a, b, path=""):
    """Dotted paths where two scenario mappings differ (a list of another length differs as a whole)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = set()
        for k in a.keys() | b.keys():
            sub = f"{path}.{k}" if path else k
            out |= _diff(a.get(k), b.get(k), sub) if k in a and k in b else {sub}
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = set()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out |= _diff(x, y, f"{path}[{i}]")
        return out
    return set() if a == b else {path}


def _moved(sc, **change):
    """The scenario with ``change`` set in its panel state, and the paths that changed."""
    out = scenario_from_state(state_from_scenario(sc) | change, sc)
    return out, _diff(sc.to_mapping(), out.to_mapping())


# --------------------------------------------------------------------------- tabs, groups, switches
def test_every_group_is_in_exactly_one_tab():
    assert list(TABS) == ["setup", "faults and drift", "gates and rollback", "monitors"]
    assert TABS["gates and rollback"] == ("gates", "policy", "judge", "rollback")
    assert TABS["monitors"] == ("monitors", "drift_monitor", "detectors", "autoscaling")
    assert TABS["faults and drift"] == ("candidate", "spike", "burst", "outage", "data_drift", "concept_drift")
    placed = [g for groups in TABS.values() for g in groups]
    assert len(placed) == len(set(placed))  # no group in two tabs
    assert set(placed) == {c.group for c in CONTROLS}  # every group shown, no empty group
    assert {"general", "split", "interleaving", *STRATEGY_KINDS} <= set(TABS["setup"])


def test_controls_are_unique_and_well_formed():
    keys = [c.key for c in CONTROLS]
    assert len(keys) == len(set(keys))
    for c in CONTROLS:
        assert c.kind in ("float", "int", "bool", "choice", "seed")
        if c.kind in ("float", "int"):
            assert c.min < c.max and c.step > 0, c.key
        assert c.description
    assert all(key in KEYS and switch in KEYS for key, switch in SWITCHES.items())
    assert all(SWITCHES.get(s) != k for k, s in SWITCHES.items())  # no switch governs its own switch


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_round_trip_runs_the_file_unchanged(path):
    sc = workbench.load_scenario(path)
    state = state_from_scenario(sc)
    assert list(state) == [c.key for c in CONTROLS]
    ov = state_to_overrides(state, sc)
    assert not {k for k in ov if k.split(".")[0] in ("rollback", "monitoring") or "autoscaling" in k}
    assert sc.with_overrides(ov) == sc
    assert scenario_from_state(state, sc).to_mapping() == sc.to_mapping()


# --------------------------------------------------------------------------- gates, policy, split
@pytest.mark.parametrize(
    ("change", "paths", "check"),
    [
        ({"progressive_gate_threshold": 0.05}, {"strategy.gates[0].threshold"},
         lambda s: s.strategy.gates[0].threshold == 0.05),
        ({"progressive_gate_metric": "success_rate", "progressive_gate_direction": "min",
          "progressive_gate_threshold": 0.97},
         {"strategy.gates[0].metric", "strategy.gates[0].direction", "strategy.gates[0].threshold"},
         lambda s: (s.strategy.gates[0].metric, s.strategy.gates[0].direction) == ("success_rate", "min")),
        ({"progressive_gate_min_samples": 250}, {"strategy.gates[0].min_samples"},
         lambda s: s.strategy.gates[0].min_samples == 250),
        ({"progressive_gate_relative": True}, {"strategy.gates[0].relative_to_legacy"},
         lambda s: s.strategy.gates[0].relative_to_legacy is True),
        ({"progressive_window_s": 120.0}, {"strategy.window_s"}, lambda s: s.strategy.window_s == 120.0),
        ({"progressive_interval_s": 30.0}, {"strategy.interval_s"}, lambda s: s.strategy.interval_s == 30.0),
        ({"progressive_failure_limit": 3}, {"strategy.failure_limit"}, lambda s: s.strategy.failure_limit == 3),
        ({"progressive_consecutive": False}, {"strategy.consecutive"}, lambda s: s.strategy.consecutive is False),
        ({"progressive_inconclusive": "fail"}, {"strategy.inconclusive"},
         lambda s: s.strategy.inconclusive == "fail"),
        ({"progressive_rollback_on": "next_check"}, {"strategy.rollback_on"},
         lambda s: s.strategy.rollback_on == "next_check"),
        ({"progressive_split": "users"}, {"strategy.split"}, lambda s: s.strategy.split == "users"),
    ],
)
def test_progressive_knobs_change_their_field(progressive, change, paths, check):
    out, changed = _moved(progressive, **change)
    assert changed == paths
    assert check(out)


def test_disabling_the_first_gate_keeps_the_others(progressive):
    out, changed = _moved(progressive, progressive_gate_enabled=False)
    assert changed == {"strategy.gates"}
    assert out.strategy.gates == progressive.strategy.gates[1:]
    assert out.strategy.gates[0].metric == "latency_p99_ms" and out.strategy.gates[0].relative_to_legacy


def test_a_gate_switched_on_where_there_was_none():
    sc = workbench.load_scenario({"name": "g", "duration_s": 1200, "models": {"legacy": {}, "candidate": {}},
                                  "strategy": {"kind": "progressive", "steps": [{"weight": 10, "pause_s": 300},
                                                                                {"weight": 100}]}})
    state = state_from_scenario(sc)
    assert state["progressive_gate_enabled"] is False  # shows a typical gate, switched off
    assert (state["progressive_gate_metric"], state["progressive_gate_threshold"]) == ("error_rate", 0.02)
    out, changed = _moved(sc, progressive_gate_enabled=True, progressive_gate_threshold=0.01)
    assert changed == {"strategy.gates"}
    assert out.strategy.gates == (Gate(metric="error_rate", threshold=0.01, direction="max", min_samples=50),)


@pytest.mark.parametrize(
    ("change", "paths", "check"),
    [
        ({"blue_green_gate_threshold": 250.0}, {"strategy.gates[0].threshold"},
         lambda s: s.strategy.gates[0] == Gate(metric="latency_p99_ms", threshold=250, min_samples=200)),
        ({"blue_green_interval_s": 15.0}, {"strategy.interval_s"}, lambda s: s.strategy.interval_s == 15.0),
        ({"blue_green_window_s": 60.0}, {"strategy.window_s"}, lambda s: s.strategy.window_s == 60.0),
        ({"blue_green_failure_limit": 2}, {"strategy.failure_limit"}, lambda s: s.strategy.failure_limit == 2),
        ({"blue_green_inconclusive": "fail"}, {"strategy.inconclusive"},
         lambda s: s.strategy.inconclusive == "fail"),
    ],
)
def test_blue_green_knobs_change_their_field(scenarios_dir, change, paths, check):
    out, changed = _moved(shipped("blue_green_switch"), **change)
    assert changed == paths
    assert check(out)


def test_canary_split(canary):
    assert state_from_scenario(canary)["canary_split"] == "users"
    out, changed = _moved(canary, canary_split="requests")
    assert changed == {"strategy.split"} and out.strategy.split == "requests"


def test_gates_of_a_preset_strategy(canary):
    # the canary file has no progressive table: the preset's gates, the first one switched off
    out = scenario_from_state(state_from_scenario(canary) | {"strategy": "progressive",
                                                            "progressive_gate_enabled": False}, canary)
    assert [g.metric for g in out.strategy.gates] == ["latency_p99_ms"]
    # a parameter the preset leaves out is written only when the panel changes it
    table = strategy_table(state_from_scenario(canary) | {"strategy": "progressive"}, canary)
    assert "split" not in table and "judge" not in table and "window_s" not in table
    table = strategy_table(state_from_scenario(canary) | {"strategy": "progressive", "progressive_split": "users"},
                           canary)
    assert table["split"] == "users"


# --------------------------------------------------------------------------- judge
@pytest.mark.parametrize(
    ("change", "paths", "expected"),
    [
        ({"judge_kind": "kayenta", "judge_pass_threshold": 90.0, "judge_marginal_threshold": 60.0},
         {"strategy.judge.kind", "strategy.judge.pass_threshold", "strategy.judge.marginal_threshold"},
         {"kind": "kayenta", "pass_threshold": 90.0, "marginal_threshold": 60.0}),
        ({"judge_kind": "sequential"}, {"strategy.judge.kind"}, {"kind": "sequential", "margin": None}),
        ({"judge_kind": "sequential", "judge_metric": "error", "judge_alpha": 0.01, "judge_margin": 0.02},
         {"strategy.judge.kind", "strategy.judge.metric", "strategy.judge.alpha", "strategy.judge.margin"},
         {"kind": "sequential", "metric": "error", "alpha": 0.01, "margin": 0.02}),
        ({"judge_direction": "either", "judge_min_samples": 200},
         {"strategy.judge.direction", "strategy.judge.min_samples"}, {"direction": "either", "min_samples": 200}),
    ],
)
def test_judge_knobs_change_their_field(progressive, change, paths, expected):
    out, changed = _moved(progressive, **change)
    assert changed == paths
    assert {k: getattr(out.strategy.judge, k) for k in expected} == expected


def test_judge_margin_shows_the_default_it_uses(progressive):
    state = state_from_scenario(progressive)
    assert (state["judge_kind"], state["judge_metric"], state["judge_margin"]) == ("threshold", "latency_ms", 5.0)
    # marginal above pass: the schema's error names the field
    with pytest.raises(ScenarioError, match=r"strategy\.judge\.marginal_threshold"):
        scenario_from_state(state | {"judge_kind": "kayenta", "judge_marginal_threshold": 99.0}, progressive)


# --------------------------------------------------------------------------- interleaving
@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        ("interleaving_method", "method", "balanced"),
        ("interleaving_click_model", "click_model", "pbm"),
        ("interleaving_k", "k", 5),
        ("interleaving_n_items", "n_items", 1000),
        ("interleaving_legacy_noise_sd", "legacy_noise_sd", 1.2),
        ("interleaving_candidate_noise_sd", "candidate_noise_sd", 0.5),
        ("interleaving_catalogue_seed", "catalogue_seed", 9),
    ],
)
def test_interleaving_knobs_change_their_field(scenarios_dir, key, field, value):
    sc = shipped("interleaving_recommenders")
    out, changed = _moved(sc, **{key: value})
    assert changed == {f"strategy.{field}"}
    assert getattr(out.strategy, field) == value


# --------------------------------------------------------------------------- rollback
@pytest.mark.parametrize(
    ("change", "paths", "expected"),
    [
        ({"rollback_threshold": 250.0}, {"rollback.thresholds[0].threshold"}, {"thresholds[0].threshold": 250.0}),
        ({"rollback_threshold_metric": "latency_p99_ms"}, {"rollback.thresholds[0].metric"},
         {"thresholds[0].metric": "latency_p99_ms"}),
        ({"rollback_threshold_direction": "min"}, {"rollback.thresholds[0].direction"},
         {"thresholds[0].direction": "min"}),
        ({"rollback_consecutive": 3}, {"rollback.consecutive"}, {"consecutive": 3}),
        ({"rollback_min_samples": 100}, {"rollback.min_samples"}, {"min_samples": 100}),
        ({"rollback_cooldown_s": 120.0}, {"rollback.cooldown_s"}, {"cooldown_s": 120.0}),
        ({"rollback_performance_relative": False}, {"rollback.performance_relative"},
         {"performance_relative": False}),
        ({"rollback_on_detector": True}, {"rollback.triggers"}, {"triggers": ("health", "detector")}),
        ({"rollback_enabled": False}, {"rollback.enabled"}, {"enabled": False}),
    ],
)
def test_rollback_knobs_change_their_field(scenarios_dir, change, paths, expected):
    sc = shipped("latency_spike_rollback")
    out, changed = _moved(sc, **change)
    assert changed == paths
    for path, value in expected.items():
        obj = out.rollback
        for part in path.replace("[0]", ".0").split("."):
            obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
        assert obj == value


def test_rollback_triggers_keep_the_file_order(scenarios_dir):
    sc = shipped("silent_concept_drift")
    state = state_from_scenario(sc)
    assert (state["rollback_on_health"], state["rollback_on_performance"], state["rollback_on_drift"]) == (
        True, True, False)
    out, changed = _moved(sc, rollback_on_health=False, rollback_on_drift=True)
    assert changed == {"rollback.triggers[0]", "rollback.triggers[1]"}
    assert out.rollback.triggers == ("performance", "drift")
    assert out.rollback.thresholds == sc.rollback.thresholds  # kept for when health is back on


def test_rollback_switched_on_where_there_was_none(scenarios_dir):
    sc = shipped("error_burst")
    assert sc.rollback is None and state_from_scenario(sc)["rollback_enabled"] is False
    out, changed = _moved(sc, rollback_enabled=True, rollback_threshold=0.1)
    assert changed == {"rollback"}
    rb = out.rollback
    assert rb.enabled and rb.triggers == ("health",)
    assert [(t.metric, t.threshold, t.direction) for t in rb.thresholds] == [("error_rate", 0.1, "max")]
    assert (rb.consecutive, rb.min_samples, rb.cooldown_s) == (2, 30, 60.0)  # the schema's defaults
    # moving a knob of a switched-off section adds nothing
    assert _moved(sc, rollback_consecutive=4)[1] == set()


def test_single_switches_a_rollback_policy_off(scenarios_dir):
    sc = shipped("latency_spike_rollback")
    ov = state_to_overrides(state_from_scenario(sc) | {"strategy": "single"}, sc)
    assert ov["rollback.enabled"] is False
    assert sc.with_overrides(ov).strategy.kind == "single"
    # with another rollback knob moved too, the whole table is written, still off
    out = scenario_from_state(state_from_scenario(sc) | {"strategy": "single", "rollback_consecutive": 4}, sc)
    assert out.rollback.enabled is False and out.rollback.consecutive == 4


# --------------------------------------------------------------------------- monitors and detectors
@pytest.mark.parametrize(
    ("name", "change", "field", "value"),
    [
        ("latency_spike_rollback", {"monitor_health_window_s": 120.0}, "health_window_s", 120.0),
        ("latency_spike_rollback", {"monitor_interval_s": 5.0}, "interval_s", 5.0),
        ("latency_spike_rollback", {"monitor_drift": True}, "drift", True),
        ("gradual_data_drift", {"monitor_drift_window_n": 1000}, "drift_window_n", 1000),
        ("gradual_data_drift", {"monitor_drift_reference_n": 5000}, "drift_reference_n", 5000),
        ("gradual_data_drift", {"monitor_drift_interval_s": 30.0}, "drift_interval_s", 30.0),
        ("gradual_data_drift", {"monitor_drift_consecutive": 2}, "drift_consecutive", 2),
        ("gradual_data_drift", {"monitors_enabled": False}, "enabled", False),
        ("silent_concept_drift", {"monitor_performance": False}, "performance", False),
        ("silent_concept_drift", {"monitor_performance_reference_n": 2000}, "performance_reference_n", 2000),
        ("silent_concept_drift", {"monitor_performance_window_n": 500}, "performance_window_n", 500),
    ],
)
def test_monitor_knobs_change_their_field(scenarios_dir, name, change, field, value):
    out, changed = _moved(shipped(name), **change)
    assert changed == {f"monitoring.{field}"}
    assert getattr(out.monitoring, field) == value


def test_monitoring_switched_on_where_there_was_none(scenarios_dir):
    sc = shipped("error_burst")
    out, changed = _moved(sc, monitors_enabled=True, monitor_interval_s=20.0)
    assert changed == {"monitoring"}
    assert out.monitoring.enabled and out.monitoring.interval_s == 20.0
    assert out.monitoring.health_window_s == 60.0 and out.monitoring.detectors == ()
    assert _moved(sc, monitor_interval_s=20.0)[1] == set()  # monitoring still off: nothing written


@pytest.mark.parametrize(
    ("change", "paths", "detector"),
    [
        ({"detector_adwin_delta": 0.01}, {"monitoring.detectors[0].params.delta"},
         DetectorSpec(name="adwin", signal="latency_ms", model="candidate", params={"delta": 0.01})),
        ({"detector_name": "page_hinkley"}, {"monitoring.detectors[0].name"},
         DetectorSpec(name="page_hinkley", signal="latency_ms", model="candidate")),
        ({"detector_name": "cusum", "detector_cusum_h": 8.0},
         {"monitoring.detectors[0].name", "monitoring.detectors[0].params.h"},
         DetectorSpec(name="cusum", signal="latency_ms", model="candidate", params={"h": 8.0})),
        ({"detector_name": "ddm", "detector_signal": "error", "detector_model": "legacy"},
         {"monitoring.detectors[0].name", "monitoring.detectors[0].signal", "monitoring.detectors[0].model"},
         DetectorSpec(name="ddm", signal="error", model="legacy")),
        ({"detector_enabled": False}, {"monitoring.detectors"}, None),
    ],
)
def test_detector_knobs_change_their_field(scenarios_dir, change, paths, detector):
    sc = shipped("latency_spike_rollback")
    out, changed = _moved(sc, **change)
    assert changed == paths
    assert out.monitoring.detectors == (() if detector is None else (detector,))


def test_detector_switched_on_and_other_parameters_kept(scenarios_dir):
    sc = shipped("gradual_data_drift")  # monitoring, no detector
    out, changed = _moved(sc, detector_enabled=True, detector_name="kswin", detector_kswin_alpha=0.001)
    assert changed == {"monitoring.detectors"}
    assert out.monitoring.detectors == (DetectorSpec(name="kswin", params={"alpha": 0.001}),)
    # a parameter the panel does not show stays when the shown one moves
    two = sc.with_overrides({"monitoring.detectors": [{"name": "adwin", "params": {"clock": 16}}]})
    out = scenario_from_state(state_from_scenario(two) | {"detector_adwin_delta": 0.05}, two)
    assert dict(out.monitoring.detectors[0].params) == {"clock": 16, "delta": 0.05}


def test_detector_defaults_are_the_constructors_own():
    pytest.importorskip("river")
    from river import drift
    from river.drift import binary

    from workbench.monitoring.detectors import Cusum

    classes = {"adwin": drift.ADWIN, "page_hinkley": drift.PageHinkley, "kswin": drift.KSWIN,
               "ddm": binary.DDM, "eddm": binary.EDDM, "hddm_a": binary.HDDM_A if hasattr(binary, "HDDM_A")
               else binary.HDDMA, "cusum": Cusum}
    assert set(classes) == set(DETECTOR_PARAMS) == set(choice_options(workbench.load_scenario(
        {"name": "d", "duration_s": 60, "models": {"legacy": {}}}))["detector_name"])
    for name, (param, default, lo, hi, _step) in DETECTOR_PARAMS.items():
        assert inspect.signature(classes[name]).parameters[param].default == default, name
        assert lo <= default <= hi, name
    # the published values behind the table: ADWIN delta 0.002, Page-Hinkley lambda 50, CUSUM h 5
    assert (DETECTOR_PARAMS["adwin"][1], DETECTOR_PARAMS["page_hinkley"][1], DETECTOR_PARAMS["cusum"][1]) == (
        0.002, 50.0, 5.0)


# --------------------------------------------------------------------------- autoscaling
@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        ("autoscaling_min_replicas", "min_replicas", 3),
        ("autoscaling_max_replicas", "max_replicas", 10),
        ("autoscaling_target_utilisation", "target_utilisation", 0.7),
        ("autoscaling_cooldown_s", "scale_down_stabilisation_s", 120.0),
        ("autoscaling_sync_period_s", "sync_period_s", 30.0),
        ("autoscaling_provisioning_delay_s", "provisioning_delay_s", 60.0),
    ],
)
def test_autoscaling_knobs_change_their_field(scenarios_dir, key, field, value):
    sc = shipped("autoscaling_diurnal")
    assert state_from_scenario(sc)["autoscaling_model"] == "legacy"
    out, changed = _moved(sc, **{key: value})
    assert changed == {f"models.legacy.autoscaling.{field}"}
    assert getattr(out.models["legacy"].autoscaling, field) == value


def test_autoscaling_off_and_bounds_move_the_fleet(scenarios_dir):
    sc = shipped("autoscaling_diurnal")  # 8 replicas, 2 to 14
    out, changed = _moved(sc, autoscaling_enabled=False)
    assert changed == {"models.legacy.autoscaling"} and out.models["legacy"].autoscaling is None
    out, changed = _moved(sc, autoscaling_max_replicas=6)
    assert changed == {"models.legacy.autoscaling.max_replicas", "models.legacy.replicas"}
    assert out.models["legacy"].replicas == 6  # the initial fleet must lie inside the bounds
    crunch = shipped("capacity_crunch")  # 4 replicas, no autoscaling
    out, changed = _moved(crunch, autoscaling_enabled=True, autoscaling_min_replicas=5)
    assert changed == {"models.legacy.autoscaling", "models.legacy.replicas"}
    assert out.models["legacy"].replicas == 5
    assert out.models["legacy"].autoscaling == AutoscalingConfig(min_replicas=5)


def test_autoscaling_of_the_candidate(progressive):
    state = state_from_scenario(progressive)
    assert (state["autoscaling_model"], state["autoscaling_enabled"]) == ("candidate", False)
    out, changed = _moved(progressive, autoscaling_enabled=True, autoscaling_max_replicas=12)
    assert changed == {"models.candidate.autoscaling"}
    assert out.models["candidate"].autoscaling == AutoscalingConfig(max_replicas=12)
    assert out.models["candidate"].replicas == 8 and out.models["legacy"].autoscaling is None


# --------------------------------------------------------------------------- which knobs apply
def test_applicable_follows_the_strategy_and_choices(canary, progressive, scenarios_dir):
    keys = applicable(state_from_scenario(canary), canary)
    assert {"canary_candidate_fraction", "canary_split", "rollback_enabled", "monitors_enabled",
            "detector_adwin_delta", "autoscaling_enabled", "spike_multiplier"} <= keys
    assert not keys & {"progressive_split", "progressive_gate_metric", "blue_green_gate_metric", "judge_kind",
                       "ab_sticky", "interleaving_k", "detector_cusum_h", "progressive_failure_limit"}
    state = state_from_scenario(progressive)
    keys = applicable(state, progressive)
    assert {"progressive_gate_threshold", "progressive_interval_s", "progressive_failure_limit",
            "progressive_inconclusive", "progressive_split", "judge_kind"} <= keys
    assert not keys & {"blue_green_gate_threshold", "blue_green_failure_limit", "judge_alpha", "judge_pass_threshold"}
    kayenta = applicable(state | {"judge_kind": "kayenta"}, progressive)
    assert {"judge_pass_threshold", "judge_marginal_threshold"} <= kayenta and "judge_alpha" not in kayenta
    sequential = applicable(state | {"judge_kind": "sequential"}, progressive)
    assert {"judge_alpha", "judge_margin", "judge_metric"} <= sequential and "judge_pass_threshold" not in sequential
    bg = applicable(state | {"strategy": "blue_green"}, progressive)
    assert {"blue_green_gate_threshold", "blue_green_window_s", "blue_green_inconclusive"} <= bg
    assert not bg & {"judge_kind", "progressive_gate_threshold", "canary_split", "progressive_split"}
    single = applicable(state | {"strategy": "single"}, progressive)
    assert not any(k.startswith("rollback_") for k in single)
    abn = shipped("abn_three_models")  # an A/B/n split without a model named candidate
    assert not any(k.startswith("rollback_") for k in applicable(state_from_scenario(abn), abn))
    assert "rollback_enabled" in applicable(state_from_scenario(abn) | {"strategy": "canary"}, abn)
    cusum = applicable(state | {"detector_name": "cusum"}, progressive)
    assert "detector_cusum_h" in cusum and "detector_adwin_delta" not in cusum
    inter = shipped("interleaving_recommenders")
    assert "interleaving_click_model" in applicable(state_from_scenario(inter), inter)


def test_inactive_follows_the_switches(scenarios_dir):
    sc = shipped("latency_spike_rollback")
    state = state_from_scenario(sc)
    off = inactive(state)
    assert {"burst_error_rate", "outage_start_s", "autoscaling_min_replicas", "monitor_drift_window_n"} <= off
    assert not off & {"spike_multiplier", "rollback_threshold", "detector_adwin_delta", "monitor_health_window_s",
                      "autoscaling_model", "rollback_enabled", "monitors_enabled"}
    off = inactive(state | {"monitors_enabled": False})  # a switch's switch
    assert {"detector_adwin_delta", "detector_name", "monitor_drift", "monitor_performance_window_n"} <= off


def test_choice_options_follow_the_scenario(scenarios_dir):
    abn = shipped("abn_three_models")
    options = choice_options(abn)
    assert options["autoscaling_model"] == ("legacy", "faster", "flaky")
    assert options["detector_model"] == ("candidate", "legacy", "faster", "flaky")
    assert options["data_drift_feature"] == tuple(abn.feature_names)
    assert options["strategy"] == (*STRATEGY_KINDS, "single")
    state = state_from_scenario(abn)
    out = scenario_from_state(state | {"autoscaling_enabled": True, "autoscaling_model": "flaky"}, abn)
    assert out.models["flaky"].autoscaling == AutoscalingConfig() and out.models["faster"].autoscaling is None
    for key, value in options.items():
        assert state[key] in value, key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bogus": 1}, "unknown key"),
        ({"strategy": "yolo"}, "state['strategy']"),
        ({"data_drift_feature": "nope"}, "state['data_drift_feature']"),
        ({"spike_multiplier": float("nan")}, "state['spike_multiplier']"),
        ({"seed": "7"}, "state['seed']"),
        ({"rollback_consecutive": 2.5}, "state['rollback_consecutive']: expected a whole number"),
        ({"judge_kind": "bayes"}, "state['judge_kind']: expected one of"),
        ({"autoscaling_model": "faster"}, "state['autoscaling_model']"),
        ({"detector_enabled": 1}, "state['detector_enabled']: expected true or false"),
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


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_strategy_with_everything_switched_on_validates(path):
    sc = workbench.load_scenario(path)
    for kind in choice_options(sc)["strategy"]:
        state = state_from_scenario(sc) | EVERYTHING_ON | {"strategy": kind}
        out = scenario_from_state(state, sc)
        assert out.strategy.kind == kind and "candidate" in out.models
        assert {f.kind for f in out.faults} >= {"latency_spike", "error_burst", "outage", "data_drift",
                                                "concept_drift"}
        assert out.monitoring.enabled and out.monitoring.detectors
        assert out.rollback.enabled is (kind != "single")
        if kind in ("progressive", "blue_green"):
            assert out.strategy.gates


# --------------------------------------------------------------------------- save and load
def test_save_and_load_round_trip(progressive, tmp_path):
    state = state_from_scenario(progressive) | {
        "progressive_gate_threshold": 0.03, "progressive_window_s": 180.0, "progressive_inconclusive": "fail",
        "judge_kind": "kayenta", "judge_pass_threshold": 90.0, "rollback_enabled": True,
        "rollback_threshold_metric": "latency_p95_ms", "rollback_threshold": 400.0, "monitors_enabled": True,
        "monitor_health_window_s": 90.0, "detector_enabled": True, "detector_name": "page_hinkley",
        "detector_page_hinkley_threshold": 80.0, "autoscaling_enabled": True, "autoscaling_max_replicas": 16,
        "spike_enabled": True, "spike_start_s": 900.0, "spike_duration_s": 120.0, "spike_multiplier": 3.0,
        "rate_per_s": 55.0, "seed": 99,
    }
    expected = scenario_from_state(state, progressive)
    path = save_state(state, progressive, tmp_path / "saved" / "mine.toml")
    assert path == tmp_path / "saved" / "mine.toml"
    assert path.read_text(encoding="utf-8") == expected.to_toml()  # the one TOML writer
    loaded = workbench.load_scenario(path)
    assert loaded == expected
    assert loaded.strategy.judge.pass_threshold == 90.0 and loaded.rollback.thresholds[0].threshold == 400.0
    assert loaded.monitoring.detectors[0].params == {"threshold": 80.0}
    again = state_from_scenario(loaded)
    assert {k: again[k] for k in state} == state  # every knob reads back as set
    sc, st = load_state(path)
    assert sc == expected and st == again and sc.source_path == str(path)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_shipped_scenario_saves_and_loads_unchanged(path, tmp_path):
    sc = workbench.load_scenario(path)
    state = state_from_scenario(sc)
    loaded, st = load_state(save_state(state, sc, tmp_path / path.name))
    assert loaded == sc and st == state


def test_bad_files_name_the_file(tmp_path, progressive):
    missing = tmp_path / "missing.toml"
    with pytest.raises(ScenarioError, match=f"{missing}: file not found"):
        load_state(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=f"{broken}: not valid TOML"):
        load_state(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('name = "w"\nduration_s = 60\n[models.legacy]\nnoise = -1\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=rf"{wrong}: models\.legacy\.noise"):
        load_state(wrong)
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    target = blocker / "x.toml"
    with pytest.raises(ScenarioError, match=f"{target}: cannot write file"):
        save_state(state_from_scenario(progressive), progressive, target)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(ScenarioError, match=f"{folder}: cannot write file"):
        save_state(state_from_scenario(progressive), progressive, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.toml", "file", "folder.toml", "wrong.toml"]
    # an existing file is replaced whole
    state = state_from_scenario(progressive)
    save_state(state | {"seed": 5}, progressive, wrong)
    assert load_state(wrong)[0].seed == 5
    with pytest.raises(ScenarioError, match=r"strategy\.judge\.marginal_threshold"):
        save_state(state_from_scenario(progressive) | {"judge_marginal_threshold": 99.0}, progressive,
                   tmp_path / "bad.toml")
    assert not (tmp_path / "bad.toml").exists()
    with pytest.raises(ScenarioError, match=r"bad2\.toml: state\['judge_kind'\]"):
        save_state(state_from_scenario(progressive) | {"judge_kind": "x"}, progressive, tmp_path / "bad2.toml")


# --------------------------------------------------------------------------- moved from test_widgets.py
def test_scenarios_found_next_to_the_package(scenarios_dir):
    assert SCENARIO_FILES and all(p.parent == scenarios_dir for p in SCENARIO_FILES)
    assert {"canary_latency_spike", "baseline", "progressive_bad_candidate"} <= {p.stem for p in SCENARIO_FILES}
    assert find_scenarios(scenarios_dir) == SCENARIO_FILES  # a scenarios/ directory given directly


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
    assert ab == {"kind": "ab", "candidate_fraction": 0.3, "sticky": False}  # the preset + the panel
    can = state_to_overrides(base | {"canary_candidate_fraction": 0.2}, canary)["strategy"]
    assert can["candidate_fraction"] == 0.2
    assert can["schedule"] == [{"at_s": 600.0, "weight": 10.0}, {"at_s": 1200.0, "weight": 25.0}]  # kept
    assert can["salt"] == "canary-2026-11"
    sh = strategy_table(base | {"strategy": "shadow", "shadow_mirror_fraction": 0.5}, canary)
    assert sh == {"kind": "shadow", "mirror_fraction": 0.5}
    bg = strategy_table(base | {"strategy": "blue_green", "blue_green_switch_s": 600.0}, canary)
    assert bg["switch_s"] == 600.0 and bg["gates"]  # the preset's gates kept
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
    outage = shipped("feature_store_outage")
    kept = state_to_overrides(state_from_scenario(outage) | off, outage)["faults"]
    assert [(f["kind"], f["target"]) for f in kept] == [("outage", "feature_store"), ("outage", "embedding_service")]
    # the file's data drift keeps its scale when the panel moves its shift
    drift = shipped("data_drift")
    f = state_to_overrides(state_from_scenario(drift) | {"data_drift_shift": 0.5}, drift)["faults"][0]
    assert (f["shift"], f["scale"], f["feature"]) == (0.5, 1.5, "x2")


def test_candidate_added_only_when_needed(scenarios_dir):
    base = shipped("baseline")  # legacy only, strategy single
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


def test_compare_specs(canary):
    state = state_from_scenario(canary) | {"canary_candidate_fraction": 0.2, "blue_green_gate_threshold": 0.05}
    specs = compare_specs(state, canary, ["canary", "progressive", "blue_green"])
    assert [s["label"] for s in specs] == ["canary", "progressive", "blue_green"]
    assert specs[0]["candidate_fraction"] == 0.2
    assert specs[1]["gates"][0]["threshold"] == 0.02 and specs[2]["gates"][0]["threshold"] == 0.05  # each its own
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


def test_a_single_full_step_keeps_ending_at_full_weight(progressive):
    one_step = progressive.with_overrides({"strategy.steps": [{"weight": 100}]})
    state = state_from_scenario(one_step) | {"progressive_first_weight": 10.0}
    steps = scenario_from_state(state, one_step).strategy.steps
    assert [s.weight for s in steps] == [10.0, 100.0]


def test_the_concept_drift_knob_wins_over_a_kept_entry_of_the_same_feature(scenarios_dir):
    sc = shipped("concept_drift").with_overrides({"faults[0].weight_shift": {"x1": 0.5, "x2": 0.3}})
    state = state_from_scenario(sc) | {"concept_drift_feature": "x2", "concept_drift_weight_shift": 2.0}
    (fault,) = scenario_from_state(state, sc).faults
    assert dict(fault.weight_shift) == {"x2": 2.0}


def test_candidate_settings_do_not_apply_to_a_single_model(canary):
    state = state_from_scenario(canary)
    candidate_keys = {c.key for c in CONTROLS if c.group == "candidate"}
    assert candidate_keys and candidate_keys <= applicable(state, canary)
    assert not candidate_keys & applicable(state | {"strategy": "single"}, canary)
