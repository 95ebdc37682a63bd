"""Pre-deployment validation blocks a bad candidate before any traffic moves."""

from __future__ import annotations

import json
import os

import pytest

import workbench
from workbench.engine.predeployment import configured_p99_ms
from workbench.scenario import ExponentialLatency

SCEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios",
                    "validation_gate.toml")


def test_failing_validation_blocks_the_rollout():
    r = workbench.run(SCEN, overrides={"duration_s": 600})
    assert (r.requests.model == "legacy").all()
    ev = r.events
    failed = ev[ev.kind == "validation_failed"]
    assert len(failed) == 1 and failed.time_s.iloc[0] == 0.0
    checks = {c["name"]: c for c in json.loads(failed.details.iloc[0])["checks"]}
    assert not checks["mae"]["passed"] and checks["mae"]["value"] > 0.3
    assert checks["latency_p99_ms"]["passed"]
    assert r.summary.validation.blocked and r.summary.strategy.final_state == "blocked"
    assert not (ev.kind == "step").any()
    assert list(r.tables["validation"].name) == ["mae", "prediction_bounds", "prediction_drift", "latency_p99_ms"]


def test_passing_validation_lets_the_rollout_proceed():
    r = workbench.run(SCEN, overrides={"models.candidate.noise": 0.2})
    assert (r.events.kind == "validation_passed").any()
    assert r.summary.strategy.final_state == "promoted"
    assert (r.requests.model == "candidate").any()


def test_non_blocking_validation_only_records():
    r = workbench.run(SCEN, overrides={"duration_s": 600, "validation.require_pass": False})
    assert (r.events.kind == "validation_failed").any() and (r.requests.model == "candidate").any()


def test_latency_budget_uses_the_configured_p99():
    assert configured_p99_ms(ExponentialLatency(mean_ms=10)) == pytest.approx(46.0517, rel=1e-4)
    r = workbench.run(SCEN, overrides={"duration_s": 300, "models.candidate.noise": 0.2,
                                       "models.candidate.latency": {"dist": "lognormal", "median_ms": 80, "p99_ms": 400}})
    assert r.summary.validation.blocked
    row = r.tables["validation"].set_index("name").loc["latency_p99_ms"]
    assert row.value == 400 and not row.passed
