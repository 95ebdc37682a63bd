"""Sweep benchmark: the sweep and compare targets, each against its ideal measured in the same run.

One invocation prints, as "measured / target / met?" lines and at the end as a
markdown table (workload | baseline | measured | ratio | target | met):

7. ``workbench sweep scenarios/progressive_bad_candidate.toml --seeds 200`` on all
   cores, through the real command line in a new process (Python start, imports,
   Dask cluster start, the run registry in a temporary file and the ``--out``
   table included): wall time, target <= 30 s; ``workbench validate`` of the same
   file is timed too, for what starting the command costs;
8. the control panel's strategy comparison without the widget: four strategies
   (the three the panel ticks, ``canary``, ``progressive`` and ``blue_green``, plus
   ``ab``; ``--kinds`` changes them) over 30 seeds of ``progressive_bad_candidate``,
   called exactly as :meth:`workbench.widgets.panel.ControlPanel.risk` calls
   :func:`workbench.compare` (the panel's state from the scenario, its strategy
   tables and overrides), in this process; wall time, target <= 10 s.

Each is the median wall time of ``--repeats`` (default 3). The baseline is the
ideal on this machine: the same runs done in this process without Dask (a sample
of the seeds, the time per run scaled to all of them) divided by the cores; the
ratio is measured / ideal, what process start, Dask and imbalance cost; the
baseline column also gives the serial time (ideal x cores). For context: what
starting the local Dask cluster costs on its own, and the comparison on a cluster
started and warmed beforehand (what keeping one open would give).

``--throughput`` adds the older throughput measurement: runs per second in
process, on one Dask worker and on all cores, and the parallel efficiency
(``rate_N / (N * rate_1)``, target >= 0.8) of ``--runs`` runs of ``--duration`` s
of ``--scenario``.

Usage::

    python bench/sweep.py [--quick] [--seeds 200] [--compare-seeds 30] [--repeats 3]
                          [--kinds canary,progressive,blue_green,ab] [--throughput]

``--quick`` is a smoke run: 20 sweep seeds, 5 compare seeds.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from targets import Row, machine_info, markdown_table, report

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "progressive_bad_candidate.toml"
TARGET_SWEEP_S = 30.0
TARGET_COMPARE_S = 10.0
PANEL_KINDS = ("canary", "progressive", "blue_green", "ab")


def _machine() -> str:
    import dask
    import numpy as np

    return machine_info(numpy=np.__version__, dask=dask.__version__)


# ----------------------------------------------------------------------------- (7) the sweep command
def cli_command() -> list[str]:
    """How ``workbench`` is run: the console script ``[project.scripts]`` installs, else the module."""
    script = Path(sys.executable).with_name("workbench")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "workbench.cli"]


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished child processes and their children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cli_sweep_seconds(seeds: int) -> tuple[float, float]:
    """Wall seconds of ``workbench sweep SCENARIO --seeds N`` in a new process, into a new ``--out``,
    and the CPU seconds that process and its Dask workers used."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*cli_command(), "sweep", str(SCENARIO), "--seeds", str(seeds), "--out", str(Path(tmp) / "out"),
               "--quiet", "--registry", str(Path(tmp) / "registry.sqlite3")]
        cpu0, t0 = _children_cpu_s(), time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        wall_s, cpu_s = time.perf_counter() - t0, _children_cpu_s() - cpu0
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
        rows = len(pd.read_parquet(Path(tmp) / "out" / "sweep.parquet"))
    if rows != seeds:
        raise RuntimeError(f"the sweep wrote {rows} rows, not {seeds}")
    return wall_s, cpu_s


def cli_validate_seconds() -> float:
    """Wall seconds of ``workbench validate SCENARIO`` in a new process: what starting the command costs."""
    t0 = time.perf_counter()
    subprocess.run([*cli_command(), "validate", str(SCENARIO)], capture_output=True, check=True)
    return time.perf_counter() - t0


def cluster_seconds(n_workers: int) -> float:
    """Wall seconds to start and close the local Dask cluster a sweep or comparison starts."""
    from workbench.experiments.executors import local_client

    t0 = time.perf_counter()
    with local_client(n_workers):
        pass
    return time.perf_counter() - t0


def inline_sweep_seconds_per_run(seeds: int) -> float:
    """Wall seconds per run of the same sweep in this process without Dask (``workers=1``)."""
    from workbench.experiments.sweep import sweep

    sweep(SCENARIO, seeds=[0], workers=1, record=False, progress=False)  # imports, not timed
    t0 = time.perf_counter()
    sweep(SCENARIO, seeds=seeds, workers=1, record=False, progress=False)
    return (time.perf_counter() - t0) / seeds


# ----------------------------------------------------------------------------- (8) the panel's comparison
def panel_compare_call(kinds, n_seeds: int):
    """The arguments :meth:`ControlPanel.risk` passes to :func:`workbench.compare`, without the widget.

    Returns (scenario, specs, seeds, overrides): the panel's state is the picked
    scenario's own (:func:`state_from_scenario`), as when it is first opened.
    """
    import workbench
    from workbench.widgets.mapping import compare_specs, state_from_scenario, state_to_overrides

    scenario = workbench.load_scenario(SCENARIO)
    state = state_from_scenario(scenario)
    specs = compare_specs(state, scenario, kinds)
    base = state if state["strategy"] in kinds else {**state, "strategy": kinds[0]}
    overrides = state_to_overrides(base, scenario)
    seed = int(state["seed"])
    return scenario, specs, list(range(seed, seed + n_seeds)), overrides


def compare_seconds(kinds, n_seeds: int, **executor) -> tuple[float, float]:
    """Wall seconds of the panel's ``workbench.compare`` call over ``n_seeds`` seeds, and the CPU
    seconds this process and its Dask workers used."""
    import workbench

    scenario, specs, seeds, overrides = panel_compare_call(kinds, n_seeds)
    cpu0, t0 = _self_cpu_s() + _children_cpu_s(), time.perf_counter()
    workbench.compare(scenario, specs, seeds=seeds, overrides=overrides, **executor)
    return time.perf_counter() - t0, _self_cpu_s() + _children_cpu_s() - cpu0


def warm_cluster_compare(kinds, n_seeds: int, n_workers: int, repeats: int) -> list[tuple[float, float]]:
    """Wall and CPU seconds (this process and the live workers) of :func:`compare_seconds` on one
    local cluster started and warmed (engine imported) beforehand."""
    from workbench.experiments.executors import local_client

    out = []
    with local_client(n_workers) as client:
        client.run(_warm)
        for _ in range(repeats):
            cpu0 = _cpu_s()
            wall_s, _ = compare_seconds(kinds, n_seeds, client=client)
            cpu1 = _cpu_s()
            out.append((wall_s, sum(cpu1[k] - cpu0.get(k, 0.0) for k in cpu1)))
    return out


# ----------------------------------------------------------------------------- older throughput measurement
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


def throughput(args: argparse.Namespace) -> bool:
    """Runs per second in process, on one Dask worker and on all cores; whether the tables are identical."""
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
    return same


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 20 sweep seeds, 5 compare seeds")
    p.add_argument("--seeds", type=int, default=200, help="seeds of the command-line sweep (default 200)")
    p.add_argument("--compare-seeds", type=int, default=30, help="seeds of the panel's comparison (default 30)")
    p.add_argument("--kinds", default=",".join(PANEL_KINDS), help="strategies compared, comma-separated")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is kept")
    p.add_argument("--throughput", action="store_true", help="also the runs/s and parallel-efficiency measurement")
    p.add_argument("--runs", type=int, default=24, help="--throughput: runs per measurement (seeds 0..runs-1)")
    p.add_argument("--duration", type=float, default=900.0, help="--throughput: simulated seconds per run")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="--throughput: workers in parallel")
    p.add_argument("--scenario", default=str(ROOT / "scenarios" / "progressive_good_candidate.toml"),
                   help="--throughput: the scenario swept")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.compare_seeds = 20, 5
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if min(args.seeds, args.compare_seeds, args.repeats) < 1:
        p.error("--seeds, --compare-seeds and --repeats must be at least 1")
    cores = os.cpu_count() or 1
    print(_machine())
    print(f"wall time, median of {args.repeats}; ideal = the same runs in this process without Dask / {cores} cores\n")
    rows: list = []

    per_run_s = inline_sweep_seconds_per_run(min(args.seeds, 20))
    ideal_s = args.seeds * per_run_s / cores
    print(f"(7) {' '.join(Path(c).name for c in cli_command())} sweep {SCENARIO.name} --seeds {args.seeds} "
          f"(all {cores} cores, --out and --registry in a temporary directory); in process "
          f"{per_run_s * 1000:.0f} ms per run")
    start_s = statistics.median(cli_validate_seconds() for _ in range(args.repeats))
    timed = [cli_sweep_seconds(args.seeds) for _ in range(args.repeats)]
    print("  runs, wall (CPU of the command and its workers): "
          + ", ".join(f"{w:.1f} s ({c:.1f} s)" for w, c in timed))
    walls = [w for w, _ in timed]
    wall = statistics.median(walls)
    cluster_s = statistics.median(cluster_seconds(cores) for _ in range(args.repeats))
    report(Row(f"Dask local cluster of {cores} workers, start and close", "-", f"{cluster_s:.1f} s", "-",
            "(context)", None), rows)
    report(Row("workbench validate progressive_bad_candidate (process start and imports)", "-", f"{start_s:.1f} s",
            "-", "(context)", None), rows)
    report(Row(f"workbench sweep progressive_bad_candidate --seeds {args.seeds}, {cores} cores",
            f"ideal {ideal_s:.1f} s (serial {ideal_s * cores:.1f} s)", f"{wall:.1f} s", f"{wall / ideal_s:.2f}x ideal",
            f"<= {TARGET_SWEEP_S:g} s", wall <= TARGET_SWEEP_S), rows)

    sample = min(args.compare_seeds, 10)
    compare_seconds(kinds, 2, workers=1)  # imports, not timed
    per_seed_s = compare_seconds(kinds, sample, workers=1)[0] / sample
    ideal_s = args.compare_seeds * per_seed_s / cores
    print(f"(8) the panel's comparison: workbench.compare of {', '.join(kinds)} over {args.compare_seeds} seeds "
          f"of {SCENARIO.name}, as the panel calls it; in process {per_seed_s * 1000 / len(kinds):.0f} ms per run")
    timed = [compare_seconds(kinds, args.compare_seeds) for _ in range(args.repeats)]
    walls = [w for w, _ in timed]
    from workbench.experiments.risk import INPROCESS_MAX_RUNS

    where = ("in this process" if args.compare_seeds * len(kinds) <= INPROCESS_MAX_RUNS else
             "on a local Dask cluster started by each call; the first call also imports distributed")
    print("  calls, wall (CPU of this process and its workers): "
          + ", ".join(f"{w:.1f} s ({c:.1f} s)" for w, c in timed) + f"; {where}")
    wall = statistics.median(walls)
    report(Row(f"panel compare, {len(kinds)} strategies x {args.compare_seeds} seeds",
            f"ideal {ideal_s:.1f} s (serial {ideal_s * cores:.1f} s)",
            f"{wall:.1f} s", f"{wall / ideal_s:.2f}x ideal", f"<= {TARGET_COMPARE_S:g} s",
            wall <= TARGET_COMPARE_S), rows)
    timed = warm_cluster_compare(kinds, args.compare_seeds, cores, args.repeats)
    print("  on a cluster started and warmed beforehand, wall (CPU of this process and its workers): "
          + ", ".join(f"{w:.1f} s ({c:.1f} s)" for w, c in timed))
    wall = statistics.median(w for w, _ in timed)
    report(Row(f"panel compare, {len(kinds)} strategies x {args.compare_seeds} seeds, on a warm {cores}-worker cluster",
            f"ideal {ideal_s:.1f} s", f"{wall:.1f} s", f"{wall / ideal_s:.2f}x ideal", "(context)", None), rows)

    same = True
    if args.throughput:
        print()
        same = throughput(args)
    print("\n" + _machine() + f"; wall time, median of {args.repeats}\n")
    print(markdown_table(rows))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
