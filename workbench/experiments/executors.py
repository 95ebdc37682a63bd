"""Where a sweep's runs execute: in this process, on a local Dask cluster, or on a scheduler.

Each run is a pure function of (validated scenario, seed) -- :func:`run_point` -- so
its result never depends on which process or machine ran it: the same seeds give the
same table with one worker, two, or a remote cluster. This is desmod's
``simulate_factors`` idea (one simulation per point of a factor grid) on Dask
distributed (``LocalCluster``, ``Client``, ``as_completed``). :func:`run_sweep` runs
the tasks of a grid with a checkpoint, on whichever executor the arguments select.

Local clusters: worker processes are started with ``multiprocessing``'s "spawn",
which normally re-runs the ``__main__`` script in every worker. Sweep workers only
need :func:`run_point`, so while the sweep's own cluster is alive the ``__main__``
module is hidden from ``multiprocessing`` (as it is for ``python -c`` and interactive
sessions): a plain script with no ``if __name__ == "__main__":`` guard can run a
sweep, and workers start without re-importing it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..api import run
from ..scenario import Scenario, load_scenario
from .checkpoint import Checkpoint, record_sweep, sweep_identity
from .compare import strategy_kpis
from .detection import candidate_fault_windows
from .grid import SweepError, SweepTask, point_scenarios, to_plain

__all__ = ["run_task", "run_point", "run_points", "run_sweep", "local_client"]

_CONNECT_TIMEOUT_S = 10.0  # to reach a scheduler given by address


# --------------------------------------------------------------------------- one run
def run_point(scenario: Scenario, seed: int, batch_requests: float = 0.0) -> dict:
    """Run one validated grid point with ``seed``; its KPI row (a plain dict).

    :func:`~workbench.experiments.compare.strategy_kpis` plus ``candidate_faults``
    (how many :func:`~workbench.experiments.detection.candidate_fault_windows` the
    scenario has, which
    :func:`~workbench.experiments.characteristics.operating_characteristics` uses to
    tell a good candidate from a bad one). The scenario is not validated again.
    ``batch_requests``, the requests this process is expected to serve for the
    whole batch, lets a long batch of short runs use the compiled queue kernel
    (:func:`~workbench.engine.fifo.prepare_kernel`; the same results).
    """
    if batch_requests:
        from ..engine.fifo import prepare_kernel

        prepare_kernel(batch_requests)
    result = run(scenario, seed=int(seed))
    row = strategy_kpis(result)
    row["candidate_faults"] = len(candidate_fault_windows(scenario))
    return {k: to_plain(v) for k, v in row.items()}


def run_task(scenario_mapping: Mapping[str, Any], overrides: Mapping[str, Any], seed: int) -> dict:
    """Validate a scenario mapping with ``overrides`` and run it: :func:`run_point`'s row.

    A pure function of plain data, for running one sweep point by hand; sweeps
    themselves validate each grid point once and call :func:`run_point`.
    """
    return run_point(load_scenario(scenario_mapping, overrides=overrides or None), seed)


# --------------------------------------------------------------------------- progress
class _NoBar:
    """A progress bar that shows nothing (``progress=False``)."""

    def update(self, n: int) -> None:
        return None

    def close(self) -> None:
        return None


def _in_notebook() -> bool:
    """True in a Jupyter kernel (where tqdm.auto draws a widget)."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:  # pragma: no cover - a broken IPython install
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _show_progress(progress: bool | str) -> bool:
    """``True``/``False`` as given; ``"auto"``: in a notebook, or when stderr is a terminal."""
    if isinstance(progress, (bool, np.bool_)):
        return bool(progress)
    if progress != "auto":
        raise SweepError(f"progress: must be True, False or 'auto', got {progress!r}")
    if _in_notebook():
        return True
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


def _progress_bar(progress: bool, total: int, done: int, name: str):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=f"sweep {name}", unit="run")


# --------------------------------------------------------------------------- schedulers
def _check_scheduler(scheduler: Any) -> str:
    """A Dask scheduler address with a known protocol and a location, e.g. tcp://HOST:PORT."""
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise SweepError(f"scheduler: expected an address like 'tcp://HOST:PORT', got {scheduler!r}")
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    scheme, location = parse_address(scheduler)
    try:
        get_backend(scheme)
    except ValueError:
        raise SweepError(f"scheduler: unknown protocol {scheme!r} in {scheduler!r}; "
                         "expected e.g. tcp://HOST:PORT or tls://HOST:PORT") from None
    if not location:
        raise SweepError(f"scheduler: {scheduler!r} has no host")
    if scheme in ("tcp", "tls"):
        try:
            host, _ = parse_host_port(location, default_port=8786)
        except ValueError:
            raise SweepError(f"scheduler: {scheduler!r}: expected HOST or HOST:PORT with a "
                             "numeric port after the protocol") from None
        if not host:
            raise SweepError(f"scheduler: {scheduler!r} has no host")
    return scheduler


def _connect(scheduler: str):
    """A client of the scheduler at ``scheduler``; a short, one-line failure if unreachable."""
    from distributed import Client

    try:
        return Client(scheduler, set_as_default=False, timeout=_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise SweepError(f"scheduler: cannot reach {scheduler} ({reason})") from None


@contextlib.contextmanager
def _main_hidden():
    """Hide the ``__main__`` module from worker processes started inside this block.

    ``multiprocessing``'s "spawn" and "forkserver" re-run the parent's ``__main__``
    script (or ``-m`` module) in every child unless ``__main__`` has neither a
    ``__file__`` nor a ``__spec__``, as in ``python -c`` and interactive sessions.
    Re-running a script that starts a sweep at its top level would start a cluster
    inside each worker. Sweep workers never need ``__main__`` (tasks call
    :func:`run_point`, and cloudpickle sends anything defined in ``__main__`` by
    value), so a bare stand-in replaces it in ``sys.modules`` while the block runs;
    the script's own code keeps its globals and is unaffected.
    """
    main = sys.modules.get("__main__")
    if main is None or (getattr(main, "__file__", None) is None
                        and getattr(main, "__spec__", None) is None):
        yield
        return
    stand_in = types.ModuleType("__main__")
    stand_in.__spec__ = None
    sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("__main__") is stand_in:
            sys.modules["__main__"] = main


class local_client:
    """A LocalCluster of ``n`` single-threaded worker processes and its client, closed on exit.

    Workers start without re-running the ``__main__`` script (see :func:`_main_hidden`;
    ``__main__`` stays hidden while the cluster lives, so a worker the nanny restarts
    starts the same way). The dashboard listens on a free port of 127.0.0.1, so
    several sweeps, or another Dask cluster on 8787, can run side by side.
    """

    def __init__(self, n: int):
        self.n = n
        self.cluster = None
        self.client = None
        self._hidden = None

    def __enter__(self):
        from distributed import Client, LocalCluster

        self._hidden = _main_hidden()
        self._hidden.__enter__()
        try:
            self.cluster = LocalCluster(
                n_workers=self.n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
                # the statistical profiler samples every 10 ms and costs ~12% of the CPU of
                # a run (bench/sweep.py); nobody looks at profiles of a sweep's workers
                config={"distributed.worker.profile.enabled": False},
            )
            self.client = Client(self.cluster, set_as_default=False)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self.client

    def __exit__(self, *exc) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            try:
                if self.cluster is not None:
                    self.cluster.close()
            finally:
                if self._hidden is not None:
                    hidden, self._hidden = self._hidden, None
                    hidden.__exit__(None, None, None)


# --------------------------------------------------------------------------- executors
def _batch_requests(todo: list[tuple[SweepTask, Scenario]], processes: int) -> float:
    """Requests each of ``processes`` is expected to serve for ``todo``."""
    from ..limits import expected_arrivals

    return sum(expected_arrivals(scenario) for _, scenario in todo) / max(1, processes)


def _run_inline(todo: list[tuple[SweepTask, Scenario]], checkpoint: Checkpoint, bar) -> None:
    batch = _batch_requests(todo, 1)
    for task, scenario in todo:
        try:
            row = run_point(scenario, task.seed, batch)
        except Exception as exc:
            exc.add_note(f"sweep run failed: overrides {task.overrides}, seed {task.seed}")
            raise
        checkpoint.add(task, row)
        bar.update(1)


_TASK_REQUESTS = 400_000  # requests per Dask task: short runs go in chunks, so per-task overhead stays small


def run_points(items: Sequence[tuple[Scenario, int]], batch_requests: float = 0.0) -> list[dict]:
    """:func:`run_point` for each ``(scenario, seed)`` of a chunk, in order (one Dask task)."""
    return [run_point(scenario, seed, batch_requests) for scenario, seed in items]


def _chunks(todo: list[tuple[SweepTask, Scenario]], threads: int) -> list[list[tuple[SweepTask, Scenario]]]:
    """``todo`` cut into tasks of about :data:`_TASK_REQUESTS` requests, at least four per worker thread."""
    from ..limits import expected_arrivals

    per_run = max(1.0, sum(expected_arrivals(s) for _, s in todo) / max(1, len(todo)))
    size = max(1, min(int(_TASK_REQUESTS // per_run), len(todo) // (4 * threads)))
    return [todo[k:k + size] for k in range(0, len(todo), size)]


def _run_dask(client, scenario_hash: str, todo: list[tuple[SweepTask, Scenario]],
              checkpoint: Checkpoint, bar) -> None:
    from distributed import as_completed

    threads = max(1, sum(client.nthreads().values()))
    window = 4 * threads + 16  # bounded in flight: small scheduler state, quick Ctrl-C
    pending = iter(_chunks(todo, threads))
    by_key: dict[str, list[SweepTask]] = {}
    batch = _batch_requests(todo, threads)

    def submit(chunk: list[tuple[SweepTask, Scenario]]):
        key = chunk[0][0].key  # a chunk is named after its first run
        by_key[key] = [task for task, _ in chunk]
        return client.submit(run_points, [(scenario, task.seed) for task, scenario in chunk], batch,
                             key=f"workbench-run-{scenario_hash}-{key}")

    first = [submit(c) for c in itertools.islice(pending, window)]
    ac = as_completed(first, loop=client.loop)
    try:
        for fut in ac:
            tasks = by_key.pop(fut.key.rsplit("-", 1)[-1])
            try:
                rows = fut.result()
            except Exception as exc:
                exc.add_note(f"sweep run failed in the chunk of runs {[(t.overrides, t.seed) for t in tasks]}")
                raise
            fut.release()
            for task, row in zip(tasks, rows, strict=True):
                checkpoint.add(task, row)
            bar.update(len(tasks))
            nxt = next(pending, None)
            if nxt is not None:
                ac.add(submit(nxt))
    finally:
        for fut in list(ac.futures):
            fut.cancel()
        ac.clear()


def _check_executor(client, workers: int | None, scheduler: str | None) -> None:
    """At most one of ``client`` and ``scheduler``; ``workers`` only for the local cluster."""
    if client is not None and scheduler is not None:
        raise SweepError("scheduler: give either client= or scheduler=, not both")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise SweepError(f"workers: must be a positive integer, got {workers!r}")
        if client is not None or scheduler is not None:
            raise SweepError("workers: only applies to the default local cluster, not to client= or scheduler=")
    if scheduler is not None:
        _check_scheduler(scheduler)


def _execute(todo: list[tuple[SweepTask, Scenario]], checkpoint: Checkpoint, bar, *,
             scenario_hash: str, client, workers: int | None, own) -> None:
    """Run ``todo`` on the given client, the connected scheduler, in process or on a local cluster."""
    if client is not None or own is not None:
        _run_dask(client if client is not None else own, scenario_hash, todo, checkpoint, bar)
        return
    n = min(int(workers) if workers is not None else (os.cpu_count() or 1), len(todo))
    if n <= 1:
        _run_inline(todo, checkpoint, bar)
    else:
        with local_client(n) as local:
            _run_dask(local, scenario_hash, todo, checkpoint, bar)


def run_sweep(
    base: Scenario,
    tasks: Sequence[SweepTask],
    param_columns: Sequence[str],
    *,
    client=None,
    workers: int | None = None,
    out: str | os.PathLike | None = None,
    progress: bool | str = "auto",
    scheduler: str | None = None,
    record: bool = True,
    registry=None,
    kind: str = "sweep",
    force: bool = False,
) -> pd.DataFrame:
    """Run ``tasks`` (from :func:`~workbench.experiments.grid.sweep_tasks`) on ``base``.

    Every grid point is validated once, before any cluster starts; runs already in
    ``out`` are skipped; the table comes back in task order and is written to ``out``
    and recorded in the run registry. The arguments are those of
    :func:`~workbench.experiments.sweep.sweep`; ``kind`` is the registry's run kind.

    Raises
    ------
    SweepError
        Bad executor, progress or ``out`` arguments, or an ``out`` that holds another sweep.
    ScenarioError
        A grid point is not a valid scenario.
    """
    _check_executor(client, workers, scheduler)
    show = _show_progress(progress)
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise SweepError(f"out: must be a directory path, got {out!r}")
    scenarios = point_scenarios(base, tasks)  # a typo fails before any cluster starts
    scenario_hash = base.content_hash()
    out_dir = None if out is None else Path(out)
    checkpoint = Checkpoint(out_dir, sweep_identity(base, scenario_hash, tasks, param_columns), force)
    todo = [(t, s) for t, s in zip(tasks, scenarios, strict=True) if t.key not in checkpoint.rows]
    own = _connect(scheduler) if todo and scheduler is not None else None
    bar = _progress_bar(show, len(tasks), len(tasks) - len(todo), base.name)
    try:
        if todo:
            _execute(todo, checkpoint, bar, scenario_hash=scenario_hash, client=client,
                     workers=workers, own=own)
    finally:
        if own is not None:
            own.close()
        checkpoint.flush()
        bar.close()
    table = checkpoint.table(tasks, param_columns)
    table.attrs.update({"params": list(param_columns), "scenario": base.name,
                        "scenario_hash": scenario_hash})
    checkpoint.write_table(table)
    if record:
        seeds = list(dict.fromkeys(t.seed for t in tasks))
        run_id = record_sweep(base, scenario_hash, table, seeds, out_dir, registry, kind)
        if run_id is not None:
            table.attrs["run_id"] = run_id
    return table
