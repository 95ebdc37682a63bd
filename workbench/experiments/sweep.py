"""Monte-Carlo sweeps: a grid of scenario overrides times seeds, run on Dask.

:func:`sweep` runs a scenario at every point of a grid of dotted-path overrides, for
every seed, and returns one KPI row per run, in grid order (varied parameters in the
order given, then seeds in the order given). The work is split by job:

* :mod:`~workbench.experiments.grid`: seeds and varied paths checked, the runs
  (:class:`SweepTask`, :func:`sweep_tasks`) with their stable keys, and every grid
  point's scenario validated once;
* :mod:`~workbench.experiments.checkpoint`: the ``out`` directory (identity in
  ``sweep.json``, finished runs in ``runs/``, the table in ``sweep.parquet``), so an
  interrupted sweep resumes where it stopped and gives the same table;
* :mod:`~workbench.experiments.executors`: the runs themselves, in this process, on a
  local Dask cluster or on a remote scheduler (:func:`run_task` is one run);
* :mod:`~workbench.experiments.characteristics`: what a sweep table says about a
  policy (false-rollback and detection rates, times, blast radius), printed by
  :func:`format_sweep_table`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..api import resolve_scenario
from ..scenario import Scenario
from .characteristics import format_characteristics, operating_characteristics
from .checkpoint import TABLE_FILE
from .executors import run_sweep, run_task
from .grid import MAX_RUNS, MAX_SEEDS, SweepError, SweepTask, sweep_tasks

__all__ = ["sweep", "run_task", "format_sweep_table", "sweep_tasks", "SweepTask", "read_sweep",
           "SweepError", "MAX_SEEDS", "MAX_RUNS"]


def sweep(
    scenario: Scenario | str | os.PathLike | Mapping[str, Any],
    seeds: int | Iterable[int],
    vary: Mapping[str, Sequence[Any]] | None = None,
    client=None,
    workers: int | None = None,
    out: str | os.PathLike | None = None,
    progress: bool | str = "auto",
    scheduler: str | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    record: bool = True,
    registry=None,
    force: bool = False,
) -> pd.DataFrame:
    """Run a scenario over a grid of overrides times seeds; one KPI row per run.

    Parameters
    ----------
    scenario : Scenario, path or mapping
    seeds : int or list of int
        ``n`` means seeds ``0 .. n-1``. Seed ``s`` gives the same traffic and faults
        at every grid point (common random numbers), so grid points are paired.
        At most :data:`MAX_SEEDS` (100,000) seeds, and at most :data:`MAX_RUNS`
        (1,000,000) runs in all (seeds x grid points).
    vary : mapping, optional
        Dotted paths to lists of values, e.g. ``{"faults[0].error_rate": [0.02, 0.08]}``.
        Each path becomes a column; the first path varies slowest.
    client : distributed.Client, optional
        Run on this existing Dask cluster (left open). Single-threaded workers
        are best: a run is pure Python and holds the GIL.
    workers : int, optional
        Size of the default local cluster (one single-threaded process per worker;
        default ``os.cpu_count()``, at most one per run left to do), closed when the
        sweep ends. ``workers=1`` (or a single run to do) runs in this process
        without Dask; results are identical either way. Works from a plain script
        without an ``if __name__ == "__main__":`` guard: workers do not re-run it.
    out : path, optional
        Directory for the checkpoint (``runs/``), manifest (``sweep.json``) and the
        final table (``sweep.parquet``). Re-running the same sweep with the same
        ``out`` resumes: finished runs are not redone, damaged part files are
        redone. It must be new, empty, or hold this same sweep.
    progress : bool or "auto"
        Show a tqdm progress bar; ``"auto"`` (default): in a Jupyter notebook, or
        when stderr is a terminal.
    scheduler : str, optional
        Address of a running Dask scheduler, ``"tcp://HOST:PORT"``. Its workers
        must have the same version of ``workbench`` installed (tasks refer to
        :func:`run_task` by name). Unreachable within 10 s: :class:`SweepError`.
    overrides : mapping, optional
        Applied to the scenario before the grid (fixed for every run).
    record : bool
        Record the sweep in the run registry (``registry``: path or
        :class:`~workbench.registry.runs.RunRegistry`; default location otherwise).
    force : bool
        Use ``out`` even if it holds another sweep, a damaged or foreign
        ``sweep.json``, or other files: the previous sweep's runs and table are
        deleted and this sweep starts over (other files are left alone).

    Raises
    ------
    SweepError
        Bad arguments, or an ``out`` directory that cannot hold this sweep.
    ScenarioError
        A grid point is not a valid scenario (checked before any run starts).

    Returns
    -------
    DataFrame
        Parameter columns, ``seed``, then the KPIs of
        :func:`~workbench.experiments.compare.strategy_kpis` and
        ``candidate_faults``; in grid order. ``attrs["params"]`` names the
        parameter columns.

    Examples
    --------
    >>> sc = {"name": "tiny", "duration_s": 20, "models": {"legacy": {}, "candidate": {}},
    ...       "strategy": {"kind": "canary"}}
    >>> df = sweep(sc, seeds=2, vary={"strategy.candidate_fraction": [0.1, 0.5]},
    ...            workers=1, record=False, progress=False)
    >>> list(zip(df["strategy.candidate_fraction"], df["seed"]))
    [(0.1, 0), (0.1, 1), (0.5, 0), (0.5, 1)]
    >>> bool(df.loc[2, "candidate_requests"] > df.loc[0, "candidate_requests"])
    True
    """
    base = resolve_scenario(scenario, overrides)
    tasks, columns = sweep_tasks(seeds, vary)
    return run_sweep(base, tasks, columns, client=client, workers=workers, out=out,
                     progress=progress, scheduler=scheduler, record=record, registry=registry,
                     kind="sweep", force=force)


def read_sweep(out: str | os.PathLike) -> pd.DataFrame:
    """The final table of a finished sweep written with ``out=``."""
    path = Path(out) / TABLE_FILE
    if not path.exists():
        raise SweepError(f"out: no finished sweep in {out} (missing {TABLE_FILE})")
    return pd.read_parquet(path)


def format_sweep_table(df: pd.DataFrame, by: str | Sequence[str] | None = None,
                       good_candidate=None) -> str:
    """Operating characteristics of a sweep as text (what ``workbench sweep`` prints).

    See :func:`~workbench.experiments.characteristics.operating_characteristics`.
    """
    oc = operating_characteristics(df, by=by, good_candidate=good_candidate)
    return format_characteristics(oc)
