"""SQLite storage shared by the model version registry and the run registry.

One database file holds both registries. It is opened in WAL mode with foreign
keys on; every write happens inside an explicit ``BEGIN IMMEDIATE ... COMMIT``
transaction, so a process killed half-way (even by SIGKILL) leaves either the
whole change or none of it, and SQLite's recovery on the next open restores a
consistent file. ``synchronous=NORMAL`` is the documented safe setting for WAL: a
power cut may lose the last commits but never corrupts the file.

Where the file lives (first match wins):

1. an explicit ``path`` argument (``":memory:"`` for a throw-away database);
2. the ``WORKBENCH_REGISTRY`` environment variable;
3. ``platformdirs.user_data_dir("rollout-workbench")/registry.sqlite3``;
4. ``~/.local/share/rollout-workbench/registry.sqlite3`` if platformdirs is missing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "Database",
    "default_registry_path",
    "resolve_registry_path",
]

APP_NAME = "rollout-workbench"
ENV_VAR = "WORKBENCH_REGISTRY"
DEFAULT_FILENAME = "registry.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    version_id           TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    parent_id            TEXT REFERENCES model_versions(version_id),
    parameters           TEXT NOT NULL,
    artefact_fingerprint TEXT,
    metrics              TEXT NOT NULL DEFAULT '{}',
    environment          TEXT NOT NULL DEFAULT '{}',
    stage                TEXT NOT NULL DEFAULT 'none'
                         CHECK (stage IN ('none', 'staging', 'production', 'archived')),
    registered_at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS model_versions_name ON model_versions(name);
CREATE INDEX IF NOT EXISTS model_versions_parent ON model_versions(parent_id);

CREATE TABLE IF NOT EXISTS production_pointer (
    name       TEXT PRIMARY KEY,
    version_id TEXT NOT NULL REFERENCES model_versions(version_id)
);

CREATE TABLE IF NOT EXISTS stage_history (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT NOT NULL,
    version_id          TEXT NOT NULL REFERENCES model_versions(version_id),
    action              TEXT NOT NULL CHECK (action IN ('promote', 'rollback', 'stage')),
    from_stage          TEXT NOT NULL,
    to_stage            TEXT NOT NULL,
    previous_production TEXT REFERENCES model_versions(version_id),
    at                  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stage_history_name ON stage_history(name);

CREATE TABLE IF NOT EXISTS runs (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    scenario_name   TEXT NOT NULL,
    scenario_hash   TEXT NOT NULL,
    seed            TEXT,
    package_version TEXT NOT NULL,
    kpis            TEXT NOT NULL,
    output_dir      TEXT
);
CREATE INDEX IF NOT EXISTS runs_scenario ON runs(scenario_name);
"""


def default_registry_path() -> Path:
    """The database file used when no explicit path is given (see module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        return p / DEFAULT_FILENAME if p.is_dir() else p
    try:
        from platformdirs import user_data_dir
    except ImportError:  # pragma: no cover - platformdirs is a declared dependency
        base = Path.home() / ".local" / "share" / APP_NAME
    else:
        base = Path(user_data_dir(APP_NAME))
    return base / DEFAULT_FILENAME


def resolve_registry_path(path: str | os.PathLike | None = None) -> str | Path:
    """``path`` if given (``":memory:"`` kept as is), else :func:`default_registry_path`."""
    if path is None:
        return default_registry_path()
    if str(path) == ":memory:":
        return ":memory:"
    p = Path(path).expanduser()
    return p / DEFAULT_FILENAME if p.is_dir() else p


class Database:
    """A thread-safe SQLite connection with the registry schema.

    Parameters
    ----------
    path : str, PathLike or None
        Database file (created with its parent directories); see
        :func:`resolve_registry_path`.
    timeout_s : float
        How long a writer waits for another process's lock.
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout_s: float = 30.0) -> None:
        self.path = resolve_registry_path(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"path: {self.path} has registry schema {version}, newer than this "
                f"package's {SCHEMA_VERSION}; upgrade rollout-workbench"
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Run a read-only statement and fetch every row."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` (``"ok"`` for a sound file)."""
        return self.query("PRAGMA integrity_check")[0][0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _UsesDatabase:
    """Shared by the registries: use a given :class:`Database`, or open (and own) one."""

    def __init__(self, path: str | os.PathLike | Database | None = None) -> None:
        self._owns_db = not isinstance(path, Database)
        self.db = path if isinstance(path, Database) else Database(path)

    @property
    def path(self):
        return self.db.path

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
