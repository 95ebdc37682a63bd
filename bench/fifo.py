"""FIFO kernel benchmark: both event loops of the kernel, and the fast engine against the reference.

One single-model run (``single`` strategy, Poisson arrivals, exponential service,
``replicas = c``, no errors) is timed in CPU seconds, each variant ``--repeats``
times (the variants alternating within a repeat), the median kept:

- ``workbench.run(engine="reference")``: the SimPy engine, result tables and summary included;
- ``workbench.run(engine="fast")`` with the pure-Python kernel and with the compiled one;
- the kernel alone (:func:`workbench.engine.fifo.serve_fifo` from the engine's
  draws), pure-Python and compiled.

The compiled kernel is compiled before the timed runs; what the first call costs
is measured apart, in new processes: numba's import plus compiling the kernel
with an empty numba cache ("compile"), the same with the cache filled ("cache
load"), and the kernel's first call with an empty cache (the "cold" row: import,
compile and the run). Before timing, both kernels' status, queue, latency and end
columns, and the fast engine's request table with each kernel, are checked to
equal the reference engine's. The default setups are M/M/10 at utilisation 0.9
with 500 000 requests and a small run of 5 000 requests.

Usage::

    python bench/fifo.py [--requests N] [--small N] [--replicas C] [--utilisation U]
                         [--mean-service-ms MS] [--repeats R] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ("python", "compiled")


@dataclass(frozen=True)
class Setup:
    """One M/M/c workload."""

    requests: int
    replicas: int
    utilisation: float
    mean_service_ms: float
    seed: int

    @property
    def rate_per_s(self) -> float:
        return self.utilisation * self.replicas * 1000.0 / self.mean_service_ms

    @property
    def duration_s(self) -> float:
        return self.requests / self.rate_per_s

    def scenario(self):
        from workbench.scenario import load_scenario

        return load_scenario({
            "name": "bench-fifo",
            "duration_s": self.duration_s,
            "traffic": {"rate_per_s": self.rate_per_s},
            "models": {"legacy": {"latency": {"dist": "exponential", "mean_ms": self.mean_service_ms},
                                  "replicas": self.replicas, "error_rate": 0.0}},
            "strategy": {"kind": "single"},
        })


def _draws(scenario, seed: int):
    from workbench.engine.draws import draw_model
    from workbench.engine.traffic import generate_traffic

    traffic = generate_traffic(scenario, seed)
    return traffic.time_s, draw_model(scenario, "legacy", traffic, seed)


def _kernel(scenario, arrival_s, d, kernel: str):
    from workbench.engine.fifo import serve_fifo

    cfg = scenario.models["legacy"]
    timeout_s = None if cfg.timeout_ms is None else cfg.timeout_ms / 1000.0
    return serve_fifo(arrival_s, d.service_s, d.fails, d.outage, capacity=cfg.replicas,
                      queue_limit=cfg.queue_limit, timeout_s=timeout_s, kernel=kernel)


def _fast_run(scenario, seed: int, kernel: str):
    import workbench
    from workbench.engine import fifo

    fifo.set_kernel(kernel)
    try:
        return workbench.run(scenario, seed=seed, engine="fast")
    finally:
        fifo.set_kernel(None)


def check_identical(scenario, seed: int, kernels: tuple[str, ...]) -> tuple[bool, int]:
    """Whether each kernel's columns and each fast run's requests equal the reference engine's; the request count."""
    import pandas as pd

    import workbench

    reference = workbench.run(scenario, seed=seed, engine="reference").requests
    want = (reference["status"].cat.codes.to_numpy(), reference["queue_ms"].to_numpy(),
            reference["latency_ms"].to_numpy(), reference["end_time_s"].to_numpy())
    same = True
    for kernel in kernels:
        got = _kernel(scenario, *_draws(scenario, seed), kernel)
        same &= all(np.array_equal(a, b, equal_nan=True)
                    for a, b in zip((got.status, got.queue_ms, got.latency_ms, got.end_s), want, strict=True))
        try:
            pd.testing.assert_frame_equal(_fast_run(scenario, seed, kernel).requests, reference, check_exact=True)
        except AssertionError:
            same = False
    return same, len(reference)


def variants(scenario, seed: int, kernels: tuple[str, ...]) -> dict[str, Callable[[], object]]:
    """The timed variants, as callables (their setup not timed)."""
    import workbench

    arrival_s, d = _draws(scenario, seed)
    runs: dict[str, Callable[[], object]] = {
        "workbench.run reference": lambda: workbench.run(scenario, seed=seed, engine="reference"),
    }
    for kernel in kernels:
        runs[f"workbench.run fast, {kernel}"] = lambda k=kernel: _fast_run(scenario, seed, k)
    for kernel in kernels:
        runs[f"kernel alone, {kernel}"] = lambda k=kernel: _kernel(scenario, arrival_s, d, k)
    return runs


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU time of one call (after a garbage collection, not timed)."""
    gc.collect()
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


# ----------------------------------------------------------------------------- first calls, in new processes
def _child(mode: str, setup: Setup) -> None:
    """In a new process: time what the first compiled call costs, print it as JSON."""
    if mode == "cold":
        scenario = setup.scenario()
        arrival_s, d = _draws(scenario, setup.seed)
        t0 = time.process_time()
        _kernel(scenario, arrival_s, d, "compiled")
    else:
        import workbench.engine.fifo  # noqa: F401  (the engine and pandas load before the clock starts)

        t0 = time.process_time()
        from workbench.engine.fifo_compiled import warm_up

        warm_up()
    print(json.dumps({"cpu_s": time.process_time() - t0}))


def first_call_seconds(mode: str, setup: Setup, cache_dir: str) -> float:
    """CPU seconds of ``_child(mode)`` in a new process whose numba cache is ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--setup", json.dumps(asdict(setup))],
        capture_output=True, text=True, env=env, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["cpu_s"]


def first_calls(setup: Setup) -> dict[str, float]:
    """Compile (empty cache), cache load (filled cache) and the cold kernel run (empty cache)."""
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as filled:
        compile_s = first_call_seconds("compile", setup, filled)  # fills `filled`
        load_s = first_call_seconds("compile", setup, filled)
        cold_s = first_call_seconds("cold", setup, empty)
    return {"compile": compile_s, "cache load": load_s, "cold": cold_s}


# ----------------------------------------------------------------------------- report
def measure(setup: Setup, repeats: int, kernels: tuple[str, ...]) -> None:
    """Check, time and print one setup."""
    scenario = setup.scenario()
    same, n = check_identical(scenario, setup.seed, kernels)
    print(f"\nM/M/{setup.replicas} at utilisation {setup.utilisation:g}, mean service {setup.mean_service_ms:g} ms: "
          f"{n} requests ({setup.duration_s:g} s simulated); kernels and fast runs identical to the reference "
          f"engine: {'yes' if same else 'NO'}")
    runs = variants(scenario, setup.seed, kernels)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(cpu_seconds(fn))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    reference = median["workbench.run reference"]
    rows = list(median.items())
    if "compiled" in kernels:
        first = first_calls(setup)
        rows.append(("kernel alone, compiled, cold", first["cold"]))
    for name, s in rows:
        print(f"  {name:<32}{n / s:14,.0f} requests/s  CPU {s:8.3f} s  {reference / s:6.1f}x reference")
    if "compiled" in kernels:
        print(f"  first compiled call in a new process (numba import + kernel): compile {first['compile']:.2f} s, "
              f"from numba's cache {first['cache load']:.2f} s; the cold row is a new process's first kernel "
              f"run with an empty cache (median rows: {repeats} runs, compiled beforehand)")
    for kernel in kernels:
        fast = median[f"workbench.run fast, {kernel}"]
        alone = median[f"kernel alone, {kernel}"]
        print(f"  {kernel}: fast engine {reference / fast:.1f}x the reference engine; kernel alone "
              f"{alone / fast:.0%} of the fast run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500_000, help="requests of the large run (default 500000)")
    parser.add_argument("--small", type=int, default=5_000, help="requests of the small run (default 5000)")
    parser.add_argument("--replicas", type=int, default=10, help="servers c (default 10)")
    parser.add_argument("--utilisation", type=float, default=0.9, help="lambda / (c mu) (default 0.9)")
    parser.add_argument("--mean-service-ms", type=float, default=50.0, help="mean service time (default 50)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median is kept")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", choices=("compile", "cold"), help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, Setup(**json.loads(args.setup)))
        return 0
    if min(args.requests, args.small, args.repeats, args.replicas) < 1 or not 0 < args.utilisation:
        parser.error("--requests, --small, --repeats and --replicas must be at least 1, --utilisation > 0")
    import simpy

    from workbench.engine.fifo import compiled_available

    kernels = KERNELS if compiled_available() else ("python",)
    numba = "not installed: the compiled kernel is not measured"
    if compiled_available():
        import numba as numba_module

        numba = numba_module.__version__
    print(f"python {platform.python_version()}, simpy {simpy.__version__}, numpy {np.__version__}, numba {numba}")
    for n in (args.requests, args.small):
        measure(Setup(n, args.replicas, args.utilisation, args.mean_service_ms, args.seed), args.repeats, kernels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
