"""Run output directories: built aside and renamed into place, strict JSON, refusals.

A directory written by ``RunResult.to_dir`` / ``atomic_output_dir`` must be either a
complete run (its manifest lists exactly its files) or absent, whatever happens
while it is written: SIGKILL at any point, a full disk, a write error.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.outputs import (
    MANIFEST_NAME,
    OUTPUT_SCHEMA_VERSION,
    OutputDirError,
    atomic_output_dir,
    check_output_dir,
    dumps_strict,
    escape_control,
    is_run_dir,
    read_manifest,
    to_strict_json,
)

ROOT = Path(__file__).resolve().parents[1]


def _reject_constant(token: str):
    raise ValueError(f"non-standard JSON token {token}")


def strict_loads(text: str):
    """``json.loads`` that rejects NaN, Infinity and -Infinity (RFC 8259)."""
    return json.loads(text, parse_constant=_reject_constant)


def _write_run(path: Path, tag: str, n_files: int = 3, force: bool = False) -> None:
    with atomic_output_dir(path, "run", force=force) as tmp:
        for i in range(n_files):
            (tmp / f"f{i}.txt").write_text(f"{tag}-{i}", encoding="utf-8")


def _assert_complete(path: Path, tag: str, n_files: int = 3) -> None:
    manifest = read_manifest(path)
    assert manifest is not None
    files = sorted(p.name for p in path.iterdir() if p.name != MANIFEST_NAME)
    assert manifest["files"] == files == [f"f{i}.txt" for i in range(n_files)]
    for i in range(n_files):
        assert (path / f"f{i}.txt").read_text(encoding="utf-8") == f"{tag}-{i}"


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


# ----------------------------------------------------------------------------- strict JSON
def test_strict_json_turns_non_finite_into_null_everywhere():
    obj = {"a": math.nan, "b": [1.5, math.inf, {"c": -math.inf}], "d": np.float64("nan"),
           "e": np.array([1.0, np.nan]), "f": (np.int64(3), pd.NA), 7: "seven"}
    text = dumps_strict(obj, sort_keys=True)
    assert strict_loads(text) == {"7": "seven", "a": None, "b": [1.5, None, {"c": None}], "d": None,
                                  "e": [1.0, None], "f": [3, None]}
    assert to_strict_json(2.5) == 2.5 and to_strict_json(True) is True
    with pytest.raises(ValueError, match="NaN"):
        strict_loads('{"x": NaN}')  # the checker itself rejects the non-standard token


def test_escape_control_makes_terminal_sequences_visible():
    assert escape_control("x\x1b[2J") == "x\\x1b[2J"
    assert escape_control("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert escape_control("\x9b31m\x7f") == "\\x9b31m\\x7f"  # C1 CSI and DEL
    assert escape_control("evil\u202egnp.exe") == "evil\\u202egnp.exe"  # bidi override
    assert escape_control("café ✓ 5%") == "café ✓ 5%"  # printable text unchanged


# ----------------------------------------------------------------------------- layout
def test_new_run_has_manifest_written_last_and_no_leftovers(tmp_path):
    out = tmp_path / "out"
    _write_run(out, "new")
    _assert_complete(out, "new")
    manifest = read_manifest(out)
    assert manifest["tool"] == "rollout-workbench" and manifest["kind"] == "run"
    assert manifest["schema_version"] == OUTPUT_SCHEMA_VERSION
    strict_loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert _siblings(out) == []  # no temporary sibling left behind
    assert is_run_dir(out)


def test_replacing_a_previous_run_removes_all_of_its_files(tmp_path):
    out = tmp_path / "out"
    _write_run(out, "old", n_files=5)
    _write_run(out, "new", n_files=2)
    _assert_complete(out, "new", n_files=2)  # f2..f4 of the old run are gone
    assert _siblings(out) == []


def test_foreign_directory_refused_unless_force(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(OutputDirError, match="not a previous run.*--force"):
        _write_run(out, "new")
    assert (out / "holiday.jpg").exists() and _siblings(out) == []
    _write_run(out, "new", force=True)
    _assert_complete(out, "new")
    assert not (out / "holiday.jpg").exists()


def test_empty_directory_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    _write_run(out, "new")
    _assert_complete(out, "new")


def test_a_file_or_the_current_directory_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(OutputDirError, match="not a directory"):
        check_output_dir(target)
    with pytest.raises(OutputDirError, match="not a directory"):
        check_output_dir(target / "sub")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputDirError, match="current directory"):
        check_output_dir(tmp_path, force=True)
    with pytest.raises(OutputDirError, match="non-empty"):
        check_output_dir("  ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_parent_is_refused_before_any_work(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        with pytest.raises(OutputDirError, match="cannot write"):
            check_output_dir(parent / "out")
    finally:
        parent.chmod(0o700)


def test_write_error_leaves_previous_run_and_no_temporary(tmp_path):
    out = tmp_path / "out"
    _write_run(out, "old")
    with pytest.raises(RuntimeError, match="boom"), atomic_output_dir(out, "run") as tmp:
        (tmp / "f0.txt").write_text("new-0")
        raise RuntimeError("boom")
    _assert_complete(out, "old")
    assert _siblings(out) == []


def test_disk_full_leaves_previous_run(tmp_path, monkeypatch):
    """ENOSPC from a Parquet write half-way through ``RunResult.to_dir``."""

    out = tmp_path / "out"
    _write_run(out, "old")
    calls = {"n": 0}
    real = pd.DataFrame.to_parquet

    def full_disk(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    result = _tiny_result()
    with pytest.raises(OSError) as info:
        result.to_dir(out)
    assert info.value.errno == errno.ENOSPC
    _assert_complete(out, "old")
    assert _siblings(out) == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)
    stale_tmp = tmp_path / f".out.tmp-{dead}-0123abcd"
    stale_old = tmp_path / f".out.old-{dead}-89abcdef"
    live = tmp_path / f".out.tmp-{os.getpid()}-deadbeef"  # a live writer: left alone
    for d in (stale_tmp, stale_old, live):
        d.mkdir()
        (d / "f0.txt").write_text("partial")
    assert not is_run_dir(stale_tmp)  # never mistaken for a run
    _write_run(out, "new")
    _assert_complete(out, "new")
    assert _siblings(out) == [live.name]


# ----------------------------------------------------------------------------- RunResult
def _tiny_result():
    from workbench import load_scenario, run

    scenario = load_scenario({
        "name": "tiny", "duration_s": 20, "seed": 3,
        "traffic": {"rate_per_s": 5, "users": 20},
        "models": {"legacy": {}, "candidate": {}},
        "strategy": {"kind": "ab", "candidate_fraction": 0.5},
    })
    return run(scenario)


def test_to_dir_writes_a_complete_run_with_strict_json(tmp_path):
    import dataclasses

    from workbench.summary import StrategyOutcome

    result = _tiny_result()
    s = result.summary
    cand = dataclasses.replace(s.models["candidate"], latency_p99_ms=math.inf)
    weird = StrategyOutcome(s.strategy.kind, s.strategy.final_state, {"weird": [math.inf, -math.inf, math.nan]})
    result.summary = dataclasses.replace(s, models={**s.models, "candidate": cand}, strategy=weird)
    out = result.to_dir(tmp_path / "run")
    manifest = read_manifest(out)
    files = sorted(p.name for p in out.iterdir() if p.name != MANIFEST_NAME)
    assert manifest["files"] == files
    assert {"requests.parquet", "events.parquet", "summary.json", "scenario.json", "report.md",
            "log.jsonl", "log_report.md"} <= set(files)
    summary = strict_loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["strategy"]["weird"] == [None, None, None]
    assert summary["models"]["candidate"]["latency_p99_ms"] is None
    strict_loads((out / "scenario.json").read_text(encoding="utf-8"))
    for line in (out / "log.jsonl").read_text(encoding="utf-8").splitlines():
        strict_loads(line)
    with pytest.raises(OutputDirError):
        result.to_dir(tmp_path / "run" / "requests.parquet")


# ----------------------------------------------------------------------------- SIGKILL
_KILLER = textwrap.dedent(
    """
    import os, sys
    import workbench.outputs as outputs
    target, point = sys.argv[1], sys.argv[2]
    kind, n = point.split(":")
    n = int(n)
    count = {"write": 0, "rename": 0, "rmtree": 0}

    def die_at(what):
        count[what] += 1
        if kind == what and count[what] == n:
            os.kill(os.getpid(), 9)

    real_rename, real_rmtree = os.rename, outputs.shutil.rmtree

    def rename(a, b):
        die_at("rename")
        return real_rename(a, b)

    def rmtree(p, *a, **k):
        die_at("rmtree")
        return real_rmtree(p, *a, **k)

    outputs.os.rename = rename
    outputs.shutil.rmtree = rmtree
    with outputs.atomic_output_dir(target, "run") as tmp:
        for i in range(3):
            die_at("write")
            with open(tmp / f"f{i}.txt", "w") as fh:
                fh.write(f"new-{i}")
    print("finished")
    """
)


@pytest.mark.parametrize("point", ["write:1", "write:3", "rename:1", "rename:2", "rmtree:1"])
def test_sigkill_at_any_point_leaves_old_run_new_run_or_nothing(tmp_path, point):
    """Kill points: before/while writing files, after moving the old run aside,
    after renaming the new one in, before deleting the old one."""
    out = tmp_path / "out"
    _write_run(out, "old")
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(out), point], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    if out.exists():
        state = read_manifest(out) and (out / "f0.txt").read_text()
        assert state in ("old-0", "new-0")
        _assert_complete(out, state.split("-")[0])
    else:
        assert point == "rename:2"  # killed between moving the old run aside and the new one in
    if point in ("write:1", "write:3", "rename:1"):
        _assert_complete(out, "old")
    if point == "rmtree:1":
        _assert_complete(out, "new")
    assert all(not is_run_dir(tmp_path / s) for s in _siblings(out))  # leftovers never look like runs
    if point == "rename:2":  # the next write first puts the dead process's complete new run back
        from workbench.outputs import _clean_stale_siblings

        _clean_stale_siblings(out)
        _assert_complete(out, "new")
        assert _siblings(out) == []
    # the next write cleans every leftover of the dead process up
    _write_run(out, "next")
    _assert_complete(out, "next")
    assert _siblings(out) == []


_KILL_TO_DIR = textwrap.dedent(
    """
    import os, sys
    import pandas as pd
    from workbench import load_scenario, run
    scenario = load_scenario({"name": "tiny", "duration_s": 20, "seed": 3,
                              "traffic": {"rate_per_s": 5, "users": 20},
                              "models": {"legacy": {}, "candidate": {}},
                              "strategy": {"kind": "ab", "candidate_fraction": 0.5}})
    result = run(scenario)
    result.to_dir(sys.argv[1])
    calls = {"n": 0}
    real = pd.DataFrame.to_parquet
    def killing(self, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), 9)
        return real(self, path, *a, **k)
    pd.DataFrame.to_parquet = killing
    result.to_dir(sys.argv[1])
    """
)


def test_sigkill_during_to_dir_keeps_the_previous_complete_run(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", _KILL_TO_DIR, str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    manifest = read_manifest(out)
    assert manifest["files"] == sorted(p.name for p in out.iterdir() if p.name != MANIFEST_NAME)
    assert json.loads((out / "summary.json").read_text())["scenario"] == "tiny"
    assert len(pd.read_parquet(out / "requests.parquet")) > 0
    leftovers = _siblings(out)
    assert len(leftovers) == 1 and ".run.tmp-" in leftovers[0]


def test_permission_error_on_the_probe_is_a_one_line_refusal(tmp_path, monkeypatch):
    """Simulated for root, who ignores directory permissions."""
    real_mkdir = Path.mkdir

    def denied(self, *args, **kwargs):
        if self.name.startswith(".out.tmp-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(OutputDirError, match=r"cannot write in .*Permission denied") as info:
        check_output_dir(tmp_path / "out")
    assert "\n" not in str(info.value)


def test_an_output_of_another_kind_is_not_replaced_without_force(tmp_path):
    """``compare --out D`` over a run directory must not delete the run's files silently."""
    out = tmp_path / "out"
    _write_run(out, "old")
    with pytest.raises(OutputDirError, match="holds a previous run output, not a compare"):
        with atomic_output_dir(out, "compare") as tmp:
            (tmp / "compare.parquet").write_text("x")
    _assert_complete(out, "old")
    with atomic_output_dir(out, "compare", force=True) as tmp:
        (tmp / "compare.parquet").write_text("x")
    assert read_manifest(out)["kind"] == "compare"
