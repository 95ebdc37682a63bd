"""CLI commands over many runs: runs registry, compare, sweep, capacity, logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scen(name):
    return os.path.join(ROOT, "scenarios", f"{name}.toml")


def test_run_is_recorded_and_shown(tmp_path, capsys):
    db = str(tmp_path / "reg.sqlite")
    out = tmp_path / "run"
    assert main(["run", scen("baseline"), "--quiet", "--set", "duration_s=120", "--set", "warmup_s=0",
                 "--out", str(out), "--registry", db]) == 0
    assert main(["runs", "--registry", db]) == 0
    listing = capsys.readouterr().out
    run_id = listing.strip().splitlines()[-1].split()[0]
    assert "baseline" in listing
    assert main(["runs", "show", run_id, "--registry", db]) == 0
    shown = capsys.readouterr().out
    assert f"run {run_id}" in shown and str(out.resolve()) in shown and "status_counts" in shown
    assert main(["runs", "show", "nope", "--registry", db]) == 2
    assert "unknown run" in capsys.readouterr().err
    # the log of the run can be analysed
    assert main(["logs", str(out)]) == 0
    assert "# Log report" in capsys.readouterr().out


def test_compare_prints_a_paired_table_and_records(tmp_path, capsys):
    db = str(tmp_path / "reg.sqlite")
    assert main(["compare", scen("progressive_bad_candidate"), "--strategies", "canary,progressive",
                 "--set", "duration_s=900", "--registry", db]) == 0
    out = capsys.readouterr().out
    assert "progressive" in out and "rolled_back" in out and "paired" in out
    assert main(["compare", scen("progressive_bad_candidate"), "--strategies", "nope", "--registry", db]) == 2


def test_capacity_prints_both_fleets(capsys):
    assert main(["capacity", scen("autoscaling_diurnal"), "--set", "duration_s=1800"]) == 0
    out = capsys.readouterr().out
    assert "autoscaled" in out and "fixed (8 replicas)" in out and "replica-s" in out
    assert main(["capacity", scen("baseline")]) == 2


def test_sweep_cli_in_process_and_bad_vary(tmp_path, capsys):
    db = str(tmp_path / "reg.sqlite")
    assert main(["sweep", scen("progressive_bad_candidate"), "--seeds", "2", "--workers", "1",
                 "--vary", "faults[0].error_rate=0.08", "--set", "duration_s=900", "--quiet",
                 "--out", str(tmp_path / "sw"), "--registry", db]) == 0
    out = capsys.readouterr().out
    assert "rollback rate" in out and (tmp_path / "sw" / "sweep.parquet").exists()
    assert main(["sweep", scen("progressive_bad_candidate"), "--seeds", "2", "--workers", "1",
                 "--vary", "faults[0].error_rate=2", "--registry", db]) == 2
    assert "faults[0].error_rate" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["runs", "show"], ["sweep", "x.toml", "--vary", "novalue"]])
def test_bad_cli_usage_exits_2_without_traceback(argv, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- robustness
def _tiny(tmp_path, name="tiny"):
    path = tmp_path / "tiny.toml"
    path.write_text(
        f'name = "{name}"\nduration_s = 20\nseed = 3\n[traffic]\nrate_per_s = 5\nusers = 20\n'
        '[models.legacy]\n[models.candidate]\n[strategy]\nkind = "ab"\ncandidate_fraction = 0.5\n',
        encoding="utf-8",
    )
    return str(path)


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_run_out_refuses_a_foreign_directory_before_simulating_and_force_replaces(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["run", _tiny(tmp_path), "--quiet", "--no-registry", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "not a previous run" in _one_line_error(captured.err) and "--force" in captured.err
    assert captured.out == ""  # refused before the simulation printed anything
    assert (out / "notes.txt").read_text() == "keep me"
    assert main(["run", _tiny(tmp_path), "--quiet", "--no-registry", "--out", str(out), "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / ".workbench-run.json").is_file()
    # a previous run is replaced without --force, and none of its files survive
    (out / "extra.parquet").write_bytes(b"stale")  # hand-added file, not in the manifest
    assert main(["run", _tiny(tmp_path), "--quiet", "--no-registry", "--out", str(out)]) == 0
    assert not (out / "extra.parquet").exists()
    capsys.readouterr()
    target = tmp_path / "afile"
    target.write_text("x")
    assert main(["run", _tiny(tmp_path), "--quiet", "--no-registry", "--out", str(target)]) == 2
    assert "not a directory" in _one_line_error(capsys.readouterr().err)


def test_compare_out_is_atomic_and_refuses_foreign_directories(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", _tiny(tmp_path), "--strategies", "ab,canary", "--no-registry", "--out", str(out)]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [".workbench-run.json", "compare.parquet"]
    manifest = json.loads((out / ".workbench-run.json").read_text())
    assert manifest["kind"] == "compare" and manifest["files"] == ["compare.parquet"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x").write_text("x")
    capsys.readouterr()
    assert main([*argv[:-1], str(foreign)]) == 2
    assert "not a previous run" in _one_line_error(capsys.readouterr().err)


def test_disk_full_while_writing_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import errno

    import pandas as pd

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    out = tmp_path / "run"
    assert main(["run", _tiny(tmp_path), "--quiet", "--no-registry", "--out", str(out)]) == 2
    assert "No space left on device" in _one_line_error(capsys.readouterr().err)
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "tiny.toml"]


@pytest.mark.parametrize("kind", ["random", "truncated", "other_program", "future_schema"])
def test_damaged_registry(tmp_path, capsys, kind):
    import sqlite3

    import numpy as np

    from workbench.registry import RunRegistry

    db = tmp_path / "reg.sqlite3"
    if kind == "random":
        db.write_bytes(np.random.default_rng(1).bytes(4096))
    elif kind == "truncated":
        with RunRegistry(db) as runs:
            for i in range(200):
                runs.record_run("run", "s" * 40, "h", i, "0.1.0", {"v": list(range(40))}, None)
        con = sqlite3.connect(db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        db.write_bytes(db.read_bytes()[:20000])
    elif kind == "other_program":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE songs (title TEXT)")
        con.commit()
        con.close()
    else:
        with RunRegistry(db):
            pass
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = 99")
        con.close()
    before = db.read_bytes()
    # listing fails with one line naming the database
    assert main(["runs", "--registry", str(db)]) == 2
    assert str(db) in _one_line_error(capsys.readouterr().err)
    # run and compare still write their outputs and warn that nothing was recorded
    out = tmp_path / "run"
    assert main(["run", _tiny(tmp_path), "--quiet", "--out", str(out), "--registry", str(db)]) == 0
    err = capsys.readouterr().err
    assert "warning: run not recorded" in _one_line_error(err) and str(db) in err
    assert (out / "summary.json").is_file()
    assert main(["compare", _tiny(tmp_path), "--strategies", "ab", "--registry", str(db)]) == 0
    assert "warning: compare not recorded" in _one_line_error(capsys.readouterr().err)
    assert db.read_bytes() == before  # never modified


def test_registry_that_is_a_directory_is_one_line_exit_2(tmp_path, capsys):
    assert main(["runs", "--registry", str(tmp_path)]) == 2
    assert "is a directory" in _one_line_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # nothing created in it
    out = tmp_path / "run"
    assert main(["run", _tiny(tmp_path), "--quiet", "--out", str(out), "--registry", str(tmp_path)]) == 0
    assert "run not recorded" in _one_line_error(capsys.readouterr().err)
    assert (out / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tiny.toml"]


def test_logs_with_nothing_readable_is_an_error_naming_the_file(tmp_path, capsys):
    for content in (b"", b"\xff\xfe\x00garbage\n{not json\n"):
        path = tmp_path / "log.jsonl"
        path.write_bytes(content)
        assert main(["logs", str(path)]) == 2
        line = _one_line_error(capsys.readouterr().err)
        assert str(path) in line and ("empty" in line or "2 malformed lines (line 1, 2)" in line)


def test_control_characters_in_names_are_escaped(tmp_path, capsys):
    db = str(tmp_path / "reg.sqlite3")
    scenario = _tiny(tmp_path, name="x\\u001b[2J\\u001b]0;pwned\\u0007")  # TOML escapes
    assert main(["run", scenario, "--quiet", "--registry", db]) == 0
    assert main(["compare", scenario, "--strategies", "ab", "--registry", db]) == 0
    assert main(["runs", "--registry", db]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "\x1b" not in text and "\x07" not in text
    assert text.count("x\\x1b[2J\\x1b]0;pwned\\x07") >= 3  # run, compare and the runs table
    run_id = captured.out.strip().splitlines()[-1].split()[0]
    assert main(["runs", "show", run_id, "--registry", db]) == 0
    assert "\x1b" not in capsys.readouterr().out


def _log(path, lines):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def test_logs_skips_damaged_lines_with_a_count(tmp_path, capsys):
    good = [json.dumps({"time_s": float(t), "level": "ERROR" if t % 10 == 0 else "INFO",
                        "model": "legacy", "message": f"msg {t}", "status": "ok"}).encode()
            for t in range(100)]
    bad = [b"\xff\xfe not utf-8", b"{not json", b'{"time_s": 1e300, "level": "INFO", "message": "x"}',
           b'{"time_s": NaN, "level": "INFO", "message": "x"}',
           b'{"time_s": -3, "level": "INFO", "message": "x"}',
           b'{"time_s": "5", "level": "INFO", "message": "x"}', b'{"level": "INFO"}']
    path = _log(tmp_path / "log.jsonl", good[:50] + bad + good[50:])
    assert main(["logs", path]) == 0
    captured = capsys.readouterr()
    warning = _one_line_error(captured.err)
    assert "skipped 7 malformed lines (line 51, 52, 53, 54, 55, 56, 57)" in warning and path in warning
    assert "100 entries from t = 0 s to 99 s (7 malformed lines skipped)" in captured.out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--window-s", "0"], "--window-s: must be a finite number > 0"),
        (["--window-s", "-5"], "--window-s: must be a finite number > 0"),
        (["--window-s", "nan"], "--window-s: must be a finite number > 0"),
        (["--window-s", "inf"], "--window-s: must be a finite number > 0"),
        (["--window-s", "1"], "more than the cap of 1,000,000"),
        (["--retention-s", "nan"], "--retention-s: must be a finite number >= 0"),
        (["--retention-s", "-1"], "--retention-s: must be a finite number >= 0"),
    ],
)
def test_logs_bad_windows_are_one_line_errors(tmp_path, capsys, args, expected):
    path = _log(tmp_path / "log.jsonl", [
        b'{"time_s": 0.0, "level": "INFO", "message": "a"}',
        b'{"time_s": 1e12, "level": "INFO", "message": "b"}',
    ])
    assert main(["logs", path, *args]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert expected in line and path in line


def test_logs_retention_changes_the_report(tmp_path, capsys):
    lines = [json.dumps({"time_s": float(t), "level": "INFO", "message": f"tick {t}"}).encode()
             for t in range(1000)]
    path = _log(tmp_path / "log.jsonl", lines)
    assert main(["logs", path]) == 0
    assert "1000 entries from t = 0 s to 999 s" in capsys.readouterr().out
    assert main(["logs", path, "--retention-s", "100"]) == 0
    # entries with time_s >= 999 - 100 = 899 are kept: 899 .. 999 is 101 entries
    assert "101 entries from t = 899 s to 999 s" in capsys.readouterr().out


def test_logs_on_a_directory_without_a_log(tmp_path, capsys):
    (tmp_path / "d" / "log.jsonl").mkdir(parents=True)
    assert main(["logs", str(tmp_path / "d")]) == 2
    assert "not a file" in _one_line_error(capsys.readouterr().err)
