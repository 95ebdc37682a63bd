"""The monitor hub: scheduled evaluation, alerts with a cooldown, callbacks and the one rollback."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import workbench
from workbench.engine import Simulation
from workbench.engine.results import build_result
from workbench.monitoring import health
from workbench.strategies import Strategy

WATCHED = {
    "name": "watched", "duration_s": 300,
    "traffic": {"rate_per_s": 30},
    "models": {"legacy": {"latency": {"dist": "lognormal", "median_ms": 30, "p99_ms": 120}, "replicas": 4,
                          "error_rate": 0.02},
               "candidate": {"latency": {"dist": "exponential", "mean_ms": 40}, "replicas": 4, "error_rate": 0.05}},
    "strategy": {"kind": "ab", "candidate_fraction": 0.5},
    "monitoring": {"interval_s": 10, "drift": False, "performance": False},
    "rollback": {"triggers": ["drift", "performance"], "cooldown_s": 30,
                 "thresholds": [{"metric": "error_rate", "threshold": 0.5}]},
}


def started(callbacks=None, strategy=None) -> Simulation:
    """A simulation of ``WATCHED`` whose strategy has started, before its first arrival."""
    sim = Simulation(workbench.load_scenario(WATCHED), 1, alert_callbacks=callbacks, strategy=strategy)
    sim.strategy.start(sim.context)
    return sim


def test_alerts_of_one_monitor_on_one_model_respect_the_cooldown():
    calls = []
    sim = started(callbacks=[calls.append])
    hub = sim.hub
    hub.alert(0.0, "detector", "legacy", "first")
    hub.alert(10.0, "detector", "legacy", "inside the cooldown")
    hub.alert(10.0, "detector", "candidate", "another model")
    hub.alert(40.0, "detector", "legacy", "after the cooldown")
    assert [(a["time_s"], a["model"], a["reason"]) for a in hub.alerts] == [
        (0.0, "legacy", "first"), (10.0, "candidate", "another model"), (40.0, "legacy", "after the cooldown")]
    assert hub.first_alarm_s == {("detector", "legacy"): 0.0, ("detector", "candidate"): 10.0}
    assert [a["reason"] for a in calls] == [a["reason"] for a in hub.alerts]
    # health breaches are never held back: each evaluation's breach is an alert
    hub.alert(41.0, "health", "candidate", "breach 1/2")
    hub.alert(42.0, "health", "candidate", "breach 2/2")
    assert [a["reason"] for a in hub.alerts[-2:]] == ["breach 1/2", "breach 2/2"]
    assert not sim.context.rolled_back  # the detector is not a trigger; health has its own rule


def test_a_raising_callback_is_logged_and_the_next_one_still_runs():
    heard = []

    def broken(alert):
        raise RuntimeError("pager is down")

    sim = started(callbacks=[broken, heard.append])
    sim.hub.alert(0.0, "detector", "candidate", "slow")
    assert len(heard) == 1
    failed = [e for e in sim.context.events if e[1] == "alert_callback_failed"]
    assert len(failed) == 1 and failed[0][4] == "RuntimeError: pager is down"
    assert json.loads(failed[0][5]) == {"callback": "broken"}


def test_a_trigger_alert_rolls_back_once_with_the_hubs_metrics():
    sim = started()
    hub, ctx = sim.hub, sim.context
    hub.alert(0.0, "performance", "candidate", "no use", may_roll_back=False)
    assert not ctx.rolled_back  # the alert says a rollback would not help
    hub.alert(0.0, "drift", "", "feature drift in x1", features=["x1"])
    assert ctx.rolled_back and len(ctx.incidents) == 1
    _, trigger, reason, violations, metrics, _ = ctx.incidents[0]
    assert trigger == "rollback_policy:drift" and reason == "rollback policy (drift): feature drift in x1"
    assert json.loads(violations) == {"violations": [{"features": ["x1"]}]}
    assert set(json.loads(metrics)) == {"legacy", "candidate"}  # the hub's snapshot of every model
    hub.alert(100.0, "drift", "", "again")
    assert len(ctx.incidents) == 1


def test_no_rollback_for_a_candidate_that_served_nobody():
    class LegacyOnly(Strategy):
        kind = "single"

    sim = started(strategy=LegacyOnly())
    sim.hub.alert(0.0, "drift", "", "feature drift in x1")
    assert sim.hub.alerts and not sim.context.rolled_back and not sim.context.incidents


def test_health_is_evaluated_on_schedule_over_its_rolling_window():
    sim = Simulation(workbench.load_scenario(WATCHED), 2).run()
    hub = sim.hub
    bucket_s = hub.health[0].bucket_s
    r = build_result(sim)
    health = r.tables["health"]
    assert list(health.columns)[:3] == ["time_s", "model", "n"]
    np.testing.assert_array_equal(health.time_s.unique(), np.arange(10.0, 301.0, 10.0))
    assert list(health.model[:2]) == ["legacy", "candidate"]
    req = r.requests
    for row in health.itertuples():
        # outcomes that ended in the window's buckets, ending at the evaluation
        ended = req[(req.model == row.model) & (req.end_time_s >= row.time_s - 60 + bucket_s)
                    & (req.end_time_s <= row.time_s)]
        assert row.n == len(ended), row
        assert row.errors == (ended.status == "error").sum()
        if len(ended):
            assert row.error_rate == pytest.approx((ended.status.isin(["error", "timeout"])).mean())
        else:
            assert math.isnan(row.error_rate)
    assert r.tables["drift"].empty and r.tables["performance"].empty  # switched off
    assert r.summary.monitoring is not None and r.summary.monitoring.alerts == {}


# -------------------------------------------------------------- batch feeding
def _outcomes(seed: int, n: int = 20_000, duration_s: float = 300.0):
    """Finished requests sorted by end time; the candidate fails often from 150 s on."""
    rng = np.random.default_rng(seed)
    end_s = np.sort(rng.uniform(0.0, duration_s, n))
    end_s[::50] = np.floor(end_s[::50])  # some exactly on a bucket edge
    models = rng.integers(0, 2, n).astype(np.int8)
    bad = (models == 1) & (end_s >= 150.0)
    status = np.where(rng.random(n) < np.where(bad, 0.7, 0.03), rng.choice([1, 2], n), 0).astype(np.int8)
    status[rng.random(n) < 0.02] = 3
    latency_ms = rng.lognormal(3.5, 0.8, n)
    latency_ms[status == 3] = 0.0  # a dropped request's latency is not a latency
    return np.arange(n), models, end_s, status, latency_ms


def _same_rows(a, b) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(u == v or (u != u and v != v) for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("min_batch", [1, health._MIN_BATCH])  # numpy for every batch, or only for large ones
@pytest.mark.parametrize("detectors", [[], [{"name": "cusum", "signal": "latency_ms", "model": "candidate"},
                                            {"name": "page_hinkley", "signal": "error", "model": "candidate"}]])
def test_on_outcomes_in_batches_equals_on_outcome_one_by_one(detectors, min_batch, monkeypatch):
    monkeypatch.setattr(health, "_MIN_BATCH", min_batch)
    scenario = workbench.load_scenario(WATCHED).with_overrides({"monitoring.detectors": detectors})
    sims = []
    for _ in range(2):
        sim = Simulation(scenario, 1)
        sim.strategy.start(sim.context)
        sims.append(sim)
    one, many = sims[0].hub, sims[1].hub
    rows, models, end_s, status, latency_ms = _outcomes(5)
    cuts = np.searchsorted(end_s, np.arange(0.0, 301.0, 2.5), side="right")  # feeds before control events
    fed = 0
    for k, cut in enumerate(cuts.tolist()):
        for i in range(fed, cut):
            one.on_outcome(int(rows[i]), int(models[i]), float(end_s[i]), int(status[i]), float(latency_ms[i]))
        many.on_outcomes(rows[fed:cut], models[fed:cut], end_s[fed:cut], status[fed:cut], latency_ms[fed:cut])
        fed = cut
        if k % 4 == 0:  # an evaluation every 10 s
            one.evaluate(k * 2.5)
            many.evaluate(k * 2.5)
    assert fed == rows.size and len(one.health_rows) == 2 * 31
    assert _same_rows(many.health_rows, one.health_rows)
    assert many.alerts == one.alerts and many.first_alarm_s == one.first_alarm_s
    assert sims[1].context.events == sims[0].context.events
    # the candidate's error burst from 150 s fills the 60 s window past 0.5 by 200 s
    assert [a["time_s"] for a in one.alerts if a["monitor"] == "health"] == np.arange(200.0, 301.0, 10.0).tolist()
    if detectors:
        assert any(a["monitor"] == "detector" for a in one.alerts)
    many.on_outcomes(rows[:0], models[:0], end_s[:0], status[:0], latency_ms[:0])
    assert many.health[0].n_total == one.health[0].n_total
