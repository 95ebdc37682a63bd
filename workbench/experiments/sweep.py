"""Monte-Carlo sweeps: a grid of scenario overrides times seeds, run on Dask.

Each run is a pure function of (scenario mapping, overrides, seed) -- see
:func:`run_task` -- so its result never depends on which process or machine ran
it: the same seeds give the same table with one worker, two, or a remote cluster.
This is desmod's ``simulate_factors`` idea (one simulation per point of a factor
grid) on Dask distributed (``LocalCluster``, ``Client``, ``as_completed``).

Checkpointing: with ``out=``, finished runs are appended to ``out/runs/`` in small
Parquet files (one per batch of runs, each written to a temporary name, synced and
then renamed). Every run has a stable key (a BLAKE2b hash of its parameters,
overrides and seed), so calling :func:`sweep` again with the same ``out`` skips the
runs already there; a part file that cannot be read (a disk that lost its last
writes) is deleted and its runs are done again. ``out/sweep.json`` records the
sweep's identity (scenario hash, parameter columns, seeds and a hash of every run
key), so a directory never mixes two sweeps: resuming a different sweep there is
refused unless ``force=True``, which starts it over. The final table is always in
grid order (varied parameters in the order given, then seeds in the order given),
so an interrupted-then-resumed sweep gives the same table as an uninterrupted one.
It is written to ``out/sweep.parquet`` atomically (temporary name, then rename).

Local clusters: worker processes are started with ``multiprocessing``'s "spawn",
which normally re-runs the ``__main__`` script in every worker. Sweep workers
only need :func:`run_task`, so while the sweep's own cluster is alive the
``__main__`` module is hidden from ``multiprocessing`` (as it is for ``python -c``
and interactive sessions): a plain script with no ``if __name__ == "__main__":``
guard can call :func:`sweep`, and workers start without re-importing it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import sys
import time
import types
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..scenario import Scenario, ScenarioError, load_scenario

__all__ = ["sweep", "run_task", "format_sweep_table", "sweep_tasks", "SweepTask", "read_sweep",
           "SweepError", "MAX_SEEDS", "MAX_RUNS"]

_RUNS_DIR = "runs"
_MANIFEST = "sweep.json"
_TABLE = "sweep.parquet"
_KEY_COLUMN = "_run_key"
_FLUSH_ROWS = 64  # write a checkpoint batch after this many runs ...
_FLUSH_S = 5.0  # ... or this many seconds, whichever comes first
_TOOL = "workbench-sweep"  # the manifest's "tool" field: tells our sweep.json from anyone else's
_FORMAT = 2  # manifest schema version this code writes and reads
MAX_SEEDS = 100_000  # seeds per grid point
MAX_RUNS = 1_000_000  # runs per sweep (seeds x grid points x policies)
_CONNECT_TIMEOUT_S = 10.0  # to reach a scheduler given by address


class SweepError(ScenarioError):
    """A sweep's arguments or its output directory are unusable (the message names which).

    A :class:`~workbench.scenario.ScenarioError` (so also a ``ValueError``): the
    command line prints it on one line and exits with status 2.
    """


# --------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class SweepTask:
    """One run of a sweep.

    Attributes
    ----------
    key : str
        Stable hash of ``params``, ``overrides`` and ``seed`` (the checkpoint key).
    params : dict
        Column name to value, as shown in the table (one per varied path).
    overrides : dict
        Dotted-path overrides applied to the base scenario for this run.
    seed : int
    """

    key: str
    params: dict[str, Any]
    overrides: dict[str, Any]
    seed: int


def run_task(scenario_mapping: Mapping[str, Any], overrides: Mapping[str, Any], seed: int) -> dict:
    """Run one scenario point and return its KPI row (a plain dict).

    A pure function of its arguments: it validates the mapping, applies the
    overrides, runs the simulation with ``seed`` and returns
    :func:`~workbench.experiments.compare.strategy_kpis` plus ``candidate_faults``
    (the number of faults injected into the candidate, which
    :func:`~workbench.experiments.characteristics.operating_characteristics` uses
    to tell a good candidate from a bad one).
    """
    from ..api import run  # imported here: the sweep client itself never needs the engine
    from .compare import strategy_kpis

    sc = load_scenario(scenario_mapping, overrides=overrides or None)
    result = run(sc, seed=int(seed))
    row = strategy_kpis(result)
    row["candidate_faults"] = sum(1 for f in sc.faults if getattr(f, "target", None) == "candidate")
    return {k: _plain(v) for k, v in row.items()}


def _plain(value: Any) -> Any:
    """Numpy scalars to Python, tuples to lists, mapping keys to str (JSON-safe)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _run_key(params: Mapping[str, Any], overrides: Mapping[str, Any], seed: int) -> str:
    text = _canonical({"params": params, "overrides": overrides, "seed": seed})
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _check_seeds(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, (bool, np.bool_)):
        raise SweepError(f"seeds: must be a positive integer or a list of integers, got {seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise SweepError(f"seeds: must be at least 1, got {seeds}")
        if seeds > MAX_SEEDS:
            raise SweepError(f"seeds: at most {MAX_SEEDS:,} per sweep, got {int(seeds):,}")
        return list(range(int(seeds)))
    if isinstance(seeds, (str, bytes, Mapping)) or not isinstance(seeds, Iterable):
        raise SweepError(f"seeds: must be a positive integer or a list of integers, got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0:
            raise SweepError(f"seeds: every seed must be a non-negative integer, got {s!r}")
        out.append(int(s))
        if len(out) > MAX_SEEDS:
            raise SweepError(f"seeds: at most {MAX_SEEDS:,} per sweep")
    if not out:
        raise SweepError("seeds: must not be empty")
    if len(set(out)) != len(out):
        raise SweepError("seeds: contains duplicates")
    return out


def _check_vary(vary: Mapping[str, Sequence[Any]] | None, arg: str = "vary") -> dict[str, list[Any]]:
    if vary is None:
        return {}
    if not isinstance(vary, Mapping):
        raise SweepError(f"{arg}: must be a mapping of dotted paths to lists of values")
    out: dict[str, list[Any]] = {}
    for path, values in vary.items():
        if not isinstance(path, str) or not path.strip():
            raise SweepError(f"{arg}: keys must be dotted paths, got {path!r}")
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
            raise SweepError(f"{arg}[{path!r}]: must be a list of values, got {values!r}")
        vals = [_plain(v) for v in values]
        if not vals:
            raise SweepError(f"{arg}[{path!r}]: must not be empty")
        try:
            texts = [_canonical(v) for v in vals]
        except (TypeError, ValueError) as exc:
            raise SweepError(f"{arg}[{path!r}]: values must be numbers, strings, booleans, "
                             f"lists or tables ({exc})") from None
        if len(set(texts)) != len(texts):
            raise SweepError(f"{arg}[{path!r}]: contains duplicate values")
        out[path] = vals
    return out


def _column_values(values: list[Any]) -> list[Any]:
    """How a varied path's values appear in the table: one type per column.

    Numbers stay numbers (all floats if any is a float), booleans and strings stay;
    anything else (tables, lists, mixed kinds) becomes canonical JSON text.
    """
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if all(number(v) for v in values):
        return [float(v) for v in values] if any(isinstance(v, float) for v in values) else values
    if all(isinstance(v, bool) for v in values) or all(isinstance(v, str) for v in values):
        return values
    return [_canonical(v) for v in values]


def sweep_tasks(
    seeds: int | Iterable[int],
    vary: Mapping[str, Sequence[Any]] | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    variant_column: str = "policy",
) -> tuple[list[SweepTask], list[str]]:
    """The runs of a sweep in table order, and the names of its parameter columns.

    The grid is ``variants`` (named override sets, e.g. policies) x ``vary`` (each
    path's values in the order given, the first path varying slowest) x ``seeds``.

    Examples
    --------
    >>> tasks, columns = sweep_tasks(2, {"traffic.rate_per_s": [10, 20]})
    >>> columns
    ['traffic.rate_per_s']
    >>> [(t.params["traffic.rate_per_s"], t.seed) for t in tasks]
    [(10, 0), (10, 1), (20, 0), (20, 1)]
    """
    seed_list = _check_seeds(seeds)
    grid = _check_vary(vary)
    shown = {path: _column_values(values) for path, values in grid.items()}
    columns = list(grid)
    named: list[tuple[str | None, dict[str, Any]]] = [(None, {})]
    if variants is not None:
        if not isinstance(variants, Mapping) or not variants:
            raise SweepError("policies: must be a non-empty mapping of names to overrides")
        named = []
        for name, ov in variants.items():
            if not isinstance(name, str) or not name:
                raise SweepError(f"policies: names must be non-empty strings, got {name!r}")
            if ov is None:
                ov = {}
            if not isinstance(ov, Mapping):
                raise SweepError(f"policies[{name!r}]: must be a mapping of dotted paths to values")
            clash = sorted(set(ov) & set(grid))
            if clash:
                raise SweepError(f"policies[{name!r}]: sets {clash[0]!r}, which vary also varies")
            named.append((name, {str(k): _plain(v) for k, v in ov.items()}))
        if variant_column in grid:
            raise SweepError(f"vary: {variant_column!r} clashes with the policy column")
        columns = [variant_column, *columns]
    points = len(named) * math.prod(len(v) for v in grid.values())
    if points * len(seed_list) > MAX_RUNS:
        raise SweepError(f"seeds x grid points: {len(seed_list):,} x {points:,} = "
                         f"{len(seed_list) * points:,} runs, more than {MAX_RUNS:,} in one sweep; "
                         "split it into several sweeps")
    tasks = []
    paths = list(grid)
    for name, base_ov in named:
        for idx in itertools.product(*(range(len(grid[p])) for p in paths)):
            overrides = dict(base_ov)
            params: dict[str, Any] = {} if name is None else {variant_column: name}
            for p, i in zip(paths, idx, strict=True):
                overrides[p] = grid[p][i]
                params[p] = shown[p][i]
            for seed in seed_list:
                tasks.append(SweepTask(_run_key(params, overrides, seed), params, overrides, seed))
    return tasks, columns


# --------------------------------------------------------------------------- checkpoint
def _identity(base: Scenario, scenario_hash: str, tasks: list[SweepTask],
              columns: list[str]) -> dict[str, Any]:
    """What makes a sweep this sweep: its scenario, parameter columns, seeds and runs."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(scenario_hash.encode())
    for task in tasks:
        digest.update(b"\n" + task.key.encode())
    return {
        "tool": _TOOL,
        "format": _FORMAT,
        "sweep_hash": digest.hexdigest(),
        "scenario_name": base.name,
        "scenario_hash": scenario_hash,
        "params": list(columns),
        "seeds": list(dict.fromkeys(t.seed for t in tasks)),
        "runs": len(tasks),
        "scenario": base.to_mapping(),
        "package_version": _package_version(),
    }


def _read_manifest(path: Path) -> tuple[dict[str, Any] | None, str]:
    """A sweep manifest, or ``(None, what is wrong with it)``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot be read ({exc.__class__.__name__}: {exc})"
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"is not JSON ({exc})"
    if not isinstance(data, dict):
        return None, f"is JSON but not an object (a {type(data).__name__}); not a sweep manifest"
    if data.get("tool") != _TOOL:
        return None, "is not a workbench sweep manifest (no \"tool\": \"workbench-sweep\")"
    fmt = data.get("format")
    if isinstance(fmt, bool) or not isinstance(fmt, int):
        return None, f"field \"format\": expected an integer, got {fmt!r}"
    if fmt > _FORMAT:
        return None, (f"field \"format\": {fmt} was written by a newer workbench "
                      f"(this one reads format {_FORMAT}); upgrade workbench")
    if fmt < _FORMAT:
        return None, f"field \"format\": {fmt} is an older format without the sweep's identity"
    for field in ("sweep_hash", "scenario_hash"):
        if not isinstance(data.get(field), str):
            return None, f"field {field!r}: missing or not a string (damaged manifest)"
    return data, ""


def _is_temp(path: Path) -> bool:
    from ..outputs import is_temporary

    return is_temporary(path)


def _clear_sweep(out: Path) -> None:
    """Delete the runs and the table of a previous sweep in ``out`` (nothing else)."""
    runs = out / _RUNS_DIR
    if runs.is_dir():
        for part in runs.iterdir():
            if part.is_file() and (part.suffix == ".parquet" or _is_temp(part)):
                part.unlink()
    (out / _TABLE).unlink(missing_ok=True)


def _prepare_out(out: Path, identity: dict[str, Any], force: bool) -> None:
    """Check that ``out`` is empty, new, or holds this very sweep; write its manifest."""
    hint = "use another directory, or force=True (--force) to start this sweep there"
    if out.exists() and not out.is_dir():
        raise SweepError(f"out: {out} exists and is not a directory")
    manifest = out / _MANIFEST
    write = True
    if manifest.exists() or manifest.is_symlink():
        if not manifest.is_file():
            raise SweepError(f"out: {manifest} is not a file; use another directory")
        old, problem = _read_manifest(manifest)
        if old is None:
            if not force:
                raise SweepError(f"out: {manifest} {problem}; {hint}")
            _clear_sweep(out)
        elif old["sweep_hash"] != identity["sweep_hash"]:
            if not force:
                if old["scenario_hash"] != identity["scenario_hash"]:
                    what = (f"a sweep of another scenario ({old.get('scenario_name')!r}, hash "
                            f"{old['scenario_hash']}; this one is {identity['scenario_name']!r}, "
                            f"hash {identity['scenario_hash']})")
                else:
                    what = (f"another sweep of this scenario ({old.get('runs')} runs over "
                            f"{old.get('params')} and {len(old.get('seeds') or [])} seeds; this one: "
                            f"{identity['runs']} runs over {identity['params']} and "
                            f"{len(identity['seeds'])} seeds)")
                raise SweepError(f"out: {out} holds {what}; {hint}")
            _clear_sweep(out)
        else:
            write = False
    elif out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if not _is_temp(p))
        if foreign and not force:
            raise SweepError(f"out: {out} is not empty and holds no sweep ({len(foreign)} entries, "
                             f"e.g. {foreign[0]!r}); {hint}")
        _clear_sweep(out)
    try:
        (out / _RUNS_DIR).mkdir(parents=True, exist_ok=True)
        if write:
            from ..outputs import atomic_write_text, dumps_strict

            atomic_write_text(manifest, dumps_strict(identity, indent=1) + "\n")
        for stale in (out / _RUNS_DIR).iterdir():
            if _is_temp(stale):
                stale.unlink(missing_ok=True)
    except OSError as exc:
        raise SweepError(f"out: cannot write to {out} ({exc.strerror or exc})") from None


class _Checkpoint:
    """Finished runs in ``out/runs/part-*.parquet`` (batches, atomically renamed)."""

    def __init__(self, out: Path | None, identity: dict[str, Any], force: bool = False):
        self.out = out
        self.buffer: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.rows: dict[str, dict[str, Any]] = {}
        if out is None:
            return
        _prepare_out(out, identity, force)
        self.rows = _load_parts(out / _RUNS_DIR)

    def add(self, task: SweepTask, kpis: Mapping[str, Any]) -> None:
        row = {_KEY_COLUMN: task.key, **task.params, "seed": task.seed}
        row.update((k, v) for k, v in kpis.items() if k not in row)
        self.rows[task.key] = row
        if self.out is None:
            return
        self.buffer.append(row)
        if len(self.buffer) >= _FLUSH_ROWS or time.monotonic() - self.last_flush >= _FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if self.out is None or not self.buffer:
            return
        import pyarrow as pa

        batch, self.buffer = self.buffer, []
        names: dict[str, None] = {}
        for row in batch:
            names.update(dict.fromkeys(row))
        table = pa.Table.from_pydict({n: [row.get(n) for row in batch] for n in names})
        final = self.out / _RUNS_DIR / f"part-{batch[0][_KEY_COLUMN]}-{len(batch)}.parquet"
        _atomic_write_parquet(table, final)

    def reload(self) -> None:
        """Re-read every run from disk, so resumed and fresh sweeps build the same table."""
        if self.out is None:
            return
        self.rows = {**self.rows, **_load_parts(self.out / _RUNS_DIR)}


def _load_parts(runs: Path) -> dict[str, dict[str, Any]]:
    """Rows of every readable part file by run key; unreadable parts are deleted (re-run)."""
    import pyarrow.parquet as pq

    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(runs.glob("part-*.parquet")):
        try:
            part = pq.read_table(path).to_pylist()
            if not part or not all(isinstance(r.get(_KEY_COLUMN), str) for r in part):
                raise ValueError(f"no {_KEY_COLUMN!r} column")
        except Exception as exc:  # truncated, zero bytes, not Parquet, or not ours: redo its runs
            warnings.warn(f"sweep: {path} is damaged ({exc.__class__.__name__}); its runs will be "
                          "done again", stacklevel=2)
            path.unlink(missing_ok=True)
            continue
        for row in part:
            rows.setdefault(row[_KEY_COLUMN], row)
    return rows


def _atomic_write_parquet(table, path: Path) -> None:
    """Write a pyarrow Table or a DataFrame to ``path`` atomically."""
    import pyarrow.parquet as pq

    from ..outputs import atomic_write

    if isinstance(table, pd.DataFrame):
        atomic_write(path, lambda fh: table.to_parquet(fh, index=False))
    else:
        atomic_write(path, lambda fh: pq.write_table(table, fh))


def _package_version() -> str:
    try:
        import workbench

        return str(workbench.__version__)
    except Exception:  # pragma: no cover - partially initialised package
        return "unknown"


# --------------------------------------------------------------------------- executors
def _run_inline(mapping, todo, checkpoint, bar) -> None:
    for task in todo:
        try:
            row = run_task(mapping, task.overrides, task.seed)
        except Exception as exc:
            exc.add_note(f"sweep run failed: overrides {task.overrides}, seed {task.seed}")
            raise
        checkpoint.add(task, row)
        bar.update(1)


def _run_dask(client, mapping, scenario_hash, todo, checkpoint, bar) -> None:
    from distributed import as_completed

    threads = max(1, sum(client.nthreads().values()))
    window = 4 * threads + 16  # bounded in flight: small scheduler state, quick Ctrl-C
    pending = iter(todo)
    by_key: dict[str, SweepTask] = {}

    def submit(task: SweepTask):
        by_key[task.key] = task
        return client.submit(run_task, mapping, task.overrides, task.seed,
                             key=f"workbench-run-{scenario_hash}-{task.key}")

    first = [submit(t) for t in itertools.islice(pending, window)]
    ac = as_completed(first, loop=client.loop)
    try:
        for fut in ac:
            task = by_key[fut.key.rsplit("-", 1)[-1]]
            try:
                row = fut.result()
            except Exception as exc:
                exc.add_note(f"sweep run failed: overrides {task.overrides}, seed {task.seed}")
                raise
            fut.release()
            checkpoint.add(task, row)
            bar.update(1)
            nxt = next(pending, None)
            if nxt is not None:
                ac.add(submit(nxt))
    finally:
        for fut in list(ac.futures):
            fut.cancel()
        ac.clear()


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


def _execute(
    base: Scenario,
    tasks: list[SweepTask],
    param_columns: list[str],
    *,
    client=None,
    workers: int | None = None,
    out: str | os.PathLike | None = None,
    progress: bool | str = "auto",
    scheduler: str | None = None,
    record: bool = True,
    registry=None,
    kind: str = "sweep",
    seeds: list[int] | None = None,
    force: bool = False,
) -> pd.DataFrame:
    if client is not None and scheduler is not None:
        raise SweepError("scheduler: give either client= or scheduler=, not both")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise SweepError(f"workers: must be a positive integer, got {workers!r}")
        if client is not None or scheduler is not None:
            raise SweepError("workers: only applies to the default local cluster, not to client= or scheduler=")
    if scheduler is not None:
        _check_scheduler(scheduler)
    show = _show_progress(progress)
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise SweepError(f"out: must be a directory path, got {out!r}")
    # every grid point is validated once, up front: a typo fails before any cluster starts
    seen: set[str] = set()
    for task in tasks:
        text = _canonical(task.overrides)
        if text not in seen:
            seen.add(text)
            base.with_overrides(task.overrides)
    mapping = base.to_mapping()
    scenario_hash = base.content_hash()
    out_dir = None if out is None else Path(out)
    checkpoint = _Checkpoint(out_dir, _identity(base, scenario_hash, tasks, param_columns), force)
    todo = [t for t in tasks if t.key not in checkpoint.rows]
    own = _connect(scheduler) if todo and scheduler is not None else None
    bar = _progress_bar(show, len(tasks), len(tasks) - len(todo), base.name)
    try:
        if todo:
            if client is not None:
                _run_dask(client, mapping, scenario_hash, todo, checkpoint, bar)
            elif own is not None:
                _run_dask(own, mapping, scenario_hash, todo, checkpoint, bar)
            else:
                n = int(workers) if workers is not None else (os.cpu_count() or 1)
                n = min(n, len(todo))
                if n <= 1:
                    _run_inline(mapping, todo, checkpoint, bar)
                else:
                    with _local_client(n) as local:
                        _run_dask(local, mapping, scenario_hash, todo, checkpoint, bar)
    finally:
        if own is not None:
            own.close()
        checkpoint.flush()
        bar.close()
    checkpoint.reload()
    table = _assemble([checkpoint.rows[t.key] for t in tasks], param_columns)
    table.attrs.update({"params": list(param_columns), "scenario": base.name,
                        "scenario_hash": scenario_hash})
    if out_dir is not None:
        _atomic_write_parquet(table, out_dir / _TABLE)
    if record:
        run_id = _record(base, scenario_hash, table, seeds or sorted({t.seed for t in tasks}),
                         out_dir, registry, kind)
        if run_id is not None:
            table.attrs["run_id"] = run_id
    return table


@contextlib.contextmanager
def _main_hidden():
    """Hide the ``__main__`` module from worker processes started inside this block.

    ``multiprocessing``'s "spawn" and "forkserver" re-run the parent's ``__main__``
    script (or ``-m`` module) in every child unless ``__main__`` has neither a
    ``__file__`` nor a ``__spec__``, as in ``python -c`` and interactive sessions.
    Re-running a script that calls :func:`sweep` at its top level would start a
    cluster inside each worker. Sweep workers never need ``__main__`` (tasks call
    :func:`run_task`, and cloudpickle sends anything defined in ``__main__`` by
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


class _local_client:
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


def _assemble(rows: list[dict[str, Any]], param_columns: list[str]) -> pd.DataFrame:
    table = pd.DataFrame.from_records(rows)
    if _KEY_COLUMN in table.columns:
        table = table.drop(columns=_KEY_COLUMN)
    first = [c for c in [*param_columns, "seed"] if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)


def _record(base, scenario_hash, table, seeds, out_dir, registry, kind) -> str | None:
    """Record the sweep in the run registry; warn (never fail) if that is impossible."""
    try:
        from ..registry.runs import RunRegistry
    except ImportError:  # pragma: no cover - registry not installed
        warnings.warn("run registry unavailable: sweep not recorded", stacklevel=3)
        return None
    state = table["final_state"] if "final_state" in table.columns else pd.Series(dtype=object)
    n = len(table)
    kpis = {
        "runs": n,
        "params": list(table.attrs.get("params", [])),
        "rollbacks": int((state == "rolled_back").sum()),
        "promotions": int((state == "promoted").sum()),
        "rollback_rate": float((state == "rolled_back").mean()) if n else math.nan,
        "promotion_rate": float((state == "promoted").mean()) if n else math.nan,
    }
    for col in ("time_to_detect_s", "time_to_rollback_s", "bad_requests_candidate"):
        if col in table.columns:
            kpis[f"{col}_mean"] = float(pd.to_numeric(table[col], errors="coerce").mean())
    try:
        if isinstance(registry, RunRegistry):
            return registry.record_run(kind, base.name, scenario_hash, seeds, _package_version(),
                                       kpis, out_dir)
        with RunRegistry(registry) as reg:
            return reg.record_run(kind, base.name, scenario_hash, seeds, _package_version(), kpis,
                                  out_dir)
    except Exception as exc:  # the results are safe on disk; a registry problem must not lose them
        warnings.warn(f"sweep not recorded in the run registry: {exc}", stacklevel=3)
        return None


# --------------------------------------------------------------------------- public API
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
    base = _resolve(scenario, overrides)
    tasks, columns = sweep_tasks(seeds, vary)
    return _execute(base, tasks, columns, client=client, workers=workers, out=out,
                    progress=progress, scheduler=scheduler, record=record, registry=registry,
                    kind="sweep", seeds=_check_seeds(seeds), force=force)


def _resolve(scenario, overrides) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(overrides)
    return load_scenario(scenario, overrides=overrides)


def read_sweep(out: str | os.PathLike) -> pd.DataFrame:
    """The final table of a finished sweep written with ``out=``."""
    path = Path(out) / _TABLE
    if not path.exists():
        raise SweepError(f"out: no finished sweep in {out} (missing {_TABLE})")
    return pd.read_parquet(path)


def format_sweep_table(df: pd.DataFrame, by: str | Sequence[str] | None = None,
                       good_candidate=None) -> str:
    """Operating characteristics of a sweep as text (what ``workbench sweep`` prints).

    See :func:`~workbench.experiments.characteristics.operating_characteristics`.
    """
    from .characteristics import format_characteristics, operating_characteristics

    oc = operating_characteristics(df, by=by, good_candidate=good_candidate)
    return format_characteristics(oc)
