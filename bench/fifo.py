"""FIFO kernel benchmark: the queue kernel against the SimPy engine on the same pool.

One single-model run (``single`` strategy, Poisson arrivals, exponential service,
``replicas = c``, no errors) is served four ways, CPU time each:

(a) ``workbench.run``: the whole engine, request table and summary included;
(b) the engine's SimPy event loop alone (``Simulation(...).run()``: traffic, draws,
    serving, no result tables);
(c) the kernel with the same traffic and draws (``generate_traffic``,
    ``draw_model``, then :func:`workbench.engine.fifo.serve_fifo`): the work of (b);
(d) the kernel alone, from the draws.

Each variant runs ``--repeats`` times, the variants alternating within a repeat,
and the median CPU time is kept. It prints requests per second and the ratios of
(c) and (d) to (a) and (b). Before timing, (c)'s status, queue, latency and end
columns are checked to equal (a)'s bit for bit. The default setups are M/M/10 at
utilisation 0.9 with 500 000 requests and a small run of 5 000 requests.

Usage::

    python bench/fifo.py [--requests N] [--small N] [--replicas C] [--utilisation U]
                         [--mean-service-ms MS] [--repeats R] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


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


def _kernel(scenario, arrival_s, d):
    from workbench.engine.fifo import serve_fifo

    cfg = scenario.models["legacy"]
    timeout_s = None if cfg.timeout_ms is None else cfg.timeout_ms / 1000.0
    return serve_fifo(arrival_s, d.service_s, d.fails, d.outage, capacity=cfg.replicas,
                      queue_limit=cfg.queue_limit, timeout_s=timeout_s)


def check_identical(scenario, seed: int) -> tuple[bool, int]:
    """Whether the kernel's columns equal ``workbench.run``'s, bit for bit; and the request count."""
    import workbench

    req = workbench.run(scenario, seed=seed).requests
    got = _kernel(scenario, *_draws(scenario, seed))
    same = (
        np.array_equal(got.status, req["status"].cat.codes.to_numpy())
        and np.array_equal(got.queue_ms, req["queue_ms"].to_numpy())
        and np.array_equal(got.latency_ms, req["latency_ms"].to_numpy())
        and np.array_equal(got.end_s, req["end_time_s"].to_numpy())
    )
    return same, len(req)


def variants(scenario, seed: int) -> dict[str, Callable[[], object]]:
    """The four timed variants, as callables (their setup not timed)."""
    import workbench
    from workbench.engine.simulation import Simulation

    arrival_s, d = _draws(scenario, seed)
    return {
        "(a) workbench.run": lambda: workbench.run(scenario, seed=seed),
        "(b) engine event loop": lambda: Simulation(scenario, seed).run(),
        "(c) kernel + draws": lambda: _kernel(scenario, *_draws(scenario, seed)),
        "(d) kernel alone": lambda: _kernel(scenario, arrival_s, d),
    }


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU time of one call (after a garbage collection, not timed)."""
    gc.collect()
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def measure(setup: Setup, repeats: int) -> None:
    """Check, time and print one setup."""
    scenario = setup.scenario()
    same, n = check_identical(scenario, setup.seed)
    print(f"\nM/M/{setup.replicas} at utilisation {setup.utilisation:g}, mean service {setup.mean_service_ms:g} ms: "
          f"{n} requests ({setup.duration_s:g} s simulated); kernel identical to the engine: "
          f"{'yes' if same else 'NO'}")
    runs = variants(scenario, setup.seed)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(cpu_seconds(fn))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    for name, s in median.items():
        print(f"  {name:<24}{n / s:14,.0f} requests/s   (median CPU {s:.3f} s of {repeats})")
    a, b, c, d = median.values()
    print(f"  speed-up of the kernel + draws (c): {a / c:.1f}x workbench.run, {b / c:.1f}x the event loop")
    print(f"  speed-up of the kernel alone   (d): {a / d:.1f}x workbench.run, {b / d:.1f}x the event loop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500_000, help="requests of the large run (default 500000)")
    parser.add_argument("--small", type=int, default=5_000, help="requests of the small run (default 5000)")
    parser.add_argument("--replicas", type=int, default=10, help="servers c (default 10)")
    parser.add_argument("--utilisation", type=float, default=0.9, help="lambda / (c mu) (default 0.9)")
    parser.add_argument("--mean-service-ms", type=float, default=50.0, help="mean service time (default 50)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median is kept")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if min(args.requests, args.small, args.repeats, args.replicas) < 1 or not 0 < args.utilisation:
        parser.error("--requests, --small, --repeats and --replicas must be at least 1, --utilisation > 0")
    import simpy

    print(f"python {platform.python_version()}, simpy {simpy.__version__}, numpy {np.__version__}")
    for n in (args.requests, args.small):
        measure(Setup(n, args.replicas, args.utilisation, args.mean_service_ms, args.seed), args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
