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
