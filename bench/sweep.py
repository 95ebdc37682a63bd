"""Sweep throughput: runs per second with one worker and with all cores.

Usage::

    python bench/sweep.py [--runs 24] [--duration 900] [--workers N] [--scenario PATH]

Three measurements of the same sweep (same seeds, so the same work):

1. in process, no Dask (``workers=1``): the serial floor;
2. a Dask ``LocalCluster`` with one single-threaded worker process;
3. a ``LocalCluster`` with ``N`` workers (default: all cores).

Clusters are started and warmed up (every worker imports the engine and runs a
tiny scenario) before the clock starts, so the figures are steady-state
throughput; start-up time is printed separately. Parallel efficiency is
``rate_N / (N * rate_1)`` against the one-worker cluster (target >= 0.8 on 2
cores) and against the in-process floor. On a machine shared with other
jobs, efficiency measures the cores you actually got: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _warm() -> int:
    """Import the engine and run a tiny scenario in a worker (not timed)."""
    from workbench.experiments.sweep import run_task

    run_task({"name": "warm", "duration_s": 5, "models": {"legacy": {}}}, {}, 0)
    return os.getpid()


def _profiling() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def _timed_sweep(scenario, seeds, duration_s, **kwargs) -> tuple[float, pd.DataFrame]:
    from workbench.experiments.sweep import sweep

    t0 = time.perf_counter()
    df = sweep(scenario, seeds=seeds, overrides={"duration_s": duration_s}, record=False, **kwargs)
    return time.perf_counter() - t0, df


def _cluster_rate(n_workers: int, scenario, seeds, duration_s):
    """Runs/s, wall s, start-up s, worker utilisation and the table, on a fresh cluster.

    Utilisation = time the workers spent computing runs (Dask's task stream) divided
    by ``n_workers x wall``: how well the sweep keeps its workers fed, whatever
    share of the cores the rest of the machine leaves them.
    """
    from distributed import get_task_stream

    from workbench.experiments.executors import local_client

    t0 = time.perf_counter()
    with local_client(n_workers) as client:  # the cluster sweep() starts by default
        assert not any(client.run(_profiling).values()), "worker profiler still on"
        client.run(_warm)
        startup_s = time.perf_counter() - t0
        cpu0 = _cpu_s()
        with get_task_stream(client=client) as ts:
            wall_s, df = _timed_sweep(scenario, seeds, duration_s, client=client)
        cpu1 = _cpu_s()
        busy_s = sum(ss["stop"] - ss["start"] for rec in ts.data for ss in rec.get("startstops", ())
                     if ss.get("action") == "compute")
    cpu = {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in ("main", "workers")}
    return len(seeds) / wall_s, wall_s, startup_s, busy_s / (n_workers * wall_s), cpu, df


def _cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of this process and of its child processes."""
    import psutil

    me = psutil.Process()
    t = me.cpu_times()
    out = {"main": t.user + t.system, "workers": 0.0}
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            out["workers"] += c.user + c.system
        except psutil.Error:
            pass
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=24, help="runs per measurement (seeds 0..runs-1)")
    p.add_argument("--duration", type=float, default=900.0, help="simulated seconds per run")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers for the parallel case")
    p.add_argument("--scenario", default=str(ROOT / "scenarios" / "progressive_good_candidate.toml"))
    args = p.parse_args(argv)
    seeds = list(range(args.runs))
    n = args.workers
    print(f"scenario {Path(args.scenario).name}, {args.runs} runs of {args.duration:g} s, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    _warm()  # imports for the in-process case, not timed
    cpu0 = time.process_time()
    wall_inline, df_inline = _timed_sweep(args.scenario, seeds, args.duration, workers=1)
    cpu_inline = (time.process_time() - cpu0) / args.runs
    rate_inline = args.runs / wall_inline
    print(f"in process (no Dask):  {rate_inline:6.2f} runs/s  ({wall_inline:.1f} s; "
          f"{cpu_inline * 1000:.0f} ms CPU per run)")

    results = {}
    for label, k in (("1 worker", 1), (f"{n} workers", n)):
        rate, wall, start, util, cpu, df = _cluster_rate(k, args.scenario, seeds, args.duration)
        results[k] = (rate, df)
        print(f"Dask, {label + ':':<15}{rate:6.2f} runs/s  ({wall:.1f} s; cluster start {start:.1f} s; "
              f"worker utilisation {util:.2f}; CPU per run {cpu['workers'] / args.runs * 1000:.0f} ms "
              f"in workers + {cpu['main'] / args.runs * 1000:.0f} ms client and scheduler)")
    (rate_1, df_1), (rate_n, df_n) = results[1], results[n]

    eff = rate_n / (n * rate_1)
    eff_inline = rate_n / (n * rate_inline)
    print(f"parallel efficiency:   {eff:.2f} vs 1 Dask worker, {eff_inline:.2f} vs in process "
          f"(target >= 0.8); load average now {os.getloadavg()[0]:.2f}")
    same = df_inline.equals(df_1) and df_inline.equals(df_n)
    print(f"identical tables in all three: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
