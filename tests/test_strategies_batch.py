"""Batch routing: ``route_batch`` gives exactly what ``route`` gives request by request.

Each strategy is built twice on two identical fake contexts; one routes random
batches request by request, the other routes them as batches. The models, the
events, the summary, the counters and the random streams' positions must be the
same afterwards, including batches that start or end at a schedule point or at a
blue/green switch, and users whose ids are outside the dense per-user arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
from strategy_fakes import FakeContext, build, window_metrics

from workbench.strategies import Request, Strategy
from workbench.strategies.base import UniformStream, UserTable

ERROR_GATE = {"metric": "error_rate", "threshold": 0.05, "min_samples": 50}
DURATION_S = 1200.0


def _pair(config: dict, seed: int) -> tuple[tuple[Strategy, FakeContext], tuple[Strategy, FakeContext]]:
    """The same strategy twice, each started on its own context with the same seed."""
    out = []
    for _ in range(2):
        strategy, _scenario = build(config)
        ctx = FakeContext(seed=seed)
        ctx.start(strategy)
        out.append((strategy, ctx))
    return out[0], out[1]


def _traffic(seed: int, n: int, users: int, marks_s: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted arrival times (some exactly at ``marks_s``) and user ids (a few outside the dense range)."""
    rng = np.random.default_rng(seed)
    times = np.sort(np.concatenate([rng.uniform(0.0, DURATION_S, n - len(marks_s)), marks_s]))
    user_ids = rng.integers(0, users, n)
    odd = rng.random(n) < 0.01
    user_ids[odd] = rng.choice([-7, -1, 1 << 40, (1 << 40) + 3], odd.sum())
    return times, user_ids


def _cuts(seed: int, times: np.ndarray, marks_s: tuple[float, ...]) -> list[int]:
    """Batch boundaries: random ones, plus one at each of ``marks_s`` and one just after it."""
    rng = np.random.default_rng(seed + 1)
    n = times.size
    cuts = set(rng.integers(0, n, 25).tolist())
    for mark in marks_s:
        at = int(np.searchsorted(times, mark, side="left"))
        cuts.update({at, at + 1})
    return sorted({0, n} | {c for c in cuts if 0 < c < n})


def _drive(config: dict, seed: int, *, n: int = 3000, users: int = 500, marks_s: tuple[float, ...] = (),
           ticks: bool = False, cut_at_marks: bool = True) -> tuple[Strategy, FakeContext, Strategy, FakeContext]:
    """Route the same traffic per request and per batch; assert equal models along the way.

    Requests arrive exactly at ``marks_s``; batches also end there when ``cut_at_marks``
    (else the marks fall inside batches).
    """
    (one, ctx_one), (batch, ctx_batch) = _pair(config, seed)
    times, user_ids = _traffic(seed, n, users, marks_s)
    features = np.zeros((n, 1))
    cuts = _cuts(seed, times, marks_s if cut_at_marks else ())
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        now_s = float(times[lo])
        if ticks:  # the analysis runs between batches, as a control event does
            for ctx in (ctx_one, ctx_batch):
                ctx.windows = {"candidate": window_metrics(error_rate=0.01)}
                if not ctx.rolled_back:
                    ctx.tick(now_s)
        ctx_one.now_s = ctx_batch.now_s = now_s
        expected = [one.route(Request(i, float(times[i]), int(user_ids[i]), features)) for i in range(lo, hi)]
        got = batch.route_batch(np.arange(lo, hi), times[lo:hi], user_ids[lo:hi], features)
        assert isinstance(got, np.ndarray) and got.shape == (hi - lo,)
        assert got.tolist() == expected, (lo, hi)
    return one, ctx_one, batch, ctx_batch


def _assert_same_state(one: Strategy, ctx_one: FakeContext, batch: Strategy, ctx_batch: FakeContext) -> None:
    assert repr(one.summary()) == repr(batch.summary())  # repr: NaN equals NaN
    assert ctx_one.events == ctx_batch.events
    assert one.candidate_weight() == batch.candidate_weight()
    uniform_one, uniform_batch = getattr(one, "_uniform", None), getattr(batch, "_uniform", None)
    if uniform_one is not None:
        assert uniform_one.next() == uniform_batch.next()
    assert ctx_one.rng.random() == ctx_batch.rng.random()


SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("model", ["legacy", "candidate"])
def test_single(seed, model):
    state = _drive({"kind": "single", "model": model}, seed)
    _assert_same_state(*state)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sticky", [True, False])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_ab(seed, sticky, fraction):
    config = {"kind": "ab", "candidate_fraction": fraction, "sticky": sticky, "salt": f"ab-{seed}"}
    one, ctx_one, batch, ctx_batch = _drive(config, seed, n=6000)  # more than one block of uniforms
    assert one.assigned == batch.assigned
    _assert_same_state(one, ctx_one, batch, ctx_batch)


CANARY_MARKS = (0.0, 300.0, 600.0, 601.5, 700.0, 900.0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cut_at_marks", [True, False])
@pytest.mark.parametrize("per_request", [False, True])
@pytest.mark.parametrize(
    "schedule",
    [
        [],
        [{"at_s": 300, "weight": 10}, {"at_s": 600, "weight": 25}],
        [{"at_s": 0, "weight": 5}, {"at_s": 600, "weight": 50}, {"at_s": 601.5, "weight": 20},
         {"at_s": 700, "weight": 20}, {"at_s": 900, "weight": 0}],
    ],
)
def test_canary(seed, per_request, cut_at_marks, schedule):
    config = {"kind": "canary", "candidate_fraction": 0.05, "schedule": schedule, "per_request": per_request,
              "salt": f"canary-{seed}"}
    one, ctx_one, batch, ctx_batch = _drive(config, seed, n=6000, marks_s=CANARY_MARKS,
                                             cut_at_marks=cut_at_marks)
    assert sorted(one._seen.values().tolist()) == sorted(batch._seen.values().tolist())
    _assert_same_state(one, ctx_one, batch, ctx_batch)


def test_canary_batch_spanning_several_points_advances_at_the_first_request_after_each():
    config = {"kind": "canary", "candidate_fraction": 0.05, "salt": "s",
              "schedule": [{"at_s": 10, "weight": 10}, {"at_s": 20, "weight": 20}, {"at_s": 20.5, "weight": 30}]}
    (one, ctx_one), (batch, ctx_batch) = _pair(config, 0)
    times = np.array([5.0, 10.0, 12.0, 21.0, 22.0, 30.0])
    users = np.arange(6) * 997
    features = np.zeros((6, 1))
    expected = [one.route(Request(i, float(t), int(u), features)) for i, (t, u) in enumerate(zip(times, users, strict=True))]
    assert batch.route_batch(np.arange(6), times, users, features).tolist() == expected
    assert [e.time_s for e in ctx_batch.events] == [e.time_s for e in ctx_one.events] == [10.0, 20.0, 20.5]
    _assert_same_state(one, ctx_one, batch, ctx_batch)


PROGRESSIVE_STEPS = [
    [{"weight": 10, "pause_s": 60}, {"weight": 50, "pause_s": 60}, {"weight": 100}],
    [{"weight": 5, "pause_s": 120}, {"weight": 100, "pause_s": 120}],
    [{"weight": 0.01, "pause_s": 30}, {"weight": 33.33, "pause_s": 30}],
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("steps", PROGRESSIVE_STEPS)
def test_progressive(seed, steps):
    config = {"kind": "progressive", "interval_s": 30, "steps": steps, "gates": [ERROR_GATE], "salt": f"p-{seed}"}
    one, ctx_one, batch, ctx_batch = _drive(config, seed, ticks=True)
    _assert_same_state(one, ctx_one, batch, ctx_batch)


def test_progressive_promoted_routes_everything_to_the_candidate():
    config = {"kind": "progressive", "interval_s": 30, "steps": [{"weight": 10, "pause_s": 30}, {"weight": 100}],
              "gates": [ERROR_GATE]}
    one, ctx_one, batch, ctx_batch = _drive(config, 4, ticks=True)
    assert batch.state == "promoted"
    users = np.arange(50)
    assert set(batch.route_batch(users, np.full(50, 1e4), users, np.zeros((50, 1))).tolist()) == {"candidate"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cut_at_marks", [True, False])
@pytest.mark.parametrize("switch_s", [0.0, 300.0, 601.5, 5000.0])
def test_blue_green(seed, switch_s, cut_at_marks):
    config = {"kind": "blue_green", "switch_s": switch_s, "interval_s": 30, "gates": [ERROR_GATE]}
    marks_s = (switch_s,) if switch_s < DURATION_S else ()
    one, ctx_one, batch, ctx_batch = _drive(config, seed, marks_s=marks_s, cut_at_marks=cut_at_marks)
    assert one.switched == batch.switched == (switch_s < DURATION_S)
    assert [e.kind for e in ctx_batch.events] == (["switch"] if switch_s < DURATION_S else [])
    _assert_same_state(one, ctx_one, batch, ctx_batch)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_base_loop_serves_strategies_without_an_override(seed):
    config = {"kind": "bandit"}
    state = _drive(config, seed, n=500)
    _assert_same_state(*state)


def test_empty_batch():
    for config in ({"kind": "ab", "sticky": False}, {"kind": "canary", "per_request": True}, {"kind": "bandit"}):
        (one, ctx_one), (batch, ctx_batch) = _pair(config, 0)
        got = batch.route_batch(np.arange(0), np.empty(0), np.empty(0, dtype=np.int64), np.zeros((1, 1)))
        assert got.shape == (0,)
        _assert_same_state(one, ctx_one, batch, ctx_batch)


@pytest.mark.parametrize("block", [1, 3, 4096])
def test_uniform_take_continues_the_stream(block):
    a = UniformStream(np.random.default_rng(9), block=block)
    b = UniformStream(np.random.default_rng(9), block=block)
    for k in (0, 1, 2, 5, 3, 8000, 1):
        assert a.take(k).tolist() == [b.next() for _ in range(k)]
    assert a.next() == b.next()


def test_user_table_dense_and_sparse_ids_agree():
    table, reference = UserTable("B", empty=0, dense_limit=100), {}
    rng = np.random.default_rng(5)
    for _ in range(20):
        ids = rng.integers(-5, 300, 40)
        bit = int(rng.choice([1, 2]))
        table.or_many(ids, bit)
        for uid in ids.tolist():
            reference[uid] = reference.get(uid, 0) | bit
    probe = np.arange(-10, 310)
    assert table.get_many(probe).tolist() == [reference.get(u, 0) for u in probe.tolist()]
    assert [table.get(u) for u in probe.tolist()] == [reference.get(u, 0) for u in probe.tolist()]
    assert sorted(table.values().tolist()) == sorted(reference.values())
    assert table.dense.size == 100


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("fraction", [0.25, 1.0])
def test_shadow_mirrors_the_same_requests_in_batches(seed, fraction):
    """route_batch then mirror_batch leave what route then mirror leave, request by request."""
    (one, ctx_one), (batch, ctx_batch) = _pair({"kind": "shadow", "mirror_fraction": fraction}, seed)
    times, user_ids = _traffic(seed, 6000, 500, ())
    features = np.zeros((times.size, 1))
    for lo, hi in zip(_cuts(seed, times, ())[:-1], _cuts(seed, times, ())[1:], strict=True):
        expected_routes, expected_mirrors = [], []
        for i in range(lo, hi):
            request = Request(i, float(times[i]), int(user_ids[i]), features)
            expected_routes.append(one.route(request))
            expected_mirrors.append(one.mirror(request))
        ids = np.arange(lo, hi)
        assert batch.route_batch(ids, times[lo:hi], user_ids[lo:hi], features).tolist() == expected_routes
        mirrored = batch.mirror_batch(ids, times[lo:hi], user_ids[lo:hi], features)
        assert mirrored.dtype == bool and mirrored.tolist() == expected_mirrors
    assert one.mirrored == batch.mirrored > 0
    _assert_same_state(one, ctx_one, batch, ctx_batch)


def test_the_base_mirror_batch_asks_mirror_for_each_request():
    class EveryThird(Strategy):
        def mirror(self, request):
            return request.request_id % 3 == 0

    got = EveryThird().mirror_batch(np.arange(7), np.zeros(7), np.zeros(7, dtype=np.int64), np.zeros((7, 1)))
    assert got.tolist() == [True, False, False, True, False, False, True]


def test_interleaving_routes_batches_to_legacy_and_remembers_the_users():
    (one, _), (batch, _) = _pair({"kind": "interleaving"}, 1)
    times, user_ids = _traffic(1, 300, 50, ())
    features = np.zeros((300, 1))
    expected = [one.route(Request(i, float(times[i]), int(user_ids[i]), features)) for i in range(300)]
    assert batch.batch_routing
    assert batch.route_batch(np.arange(300), times, user_ids, features).tolist() == expected == ["legacy"] * 300
    assert batch._pending == one._pending


def test_buckets_are_the_single_user_hash_and_cohorts_share_them_per_salt():
    from workbench.rng import bucket, buckets
    from workbench.strategies import Cohort

    ids = np.array([0, 1, 7, 123456, -3, 1 << 40, 2**62])
    assert buckets("salt-x", ids).tolist() == [bucket("salt-x", int(u)) for u in ids.tolist()]
    assert buckets("salt-x", np.empty(0, dtype=np.int64)).size == 0
    first, second, other = Cohort("shared-salt"), Cohort("shared-salt"), Cohort("other-salt")
    assert first.buckets(ids).tolist() == [bucket("shared-salt", int(u)) for u in ids.tolist()]
    assert second._buckets is first._buckets and other._buckets is not first._buckets
    assert second.buckets(ids[::-1]).tolist() == first.buckets(ids)[::-1].tolist()


def test_user_table_set_many_dense_and_sparse():
    table = UserTable("h", empty=-1, dense_limit=100)
    ids = np.array([3, 99, 150, -2, 7])
    table.set_many(ids, np.array([30, 990, 1500, -20, 70]))
    assert table.get_many(np.array([3, 99, 150, -2, 7, 8])).tolist() == [30, 990, 1500, -20, 70, -1]
    table.set_many(np.array([4, 5]), np.array([40, 50]))
    assert [table.get(u) for u in (4, 5)] == [40, 50]


@pytest.mark.parametrize("config", [
    {"kind": "single", "model": "candidate"},
    {"kind": "ab", "candidate_fraction": 0.3, "sticky": True},
    {"kind": "ab", "candidate_fraction": 0.3, "sticky": False},
    {"kind": "canary", "candidate_fraction": 0.05, "schedule": [{"at_s": 300, "weight": 20}]},
    {"kind": "canary", "candidate_fraction": 0.2, "per_request": True},
    {"kind": "progressive", "interval_s": 30, "steps": [{"weight": 10, "pause_s": 60}, {"weight": 100}],
     "gates": [ERROR_GATE]},
    {"kind": "blue_green", "switch_s": 300.0},
    {"kind": "bandit"},
], ids=lambda c: f"{c['kind']}-{len(c)}")
def test_route_batch_indices_are_the_names_as_indices(config):
    """Model indices straight from a batch: the names' indices, and the same state afterwards."""
    model_index = {"legacy": 0, "candidate": 1}
    (names_one, ctx_names), (index_one, ctx_index) = _pair(config, 7)
    times, user_ids = _traffic(7, 4000, 300, (300.0,))
    features = np.zeros((times.size, 1))
    for lo, hi in zip(_cuts(7, times, (300.0,))[:-1], _cuts(7, times, (300.0,))[1:], strict=True):
        for ctx in (ctx_names, ctx_index):
            ctx.now_s = float(times[lo])
            ctx.windows = {"candidate": window_metrics(error_rate=0.01)}
            if config["kind"] == "progressive" and not ctx.rolled_back:
                ctx.tick(float(times[lo]))
        batch = (np.arange(lo, hi), times[lo:hi], user_ids[lo:hi], features)
        names = names_one.route_batch(*batch)
        indices = index_one.route_batch_indices(*batch, model_index)
        assert indices.dtype == np.int8 and indices.tolist() == [model_index[str(n)] for n in names]
    _assert_same_state(names_one, ctx_names, index_one, ctx_index)


def test_the_default_route_batch_indices_names_an_unknown_model():
    class Elsewhere(Strategy):
        kind = "elsewhere"

        def route(self, request):
            return "staging"

    with pytest.raises(RuntimeError, match="routed to unknown model 'staging'"):
        Elsewhere().route_batch_indices(np.arange(2), np.zeros(2), np.zeros(2, dtype=np.int64), np.zeros((2, 1)),
                                        {"legacy": 0})
