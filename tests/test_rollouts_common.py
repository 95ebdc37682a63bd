"""The helpers the Argo Rollouts and Flagger converters share (workbench.rollouts.common)."""

from __future__ import annotations

import json

import pytest

from workbench.rollouts.common import (
    MEASURES,
    RolloutSpecError,
    WarningList,
    dns_name,
    format_duration,
    guess_measure,
    load_documents,
    load_metric_map,
    parse_duration,
    parse_prom_duration,
    query_in_seconds,
    query_window_s,
    resolve_measure,
    substitute_args,
)
from workbench.scenario import ScenarioError


@pytest.mark.parametrize(("text", "seconds"), [
    ("1h30m", 5400.0), ("10m", 600.0), ("30s", 30.0), ("1.5h", 5400.0), ("300ms", 0.3),
    ("2m30.5s", 150.5), ("1h0m0s", 3600.0), ("90", 90.0), (45, 45.0), (0, 0.0), ("1us", 1e-6),
])
def test_parse_duration_reads_go_durations_and_seconds(text, seconds):
    # Go's time.ParseDuration: "1h30m" is 5400 s; Argo reads a bare number as seconds
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("bad", ["10", "5 m", "1d", "m", "", "-5s", True, None, "1h-3m", [1]])
def test_parse_duration_refuses_what_go_refuses(bad):
    if bad == "10":  # a string of digits is seconds, like an integer
        assert parse_duration(bad) == 10.0
        return
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(("seconds", "text"), [
    (5400, "1h30m"), (600, "10m"), (30, "30s"), (90, "1m30s"), (0, "0s"), (3600, "1h"), (0.25, "250ms"),
    (1.5, "1.5s"), (86400, "24h"),
])
def test_format_duration_writes_the_shortest_go_duration(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [1e-7, 123.456, 2.5e-5, 7200.125, 1 / 3])
def test_format_duration_round_trips_exactly(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


def test_prometheus_ranges_and_windows():
    assert parse_prom_duration("1h30m") == 5400.0
    assert parse_prom_duration("2d") == 172800.0
    q = 'sum(irate(x{code!~"5.*"}[5m])) / sum(irate(x[5m]))'
    assert query_window_s(q) == 300.0
    assert query_window_s("max_over_time(rate(x[1m])[10m:1m])") is None  # two different ranges
    assert query_window_s("avg_over_time(x[10m:30s])") == 600.0  # a subquery's range
    assert query_window_s("up") is None
    assert query_window_s('x{le=~"[0-9]+"}') is None  # a label regex is no range
    assert query_in_seconds("histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[1m]))")
    assert not query_in_seconds("histogram_quantile(0.99, rate(request_latency_ms_bucket[1m]))")


@pytest.mark.parametrize(("name", "query", "measure"), [
    ("success-rate", "", "success_rate"),
    ("error-rate", "", "error_rate"),
    ("total-5xx", "", "error_rate"),
    ("failed-requests", "", "error_rate"),
    ("latency-p99", "", "latency_p99_ms"),
    ("latency", "histogram_quantile(0.95, rate(request_duration_seconds_bucket[1m]))", "latency_p95_ms"),
    ("latency", "histogram_quantile(0.5, rate(request_duration_seconds_bucket[1m]))", "latency_p50_ms"),
    ("median-duration", "", "latency_p50_ms"),
    ("request-duration", "", "latency_p99_ms"),
    ("check", 'sum(rate(http_requests_total{code=~"5.."}[1m]))', None),
    ("check", "sum(rate(http_errors_total[1m]))", "error_rate"),
    ("smoke-tests", "", None),
])
def test_guess_measure(name, query, measure):
    assert guess_measure(name, query) == measure


def test_metric_map_wins_name_first_then_the_longest_query_text():
    mmap = {"smoke": "success_rate", "http_request_duration": "latency_p50_ms",
            "http_request_duration_seconds_bucket": "latency_p95_ms"}
    assert resolve_measure("smoke", "", mmap) == "success_rate"
    q = "histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[5m]))"
    assert resolve_measure("p99", q, mmap) == "latency_p95_ms"
    assert resolve_measure("error-rate", "rate(x[1m])", mmap) == "error_rate"  # heuristics after the map


def test_load_metric_map_reads_toml_and_json_and_checks_measures(tmp_path):
    (tmp_path / "m.toml").write_text('"smoke-tests" = "error_rate"\n')
    (tmp_path / "m.json").write_text(json.dumps({"p99": "latency_p99_ms"}))
    (tmp_path / "bad.toml").write_text('x = "latency_ms"\n')
    assert load_metric_map(tmp_path / "m.toml") == {"smoke-tests": "error_rate"}
    assert load_metric_map(tmp_path / "m.json") == {"p99": "latency_p99_ms"}
    with pytest.raises(RolloutSpecError) as err:
        load_metric_map(tmp_path / "bad.toml")
    assert "bad.toml" in str(err.value) and "'latency_ms'" in str(err.value)
    assert all(m in str(err.value) for m in MEASURES)
    assert isinstance(err.value, ScenarioError)


def test_substitute_args_fills_and_reports_missing():
    text, missing = substitute_args("a={{args.x}} b={{ args.y }} c={{args.z}}", {"x": 1, "y": "two"})
    assert text == "a=1 b=two c={{args.z}}"
    assert missing == ["z"]


def test_dns_name():
    assert dns_name("Progressive Good_Candidate") == "progressive-good-candidate"
    assert dns_name("---") == "rollout"
    assert len(dns_name("x" * 100)) == 63


def test_documents_keep_line_numbers_and_labels():
    text = "# comment\napiVersion: v1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  steps:\n  - setWeight: 5\n" \
           "  - pause:\n      duration: 1m\n---\n---\nkind: AnalysisTemplate\n"
    docs = load_documents(text)
    assert [d.label for d in docs] == ["Rollout/r", "AnalysisTemplate/?"]
    assert docs[0].line(("spec", "steps", 1, "pause", "duration")) == 10
    assert docs[0].line(("spec", "steps", 0)) == 8
    assert docs[0].line(("spec", "missing", "deeper")) == 6  # the deepest parent that exists
    err = docs[0].error("bad", ("spec", "steps", 1, "pause"))
    assert str(err) == "<text>:9: Rollout/r: spec.steps[1].pause: bad"
    assert (err.line, err.document, err.field) == (9, "Rollout/r", "spec.steps[1].pause")


def test_invalid_yaml_and_alias_bombs_name_the_file_and_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(RolloutSpecError, match=r"r\.yaml:\d+: not valid YAML"):
        load_documents(path)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True))
    with pytest.raises(RolloutSpecError, match="expands to over"):
        load_documents(bomb)
    with pytest.raises(RolloutSpecError, match="file not found"):
        load_documents(tmp_path / "missing.yaml")


def test_yaml_tags_are_refused():
    with pytest.raises(RolloutSpecError, match="not valid YAML"):
        load_documents("a: !!python/object/apply:os.system ['true']\n")


def test_warning_list_locates_each_warning():
    doc = load_documents("kind: Rollout\nmetadata: {name: r}\nspec:\n  replicas: 3\n")[0]
    warnings = WarningList()
    w = warnings.add("not mapped", doc=doc, path=("spec", "replicas"))
    assert str(w) == "<text>:4: Rollout/r: spec.replicas: not mapped"
    assert warnings == [w] and w.field == "spec.replicas"
