"""The strategy interface: the base class, the fake context's contract, and that every
strategy reads its context only through the StrategyContext protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
from strategy_fakes import PROTOCOL_NAMES, FakeContext, ProtocolOnly, build, window_metrics

from workbench.strategies import (
    ERROR,
    OK,
    STRATEGY_KINDS,
    Request,
    Strategy,
    StrategyContext,
    build_strategy,
)
from workbench.strategies.base import UniformStream


def test_fake_context_implements_every_protocol_member():
    ctx = FakeContext()
    assert PROTOCOL_NAMES == {
        "rng", "models", "slo_latency_ms", "scenario", "now_s", "rolled_back",
        "emit", "rollback", "window", "window_values", "converted", "user_activity",
    }
    for name in PROTOCOL_NAMES:
        assert hasattr(ctx, name), name
    for name in ("emit", "rollback", "window", "window_values", "converted", "user_activity"):
        assert callable(getattr(ctx, name)) and callable(getattr(StrategyContext, name))
    assert isinstance(ctx.rng, np.random.Generator)
    assert ctx.models == ("legacy", "candidate") and ctx.now_s == 0.0 and not ctx.rolled_back


def test_fake_rollback_succeeds_once_and_tells_the_strategy():
    ctx = FakeContext()
    strategy = ctx.start(Strategy())
    ctx.now_s = 42.0
    assert ctx.rollback("too many errors", trigger="monitor:errors", violations=["x"]) is True
    assert strategy.state == "rolled_back" and ctx.rolled_back
    assert ctx.rollback("again", trigger="strategy:progressive") is False
    assert [(r.reason, r.trigger, r.accepted) for r in ctx.rollbacks] == [
        ("too many errors", "monitor:errors", True), ("again", "strategy:progressive", False)]
    (event,) = ctx.events
    assert (event.time_s, event.kind, event.source, event.model) == (42.0, "rollback", "monitor:errors", "candidate")
    assert event.details == {"violations": ["x"]}
    # the engine stops asking the strategy once rolled back
    _, model = ctx.arrive(43.0, user_id=1)
    assert model == "legacy"


def test_fake_window_stamps_the_queried_window_and_defaults_to_no_data():
    ctx = FakeContext()
    ctx.now_s = 100.0
    ctx.windows = {"candidate": window_metrics(error_rate=0.1)}
    wm = ctx.window("candidate", 40.0)
    assert (wm.start_s, wm.end_s, wm.error_rate) == (40.0, 100.0, 0.1)
    assert ctx.window("candidate", 0.0, 500.0).end_s == 100.0  # never beyond now
    legacy = ctx.window("legacy", 0.0, 50.0)
    assert legacy.empty and math.isnan(legacy.error_rate) and legacy.end_s == 50.0
    assert ctx.window_calls == [("candidate", 40.0, None), ("candidate", 0.0, 500.0), ("legacy", 0.0, 50.0)]
    values = ctx.window_values("legacy", 0.0)
    assert set(values) == {"latency_ms", "error", "abs_error", "business"}
    assert all(v.size == 0 for v in values.values())


def test_base_strategy_routes_everything_to_legacy_and_reports_its_state():
    ctx = FakeContext()
    s = ctx.start(Strategy())
    assert s.ctx is ctx
    request, model = ctx.arrive(1.0, user_id=5)
    assert model == "legacy" and s.mirror(request) is False
    s.on_outcome(0, "legacy", 1.1, OK, 30.0)
    s.on_label(0, "legacy", 60.0, 0.5, 0.4)
    s.tick(60.0)
    assert s.candidate_weight() == 0.0 and s.tables() == {}
    assert s.summary() == {"kind": "base", "final_state": "running"}
    s.on_rollback(61.0)
    assert s.summary()["final_state"] == "rolled_back"
    assert (s.wants_outcomes, s.wants_labels, s.mirrors, s.tick_interval_s) == (False, False, False, None)


def test_uniform_stream_is_the_generators_own_sequence_across_blocks():
    u = UniformStream(np.random.default_rng(7), block=3)
    got = [u.next() for _ in range(10)]
    np.testing.assert_array_equal(got, np.random.default_rng(7).random(12)[:10])


def test_request_features_are_a_read_only_row():
    features = np.arange(6.0).reshape(3, 2)
    r = Request(1, 2.5, 9, features)
    np.testing.assert_array_equal(r.features, [2.0, 3.0])
    with pytest.raises(ValueError):
        r.features[0] = 1.0
    assert repr(r) == "Request(id=1, t=2.500s, user=9)"


def test_window_metrics_get_and_empty():
    wm = window_metrics(latency_p99_ms=130.0)
    assert wm.get("latency_p99_ms") == 130.0 and isinstance(wm.get("n"), float)
    assert not wm.empty and window_metrics(n=0).empty


STRATEGY_TABLES = {
    "single": {"kind": "single", "model": "candidate"},
    "ab": {"kind": "ab", "sticky": True},
    "canary": {"kind": "canary", "schedule": [{"at_s": 0, "weight": 5}, {"at_s": 30, "weight": 50}]},
    "progressive": {"kind": "progressive", "interval_s": 10,
                    "steps": [{"weight": 10, "pause_s": 10}, {"weight": 100}],
                    "gates": [{"metric": "error_rate", "threshold": 0.05},
                              {"metric": "latency_p99_ms", "threshold": 2.0, "relative_to_legacy": True}],
                    "judge": {"kind": "sequential", "metric": "error"}},
    "shadow": {"kind": "shadow", "mirror_fraction": 0.5},
    "blue_green": {"kind": "blue_green", "switch_s": 20, "interval_s": 10,
                   "gates": [{"metric": "error_rate", "threshold": 0.05}]},
    "bandit": {"kind": "bandit", "reward": "conversion"},
    "interleaving": {"kind": "interleaving", "n_items": 50, "k": 5},
}


def test_every_kind_is_built_by_build_strategy():
    assert set(STRATEGY_TABLES) == set(STRATEGY_KINDS)
    for kind, table in STRATEGY_TABLES.items():
        strategy, scenario = build(table, traffic={"users": 300})
        assert type(strategy) is STRATEGY_KINDS[kind] and strategy.kind == kind
        assert type(build_strategy(scenario)) is type(strategy)
    interleaving, _ = build(STRATEGY_TABLES["interleaving"], traffic={"users": 300})
    assert interleaving.users == 300


@pytest.mark.parametrize("kind", sorted(STRATEGY_TABLES))
def test_strategies_read_their_context_only_through_the_protocol(kind):
    strategy, scenario = build(STRATEGY_TABLES[kind], traffic={"users": 300})
    ctx = FakeContext(seed=1, scenario=scenario)
    ctx.windows = {"candidate": window_metrics(), "legacy": window_metrics("legacy")}
    ctx.values = {m: {"error": np.zeros(200), "latency_ms": np.full(200, 40.0)} for m in ctx.models}
    view = ProtocolOnly(ctx)
    ctx.start(strategy, view)
    for i in range(60):
        request, model = ctx.arrive(i * 1.0, user_id=i % 40)
        strategy.mirror(request)
        strategy.on_outcome(request.request_id, model, i + 0.05, ERROR if i % 7 == 0 else OK, 35.0)
        if strategy.wants_labels and i % 7:
            strategy.on_label(request.request_id, model, i + 0.5, 0.4, 0.5)
        if i % 10 == 9:
            ctx.tick(i + 1.0)
    strategy.summary()
    strategy.tables()
    strategy.candidate_weight()
    ctx.rollback("test", trigger="test")
    assert strategy.state == "rolled_back"
    assert view.accessed <= PROTOCOL_NAMES
    with pytest.raises(AttributeError, match="not part of the StrategyContext protocol"):
        view.hub  # noqa: B018 - an engine internal is out of reach

