"""A sweep's output directory: its identity, finished runs in part files, the final table.

With ``out=``, finished runs are appended to ``out/runs/`` in small Parquet files (one
per batch of runs, each written to a temporary name, synced and then renamed), keyed
by each run's stable key, so a sweep started again with the same ``out`` skips the
runs already there; a part file that cannot be read (a disk that lost its last
writes) is deleted and its runs are done again. ``out/sweep.json`` records the
sweep's identity (scenario hash, parameter columns, seeds and a hash of every run
key), so a directory never mixes two sweeps: resuming a different sweep there is
refused unless ``force=True``, which starts it over. The final table is written to
``out/sweep.parquet`` atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..scenario import Scenario
from .grid import SweepError, SweepTask

__all__ = ["Checkpoint", "sweep_identity", "record_sweep", "package_version", "TABLE_FILE"]

TABLE_FILE = "sweep.parquet"  # the final table, in grid order
_RUNS_DIR = "runs"
_MANIFEST = "sweep.json"
_KEY_COLUMN = "_run_key"
_FLUSH_ROWS = 64  # write a checkpoint batch after this many runs ...
_FLUSH_S = 5.0  # ... or this many seconds, whichever comes first
_TOOL = "workbench-sweep"  # the manifest's "tool" field: tells our sweep.json from anyone else's
_FORMAT = 2  # manifest schema version this code writes and reads


def package_version() -> str:
    """The installed workbench version (recorded with every sweep)."""
    try:
        import workbench

        return str(workbench.__version__)
    except Exception:  # pragma: no cover - partially initialised package
        return "unknown"


def sweep_identity(base: Scenario, scenario_hash: str, tasks: Sequence[SweepTask],
                   columns: Sequence[str]) -> dict[str, Any]:
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
        "package_version": package_version(),
    }


def _check_manifest_fields(data: dict[str, Any]) -> str:
    """What is wrong with a parsed manifest object, or ``""``."""
    if data.get("tool") != _TOOL:
        return "is not a workbench sweep manifest (no \"tool\": \"workbench-sweep\")"
    fmt = data.get("format")
    if isinstance(fmt, bool) or not isinstance(fmt, int):
        return f"field \"format\": expected an integer, got {fmt!r}"
    if fmt > _FORMAT:
        return (f"field \"format\": {fmt} was written by a newer workbench "
                f"(this one reads format {_FORMAT}); upgrade workbench")
    if fmt < _FORMAT:
        return f"field \"format\": {fmt} is an older format without the sweep's identity"
    for field in ("sweep_hash", "scenario_hash"):
        if not isinstance(data.get(field), str):
            return f"field {field!r}: missing or not a string (damaged manifest)"
    return ""


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
    problem = _check_manifest_fields(data)
    return (None, problem) if problem else (data, "")


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
    (out / TABLE_FILE).unlink(missing_ok=True)


def _other_sweep(out: Path, old: dict[str, Any], identity: dict[str, Any]) -> str:
    """How the sweep recorded in ``out`` differs from this one (for the refusal)."""
    if old["scenario_hash"] != identity["scenario_hash"]:
        what = (f"a sweep of another scenario ({old.get('scenario_name')!r}, hash "
                f"{old['scenario_hash']}; this one is {identity['scenario_name']!r}, "
                f"hash {identity['scenario_hash']})")
    else:
        what = (f"another sweep of this scenario ({old.get('runs')} runs over "
                f"{old.get('params')} and {len(old.get('seeds') or [])} seeds; this one: "
                f"{identity['runs']} runs over {identity['params']} and "
                f"{len(identity['seeds'])} seeds)")
    return f"out: {out} holds {what}"


def _claim(out: Path, identity: dict[str, Any], force: bool, hint: str) -> bool:
    """Check what ``out`` holds; clear a previous sweep if allowed. True: write the manifest."""
    manifest = out / _MANIFEST
    if manifest.exists() or manifest.is_symlink():
        if not manifest.is_file():
            raise SweepError(f"out: {manifest} is not a file; use another directory")
        old, problem = _read_manifest(manifest)
        if old is not None and old["sweep_hash"] == identity["sweep_hash"]:
            return False  # this very sweep: resume
        if not force:
            reason = f"out: {manifest} {problem}" if old is None else _other_sweep(out, old, identity)
            raise SweepError(f"{reason}; {hint}")
    elif out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if not _is_temp(p))
        if foreign and not force:
            raise SweepError(f"out: {out} is not empty and holds no sweep ({len(foreign)} entries, "
                             f"e.g. {foreign[0]!r}); {hint}")
    _clear_sweep(out)
    return True


def _prepare_out(out: Path, identity: dict[str, Any], force: bool) -> None:
    """Check that ``out`` is empty, new, or holds this very sweep; write its manifest."""
    hint = "use another directory, or force=True (--force) to start this sweep there"
    if out.exists() and not out.is_dir():
        raise SweepError(f"out: {out} exists and is not a directory")
    write = _claim(out, identity, force, hint) if out.exists() else True
    try:
        (out / _RUNS_DIR).mkdir(parents=True, exist_ok=True)
        if write:
            from ..outputs import atomic_write_text, dumps_strict

            atomic_write_text(out / _MANIFEST, dumps_strict(identity, indent=1) + "\n")
        for stale in (out / _RUNS_DIR).iterdir():
            if _is_temp(stale):
                stale.unlink(missing_ok=True)
    except OSError as exc:
        raise SweepError(f"out: cannot write to {out} ({exc.strerror or exc})") from None


class Checkpoint:
    """Finished runs of a sweep, in memory and (with ``out``) in ``out/runs/part-*.parquet``.

    Parameters
    ----------
    out : Path or None
        The sweep's output directory; None keeps the runs in memory only.
    identity : dict
        :func:`sweep_identity` of the sweep, compared with (or written to) ``out/sweep.json``.
    force : bool
        Start over in an ``out`` that holds another sweep, a damaged manifest or other files.

    Attributes
    ----------
    rows : dict
        Run key to that run's row (parameters, seed and KPIs), finished runs only.
    """

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
        """Keep a finished run; write a part file every few rows or seconds."""
        row = {_KEY_COLUMN: task.key, **task.params, "seed": task.seed}
        row.update((k, v) for k, v in kpis.items() if k not in row)
        self.rows[task.key] = row
        if self.out is None:
            return
        self.buffer.append(row)
        if len(self.buffer) >= _FLUSH_ROWS or time.monotonic() - self.last_flush >= _FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Write the runs not yet on disk to one part file (atomically)."""
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

    def table(self, tasks: Sequence[SweepTask], columns: Sequence[str]) -> pd.DataFrame:
        """Every task's row, in task order: parameter columns, ``seed``, then the KPIs.

        Rows are re-read from disk first, so resumed and fresh sweeps build the same table.
        """
        if self.out is not None:
            self.rows = {**self.rows, **_load_parts(self.out / _RUNS_DIR)}
        table = pd.DataFrame.from_records([self.rows[t.key] for t in tasks])
        if _KEY_COLUMN in table.columns:
            table = table.drop(columns=_KEY_COLUMN)
        first = [c for c in [*columns, "seed"] if c in table.columns]
        return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)

    def write_table(self, table: pd.DataFrame) -> None:
        """Write the final table to ``out/sweep.parquet`` atomically (nothing without ``out``)."""
        if self.out is not None:
            _atomic_write_parquet(table, self.out / TABLE_FILE)


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


def _sweep_kpis(table: pd.DataFrame) -> dict[str, Any]:
    """The figures of a sweep kept in the run registry: run counts, rates and mean times."""
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
    return kpis


def record_sweep(base: Scenario, scenario_hash: str, table: pd.DataFrame, seeds: list[int],
                 out_dir: Path | None, registry=None, kind: str = "sweep") -> str | None:
    """Record a finished sweep in the run registry; its run id, or None with a warning.

    Never raises: the results are safe on disk (or returned), and a registry problem
    must not lose them. ``registry``: a path, a
    :class:`~workbench.registry.runs.RunRegistry`, or None for the default location.
    """
    try:
        from ..registry.runs import RunRegistry
    except ImportError:  # pragma: no cover - registry not installed
        warnings.warn("run registry unavailable: sweep not recorded", stacklevel=3)
        return None
    kpis = _sweep_kpis(table)
    try:
        if isinstance(registry, RunRegistry):
            return registry.record_run(kind, base.name, scenario_hash, seeds, package_version(),
                                       kpis, out_dir)
        with RunRegistry(registry) as reg:
            return reg.record_run(kind, base.name, scenario_hash, seeds, package_version(), kpis,
                                  out_dir)
    except Exception as exc:
        warnings.warn(f"sweep not recorded in the run registry: {exc}", stacklevel=3)
        return None
