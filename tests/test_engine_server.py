"""Serving calls on replica pools against queueing theory and a hand-worked schedule.

A whole run's queue is checked against M/M/c (Erlang C), M/D/1 (Pollaczek-Khinchine)
and M/M/1/K (loss probability) with Little's law on top; a :class:`Server` driven
directly on a five-call schedule gives known statuses, wait times and end times.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import simpy
from scenario_builders import mmc

import workbench
from workbench.engine.draws import OUTAGE_HANG, OUTAGE_NONE, OUTAGE_REFUSE
from workbench.engine.server import CallLog, ReplicaPool, Server
from workbench.status import DROPPED, ERROR, OK, PENDING, TIMEOUT


@pytest.fixture(params=["reference", "fast"])
def engine(request):
    """Queueing theory must hold on both engines (the fast one serves these single-model runs)."""
    return request.param



def erlang_c_wait_s(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c: Erlang C (Kleinrock, Queueing Systems Vol. 1, 1975, section 3.5)."""
    a = lam / mu
    rho = a / c
    top = a**c / (math.factorial(c) * (1 - rho))
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


# ----------------------------------------------------------------------------- queueing theory
@pytest.mark.parametrize("rate,mean_ms,c", [(40.0, 50.0, 3), (16.0, 50.0, 1)])
def test_queueing_matches_erlang_c_and_littles_law(rate, mean_ms, c, engine):
    mu = 1000.0 / mean_ms
    expected_wq = erlang_c_wait_s(rate, mu, c)
    waits, utils, little = [], [], []
    for seed in range(6):
        r = workbench.run(mmc(rate, mean_ms, c), seed=seed, engine=engine)
        req = r.requests[r.requests.time_s >= 200]
        waits.append(req.queue_ms.mean() / 1000.0)
        utils.append(r.summary.models["legacy"].utilisation)
        # Little's law on the queue: Lq = lambda_hat * Wq, with Lq measured as the
        # time-average number waiting (integral of waiting intervals over the window)
        window = r.scenario.duration_s - 200
        lam_hat = len(req) / window
        lq = (req.queue_ms / 1000.0).sum() / window
        little.append((lq, lam_hat * req.queue_ms.mean() / 1000.0))
    assert np.mean(waits) == pytest.approx(expected_wq, rel=0.05)
    # utilisation over the whole run (busy replica-seconds / (c * T)) matches lambda / (c mu)
    assert np.mean(utils) == pytest.approx(rate / (c * mu), rel=0.05)
    for lq, lam_wq in little:
        assert lq == pytest.approx(lam_wq, rel=1e-9)


def test_mean_response_time_little_law_in_system(engine):
    """L = lambda W: the time-average number in system from the log equals lambda * W."""
    r = workbench.run(mmc(30.0, 50.0, 2, duration=1800), seed=3, engine=engine)
    req = r.requests
    # number in system sampled on a fine grid, from arrival and end times
    grid = np.linspace(300, 1700, 20001)
    arrivals = np.searchsorted(np.sort(req.time_s.to_numpy()), grid)
    departures = np.searchsorted(np.sort(req.end_time_s.to_numpy()), grid)
    L = (arrivals - departures).mean()
    lam = len(req) / 1800
    W = (req.latency_ms / 1000).mean()
    assert L == pytest.approx(lam * W, rel=0.08)


def test_constant_service_matches_pollaczek_khinchine(engine):
    """M/D/1 at rho = 0.5: Wq = rho D / (2 (1 - rho)) = 25 ms, and W = Wq + D."""
    sc = mmc(10.0, 50.0, 1)
    sc["models"]["legacy"]["latency"] = {"dist": "constant", "ms": 50}
    waits_ms, system_ms = [], []
    for seed in range(2):
        req = workbench.run(sc, seed=seed, engine=engine).requests
        req = req[req.time_s >= 200]
        waits_ms.append(req.queue_ms.mean())
        system_ms.append(req.latency_ms.mean())
        # every served call took exactly the constant service time after its wait
        np.testing.assert_allclose(req.latency_ms - req.queue_ms, 50.0, atol=1e-6)
    assert np.mean(waits_ms) == pytest.approx(25.0, rel=0.06)
    assert np.mean(system_ms) == pytest.approx(75.0, rel=0.03)


def test_queue_limit_drops_the_m_m_1_k_loss_fraction(engine):
    """M/M/1 with room for 2 waiting (K = 3 in system) at rho = 0.8: an arrival finds the
    system full with probability (1 - rho) rho^K / (1 - rho^(K+1)) (arrivals see time averages)."""
    rho, k = 0.8, 3
    r = workbench.run(mmc(16.0, 50.0, 1, duration=1800, queue_limit=2), seed=1, engine=engine)
    req = r.requests[r.requests.time_s >= 200]
    expected = (1 - rho) * rho**k / (1 - rho**(k + 1))
    assert (req.status == "dropped").mean() == pytest.approx(expected, rel=0.05)
    assert set(req.status.unique()) == {"ok", "dropped"}  # no timeouts configured, no errors


# ----------------------------------------------------------------------------- statuses in a whole run
def test_conservation_every_arrival_has_one_terminal_status(engine):
    sc = mmc(60.0, 50.0, 2, duration=600, queue_limit=5, timeout_ms=300)
    sc["faults"] = [
        {"kind": "error_burst", "target": "legacy", "start_s": 100, "duration_s": 100, "error_rate": 0.3},
        {"kind": "outage", "target": "legacy", "start_s": 300, "duration_s": 30},
    ]
    r = workbench.run(sc, seed=5, engine=engine)
    req = r.requests
    counts = r.summary.status_counts
    assert sum(counts.values()) == len(req)
    assert set(counts) == {"ok", "error", "timeout", "dropped"}
    assert all(counts[s] > 0 for s in counts), counts
    assert req.request_id.is_unique and (req.request_id.to_numpy() == np.arange(len(req))).all()
    assert req.status.notna().all() and req.model.notna().all()
    assert (req.end_time_s >= req.time_s - 1e-9).all()
    # latency is what the user waited: end - arrival (timeouts end at exactly timeout_ms)
    np.testing.assert_allclose(req.latency_ms, (req.end_time_s - req.time_s) * 1000, atol=1e-6)
    assert (req.loc[req.status == "timeout", "latency_ms"] == 300).all()
    assert (req.loc[req.status == "dropped", "latency_ms"] == 0).all()
    assert req.loc[req.status != "ok", "prediction"].isna().all()
    assert req.loc[req.status == "ok", "prediction"].notna().all()


def test_outage_refuse_and_hang(engine):
    sc = mmc(20.0, 20.0, 4, duration=300, timeout_ms=500)
    sc["faults"] = [{"kind": "outage", "target": "legacy", "start_s": 100, "duration_s": 50}]
    req = workbench.run(sc, seed=1, engine=engine).requests
    inside = (req.time_s >= 100) & (req.time_s < 150)
    assert (req.status[inside] == "error").all() and (req.latency_ms[inside] == 0).all()
    assert (req.status[~inside] != "error").all()
    sc["faults"][0]["mode"] = "hang"
    req = workbench.run(sc, seed=1, engine=engine).requests
    assert (req.status[inside] != "ok").all()
    assert (req.status[inside & (req.status == "timeout")].count()) > 0.9 * inside.sum()


def test_requests_that_gave_up_do_not_fill_the_queue():
    # 1 replica busy for 10 s, a 1 s timeout and room for 2 waiting: most arrivals give up
    # in the queue; an arrival is dropped only if 2 requests are really waiting
    sc = {"name": "q", "duration_s": 120, "traffic": {"rate_per_s": 1.0},
          "models": {"legacy": {"latency": {"dist": "constant", "ms": 10_000}, "replicas": 1,
                                "queue_limit": 2, "timeout_ms": 1000, "error_rate": 0.0}}}
    req = workbench.run(sc, seed=3).requests
    start = req.time_s.to_numpy()
    waited_until = start + req.queue_ms.to_numpy() / 1000
    served = req.status.to_numpy() != "dropped"
    dropped = np.flatnonzero(~served)
    for i in dropped:
        waiting = np.sum(served[:i] & (start[:i] <= start[i]) & (waited_until[:i] > start[i]))
        assert waiting >= 2, (i, waiting)
    assert (req.status == "timeout").sum() > 50


# ----------------------------------------------------------------------------- a Server on a known schedule
def _serve(arrivals_s, service_s, *, fails=None, outage=None, replicas=1, queue_limit=None, timeout_s=None):
    """Drive one :class:`Server` on one model: call ``i`` arrives at ``arrivals_s[i]``.

    Returns the call log, the pool and the ``on_finish`` calls as ``(row, time_s, status)``.
    """
    n = len(arrivals_s)
    env = simpy.Environment()
    outage = list(outage) if outage is not None else [OUTAGE_NONE] * n
    ctx = SimpleNamespace(
        env=env,
        service_s=[list(service_s)],
        fails=[list(fails) if fails is not None else [False] * n],
        outage=[outage],
        outage_any=[any(o != OUTAGE_NONE for o in outage)],
        timeout_s=[timeout_s],
        arrival_s=list(arrivals_s),
    )
    log = CallLog(n)
    pool = ReplicaPool("legacy", replicas, queue_limit)
    finished = []
    server = Server(ctx, log, [pool], lambda row, m, now, status, latency_ms: finished.append((row, now, status)))

    def arrivals():
        for i, t in enumerate(arrivals_s):
            yield env.timeout(t - env.now)
            server.dispatch(i, 0, t)

    env.process(arrivals())
    env.run()
    return log, pool, finished


def test_server_schedule_with_queue_limit_timeout_and_failure():
    # 1 replica, 1.0 s service, a 1.5 s caller timeout, room for 1 waiting:
    # call 0 is served at once; 1 waits 0.8 s and gives up during service (0.8 + 1.0 > 1.5);
    # 2 finds 1 waiting and is dropped; 3 queues behind 1's abandoned work (which still holds
    # the replica until 2.0 s) and gives up too; 4 finds the replica free and fails
    log, pool, finished = _serve([0.0, 0.2, 0.4, 1.1, 3.2], [1.0] * 5, fails=[False, False, False, False, True],
                                 queue_limit=1, timeout_s=1.5)
    assert list(log.status) == [OK, TIMEOUT, DROPPED, TIMEOUT, ERROR]
    np.testing.assert_allclose(list(log.end_s), [1.0, 1.7, 0.4, 2.6, 4.2])
    np.testing.assert_allclose(list(log.queue_ms), [0.0, 800.0, 0.0, 900.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(list(log.latency_ms), [1000.0, 1500.0, 0.0, 1500.0, 1000.0], atol=1e-9)
    assert list(log.started) == [1, 1, 0, 1, 1]
    # every call finished exactly once, in time order; the pool is empty again
    assert sorted(row for row, _, _ in finished) == [0, 1, 2, 3, 4]
    assert [t for _, t, _ in finished] == sorted(t for _, t, _ in finished)
    assert pool.busy == 0 and not any(s == PENDING for s in log.status)


def test_server_gives_up_in_the_queue_and_the_replica_never_serves_it():
    # 10 s of service: calls 1 and 2 wait, give up after 1 s in the queue, and are skipped
    log, pool, finished = _serve([0.0, 0.5, 0.6], [10.0, 10.0, 10.0], timeout_s=1.0)
    assert list(log.status) == [TIMEOUT, TIMEOUT, TIMEOUT]
    np.testing.assert_allclose(list(log.end_s), [1.0, 1.5, 1.6])
    # the two that never reached a replica waited the whole timeout
    np.testing.assert_allclose(list(log.queue_ms), [0.0, 1000.0, 1000.0])
    assert list(log.started) == [1, 0, 0]
    assert len(finished) == 3 and pool.busy == 0 and not pool.queue


def test_server_outages_refuse_at_once_or_hang_until_the_timeout():
    # call 0 is refused (error at once, no replica); call 1 hangs and holds the only replica
    # until its caller's 2 s timeout; call 2 waits for it, then is served
    log, pool, _ = _serve([0.0, 0.1, 0.5], [0.3, 0.3, 0.3], outage=[OUTAGE_REFUSE, OUTAGE_HANG, OUTAGE_NONE],
                          timeout_s=2.0)
    assert list(log.status) == [ERROR, TIMEOUT, OK]
    np.testing.assert_allclose(list(log.end_s), [0.0, 2.1, 2.4])
    np.testing.assert_allclose(list(log.latency_ms), [0.0, 2000.0, 1900.0], atol=1e-9)
    np.testing.assert_allclose(list(log.queue_ms), [0.0, 0.0, 1600.0], atol=1e-9)
    assert list(log.started) == [0, 1, 1] and pool.busy == 0


def test_unlimited_pool_never_queues():
    log, pool, _ = _serve([0.0, 0.0, 0.1, 0.2], [5.0, 5.0, 5.0, 5.0], replicas=None)
    assert list(log.status) == [OK] * 4 and list(log.queue_ms) == [0.0] * 4
    np.testing.assert_allclose(list(log.end_s), [5.0, 5.0, 5.1, 5.2])


def test_replica_pool_accounts_busy_and_paid_replica_seconds():
    pool = ReplicaPool("legacy", 2, None, tracked=True)
    pool.busy = 1
    pool.account(10.0)  # 1 busy for 10 s
    pool.busy = 2
    pool.account(15.0)  # 2 busy for 5 s
    assert pool.busy_area == pytest.approx(20.0)
    pool.account_fleet(10.0)  # 2 replicas for 10 s
    pool.provisioning = 1
    pool.account_fleet(30.0, end_s=20.0)  # 3 paid for 10 s, nothing billed past the run's end
    assert pool.fleet_area == pytest.approx(50.0)
    pool.account_fleet(40.0, end_s=20.0)
    assert pool.fleet_area == pytest.approx(50.0)
