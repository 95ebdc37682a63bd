"""Model version registry: content-addressed versions, stages and lineage (SQLite).

Interface after MLflow's model registry (named models, versions, stages
``staging``/``production``/``archived``), with:

* **content-addressed ids**: ``sha256`` of the canonical JSON of the name, the
  parameters, the artefact fingerprint and the parent id. No timestamp, so the
  same content gets the same id in any process and registering twice is
  idempotent (metrics and environment given again are merged in);
* **persistence** in SQLite with real transactions (:mod:`workbench.registry.db`);
* **a production pointer** per model name, moved by :meth:`ModelRegistry.promote`
  and :meth:`ModelRegistry.rollback`, with every move kept in
  :meth:`ModelRegistry.history`. Rollback is a stack: it undoes the most recent
  promotion still in force, so repeated rollbacks walk back through releases;
* **lineage by ancestry**: follow parent links from a version to its root, which
  is right with branches and several roots (a shortest path from an arbitrary
  first node is not: there may be no path, or a path through another branch).

Versions are immutable; ids may be abbreviated to any unique prefix (>= 6 hex
digits), as with git.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from .db import _UsesDatabase

__all__ = [
    "STAGES",
    "ModelRegistry",
    "ModelVersion",
    "canonical_json",
    "capture_environment",
    "compute_version_id",
    "fingerprint_artefact",
]

STAGES = ("none", "staging", "production", "archived")
"""Lifecycle stages; new versions start in ``"none"`` (MLflow's ``None``)."""

_MIN_PREFIX = 6


def _to_jsonable(obj: Any, where: str) -> Any:
    """Plain JSON types for canonical encoding; rejects what JSON cannot say exactly."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{where}: non-finite float {obj!r} cannot be content-addressed")
        return obj
    # numpy scalars and arrays without importing numpy
    if hasattr(obj, "tolist") and type(obj).__module__.startswith("numpy"):
        return _to_jsonable(obj.tolist(), where)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            out[k] = _to_jsonable(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, Path):
        return str(obj)
    raise ValueError(f"{where}: cannot encode {type(obj).__name__} {obj!r} as JSON")


def canonical_json(obj: Any, where: str = "value") -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, shortest float repr.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.5, None, "x"]})
    '{"a":[1.5,null,"x"],"b":1}'
    """
    return json.dumps(
        _to_jsonable(obj, where),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def _loose_json(obj: Any) -> str:
    """JSON for measurements (metrics, environment): non-finite floats -> null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if hasattr(v, "tolist") and type(v).__module__.startswith("numpy"):
            return clean(v.tolist())
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        return str(v)

    return json.dumps(clean(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def fingerprint_artefact(artefact: bytes | bytearray | memoryview | os.PathLike) -> str:
    """``sha256:<hex>`` of an artefact.

    The artefact is raw bytes, a file's content, or a directory's files (relative
    paths and contents, in sorted order).

    Strings are not accepted (ambiguous between a path and content): pass
    ``pathlib.Path(...)`` or ``text.encode()``.

    Examples
    --------
    >>> fingerprint_artefact(b"weights") == "sha256:" + hashlib.sha256(b"weights").hexdigest()
    True
    """
    h = hashlib.sha256()
    if isinstance(artefact, (bytes, bytearray, memoryview)):
        h.update(bytes(artefact))
    elif isinstance(artefact, os.PathLike):
        p = Path(artefact)
        if p.is_file():
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        elif p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                h.update(f.relative_to(p).as_posix().encode("utf-8") + b"\0")
                h.update(hashlib.sha256(f.read_bytes()).digest())
        else:
            raise ValueError(f"artefact: no such file or directory {str(p)!r}")
    else:
        raise ValueError(
            f"artefact: expected bytes or a pathlib.Path, got {type(artefact).__name__}"
        )
    return "sha256:" + h.hexdigest()


def compute_version_id(
    name: str,
    parameters: Mapping[str, Any],
    artefact_fingerprint: str | None = None,
    parent: str | None = None,
) -> str:
    """Content address of a version, free of timestamps and process state.

    The sha256 (hex) of the canonical JSON of ``{"name", "parameters", "artefact",
    "parent"}``.

    Examples
    --------
    >>> a = compute_version_id("ranker", {"depth": 6, "lr": 0.1})
    >>> a == compute_version_id("ranker", {"lr": 0.1, "depth": 6})
    True
    >>> a == compute_version_id("ranker", {"depth": 7, "lr": 0.1})
    False
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: must be a non-empty string, got {name!r}")
    if not isinstance(parameters, Mapping):
        raise ValueError(f"parameters: must be a mapping, got {type(parameters).__name__}")
    payload = {
        "name": name,
        "parameters": _to_jsonable(parameters, "parameters"),
        "artefact": artefact_fingerprint,
        "parent": parent,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def capture_environment(
    packages: tuple[str, ...] = ("numpy", "scipy", "pandas", "scikit-learn"),
) -> dict:
    """Python, platform and installed versions of ``packages`` (for ``environment=``)."""
    from importlib import metadata

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for pkg in packages:
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[pkg] = None
    return env


@dataclass(frozen=True)
class ModelVersion:
    """One registered version (a row of the registry)."""

    version_id: str
    name: str
    parameters: dict
    artefact_fingerprint: str | None
    parent_id: str | None
    metrics: dict
    environment: dict
    stage: str
    registered_at: str

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the version id, for display."""
        return self.version_id[:12]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ModelRegistry(_UsesDatabase):
    """Versions of named models, their stages, lineage and production pointer.

    Parameters
    ----------
    path : str, PathLike, Database or None
        SQLite file (an explicit path wins over ``WORKBENCH_REGISTRY`` and the
        user data directory; ``":memory:"`` for a throw-away registry), or an open
        :class:`~workbench.registry.db.Database` to share with a ``RunRegistry``.

    Examples
    --------
    >>> reg = ModelRegistry(":memory:")
    >>> v1 = reg.register("ranker", {"depth": 6}, metrics={"auc": 0.71})
    >>> v2 = reg.register("ranker", {"depth": 8}, parent=v1)
    >>> reg.register("ranker", {"depth": 6}) == v1          # idempotent
    True
    >>> reg.lineage(v2) == [v1, v2]
    True
    >>> reg.promote(v1, "production"); reg.promote(v2, "production")
    >>> reg.production("ranker") == v2
    True
    >>> reg.rollback("ranker") == v1, reg.get(v2).stage
    (True, 'archived')
    """

    # -- ids ----------------------------------------------------------------------
    def resolve(self, version_id: str) -> str:
        """Full id of ``version_id`` (full or unique prefix of >= 6 hex digits)."""
        if not isinstance(version_id, str) or not version_id:
            raise ValueError(f"version_id: must be a non-empty string, got {version_id!r}")
        vid = version_id.lower()
        rows = self.db.query("SELECT version_id FROM model_versions WHERE version_id = ?", (vid,))
        if rows:
            return rows[0][0]
        if len(vid) >= _MIN_PREFIX and all(c in "0123456789abcdef" for c in vid):
            rows = self.db.query(
                "SELECT version_id FROM model_versions WHERE substr(version_id, 1, ?) = ? LIMIT 2",
                (len(vid), vid),
            )
            if len(rows) == 1:
                return rows[0][0]
            if len(rows) > 1:
                raise ValueError(f"version_id: prefix {version_id!r} is ambiguous")
        raise ValueError(f"version_id: unknown version {version_id!r}")

    # -- writing ------------------------------------------------------------------
    def register(
        self,
        name: str,
        parameters: Mapping[str, Any],
        metrics: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        parent: str | None = None,
        *,
        artefact: bytes | os.PathLike | None = None,
        artefact_fingerprint: str | None = None,
    ) -> str:
        """Register a version and return its content-addressed id.

        Parameters
        ----------
        name : str
            Model name (e.g. ``"ranker"``).
        parameters : mapping
            Hyper-parameters / configuration (JSON-encodable; string keys; finite floats).
        metrics, environment : mapping, optional
            Measurements and runtime description; not part of the id. On a repeat
            registration they are merged into the stored ones.
        parent : str, optional
            Id (or unique prefix) of the version this one derives from; must exist.
        artefact : bytes or pathlib.Path, optional
            Model file(s) to fingerprint (see :func:`fingerprint_artefact`), or give
            ``artefact_fingerprint`` directly.
        """
        if artefact is not None and artefact_fingerprint is not None:
            raise ValueError("artefact: give artefact or artefact_fingerprint, not both")
        if artefact is not None:
            artefact_fingerprint = fingerprint_artefact(artefact)
        parent_id = self.resolve(parent) if parent is not None else None
        vid = compute_version_id(name, parameters, artefact_fingerprint, parent_id)
        params_json = canonical_json(parameters, "parameters")
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT metrics, environment FROM model_versions WHERE version_id = ?", (vid,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO model_versions (version_id, name, parent_id, parameters, "
                    "artefact_fingerprint, metrics, environment, stage, registered_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'none', ?)",
                    (
                        vid,
                        name,
                        parent_id,
                        params_json,
                        artefact_fingerprint,
                        _loose_json(dict(metrics or {})),
                        _loose_json(dict(environment or {})),
                        _now_iso(),
                    ),
                )
            elif metrics or environment:
                merged_m = {
                    **json.loads(row["metrics"]),
                    **json.loads(_loose_json(dict(metrics or {}))),
                }
                merged_e = {
                    **json.loads(row["environment"]),
                    **json.loads(_loose_json(dict(environment or {}))),
                }
                conn.execute(
                    "UPDATE model_versions SET metrics = ?, environment = ? WHERE version_id = ?",
                    (_loose_json(merged_m), _loose_json(merged_e), vid),
                )
        return vid

    def log_metrics(self, version_id: str, metrics: Mapping[str, Any]) -> None:
        """Merge ``metrics`` into a version's stored metrics."""
        vid = self.resolve(version_id)
        with self.db.transaction() as conn:
            old = json.loads(
                conn.execute(
                    "SELECT metrics FROM model_versions WHERE version_id = ?", (vid,)
                ).fetchone()[0]
            )
            new = {**old, **json.loads(_loose_json(dict(metrics)))}
            conn.execute(
                "UPDATE model_versions SET metrics = ? WHERE version_id = ?",
                (_loose_json(new), vid),
            )

    def promote(self, version_id: str, stage: str) -> None:
        """Move a version to ``stage`` (``"staging"``, ``"production"``, ``"archived"``).

        To production: the version becomes the model's production pointer, the
        previous production version is archived, and the move is pushed on the
        history (a no-op if it already is production). The current production
        version cannot be sent to another stage directly: use :meth:`rollback` or
        promote another version.
        """
        if stage not in STAGES or stage == "none":
            raise ValueError(f"stage: must be 'staging', 'production' or 'archived', got {stage!r}")
        vid = self.resolve(version_id)
        now = _now_iso()
        with self.db.transaction() as conn:
            name, old_stage = conn.execute(
                "SELECT name, stage FROM model_versions WHERE version_id = ?", (vid,)
            ).fetchone()
            row = conn.execute(
                "SELECT version_id FROM production_pointer WHERE name = ?", (name,)
            ).fetchone()
            current = row[0] if row else None
            if stage == "production":
                if current == vid:
                    return
                if current is not None:
                    conn.execute(
                        "UPDATE model_versions SET stage = 'archived' WHERE version_id = ?",
                        (current,),
                    )
                conn.execute(
                    "UPDATE model_versions SET stage = 'production' WHERE version_id = ?", (vid,)
                )
                conn.execute(
                    "INSERT INTO production_pointer (name, version_id) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET version_id = excluded.version_id",
                    (name, vid),
                )
                conn.execute(
                    "INSERT INTO stage_history (name, version_id, action, from_stage, to_stage, "
                    "previous_production, at) VALUES (?, ?, 'promote', ?, 'production', ?, ?)",
                    (name, vid, old_stage, current, now),
                )
                return
            if current == vid:
                raise ValueError(
                    f"version_id: {vid[:12]} is {name!r}'s production version; "
                    f"call rollback({name!r}) or promote another version first"
                )
            if old_stage == stage:
                return
            conn.execute("UPDATE model_versions SET stage = ? WHERE version_id = ?", (stage, vid))
            conn.execute(
                "INSERT INTO stage_history (name, version_id, action, from_stage, to_stage, "
                "previous_production, at) VALUES (?, ?, 'stage', ?, ?, ?, ?)",
                (name, vid, old_stage, stage, current, now),
            )

    @staticmethod
    def _production_stack(conn, name: str) -> list[str]:
        stack: list[str] = []
        for action, vid in conn.execute(
            "SELECT action, version_id FROM stage_history WHERE name = ? "
            "AND action IN ('promote', 'rollback') ORDER BY seq",
            (name,),
        ):
            if action == "promote":
                stack.append(vid)
            else:
                stack.pop()
        return stack

    def rollback(self, name: str) -> str:
        """Undo the latest production promotion of ``name`` still in force.

        The production pointer returns to the version it replaced, which becomes
        ``production`` again; the rolled-back version is archived. Returns the new
        production version id. ``ValueError`` when there is nothing to go back to.
        """
        now = _now_iso()
        with self.db.transaction() as conn:
            stack = self._production_stack(conn, name)
            if not stack:
                raise ValueError(f"name: model {name!r} has no production version")
            if len(stack) < 2:
                raise ValueError(f"name: model {name!r} has no earlier production version")
            current, target = stack[-1], stack[-2]
            target_stage = conn.execute(
                "SELECT stage FROM model_versions WHERE version_id = ?", (target,)
            ).fetchone()[0]
            conn.execute(
                "UPDATE model_versions SET stage = 'archived' WHERE version_id = ?", (current,)
            )
            conn.execute(
                "UPDATE model_versions SET stage = 'production' WHERE version_id = ?", (target,)
            )
            conn.execute(
                "UPDATE production_pointer SET version_id = ? WHERE name = ?", (target, name)
            )
            conn.execute(
                "INSERT INTO stage_history (name, version_id, action, from_stage, to_stage, "
                "previous_production, at) VALUES (?, ?, 'rollback', ?, 'production', ?, ?)",
                (name, target, target_stage, current, now),
            )
        return target

    # -- reading ------------------------------------------------------------------
    def production(self, name: str) -> str | None:
        """Id of ``name``'s production version, or ``None``."""
        rows = self.db.query("SELECT version_id FROM production_pointer WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    @staticmethod
    def _row_to_version(row) -> ModelVersion:
        return ModelVersion(
            version_id=row["version_id"],
            name=row["name"],
            parameters=json.loads(row["parameters"]),
            artefact_fingerprint=row["artefact_fingerprint"],
            parent_id=row["parent_id"],
            metrics=json.loads(row["metrics"]),
            environment=json.loads(row["environment"]),
            stage=row["stage"],
            registered_at=row["registered_at"],
        )

    def get(self, version_id: str) -> ModelVersion:
        """The :class:`ModelVersion` with this id (or unique prefix)."""
        vid = self.resolve(version_id)
        row = self.db.query("SELECT * FROM model_versions WHERE version_id = ?", (vid,))[0]
        return self._row_to_version(row)

    def __contains__(self, version_id: object) -> bool:
        if not isinstance(version_id, str):
            return False
        return bool(
            self.db.query("SELECT 1 FROM model_versions WHERE version_id = ?", (version_id,))
        )

    def versions(self, name: str | None = None) -> pd.DataFrame:
        """Registered versions (optionally of one model) in registration order."""
        sql = "SELECT * FROM model_versions"
        params: tuple = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (name,)
        rows = self.db.query(sql + " ORDER BY rowid", params)
        cols = [
            "version_id",
            "name",
            "parent_id",
            "stage",
            "artefact_fingerprint",
            "parameters",
            "metrics",
            "environment",
            "registered_at",
        ]
        return pd.DataFrame(
            [{c: getattr(v, c) for c in cols} for v in map(self._row_to_version, rows)],
            columns=cols,
        )

    def lineage(self, version_id: str) -> list[str]:
        """Ancestry of a version: ids from its root down to the version itself."""
        vid = self.resolve(version_id)
        rows = self.db.query(
            "WITH RECURSIVE anc(version_id, parent_id, depth) AS ("
            " SELECT version_id, parent_id, 0 FROM model_versions WHERE version_id = ?"
            " UNION ALL"
            " SELECT m.version_id, m.parent_id, anc.depth + 1 FROM model_versions m"
            " JOIN anc ON m.version_id = anc.parent_id)"
            " SELECT version_id FROM anc ORDER BY depth DESC",
            (vid,),
        )
        return [r[0] for r in rows]

    def children(self, version_id: str) -> list[str]:
        """Direct descendants of a version, in registration order."""
        vid = self.resolve(version_id)
        rows = self.db.query(
            "SELECT version_id FROM model_versions WHERE parent_id = ? ORDER BY rowid", (vid,)
        )
        return [r[0] for r in rows]

    def history(self, name: str | None = None) -> pd.DataFrame:
        """Every stage move (promote, rollback, stage change), oldest first.

        Columns: ``seq``, ``name``, ``version_id``, ``action``, ``from_stage``,
        ``to_stage``, ``previous_production``, ``at``.
        """
        sql = "SELECT * FROM stage_history"
        params: tuple = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (name,)
        rows = self.db.query(sql + " ORDER BY seq", params)
        cols = [
            "seq",
            "name",
            "version_id",
            "action",
            "from_stage",
            "to_stage",
            "previous_production",
            "at",
        ]
        return pd.DataFrame([tuple(r) for r in rows], columns=cols)

    def graph(self) -> nx.DiGraph:
        """All versions as a DiGraph, edges parent -> child.

        Node attributes: ``name``, ``stage``, ``metrics``, ``production`` (bool) and
        ``label`` (short id).
        """
        g = nx.DiGraph()
        prod = {r[0] for r in self.db.query("SELECT version_id FROM production_pointer")}
        for row in self.db.query("SELECT * FROM model_versions ORDER BY rowid"):
            v = self._row_to_version(row)
            g.add_node(
                v.version_id,
                name=v.name,
                stage=v.stage,
                metrics=v.metrics,
                production=v.version_id in prod,
                label=v.short_id,
            )
            if v.parent_id is not None:
                g.add_edge(v.parent_id, v.version_id)
        return g
