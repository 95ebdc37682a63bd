"""Flagger Canary import and export: round trips, field mapping, warnings, errors, and Flagger's timing.

The timing tests hold the simulation to Flagger's documented behaviour
(docs/gitbook/usage/deployment-strategies.md): with passing checks a canary is
promoted ``interval x (maxWeight / stepWeight)`` after its first weight, and it rolls
back on its ``threshold``-th failed check.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import workbench
from workbench.rollouts import from_flagger, to_flagger
from workbench.rollouts.common import RolloutSpecError
from workbench.scenario import ScenarioError, load_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "flagger"
BASE = EXAMPLES / "base.toml"
TEMPLATES = [EXAMPLES / "not-found-percentage.yaml"]
MAP = {"404s percentage": "error_rate"}
CANARY = EXAMPLES / "podinfo-canary.yaml"


def _import(name: str, base=BASE, **kwargs):
    return from_flagger(EXAMPLES / name, TEMPLATES, base=base, metric_map=MAP, **kwargs)


def _base(**changes) -> dict:
    with BASE.open("rb") as fh:
        raw = tomllib.load(fh)
    raw.update(changes)
    return raw


def _events(result, *kinds):
    ev = result.events
    return ev[ev.kind.isin(kinds)]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name != TEMPLATES[0].name))
def test_round_trip_gives_an_equal_scenario(name):
    scenario, _ = _import(name)
    text = to_flagger(scenario)
    again, _ = from_flagger(text, base=BASE)
    assert again == scenario
    assert to_flagger(again) == text  # the export is deterministic


def test_podinfo_canary_field_by_field():
    s, _ = _import("podinfo-canary.yaml")
    st = s.strategy
    assert s.name == "podinfo"
    assert s.models == load_scenario(BASE).models and s.traffic == load_scenario(BASE).traffic
    assert st.kind == "progressive" and st.split == "requests"
    assert [(x.weight, x.pause_s) for x in st.steps] == [(10.0, 60.0), (20.0, 60.0), (30.0, 60.0), (40.0, 60.0),
                                                        (50.0, 60.0)]
    assert st.interval_s == 60.0
    assert st.window_s == 60.0  # the longest metric interval (1m; request-duration asks 30s)
    assert st.failure_limit == 4 and st.consecutive is False and st.inconclusive == "fail"
    got = [(g.name, g.metric, g.direction, g.threshold, g.relative_to_legacy, g.min_samples) for g in st.gates]
    assert got == [
        ("request-success-rate", "success_rate", "min", 0.99, False, 1),
        ("request-duration", "latency_p99_ms", "max", 500.0, False, 1),
        ("404s percentage", "error_rate", "max", 0.05, False, 1),  # the template's query is a percentage
    ]


def test_other_examples_map_to_their_strategies():
    bg, _ = _import("podinfo-blue-green.yaml")
    assert bg.strategy.kind == "blue_green"
    assert (bg.strategy.switch_s, bg.strategy.interval_s, bg.strategy.window_s, bg.strategy.failure_limit) == (
        300.0, 30.0, 60.0, 1)
    sa, _ = _import("podinfo-session-affinity.yaml")
    assert sa.strategy.split == "users" and [x.weight for x in sa.strategy.steps] == [10, 20, 30, 40, 50]
    ab, _ = _import("podinfo-ab-testing.yaml", match_share=25)
    assert ab.strategy.split == "users" and ab.strategy.failure_limit == 1
    assert [(x.weight, x.pause_s) for x in ab.strategy.steps] == [(25.0, 60.0)] * 10
    mirror, _ = _import("podinfo-mirroring.yaml")
    assert mirror.strategy.kind == "shadow" and mirror.strategy.mirror_fraction == 1.0


def test_warnings_name_the_unsupported_fields_with_their_lines():
    _, warnings = _import("podinfo-canary.yaml")
    text = [str(w) for w in warnings]
    assert any(t.startswith(f"{CANARY}:69: Canary/podinfo: spec.analysis.webhooks[0]: webhook 'acceptance-test' "
                            "(pre-rollout)") for t in text)
    assert any(t.startswith(f"{CANARY}:76: Canary/podinfo: spec.analysis.webhooks[1]: webhook 'load-test'")
               for t in text)
    assert any("spec.analysis.metrics[1].interval" in t and "longest" in t for t in text)
    assert {w.field for w in warnings} == {"spec.analysis.webhooks[0]", "spec.analysis.webhooks[1]",
                                           "spec.analysis.metrics[1].interval"}
    _, warnings = _import("podinfo-session-affinity.yaml")
    assert any(w.field == "spec.analysis.sessionAffinity" and "primaryCookieName" in w.message for w in warnings)
    _, warnings = _import("podinfo-blue-green.yaml")
    fields = {w.field for w in warnings}
    assert {"spec.analysis.iterations", "spec.provider"} <= fields


def test_unknown_and_unsimulated_fields_are_warned():
    text = CANARY.read_text().replace("    stepWeight: 10\n",
                                      "    stepWeight: 10\n    stepWeightPromotion: 50\n    mirror: true\n"
                                      "    bogus: 1\n")
    _, warnings = from_flagger(text, TEMPLATES, base=BASE, metric_map=MAP)
    fields = {w.field: w for w in warnings}
    assert {"spec.analysis.stepWeightPromotion", "spec.analysis.mirror", "spec.analysis.bogus"} <= set(fields)
    assert fields["spec.analysis.bogus"].source is None  # YAML text has no file name
    assert fields["spec.analysis.bogus"].line == 49  # stepWeight is on line 46


def test_errors_name_the_file_the_line_and_the_field():
    with pytest.raises(RolloutSpecError) as exc:
        from_flagger(CANARY, TEMPLATES, base=BASE)  # no metric map: a 404 share is no simulated measure
    assert str(exc.value).startswith(f"{CANARY}:60: Canary/podinfo: spec.analysis.metrics[2]: cannot tell which "
                                     "simulated measure metric '404s percentage' reads")
    with pytest.raises(RolloutSpecError) as exc:
        from_flagger(CANARY, base=BASE, metric_map=MAP)
    assert str(exc.value).startswith(f"{CANARY}:62: Canary/podinfo: spec.analysis.metrics[2].templateRef.name: "
                                     "MetricTemplate 'istio-system/not-found-percentage' not found")
    bad = CANARY.read_text().replace("interval: 1m\n    # max number", "interval: one minute\n    # max number")
    with pytest.raises(RolloutSpecError) as exc:
        from_flagger(bad, TEMPLATES, base=BASE, metric_map=MAP)
    assert exc.value.line == 38 and exc.value.field == "spec.analysis.interval"
    assert "'one minute' is not a Go duration" in str(exc.value)
    bad = CANARY.read_text().replace("stepWeight: 10", "stepWeight: 0")
    with pytest.raises(RolloutSpecError, match=r"needs stepWeight, stepWeights or iterations"):
        from_flagger(bad, TEMPLATES, base=BASE, metric_map=MAP)
    with pytest.raises(RolloutSpecError, match="no_values must be 'fail' or 'hold'"):
        _import("podinfo-canary.yaml", no_values="pass")
    assert issubclass(RolloutSpecError, ScenarioError)  # the CLI's exit 2 without a traceback


def test_weights_follow_flaggers_scheduler():
    def weights(analysis: str):
        text = ("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: w\nspec:\n  analysis:\n"
                f"    interval: 1m\n{analysis}")
        s, _ = from_flagger(text, base=BASE)
        return [x.weight for x in s.strategy.steps]

    # deployment-strategies.md: maxWeight 50, stepWeight 20 -> 20, 40, 60, promotion
    assert weights("    maxWeight: 50\n    stepWeight: 20\n") == [20, 40, 60]
    assert weights("    stepWeights: [1, 2, 10, 80]\n") == [1, 2, 10, 80]
    assert weights("    stepWeight: 30\n") == [30, 60, 90, 100]  # maxWeight defaults to 100, capped at 100
    with pytest.raises(RolloutSpecError, match=r"stepWeights\[1\]: stepWeights must increase"):
        weights("    stepWeights: [10, 5]\n")


def test_skip_analysis_kubernetes_provider_and_threshold_defaults():
    head = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: k\nspec:\n"
    s, _ = from_flagger(head + "  skipAnalysis: true\n  analysis:\n    stepWeight: 10\n", base=BASE)
    assert s.strategy.kind == "single" and s.strategy.model == "candidate"
    assert from_flagger(to_flagger(s), base=BASE)[0] == s
    # the kubernetes provider runs blue/green with 10 iterations; threshold defaults to 1
    s, warnings = from_flagger(head + "  provider: kubernetes\n  analysis:\n    interval: 30s\n", base=BASE)
    assert s.strategy.kind == "blue_green" and s.strategy.switch_s == 300.0 and s.strategy.failure_limit == 0
    assert any(w.field == "spec.provider" and "iterations set to 10" in w.message for w in warnings)


def test_export_of_a_native_scenario_lists_what_flagger_cannot_say():
    native = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "progressive_bad_candidate.toml")
    text = to_flagger(native)
    assert "# warning: Flagger counts failed checks cumulatively" in text
    assert "# warning: steps[0] pauses 300.0 s" in text
    again, _ = from_flagger(text, base=BASE)
    st = again.strategy
    assert [x.weight for x in st.steps] == [5, 25, 50]  # the last setWeight 100 is the promotion
    assert st.failure_limit == native.strategy.failure_limit
    assert [(g.metric, g.threshold, g.direction, g.relative_to_legacy, g.min_samples) for g in st.gates] == [
        (g.metric, g.threshold, g.direction, g.relative_to_legacy, g.min_samples) for g in native.strategy.gates]
    with pytest.raises(ScenarioError, match="strategy.kind: 'ab' has no Flagger equivalent"):
        to_flagger(load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "ab_test.toml"))


# ---------------------------------------------------------------------------- Flagger's timing on runs


def test_passing_checks_promote_after_interval_times_max_over_step_weight():
    s, _ = _import("podinfo-canary.yaml", base=_base(duration_s=360))
    result = workbench.run(s, seed=1)
    promotion = _events(result, "promotion")
    assert promotion.time_s.tolist() == [60.0 * (50 / 10)]
    assert _events(result, "analysis", "gate_failed").time_s.tolist()[:5] == [60.0, 120.0, 180.0, 240.0, 300.0]
    assert result.summary.strategy.final_state == "promoted"


def test_a_broken_candidate_rolls_back_threshold_intervals_after_the_first_failed_check():
    broken = _base(duration_s=420, faults=[{"kind": "error_burst", "target": "candidate", "start_s": 0,
                                            "error_rate": 0.5}])
    s, _ = _import("podinfo-canary.yaml", base=broken)
    assert s.strategy.rollback_on == "next_check"
    result = workbench.run(s, seed=1)
    failed = _events(result, "gate_failed").time_s.tolist()
    rollback = _events(result, "rollback").time_s.tolist()
    # threshold = 5 failed checks, the first at one interval; Flagger compares the count with the
    # threshold at the start of its next tick: rollback at first failure + interval x threshold
    assert failed == [60.0, 120.0, 180.0, 240.0, 300.0]
    assert rollback == [60.0 + 5 * 60.0]
    assert result.summary.strategy.final_state == "rolled_back"


def test_no_values_fail_rolls_back_and_hold_holds():
    quiet = _base(duration_s=420, traffic={"rate_per_s": 2, "users": 5000})  # about 12 candidate requests a minute
    s, _ = _import("podinfo-canary.yaml", base=quiet, min_samples=30)
    result = workbench.run(s, seed=1)
    checks = _events(result, "gate_failed", "analysis")
    assert checks.time_s.tolist()[:5] == [60.0, 120.0, 180.0, 240.0, 300.0]
    assert set(checks.kind) == {"gate_failed"}
    assert all("samples < 30" in r for r in checks.reason)
    assert _events(result, "rollback").time_s.tolist() == [360.0]

    s, _ = _import("podinfo-canary.yaml", base=quiet, min_samples=30, no_values="hold")
    assert s.strategy.inconclusive == "hold"
    result = workbench.run(s, seed=1)
    assert _events(result, "rollback", "promotion", "gate_failed").empty
    assert result.summary.strategy.final_state == "running"
    assert result.summary.strategy.details["weight"] == 10.0  # held on the first step


def test_blue_green_switches_after_iterations_times_interval():
    s, _ = _import("podinfo-blue-green.yaml", base=_base(duration_s=360))
    result = workbench.run(s, seed=1)
    assert _events(result, "switch").time_s.tolist() == [10 * 30.0]


def test_ab_testing_promotes_after_iterations_times_interval():
    s, _ = _import("podinfo-ab-testing.yaml", base=_base(duration_s=660), match_share=20)
    result = workbench.run(s, seed=1)
    assert _events(result, "promotion").time_s.tolist() == [10 * 60.0]  # deployment-strategies.md: interval * iterations


def test_settings_flagger_lacks_travel_as_annotations():
    s, _ = _import("podinfo-ab-testing.yaml", match_share=12.5, min_samples=40)
    text = to_flagger(s)
    assert "rollout-workbench/match-share: '12.5'" in text and "rollout-workbench/min-samples: '40'" in text
    again, _ = from_flagger(text, base=BASE)
    assert again == s
    assert {g.min_samples for g in again.strategy.gates} == {40} and again.strategy.steps[0].weight == 12.5
