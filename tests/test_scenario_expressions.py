"""The safe evaluator of analysis conditions: what Argo users write works, anything else is refused."""

from __future__ import annotations

import math

import pytest

from workbench.scenario import AnalysisMetric, ScenarioError, load_scenario
from workbench.scenario.expressions import MAX_NESTING, ConditionError, parse_condition


@pytest.mark.parametrize(("text", "result", "expected"), [
    ("result[0] >= 0.95", [0.97], True),
    ("result[0] >= 0.95", [0.90], False),
    ("result[0] < 0.05 && result[0] >= 0", [0.01], True),
    ("result[0] > 0.5 || result[0] < 0.1", [0.3], False),
    ("len(result) == 0 || result[0] < 0.05", [], True),
    ("!(result[0] > 1)", [0.5], True),
    ("not result[0] > 1 and true", [0.5], True),
    ("isNaN(result[0])", [math.nan], True),
    ("isInf(result[-1])", [1.0, math.inf], True),
    ("result[0] * 100 >= 99", [0.995], True),
    ("result[1] - result[0] < 0.1 * 2", [1.0, 1.15], True),
    ("abs(result[0] - 1) <= 0.01", [0.995], True),
    ("max(result) < 5 && min(result) > 1", [2.0, 3.0, 4.0], True),
    ("asInt(result[0]) == 3", [3.7], True),
    ("result[0] % 2 == 1", [5.0], True),
    ("result[0] == 1e-3", [0.001], True),
    ("false == false", [], True),
])
def test_conditions_argo_users_write(text, result, expected):
    assert parse_condition(text).evaluate(result) is expected


@pytest.mark.parametrize(("text", "message"), [
    ("__import__(os)", "column 1: unknown name '__import__'"),
    ("open('x')", "column 6: unexpected \"'\""),
    ("result.__class__", "column 7: unexpected '.'"),
    ("result[0] >", "column 12: expected a value, found the end"),
    ("1 < 2 < 3", "column 7: chained comparison"),
    ("len(result", "expected ')', found the end"),
    ("len()", "len() takes 1 argument(s), got 0"),
    ("isNaN", "isNaN is a function"),
    ("result[0] = 1", "column 11: unexpected '='"),
    ("", "an empty condition"),
    ("(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1), "nested more than"),
])
def test_anything_else_is_refused_when_parsed(text, message):
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    assert message in str(info.value)


@pytest.mark.parametrize(("text", "result", "message"), [
    ("result[0] < 0.05", [], "index 0 out of range (the query returned no values)"),
    ("result[2] < 0.05", [0.1], "index 2 out of range (1 values)"),
    ("result < 0.05", [0.01], "result is a vector of 1 values; index it, e.g. result[0]"),
    ("result[0]", [0.01], "not a boolean"),
    ("result[0] / 0 > 1", [0.01], "division by zero"),
    ("result[0] && true", [0.01], "expected a boolean, got a number"),
    ("result[0.5] > 1", [0.01], "whole number"),
    ("true == 1", [], "cannot compare a boolean with a number"),
])
def test_evaluation_errors_are_condition_errors(text, result, message):
    condition = parse_condition(text)
    with pytest.raises(ConditionError) as info:
        condition.evaluate(result)
    assert message in str(info.value)


def test_a_scalar_result_compares_directly():
    assert parse_condition("result >= 0.95").evaluate(0.99) is True


def test_short_circuit_never_reads_a_missing_value():
    assert parse_condition("len(result) > 0 && result[0] > 1").evaluate([]) is False


def test_a_bad_condition_in_a_scenario_names_the_field():
    with pytest.raises(ValueError):
        AnalysisMetric(name="m", measure="error_rate", success_condition="result[0] <")
    raw = {"name": "x", "duration_s": 60, "models": {"legacy": {}, "candidate": {}},
           "strategy": {"kind": "progressive", "steps": [{"weight": 10, "analysis": ["t"]}, {"weight": 100}],
                        "analysis_templates": {"t": {"metrics": [
                            {"name": "m", "measure": "error_rate", "failure_condition": "result[0] >> 1"}]}}}}
    with pytest.raises(ScenarioError) as info:
        load_scenario(raw)
    text = str(info.value)
    assert "strategy.analysis_templates.t.metrics[0].failure_condition" in text and "column 12" in text
