"""The FIFO queue kernel against the SimPy engine (bit for bit) and against queueing theory.

The kernel is fed exactly what the engine serves (the run's traffic and the model's
draws, made as :mod:`workbench.engine.simulation` makes them) and must give the
same status, ``queue_ms``, ``latency_ms`` and end time for every request, on
single-model runs of ``workbench.run`` across latency shapes, pool sizes, loads,
queue limits, timeouts, outages and traffic patterns. Simultaneous events (an
arrival, a release and a give-up at one float time) are provoked on purpose on a
grid of binary fractions, with capacity changes between calls, against a
:class:`~workbench.engine.server.Server` driven the way the engine drives it; and
the kernel resumed between autoscaler ticks reproduces a run that scales. On its
own, the kernel's M/M/c waits match Erlang C, its M/M/1/K losses the truncated
geometric law, and Little's law holds.

Every test runs on both event loops, the pure-Python one and the numba-compiled
one (skipped when numba is not installed), and the two give identical results on
the grid above and on the shipped scenarios the fast engine serves.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import subprocess
import sys
from array import array
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import simpy
from simpy.events import Timeout

import workbench
from workbench.engine import fifo
from workbench.engine.draws import OUTAGE_HANG, OUTAGE_NONE, OUTAGE_REFUSE, draw_model
from workbench.engine.fifo import (
    KERNELS,
    FifoPool,
    ResultColumns,
    arrival_clock,
    compiled_available,
    serve_fifo,
    set_kernel,
)
from workbench.engine.server import CallLog, ReplicaPool, Server
from workbench.engine.simulation import Simulation
from workbench.engine.traffic import generate_traffic
from workbench.ops.autoscaling import HorizontalAutoscaler
from workbench.outputs import dumps_strict
from workbench.scenario import load_scenario
from workbench.status import DROPPED, ERROR, OK, PENDING, TIMEOUT

COLUMNS = ("status", "queue_ms", "latency_ms", "end_s")
ROOT = Path(__file__).resolve().parents[1]
NO_NUMBA = "numba is not installed: the compiled FIFO kernel is not tested (pip install 'numba>=0.59,<1')"
needs_numba = pytest.mark.skipif(not compiled_available(), reason=NO_NUMBA)


KERNEL_PARAMS = [pytest.param(k, marks=[needs_numba] if k == "compiled" else [], id=k) for k in KERNELS]


def once(test):
    """Run ``test`` once rather than once per kernel (it picks or compares the kernels itself)."""
    test.once = True
    return test


def pytest_generate_tests(metafunc):
    """Every test of this module runs on both event loops, except those marked :func:`once`."""
    if "kernel" in metafunc.fixturenames and not getattr(metafunc.function, "once", False):
        metafunc.parametrize("kernel", KERNEL_PARAMS, indirect=True)


@pytest.fixture(autouse=True)
def kernel(request):
    """The event loop the pools built in a test default to (None: the default choice)."""
    name = getattr(request, "param", None)
    set_kernel(name)
    yield name
    set_kernel(None)


# ----------------------------------------------------------------------------- the engine's runs
def _kernel_for(scenario, seed: int, **kwargs) -> tuple[FifoPool, object]:
    """A kernel pool over the run's traffic and the one model's draws (as the engine draws them)."""
    traffic = generate_traffic(scenario, seed)
    d = draw_model(scenario, "legacy", traffic, seed)
    cfg = d.config
    pool = FifoPool(
        traffic.time_s, d.service_s, d.fails, d.outage,
        capacity=cfg.replicas, queue_limit=cfg.queue_limit,
        timeout_s=None if cfg.timeout_ms is None else cfg.timeout_ms / 1000.0, **kwargs,
    )
    return pool, d


def _assert_same(kernel, status, queue_ms, latency_ms, end_s) -> None:
    for name, want in zip(COLUMNS, (status, queue_ms, latency_ms, end_s), strict=True):
        got = getattr(kernel, name)
        assert np.array_equal(got, np.asarray(want), equal_nan=name == "end_s"), (
            name, np.flatnonzero(got != np.asarray(want))[:5])


LATENCIES = [
    {"dist": "exponential", "mean_ms": 50},
    {"dist": "lognormal", "median_ms": 40, "p99_ms": 200},
    {"dist": "constant", "ms": 50},
    {"dist": "constant", "ms": 0},  # every service ends when it starts: ties everywhere
]
# (queue_limit, timeout_ms), cycled over the grid below
LIMITS = [(None, None), (3, None), (None, 120.0), (0, 80.0), (2, 50.0), (None, 50.0)]


def _mean_service_ms(latency: dict) -> float:
    if latency["dist"] == "constant":
        return max(latency["ms"], 20.0)  # zero-latency pools get the load of 20 ms ones
    if latency["dist"] == "lognormal":
        sigma = math.log(latency["p99_ms"] / latency["median_ms"]) / 2.3263478740408408
        return latency["median_ms"] * math.exp(sigma**2 / 2)
    return latency["mean_ms"]


def _single_model(latency: dict, replicas: int | None, utilisation: float, queue_limit, timeout_ms,
                  pattern: str) -> dict:
    """A single-strategy run of one model at ``utilisation``, with errors, a burst and outages."""
    rate = utilisation * (replicas or 4) * 1000.0 / _mean_service_ms(latency)
    model = {"latency": latency, "error_rate": 0.05}
    if replicas is not None:
        model["replicas"] = replicas
    if queue_limit is not None:
        model["queue_limit"] = queue_limit
    if timeout_ms is not None:
        model["timeout_ms"] = timeout_ms
    faults = [
        {"kind": "outage", "target": "legacy", "start_s": 25, "duration_s": 4, "mode": "refuse"},
        {"kind": "error_burst", "target": "legacy", "start_s": 5, "duration_s": 5, "error_rate": 0.5},
        {"kind": "latency_spike", "target": "legacy", "start_s": 12, "duration_s": 3, "multiplier": 3.0},
    ]
    if timeout_ms is not None:
        faults.append({"kind": "outage", "target": "legacy", "start_s": 17, "duration_s": 4, "mode": "hang"})
    return {
        "name": "fifo", "duration_s": 40,
        "traffic": {"rate_per_s": rate, "users": 100, "pattern": pattern, "period_s": 20.0},
        "models": {"legacy": model},
        "strategy": {"kind": "single"},
        "faults": faults,
    }


CASES = [
    pytest.param(lat, c, util, *LIMITS[k % len(LIMITS)], ("constant", "diurnal")[k % 2],
                 id=f"{lat['dist']}{lat.get('ms', '')}-c{c}-u{util}-{k % len(LIMITS)}")
    for k, (lat, c, util) in enumerate(itertools.product(LATENCIES, [1, 4], [0.5, 0.9, 1.2]))
] + [
    pytest.param(lat, None, 0.9, None, to, "diurnal", id=f"{lat['dist']}{lat.get('ms', '')}-unlimited-{to}")
    for lat in LATENCIES for to in (None, 60.0)
]


@pytest.mark.parametrize("latency,replicas,utilisation,queue_limit,timeout_ms,pattern", CASES)
def test_kernel_reproduces_the_engine_bit_for_bit(latency, replicas, utilisation, queue_limit, timeout_ms,
                                                   pattern):
    scenario = load_scenario(_single_model(latency, replicas, utilisation, queue_limit, timeout_ms, pattern))
    for seed in (1, 2, 3):
        req = workbench.run(scenario, seed=seed, engine="reference").requests
        pool, _ = _kernel_for(scenario, seed)
        pool.serve()
        pool.advance()
        got = pool.result()
        _assert_same(got, req.status.cat.codes.to_numpy(), req.queue_ms.to_numpy(), req.latency_ms.to_numpy(),
                     req.end_time_s.to_numpy())
        assert not np.any(got.status == PENDING)


def test_the_engine_runs_above_meet_every_status_and_tie():
    """The grid above is not vacuous: every status occurs, and zero service makes exact ties."""
    seen = set()
    for k, (lat, c, util) in enumerate(itertools.product(LATENCIES, [1, 4], [0.5, 0.9, 1.2])):
        queue_limit, timeout_ms = LIMITS[k % len(LIMITS)]
        scenario = load_scenario(_single_model(lat, c, util, queue_limit, timeout_ms, "constant"))
        got = serve_fifo(*_draw_arrays(scenario, 1), capacity=c, queue_limit=queue_limit,
                         timeout_s=None if timeout_ms is None else timeout_ms / 1000.0)
        seen |= set(np.unique(got.status).tolist())
        if lat.get("ms") == 0 and c == 1 and util == 1.2:
            # zero-length services started from the line (behind hung calls): each one's
            # release falls at the very time of the release that started it
            assert np.any((got.queue_ms > 0) & (got.latency_ms == got.queue_ms) & (got.status != TIMEOUT))
    assert seen == {OK, ERROR, TIMEOUT, DROPPED}


def _draw_arrays(scenario, seed):
    traffic = generate_traffic(scenario, seed)
    d = draw_model(scenario, "legacy", traffic, seed)
    return traffic.time_s, d.service_s, d.fails, d.outage


# ----------------------------------------------------------------------------- simultaneous events
def _engine_on_grid(times, service, fails, outage, *, capacity, queue_limit, timeout_s, controls):
    """A :class:`Server` driven as the engine drives it, with capacity changes at ``controls``.

    Arrivals chain as in the engine (each creates the next before it is served);
    ``controls`` are ``(time_s, capacity)``: each control event accounts the pool's
    busy time, sets the capacity (starting queued calls when it grows, as new
    replicas do) and then creates the next control event.
    """
    n = len(times)
    env = simpy.Environment()
    ctx = SimpleNamespace(
        env=env, service_s=[list(service)], fails=[list(fails)], outage=[list(outage)],
        outage_any=[any(o != OUTAGE_NONE for o in outage)], timeout_s=[timeout_s], arrival_s=list(times),
    )
    log = CallLog(n)
    pool = ReplicaPool("legacy", capacity, queue_limit, tracked=True)
    server = Server(ctx, log, [pool])
    arrived = [0]

    def on_arrival(_event):
        i = arrived[0]
        arrived[0] += 1
        if i + 1 < n:
            Timeout(env, times[i + 1] - env.now).callbacks.append(on_arrival)
        server.dispatch(i, 0, times[i])

    def on_control(event):
        k = event.value
        pool.account(env.now)
        new = controls[k][1]
        grows = new > pool.capacity
        pool.capacity = new
        if grows:
            server.drain(0)
        if k + 1 < len(controls):
            Timeout(env, controls[k + 1][0] - env.now, k + 1).callbacks.append(on_control)

    Timeout(env, times[0]).callbacks.append(on_arrival)
    if controls:
        Timeout(env, controls[0][0], 0).callbacks.append(on_control)
    env.run()
    return log, pool


def _kernel_on_grid(times, service, fails, outage, *, capacity, queue_limit, timeout_s, controls, batches):
    """The kernel resumed at every control event; arrivals given in batches of ``batches`` ids."""
    pool = FifoPool(times, service, fails, outage, capacity=capacity, queue_limit=queue_limit,
                    timeout_s=timeout_s)
    ids = list(range(len(times)))
    seq = pool.mark() if controls else None  # the first control is created after the first arrival
    for k, (t_c, cap) in enumerate(controls):
        while ids:
            batch = ids[:batches]
            used = pool.serve(batch, until_s=t_c, until_seq=seq)
            del ids[:used]
            if used < len(batch):
                break
        pool.advance(t_c, seq)
        pool.account(t_c)
        pool.set_capacity(cap, t_c)
        if k + 1 < len(controls):
            seq = pool.mark()
    pool.serve(ids)
    pool.advance()
    return pool


@pytest.mark.parametrize("case", range(40))
def test_ties_on_a_grid_match_the_engine_with_capacity_changes(case):
    """Arrivals, services, timeouts and control events on multiples of 1/4 s meet exactly."""
    rng = np.random.default_rng(case)
    n = 300
    gaps = rng.choice([0.0, 0.25, 0.5, 0.75], size=n, p=[0.3, 0.3, 0.25, 0.15])
    times = np.cumsum(gaps) + 0.25
    if case % 4 == 0:  # a first gap whose engine clock is not the drawn time
        times = np.concatenate([[6.02255460690408e-07, 0.001227530743941382], times[2:] + 0.001227530743941382])
    service = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=n)
    fails = rng.random(n) < 0.2
    outage = rng.choice([OUTAGE_NONE, OUTAGE_REFUSE, OUTAGE_HANG], size=n, p=[0.8, 0.1, 0.1]).astype(np.int8)
    timeout_s = [None, 0.5, 0.75, 1.0][case % 4]
    queue_limit = [None, 0, 1, 3][(case // 4) % 4]
    capacity = int(rng.integers(1, 4))
    control_times = np.arange(1.0, times[-1] + 2.0, rng.choice([0.25, 0.5, 1.0, 1.25]))
    controls = [(float(t), int(c)) for t, c in zip(control_times, rng.integers(1, 5, control_times.size),
                                                   strict=True)] if case % 5 else []
    kw = dict(capacity=capacity, queue_limit=queue_limit, timeout_s=timeout_s, controls=controls)
    log, engine_pool = _engine_on_grid(times, service, fails, outage, **kw)
    pool = _kernel_on_grid(times, service, fails, outage, batches=int(rng.integers(1, 50)), **kw)
    got = pool.result()
    _assert_same(got, np.frombuffer(log.status, np.int8), np.frombuffer(log.queue_ms), np.frombuffer(log.latency_ms),
                 np.frombuffer(log.end_s))
    assert got.started.tolist() == [bool(s) for s in log.started]
    assert pool.busy_s == engine_pool.busy_area
    assert pool.busy == 0 and not pool.waiting


def test_arrival_clock_is_the_engines_recursion():
    rng = np.random.default_rng(7)
    t = np.sort(np.concatenate([rng.uniform(0, 1e-6, 50), rng.uniform(0, 1e6, 5000)]))
    now, want = 0.0, []
    for ti in t.tolist():
        now = now + (ti - now)
        want.append(now)
    clock = arrival_clock(t)
    assert np.array_equal(clock, want)
    pair = arrival_clock([6.02255460690408e-07, 0.001227530743941382])
    assert pair[1] != 0.001227530743941382  # the engine's clock is one ulp off the drawn time here
    assert arrival_clock([]).size == 0 and arrival_clock([2.5]).tolist() == [2.5]


# ----------------------------------------------------------------------------- resuming
def test_serving_in_pieces_equals_serving_at_once():
    rng = np.random.default_rng(3)
    n = 20_000
    times = np.cumsum(rng.exponential(1 / 90.0, n))
    service = rng.exponential(0.04, n)
    fails = rng.random(n) < 0.05
    outage = np.where(rng.random(n) < 0.03, OUTAGE_HANG, OUTAGE_NONE).astype(np.int8)
    kw = dict(capacity=4, queue_limit=6, timeout_s=0.12)
    whole = serve_fifo(times, service, fails, outage, **kw)
    pool = FifoPool(times, service, fails, outage, **kw)
    cuts = np.sort(rng.uniform(0, times[-1], 60))
    snapshots = []
    for cut in cuts:
        pool.serve(until_s=float(cut))
        pool.advance(float(cut))
        r = pool.result()
        decided = r.status != PENDING
        # what is decided by a cut never changes later
        snapshots.append((decided, r.status[decided].copy(), r.end_s[decided].copy()))
    pool.serve()
    pool.advance()
    got = pool.result()
    _assert_same(got, whole.status, whole.queue_ms, whole.latency_ms, whole.end_s)
    assert got.busy_s == pytest.approx(whole.busy_s, rel=1e-12)
    for decided, status, end in snapshots:
        assert np.array_equal(got.status[decided], status) and np.array_equal(got.end_s[decided], end)


def test_a_routed_subset_leaves_other_rows_pending():
    times = np.arange(1, 11) * 0.1
    pool = FifoPool(times, np.full(10, 0.15), np.zeros(10, bool), np.zeros(10, np.int8), capacity=1)
    assert pool.serve([0, 2, 4, 6, 8]) == 5
    pool.advance()
    r = pool.result()
    assert r.status[1::2].tolist() == [PENDING] * 5 and np.isnan(r.end_s[1::2]).all()
    assert r.status[::2].tolist() == [OK] * 5 and r.queue_ms[::2].tolist() == [0.0] * 5


@pytest.mark.parametrize("kernel_name", KERNELS)
def test_pools_sharing_one_set_of_columns_write_only_their_own_rows(kernel_name):
    """Two pools writing into one request log give each pool's results on its own rows, nothing else."""
    rng = np.random.default_rng(11)
    n = 6000
    times = np.cumsum(rng.exponential(1 / 80.0, n))
    service = [rng.exponential(0.03, n), rng.lognormal(math.log(0.02), 0.7, n)]
    fails = rng.random(n) < 0.05
    outage = np.where(rng.random(n) < 0.02, OUTAGE_HANG, OUTAGE_NONE).astype(np.int8)
    routed = rng.random(n) < 0.3
    # the whole run's buffers, as the engine keeps them: used without copies
    arrival_buf = array("d", times.tobytes())
    shared = ResultColumns.empty(n)
    kw = dict(capacity=2, queue_limit=8, timeout_s=0.1, kernel=kernel_name)
    pools = [FifoPool(arrival_buf, array("d", service[k].tobytes()), fails, outage, out=shared, **kw) for k in (0, 1)]
    assert pools[0]._times is arrival_buf
    ids = [np.flatnonzero(~routed), np.flatnonzero(routed)]
    for cut in [*np.sort(rng.uniform(0, times[-1], 20)).tolist(), math.inf]:
        for pool, mine in zip(pools, ids, strict=True):
            seq = pool.mark()
            used = pool.serve(mine[mine >= pool.served_until], until_s=cut, until_seq=seq)
            assert used >= 0
            pool.advance(cut, seq)
            pool.result()
    for k, mine in enumerate(ids):
        alone = serve_fifo(times[mine], service[k][mine], fails[mine], outage[mine], capacity=2, queue_limit=8,
                           timeout_s=0.1, kernel=kernel_name)
        assert np.array_equal(shared.status[mine], alone.status)
        for name in ("queue_ms", "latency_ms", "end_s"):
            assert np.array_equal(getattr(shared, name)[mine], getattr(alone, name)), name
        assert np.array_equal(shared.started[mine], alone.started)
    assert not (shared.status == PENDING).any()
    for pool in pools:
        pool.release()  # the run's buffers are no longer held
        assert pool._times is None and pool._out is None and pool.busy_s > 0


# ----------------------------------------------------------------------------- an autoscaled run
def _kernel_with_autoscaler(scenario, seed):
    """The engine's autoscaling loop (ticks, provisioning, cancellations) around a resumed kernel."""
    pool, d = _kernel_for(scenario, seed)
    a = d.config.autoscaling
    hpa = HorizontalAutoscaler(a.target_utilisation, a.min_replicas, a.max_replicas, tolerance=a.tolerance,
                               scale_down_stabilisation_s=a.scale_down_stabilisation_s,
                               provisioning_delay_s=a.provisioning_delay_s, sync_period_s=a.sync_period_s)
    duration, period = scenario.duration_s, a.sync_period_s
    controls = [(0.0 + period, pool.mark(), "tick", 0)] if period <= duration else []
    provisioning = cancelled = scales = 0
    last_area, last_t = 0.0, 0.0
    while controls:
        now, seq, kind, add = heapq.heappop(controls)
        pool.serve(until_s=now, until_seq=seq)
        pool.advance(now, seq)
        if kind == "ready":
            gone = min(add, cancelled)
            cancelled -= gone
            if add - gone:
                provisioning -= add - gone
                pool.set_capacity(pool.capacity + add - gone, now)
            continue
        pool.account(now)
        ready = pool.capacity or 0
        span = now - last_t
        util = (pool.busy_s - last_area) / (span * ready) if ready and span > 0 else math.nan
        last_area, last_t = pool.busy_s, now
        current = ready + provisioning
        desired = hpa.recommend(now, current, util)
        if desired > current:
            provisioning += desired - current
            heapq.heappush(controls, (now + a.provisioning_delay_s, pool.mark(), "ready", desired - current))
        elif desired < current:
            cancel = min(current - desired, provisioning)
            provisioning -= cancel
            cancelled += cancel
            pool.set_capacity(pool.capacity - (current - desired - cancel), now)
        scales += desired != current
        if now + period <= duration:
            heapq.heappush(controls, (now + period, pool.mark(), "tick", 0))
    pool.serve()
    pool.advance()
    return pool, scales


@pytest.mark.parametrize("seed", [1, 2])
def test_resumed_kernel_reproduces_an_autoscaled_run(seed):
    scenario = load_scenario({
        "name": "scaled", "duration_s": 600,
        "traffic": {"rate_per_s": 60.0, "pattern": "diurnal", "period_s": 300.0, "amplitude": 0.8},
        "models": {"legacy": {"latency": {"dist": "lognormal", "median_ms": 60, "p99_ms": 300}, "replicas": 3,
                              "timeout_ms": 400, "queue_limit": 20,
                              "autoscaling": {"min_replicas": 1, "max_replicas": 12, "sync_period_s": 10,
                                              "provisioning_delay_s": 15, "scale_down_stabilisation_s": 30}}},
        "strategy": {"kind": "single"},
    })
    sim = Simulation(scenario, seed).run()
    log = sim.context.log
    pool, scales = _kernel_with_autoscaler(scenario, seed)
    _assert_same(pool.result(), np.frombuffer(log.status, np.int8), np.frombuffer(log.queue_ms),
                 np.frombuffer(log.latency_ms), np.frombuffer(log.end_s))
    assert pool.busy_s == sim.pools[0].busy_area
    assert pool.capacity == sim.pools[0].capacity
    assert scales == sum(1 for e in sim.context.events if e[1] == "scale") > 3


# ----------------------------------------------------------------------------- queueing theory
def erlang_c_wait_s(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c: Erlang's C formula times 1 / (c mu - lambda)."""
    a = lam / mu
    top = a**c / (math.factorial(c) * (1 - a / c))
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def _batch_mean_and_error(x: np.ndarray, batches: int = 25) -> tuple[float, float]:
    """Mean and its standard error from batch means (the waits of a queue are correlated)."""
    means = np.array([b.mean() for b in np.array_split(x, batches)])
    return float(x.mean()), float(means.std(ddof=1) / math.sqrt(batches))


def _mmc(lam: float, mean_s: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(1 / lam, n))
    service = rng.exponential(mean_s, n)
    return times, service, np.zeros(n, bool), np.zeros(n, np.int8)


@pytest.mark.parametrize("lam,mean_s,c", [(72.0, 0.05, 4), (180.0, 0.05, 10), (16.0, 0.05, 1)])
def test_mmc_wait_is_erlang_c_and_littles_law_holds(lam, mean_s, c):
    n, warm = 300_000, 10_000
    times, service, fails, outage = _mmc(lam, mean_s, n, seed=c)
    r = serve_fifo(times, service, fails, outage, capacity=c)
    wait_s = r.queue_ms[warm:] / 1000.0
    mean, err = _batch_mean_and_error(wait_s)
    expected = erlang_c_wait_s(lam, 1 / mean_s, c)
    assert abs(mean - expected) < 4 * err + 1e-3 * expected, (mean, expected, err)
    # Little's law over a window: time-average number waiting = arrival rate x mean wait
    a, b = times[warm], times[-warm]
    start = times + r.queue_ms / 1000.0
    inside = (times >= a) & (times < b)
    waiting_area = np.clip(np.minimum(start, b) - np.maximum(times, a), 0.0, None).sum()
    lam_hat = inside.sum() / (b - a)
    assert waiting_area / (b - a) == pytest.approx(lam_hat * wait_s.mean(), rel=0.02)
    # busy replica-seconds are the services started, and utilisation is lambda / (c mu)
    assert r.busy_s == pytest.approx(service.sum(), rel=1e-9)
    assert r.busy_s / (c * (r.end_s.max())) == pytest.approx(lam * mean_s / c, rel=0.02)
    assert np.all(r.status == OK)


def test_mm1k_loss_is_the_truncated_geometric_law():
    lam, mean_s, queue_limit = 18.0, 0.05, 4  # rho = 0.9; K = 1 + queue_limit in the system
    times, service, fails, outage = _mmc(lam, mean_s, 300_000, seed=11)
    r = serve_fifo(times, service, fails, outage, capacity=1, queue_limit=queue_limit)
    rho, k = lam * mean_s, 1 + queue_limit
    expected = (1 - rho) * rho**k / (1 - rho ** (k + 1))
    mean, err = _batch_mean_and_error((r.status == DROPPED).astype(float))
    assert abs(mean - expected) < 4 * err, (mean, expected, err)
    # dropped calls never waited nor held a replica
    dropped = r.status == DROPPED
    assert not r.started[dropped].any() and np.all(r.latency_ms[dropped] == 0.0)


def test_timeouts_bound_what_callers_wait():
    times, service, fails, outage = _mmc(30.0, 0.05, 50_000, seed=5)
    r = serve_fifo(times, service, fails, outage, capacity=1, timeout_s=0.1)
    timed_out = r.status == TIMEOUT
    assert timed_out.any()
    assert np.all(r.latency_ms <= 100.0)
    assert np.all(r.latency_ms[timed_out] == 0.1 * 1000.0)
    in_line = timed_out & ~r.started
    assert np.all(r.queue_ms[in_line] == 100.0) and np.all(r.end_s[in_line] == times[in_line] + 0.1)


# ----------------------------------------------------------------------------- the two event loops
def _same_results(a, b) -> None:
    _assert_same(a, b.status, b.queue_ms, b.latency_ms, b.end_s)
    assert np.array_equal(a.started, b.started) and a.busy_s == b.busy_s


@pytest.mark.parametrize("case", range(12))
@once
@needs_numba
def test_both_kernels_agree_when_resumed_in_pieces(case):
    """Continuous draws with every rule on (hangs, refusals, limits, timeouts), served in
    pieces with capacity changes: the results, busy time and waiting line agree throughout."""
    from workbench.engine.fifo_compiled import CompiledFifoPool

    rng = np.random.default_rng(100 + case)
    n = 30_000
    capacity = [1, 3, 8, None][case % 4]
    times = np.cumsum(rng.exponential(1 / (1.3 * 25.0 * (capacity or 4)), n))
    service = rng.lognormal(math.log(0.03), 0.8, n)
    fails = rng.random(n) < 0.05
    outage = rng.choice([OUTAGE_NONE, OUTAGE_REFUSE, OUTAGE_HANG], size=n, p=[0.9, 0.05, 0.05]).astype(np.int8)
    kw = dict(capacity=capacity, queue_limit=[None, 5, 400][case // 4],
              timeout_s=[None, 0.1, 0.25][case % 3])
    pools = [FifoPool(times, service, fails, outage, kernel=k, **kw) for k in KERNELS]
    assert type(pools[0]) is FifoPool and isinstance(pools[1], CompiledFifoPool)
    ids = np.arange(n)
    for cut in np.sort(rng.uniform(0, times[-1], 25)):
        new_capacity = None if capacity is None else int(rng.integers(1, 2 * capacity + 2))
        for pool in pools:
            seq = pool.mark()
            used = pool.serve(ids[pool.served_until:], until_s=float(cut), until_seq=seq)
            pool.advance(float(cut), seq)
            pool.account(float(cut))
            pool.set_capacity(new_capacity, float(cut))
            assert used >= 0
        python, compiled = pools
        assert list(python.waiting) == list(compiled.waiting) and python.busy == compiled.busy
        assert sorted(python.in_service) == sorted(compiled.in_service)
        _same_results(python.result(), compiled.result())
    for pool in pools:
        pool.serve(ids[pool.served_until:])
        pool.advance()
    _same_results(pools[0].result(), pools[1].result())
    assert not np.any(pools[1].result().status == PENDING)


@once
@needs_numba
def test_both_kernels_agree_on_the_engine_grid():
    """The single-model runs of the grid above (seed 1), from the engine's draws."""
    for param in CASES:
        scenario = load_scenario(_single_model(*param.values))
        draws = _draw_arrays(scenario, 1)
        cfg = scenario.models["legacy"]
        kw = dict(capacity=cfg.replicas, queue_limit=cfg.queue_limit,
                  timeout_s=None if cfg.timeout_ms is None else cfg.timeout_ms / 1000.0)
        _same_results(serve_fifo(*draws, kernel="python", **kw), serve_fifo(*draws, kernel="compiled", **kw))


SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
@once
@needs_numba
def test_both_kernels_give_the_same_fast_runs_of_the_shipped_scenarios(path):
    """``workbench.run(engine="fast")`` on every shipped scenario it serves (cut to 1800 s), seeds 1 and 2."""
    from workbench.api import resolve_scenario
    from workbench.engine.fast import supports
    from workbench.strategies import build_strategy

    scenario = resolve_scenario(path)
    if scenario.duration_s > 1800.0:
        scenario = scenario.with_overrides({"duration_s": 1800.0})
    reason = supports(scenario, build_strategy(scenario))
    if reason is not None:
        pytest.skip(f"the fast engine does not serve {path.stem}: {reason}")
    for seed in (1, 2):
        runs = []
        for name in KERNELS:
            set_kernel(name)
            runs.append(workbench.run(scenario, seed=seed, engine="fast"))
        python, compiled = runs
        pd.testing.assert_frame_equal(python.requests, compiled.requests, check_exact=True)
        pd.testing.assert_frame_equal(python.events, compiled.events, check_exact=True)
        assert (dumps_strict(python.summary.to_dict(), sort_keys=True)
                == dumps_strict(compiled.summary.to_dict(), sort_keys=True))


def test_the_kernel_is_chosen_by_set_kernel_then_the_environment(kernel, monkeypatch):
    assert fifo.default_kernel() == kernel
    set_kernel(None)
    monkeypatch.setenv(fifo.KERNEL_ENV, "python")
    assert fifo.default_kernel() == "python"
    assert type(FifoPool([0.0], [1.0], [False], [0], capacity=1)) is FifoPool
    monkeypatch.setenv(fifo.KERNEL_ENV, "cython")
    with pytest.raises(ValueError, match="WORKBENCH_KERNEL"):
        fifo.default_kernel()
    monkeypatch.delenv(fifo.KERNEL_ENV)
    # without a choice: compiled for large runs when numba is installed, or once it is loaded
    assert fifo.default_kernel() == ("compiled" if compiled_available() else "python")
    assert fifo.default_kernel(fifo.COMPILED_MIN_REQUESTS) == fifo.default_kernel()
    monkeypatch.delitem(sys.modules, "workbench.engine.fifo_compiled", raising=False)
    assert fifo.default_kernel(fifo.COMPILED_MIN_REQUESTS - 1) == "python"
    monkeypatch.setitem(sys.modules, "workbench.engine.fifo_compiled", SimpleNamespace())
    assert fifo.default_kernel(10) == fifo.default_kernel()
    with pytest.raises(ValueError, match="set_kernel"):
        set_kernel("fortran")
    with pytest.raises(ValueError, match="FifoPool"):
        FifoPool([0.0], [1.0], [False], [0], capacity=1, kernel="fortran")


@once
@needs_numba
def test_a_batch_loads_the_compiled_kernel_once_it_adds_up_to_a_large_run(monkeypatch):
    """prepare_kernel: a batch under the threshold changes nothing; one over it loads the compiled loop."""
    set_kernel(None)
    monkeypatch.delenv(fifo.KERNEL_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "workbench.engine.fifo_compiled", raising=False)
    assert fifo.prepare_kernel(fifo.COMPILED_MIN_REQUESTS - 1) == "python"
    assert "workbench.engine.fifo_compiled" not in sys.modules
    assert fifo.prepare_kernel(fifo.COMPILED_MIN_REQUESTS) == "compiled"
    assert "workbench.engine.fifo_compiled" in sys.modules
    assert fifo.default_kernel(10) == "compiled"  # every later run of the process
    # a kernel chosen by hand or by the environment wins
    set_kernel("python")
    assert fifo.prepare_kernel(1e9) == "python"
    set_kernel(None)
    monkeypatch.setenv(fifo.KERNEL_ENV, "python")
    assert fifo.prepare_kernel(1e9) == "python"
    monkeypatch.delenv(fifo.KERNEL_ENV)
    monkeypatch.setattr(fifo, "compiled_available", lambda: False)
    monkeypatch.delitem(sys.modules, "workbench.engine.fifo_compiled", raising=False)
    assert fifo.prepare_kernel(1e9) == "python"  # without numba


@once
@needs_numba
def test_numba_is_imported_only_when_a_compiled_pool_is_built():
    """Not by ``import workbench``, nor by a small run on the fast engine: only by a compiled pool."""
    code = (
        "import sys, json\n"
        "import workbench\n"
        "from workbench import run, load_scenario\n"
        "from workbench.engine import fifo, fast\n"
        "run('scenarios/baseline.toml', seed=1, engine='fast')\n"
        "before = 'numba' in sys.modules\n"
        "fifo.FifoPool([0.0], [1.0], [False], [0], capacity=1, kernel='python')\n"
        "python = 'numba' in sys.modules\n"
        "fifo.FifoPool([0.0], [1.0], [False], [0], capacity=1, kernel='compiled')\n"
        "print(json.dumps([before, python, 'numba' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, False, True]
