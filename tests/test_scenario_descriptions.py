"""Every shipped scenario does what its ``description`` says.

A description is the promise a lesson or a design review reads first: "fails 15% of its
calls for four minutes", "rolls back", "promotion at about 15 minutes". Each promise is
written below as one claim (the words it checks, the numbers it covers, a check against the
scenario's own fields or a real run of it), and a second test fails when a description states
a number that no claim covers, or when a claim covers a number its description no longer
states. Descriptions are read from the files at test time.

Runs: one per scenario (and per override a claim needs), cached (``functools.cache``); every
scenario here is served by the fast engine except the bandit and the ADWIN rollback.
"""

from __future__ import annotations

import functools
import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.experiments.capacity import autoscaling_vs_fixed

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
#: descriptions edited elsewhere: their claims are listed (the coverage test reads the file)
#: but their checks are skipped


@dataclass(frozen=True)
class Claim:
    """One promise of a description: the words, the numbers they state, and its check."""

    text: str
    numbers: tuple[float, ...]
    check: Callable[[str], None]


# ---------------------------------------------------------------------------- shared runs
@functools.cache
def scenario(name: str):
    return workbench.load_scenario(SCENARIOS / f"{name}.toml")


def _freeze(overrides: dict) -> str:
    return json.dumps(overrides, sort_keys=True)


@functools.cache
def _run(name: str, frozen: str):
    overrides = json.loads(frozen)
    sc = scenario(name)
    return workbench.run(sc.with_overrides(overrides) if overrides else sc)


def run(name: str, **overrides):
    """The scenario's run at its own seed (with dotted-path ``overrides``), once per module."""
    return _run(name, _freeze({k.replace("__", "."): v for k, v in overrides.items()}))


def requests_in(name: str, model: str | None = None, start_s: float = 0.0, end_s: float = math.inf, **ov):
    q = run(name, **ov).requests
    keep = (q["time_s"] >= start_s) & (q["time_s"] < end_s)
    if model is not None:
        keep &= q["model"].astype(str) == model
    return q[keep]


def failed_share(frame) -> float:
    return float((frame["status"].astype(str) != "ok").mean())


def events(name: str, kind: str, **ov):
    ev = run(name, **ov).events
    return ev[ev["kind"] == kind]


def fault(name: str, index: int = 0):
    return scenario(name).faults[index]


def gate(name: str, metric: str):
    return next(g for g in scenario(name).strategy.gates if g.metric == metric)


def no_candidate_after_rollback(name: str) -> None:
    t = run(name).summary.rollback.time_s
    assert t is not None, "no rollback"
    after = requests_in(name, start_s=t + 1e-9)
    assert len(after) > 0 and set(after["model"].astype(str)) == {"legacy"}


# ---------------------------------------------------------------------------- ab_test
def ab_split_is_even(name):
    assert scenario(name).strategy.candidate_fraction == 0.5
    srm = run(name).summary.srm
    assert srm.expected_shares == (0.5, 0.5) and not srm.mismatch


def _pct(x: float) -> float:
    return round(100 * x, 0)


def ab_primary(name):
    assert scenario(name).seed == 2
    p = run(name).summary.ab_verdict.primary
    assert p.metric == "conversions_per_user" and run(name).summary.ab_verdict.unit == "users"
    assert (round(p.mean_treatment, 3), round(p.mean_control, 3)) == (0.693, 0.554)
    assert [round(100 * x, 1) for x in (p.relative, p.relative_ci_low, p.relative_ci_high)] == [25.1, -64.5, 114.7]
    assert round(p.p_value, 2) == 0.56


def ab_cuped(name):
    v = run(name).summary.ab_verdict
    assert v.cuped_pre_period_s == 3600 and _pct(v.cuped.variance_reduction) == 99
    c = v.cuped
    assert [round(100 * x, 1) for x in (c.relative, c.relative_ci_low, c.relative_ci_high)] == [3.0, -4.1, 10.1]
    assert round(c.p_value, 1) == 0.4 and v.decision == "inconclusive"


def ab_guardrails(name):
    v = run(name).summary.ab_verdict
    g = {x.metric: x for x in v.guardrails}
    assert v.correction == "holm" and g["error_rate"].status == "ok"
    assert round(g["mean_latency_ms"].lift.difference, 1) == -5.1


# ---------------------------------------------------------------------------- abn_three_models
def abn_weights(name):
    st = scenario(name).strategy
    assert list(st.weights) == [50, 25, 25] and len(st.arms) == 2 and not st.sticky
    counts = np.array(run(name).summary.srm.counts, dtype=float)
    np.testing.assert_allclose(counts / counts.sum(), [0.5, 0.25, 0.25], atol=0.01)


def abn_faster(name):
    models = scenario(name).models
    assert models["faster"].latency.median_ms == 30
    assert models["faster"].error_rate == models["legacy"].error_rate == 0.005
    assert run(name).summary.models["faster"].latency_p50_ms == pytest.approx(30, abs=1.5)


def abn_flaky(name):
    models = scenario(name).models
    assert models["flaky"].latency == models["legacy"].latency
    assert models["flaky"].error_rate == 0.02
    assert run(name).summary.models["flaky"].error_rate == pytest.approx(0.02, abs=0.004)


def abn_srm_passes(name):
    srm = run(name).summary.srm
    assert len(srm.counts) == 3 and not srm.mismatch


def abn_holm_verdicts(name):
    comp = run(name).summary.strategy.details["arm_comparison"]
    assert comp["correction"] == "holm" and len(comp["candidates"]) == 2
    verdict = {c["candidate"]: c for c in comp["candidates"]}
    assert verdict["flaky"]["verdict"] == "worse" and verdict["flaky"]["error_rate_diff"] > 0
    assert verdict["flaky"]["error_adjusted_p"] < comp["alpha"]
    assert verdict["faster"]["verdict"] == "better" and verdict["faster"]["latency_diff_ms"] < 0
    assert verdict["faster"]["latency_adjusted_p"] < comp["alpha"]


# ---------------------------------------------------------------------------- autoscaling_diurnal
def diurnal_period(name):
    tr = scenario(name).traffic
    assert tr.pattern == "diurnal" and tr.period_s == 30 * 60


def diurnal_range(name):
    tr = scenario(name).traffic
    assert tr.rate_per_s * (1 - tr.amplitude) == pytest.approx(18)
    assert tr.rate_per_s * (1 + tr.amplitude) == pytest.approx(102)


def hpa_rule(name):
    a = scenario(name).models["legacy"].autoscaling
    assert (a.target_utilisation, a.min_replicas, a.max_replicas) == (0.6, 2, 14)
    scale = events(name, "scale")
    assert len(scale) > 0


def hpa_provisioning(name):
    assert scenario(name).models["legacy"].autoscaling.provisioning_delay_s == 30


def hpa_stabilisation(name):
    assert scenario(name).models["legacy"].autoscaling.scale_down_stabilisation_s == 5 * 60


@functools.cache
def _capacity(name):
    return autoscaling_vs_fixed(scenario(name))


def capacity_both_within_slo(name):
    table = _capacity(name)
    assert scenario(name).slo.latency_ms == 250
    assert table["p95_within_slo"].all() and (table["latency_p95_ms"] <= 250).all()
    auto, fixed = table["replica_seconds"].iloc[0], table["replica_seconds"].iloc[1]
    assert table["fleet"].iloc[0] == "autoscaled" and auto < fixed


# ---------------------------------------------------------------------------- bandit_better_candidate
def bandit_slo(name):
    assert scenario(name).slo.latency_ms == 250 and scenario(name).strategy.reward == "ok_within_slo"


def bandit_candidate_meets_slo_more_often(name):
    models = scenario(name).models
    assert models["legacy"].latency.p99_ms > models["candidate"].latency.p99_ms
    d = run(name).summary.strategy.details
    assert d["reward_rate_candidate"] > d["reward_rate_legacy"]


def bandit_rewards_per_request(name):
    assert scenario(name).strategy.update_interval_s == 0


def _candidate_share(frame) -> float:
    return float((frame["model"].astype(str) == "candidate").mean())


def bandit_learns_in_seconds(name):
    assert scenario(name).traffic.rate_per_s == 40
    assert _candidate_share(requests_in(name, end_s=1.0)) < 0.85  # still exploring in the first second
    assert _candidate_share(requests_in(name, start_s=5.0, end_s=10.0)) > 0.85
    assert _candidate_share(requests_in(name, start_s=10.0)) == pytest.approx(0.9, abs=0.02)


def bandit_guardrail(name):
    assert scenario(name).strategy.min_legacy_share == 0.1
    d = run(name).summary.strategy.details
    legacy_share = d["routed_legacy"] / (d["routed_legacy"] + d["routed_candidate"])
    assert legacy_share == pytest.approx(0.1, abs=0.01)  # each request: legacy with probability 0.1


def bandit_regret(name):
    from workbench.viz.bandit import regret_from_requests

    sc = scenario(name)
    d = run(name).summary.strategy.details
    assert d["better_arm"] == "candidate" and d["regret"] > 0
    curve = regret_from_requests(run(name).requests, slo_latency_ms=sc.slo.latency_ms)
    late = curve[curve["time_s"] >= sc.duration_s / 2]
    slope = (late["cumulative_regret"].iloc[-1] - late["cumulative_regret"].iloc[0]) / (
        late["time_s"].iloc[-1] - late["time_s"].iloc[0])
    guardrail_cost = sc.traffic.rate_per_s * sc.strategy.min_legacy_share * (
        d["reward_rate_candidate"] - d["reward_rate_legacy"])
    assert slope == pytest.approx(guardrail_cost, rel=0.1)


# ---------------------------------------------------------------------------- baseline
def baseline_utilisation(name):
    sc = scenario(name)
    legacy = sc.models["legacy"]
    assert (sc.traffic.rate_per_s, legacy.replicas) == (60, 4)
    assert legacy.latency.mean_ms == pytest.approx(44.7, abs=0.05)
    rho = sc.traffic.rate_per_s * legacy.latency.mean_ms / 1000 / legacy.replicas
    assert rho == pytest.approx(0.67, abs=0.005)
    assert run(name).summary.models["legacy"].utilisation == pytest.approx(0.67, abs=0.02)


def baseline_small_queueing(name):
    kpis = run(name).summary.models["legacy"]
    assert 0 < kpis.mean_queue_ms < 0.25 * kpis.mean_latency_ms


def baseline_error_rate(name):
    assert scenario(name).models["legacy"].error_rate == 0.001
    assert run(name).summary.error_rate == pytest.approx(0.001, abs=0.0005)


def baseline_labels(name):
    assert scenario(name).traffic.label_delay_s == 60
    q = run(name).requests
    np.testing.assert_allclose(q["label_time_s"] - q["time_s"], 60.0)
    assert np.isfinite(run(name).summary.models["legacy"].prediction_mae)


# ---------------------------------------------------------------------------- blue_green_switch
def bg_switch(name):
    assert scenario(name).strategy.switch_s == 5 * 60
    assert events(name, "switch")["time_s"].tolist()[0] == 300
    before = requests_in(name, end_s=300.0)
    after = requests_in(name, start_s=300.0, end_s=run(name).summary.rollback.time_s)
    assert set(before["model"].astype(str)) == {"legacy"} and set(after["model"].astype(str)) == {"candidate"}


def bg_latency_triples(name):
    f = fault(name)
    assert (f.kind, f.target, f.start_s, f.multiplier) == ("latency_spike", "candidate", 10 * 60, 3.0)


def bg_gate_fails_and_switches_back(name):
    assert gate(name, "latency_p99_ms").threshold == 300
    failed = events(name, "gate_failed")
    assert len(failed) > 0 and failed["reason"].str.contains("latency_p99_ms").all()
    assert failed["time_s"].min() > 600
    assert run(name).summary.strategy.final_state == "rolled_back"
    no_candidate_after_rollback(name)


@functools.cache
def _compare(name, strategies):
    return workbench.compare(scenario(name), list(strategies))


def bg_time_degraded(name):
    row = _compare(name, ("blue_green",)).iloc[0]
    assert row["time_degraded_s"] == pytest.approx(run(name).summary.rollback.time_s - fault(name).start_s)


# ---------------------------------------------------------------------------- canary_latency_spike
def canary_cohort(name):
    st = scenario(name).strategy
    assert st.candidate_fraction == 0.05 and st.split == "users"


def canary_schedule(name):
    st = scenario(name).strategy
    assert [(s.at_s, s.weight) for s in st.schedule] == [(10 * 60, 10), (20 * 60, 25)]
    assert events(name, "step")["time_s"].tolist() == [600, 1200]


def canary_spike(name):
    f = fault(name)
    assert (f.target, f.multiplier, f.start_s, f.duration_s) == ("candidate", 4.0, 20 * 60, 5 * 60)


def canary_not_saturated(name):
    res = run(name).tables["resources"]
    cand = res[(res["model"] == "candidate") & (res["time_s"] > 1200) & (res["time_s"] <= 1500)]
    assert cand["busy"].mean() > 0 and cand["utilisation"].mean() < 0.8
    inside = requests_in(name, "candidate", 1200, 1500)
    outside = requests_in(name, "candidate", 600, 1200)
    assert inside["latency_ms"].mean() > 2 * outside["latency_ms"].mean()


def canary_only_cohort_hurt(name):
    legacy_in = requests_in(name, "legacy", 1200, 1500)["latency_ms"]
    legacy_out = requests_in(name, "legacy", 0, 1200)["latency_ms"]
    assert legacy_in.quantile(0.99) == pytest.approx(legacy_out.quantile(0.99), rel=0.1)
    cand = requests_in(name, "candidate")
    cohort = set(cand["user_id"].tolist())
    outside = requests_in(name)
    outside = outside[~outside["user_id"].isin(cohort)]
    assert len(outside) > 0 and set(outside["model"].astype(str)) == {"legacy"}
    assert run(name).summary.harm.bad_requests > 0


def canary_never_rolls_back(name):
    assert not scenario(name).strategy.model_dump().get("gates")
    assert not run(name).summary.rollback.rolled_back and events(name, "rollback").empty


# ---------------------------------------------------------------------------- capacity_crunch
def crunch_service(name):
    legacy = scenario(name).models["legacy"]
    assert (legacy.latency.dist, legacy.latency.mean_ms, legacy.replicas) == ("exponential", 50, 4)


def crunch_cycle(name):
    tr = scenario(name).traffic
    assert tr.pattern == "diurnal" and tr.period_s == 20 * 60
    assert tr.rate_per_s * (1 + tr.amplitude) == pytest.approx(76, abs=0.5)


def crunch_peak_utilisation(name):
    sc = scenario(name)
    legacy = sc.models["legacy"]
    peak = sc.traffic.rate_per_s * (1 + sc.traffic.amplitude)
    assert peak * legacy.latency.mean_ms / 1000 / legacy.replicas == pytest.approx(0.95, abs=0.005)


def crunch_erlang(name):
    q = run(name).requests
    phase = (q["time_s"] % 1200) / 1200  # the rate peaks a quarter into the cycle
    trough = q[(phase > 0.7) & (phase < 0.8)]["queue_ms"].mean()
    peak = q[(phase > 0.2) & (phase < 0.3)]["queue_ms"].mean()
    assert trough < 5 and peak > 20 * trough


def crunch_queue_limit(name):
    assert scenario(name).models["legacy"].queue_limit == 100
    res = run(name).tables["resources"]
    assert res["queue_length"].max() < 100
    assert run(name).summary.status_counts.get("dropped", 0) == 0


# ---------------------------------------------------------------------------- concept_drift, silent_concept_drift
def drift_shift(weight: float):
    def check(name):
        f = fault(name)
        assert (f.kind, f.start_s, dict(f.weight_shift)) == ("concept_drift", 10 * 60, {"x1": weight})
    return check


def label_delay(name):
    assert scenario(name).traffic.label_delay_s == 120
    q = run(name).requests
    np.testing.assert_allclose(q["label_time_s"] - q["time_s"], 120.0)


def error_grows_after_drift(name):
    before = requests_in(name, end_s=600.0)["abs_error"].mean()
    after = requests_in(name, start_s=700.0)["abs_error"].mean()
    assert after > 1.5 * before


def health_unchanged(name, start_s: float = 600.0):
    before, after = requests_in(name, end_s=start_s), requests_in(name, start_s=start_s)
    assert after["latency_ms"].quantile(0.99) == pytest.approx(before["latency_ms"].quantile(0.99), rel=0.1)
    assert failed_share(after) < 0.005 and failed_share(before) < 0.005


def silent_health_green(name):
    health_unchanged(name)
    alerts = run(name).summary.monitoring.alerts
    assert "health" not in alerts and events(name, "rollback").empty


def silent_performance_fires_for_both(name):
    perf = run(name).tables["performance"]
    for model in ("legacy", "candidate"):
        mine = perf[perf["model"] == model]
        first = mine[mine["alarm"]]["time_s"].min()
        assert 600 < first <= 600 + 5 * 60
        late = mine[(mine["time_s"] > first) & (mine["time_s"] <= 900)]
        assert (late["ks_p_value"] < 1e-6).all() and (late["wasserstein_norm"] > 1).all()


def silent_no_rollback(name):
    assert scenario(name).rollback.performance_relative is True
    assert not run(name).summary.rollback.rolled_back


def silent_naive_rolls_back(name):
    r = run(name, rollback__performance_relative=False)
    assert r.summary.rollback.rolled_back
    assert events(name, "rollback", rollback__performance_relative=False)["reason"].str.contains(
        "performance").all()


# ---------------------------------------------------------------------------- data drift
def data_drift_ramp(name):
    f = fault(name)
    assert (f.feature, f.shift, f.ramp_s, f.start_s) == ("x2", 1.5, 5 * 60, 10 * 60)
    after = requests_in(name, start_s=900.0)["feature_x2"]
    before = requests_in(name, end_s=600.0)["feature_x2"]
    assert after.mean() - before.mean() == pytest.approx(1.5 * before.std(), abs=0.1)


def data_drift_spread(name):
    assert fault(name).scale == 1.5
    after = requests_in(name, start_s=900.0)["feature_x2"].std()
    before = requests_in(name, end_s=600.0)["feature_x2"].std()
    assert after / before == pytest.approx(1.5, abs=0.05)


def data_drift_health(name):
    health_unchanged(name)


def gradual_ramp(name):
    f = fault(name)
    assert (f.feature, f.start_s, f.ramp_s, f.shift) == ("x2", 10 * 60, 10 * 60, 1.0)


def gradual_monitor(name):
    m = scenario(name).monitoring
    assert (m.drift_reference_n, m.drift_window_n, m.drift_interval_s, m.drift_consecutive) == (3000, 2000, 60, 3)


def gradual_flags_x2_only(name):
    first = run(name).summary.monitoring.first_alarm_s["drift:traffic"]
    assert 600 < first < 1200  # part-way up the ramp
    alerts = events(name, "alert")
    assert len(alerts) > 0 and alerts["reason"].eq("feature drift in x2").all()
    drift = run(name).tables["drift"]
    assert set(drift[drift["drift"]]["feature"]) == {"x2"}


def gradual_alert_only(name):
    policy = scenario(name).rollback
    assert policy is None or "drift" not in policy.triggers
    assert not run(name).summary.rollback.rolled_back and events(name, "rollback").empty


# ---------------------------------------------------------------------------- error_burst
def burst_arm(name):
    assert scenario(name).strategy.kind == "ab" and scenario(name).strategy.candidate_fraction == 0.2


def burst_window(name):
    f = fault(name)
    assert (f.kind, f.target, f.error_rate, f.duration_s) == ("error_burst", "candidate", 0.15, 4 * 60)
    inside = requests_in(name, "candidate", f.start_s, f.start_s + f.duration_s)
    assert failed_share(inside) == pytest.approx(0.15, abs=0.025)


def burst_only_candidate(name):
    f = fault(name)
    q = run(name).requests
    burst = q[q["failure_cause"].astype(str) == "model error (error burst)"]
    assert len(burst) > 0 and set(burst["model"].astype(str)) == {"candidate"}
    assert burst["time_s"].between(f.start_s, f.start_s + f.duration_s).all()
    assert scenario(name).models["legacy"].error_rate == 0.001
    assert failed_share(requests_in(name, "legacy")) == pytest.approx(0.001, abs=0.0005)


# ---------------------------------------------------------------------------- feature_store_outage
def _criticality(name, source, target):
    return next(d.criticality for d in scenario(name).dependencies if (d.source, d.target) == (source, target))


def fs_direct(name):
    assert _criticality(name, "feature_store", "legacy") == _criticality(name, "feature_store", "candidate") == 1.0


def fs_embedding(name):
    assert _criticality(name, "embedding_service", "legacy") == 0.3
    assert _criticality(name, "embedding_service", "candidate") == 0.3


def fs_indirect(name):
    assert _criticality(name, "feature_store", "embedding_service") == 0.6


def fs_first_outage(name):
    f = fault(name, 0)
    assert (f.kind, f.target, f.start_s, f.duration_s) == ("outage", "feature_store", 5 * 60, 2 * 60)
    for model in ("legacy", "candidate"):
        assert failed_share(requests_in(name, model, 300, 420)) > 0.99
    reason = events(name, "dependency_failure")["reason"].iloc[0]
    assert "candidate (1)" in reason and "legacy (1)" in reason


def fs_second_outage(name):
    f = fault(name, 1)
    assert (f.kind, f.target, f.start_s, f.duration_s) == ("outage", "embedding_service", 10 * 60, 3 * 60)
    assert failed_share(requests_in(name, None, 600, 780)) == pytest.approx(0.3, abs=0.03)


def fs_recovers(name):
    for start, end in ((0, 300), (420, 600), (780, 1200)):
        assert failed_share(requests_in(name, None, start, end)) < 0.005
    assert events(name, "dependency_failure")["time_s"].tolist() == [300, 600]
    assert events(name, "dependency_recovered")["time_s"].tolist() == [420, 780]


# ---------------------------------------------------------------------------- interleaving_recommenders
def il_catalogue(name):
    sc = scenario(name)
    assert (sc.traffic.users, sc.strategy.n_items) == (2000, 500)


def il_noise(name):
    st = scenario(name).strategy
    assert (st.candidate_noise_sd, st.legacy_noise_sd) == (0.8, 1.0)
    d = run(name).summary.strategy.details
    assert d["ndcg_candidate"] > d["ndcg_legacy"]


def il_method(name):
    st = scenario(name).strategy
    assert (st.method, st.k, st.click_model) == ("team_draft", 10, "navigational")


def il_delta(name):
    d = run(name).summary.strategy.details
    assert d["delta_ab"] < 0 and d["wins_candidate"] > d["wins_legacy"]
    assert d["wins_legacy"] + d["wins_candidate"] + d["ties"] == d["impressions"]


def il_bootstrap_wide(name):
    d = run(name).summary.strategy.details
    lo, hi = d["delta_ci"]
    assert lo < 0 < hi  # wide: it includes 0
    assert d["sign_test_p_value"] < 0.05  # while the per-impression sign test rejects
    assert d["users_prefer_legacy"] + d["users_prefer_candidate"] <= run(name).summary.users


def il_naive_shuffle(name):
    assert scenario(name).with_overrides({"strategy.method": "naive_shuffle"}).strategy.method == "naive_shuffle"


# ---------------------------------------------------------------------------- latency_spike
def spike_window(name):
    f = fault(name)
    assert (f.target, f.multiplier, f.start_s, f.start_s + f.duration_s) == ("legacy", 5.0, 5 * 60, 8 * 60)


def spike_overload(name):
    sc = scenario(name)
    legacy = sc.models["legacy"]
    assert legacy.replicas == 6
    assert sc.traffic.rate_per_s * legacy.latency.mean_ms * 5 / 1000 / legacy.replicas > 1
    res = run(name).tables["resources"]
    inside = res[(res["time_s"] > 320) & (res["time_s"] <= 480)]
    assert (inside["utilisation"] == 1).all()


def spike_queue_and_timeouts(name):
    res = run(name).tables["resources"]
    assert res.loc[res["queue_length"].idxmax(), "time_s"] > 300
    before = requests_in(name, end_s=300.0)
    inside = requests_in(name, start_s=300.0, end_s=480.0)
    assert inside["latency_ms"].quantile(0.99) > 5 * before["latency_ms"].quantile(0.99)
    timeouts = run(name).requests
    timeouts = timeouts[timeouts["status"].astype(str) == "timeout"]
    assert len(timeouts) > 0 and timeouts["time_s"].min() > 300


def spike_drains(name):
    res = run(name).tables["resources"]
    assert (res[res["time_s"] >= 780]["queue_length"] == 0).all()
    assert requests_in(name, start_s=780.0)["queue_ms"].mean() < 5


# ---------------------------------------------------------------------------- latency_spike_rollback
def lsr_ab(name):
    st = scenario(name).strategy
    assert (st.kind, st.candidate_fraction, st.sticky) == ("ab", 0.2, True)
    assert scenario(name).rollback.enabled and "health" in scenario(name).rollback.triggers


def lsr_spike(name):
    f = fault(name)
    assert (f.target, f.start_s, f.multiplier) == ("candidate", 10 * 60, 5.0)


def lsr_window(name):
    sc = scenario(name)
    assert sc.monitoring.health_window_s == 60
    t = next(t for t in sc.rollback.thresholds if t.metric == "latency_p95_ms")
    assert t.threshold == 300
    breaches = events(name, "alert")
    breaches = breaches[breaches["reason"].str.contains("health breach")]
    values = breaches["reason"].str.extract(r"latency_p95_ms ([\d.]+) > 300")[0].astype(float)
    assert len(values) > 0 and (values > 300).all()


def lsr_two_in_a_row(name):
    sc = scenario(name)
    assert (sc.rollback.consecutive, sc.monitoring.interval_s) == (2, 10)
    breaches = events(name, "alert")
    breaches = breaches[breaches["reason"].str.contains("health breach")]
    assert breaches["time_s"].diff().dropna().tolist() == [10.0]
    assert run(name).summary.rollback.time_s == breaches["time_s"].max()


def lsr_legacy_after(name):
    no_candidate_after_rollback(name)


def lsr_incident_and_adwin(name):
    inc = run(name).incidents
    assert len(inc) == 1 and "latency_p95_ms" in inc["violations"].iloc[0]
    assert "candidate" in json.loads(inc["metrics"].iloc[0])
    alerts = events(name, "alert")
    assert alerts["reason"].str.contains("adwin").any()


# ---------------------------------------------------------------------------- progressive
def progressive_bad_fault(name):
    f = fault(name)
    assert (f.kind, f.target, f.error_rate, f.start_s, f.duration_s) == ("error_burst", "candidate", 0.08,
                                                                        7 * 60, None)
    steps = events(name, "step")
    current = steps[steps["time_s"] <= f.start_s].iloc[-1]
    assert "weight 25%" in current["reason"]


def progressive_bad_rolls_back(name):
    assert scenario(name).strategy.failure_limit == 1 and scenario(name).strategy.consecutive
    failed = events(name, "gate_failed")
    assert len(failed) == 2 and failed["reason"].str.contains("error_rate").all()
    rollback = events(name, "rollback")
    assert rollback["time_s"].tolist() == [failed["time_s"].max()]
    assert "failure_limit 1" in rollback["reason"].iloc[0]


def progressive_bad_legacy_after(name):
    no_candidate_after_rollback(name)


def progressive_bad_harm(name):
    harm = run(name).summary.harm
    assert harm.rollback_s == run(name).summary.rollback.time_s and harm.bad_users > 0


def progressive_steps(name):
    st = scenario(name).strategy
    assert [s.weight for s in st.steps] == [5, 25, 50, 100]
    assert [s.pause_s for s in st.steps[:-1]] == [5 * 60] * 3 and st.interval_s == 60


def progressive_gates(name):
    assert gate(name, "error_rate").threshold == 0.02
    p99 = gate(name, "latency_p99_ms")
    assert p99.threshold == 1.5 and p99.relative_to_legacy


def progressive_good_promotes(name):
    r = run(name)
    assert not r.summary.rollback.rolled_back and r.summary.strategy.final_state == "promoted"
    assert r.summary.strategy.details["promoted_at_s"] == pytest.approx(15 * 60, abs=60)


def progressive_good_failure_limit(name):
    st = scenario(name).strategy
    assert st.failure_limit == 1 and st.consecutive


# ---------------------------------------------------------------------------- shadow_candidate_crashes
def shadow_candidate(name):
    models = scenario(name).models
    assert models["candidate"].latency.median_ms == 10 * models["legacy"].latency.median_ms
    assert models["candidate"].error_rate == 0.5 and scenario(name).strategy.mirror_fraction == 1.0
    sh = run(name).summary.shadow
    assert sh.mirrored == run(name).summary.requests
    assert sh.candidate_error_rate == pytest.approx(0.5, abs=0.02)
    assert sh.candidate_latency_p50_ms / run(name).summary.models["legacy"].latency_p50_ms == pytest.approx(
        10, rel=0.05)


def shadow_users_never_notice(name):
    shadow = run(name).requests
    single = run(name, strategy={"kind": "single"}).requests
    assert set(shadow["model"].astype(str)) == {"legacy"}
    np.testing.assert_array_equal(shadow["latency_ms"], single["latency_ms"])
    np.testing.assert_array_equal(shadow["prediction"], single["prediction"])


def shadow_table(name):
    sh = run(name).summary.shadow
    assert 0 < sh.agreement < 1 and sh.compared > 0
    assert len(run(name).shadow) == sh.mirrored


# ---------------------------------------------------------------------------- validation_gate
def _validation(name, check):
    table = run(name).tables["validation"]
    return table[table["name"] == check].iloc[0]


def _check_cfg(name, kind):
    return next(c for c in scenario(name).validation.checks if c.kind == kind)


def vg_holdout(name):
    assert scenario(name).validation.holdout_n == 2000 and scenario(name).validation.require_pass


def vg_mae(name):
    assert _check_cfg(name, "performance").max_value == 0.3
    row = _validation(name, "mae")
    assert not row["passed"] and "> 0.3" in row["message"]


def vg_bounds(name):
    c = _check_cfg(name, "bounds")
    assert (c.lower, c.upper) == (-10, 10) and _validation(name, "prediction_bounds")["passed"]


def vg_drift(name):
    assert _check_cfg(name, "drift").threshold == 0.1 and _validation(name, "prediction_drift")["passed"]


def vg_latency(name):
    assert _check_cfg(name, "latency").budget_p99_ms == 150 and _validation(name, "latency_p99_ms")["passed"]


def vg_blocked(name):
    assert scenario(name).models["candidate"].noise == 0.6
    failed = events(name, "validation_failed")
    assert failed["time_s"].tolist() == [0] and "mae 0.48" in failed["reason"].iloc[0]
    assert run(name).summary.models["candidate"].requests == 0
    assert run(name).summary.strategy.final_state == "blocked"


def vg_passes_with_less_noise(name):
    r = run(name, models__candidate__noise=0.2)
    assert r.summary.validation.passed and r.summary.models["candidate"].requests > 0


# ---------------------------------------------------------------------------- the table
CLAIMS: dict[str, list[Claim]] = {
    "ab_test": [
        Claim("A 50/50 A/B split ... the split should match 50/50", (50,), ab_split_is_even),
        Claim("at seed 2 the candidate's arm drew more of them (0.693 against 0.554 conversions per user, "
              "+25.1% [-64.5%, +114.7%], p = 0.56)", (2, 0.693, 0.554, 25.1, 64.5, 114.7, 0.56), ab_primary),
        Claim("CUPED with a simulated one-hour pre-period removes 99% of that variance and leaves +3.0% "
              "[-4.1%, +10.1%] (p = 0.4): inconclusive", (99, 3.0, 4.1, 10.1, 0.4), ab_cuped),
        Claim("The guardrails (Holm) show no change in the non-ok rate and a latency 5.1 ms lower", (5.1,),
              ab_guardrails),
    ],
    "abn_three_models": [
        Claim("legacy keeps half of the requests and two candidates get a quarter each", (0.5, 2, 0.25),
              abn_weights),
        Claim("`faster` answers in about 30 ms at legacy's error rate (0.5%)", (30, 0.5), abn_faster),
        Claim("`flaky` is as fast as legacy but fails 2% of its requests", (2,), abn_flaky),
        Claim("The sample-ratio check over the three arms passes", (3,), abn_srm_passes),
        Claim("Holm-corrected across the two candidates, flags `flaky` as worse ... `faster` better", (2,),
              abn_holm_verdicts),
    ],
    "autoscaling_diurnal": [
        Claim("A diurnal cycle (30-minute period", (30,), diurnal_period),
        Claim("from 18 to 102 requests/s", (18, 102), diurnal_range),
        Claim("the Kubernetes HPA rule on utilisation (target 0.6, 2 to 14 replicas", (0.6, 2, 14), hpa_rule),
        Claim("30 s to provision a replica", (30,), hpa_provisioning),
        Claim("5-minute scale-down stabilisation", (5,), hpa_stabilisation),
        Claim("both keep p95 latency within the 250 ms SLO, and the autoscaled fleet pays for fewer "
              "replica-seconds", (250,), capacity_both_within_slo),
    ],
    "bandit_better_candidate": [
        Claim("meets the latency SLO (250 ms)", (250,), bandit_slo),
        Claim("a candidate that meets the latency SLO more often (legacy's tail is slow)", (),
              bandit_candidate_meets_slo_more_often),
        Claim("Rewards arrive when each request finishes", (), bandit_rewards_per_request),
        Claim("at 40 requests/s the bandit learns within seconds: the candidate's share jumps to about 90%",
              (40, 90), bandit_learns_in_seconds),
        Claim("about 10% stays on legacy (the guardrail sends each request to legacy with probability 0.1)",
              (10, 0.1), bandit_guardrail),
        Claim("The regret against always choosing the better model then grows only by what the guardrail costs",
              (), bandit_regret),
    ],
    "baseline": [
        Claim("67% utilisation (60/s x 44.7 ms mean service / 4 replicas)", (67, 60, 44.7, 4),
              baseline_utilisation),
        Claim("the small queueing delay", (), baseline_small_queueing),
        Claim("the error rate near 0.1%", (0.1,), baseline_error_rate),
        Claim("the MAE of the predictions once labels arrive (60 s after each request)", (60,), baseline_labels),
    ],
    "blue_green_switch": [
        Claim("all traffic on legacy (blue) until minute 5, then everything on the candidate", (5,), bg_switch),
        Claim("At minute 10 green's latency triples", (10,), bg_latency_triples),
        Claim("the p99 gate (at most 300 ms) fails and traffic switches back to blue", (300,),
              bg_gate_fails_and_switches_back),
        Claim("`time_degraded_s` in `workbench compare` counts how long users were on a degraded green", (),
              bg_time_degraded),
    ],
    "canary_latency_spike": [
        Claim("A 5% user canary", (5,), canary_cohort),
        Claim("ramps to 10% at minute 10 and 25% at minute 20", (10, 25, 20), canary_schedule),
        Claim("The candidate slows down 4x at minute 20 for 5 minutes", (4, 20, 5), canary_spike),
        Claim("its replicas get busier but do not saturate", (), canary_not_saturated),
        Claim("Only the canary cohort is hurt; users outside it never notice", (), canary_only_cohort_hurt),
        Claim("this plain canary has no gates, so it never rolls back", (), canary_never_rolls_back),
    ],
    "capacity_crunch": [
        Claim("exponential service (mean 50 ms) on 4 replicas", (50, 4), crunch_service),
        Claim("a diurnal cycle of 20 minutes peaking at 76 requests/s", (20, 76), crunch_cycle),
        Claim("(utilisation 0.95 at the peak)", (0.95,), crunch_peak_utilisation),
        Claim("Queueing delay is near zero at the trough and large at the peak", (), crunch_erlang),
        Claim("A queue limit of 100 ... the queue stays below it and nothing is dropped", (100,),
              crunch_queue_limit),
    ],
    "concept_drift": [
        Claim("at minute 10: the weight of x1 in the target moves by +0.8", (10, 0.8), drift_shift(0.8)),
        Claim("its error grows, but only once the labels arrive (label_delay_s = 120)", (120,),
              lambda n: (label_delay(n), error_grows_after_drift(n))),
        Claim("Latency and error rate stay perfectly healthy", (), health_unchanged),
    ],
    "data_drift": [
        Claim("its mean moves by +1.5 sd over a 5-minute ramp starting at minute 10", (1.5, 5, 10),
              data_drift_ramp),
        Claim("its spread grows by 50%", (50,), data_drift_spread),
        Claim("Latency and errors are unchanged", (), data_drift_health),
    ],
    "error_burst": [
        Claim("The candidate in a 20% A/B arm", (20,), burst_arm),
        Claim("fails 15% of its calls for four minutes", (15, 4), burst_window),
        Claim("The burst's errors appear only in the candidate's rows and only inside the window; legacy "
              "keeps its base error rate of 0.1%", (0.1,), burst_only_candidate),
    ],
    "feature_store_outage": [
        Claim("the feature store (criticality 1.0: no features, no answer)", (1.0,), fs_direct),
        Claim("the embedding service (criticality 0.3: without it 30% of requests fail", (0.3, 30),
              fs_embedding),
        Claim("The embedding service itself reads from the feature store with criticality 0.6", (0.6,),
              fs_indirect),
        Claim("At minute 5 the feature store goes down for two minutes: every model is hit with impact 1.0",
              (5, 2, 1.0), fs_first_outage),
        Claim("At minute 10 only the embedding service fails for three minutes: 30% of requests fail",
              (10, 3, 30), fs_second_outage),
        Claim("Everything recovers when the upstream does; dependency_failure and dependency_recovered events",
              (), fs_recovers),
    ],
    "gradual_data_drift": [
        Claim("over 10 minutes from minute 10 its mean moves by one standard deviation", (10,), gradual_ramp),
        Claim("first 3000 arrivals as reference, the last 2000 as the current window, checked every minute, "
              "3 flags in a row", (3000, 2000, 3), gradual_monitor),
        Claim("flags x2 part-way up the ramp; the other features stay quiet", (), gradual_flags_x2_only),
        Claim("Drift only raises alerts here (it is not a rollback trigger)", (), gradual_alert_only),
    ],
    "interleaving_recommenders": [
        Claim("from 2000 returning users over a catalogue of 500 items", (2000, 500), il_catalogue),
        Claim("The candidate ranker is better (noise 0.8 against legacy's 1.0", (0.8, 1.0), il_noise),
        Claim("a team-draft interleaving of both rankers' top 10; cascade (navigational) clicks", (10,),
              il_method),
        Claim("Delta_AB < 0 says the candidate ranks better", (0,), il_delta),
        Claim("the bootstrap interval of Delta_AB over users is wide (here it includes 0)", (0,),
              il_bootstrap_wide),
        Claim("Try `strategy.method = \"naive_shuffle\"`", (), il_naive_shuffle),
    ],
    "latency_spike": [
        Claim("Legacy slows down 5x between minute 5 and minute 8", (5, 8), spike_window),
        Claim("with 6 replicas the utilisation goes past 1 during the spike", (6, 1), spike_overload),
        Claim("the queue grows, p99 explodes and some requests time out", (), spike_queue_and_timeouts),
        Claim("after the window the backlog drains", (), spike_drains),
    ],
    "latency_spike_rollback": [
        Claim("A 20% sticky A/B test protected by an automated rollback policy", (20,), lsr_ab),
        Claim("At minute 10 the candidate's latency goes up 5x", (10, 5), lsr_spike),
        Claim("its rolling 60 s health window shows p95 over 300 ms", (60, 300), lsr_window),
        Claim("two evaluations in a row (10 s apart) breach, and the policy rolls back", (2, 10),
              lsr_two_in_a_row),
        Claim("from the next request on every user gets legacy", (), lsr_legacy_after),
        Claim("The incident table holds the violations and the metrics; an ADWIN detector raises its own alert",
              (), lsr_incident_and_adwin),
    ],
    "progressive_bad_candidate": [
        Claim("the candidate starts failing 8% of its calls at minute 7 (during the 25% step) and stays broken",
              (8, 7, 25), progressive_bad_fault),
        Claim("The error-rate gate fails, twice in a row exceeds failure_limit = 1, and the rollout rolls back",
              (2, 1), progressive_bad_rolls_back),
        Claim("from the next request on, every user is served by legacy", (), progressive_bad_legacy_after),
        Claim("how many users were hurt before it", (), progressive_bad_harm),
    ],
    "progressive_good_candidate": [
        Claim("5% -> 25% -> 50% -> 100%, five minutes per step, an analysis every minute", (5, 25, 50, 100),
              progressive_steps),
        Claim("Gates: error rate at most 2%, p99 latency at most 1.5x legacy's in the same window", (2, 1.5),
              progressive_gates),
        Claim("Expected: no rollback, promotion at about 15 minutes", (15,), progressive_good_promotes),
        Claim("Consecutive-failure counting (failure_limit 1)", (1,), progressive_good_failure_limit),
    ],
    "shadow_candidate_crashes": [
        Claim("every request is mirrored to a candidate that is ten times slower and fails half its calls",
              (10, 0.5), shadow_candidate),
        Claim("Users never notice: their answers and latencies come from legacy only (same as `single`)", (),
              shadow_users_never_notice),
        Claim("The shadow table shows the candidate's real health and how often its predictions agree", (),
              shadow_table),
    ],
    "silent_concept_drift": [
        Claim("The world changes at minute 10 (the weight of x1 moves by +1.0)", (10, 1.0), drift_shift(1.0)),
        Claim("latency and errors stay perfectly healthy: the health monitors stay green", (),
              silent_health_green),
        Claim("only once the labels arrive (label_delay_s = 120)", (120,), label_delay),
        Claim("KS / Wasserstein tests and ADWIN detectors fire a few minutes after the drift, for both models",
              (), silent_performance_fires_for_both),
        Claim("the policy (performance_relative = true) does not roll the candidate back", (), silent_no_rollback),
        Claim("Set `rollback.performance_relative = false` to see the naive policy roll back", (),
              silent_naive_rolls_back),
    ],
    "validation_gate": [
        Claim("on 2000 held-out rows", (2000,), vg_holdout),
        Claim("the candidate's MAE must be at most 0.3", (0.3,), vg_mae),
        Claim("its predictions within [-10, 10]", (10,), vg_bounds),
        Claim("not drifted from legacy's (normalised Wasserstein < 0.1)", (0.1,), vg_drift),
        Claim("its configured p99 latency within 150 ms", (150,), vg_latency),
        Claim("This candidate is too noisy (noise 0.6): the MAE check fails at t = 0 ... no request ever "
              "reaches the candidate", (0.6, 0), vg_blocked),
        Claim("Set `models.candidate.noise = 0.2` to see it pass and the rollout proceed", (0.2,),
              vg_passes_with_less_noise),
    ],
}

# ---------------------------------------------------------------------------- the tests
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "twice": 2, "half": 0.5, "quarter": 0.25}
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.IGNORECASE)


def description(name: str) -> str:
    with open(SCENARIOS / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)["description"]


def stated_numbers(text: str) -> set[float]:
    """Every number a description states: digits (not inside names like x1 or p99) and number words.

    Examples
    --------
    >>> sorted(stated_numbers("fails 15% of calls for four minutes on x1, p99 over 1.5x"))
    [1.5, 4.0, 15.0]
    """
    found = {float(m) for m in _NUMBER.findall(text)}
    found |= {float(_WORDS[w.lower()]) for w in _WORD.findall(text)}
    return found


def _scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.toml"))


_CASES = [(name, k) for name in sorted(CLAIMS) for k in range(len(CLAIMS[name]))]


@pytest.mark.parametrize(("name", "k"), _CASES,
                         ids=[f"{n}-{CLAIMS[n][k].text[:40]}" for n, k in _CASES])
def test_claim_holds(name, k):
    CLAIMS[name][k].check(name)


@pytest.mark.parametrize("name", _scenario_names())
def test_every_stated_number_has_a_check(name):
    assert name in CLAIMS, f"{name}.toml: its description has no claims in CLAIMS"
    text = description(name)
    declared = {float(x) for claim in CLAIMS[name] for x in claim.numbers}
    stated = stated_numbers(text)
    assert not stated - declared, (
        f"{name}.toml: its description states {sorted(stated - declared)} that no claim checks")
    assert not declared - stated, (
        f"{name}.toml: claims check {sorted(declared - stated)}, which the description no longer states")


def test_number_extraction_known_answers():
    assert stated_numbers("A 50/50 split; 60/s x 44.7 ms / 4 replicas (67%)") == {50.0, 60.0, 44.7, 4.0, 67.0}
    assert stated_numbers("feature_x2 and p50/p95/p99, x1") == set()
    assert stated_numbers("within [-10, 10] at t = 0; half of it, a quarter each, twice") == {
        10.0, 0.0, 0.5, 0.25, 2.0}
