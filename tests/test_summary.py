"""The typed run summary: strict JSON round trips of real runs, NaN as null, frozen records."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

import workbench
from workbench.summary import (
    AbVerdict,
    CandidateHarm,
    Incident,
    ModelKpis,
    MonitoringOutcome,
    ResourceKpis,
    RollbackOutcome,
    RunSummary,
    SampleRatioCheck,
    ShadowKpis,
    StrategyOutcome,
    ValidationOutcome,
    format_summary,
)

# shipped scenarios, shortened; together every optional section and an incident appear
RUNS = {
    "ab_test": {"duration_s": 300},  # srm
    "shadow_candidate_crashes": {"duration_s": 300},  # shadow
    "progressive_bad_candidate": {"duration_s": 900},  # a rollback incident, strategy details
    "validation_gate": {"duration_s": 300},  # validation; a blocked candidate has NaN KPIs
    "autoscaling_diurnal": {"duration_s": 1200},  # scale events
    "latency_spike_rollback": {"duration_s": 720},  # monitoring
}
TOP_KEYS = ["scenario", "seed", "duration_s", "warmup_s", "requests", "users", "status_counts", "error_rate",
            "throughput_per_s", "models", "strategy", "resources", "rollback", "incidents"]
SECTIONS = {"validation": ValidationOutcome, "monitoring": MonitoringOutcome, "shadow": ShadowKpis,
            "srm": SampleRatioCheck, "harm": CandidateHarm, "ab_verdict": AbVerdict}


@pytest.fixture(scope="module")
def summaries(scenarios_dir) -> dict[str, RunSummary]:
    return {name: workbench.run(scenarios_dir / f"{name}.toml", overrides=ov).summary for name, ov in RUNS.items()}


def _no_constants(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def strict_loads(text: str):
    """Parse JSON, refusing NaN and Infinity tokens."""
    return json.loads(text, parse_constant=_no_constants)


def same(a, b) -> bool:
    """Equality of plain values where NaN equals NaN (and only NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_every_optional_section_and_an_incident_occur(summaries):
    for section in SECTIONS:
        assert any(getattr(s, section) is not None for s in summaries.values()), section
    assert any(s.incidents for s in summaries.values())
    assert any(r.scale_events for s in summaries.values() for r in s.resources.values())


@pytest.mark.parametrize("name", list(RUNS))
def test_round_trip_through_strict_json(summaries, name):
    s = summaries[name]
    text = s.to_json()
    back = RunSummary.from_json(text)
    assert back.to_json() == text
    assert same(back.to_dict(), s.to_dict())
    # the parts come back as the same types, tuples as tuples
    assert all(isinstance(m, ModelKpis) for m in back.models.values())
    assert all(isinstance(r, ResourceKpis) for r in back.resources.values())
    assert isinstance(back.strategy, StrategyOutcome) and back.strategy.details == s.strategy.details
    assert isinstance(back.rollback, RollbackOutcome) and back.rollback == s.rollback
    assert isinstance(back.incidents, tuple) and back.incidents == s.incidents
    assert all(isinstance(i, Incident) for i in back.incidents)
    for section, kind in SECTIONS.items():
        part = getattr(back, section)
        assert (part is None) == (getattr(s, section) is None)
        assert part is None or isinstance(part, kind)
    if back.srm is not None:
        assert isinstance(back.srm.counts, tuple) and back.srm.counts == s.srm.counts
    assert all(type(v) is int for v in back.status_counts.values())
    assert format_summary(back) == format_summary(s)


@pytest.mark.parametrize("name", list(RUNS))
def test_json_is_strict(summaries, name):
    text = summaries[name].to_json()
    data = strict_loads(text)
    assert list(data) == TOP_KEYS + [k for k in SECTIONS if getattr(summaries[name], k) is not None]
    with pytest.raises(ValueError, match="NaN"):
        strict_loads('{"x": NaN}')  # the check itself refuses what non-strict JSON writers emit


def test_nan_is_written_as_null_and_read_back_as_nan(summaries):
    s = summaries["validation_gate"]  # the blocked candidate served no one: its KPIs are NaN
    cand = s.models["candidate"]
    assert cand.requests == 0 and math.isnan(cand.latency_p99_ms) and math.isnan(cand.prediction_mae)
    data = strict_loads(s.to_json())
    assert data["models"]["candidate"]["latency_p99_ms"] is None
    assert data["models"]["candidate"]["prediction_mae"] is None
    back = RunSummary.from_json(s.to_json())
    assert math.isnan(back.models["candidate"].latency_p99_ms) and math.isnan(back.models["candidate"].error_rate)
    assert back.models["candidate"].requests == 0
    assert back.rollback.time_s is None  # an optional float stays None, not NaN


def test_an_unlimited_pool_has_nan_costs_and_no_scale_events():
    s = workbench.run({"name": "unlimited", "duration_s": 30, "models": {"legacy": {}}}, seed=1).summary
    res = s.resources["legacy"]
    assert math.isnan(res.replica_seconds) and res.scale_events is None
    assert "scale_events" not in s.to_dict()["resources"]["legacy"]
    back = RunSummary.from_json(s.to_json())
    assert back.resources["legacy"].scale_events is None and math.isnan(back.resources["legacy"].mean_replicas)


def test_summary_records_are_frozen(summaries):
    s = summaries["progressive_bad_candidate"]
    records = [s, s.models["legacy"], s.strategy, s.resources["legacy"], s.rollback, s.incidents[0]]
    records += [getattr(x, k) for x in summaries.values() for k in SECTIONS if getattr(x, k) is not None]
    for record in records:
        field = dataclasses.fields(record)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)


def test_to_dict_is_the_layout_of_summary_json(tmp_path, scenarios_dir):
    r = workbench.run(scenarios_dir / "latency_spike_rollback.toml", overrides={"duration_s": 720})
    written = strict_loads((r.to_dir(tmp_path / "run") / "summary.json").read_text())
    # the file has sorted keys; its content is to_json's, NaN as null
    assert json.dumps(written, sort_keys=True) == json.dumps(strict_loads(r.summary.to_json()), sort_keys=True)
    d = r.summary.to_dict()
    assert set(d) == set(written) and list(d) == TOP_KEYS + ["monitoring", "srm", "harm", "ab_verdict"]
    assert list(d["models"]["candidate"]) == [f.name for f in dataclasses.fields(ModelKpis)]
    assert list(d["status_counts"]) == ["ok", "error", "timeout", "dropped"]
    assert list(d["strategy"])[:2] == ["kind", "final_state"]  # details flat beside them
    assert list(d["rollback"]) == ["rolled_back", "time_s"] and d["rollback"]["rolled_back"]
    assert list(d["incidents"][0]) == ["time_s", "trigger", "reason"]
    assert list(d["monitoring"]) == ["alerts", "first_alarm_s"]
    assert list(d["srm"]) == [f.name for f in dataclasses.fields(SampleRatioCheck)]
    assert isinstance(d["srm"]["counts"], list)


def test_strategy_outcome_reads_details_by_name(summaries):
    st = summaries["progressive_bad_candidate"].strategy
    assert st.kind == "progressive" and st.final_state == "rolled_back"
    assert st.get("no such value", "fallback") == "fallback"
    flat = st.to_dict()
    assert StrategyOutcome.from_dict(flat) == st
    for key, value in st.details.items():
        assert st.get(key) == value and flat[key] == value


# ---------------------------------------------------------------------------------- A/B/n report
def test_candidate_comparisons_are_holm_corrected_as_statsmodels_does():
    import numpy as np
    from scipy import stats
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportions_ztest

    from workbench.stats.corrections import compare_with_legacy

    rng = np.random.default_rng(2)
    latency = {"legacy": rng.lognormal(3.7, 0.5, 3000), "a": rng.lognormal(3.72, 0.5, 1500),
               "b": rng.lognormal(3.6, 0.6, 1500), "c": rng.lognormal(3.7, 0.5, 1500)}
    errors = {"legacy": (30, 3000), "a": (22, 1500), "b": (15, 1500), "c": (31, 1500)}
    rows = compare_with_legacy(errors, latency)
    raw_err = [proportions_ztest([errors[m][0], 30], [errors[m][1], 3000])[1] for m in "abc"]
    raw_lat = [stats.ttest_ind(latency[m], latency["legacy"], equal_var=False).pvalue for m in "abc"]
    assert [r.error_p_value for r in rows] == pytest.approx(raw_err, rel=1e-9)
    assert [r.latency_p_value for r in rows] == pytest.approx(raw_lat, rel=1e-9)
    assert [r.error_adjusted_p for r in rows] == pytest.approx(multipletests(raw_err, method="holm")[1], rel=1e-9)
    assert [r.latency_adjusted_p for r in rows] == pytest.approx(multipletests(raw_lat, method="holm")[1], rel=1e-9)
    assert [r.latency_diff_ms for r in rows] == pytest.approx(
        [latency[m].mean() - latency["legacy"].mean() for m in "abc"], rel=1e-12)


@pytest.fixture(scope="module")
def abn(scenarios_dir) -> RunSummary:
    return workbench.run(scenarios_dir / "abn_three_models.toml", engine="fast").summary


def test_abn_report_round_trips_and_prints_one_line_per_candidate(abn):
    from workbench.summary import ArmComparison, CandidateComparison

    arms = abn.arms
    assert isinstance(arms, ArmComparison) and all(isinstance(c, CandidateComparison) for c in arms.candidates)
    assert ArmComparison.from_dict(strict_loads(json.dumps(arms.to_dict()))) == arms
    back = RunSummary.from_json(abn.to_json())
    assert back.arms == arms and same(strict_loads(back.to_json()), strict_loads(abn.to_json()))
    text = format_summary(abn).splitlines()
    table = text[text.index(next(line for line in text if line.startswith("candidates vs legacy"))) + 1:]
    assert len(table) == 1 + len(arms.candidates)  # header and one line per candidate
    assert table[1].split()[0] == "faster" and table[1].split()[-1] == "better"
    assert table[2].split()[0] == "flaky" and table[2].split()[-1] == "worse"
    md = format_summary(abn, markdown=True)
    assert "| flaky |" in md and "holm-adjusted" in md


def test_a_two_arm_summary_has_no_abn_report(summaries):
    assert summaries["ab_test"].arms is None and "arm_comparison" not in summaries["ab_test"].strategy.details
