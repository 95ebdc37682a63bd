"""Argo Rollouts import and export (workbench.rollouts.argo) on the documented examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import workbench
from workbench.rollouts import from_argo, to_argo
from workbench.rollouts.common import RolloutSpecError
from workbench.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "argo"
BASE = EXAMPLES / "base.toml"
METRIC_MAP = EXAMPLES / "metric-map.toml"

# (rollout file, template files) of every example
CASES = {
    "canary-background": (EXAMPLES / "canary-background-analysis.yaml", [EXAMPLES / "success-rate-template.yaml"]),
    "canary-inline": (EXAMPLES / "canary-inline-analysis.yaml", []),
    "bluegreen": (EXAMPLES / "bluegreen-analysis.yaml", []),
}

TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: {name}
spec:
  metrics:
  - name: {metric}
    successCondition: {condition}
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(errors_total[2m])) / sum(rate(requests_total[2m]))
"""


def rollout(steps: str, *, analysis: str = "", extra: str = "") -> str:
    """A canary Rollout with the given steps (YAML list items indented by 6) and background analysis."""
    return ("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: demo\nspec:\n" + extra
            + "  strategy:\n    canary:\n" + analysis + "      steps:\n" + steps)


def template(name: str = "errors", metric: str = "error-rate", condition: str = "result[0] < 0.05") -> str:
    return TEMPLATE.format(name=name, metric=metric, condition=condition)


@pytest.fixture(scope="module")
def base():
    return load_scenario(BASE)


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_export_import_gives_an_equal_scenario(case, base):
    path, templates = CASES[case]
    first, _ = from_argo(path, templates, base=base, metric_map=METRIC_MAP)
    text = to_argo(first)
    again, _ = from_argo(text, base=base)  # the annotations carry the measures: no metric map needed
    assert again == first
    assert to_argo(again) == text
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == ["Rollout"] + ["AnalysisTemplate"] * len(first.strategy.analysis_templates)
    assert all(d["apiVersion"] == "argoproj.io/v1alpha1" for d in docs)


def test_background_analysis_example_field_by_field(base):
    path, templates = CASES["canary-background"]
    s, warnings = from_argo(path, templates, base=base)
    st = s.strategy
    assert s.name == "guestbook" and st.kind == "progressive"
    assert [(x.weight, x.pause_s, x.manual, x.analysis) for x in st.steps] == [
        (20.0, 600.0, False, ()), (40.0, 600.0, False, ()), (60.0, 600.0, False, ()), (80.0, 600.0, False, ())]
    assert st.background_analysis == ("success-rate",)
    assert st.background_starting_step == 2  # Argo's startingStep 2 is "setWeight: 40", our second step
    (m,) = st.analysis_templates["success-rate"].metrics
    assert (m.name, m.measure, m.model, m.provider) == ("success-rate", "success_rate", "candidate", "prometheus")
    assert (m.interval_s, m.count, m.initial_delay_s, m.window_s) == (300.0, None, 0.0, 300.0)
    assert (m.success_condition, m.failure_condition) == ("result[0] >= 0.95", "")
    assert (m.failure_limit, m.inconclusive_limit, m.consecutive_error_limit, m.dry_run) == (3, 0, 4, False)
    assert 'destination_service=~"guestbook-svc.default.svc.cluster.local"' in m.query  # args filled in
    assert "{{" not in m.query
    # the base scenario's traffic, models and non-Argo strategy settings are kept
    assert s.traffic == base.traffic and s.models == base.models
    assert (st.interval_s, st.manual_pause_s) == (60.0, 600.0)
    assert [(w.line, w.field) for w in warnings] == [(11, "spec.replicas")]


def test_inline_analysis_after_a_pause_starts_a_step_at_the_same_weight(base):
    s, warnings = from_argo(CASES["canary-inline"][0], base=base)
    assert [(x.weight, x.pause_s, x.analysis) for x in s.strategy.steps] == [
        (20.0, 300.0, ()), (20.0, None, ("success-rate",))]
    (m,) = s.strategy.analysis_templates["success-rate"].metrics
    assert m.interval_s is None and m.count is None  # one measurement
    assert warnings == []


def test_blue_green_example(base):
    s, warnings = from_argo(CASES["bluegreen"][0], base=base, metric_map=METRIC_MAP)
    st = s.strategy
    assert st.kind == "blue_green"
    assert (st.auto_promotion, st.switch_s) == (False, 0.0)
    assert (st.pre_promotion_analysis, st.post_promotion_analysis) == (("smoke-tests",), ("success-rate",))
    (smoke,) = st.analysis_templates["smoke-tests"].metrics
    assert (smoke.provider, smoke.measure, smoke.count, smoke.interval_s, smoke.failure_limit) == (
        "job", "error_rate", 1, 5.0, 1)
    (post,) = st.analysis_templates["success-rate"].metrics
    assert "rollout-bluegreen-active.default.svc.cluster.local" in post.query
    fields = [w.field for w in warnings]
    assert fields == ["spec.replicas", "spec.strategy.blueGreen.scaleDownDelaySeconds",
                      "spec.metrics[0].provider.job"]
    assert warnings[2].document == "AnalysisTemplate/smoke-tests"
    with pytest.raises(RolloutSpecError, match="smoke-tests.*cannot tell what it measures"):
        from_argo(CASES["bluegreen"][0], base=base)  # a Job says nothing of a measure


def test_manual_pause_and_weight_zero_before_the_first_set_weight():
    steps = ("      - pause: {duration: 30s}\n      - setWeight: 10\n      - pause: {}\n"
             "      - pause: {duration: 1h30m}\n      - setWeight: 50\n      - pause: {duration: 90}\n")
    s, _ = from_argo(rollout(steps))
    assert [(x.weight, x.pause_s, x.manual) for x in s.strategy.steps] == [
        (0.0, 30.0, False), (10.0, None, True), (10.0, 5400.0, False), (50.0, 90.0, False)]


def test_starting_step_maps_argo_indices_to_our_steps():
    steps = ("      - setWeight: 10\n"                                      # 0 -> step 1
             "      - pause: {}\n"                                          # 1 -> step 1
             "      - setWeight: 20\n"                                      # 2 -> step 2
             "      - analysis: {templates: [{templateName: errors}]}\n"   # 3 -> step 2
             "      - pause: {duration: 1m}\n"                              # 4 -> step 2
             "      - analysis: {templates: [{templateName: errors}]}\n"   # 5 -> step 3 (a second analysis)
             "      - setWeight: 60\n")                                     # 6 -> step 4
    expected = {0: 1, 1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 4}
    for argo_index, ours in expected.items():
        analysis = (f"      analysis:\n        templates: [{{templateName: errors}}]\n"
                    f"        startingStep: {argo_index}\n")
        s, _ = from_argo(rollout(steps, analysis=analysis) + "---\n" + template())
        assert s.strategy.background_starting_step == ours, argo_index
    st = s.strategy
    assert [(x.weight, x.pause_s, x.manual, x.analysis) for x in st.steps] == [
        (10.0, None, True, ()), (20.0, 60.0, False, ("errors",)), (20.0, None, False, ("errors",)),
        (60.0, None, False, ())]
    assert from_argo(to_argo(s))[0] == s


def test_unsupported_steps_and_fields_are_warnings_with_lines():
    steps = ("      - setWeight: 10\n"
             "      - setCanaryScale: {replicas: 3}\n"
             "      - experiment: {duration: 1h, templates: []}\n"
             "      - setHeaderRoute: {name: h}\n"
             "      - setMirrorRoute: {name: m}\n"
             "      - plugin: {name: p}\n"
             "      - pause: {duration: 1m}\n")
    extra = ("  replicas: 4\n  template:\n    spec:\n      containers:\n      - name: app\n"
             "        resources: {limits: {cpu: '1'}}\n")
    tmpl = template().replace("    successCondition:", "    consecutiveSuccessLimit: 2\n    successCondition:")
    analysis = "      analysis:\n        templates: [{templateName: errors}]\n"
    s, warnings = from_argo(rollout(steps, analysis=analysis, extra=extra) + "---\n" + tmpl)
    by_field = {w.field: w for w in warnings}
    for i, key in enumerate(("setCanaryScale", "experiment", "setHeaderRoute", "setMirrorRoute", "plugin"), 1):
        w = by_field[f"spec.strategy.canary.steps[{i}].{key}"]
        assert "not simulated" in w.message and w.line == 17 + i
    assert by_field["spec.replicas"].line == 6
    assert "resources" in by_field["spec.template.spec.containers[0].resources"].message
    assert by_field["spec.metrics[0].consecutiveSuccessLimit"].document == "AnalysisTemplate/errors"
    assert [(x.weight, x.pause_s) for x in s.strategy.steps] == [(10.0, 60.0)]
    assert len(warnings) == 8


def test_a_bad_condition_names_file_template_metric_and_line(tmp_path):
    path = tmp_path / "templates.yaml"
    path.write_text(template(condition="'result[0] >= (0.95'"))
    text = rollout("      - setWeight: 10\n      - analysis: {templates: [{templateName: errors}]}\n")
    with pytest.raises(RolloutSpecError) as err:
        from_argo(text, [path])
    message = str(err.value)
    assert message.startswith(f"{path}:8: AnalysisTemplate/errors: spec.metrics[0].successCondition: "
                              "metric 'error-rate': column ")
    assert err.value.line == 8 and isinstance(err.value, ScenarioError)


def test_a_missing_template_names_the_reference(tmp_path):
    path = tmp_path / "rollout.yaml"
    path.write_text(rollout("      - setWeight: 10\n      - analysis:\n          templates:\n"
                            "          - templateName: nope\n"))
    with pytest.raises(RolloutSpecError) as err:
        from_argo(path)
    assert str(err.value).startswith(f"{path}:12: Rollout/demo: spec.strategy.canary.steps[1].analysis."
                                     "templates[0].templateName: AnalysisTemplate 'nope' not found")


def test_documents_that_are_not_a_rollout_are_refused():
    with pytest.raises(RolloutSpecError, match="no Rollout document"):
        from_argo(template())
    with pytest.raises(RolloutSpecError, match="not a Kubernetes object"):
        from_argo("just: a mapping\nof: things\n")
    with pytest.raises(RolloutSpecError, match=r"<text>:9: Rollout/demo: spec.strategy.canary.steps\[0\].pause"
                                               r".duration: 'soon' is not a Go duration"):
        from_argo(rollout("      - pause: {duration: soon}\n"))


def test_unmappable_metric_lists_the_measures():
    tmpl = template(metric="apdex").replace("errors_total", "apdex_score").replace("requests_total", "apdex_n")
    text = rollout("      - setWeight: 10\n      - analysis: {templates: [{templateName: errors}]}\n")
    with pytest.raises(RolloutSpecError) as err:
        from_argo(text + "---\n" + tmpl)
    assert "<text>:18: AnalysisTemplate/errors: spec.metrics[0]: metric 'apdex'" in str(err.value)
    assert "error_rate, success_rate, latency_p50_ms" in str(err.value)
    s, _ = from_argo(text + "---\n" + tmpl, metric_map={"apdex_score": "business_rate"})
    assert s.strategy.analysis_templates["errors"].metrics[0].measure == "business_rate"


def test_args_defaults_missing_values_and_two_references_with_different_args():
    tmpl = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  args:
  - name: svc
  - name: window
    value: 2m
  metrics:
  - name: error-rate
    failureCondition: result[0] > 0.1
    failureLimit: "{{args.limit}}"
    provider:
      prometheus:
        query: sum(rate(errors{svc="{{args.svc}}"}[{{args.window}}]))
"""
    steps = ("      - setWeight: 10\n"
             "      - analysis: {templates: [{templateName: rate}], args: [{name: svc, value: a}, "
             "{name: limit, value: '2'}]}\n"
             "      - setWeight: 50\n"
             "      - analysis: {templates: [{templateName: rate}], args: [{name: svc, value: b}, "
             "{name: limit, value: '2'}]}\n")
    s, warnings = from_argo(rollout(steps) + "---\n" + tmpl)
    st = s.strategy
    assert [x.analysis for x in st.steps] == [("rate",), ("rate-2",)]
    a, b = (st.analysis_templates[k].metrics[0] for k in ("rate", "rate-2"))
    assert a.query == 'sum(rate(errors{svc="a"}[2m]))' and b.query == 'sum(rate(errors{svc="b"}[2m]))'
    assert a.window_s == 120.0 and a.failure_limit == 2
    assert any("imported again as 'rate-2'" in w.message for w in warnings)
    assert from_argo(to_argo(s))[0] == s
    # no value for svc: a warning, and the placeholder stays
    s, warnings = from_argo(rollout(steps.replace("{name: svc, value: a}, ", "").replace(
        "{name: svc, value: b}, ", "")) + "---\n" + tmpl)
    assert "{{args.svc}}" in s.strategy.analysis_templates["rate"].metrics[0].query
    assert any("arguments without a value: svc" in w.message for w in warnings)


def test_dry_run_patterns_are_searched_like_argo():
    tmpl = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: errs}
spec:
  dryRun:
  - metricName: 4xx
  metrics:
  - name: total-5xx-errors
    failureCondition: result[0] >= 0.1
    provider: {prometheus: {query: 'sum(rate(x{code=~"5.."}[5m]))'}}
  - name: total-4xx-errors
    failureCondition: result[0] >= 0.1
    provider: {prometheus: {query: 'sum(rate(x{code=~"4.."}[5m]))'}}
"""
    steps = "      - setWeight: 10\n      - analysis: {templates: [{templateName: errs}]}\n"
    s, _ = from_argo(rollout(steps) + "---\n" + tmpl)
    five, four = s.strategy.analysis_templates["errs"].metrics
    assert (five.dry_run, four.dry_run) == (False, True)
    assert from_argo(to_argo(s))[0] == s
    with pytest.raises(RolloutSpecError, match=r"dryRun\[0\].metricName: '6xx' matches no metric"):
        from_argo(rollout(steps) + "---\n" + tmpl.replace("4xx\n", "6xx\n"))


def test_latency_in_seconds_is_scaled_so_conditions_compare_seconds():
    tmpl = template(metric="p99-latency", condition="result[0] < 0.5").replace(
        "sum(rate(errors_total[2m])) / sum(rate(requests_total[2m]))",
        "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))")
    steps = "      - setWeight: 10\n      - analysis: {templates: [{templateName: errors}]}\n"
    s, warnings = from_argo(rollout(steps) + "---\n" + tmpl)
    (m,) = s.strategy.analysis_templates["errors"].metrics
    assert (m.measure, m.window_s, m.scale) == ("latency_p99_ms", 60.0, 0.001)
    assert warnings == []
    again, _ = from_argo(to_argo(s))
    assert again == s


def test_export_of_a_written_scenario_round_trips(base):
    spec = base.to_mapping()
    spec["strategy"] = {
        "kind": "progressive",
        "steps": [{"weight": 5, "pause_s": 90}, {"weight": 25, "analysis": ["checks"], "manual": True},
                  {"weight": 25, "pause_s": 0.5}, {"weight": 100}],
        "analysis_templates": {"checks": {"metrics": [
            {"name": "p95", "measure": "latency_p95_ms", "window_s": 120, "interval_s": 30, "count": 4,
             "failure_condition": "result[0] > 250", "model": "legacy", "min_samples": 20},
            {"name": "err", "measure": "error_rate", "success_condition": "result[0] < 0.02", "dry_run": True,
             "initial_delay_s": 15, "failure_limit": -1, "consecutive_error_limit": 2, "inconclusive_limit": 1},
        ]}},
        "background_analysis": ["checks"],
        "background_starting_step": 3,
    }
    s = load_scenario(spec)
    text = to_argo(s)
    docs = list(yaml.safe_load_all(text))
    assert docs[0]["spec"]["strategy"]["canary"]["steps"] == [
        {"setWeight": 5}, {"pause": {"duration": "1m30s"}}, {"setWeight": 25},
        {"analysis": {"templates": [{"templateName": "checks"}]}}, {"pause": {}}, {"pause": {"duration": "500ms"}},
        {"setWeight": 100}]
    assert docs[0]["spec"]["strategy"]["canary"]["analysis"]["startingStep"] == 5
    p95 = docs[1]["spec"]["metrics"][0]
    assert p95["provider"]["prometheus"]["query"] == (
        "histogram_quantile(0.95, sum(rate(request_latency_ms_bucket[2m])) by (le))")
    assert docs[1]["spec"]["dryRun"] == [{"metricName": "err"}]
    again, _ = from_argo(text, base=base)
    # the same strategy, but for the queries written from the measures (and read back as them)
    expected = s.strategy.model_dump()
    for m, q in zip(expected["analysis_templates"]["checks"]["metrics"], docs[1]["spec"]["metrics"], strict=True):
        m["query"] = q["provider"]["prometheus"]["query"]
    assert again.strategy.model_dump() == expected
    assert from_argo(to_argo(again), base=base)[0] == again


def test_export_refuses_strategies_argo_cannot_hold_and_carries_gates_as_analysis():
    with pytest.raises(RolloutSpecError, match="'ab' has no Argo Rollouts equivalent"):
        to_argo(ROOT / "scenarios" / "ab_test.toml")
    notes: list = []
    path = ROOT / "scenarios" / "progressive_bad_candidate.toml"
    text = to_argo(path, warnings=notes)
    assert "# note: gates[1] (latency_p99_ms relative to legacy) is not exported" in text
    assert "# note: gates exported as the AnalysisTemplate 'gates'" in text
    assert len(notes) == 3 and "resets them on a pass" in notes[2].message
    rollout, template = yaml.safe_load_all(text)
    assert rollout["metadata"]["name"] == "progressive-bad-candidate"
    assert rollout["spec"]["strategy"]["canary"]["analysis"] == {"templates": [{"templateName": "gates"}]}
    (metric,) = template["spec"]["metrics"]
    assert (metric["interval"], metric["failureLimit"]) == ("1m", 1)
    assert metric["failureCondition"] == "len(result) > 0 && result[0] > 0.02"
    # imported back, the gate is an Argo metric that catches the scenario's broken candidate
    base = load_scenario(path)
    again, _ = from_argo(text, base=base)
    (m,) = again.strategy.analysis_templates["gates"].metrics
    assert (m.measure, m.min_samples, m.window_s) == ("error_rate", 100, 60.0)
    result = workbench.run(again)
    assert result.summary.rollback.rolled_back
    assert workbench.run(again.with_overrides({"faults": []})).summary.strategy.final_state == "promoted"
