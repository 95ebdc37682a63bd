"""What a run showed: fault impact, overload, scale events, bandit regret and drift over time.

Every number is checked against the run's own tables, computed here a second way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.experiments.compare import strategy_kpis
from workbench.story import (
    bandit_over_time,
    drift_over_time,
    fault_impact,
    overload_lines,
    saturated_spans,
    scale_lines,
    story_lines,
)
from workbench.summary import outcome_lines


@pytest.fixture(scope="module")
def runs(scenarios_dir):
    """Shipped scenarios, some shortened (every fault still inside the run)."""
    cases = {
        "latency_spike": {},
        "baseline": {"duration_s": 300},
        "error_burst": {},
        "bandit_better_candidate": {"duration_s": 600},
        "gradual_data_drift": {"duration_s": 1200},
        "autoscaling_diurnal": {"duration_s": 1800},
        "progressive_bad_candidate": {"duration_s": 900},
        "interleaving_recommenders": {"duration_s": 600},
        "data_drift": {"duration_s": 1200},
    }
    return {name: workbench.run(scenarios_dir / f"{name}.toml", overrides=ov or None)
            for name, ov in cases.items()}


def test_saturated_spans_need_a_full_minute_of_busy_replicas():
    t = np.arange(0.0, 300.0, 10.0)
    u = np.full(t.size, 0.5)
    u[[3, 8, 9]] = 1.0  # single busy samples: ordinary at high load
    assert saturated_spans(pd.DataFrame({"time_s": t, "utilisation": u})) == []
    u[12:20] = 1.0  # 120-190 s: the minute ending at 170 s is the first full one
    assert saturated_spans(pd.DataFrame({"time_s": t, "utilisation": u})) == [(120.0, 190.0)]


def test_overload_note_on_a_latency_spike_counts_the_timeouts_in_its_span(runs):
    r = runs["latency_spike"]
    res = r.tables["resources"]
    spans = saturated_spans(res[res["model"] == "legacy"])
    assert len(spans) == 1
    start, end = spans[0]
    assert 290 <= start <= 330 and 470 <= end <= 490  # the 5x spike runs 300-480 s
    [line] = overload_lines(r)
    req = r.requests
    inside = req[(req["time_s"] >= start) & (req["time_s"] <= end)]
    timeouts = int((inside["status"] == "timeout").sum())
    assert timeouts > 1000
    assert f"{timeouts:,} of its requests timed out" in line and f"in {start:.0f}-{end:.0f} s" in line


def test_no_overload_note_at_two_thirds_utilisation(runs):
    assert overload_lines(runs["baseline"]) == []


def test_fault_impact_before_and_during_an_error_burst(runs):
    r = runs["error_burst"]
    table = fault_impact(r, 0).set_index("model")
    req = r.requests
    during = req[(req["time_s"] >= 360) & (req["time_s"] < 600) & (req["model"] == "candidate")]
    before = req[(req["time_s"] >= r.scenario.warmup_s) & (req["time_s"] < 360) & (req["model"] == "candidate")]
    assert table.loc["candidate", "requests_during"] == len(during)
    assert table.loc["candidate", "non_ok_during"] == pytest.approx((during["status"] != "ok").mean())
    assert table.loc["candidate", "non_ok_before"] == pytest.approx((before["status"] != "ok").mean())
    assert 0.12 < table.loc["candidate", "non_ok_during"] < 0.18  # 15% injected
    assert table.loc["legacy", "non_ok_during"] < 0.01  # legacy untouched
    assert "error_burst #0 on candidate, 360-600 s" in "\n".join(story_lines(r))


def test_fault_impact_of_a_data_drift_reports_the_feature(runs):
    r = runs["data_drift"]
    feature = fault_impact(r, 0).attrs["feature"]
    req = r.requests
    during = req.loc[req["time_s"] >= 600, "feature_x2"]
    assert feature["mean_during"] == pytest.approx(during.mean())
    assert abs(feature["mean_before"]) < 0.05 and feature["sd_during"] > 1.2 * feature["sd_before"]


def test_bandit_regret_over_time_ends_at_the_strategy_regret(runs):
    r = runs["bandit_better_candidate"]
    table = bandit_over_time(r)
    assert len(table) == 6 and table["until_s"].iloc[-1] == 600
    assert table["regret"].iloc[-1] == pytest.approx(r.summary.strategy.get("regret"), rel=1e-9)
    assert table["regret"].is_monotonic_increasing
    assert table["requests"].sum() == len(r.requests)
    first = r.requests[r.requests["time_s"] < 100]
    assert table["share_candidate"].iloc[0] == pytest.approx((first["model"] == "candidate").mean())
    text = "\n".join(story_lines(r))
    assert "bandit share and cumulative regret over time" in text and "regret:" in text


def test_drift_over_time_shows_the_monitor_statistics(runs):
    r = runs["gradual_data_drift"]
    drift = r.tables["drift"]
    wide = drift_over_time(r)
    assert len(wide) <= 12 + 3 and list(wide.columns) == ["time_s", "x1", "x2", "x3"]
    first_flag = drift[drift["drift"] & (drift["feature"] == "x2")]["time_s"].min()
    assert first_flag in set(wide["time_s"])
    for row in wide.itertuples(index=False):
        expect = drift[(drift["time_s"] == row.time_s) & (drift["feature"] == "x2")].iloc[0]
        assert row.x2 == f"{expect['statistic']:.3f}" + ("*" if expect["drift"] else "")
    assert not wide["x1"].str.endswith("*").any()


def test_scale_lines_count_the_scale_events(runs):
    r = runs["autoscaling_diurnal"]
    scale = r.events[r.events["kind"] == "scale"]
    def went_up(reason):  # "legacy: 3 -> 5 replicas (...)": read from the text, not the details
        before, after = reason.split(": ", 1)[1].split(" replicas", 1)[0].split(" -> ")
        return int(after) > int(before)

    ups = sum(went_up(x) for x in scale["reason"])
    assert 0 < ups < len(scale)
    [line] = scale_lines(r)
    assert line.startswith(f"autoscaling legacy: {len(scale)} scale events ({ups} up, {len(scale) - ups} down)")


def test_users_hurt_match_compare_and_the_rollback(runs):
    r = runs["progressive_bad_candidate"]
    harm = r.summary.harm
    kpis = strategy_kpis(r)
    assert harm.bad_requests == kpis["bad_requests_candidate"] and harm.bad_users == kpis["bad_users_candidate"]
    assert harm.rollback_s == r.summary.rollback.time_s == 540.0
    assert not (r.requests["model"] == "candidate")[r.requests["time_s"] > 540.0].any()
    lines = outcome_lines(r.summary)
    assert lines[0].startswith("outcome: rolled back at 540 s")
    assert lines[1].startswith(f"users hurt before the rollback at 540 s: {harm.bad_users:,} of the {harm.users:,}")


def test_interleaving_verdict_states_both_sign_tests(runs):
    r = runs["interleaving_recommenders"]
    d = r.summary.strategy.details
    text = "\n".join(outcome_lines(r.summary))
    assert f"Delta_AB = {d['delta_ab']:+.4f}" in text
    assert f"over users ({d['users_prefer_candidate']:,} prefer the candidate" in text
    assert f"sign test over impressions p = {d['sign_test_p_value']:.2g}" in text
    better = "candidate" if d["users_prefer_candidate"] > d["users_prefer_legacy"] else "legacy"
    if d["user_sign_test_p_value"] < 0.05:
        assert f"verdict: {better} ranks better" in text
    assert "trust the test over users" in text
    assert "users hurt" not in text  # interleaving never serves the candidate's answer alone


def test_story_items_are_sentences_or_whole_tables_after_their_title(runs):
    for r in runs.values():
        items = story_lines(r)
        for k, item in enumerate(items):
            assert item and item == item.rstrip() and item.strip("\n") == item
            if "\n" not in item:
                assert item == item.strip()
            else:  # a table: a header and rows, after a title naming it
                assert len(item.splitlines()) >= 2 and "\n" not in items[k - 1]
                assert items[k - 1].endswith(":") or "before -> during" in items[k - 1]


def test_a_run_read_back_from_disk_tells_the_same_story(runs, tmp_path):
    from workbench.result import RunResult

    for name in ("error_burst", "bandit_better_candidate"):
        r = runs[name]
        back = RunResult.from_dir(r.to_dir(tmp_path / name))
        assert story_lines(back) == story_lines(r)
