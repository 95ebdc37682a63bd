"""Engine benchmark: the workbench against a bare SimPy M/M/c loop.

Runs in one process:

(a) a bare SimPy M/M/c loop of N requests: an arrival process yielding
    ``env.timeout(exponential)``, and per request a process doing
    ``with resource.request() as req: yield req; yield env.timeout(service)``,
    nothing else (the random numbers are drawn up front with numpy, as the engine
    draws its own);
(b) the full engine, :func:`workbench.run`, on the equivalent scenario
    (Poisson arrivals at the same rate, exponential service with the same mean,
    ``replicas = c``, ``single`` strategy) -- with the request log, features,
    predictions, labels, DataFrames and summary;
(c) the engine with an ``ab`` strategy over two models and a ``latency_spike`` fault;
(d) a progressive canary with gates, the health and drift monitors, a detector and
    a rollback policy (the full per-request path).

Each is repeated (default 3 times) and the best rate kept, to reduce noise on a
shared machine. It prints requests per second for each and the ratios to (a):
b/a and c/a should be at least 0.5 (the workbench costs at most twice bare
SimPy), d/a at least 0.4. A check line compares (b)'s mean queueing delay after
a 10% warm-up with the M/M/c theory (Erlang's C formula, Kleinrock, *Queueing
Systems* Vol. 1, 1975, section 3.5) and its utilisation with ``lambda / (c mu)``.
Last, the peak memory traced by :mod:`tracemalloc` during one run of (b), per
million logged requests (target at most 150 MB); ``--no-memory`` skips it.
(a) to (d) run the reference engine (``engine="reference"``).

Then the fast engine (``engine="fast"``: SimPy for control events only, the FIFO
kernel for the requests) against the reference on three workloads of
``--fast-requests`` requests (default 500k): M/M/10 at utilisation 0.9, the
shipped ``ab_test`` and ``progressive_bad_candidate`` scenarios run longer; the
median CPU time of ``--repeats`` runs of each, and the speed-up (printed, not a
target). ``--no-fast`` skips it.

Usage::

    python bench/engine.py [--requests N] [--repeats R] [--rate R] [--mean-service-ms MS]
                           [--replicas C] [--seed S] [--no-memory]
                           [--fast-requests N] [--no-fast]
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simpy

TARGET_RATIO = 0.5
TARGET_RATIO_MONITORED = 0.4
TARGET_MB_PER_MILLION = 150.0


@dataclass(frozen=True)
class Timing:
    """One timed run: how many requests, how long (wall clock)."""

    requests: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Setup:
    """The M/M/c system shared by the three variants."""

    requests: int
    rate_per_s: float
    mean_service_ms: float
    replicas: int
    seed: int

    @property
    def duration_s(self) -> float:
        return self.requests / self.rate_per_s

    @property
    def utilisation(self) -> float:
        return self.rate_per_s * self.mean_service_ms / 1000.0 / self.replicas


def erlang_c_wait_ms(rate_per_s: float, mean_service_ms: float, c: int) -> float:
    """Mean M/M/c queueing delay ``Wq = P(wait) / (c mu - lambda)`` in ms.

    ``P(wait)`` is Erlang's C formula (Kleinrock, *Queueing Systems* Vol. 1, 1975,
    section 3.5); the check line compares the engine's mean queueing delay with it.
    """
    mu = 1000.0 / mean_service_ms
    a = rate_per_s / mu
    rho = a / c
    if rho >= 1:
        return math.inf
    top = a**c / (math.factorial(c) * (1 - rho))
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return 1000.0 * p_wait / (c * mu - rate_per_s)


# ----------------------------------------------------------------------------- (a) bare SimPy
def bare_simpy(setup: Setup, seed: int) -> Timing:
    """A bare SimPy M/M/c loop of ``setup.requests`` requests, timed end to end."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n = setup.requests
    gaps = rng.exponential(1.0 / setup.rate_per_s, n).tolist()
    services = rng.exponential(setup.mean_service_ms / 1000.0, n).tolist()
    env = simpy.Environment()
    resource = simpy.Resource(env, capacity=setup.replicas)

    def request(service_s: float):
        with resource.request() as req:
            yield req
            yield env.timeout(service_s)

    def arrivals():
        for gap, service_s in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            env.process(request(service_s))

    env.process(arrivals())
    env.run()
    return Timing(n, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- (b), (c) the engine
def single_scenario(setup: Setup) -> dict[str, Any]:
    """The engine's version of (a): same rate, exponential service, ``replicas = c``."""
    return {
        "name": "bench-mmc",
        "duration_s": setup.duration_s,
        "seed": setup.seed,
        "traffic": {"rate_per_s": setup.rate_per_s},
        "models": {
            "legacy": {
                "latency": {"dist": "exponential", "mean_ms": setup.mean_service_ms},
                "replicas": setup.replicas,
                "error_rate": 0.0,
            }
        },
        "strategy": {"kind": "single"},
    }


def ab_scenario(setup: Setup) -> dict[str, Any]:
    """Two models, a 50/50 ``ab`` split, and a 2x latency spike on the candidate."""
    model = {
        "latency": {"dist": "exponential", "mean_ms": setup.mean_service_ms},
        "replicas": setup.replicas,
    }
    return {
        "name": "bench-ab-spike",
        "duration_s": setup.duration_s,
        "seed": setup.seed,
        "traffic": {"rate_per_s": setup.rate_per_s},
        "models": {"legacy": dict(model), "candidate": dict(model)},
        "strategy": {"kind": "ab", "candidate_fraction": 0.5},
        "faults": [
            {
                "kind": "latency_spike",
                "target": "candidate",
                "start_s": 0.4 * setup.duration_s,
                "duration_s": 0.1 * setup.duration_s,
                "multiplier": 2.0,
            }
        ],
    }


def monitored_scenario(setup: Setup) -> dict[str, Any]:
    """A progressive canary with the health monitor, drift monitor, a detector and a
    rollback policy: the full per-request path (target: at least 0.4 of bare SimPy's rate)."""
    sc = ab_scenario(setup)
    sc["name"] = "bench-progressive-monitored"
    sc["strategy"] = {
        "kind": "progressive",
        "steps": [{"weight": 10, "pause_s": 0.2 * setup.duration_s},
                  {"weight": 50, "pause_s": 0.2 * setup.duration_s}, {"weight": 100}],
        "interval_s": 60,
        "gates": [{"metric": "error_rate", "threshold": 0.05},
                  {"metric": "latency_p99_ms", "threshold": 3.0, "relative_to_legacy": True}],
        "failure_limit": 2,
    }
    sc["monitoring"] = {"interval_s": 10, "drift": True, "performance": True,
                        "detectors": [{"name": "page_hinkley", "signal": "latency_ms", "model": "candidate",
                                       "params": {"threshold": 5000}}]}
    sc["rollback"] = {"triggers": ["health"], "consecutive": 3,
                      "thresholds": [{"metric": "error_rate", "threshold": 0.2}]}
    return sc


def engine(scenario, seed: int, which: str = "reference"):
    """Run :func:`workbench.run` once on engine ``which``; return its timing and result."""
    import workbench

    t0 = time.perf_counter()
    result = workbench.run(scenario, seed=seed, engine=which)
    return Timing(len(result.requests), time.perf_counter() - t0), result


# ----------------------------------------------------------------------------- fast against reference
def fast_workloads(requests: int) -> list[tuple[str, Any, dict[str, Any]]]:
    """(label, scenario, overrides) of the fast-engine comparison, each about ``requests`` long."""
    scenarios = Path(__file__).resolve().parents[1] / "scenarios"
    mmc = Setup(requests, 180.0, 50.0, 10, 1)  # M/M/10, utilisation 0.9
    return [
        ("M/M/10 at 0.9", single_scenario(mmc), {}),
        ("ab_test", scenarios / "ab_test.toml", {"duration_s": math.ceil(requests / 60.0)}),
        ("progressive_bad_candidate", scenarios / "progressive_bad_candidate.toml",
         {"duration_s": math.ceil(requests / 40.0)}),
    ]


def cpu_seconds(scenario, overrides: dict[str, Any], seed: int, which: str) -> tuple[float, int]:
    """CPU time (s) of one :func:`workbench.run` on engine ``which``, and its request count."""
    import workbench

    sc = workbench.load_scenario(scenario, overrides=overrides)
    gc.collect()
    t0 = time.process_time()
    result = workbench.run(sc, seed=seed, engine=which)
    return time.process_time() - t0, len(result.requests)


def compare_fast(requests: int, repeats: int, seed: int) -> None:
    """Print the median CPU time of the fast and the reference engine on each workload."""
    print()
    print(f"fast engine against reference: median CPU time of {repeats} runs")
    for label, scenario, overrides in fast_workloads(requests):
        times: dict[str, list[float]] = {"fast": [], "reference": []}
        n = 0
        for r in range(repeats):
            for which in ("fast", "reference"):
                cpu, n = cpu_seconds(scenario, overrides, seed + r, which)
                times[which].append(cpu)
        fast, ref = float(np.median(times["fast"])), float(np.median(times["reference"]))
        print(f"  {label:28s} {n:8d} requests: fast {fast:6.2f} s, reference {ref:6.2f} s, "
              f"speed-up {ref / fast:4.1f}x", flush=True)


def peak_memory_mb_per_million(scenario, seed: int) -> tuple[float, int, int]:
    """Peak bytes traced by tracemalloc during one ``workbench.run``, per million requests.

    Returns (MB per million requests, peak bytes, requests). The scenario is validated
    before tracing starts, so only the run itself is measured.
    """
    import workbench

    sc = workbench.load_scenario(scenario)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = workbench.run(sc, seed=seed, engine="reference")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n = len(result.requests)
    return peak / n * 1e6 / 1e6, peak, n


# ----------------------------------------------------------------------------- main
def _best(timings: list[Timing]) -> Timing:
    return max(timings, key=lambda t: t.per_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=300_000, help="requests per run (default 300000)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each variant; the best is kept"
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="arrivals per second (default 100)"
    )
    parser.add_argument(
        "--mean-service-ms", type=float, default=30.0, help="mean service time (default 30)"
    )
    parser.add_argument("--replicas", type=int, default=4, help="servers c (default 4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    parser.add_argument("--fast-requests", type=int, default=500_000,
                        help="requests per run of the fast-engine comparison (default 500000)")
    parser.add_argument("--no-fast", action="store_true", help="skip the fast-engine comparison")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repeats < 1:
        parser.error("--requests and --repeats must be at least 1")
    setup = Setup(args.requests, args.rate, args.mean_service_ms, args.replicas, args.seed)
    if setup.utilisation >= 1:
        parser.error(
            f"utilisation {setup.utilisation:.2f} >= 1: the queue would grow without bound"
        )

    print(f"python {platform.python_version()}, simpy {simpy.__version__}, numpy {np.__version__}")
    print(
        f"M/M/{setup.replicas}: {setup.requests} requests at {setup.rate_per_s:g}/s "
        f"({setup.duration_s:g} s simulated), mean service {setup.mean_service_ms:g} ms, "
        f"utilisation {setup.utilisation:.2f}; best of {args.repeats}"
    )
    single, ab, mon = single_scenario(setup), ab_scenario(setup), monitored_scenario(setup)
    bare: list[Timing] = []
    full: list[Timing] = []
    abf: list[Timing] = []
    monf: list[Timing] = []
    last = None
    for r in range(args.repeats):
        seed = setup.seed + r
        gc.collect()
        bare.append(bare_simpy(setup, seed))
        gc.collect()
        t, last = engine(single, seed)
        full.append(t)
        gc.collect()
        abf.append(engine(ab, seed)[0])
        gc.collect()
        monf.append(engine(mon, seed)[0])
        print(
            f"  repeat {r + 1}: bare {bare[-1].per_s:10,.0f}/s   engine {full[-1].per_s:10,.0f}/s"
            f"   engine ab+spike {abf[-1].per_s:10,.0f}/s   progressive+monitors {monf[-1].per_s:10,.0f}/s",
            flush=True,
        )
    a, b, c, d = _best(bare), _best(full), _best(abf), _best(monf)
    print()
    print(
        f"(a) bare SimPy M/M/c        {a.per_s:12,.0f} requests/s  ({a.requests} in {a.seconds:.2f} s)"
    )
    print(
        f"(b) workbench.run, single   {b.per_s:12,.0f} requests/s  ({b.requests} in {b.seconds:.2f} s)"
    )
    print(
        f"(c) workbench.run, ab+spike {c.per_s:12,.0f} requests/s  ({c.requests} in {c.seconds:.2f} s)"
    )
    print(
        f"(d) progressive + monitors  {d.per_s:12,.0f} requests/s  ({d.requests} in {d.seconds:.2f} s)"
    )
    ok_b, ok_c = b.per_s / a.per_s >= TARGET_RATIO, c.per_s / a.per_s >= TARGET_RATIO
    print(
        f"ratio b/a = {b.per_s / a.per_s:.2f}  (target >= {TARGET_RATIO}: {'met' if ok_b else 'MISSED'})"
    )
    print(
        f"ratio c/a = {c.per_s / a.per_s:.2f}  (target >= {TARGET_RATIO}: {'met' if ok_c else 'MISSED'})"
    )

    ok_d = d.per_s / a.per_s >= TARGET_RATIO_MONITORED
    print(
        f"ratio d/a = {d.per_s / a.per_s:.2f}  (target >= {TARGET_RATIO_MONITORED}: {'met' if ok_d else 'MISSED'});"
        f" monitors cost {100 * (1 - d.per_s / c.per_s):.0f}% of (c)'s rate"
    )

    if last is not None:  # sanity: (b) simulates the same queue as (a)
        req = last.requests
        warm = req[req["time_s"] >= 0.1 * setup.duration_s]
        theory = erlang_c_wait_ms(setup.rate_per_s, setup.mean_service_ms, setup.replicas)
        print(
            f"check: engine mean queue {warm['queue_ms'].mean():.2f} ms vs Erlang C {theory:.2f} ms; "
            f"utilisation {last.summary.models['legacy'].utilisation:.3f} vs {setup.utilisation:.3f}"
        )

    if not args.no_memory:
        mb, peak, n = peak_memory_mb_per_million(single, setup.seed)
        ok = mb <= TARGET_MB_PER_MILLION
        print(
            f"peak traced memory of (b): {peak / 1e6:.1f} MB for {n} requests = "
            f"{mb:.1f} MB per million requests (target <= {TARGET_MB_PER_MILLION:g}: {'met' if ok else 'MISSED'})"
        )
    if not args.no_fast:
        compare_fast(args.fast_requests, args.repeats, setup.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
