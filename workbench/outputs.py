"""Output directories written all at once, and strict JSON files.

A run's output directory (``workbench run --out D``, ``compare --out D``) is built in
a hidden sibling ``.D.tmp-<pid>-<random>`` and renamed to ``D`` only when every file
is written and synced, so ``D`` never mixes two runs and never looks complete when it
is not. A previous run at ``D`` is renamed aside to ``.D.old-<pid>-<random>``, the new
one renamed in, and the old one deleted. If the process dies (SIGKILL, power cut) or a
write fails (disk full), ``D`` is the complete previous run, the complete new run, or
absent (killed between the two renames); the hidden siblings are never mistaken for a
run and are removed by the next write to ``D``.

A directory is a run of this tool when it holds the manifest
:data:`MANIFEST_NAME` (written last: kind, tool version, schema version and the list
of files). A non-empty directory without one is refused unless ``force=True``.

JSON files are strict (RFC 8259): NaN and infinities become ``null``
(:func:`to_strict_json`).
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "MANIFEST_NAME",
    "OUTPUT_SCHEMA_VERSION",
    "OutputDirError",
    "atomic_output_dir",
    "atomic_write_text",
    "check_output_dir",
    "dumps_strict",
    "escape_control",
    "is_run_dir",
    "read_manifest",
    "to_strict_json",
]

TOOL_NAME = "rollout-workbench"
MANIFEST_NAME = ".workbench-run.json"
OUTPUT_SCHEMA_VERSION = 1
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?P<role>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class OutputDirError(ValueError):
    """An output directory cannot be used; the message names the path and the reason."""


def escape_control(text: Any) -> str:
    r"""``str(text)`` with control characters shown as escapes (``\x1b``, ``\n``).

    For printing names, run ids, reasons and log messages on a terminal: escape
    sequences, newlines and bidirectional overrides print as visible text instead of
    acting on the terminal (C0 and C1 controls, DEL, U+2028/9, U+202A-E, U+2066-9).

    Examples
    --------
    >>> escape_control("x\x1b[2J")
    'x\\x1b[2J'
    >>> escape_control("a\nb\u202e")
    'a\\nb\\u202e'
    """
    return _CONTROL.sub(_escape_one, str(text))


def _escape_one(match: re.Match) -> str:
    ch = match.group(0)
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# -- strict JSON -----------------------------------------------------------------
def to_strict_json(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts.

    numpy scalars and arrays are unwrapped, NaN and +-inf become ``None``, tuples
    and sets become lists, mapping keys become strings, anything else unknown its
    ``str``.

    Examples
    --------
    >>> to_strict_json({"a": float("nan"), "b": [1.5, float("-inf")], 3: np.int64(4)})
    {'a': None, 'b': [1.5, None], '3': 4}
    """
    if isinstance(obj, (np.generic, np.ndarray)):
        obj = obj.tolist()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): to_strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_strict_json(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((to_strict_json(v) for v in obj), key=repr)
    try:  # pandas missing values (pd.NA, NaT)
        import pandas as pd

        if obj is pd.NA or obj is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return str(obj)


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`to_strict_json` with ``allow_nan=False``."""
    return json.dumps(to_strict_json(obj), allow_nan=False, **kwargs)


def is_temporary(path: str | os.PathLike) -> bool:
    """True for the hidden temporary names this module writes (``.NAME.tmp-PID-HEX``, ``.NAME.old-PID-HEX``)."""
    return _SIBLING.match(Path(path).name) is not None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(fh)`` on a hidden temporary file, sync it and ``os.replace`` it to ``path``.

    ``path`` is either its previous complete content or the new complete content,
    whatever happens (an exception, SIGKILL, a full disk); the temporary file is
    removed on an exception.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


# -- manifests ---------------------------------------------------------------------
def read_manifest(path: str | os.PathLike) -> dict | None:
    """The manifest of a run directory, or ``None`` if it has none (or a broken one).

    A temporary sibling (``.D.tmp-*``, ``.D.old-*``) is never a run, even if complete.
    """
    if _SIBLING.match(Path(path).name):
        return None
    try:
        data = json.loads((Path(path) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != TOOL_NAME:
        return None
    return data


def is_run_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a directory written by this tool (it has a valid manifest)."""
    return Path(path).is_dir() and read_manifest(path) is not None


# -- checks ------------------------------------------------------------------------
def _target(path: str | os.PathLike) -> Path:
    text = os.fspath(path)
    if not text or not str(text).strip():
        raise OutputDirError("output directory: give a non-empty path")
    # resolve symlinks so the temporary sibling is on the same file system as the target
    return Path(os.path.realpath(os.path.expanduser(text)))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:  # pragma: no cover
        return False
    return True


def _has_manifest(path: Path) -> bool:
    try:
        data = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == TOOL_NAME


def _clean_stale_siblings(target: Path) -> None:
    """Remove hidden temporary siblings of ``target`` left by processes that died.

    A process killed between its two renames leaves ``target`` absent, its complete new
    run in ``.D.tmp-*`` (manifest written) and the previous run in ``.D.old-*``: the new
    run, or else the old one, is put back in place before anything is removed.
    """
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    stale = []
    for entry in entries:
        m = _SIBLING.match(entry.name)
        if m and m.group("name") == target.name and not _pid_alive(int(m.group("pid"))):
            stale.append((m.group("role"), entry))
    if not (target.exists() or target.is_symlink()):
        complete = [e for role, e in stale if role == "tmp" and _has_manifest(e)]
        previous = [e for role, e in stale if role == "old" and _has_manifest(e)]
        for candidate in complete + previous:
            try:
                os.rename(candidate, target)
            except OSError:
                continue
            stale = [(role, e) for role, e in stale if e != candidate]
            break
    for _, entry in stale:
        shutil.rmtree(entry, ignore_errors=True)


def _refuse_foreign(target: Path, kind: str | None) -> None:
    """Refuse a non-empty ``target`` that is not an output of this tool of the same ``kind``."""
    if not any(True for _ in target.iterdir()):
        return
    manifest = read_manifest(target)
    if manifest is None:
        raise OutputDirError(
            f"{target}: directory is not empty and is not a previous run of this tool "
            "(use --force to replace its contents)"
        )
    if kind is not None and manifest.get("kind") != kind:
        raise OutputDirError(
            f"{target}: holds a previous {escape_control(manifest.get('kind'))} output, not a {kind} "
            "(use --force to replace it, or choose another directory)"
        )


def check_output_dir(path: str | os.PathLike, force: bool = False, kind: str | None = None) -> Path:
    """Check that ``path`` can receive a run, before any work is done.

    Refuses a path that is a file, a non-empty directory that is not an output of this
    tool of the same ``kind`` (unless ``force``), the file system root or a directory holding the
    current working directory, and a parent directory that is not writable (probed by
    creating and removing a temporary sibling). Creates missing parent directories.

    Returns
    -------
    Path
        The target with symlinks resolved.

    Raises
    ------
    OutputDirError
        With a one-line message naming the path and the problem.
    """
    target = _target(path)
    if target.parent == target:
        raise OutputDirError(f"{target}: cannot write a run over the file system root")
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise OutputDirError(f"{target}: exists and is not a directory")
        cwd = Path(os.path.realpath(os.getcwd()))
        if cwd == target or target in cwd.parents:
            raise OutputDirError(f"{target}: is the current directory or holds it; choose another --out")
        if not force:
            try:
                _refuse_foreign(target, kind)
            except OSError as exc:
                raise OutputDirError(f"{target}: cannot list the directory ({exc.strerror or exc})") from None
    for ancestor in [target.parent, *target.parent.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputDirError(f"{target}: {ancestor} is not a directory")
            break
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputDirError(f"{target}: cannot write in {target.parent} ({reason})") from None
    return target


@contextmanager
def atomic_output_dir(path: str | os.PathLike, kind: str, force: bool = False) -> Iterator[Path]:
    """Build an output directory in a temporary sibling and rename it into place.

    Parameters
    ----------
    path : str or PathLike
        The output directory ``D``.
    kind : str
        What is written (``"run"``, ``"compare"``), stored in the manifest.
    force : bool
        Replace a non-empty directory that is not a previous run of this tool.

    Yields
    ------
    Path
        The temporary directory to write the files into. On a clean exit the
        manifest is written, every file synced, and the directory renamed to ``D``
        (replacing a previous run entirely); on an exception it is deleted and ``D``
        is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with atomic_output_dir(root / "out", "run") as tmp:
    ...     _ = (tmp / "a.txt").write_text("hello")
    >>> sorted(p.name for p in (root / "out").iterdir())
    ['.workbench-run.json', 'a.txt']
    >>> read_manifest(root / "out")["files"]
    ['a.txt']
    """
    from ._version import __version__

    _clean_stale_siblings(_target(path))
    target = check_output_dir(path, force=force, kind=kind)
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = target.parent / f".{target.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        yield tmp
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        if MANIFEST_NAME in files:
            raise OutputDirError(f"{target}: {MANIFEST_NAME} is reserved for the run manifest")
        manifest = {
            "tool": TOOL_NAME,
            "kind": kind,
            "version": __version__,
            "schema_version": OUTPUT_SCHEMA_VERSION,
            "files": files,
        }
        for name in files:
            _fsync_file(tmp / name)
        atomic_write_text(tmp / MANIFEST_NAME, dumps_strict(manifest, indent=2, sort_keys=True) + "\n")
        _fsync_dir(tmp)
        _swap_into_place(tmp, target, tag, force, kind)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(tmp: Path, target: Path, tag: str, force: bool, kind: str) -> None:
    old = None
    if target.exists() or target.is_symlink():
        # re-check: another process may have written here while this run was working
        if not target.is_dir():
            raise OutputDirError(f"{target}: exists and is not a directory")
        if not force:
            _refuse_foreign(target, kind)
        old = target.parent / f".{target.name}.old-{tag}"
        os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError as exc:
        if old is not None:  # put the previous run back
            try:
                os.rename(old, target)
            except OSError:  # pragma: no cover - left as a hidden sibling, cleaned next time
                pass
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise OutputDirError(f"{target}: another process wrote a run here at the same time") from None
        raise
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
