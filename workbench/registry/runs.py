"""Run registry: one row per ``workbench run``, ``compare`` or ``sweep``.

Stored in the same SQLite database as the model registry
(:mod:`workbench.registry.db`), one transaction per record, so a process killed
while recording leaves no partial row. Run ids are 12 random hex digits (from
``secrets``, not the simulation's seeded streams: an id is a name, not a result);
any unique prefix of at least 4 digits finds a run.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .db import RegistryError, _UsesDatabase

__all__ = ["RUN_COLUMNS", "RunRecord", "RunRegistry"]

RUN_COLUMNS = [
    "run_id",
    "created_at",
    "kind",
    "scenario_name",
    "scenario_hash",
    "seed",
    "package_version",
    "output_dir",
    "kpis",
]
_MIN_PREFIX = 4


def _clean(value: Any) -> Any:
    """JSON-safe KPI values: numpy unwrapped, NaN/inf -> None, unknown -> str."""
    if hasattr(value, "tolist") and type(value).__module__.startswith("numpy"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _encode_seed(seed: int | Sequence[int] | None) -> str | None:
    if seed is None:
        return None
    if isinstance(seed, bool):
        raise ValueError(f"seed: must be an integer, a sequence of integers or None, got {seed!r}")
    if hasattr(seed, "tolist") and type(seed).__module__.startswith("numpy"):
        seed = seed.tolist()
    if isinstance(seed, int):
        return json.dumps(int(seed))
    if isinstance(seed, (list, tuple, range)) and all(
        isinstance(s, int) and not isinstance(s, bool) for s in seed
    ):
        return json.dumps([int(s) for s in seed])
    raise ValueError(f"seed: must be an integer, a sequence of integers or None, got {seed!r}")


def _decode_seed(text: str | None) -> int | list[int] | None:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class RunRecord:
    """One recorded run.

    ``seed`` is an int (or a list for sweeps; ``None`` if unset); ``kpis`` is the
    summary dict with non-finite numbers stored as ``None``.
    """

    run_id: str
    created_at: str
    kind: str
    scenario_name: str
    scenario_hash: str
    seed: int | list[int] | None
    package_version: str
    output_dir: str | None
    kpis: dict


class RunRegistry(_UsesDatabase):
    """Record and list runs.

    Parameters
    ----------
    path : str, PathLike, Database or None
        As for :class:`~workbench.registry.versions.ModelRegistry` (same file).

    Examples
    --------
    >>> runs = RunRegistry(":memory:")
    >>> rid = runs.record_run("run", "canary-latency-spike", "ab12cd", 7, "0.1.0",
    ...                       {"p95_latency_ms": 118.5, "rolled_back": True}, "out/run1")
    >>> runs.get_run(rid).kpis["rolled_back"]
    True
    >>> runs.list_runs()[["kind", "scenario_name", "seed"]].values.tolist()
    [['run', 'canary-latency-spike', 7]]
    """

    def record_run(
        self,
        kind: str,
        scenario_name: str,
        scenario_hash: str,
        seed: int | Sequence[int] | None,
        package_version: str,
        kpis: Mapping[str, Any],
        output_dir: str | os.PathLike | None,
    ) -> str:
        """Store one run in a single transaction and return its id.

        ``kind`` is e.g. ``"run"``, ``"compare"`` or ``"sweep"``; ``seed`` an int,
        a list of ints (sweeps) or ``None``; ``kpis`` the summary dict.
        """
        for arg, value in (
            ("kind", kind),
            ("scenario_name", scenario_name),
            ("scenario_hash", scenario_hash),
            ("package_version", package_version),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{arg}: must be a non-empty string, got {value!r}")
        if not isinstance(kpis, Mapping):
            raise ValueError(f"kpis: must be a mapping, got {type(kpis).__name__}")
        seed_text = _encode_seed(seed)
        kpi_text = json.dumps(_clean(dict(kpis)), sort_keys=True, allow_nan=False)  # strict JSON
        out = None if output_dir is None else os.fspath(output_dir)
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        for _ in range(5):
            run_id = secrets.token_hex(6)
            try:
                with self.db.transaction() as conn:
                    conn.execute(
                        "INSERT INTO runs (run_id, created_at, kind, scenario_name, scenario_hash, "
                        "seed, package_version, kpis, output_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            run_id,
                            created,
                            kind,
                            scenario_name,
                            scenario_hash,
                            seed_text,
                            package_version,
                            kpi_text,
                            out,
                        ),
                    )
                return run_id
            except sqlite3.IntegrityError:  # pragma: no cover - 48-bit id collision
                continue
        raise RuntimeError("could not allocate a unique run id")  # pragma: no cover

    def _to_record(self, row) -> RunRecord:
        try:
            seed = _decode_seed(row["seed"])
            kpis = json.loads(row["kpis"])
        except (TypeError, ValueError) as exc:
            raise RegistryError(
                f"{self.path}: run {row['run_id']!r} has a damaged seed or kpis field ({exc})"
            ) from None
        return RunRecord(
            run_id=row["run_id"],
            created_at=row["created_at"],
            kind=row["kind"],
            scenario_name=row["scenario_name"],
            scenario_hash=row["scenario_hash"],
            seed=seed,
            package_version=row["package_version"],
            output_dir=row["output_dir"],
            kpis=kpis,
        )

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id (or unique prefix of at least 4 hex digits)."""
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"run_id: must be a non-empty string, got {run_id!r}")
        rid = run_id.lower()
        rows = self.db.query("SELECT * FROM runs WHERE run_id = ?", (rid,))
        if not rows and len(rid) >= _MIN_PREFIX:
            rows = self.db.query(
                "SELECT * FROM runs WHERE substr(run_id, 1, ?) = ? LIMIT 2", (len(rid), rid)
            )
            if len(rows) > 1:
                raise ValueError(f"run_id: prefix {run_id!r} is ambiguous")
        if not rows:
            raise ValueError(f"run_id: unknown run {run_id!r}")
        return self._to_record(rows[0])

    def list_runs(
        self,
        limit: int | None = 20,
        kind: str | None = None,
        scenario_name: str | None = None,
        expand_kpis: bool = False,
    ) -> pd.DataFrame:
        """Most recent runs first (insertion order, not wall clock).

        Columns :data:`RUN_COLUMNS` (``kpis`` holds dicts); with ``expand_kpis``
        each KPI also gets a ``kpi.<name>`` column.
        """
        if limit is not None and (int(limit) != limit or limit < 0):
            raise ValueError(f"limit: must be a non-negative integer or None, got {limit!r}")
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if scenario_name is not None:
            where.append("scenario_name = ?")
            params.append(scenario_name)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        records = [self._to_record(r) for r in self.db.query(sql, tuple(params))]
        df = pd.DataFrame(
            [[getattr(r, c) for c in RUN_COLUMNS] for r in records], columns=RUN_COLUMNS
        )
        if expand_kpis and len(df):
            kpi = pd.json_normalize(df["kpis"].tolist()).add_prefix("kpi.")
            df = pd.concat([df, kpi], axis=1)
        return df

    def __len__(self) -> int:
        return self.db.query("SELECT COUNT(*) FROM runs")[0][0]
