"""The results builder: the request table, conservation, and per-model KPIs recomputed with pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scenario_builders import MIXED

import workbench
from workbench.engine import Simulation
from workbench.engine.results import build_result
from workbench.summary import ModelKpis

REQUEST_COLUMNS = [
    "request_id", "time_s", "user_id", "model", "status", "queue_ms", "latency_ms", "end_time_s", "prediction",
    "label", "label_time_s", "abs_error", "converted", "slo_breach", "feature_x1", "feature_x2", "feature_x3",
    "failure_cause",
]


@pytest.fixture(scope="module")
def mixed():
    return workbench.run(MIXED, seed=3)


def test_request_table_columns_and_types(mixed):
    req = mixed.requests
    assert list(req.columns) == REQUEST_COLUMNS
    assert list(req.status.cat.categories) == ["ok", "error", "timeout", "dropped"]
    assert list(req.model.cat.categories) == ["legacy", "candidate"]
    assert req.request_id.dtype == np.int64 and req.slo_breach.dtype == bool
    assert req.user_id.dtype == np.int32
    # failure causes: none for ok, the engine's causes for errors, then timeout and queue full
    causes = req.groupby("status", observed=True).failure_cause.unique().map(lambda c: sorted(map(str, c)))
    assert causes["ok"] == [""]
    assert causes["error"] == ["model error", "model error (error burst)"]
    assert causes["timeout"] == ["timeout"] and causes["dropped"] == ["queue full"]
    np.testing.assert_array_equal(req.abs_error, (req.prediction - req.label).abs())
    assert ((req.converted == 0) | (req.converted == 1)).all() and (req.converted[req.status != "ok"] == 0).all()
    np.testing.assert_array_equal(req.slo_breach, (req.latency_ms > 250.0) & (req.status != "dropped"))


def test_conservation_status_counts_sum_to_the_rows(mixed):
    req, s = mixed.requests, mixed.summary
    assert s.requests == len(req) and sum(s.status_counts.values()) == len(req)
    assert s.status_counts == {k: int((req.status == k).sum()) for k in ("ok", "error", "timeout", "dropped")}
    assert all(v > 0 for v in s.status_counts.values())
    assert s.users == req.user_id.nunique()
    assert s.error_rate == pytest.approx((req.status != "ok").mean(), rel=1e-12)
    assert s.throughput_per_s == pytest.approx((req.status == "ok").sum() / 240.0, rel=1e-12)
    # per model, after the warm-up, the status counts add up as well
    for name, m in s.models.items():
        assert m.ok + m.error + m.timeout + m.dropped == m.requests, name
    assert sum(m.requests for m in s.models.values()) == (req.time_s >= 30).sum()


def test_per_model_kpis_recomputed_from_the_request_table(mixed):
    req, s = mixed.requests, mixed.summary
    warm = req[req.time_s >= 30]
    window_s = 240.0 - 30.0
    for name, kpis in s.models.items():
        part = warm[warm.model == name]
        served = part[part.status != "dropped"]
        ok = part[part.status == "ok"]
        expected = {
            "requests": len(part), "users": part.user_id.nunique(), "ok": len(ok),
            "error": int((part.status == "error").sum()), "timeout": int((part.status == "timeout").sum()),
            "dropped": int((part.status == "dropped").sum()),
            "error_rate": (part.status != "ok").mean(),
            "latency_p50_ms": served.latency_ms.quantile(0.50),
            "latency_p95_ms": served.latency_ms.quantile(0.95),
            "latency_p99_ms": served.latency_ms.quantile(0.99),
            "mean_latency_ms": served.latency_ms.mean(), "mean_queue_ms": served.queue_ms.mean(),
            "throughput_per_s": len(ok) / window_s,
            "prediction_mae": ok.abs_error.mean(), "prediction_rmse": math.sqrt((ok.abs_error**2).mean()),
            "conversion_rate": part.converted.mean(), "slo_breaches": int(part.slo_breach.sum()),
        }
        for key, value in expected.items():
            assert getattr(kpis, key) == pytest.approx(value, rel=1e-9), (name, key)
        assert isinstance(kpis, ModelKpis) and 0 < kpis.utilisation < 1


def test_a_model_without_requests_has_nan_kpis_not_zeros():
    r = workbench.run({**MIXED, "faults": [], "strategy": {"kind": "single"}}, seed=1)
    cand = r.summary.models["candidate"]
    assert cand.requests == cand.ok == cand.users == cand.slo_breaches == 0
    for key in ("error_rate", "latency_p50_ms", "latency_p99_ms", "mean_latency_ms", "mean_queue_ms",
                "prediction_mae", "prediction_rmse", "conversion_rate"):
        assert math.isnan(getattr(cand, key)), key
    assert cand.throughput_per_s == 0.0 and cand.utilisation == 0.0


def test_event_incident_and_shadow_tables_of_an_ab_run(mixed):
    assert list(mixed.incidents.columns) == ["time_s", "trigger", "reason", "violations", "metrics",
                                             "strategy_state"]
    assert mixed.incidents.empty and mixed.shadow.empty and mixed.summary.shadow is None
    assert mixed.summary.srm is not None and mixed.summary.srm.unit == "requests"
    assert mixed.summary.srm.counts == (int((mixed.requests.model == "legacy").sum()),
                                        int((mixed.requests.model == "candidate").sum()))
    res = mixed.tables["resources"]
    assert list(res.columns) == ["time_s", "model", "replicas", "provisioning", "busy", "queue_length",
                                 "in_flight", "utilisation"]
    assert set(mixed.summary.resources) == {"legacy", "candidate"}
    legacy = mixed.summary.resources["legacy"]
    assert legacy.replica_seconds == pytest.approx(3 * 240.0) and legacy.mean_replicas == pytest.approx(3.0)


def test_run_result_writes_readable_tables(tmp_path, scenarios_dir):
    r = workbench.run(scenarios_dir / "error_burst.toml", overrides={"duration_s": 400})
    out = r.to_dir(tmp_path / "run")
    back = pd.read_parquet(out / "requests.parquet")
    pd.testing.assert_frame_equal(back, r.requests, check_categorical=False)
    assert (out / "summary.json").exists() and (out / "report.md").read_text().startswith("# Run report")
    assert not list(out.glob(".*.tmp"))


def test_request_table_shares_the_engine_buffers_and_draws_are_released():
    sim = Simulation(workbench.load_scenario(MIXED), 3).run()
    ctx = sim.context
    r = build_result(sim)
    req = r.requests
    for col, buf in (("latency_ms", ctx.log.latency_ms), ("queue_ms", ctx.log.queue_ms),
                     ("end_time_s", ctx.log.end_s), ("time_s", ctx.arrival_s), ("user_id", ctx.user_ids)):
        assert np.shares_memory(req[col].to_numpy(), np.frombuffer(buf, dtype=req[col].dtype)), col
    assert np.shares_memory(req["label"].to_numpy(), ctx.traffic.label)
    assert ctx.draws == [] and ctx.service_s == [] and not ctx.business_drawn


def test_summary_helpers_match_numpy():
    from workbench.engine.results import _distinct, _percentiles

    rng = np.random.default_rng(0)
    users = rng.integers(0, 3000, size=50_000).astype(np.int32)
    mask = rng.random(50_000) < 0.3
    assert _distinct(users, mask, chunk=4096) == np.unique(users[mask]).size
    assert _distinct(users) == np.unique(users).size
    signed = users.astype(np.int64) - 1500  # negative ids: counted by sorting instead
    assert _distinct(signed, mask) == np.unique(signed[mask]).size
    assert _distinct(np.empty(0, dtype=np.int64)) == 0
    for size in (10_001, 2, 1):
        lat = rng.lognormal(3.0, 0.5, size=size)
        # numpy's linear interpolation, one percentile at a time on untouched copies
        ref = tuple(float(np.percentile(lat, q)) for q in (50, 95, 99))
        work = lat.copy()  # partitioned in place, once, for the three
        assert _percentiles(work, (50, 95, 99)) == ref
    assert all(math.isnan(v) for v in _percentiles(np.empty(0), (50, 95, 99)))


# ----------------------------------------------------------------------------- A/B verdict
@pytest.fixture(scope="module")
def ab_run(scenarios_dir):
    return workbench.run(scenarios_dir / "ab_test.toml", seed=2)


def _same(record, lift) -> None:
    """A summary record equals a stats Lift field by field (NaN equal to NaN)."""
    for name, value in record.to_dict().items():
        expected = getattr(lift, name)
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(expected), name
        else:
            assert value == expected, name


def test_ab_verdict_equals_lift_computed_from_the_request_table(ab_run):
    from statsmodels.stats.multitest import multipletests

    from workbench.engine.traffic import pre_period_conversions
    from workbench.stats.abtest import lift

    sc, req, v = ab_run.scenario, ab_run.requests, ab_run.summary.ab_verdict
    warm = req[req["time_s"] >= sc.warmup_s]
    per_user = warm.groupby("user_id", sort=True).agg(model=("model", "first"), conversions=("converted", "sum"))
    a = per_user[per_user["model"] == "legacy"]
    b = per_user[per_user["model"] == "candidate"]
    _same(v.primary, lift(a["conversions"], b["conversions"], metric="conversions_per_user"))
    models = ab_run.summary.models
    assert (v.unit, v.primary.n_control, v.primary.n_treatment) == ("users", 4355, 4270)
    assert (v.primary.n_control, v.primary.n_treatment) == (models["legacy"].users, models["candidate"].users)
    legacy_rate = ab_run.summary.models["legacy"].conversion_rate
    _, pre = pre_period_conversions(sc, 2, 3600.0, legacy_rate)
    cuped = lift(a["conversions"], b["conversions"], metric="conversions_per_user",
                 covariate_control=pre[a.index.to_numpy()], covariate_treatment=pre[b.index.to_numpy()])
    _same(v.cuped, cuped)
    err = warm["status"] != "ok"
    ea, eb = err[warm["model"] == "legacy"], err[warm["model"] == "candidate"]
    served = warm[warm["status"] != "dropped"]
    la = served.loc[served["model"] == "legacy", "latency_ms"]
    lb = served.loc[served["model"] == "candidate", "latency_ms"]
    g_err, g_lat = v.guardrails
    _same(g_err.lift, lift(ea.astype(float), eb.astype(float), kind="proportion", metric="error_rate"))
    _same(g_lat.lift, lift(la, lb, metric="mean_latency_ms"))
    assert g_lat.lift.mean_control == pytest.approx(ab_run.summary.models["legacy"].mean_latency_ms)
    assert g_err.lift.mean_treatment == pytest.approx(ab_run.summary.models["candidate"].error_rate)
    holm = multipletests([g_err.lift.p_value, g_lat.lift.p_value], method="holm")[1]
    assert [g_err.adjusted_p, g_lat.adjusted_p] == pytest.approx(list(holm))
    assert (g_err.status, g_lat.status) == ("ok", "better")
    assert (v.decision, v.decided_on, v.correction, v.alpha) == ("inconclusive", "cuped", "holm", 0.05)


def test_cuped_reduces_the_variance_on_the_shipped_ab_scenario(ab_run):
    v = ab_run.summary.ab_verdict
    assert v.cuped_pre_period_s == 3600.0
    assert v.cuped.variance_reduction > 0.9 and v.cuped.method == "cuped_welch"
    width = v.primary.difference_ci_high - v.primary.difference_ci_low
    assert v.cuped.difference_ci_high - v.cuped.difference_ci_low < 0.2 * width
    # the numbers the scenario's description states
    assert round(v.primary.relative, 3) == 0.251 and round(v.cuped.relative, 3) == 0.030
    assert round(v.primary.p_value, 2) == 0.56 and round(v.cuped.p_value, 1) == 0.4


def test_ab_verdict_survives_the_json_round_trip_and_formats_within_120_columns(ab_run):
    from workbench.summary import RunSummary, format_ab_verdict

    s = ab_run.summary
    back = RunSummary.from_json(s.to_json())
    assert back.ab_verdict == s.ab_verdict and back.to_json() == s.to_json()
    assert "ab_verdict" in s.to_dict() and s.to_dict()["ab_verdict"]["guardrails"][0]["metric"] == "error_rate"
    text = format_ab_verdict(s.ab_verdict)
    lines = text.splitlines()
    assert all(len(line) <= 120 for line in lines)
    assert lines[0].startswith("primary: conversions per user") and lines[-1].startswith("verdict: inconclusive")
    assert any(line.startswith("CUPED (pre-period 3600 s): variance -99%") for line in lines)
    assert all(line.startswith("- ") for line in format_ab_verdict(s.ab_verdict, markdown=True).splitlines())


def test_ab_verdict_is_the_same_on_both_engines_and_deterministic(scenarios_dir):
    from workbench.engine.fast import FastSimulation
    from workbench.outputs import dumps_strict

    sc = workbench.load_scenario(scenarios_dir / "ab_test.toml").with_overrides({"duration_s": 400})
    reference = build_result(Simulation(sc, 5).run()).summary.ab_verdict
    fast = build_result(FastSimulation(sc, 5).run()).summary.ab_verdict
    again = build_result(FastSimulation(sc, 5).run()).summary.ab_verdict
    assert dumps_strict(reference.to_dict()) == dumps_strict(fast.to_dict()) == dumps_strict(again.to_dict())
    assert reference.cuped is not None


def test_the_pre_period_stream_moves_no_other_draw(scenarios_dir):
    sc = workbench.load_scenario(scenarios_dir / "ab_test.toml").with_overrides({"duration_s": 300})
    on = workbench.run(sc, seed=4)
    off = workbench.run(sc.with_overrides({"strategy.cuped_pre_period_s": 0}), seed=4)
    pd.testing.assert_frame_equal(on.requests, off.requests, check_exact=True)
    assert off.summary.ab_verdict.cuped is None and off.summary.ab_verdict.decided_on == "primary"
    assert on.summary.ab_verdict.primary == off.summary.ab_verdict.primary
    assert on.summary.ab_verdict.guardrails == off.summary.ab_verdict.guardrails


def test_a_per_request_split_is_analysed_per_request_and_abn_has_no_verdict(scenarios_dir):
    from workbench.engine.traffic import pre_period_conversions
    from workbench.stats.abtest import lift

    r = workbench.run(scenarios_dir / "ab_test.toml", seed=1, overrides={"duration_s": 300, "strategy.sticky": False})
    v, req = r.summary.ab_verdict, r.requests
    warm = req[req["time_s"] >= r.scenario.warmup_s]
    arm = {m: warm[warm["model"] == m] for m in ("legacy", "candidate")}
    a, b = arm["legacy"]["converted"], arm["candidate"]["converted"]
    _same(v.primary, lift(a, b, kind="proportion", metric="conversion_rate"))
    assert (v.unit, v.primary.method, v.cuped.method) == ("requests", "proportion_z", "cuped_welch")
    _, pre = pre_period_conversions(r.scenario, 1, 3600.0, float(a.mean()))
    _same(v.cuped, lift(a, b, kind="proportion", metric="conversion_rate",
                        covariate_control=pre[arm["legacy"]["user_id"].to_numpy()],
                        covariate_treatment=pre[arm["candidate"]["user_id"].to_numpy()]))
    abn = workbench.run(scenarios_dir / "abn_three_models.toml", seed=1, overrides={"duration_s": 120})
    assert abn.summary.ab_verdict is None and "ab_verdict" not in abn.summary.to_dict()


def test_ab_verdict_after_a_rollback_counts_the_earlier_arrivals_only(scenarios_dir):
    r = workbench.run(scenarios_dir / "latency_spike_rollback.toml", seed=1)
    assert r.summary.rollback.rolled_back
    v, req = r.summary.ab_verdict, r.requests
    window = req[(req["time_s"] >= r.scenario.warmup_s) & (req["time_s"] < r.summary.rollback.time_s)]
    assert v.before_rollback_only
    assert v.primary.n_treatment == window.loc[window["model"] == "candidate", "user_id"].nunique()


def test_cuped_pre_period_is_checked_by_the_schema(scenarios_dir):
    from workbench.scenario import ScenarioError

    sc = workbench.load_scenario(scenarios_dir / "ab_test.toml")
    with pytest.raises(ScenarioError, match="strategy.cuped_pre_period_s"):
        sc.with_overrides({"strategy.cuped_pre_period_s": -1})
    with pytest.raises(ScenarioError, match="cuped_pre_period_s: is only for an A/B test with one candidate"):
        workbench.load_scenario(scenarios_dir / "abn_three_models.toml", overrides={"strategy.cuped_pre_period_s": 60})


def test_pre_period_conversions_follow_the_traffic_model(scenarios_dir):
    from workbench.engine.traffic import pre_period_conversions, user_activity_shares

    sc = workbench.load_scenario(scenarios_dir / "ab_test.toml")
    shares = user_activity_shares(sc, 2)
    assert shares.shape == (sc.traffic.users,) and shares.sum() == pytest.approx(1.0)
    requests, conversions = pre_period_conversions(sc, 2, 3600.0, 0.08)
    again = pre_period_conversions(sc, 2, 3600.0, 0.08)
    assert np.array_equal(requests, again[0]) and np.array_equal(conversions, again[1])
    total = 60 * 3600.0  # rate_per_s x pre_period_s: the Poisson total's mean (and variance)
    assert abs(requests.sum() - total) < 5 * math.sqrt(total)
    assert abs(conversions.sum() / requests.sum() - 0.08) < 5 * math.sqrt(0.08 * 0.92 / requests.sum())
    heavy = np.argsort(-shares)[:20]  # the heaviest users send about their share
    assert np.corrcoef(requests[heavy], shares[heavy] * total)[0, 1] > 0.99
    with pytest.raises(ValueError, match="pre_period_s"):
        pre_period_conversions(sc, 2, -1.0, 0.08)
