"""Operations in the engine: dependency cascades, autoscaling against a fixed fleet."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from scipy import stats

import workbench
from workbench.experiments.capacity import autoscaling_vs_fixed, peak_fleet_size

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def test_feature_store_outage_propagates_by_criticality_and_recovers():
    r = workbench.run(scen("feature_store_outage"))
    req = r.requests
    fs = (req.time_s >= 300) & (req.time_s < 420)
    emb = (req.time_s >= 600) & (req.time_s < 780)
    calm = ~(fs | emb)
    assert (req.status[fs] == "error").all()
    assert (req.failure_cause[fs] == "upstream dependency unavailable").all()
    k, n = int((req.status[emb] == "error").sum()), int(emb.sum())
    ci = stats.binomtest(k, n).proportion_ci(0.999)
    assert ci.low <= 0.3 + 0.002 <= ci.high  # 30% upstream failures plus the 0.1% base rate
    assert (req.status[calm] == "error").mean() < 0.005  # recovered
    ev = r.events
    failures = ev[ev.kind == "dependency_failure"]
    assert list(failures.time_s) == [300.0, 600.0]
    impacts = json.loads(failures.details.iloc[0])["impacts"]
    assert impacts["legacy"] == 1.0 and impacts["embedding_service"] == 0.6
    assert json.loads(failures.details.iloc[1])["impacts"]["legacy"] == 0.3
    assert list(ev[ev.kind == "dependency_recovered"].time_s) == [420.0, 780.0]


def test_dependency_cycle_and_unknown_node_are_reported():
    with pytest.raises(workbench.ScenarioError, match=r"dependencies\[0\].source"):
        workbench.load_scenario(scen("feature_store_outage"),
                                overrides={"dependencies": [{"source": "nope", "target": "legacy", "criticality": 1}]})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_autoscaling_keeps_the_slo_at_lower_cost_than_a_peak_sized_fleet(seed):
    table = autoscaling_vs_fixed(scen("autoscaling_diurnal"), seed=seed)
    auto, fixed = table.iloc[0], table.iloc[1]
    assert auto.p95_within_slo and fixed.p95_within_slo
    assert auto.replica_seconds < 0.9 * fixed.replica_seconds
    assert fixed.mean_replicas == peak_fleet_size(workbench.load_scenario(scen("autoscaling_diurnal")))


def test_autoscaler_follows_the_load_with_provisioning_delay():
    r = workbench.run(scen("autoscaling_diurnal"), seed=1)
    res = r.tables["resources"]
    leg = res[res.model == "legacy"]
    # more replicas near the peak of the cycle (t = 450 s, 2250 s) than at the trough (1350 s)
    at = lambda t: leg.loc[(leg.time_s - t).abs().idxmin(), "replicas"]  # noqa: E731
    assert at(600) > at(1500)
    scale = r.events[r.events.kind == "scale"]
    assert len(scale) >= 4
    ups = [json.loads(d) for d in scale.details if json.loads(d)["desired"] > json.loads(d)["current"]]
    assert ups
    first_up = scale.time_s[[json.loads(d)["desired"] > json.loads(d)["current"] for d in scale.details]].iloc[0]
    # a replica added at first_up serves only after 30 s of provisioning
    window = leg[(leg.time_s > first_up) & (leg.time_s < first_up + 30)]
    assert (window.provisioning > 0).all()
    assert r.summary.resources["legacy"].replica_seconds > 0


def test_an_error_burst_in_a_run_shows_up_as_a_log_anomaly_in_its_window(tmp_path):
    from workbench.ops import LogAnalyzer

    r = workbench.run(scen("error_burst"))
    path = r.write_log(tmp_path / "log.jsonl")
    report = LogAnalyzer(path, window_s=60.0).report()
    flagged = report.anomalies[report.anomalies.anomaly.astype(bool)]
    assert len(flagged) and flagged.window_start_s.between(360, 599).all()
    burst = report.templates[report.templates.template.str.contains("error burst")]
    assert len(burst) == 1 and "<ID>" in burst.template.iloc[0]
    assert burst["count"].iloc[0] == int((r.requests.failure_cause == "model error (error burst)").sum())


def test_the_fleet_is_billed_only_for_the_run():
    r = workbench.run(scen("autoscaling_diurnal"), seed=1)
    res = r.summary.resources["legacy"]
    assert res.replica_seconds <= res.peak_replicas * r.scenario.duration_s
    samples = r.tables["resources"]
    samples = samples[samples.model == "legacy"]
    # the step integral of the sampled fleet agrees with the exact accounting
    paid = (samples.replicas + samples.provisioning).to_numpy()
    approx = float(np.sum(paid[:-1] * np.diff(samples.time_s.to_numpy())))
    approx += paid[-1] * (r.scenario.duration_s - samples.time_s.iloc[-1])
    assert res.replica_seconds == pytest.approx(approx, rel=0.03)
