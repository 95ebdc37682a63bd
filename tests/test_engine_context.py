"""The run's shared state as strategies see it: windows, values, events, the one rollback.

A probe strategy queries :class:`RunContext` in the middle of a run; the answers are
checked against a pandas computation on the finished run's request table, which
holds the same requests with the same values.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scenario_builders import MIXED

import workbench
from workbench.engine import Simulation
from workbench.engine.context import RunContext
from workbench.strategies import Strategy, StrategyContext

# every status occurs: model errors, timeouts, a full queue on the candidate; labels 20 s late
SMALL = {
    "name": "context", "duration_s": 500, "warmup_s": 0,
    "traffic": {"rate_per_s": 40, "users": 300, "label_delay_s": 20},
    "slo": {"latency_ms": 90},
    "models": {
        "legacy": {"latency": {"dist": "lognormal", "median_ms": 30, "p99_ms": 120}, "replicas": 3,
                   "timeout_ms": 200, "error_rate": 0.02},
        "candidate": {"latency": {"dist": "exponential", "mean_ms": 45}, "replicas": 2, "timeout_ms": 150,
                      "queue_limit": 2, "error_rate": 0.05, "noise": 0.4},
    },
    "strategy": {"kind": "ab", "candidate_fraction": 0.5},
}
QUERY_S = 300.0  # the probe's mid-run query time
ROLLBACK_S = 400.0


class Probe(Strategy):
    """Sends every third request to the candidate; queries its context at fixed times."""

    kind = "probe"
    tick_interval_s = 100.0

    def __init__(self):
        super().__init__()
        self.seen: dict[str, object] = {}
        self.rollback_answers: list[bool] = []

    def route(self, request):
        return "candidate" if request.request_id % 3 == 0 else "legacy"

    def tick(self, now_s):
        ctx = self.ctx
        if now_s == QUERY_S:
            self.seen.update(
                now_s=ctx.now_s, models=ctx.models, slo=ctx.slo_latency_ms, rolled_back=ctx.rolled_back,
                windows={m: ctx.window(m, 100.0) for m in ctx.models},
                bounded={m: ctx.window(m, 100.0, 250.0) for m in ctx.models},
                future=ctx.window("candidate", 100.0, 1e9),
                empty=ctx.window("candidate", 50.0, 50.0),
                values={m: ctx.window_values(m, 100.0) for m in ctx.models},
                converted=[(i, ctx.converted(i, "legacy")) for i in (1, 2, 4, 5)],
            )
            ctx.emit("probe", "asked", answer=np.int64(42), share=np.float64(0.25), values=np.array([1.5, 2.0]),
                     when=None)
            ctx.emit("note", "elsewhere", source="tester", model="candidate", time_s=123.0)
        elif now_s == ROLLBACK_S:
            self.rollback_answers.append(ctx.rollback("probe wants out", "probe:test", violations=[{"metric": "x"}]))
            self.rollback_answers.append(ctx.rollback("again", "probe:test"))
            self.seen["rolled_back_after"] = ctx.rolled_back


@pytest.fixture(scope="module")
def probed():
    probe = Probe()
    r = workbench.run(SMALL, seed=4, strategy=probe)
    return probe, r


def _finished(req: pd.DataFrame, model: str, start_s: float, end_s: float, now_s: float) -> pd.DataFrame:
    """Requests of ``model`` that arrived in ``[start_s, end_s)`` and had finished by ``now_s``."""
    return req[(req.model == model) & (req.time_s >= start_s) & (req.time_s < end_s) & (req.end_time_s <= now_s)]


def _expected_window(part: pd.DataFrame, now_s: float, slo_ms: float) -> dict:
    served = part[part.status != "dropped"]
    labelled = part[(part.status == "ok") & (part.label_time_s <= now_s)]
    counts = part.status.value_counts()
    n = len(part)
    p50, p95, p99 = (np.percentile(served.latency_ms, q) for q in (50, 95, 99))
    return dict(
        n=n, errors=int(counts["error"]), timeouts=int(counts["timeout"]), dropped=int(counts["dropped"]),
        error_rate=(n - int(counts["ok"])) / n, latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99,
        n_labelled=len(labelled), prediction_mae=labelled.abs_error.mean(),
        business_rate=labelled.converted.mean(), slo_breaches=int((served.latency_ms > slo_ms).sum()),
    )


def test_window_matches_pandas_on_the_request_table_mid_run(probed):
    probe, r = probed
    req = r.requests
    assert probe.seen["now_s"] == QUERY_S and probe.seen["models"] == ("legacy", "candidate")
    assert probe.seen["slo"] == 90.0 and probe.seen["rolled_back"] is False
    for model, w in probe.seen["windows"].items():
        part = _finished(req, model, 100.0, QUERY_S, QUERY_S)
        expected = _expected_window(part, QUERY_S, 90.0)
        assert (w.model, w.start_s, w.end_s) == (model, 100.0, QUERY_S)
        for key, value in expected.items():
            assert getattr(w, key) == pytest.approx(value, rel=1e-12), (model, key)
        # requests still in flight at the query time are left out; their labels too
        in_flight = req[(req.model == model) & (req.time_s >= 100) & (req.time_s < QUERY_S)
                        & (req.end_time_s > QUERY_S)]
        assert len(in_flight) > 0 and w.n == ((req.model == model) & (req.time_s >= 100)
                                              & (req.time_s < QUERY_S)).sum() - len(in_flight)
        assert 0 < w.n_labelled < w.n - w.errors - w.timeouts - w.dropped  # the last 20 s have no label yet
    cand = probe.seen["windows"]["candidate"]
    assert cand.errors and cand.timeouts and cand.dropped  # every status is exercised


def test_window_with_an_end_counts_arrivals_before_it_finished_by_now(probed):
    probe, r = probed
    for model, w in probe.seen["bounded"].items():
        expected = _expected_window(_finished(r.requests, model, 100.0, 250.0, QUERY_S), QUERY_S, 90.0)
        assert (w.start_s, w.end_s) == (100.0, 250.0)
        for key, value in expected.items():
            assert getattr(w, key) == pytest.approx(value, rel=1e-12), (model, key)
    future = probe.seen["future"]
    assert future.end_s == QUERY_S and future.n == probe.seen["windows"]["candidate"].n
    empty = probe.seen["empty"]
    assert empty.n == 0 and empty.empty and math.isnan(empty.error_rate) and math.isnan(empty.latency_p99_ms)
    assert math.isnan(empty.prediction_mae) and math.isnan(empty.business_rate)


def test_window_values_match_the_request_table(probed):
    probe, r = probed
    for model, values in probe.seen["values"].items():
        part = _finished(r.requests, model, 100.0, QUERY_S, QUERY_S)
        labelled = part[(part.status == "ok") & (part.label_time_s <= QUERY_S)]
        assert set(values) == {"latency_ms", "error", "abs_error", "business"}
        np.testing.assert_array_equal(values["latency_ms"], part.latency_ms[part.status != "dropped"].to_numpy())
        np.testing.assert_array_equal(values["error"], (part.status != "ok").to_numpy(dtype=float))
        np.testing.assert_array_equal(values["abs_error"], labelled.abs_error.to_numpy())
        np.testing.assert_array_equal(values["business"], labelled.converted.to_numpy())
        w = probe.seen["windows"][model]
        assert values["error"].size == w.n and values["abs_error"].size == w.n_labelled


def test_converted_agrees_with_the_conversion_column(probed):
    probe, r = probed
    conv = r.requests.converted
    checked = [(i, answer) for i, answer in probe.seen["converted"] if r.requests.status.iloc[i] == "ok"]
    assert checked and all(answer == bool(conv.iloc[i]) for i, answer in checked)


def test_emit_rows_hold_the_columns_and_json_details(probed):
    _, r = probed
    ev = r.events
    row = ev[ev.kind == "probe"].iloc[0]
    assert (row.time_s, row.source, row.model, row.reason) == (QUERY_S, "strategy:probe", "", "asked")
    assert row.details == '{"answer": 42, "share": 0.25, "values": [1.5, 2.0], "when": null}'
    note = ev[ev.kind == "note"].iloc[0]
    assert (note.time_s, note.source, note.model, note.reason) == (123.0, "tester", "candidate", "elsewhere")
    assert json.loads(note.details) == {}
    assert list(ev.columns) == ["time_s", "kind", "source", "model", "reason", "details"]
    assert ev.time_s.is_monotonic_increasing  # the results sort rows emitted at other times


def test_rollback_takes_effect_once_and_records_one_incident(probed):
    probe, r = probed
    assert probe.rollback_answers == [True, False] and probe.seen["rolled_back_after"]
    assert r.summary.rollback.rolled_back and r.summary.rollback.time_s == ROLLBACK_S
    assert probe.state == "rolled_back"
    rb = r.events[r.events.kind == "rollback"]
    assert len(rb) == 1 and rb.iloc[0].source == "probe:test" and rb.iloc[0].model == "candidate"
    inc = r.incidents
    assert len(inc) == 1
    row = inc.iloc[0]
    assert (row.time_s, row.trigger, row.reason) == (ROLLBACK_S, "probe:test", "probe wants out")
    assert json.loads(row.violations) == {"violations": [{"metric": "x"}]}
    assert json.loads(row.strategy_state) == {"strategy": "probe", "state": "running", "candidate_weight": 0.0}
    # without a monitor hub the incident holds each model's last 60 s window
    metrics = json.loads(row.metrics)
    assert set(metrics) == {"legacy", "candidate"} and metrics["candidate"]["start_s"] == ROLLBACK_S - 60
    assert [i.trigger for i in r.summary.incidents] == ["probe:test"]
    # from the next arrival on, legacy serves everyone
    after = r.requests[r.requests.time_s > ROLLBACK_S]
    before = r.requests[r.requests.time_s < ROLLBACK_S]
    assert (after.model == "legacy").all() and (before.model == "candidate").any()


def test_run_context_offers_every_name_of_the_strategy_protocol():
    names = set(StrategyContext.__annotations__) | {n for n in vars(StrategyContext) if not n.startswith("_")}
    ctx = Simulation(workbench.load_scenario(SMALL), 1).context
    assert isinstance(ctx, RunContext)
    missing = {n for n in names if not hasattr(ctx, n)}
    assert not missing, missing


def test_conversion_column_is_the_same_however_the_uniforms_are_drawn():
    ctx = Simulation(workbench.load_scenario(MIXED), 3).run().context
    assert not ctx.business_drawn  # an ab run never asks for conversions while it runs
    lazy = ctx.conversion_column(chunk=1000)  # uniforms drawn chunk by chunk
    drawn = ctx.business_u  # the whole stream at once
    assert ctx.conversion_column(chunk=777).tolist() == lazy.tolist()
    # reference: conversions of each model's ok requests, all at once
    expected = np.zeros(ctx.n)
    model = np.frombuffer(ctx.log.model, dtype=np.int8)
    ok = np.frombuffer(ctx.log.status, dtype=np.int8) == 0
    for k, name in enumerate(ctx.model_names):
        idx = np.flatnonzero(ok & (model == k))
        expected[idx] = ctx.conversions(idx, name, drawn[idx])
    np.testing.assert_array_equal(lazy, expected)
    assert 0 < expected.sum() < ok.sum()
