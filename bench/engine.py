"""Engine benchmark: every engine target, each against its baseline measured in the same run.

One invocation prints, as "measured / target / met?" lines and at the end as a
markdown table (workload | baseline | measured | ratio | target | met):

1. the fast engine (``engine="fast"``) against the reference engine on M/M/10 at
   utilisation 0.9 (one model, exponential service, ``single`` strategy), with the
   pure-Python and the compiled FIFO kernel: target >= 10x;
2. the same on the shipped ``ab_test`` scenario run long enough for ``--requests``
   requests: target >= 10x;
3. the same on ``progressive_bad_candidate`` run as long, with the health, drift and
   performance monitors and a rollback on health (a run the fast engine accepts,
   checked with :func:`workbench.engine.fast.supports`): target >= 5x;
4. the fast engine against a bare SimPy *callback* M/M/c loop on the same arrivals
   and service times as (1) (an arrival callback that starts service or queues, a
   completion callback that starts the next; no processes): target >= 5x. The
   process-per-request bare loop (``with resource.request(): yield ...``) is timed
   too, for context. Both loops are checked to give the engine's queueing delays;
   the engine's mean delay is checked against Erlang's C formula;
5. what the compiled kernel's first call costs: in new processes, the first fast
   run with an empty numba cache (cold) and with the cache filled (warm), against
   a second run in the same process. (1) prints its compiled ratio steady-state
   and with the cold first call's extra cost added once to the fast side;
6. peak memory traced by :mod:`tracemalloc` per million requests of the fast
   engine at ``--memory-requests`` requests (M/M/10 and ``ab_test``): target
   <= 100 MB per million; the reference engine's for context.

Times are CPU seconds (:func:`time.process_time`) of one ``workbench.run`` on a
validated scenario (the result tables and summary included), the median of
``--repeats`` runs, the variants compared alternating within each repeat, after
``gc.collect()``. Every variant runs once untimed first (imports, numba compiled).

Usage::

    python bench/engine.py [--quick] [--requests N] [--memory-requests N] [--repeats R] [--seed S]

``--quick`` is a smoke run: 100k requests everywhere and 3 repeats.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from targets import Row, machine_info, markdown_table, report

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
TARGET_FAST_VS_REFERENCE = 10.0
TARGET_MONITORED_VS_REFERENCE = 5.0
TARGET_FAST_VS_CALLBACK = 5.0
TARGET_MB_PER_MILLION = 100.0
KERNELS = ("python", "compiled")

# M/M/10 at utilisation 0.9: 180 arrivals/s, mean service 50 ms
MMC_REPLICAS = 10
MMC_RATE_PER_S = 180.0
MMC_MEAN_SERVICE_MS = 50.0


# ----------------------------------------------------------------------------- workloads
def mmc_scenario(requests: int):
    """M/M/10 at utilisation 0.9 for about ``requests`` requests (validated)."""
    from workbench import load_scenario

    return load_scenario({
        "name": "bench-mm10",
        "duration_s": requests / MMC_RATE_PER_S,
        "traffic": {"rate_per_s": MMC_RATE_PER_S},
        "models": {"legacy": {"latency": {"dist": "exponential", "mean_ms": MMC_MEAN_SERVICE_MS},
                              "replicas": MMC_REPLICAS, "error_rate": 0.0}},
        "strategy": {"kind": "single"},
    })


def scaled(path: Path, requests: int, extra: dict[str, Any] | None = None):
    """The shipped scenario at ``path`` run long enough for about ``requests`` requests."""
    from workbench import load_scenario

    base = load_scenario(path)
    overrides = {"duration_s": math.ceil(requests / base.traffic.rate_per_s), **(extra or {})}
    return load_scenario(path, overrides=overrides)


def monitored_scenario(requests: int):
    """``progressive_bad_candidate`` with health, drift and performance monitors and a rollback on health."""
    return scaled(SCENARIOS / "progressive_bad_candidate.toml", requests, {
        "monitoring": {"interval_s": 10, "drift": True, "performance": True},
        "rollback": {"triggers": ["health"], "consecutive": 3,
                     "thresholds": [{"metric": "error_rate", "threshold": 0.05}]},
    })


def fast_run(scenario, seed: int, kernel: str):
    """One ``workbench.run`` on the fast engine with FIFO kernel ``kernel``."""
    import workbench
    from workbench.engine import fifo

    fifo.set_kernel(kernel)
    try:
        return workbench.run(scenario, seed=seed, engine="fast")
    finally:
        fifo.set_kernel(None)


def reference_run(scenario, seed: int):
    import workbench

    return workbench.run(scenario, seed=seed, engine="reference")


# ----------------------------------------------------------------------------- bare SimPy loops
def mmc_draws(scenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The arrival times and service times (s) the engine draws for ``scenario`` and ``seed``."""
    from workbench.engine.draws import draw_model
    from workbench.engine.traffic import generate_traffic

    traffic = generate_traffic(scenario, seed)
    return traffic.time_s, draw_model(scenario, "legacy", traffic, seed).service_s


def bare_callback(arrival_s: np.ndarray, service_s: np.ndarray, capacity: int) -> list[float]:
    """A bare SimPy M/M/c loop with callbacks only; returns each request's service start (s).

    The next arrival is one ``env.timeout`` whose callback either starts service
    (a timeout whose callback is the completion) or queues the request; a
    completion starts the next queued request or frees its server.
    """
    arrivals, services = arrival_s.tolist(), service_s.tolist()
    n = len(arrivals)
    env = simpy.Environment()
    start_s = [0.0] * n
    waiting: deque[int] = deque()
    busy = 0
    following = 0  # index of the next arrival

    def complete(_event) -> None:
        nonlocal busy
        if waiting:
            i = waiting.popleft()
            start_s[i] = env.now
            env.timeout(services[i]).callbacks.append(complete)
        else:
            busy -= 1

    def arrive(_event) -> None:
        nonlocal busy, following
        i = following
        following += 1
        if busy < capacity:
            busy += 1
            start_s[i] = env.now
            env.timeout(services[i]).callbacks.append(complete)
        else:
            waiting.append(i)
        if following < n:
            env.timeout(arrivals[following] - env.now).callbacks.append(arrive)

    if n:
        env.timeout(arrivals[0]).callbacks.append(arrive)
    env.run()
    return start_s


def bare_process(arrival_s: np.ndarray, service_s: np.ndarray, capacity: int) -> list[float]:
    """A bare SimPy M/M/c loop with one process per request; returns each service start (s)."""
    arrivals, services = arrival_s.tolist(), service_s.tolist()
    env = simpy.Environment()
    resource = simpy.Resource(env, capacity=capacity)
    start_s = [0.0] * len(arrivals)

    def request(i: int):
        with resource.request() as req:
            yield req
            start_s[i] = env.now
            yield env.timeout(services[i])

    def source():
        for i, t in enumerate(arrivals):
            yield env.timeout(t - env.now)
            env.process(request(i))

    env.process(source())
    env.run()
    return start_s


def erlang_c_wait_ms(rate_per_s: float, mean_service_ms: float, c: int) -> float:
    """Mean M/M/c queueing delay ``Wq = P(wait) / (c mu - lambda)`` in ms.

    ``P(wait)`` is Erlang's C formula (Kleinrock, *Queueing Systems* Vol. 1, 1975,
    section 3.5): a check that the timed runs simulate the intended queue.
    """
    mu = 1000.0 / mean_service_ms
    a = rate_per_s / mu
    rho = a / c
    if rho >= 1:
        return math.inf
    top = a**c / (math.factorial(c) * (1 - rho))
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return 1000.0 * p_wait / (c * mu - rate_per_s)


def check_mmc(scenario, seed: int, arrival_s: np.ndarray, service_s: np.ndarray) -> None:
    """Print whether both bare loops and both engines agree on the queueing delays, and Erlang C."""
    from workbench.engine.fifo import arrival_clock

    ref = reference_run(scenario, seed).requests
    want = ref["queue_ms"].to_numpy()
    clock_s = arrival_clock(arrival_s)
    same = {"fast " + k: fast_run(scenario, seed, k).requests["queue_ms"].to_numpy() for k in _kernels()}
    same["bare callback"] = (np.asarray(bare_callback(arrival_s, service_s, MMC_REPLICAS)) - clock_s) * 1000.0
    same["bare process"] = (np.asarray(bare_process(arrival_s, service_s, MMC_REPLICAS)) - clock_s) * 1000.0
    agree = ", ".join(f"{k} {'yes' if np.allclose(v, want, rtol=0, atol=1e-6) else 'NO'}"
                      for k, v in same.items())
    warm = ref["time_s"].to_numpy() >= 0.1 * scenario.duration_s
    theory = erlang_c_wait_ms(MMC_RATE_PER_S, MMC_MEAN_SERVICE_MS, MMC_REPLICAS)
    print(f"  check: queueing delays equal to the reference engine's: {agree}; mean delay after 10% "
          f"warm-up {want[warm].mean():.2f} ms vs Erlang C {theory:.2f} ms")


# ----------------------------------------------------------------------------- timing
def _kernels() -> tuple[str, ...]:
    from workbench.engine.fifo import compiled_available

    return KERNELS if compiled_available() else ("python",)


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU time of one call, after a garbage collection (not timed)."""
    gc.collect()
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def alternating(variants: dict[str, Callable[[], Any]], repeats: int,
                warm_up: bool = True) -> tuple[dict[str, float], dict[str, Any]]:
    """Median CPU seconds of each variant, and what its untimed warm-up call returned.

    Each variant is called once untimed (imports, compiling; skipped with ``warm_up``
    False when the caller has just run them all), then the variants alternate.
    """
    warm = {name: fn() for name, fn in variants.items()} if warm_up else {}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(cpu_seconds(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}, warm


def engine_variants(scenario, seed: int) -> dict[str, Callable[[], Any]]:
    """The reference run and one fast run per available kernel, as callables."""
    runs: dict[str, Callable[[], Any]] = {"reference": lambda: reference_run(scenario, seed)}
    for kernel in _kernels():
        runs[f"fast {kernel}"] = lambda k=kernel: fast_run(scenario, seed, k)
    return runs


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def speedup_rows(label: str, n: int, median: dict[str, float], target: float, rows: list[Row]) -> None:
    """One row per kernel: the reference's median CPU time over the fast engine's."""
    ref = median["reference"]
    for kernel in _kernels():
        fast = median[f"fast {kernel}"]
        report(Row(f"{label}, {n:,} requests, fast ({kernel} kernel) vs reference", f"reference {_s(ref)}",
                   _s(fast), f"{ref / fast:.1f}x", f">= {target:g}x", ref / fast >= target), rows)


# ----------------------------------------------------------------------------- first calls in new processes
def _child_first_call(requests: int, seed: int) -> None:
    """In a new process: CPU and wall seconds of the first and the second compiled fast run, as JSON."""
    scenario = mmc_scenario(requests)  # workbench, pandas and simpy load before the clock starts
    out = {}
    for name in ("first", "second"):
        gc.collect()
        t0, w0 = time.process_time(), time.perf_counter()
        fast_run(scenario, seed, "compiled")
        out[name] = {"cpu_s": time.process_time() - t0, "wall_s": time.perf_counter() - w0}
    print(json.dumps(out))


def first_call(requests: int, seed: int, cache_dir: str) -> dict[str, dict[str, float]]:
    """Run :func:`_child_first_call` in a new process whose numba cache is ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
    env.pop("WORKBENCH_KERNEL", None)
    done = subprocess.run(
        [sys.executable, __file__, "--child-first-call", "--requests", str(requests), "--seed", str(seed)],
        capture_output=True, text=True, env=env, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- memory
def peak_mb_per_million(run: Callable[[], Any]) -> tuple[float, float, int]:
    """(MB per million requests, peak MB, requests) traced by tracemalloc during ``run()``."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n = len(result.requests)
    return peak / 1e6 / n * 1e6, peak / 1e6, n


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 100k requests everywhere, 3 repeats")
    parser.add_argument("--requests", type=int, default=500_000, help="requests per timed run (default 500000)")
    parser.add_argument("--memory-requests", type=int, default=1_000_000,
                        help="requests of the tracemalloc runs (default 1000000)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median is kept (>= 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child-first-call", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_first_call:
        _child_first_call(args.requests, args.seed)
        return 0
    if args.quick:
        args.requests, args.memory_requests, args.repeats = 100_000, 100_000, 3
    if min(args.requests, args.memory_requests) < 1 or args.repeats < 3:
        parser.error("--requests and --memory-requests must be at least 1, --repeats at least 3")
    seed, n_req, repeats = args.seed, args.requests, args.repeats
    from workbench.engine.fast import supports

    print(machine_info(numpy=np.__version__, simpy=simpy.__version__))
    print(f"CPU seconds (time.process_time) of one workbench.run, median of {repeats} alternating repeats, "
          f"gc.collect() before each; every variant warmed up once untimed\n")
    rows: list[Row] = []

    # (1) and (4): M/M/10 -------------------------------------------------------------------
    mmc = mmc_scenario(n_req)
    arrival_s, service_s = mmc_draws(mmc, seed)
    n_mmc = len(arrival_s)
    print(f"(1, 4) M/M/10 at utilisation 0.9, mean service {MMC_MEAN_SERVICE_MS:g} ms: {n_mmc:,} requests")
    check_mmc(mmc, seed, arrival_s, service_s)
    variants = engine_variants(mmc, seed)
    variants["bare callback"] = lambda: bare_callback(arrival_s, service_s, MMC_REPLICAS)
    variants["bare process"] = lambda: bare_process(arrival_s, service_s, MMC_REPLICAS)
    median, _ = alternating(variants, repeats, warm_up=False)  # check_mmc ran every variant
    print("  " + ", ".join(f"{k} {_s(v)}" for k, v in median.items()))
    speedup_rows("M/M/10", n_mmc, median, TARGET_FAST_VS_REFERENCE, rows)

    print("(4) fast engine vs bare SimPy loops on the same arrivals and service times (drawn untimed)")
    for kernel in _kernels():
        fast = median[f"fast {kernel}"]
        for loop, target in (("callback", TARGET_FAST_VS_CALLBACK), ("process", None)):
            bare = median[f"bare {loop}"]
            report(Row(f"M/M/10, {n_mmc:,} requests, fast ({kernel} kernel) vs bare SimPy {loop} loop",
                       f"bare {loop} {_s(bare)}", _s(fast), f"{bare / fast:.1f}x",
                       f">= {target:g}x" if target else "(context)",
                       None if target is None else bare / fast >= target), rows)

    # (5): the compiled kernel's first call -------------------------------------------------
    if "compiled" in _kernels():
        with tempfile.TemporaryDirectory() as cache_dir:
            cold = first_call(n_req, seed, cache_dir)  # empty cache: numba compiles and fills it
            warm = first_call(n_req, seed, cache_dir)  # the same cache, now filled
        extra_cold_s = cold["first"]["cpu_s"] - cold["second"]["cpu_s"]
        extra_warm_s = warm["first"]["cpu_s"] - warm["second"]["cpu_s"]
        print(f"(5) first compiled fast run of M/M/10 in a new process (CPU / wall): numba cache cold "
              f"{cold['first']['cpu_s']:.2f} / {cold['first']['wall_s']:.2f} s, warm "
              f"{warm['first']['cpu_s']:.2f} / {warm['first']['wall_s']:.2f} s; second run in the same "
              f"process {cold['second']['cpu_s']:.2f} / {cold['second']['wall_s']:.2f} s")
        for label, child, extra in (("cold", cold, extra_cold_s), ("warm", warm, extra_warm_s)):
            report(Row(f"first compiled fast run in a new process, numba cache {label}",
                       f"second run {_s(child['second']['cpu_s'])}", _s(child["first"]["cpu_s"]),
                       f"+{extra:.2f} s", "(context)", None), rows)
        ref, fast = median["reference"], median["fast compiled"]
        for label, extra in (("cold", extra_cold_s), ("warm", extra_warm_s)):
            with_first = fast + max(extra, 0.0)
            report(Row(f"M/M/10, {n_mmc:,} requests, fast (compiled kernel) vs reference + first call, "
                       f"numba cache {label}", f"reference {_s(ref)}", _s(with_first),
                       f"{ref / with_first:.1f}x", f">= {TARGET_FAST_VS_REFERENCE:g}x",
                       ref / with_first >= TARGET_FAST_VS_REFERENCE), rows)
        print("  (the M/M/10 ratios above without 'first call' are steady-state: numba compiled beforehand)")

    # (2) and (3): shipped scenarios ---------------------------------------------------------
    for number, label, scenario, target in (
        (2, "ab_test scaled", scaled(SCENARIOS / "ab_test.toml", n_req), TARGET_FAST_VS_REFERENCE),
        (3, "progressive_bad_candidate scaled + monitors + rollback",
         monitored_scenario(n_req), TARGET_MONITORED_VS_REFERENCE),
    ):
        reason = supports(scenario)
        if reason is not None:
            print(f"({number}) {label}: SKIPPED, the fast engine does not serve it: {reason}")
            continue
        median, warm_up = alternating(engine_variants(scenario, seed), repeats)
        n = len(warm_up["reference"].requests)
        what = " (health, drift and performance monitors, rollback on health)" if number == 3 else ""
        print(f"({number}) {label}{what}, {scenario.duration_s:g} s simulated: "
              + ", ".join(f"{k} {_s(v)}" for k, v in median.items()))
        speedup_rows(label, n, median, target, rows)

    # (6): memory ----------------------------------------------------------------------------
    n_mem = args.memory_requests
    print(f"(6) peak memory traced by tracemalloc during one run, per million requests (~{n_mem:,} requests)")
    for label, scenario in (("M/M/10", mmc_scenario(n_mem)), ("ab_test scaled", scaled(SCENARIOS / "ab_test.toml",
                                                                                      n_mem))):
        ref_mb, ref_peak, n = peak_mb_per_million(lambda sc=scenario: reference_run(sc, seed))
        for kernel in _kernels():
            fast_run(mmc_scenario(1000), seed, kernel)  # numba compiled before tracing
            mb, peak, n = peak_mb_per_million(lambda sc=scenario, k=kernel: fast_run(sc, seed, k))
            report(Row(f"{label}, {n:,} requests, fast ({kernel} kernel), tracemalloc peak per million requests",
                       f"reference {ref_mb:.0f} MB/M ({ref_peak:.0f} MB)", f"{mb:.0f} MB/M ({peak:.0f} MB)",
                       f"{mb / ref_mb:.2f}x reference", f"<= {TARGET_MB_PER_MILLION:g} MB/M",
                       mb <= TARGET_MB_PER_MILLION), rows)

    print("\n" + machine_info(numpy=np.__version__, simpy=simpy.__version__) + f"; CPU time, median of {repeats}\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
