"""CLI commands over many runs: runs registry, compare, sweep, capacity, logs."""

from __future__ import annotations

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
    assert "autoscaled" in out and "fixed (8 replicas)" in out and "replica_seconds" in out
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
