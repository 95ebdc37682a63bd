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

A registry file is marked with SQLite's ``application_id`` header field
(:data:`APPLICATION_ID`) and its schema version in ``user_version``. A file that is
not a registry (random bytes, a truncated or damaged database, another program's
SQLite database) or that has a newer schema than this package raises
:class:`RegistryError` naming the file and the problem; it is inspected before any
write and never modified or "upgraded".
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

__all__ = [
    "APPLICATION_ID",
    "ENV_VAR",
    "SCHEMA_VERSION",
    "Database",
    "RegistryError",
    "default_registry_path",
    "resolve_registry_path",
]

APP_NAME = "rollout-workbench"
ENV_VAR = "WORKBENCH_REGISTRY"
DEFAULT_FILENAME = "registry.sqlite3"
SCHEMA_VERSION = 1
APPLICATION_ID = 0x52574231  # "RWB1" in the SQLite header: a file of this tool
_TABLES = frozenset({
    "model_versions", "production_pointer", "stage_history", "runs",
    "sqlite_sequence", "sqlite_stat1", "sqlite_stat4",
})


class RegistryError(ValueError):
    """The registry database cannot be used; the message names the file and the problem."""


def _is_storage_error(exc: BaseException) -> bool:
    """SQLite errors that describe the file (damaged, locked, unreadable), not misuse."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)
    )

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


def _expected_columns() -> dict[str, list[str]]:
    """Column names of each table of :data:`_SCHEMA`, from an in-memory database."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(_SCHEMA)
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: [row[1] for row in conn.execute(f"PRAGMA table_info({n})")] for n in names
                if not n.startswith("sqlite_")}


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
        self._lock = threading.RLock()
        self._conn = None
        if self.path != ":memory:":
            p = Path(self.path)
            if p.exists() and not p.is_file():
                raise RegistryError(f"{p}: registry database path is not a regular file")
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(f"{p}: cannot create the registry directory ({exc.strerror or exc})") from None
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._check_file()  # before anything writes to the file
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._ensure_schema()
        except BaseException as exc:
            if self._conn is not None:
                self._conn.close()
            if _is_storage_error(exc):
                raise self._error(exc) from None
            raise

    def _error(self, exc: BaseException) -> RegistryError:
        text = str(exc) or type(exc).__name__
        if "file is not a database" in text:
            text = "not an SQLite database (damaged, or another kind of file)"
        elif "malformed" in text:
            text = f"damaged registry database ({text})"
        return RegistryError(f"{self.path}: {text}")

    def _check_file(self) -> None:
        """Refuse a file that is not a registry of a schema this package knows."""
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0]
            for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if app_id not in (0, APPLICATION_ID):
            raise RegistryError(
                f"{self.path}: SQLite database of another program (application_id {app_id:#x}), "
                "not a rollout-workbench registry"
            )
        if app_id == 0 and (tables - _TABLES or (version and not tables)):
            shown = ", ".join(sorted(tables - _TABLES)[:5]) or "none"
            raise RegistryError(
                f"{self.path}: SQLite database of another program (tables: {shown}), "
                "not a rollout-workbench registry"
            )
        if app_id == 0 and tables and self._foreign_columns(tables):
            raise RegistryError(
                f"{self.path}: SQLite database of another program (table "
                f"{self._foreign_columns(tables)} has other columns), not a rollout-workbench registry"
            )
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"{self.path}: registry schema {version} is newer than this package's "
                f"{SCHEMA_VERSION}; upgrade rollout-workbench (the file is left untouched)"
            )
        if tables and self._conn.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
            raise RegistryError(f"{self.path}: damaged registry database (integrity check failed)")

    def _foreign_columns(self, tables: set[str]) -> str | None:
        """The first known table whose columns differ from this package's schema."""
        expected = _expected_columns()
        for table in sorted(tables & set(expected)):
            cols = [row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")]
            if cols != expected[table]:
                return table
        return None

    def _ensure_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        if version == SCHEMA_VERSION and app_id == APPLICATION_ID:
            return
        with self.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                if _is_storage_error(exc):
                    raise self._error(exc) from None
                raise
            try:
                yield self._conn
            except BaseException as exc:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.DatabaseError:  # SQLite already rolled back (e.g. disk I/O error)
                    pass
                if _is_storage_error(exc):
                    raise self._error(exc) from None
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.DatabaseError as exc:
                    if _is_storage_error(exc):
                        raise self._error(exc) from None
                    raise

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Run a read-only statement and fetch every row."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                if _is_storage_error(exc):
                    raise self._error(exc) from None
                raise

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` (``"ok"`` for a sound file)."""
        return self.query("PRAGMA integrity_check")[0][0]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
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
