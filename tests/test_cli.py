"""The ``workbench`` command line: ``validate`` and ``run``, and how it treats bad input.

Bad input must give a message naming the file and the field on stderr, exit status 2,
and no traceback. Most tests call :func:`workbench.cli.main` in-process; two
start a real interpreter to check the exit status the shell sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workbench import __version__
from workbench.cli import main

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((REPO / "scenarios").glob("*.toml"))
REQUIRED_COLUMNS = [
    "request_id",
    "time_s",
    "user_id",
    "model",
    "status",
    "queue_ms",
    "latency_ms",
    "prediction",
    "label",
    "label_time_s",
]
STATUSES = {"ok", "error", "timeout", "dropped"}

SMALL = """\
name = "small-ab"
description = "Two models and a 30% A/B arm, for CLI tests."
duration_s = 600
seed = 11

[traffic]
rate_per_s = 40
users = 500

[models.legacy]
latency = { dist = "exponential", mean_ms = 20 }
replicas = 4
timeout_ms = 1000

[models.candidate]
latency = { dist = "constant", ms = 15 }
replicas = 2

[strategy]
kind = "ab"
candidate_fraction = 0.3

[[faults]]
kind = "latency_spike"
target = "candidate"
start_s = 20
duration_s = 10
multiplier = 3.0
"""

BROKEN = """\
name = "broken"
duration_s = 60

[models.legacy]

[models.candidate]
latency = { dist = "lognormal", median_ms = 40, p99_ms = 30 }

[strategy]
kind = "ab"
"""


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture
def broken(tmp_path) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN, encoding="utf-8")
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _subprocess(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ----------------------------------------------------------------------------- validate
def test_validate_prints_ok_per_file(capsys):
    code, out, err = _run(capsys, "validate", *map(str, SCENARIOS))
    assert code == 0, err
    assert out.splitlines() == [f"{p}: ok" for p in SCENARIOS]
    assert err == ""


def test_validate_bad_file_exits_2_naming_file_and_field(capsys, small, broken):
    code, out, err = _run(capsys, "validate", str(small), str(broken))
    assert code == 2
    assert out.splitlines() == [f"{small}: ok"], "good files are still reported"
    assert f"{broken}: models.candidate.latency.p99_ms: must be greater than median_ms" in err
    assert "Traceback" not in err and "Traceback" not in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            'name = "x"\nduration_s = 60\n[models.legacy]\nlaetncy = 3\n',
            "models.legacy.laetncy: unknown key",
        ),
        (
            'name = "x"\nduration_s = 60\n[models.legacy]\n[strategy]\nkind = "yolo"\n',
            "strategy.kind: unknown kind 'yolo'",
        ),
        ('name = "x"\nduration_s = [60,\n', "not valid TOML"),
    ],
)
def test_validate_reports_each_kind_of_error(capsys, tmp_path, content, expected):
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    code, out, err = _run(capsys, "validate", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"{path}: ")
    assert expected in err
    assert "Traceback" not in err


def test_validate_missing_file(capsys, tmp_path):
    missing = tmp_path / "missing.toml"
    code, _, err = _run(capsys, "validate", str(missing))
    assert code == 2
    assert f"{missing}: file not found" in err


def test_usage_errors_exit_2(capsys):
    for argv in ([], ["validate"], ["frobnicate"], ["run"], ["run", "x.toml", "--seed", "abc"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
        assert "usage:" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


# ----------------------------------------------------------------------------- run
def test_run_prints_summary_and_writes_the_run(capsys, small, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = _run(
        capsys,
        "run",
        str(small),
        "--set",
        "traffic.rate_per_s=10",
        "--set",
        "duration_s=60",
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    assert "Traceback" not in err
    # a readable table: a header and one row per model
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["model", "requests"])
    for column in ("p50", "p95", "p99", "non-ok", "MAE"):
        assert column in header
    table = lines[lines.index(header):lines.index(header) + 3]  # the KPI table comes first
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert set(rows) == {"legacy", "candidate"}
    assert "small-ab" in out

    for name in ("requests.parquet", "events.parquet", "summary.json", "report.md"):
        assert (out_dir / name).is_file(), name
    requests = pd.read_parquet(out_dir / "requests.parquet")
    events = pd.read_parquet(out_dir / "events.parquet")
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    report = (out_dir / "report.md").read_text(encoding="utf-8")

    assert set(REQUIRED_COLUMNS) <= set(requests.columns)
    n = len(requests)
    # the overrides took effect: 60 s at 10/s is Poisson(600); +-5 sd is 478..722
    assert 478 <= n <= 722
    assert requests["time_s"].between(0, 60, inclusive="left").all()
    assert requests["request_id"].tolist() == list(range(n))
    assert set(requests["status"].astype(str)) <= STATUSES
    assert set(requests["model"].astype(str)) <= {"legacy", "candidate"}
    # conservation: the summary's counts are the table's counts and add up to the arrivals
    assert summary["requests"] == n
    assert sum(summary["status_counts"].values()) == n
    counts = requests["status"].astype(str).value_counts()
    for status, k in summary["status_counts"].items():
        assert counts.get(status, 0) == k
    assert rows["legacy"][1] == str(summary["models"]["legacy"]["requests"])
    assert summary["scenario"] == "small-ab" and summary["seed"] == 11
    # the fault window is in the events, with its start and end
    assert {"fault_start", "fault_end"} <= set(events["kind"])
    assert events.loc[events["kind"] == "fault_start", "time_s"].tolist() == [20.0]
    assert report.startswith("# Run report: small-ab")
    assert "legacy" in report and "candidate" in report


def test_run_is_reproducible_and_seed_changes_traffic(capsys, small, tmp_path):
    frames = {}
    for tag, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        code, _, err = _run(
            capsys,
            "run",
            str(small),
            "--seed",
            seed,
            "--set",
            "duration_s=30",
            "--out",
            str(tmp_path / tag),
        )
        assert code == 0, err
        frames[tag] = pd.read_parquet(tmp_path / tag / "requests.parquet")
    pd.testing.assert_frame_equal(frames["a"], frames["b"])
    assert not frames["a"]["time_s"].equals(frames["c"]["time_s"])
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["seed"] == 5


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("traffic.ratee=10", "traffic.ratee: unknown key"),
        ("faults[4].multiplier=2", "faults[4]: no such list element"),
        ("traffic..rate_per_s=10", "bad override path"),
        ("traffic.rate_per_s=-5", "traffic.rate_per_s: input should be greater than 0"),
        ("traffic.rate_per_s=fast", "traffic.rate_per_s: expected a number, got text 'fast'"),
        ("models.candidate.latency.ms=-1", "models.candidate.latency.ms"),
        ("traffic.rate_per_s", "expected key=value"),
    ],
)
def test_run_with_a_bad_set_exits_2(capsys, small, tmp_path, setting, expected):
    out_dir = tmp_path / "out"
    code, _, err = _run(capsys, "run", str(small), "--set", setting, "--out", str(out_dir))
    assert code == 2
    assert expected in err
    assert "Traceback" not in err
    assert not out_dir.exists(), "nothing is written for a bad scenario"


def test_run_with_a_bad_set_names_the_file(capsys, small):
    code, _, err = _run(capsys, "run", str(small), "--set", "traffic.ratee=10")
    assert code == 2
    assert str(small) in err


def test_run_missing_or_broken_file_exits_2(capsys, tmp_path, broken):
    code, _, err = _run(capsys, "run", str(tmp_path / "nope.toml"))
    assert code == 2 and "file not found" in err
    code, _, err = _run(capsys, "run", str(broken))
    assert code == 2 and f"{broken}: models.candidate.latency.p99_ms" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "setting",
    ["duration_s=inf", "traffic.rate_per_s=inf", "traffic.users=1000000000000"],
)
def test_run_with_absurd_numbers_exits_2_without_traceback(capsys, small, setting):
    """BUG: these pass validation (inf satisfies ``gt=0``; ``users`` has no upper bound)
    and then crash the engine (``ValueError: lam value too large``, ``MemoryError``),
    which the CLI prints as a traceback with exit status 1."""
    code, _, err = _run(capsys, "run", str(small), "--set", setting)
    assert code == 2
    assert setting.split("=")[0] in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- real processes
def test_subprocess_validate_exit_status_and_no_traceback(tmp_path, small, broken):
    ok = _subprocess("validate", str(small), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{small}: ok"
    bad = _subprocess("validate", str(small), str(broken), cwd=tmp_path)
    assert bad.returncode == 2
    assert (
        f"{broken}: models.candidate.latency.p99_ms: must be greater than median_ms" in bad.stderr
    )
    assert "Traceback" not in bad.stderr


def test_subprocess_run_writes_a_readable_run(tmp_path, small):
    out_dir = tmp_path / "run"
    proc = _subprocess(
        "run",
        str(small),
        "--set",
        "traffic.rate_per_s=10",
        "--set",
        "duration_s=60",
        "--out",
        str(out_dir),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "legacy" in proc.stdout and "candidate" in proc.stdout
    requests = pd.read_parquet(out_dir / "requests.parquet")
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert len(requests) == summary["requests"] > 0
    bad = _subprocess("run", str(small), "--set", "traffic.rate_per_s=-1", cwd=tmp_path)
    assert bad.returncode == 2
    assert f"{small}: traffic.rate_per_s" in bad.stderr
    assert "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- strict JSON
def _reject(token):
    raise ValueError(f"non-standard JSON token {token}")


def test_summary_json_is_strict_when_kpis_are_undefined(capsys, tmp_path):
    """A model that serves nothing has undefined (NaN) KPIs; they are written as null."""
    path = tmp_path / "single.toml"
    path.write_text(
        'name = "idle-candidate"\nduration_s = 30\nseed = 2\n[traffic]\nrate_per_s = 5\nusers = 50\n'
        '[models.legacy]\n[models.candidate]\n[strategy]\nkind = "single"\nmodel = "legacy"\n',
        encoding="utf-8",
    )
    out_dir = tmp_path / "out"
    code, _, err = _run(capsys, "run", str(path), "--no-registry", "--quiet", "--out", str(out_dir))
    assert code == 0, err
    text = (out_dir / "summary.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    summary = json.loads(text, parse_constant=_reject)
    cand = summary["models"]["candidate"]
    assert cand["requests"] == 0 and cand["error_rate"] is None and cand["latency_p99_ms"] is None
    manifest = json.loads((out_dir / ".workbench-run.json").read_text(), parse_constant=_reject)
    assert manifest["kind"] == "run" and "summary.json" in manifest["files"]


# ----------------------------------------------------------------------------- --seeds
def _short(small) -> list[str]:
    return [str(small), "--set", "duration_s=60", "--set", "traffic.rate_per_s=10"]


def test_run_seeds_prints_the_risk_summary_and_writes_both_tables(capsys, small, tmp_path):
    from workbench.registry import RunRegistry

    out_dir, db = tmp_path / "risk", tmp_path / "reg.sqlite"
    code, out, err = _run(capsys, "run", *_short(small), "--seeds", "3", "--quiet", "--out", str(out_dir),
                          "--registry", str(db))
    assert code == 0, err
    assert "'small-ab'  3 seeds (0..2)" in out
    lines = out.splitlines()
    assert lines[1].split() == ["ab"]  # one column: the scenario's own strategy
    assert any(line.split()[:3] == ["candidate", "bad", "(a"] for line in lines)  # the latency spike
    assert any(line.startswith("catches a bad candidate") and "[" in line for line in lines)
    assert "Wilson" in out and "requests.parquet" not in out
    runs = pd.read_parquet(out_dir / "runs.parquet")
    summary = pd.read_parquet(out_dir / "summary.parquet")
    assert list(runs["seed"]) == [0, 1, 2] and list(summary["strategy"]) == ["ab"]
    assert {"detection_rate_low", "blast_radius_users_median", "error_rate_high"} <= set(summary.columns)
    manifest = json.loads((out_dir / ".workbench-run.json").read_text())
    assert manifest["kind"] == "run" and manifest["files"] == ["runs.parquet", "summary.parquet"]
    with RunRegistry(db) as reg:
        rec = reg.get_run(reg.list_runs()["run_id"].iloc[0])
    assert rec.kind == "run" and rec.seed == [0, 1, 2] and rec.kpis["ab"]["runs"] == 3


def test_compare_seeds_prints_one_column_per_strategy(capsys, small, tmp_path):
    out_dir = tmp_path / "cmp"
    code, out, err = _run(capsys, "compare", *_short(small), "--strategies", "ab,canary", "--seeds", "2",
                          "--no-registry", "--out", str(out_dir))
    assert code == 0, err
    assert "paired: the same seeds for every strategy" in out
    assert out.splitlines()[1].split() == ["ab", "canary"]
    runs = pd.read_parquet(out_dir / "compare.parquet")
    assert list(zip(runs["strategy"], runs["seed"], strict=True)) == [("ab", 0), ("ab", 1),
                                                                     ("canary", 0), ("canary", 1)]
    assert len(pd.read_parquet(out_dir / "summary.parquet")) == 2


def test_one_seed_stays_the_default_output(capsys, small):
    code, out, _ = _run(capsys, "compare", *_short(small), "--strategies", "ab,canary", "--no-registry")
    assert code == 0 and "seed 11  (paired: same traffic for every row)" in out
    assert "Wilson" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0"], "error: --seeds: must be at least 1, got 0"),
        (["--seeds=-3"], "error: --seeds: must be at least 1, got -3"),
        (["--seeds", "100001"], "error: --seeds: at most 100,000"),
        (["--seeds", "2", "--seed", "4"], "error: --seed, --seeds: give one of them"),
    ],
)
@pytest.mark.parametrize("command", ["run", "compare"])
def test_bad_seed_counts_exit_2_with_one_line(capsys, small, tmp_path, command, argv, message):
    out_dir = tmp_path / "never"
    code, out, err = _run(capsys, command, *_short(small), *argv, "--no-registry", "--out", str(out_dir))
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and err.startswith(message)
    assert "Traceback" not in err and not out_dir.exists()


# ---------------------------------------------------------------- rehearsing a team's rollout

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_import_argo_writes_a_scenario_that_runs_and_exports_back(tmp_path, capsys):
    out = tmp_path / "guestbook.toml"
    code = main(["import", "argo", str(EXAMPLES / "argo" / "canary-background-analysis.yaml"),
                 str(EXAMPLES / "argo" / "success-rate-template.yaml"), "--base", str(EXAMPLES / "argo" / "base.toml"),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "warning:" in err and "spec.replicas" in err
    from workbench.rollouts import from_argo
    from workbench.scenario import load_scenario

    scenario = load_scenario(out)
    assert scenario.strategy.background_analysis == ("success-rate",)
    assert main(["export", "argo", str(out)]) == 0
    text = capsys.readouterr().out
    assert from_argo(text, base=scenario)[0] == scenario
    assert main(["export", "flagger", str(out), "-o", str(tmp_path / "canary.yaml")]) == 0
    assert "kind: Canary" in (tmp_path / "canary.yaml").read_text()


def test_import_flagger_and_a_bad_spec_exits_2_naming_file_and_line(tmp_path, capsys):
    code = main(["import", "flagger", str(EXAMPLES / "flagger" / "podinfo-session-affinity.yaml"),
                 "--base", str(EXAMPLES / "flagger" / "base.toml")])
    captured = capsys.readouterr()
    # sessionAffinity is a user split; a check without values fails, as in Flagger
    assert code == 0 and 'split = "users"' in captured.out and 'inconclusive = "fail"' in captured.out
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\nspec:\n"
                   "  strategy:\n    canary:\n      steps:\n      - setWeight: 150\n")
    code = main(["import", "argo", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err and ":8:" in err and "Traceback" not in err


def test_calibrate_writes_the_log_s_traffic_and_latency(tmp_path, capsys):
    out = tmp_path / "calibrated.toml"
    code = main(["calibrate", str(EXAMPLES / "calibrate" / "request_log.csv"), "--time-col", "timestamp",
                 "--latency-col", "latency_ms", "--status-col", "status", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "lognormal fit" in err and "\\n" not in err
    from workbench.scenario import load_scenario

    scenario = load_scenario(out)
    assert scenario.traffic.pattern == "trace" and scenario.models["legacy"].latency.dist == "empirical"
    code = main(["calibrate", str(EXAMPLES / "calibrate" / "request_log.csv"), "--time-col", "nope",
                 "--latency-col", "latency_ms"])
    err = capsys.readouterr().err
    assert code == 2 and "time_col 'nope': no such column" in err
    assert main(["calibrate", "--time-col", "t"]) == 2


def test_plan_prints_the_pareto_set_and_exports_the_recommendation(tmp_path, capsys):
    scenario = tmp_path / "small.toml"
    scenario.write_text('''name = "small"
duration_s = 240
[traffic]
rate_per_s = 40
users = 5000
[models.legacy]
error_rate = 0.002
[models.candidate]
error_rate = 0.002
[strategy]
kind = "progressive"
steps = [{ weight = 10, pause_s = 60 }, { weight = 100 }]
interval_s = 30
gates = [{ metric = "error_rate", threshold = 0.05, min_samples = 50 }]
[[faults]]
kind = "error_burst"
target = "candidate"
start_s = 0
error_rate = 0.01
''')
    out = tmp_path / "plan.yaml"
    code = main(["plan", str(scenario), "--bad", "faults[0].error_rate=0.5", "--seeds", "3", "--recheck-seeds", "2",
                 "--max-false-rollback", "0.5", "--min-detection", "0.5", "--quiet", "--export", "argo",
                 "-o", str(out), "--set", "duration_s=200"])
    printed = capsys.readouterr().out
    assert code in (0, 1) and "Pareto front" in printed and "Recheck on 2 fresh seeds" in printed
    assert "kind: Rollout" in out.read_text()
    assert main(["plan", str(scenario), "--bad", "nope", "--quiet"]) == 2


# ----------------------------------------------------------------------------- compare, runs, rerun, report
def test_compare_fits_120_columns_and_wide_prints_every_column(capsys, small):
    from workbench.experiments import compare

    code, out, _ = _run(capsys, "compare", *_short(small), "--strategies", "ab,canary,progressive,blue_green",
                        "--no-registry")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 120
    header = out.splitlines()[1].split()
    assert header[:2] == ["strategy", "state"] and "hurt" in header
    table = compare(str(small), ["ab", "canary"], overrides={"duration_s": 60, "traffic.rate_per_s": 10})
    row = out.splitlines()[2].split()
    assert row[0] == "ab" and row[2] == f"{table['candidate_requests'].iloc[0]:,}"
    code, wide, _ = _run(capsys, "compare", *_short(small), "--strategies", "ab,canary", "--no-registry", "--wide")
    assert code == 0 and "prediction_mae" in wide and "errors_candidate" in wide


def test_runs_show_and_diff_two_recorded_runs(capsys, small, tmp_path):
    from workbench.registry import RunRegistry

    reg = str(tmp_path / "r.sqlite")
    for seed in ("1", "2"):
        assert _run(capsys, "run", *_short(small), "--seed", seed, "--registry", reg)[0] == 0
    with RunRegistry(reg) as r:
        ids = list(r.list_runs()["run_id"])[::-1]  # oldest first
        a, b = (r.get_run(i) for i in ids)
    code, out, _ = _run(capsys, "runs", "show", ids[0][:6], "--registry", reg)
    assert code == 0 and f"run {ids[0]}" in out and "per model" in out
    model_row = next(line for line in out.splitlines() if line.strip().startswith("requests"))
    assert model_row.split()[1:] == [f"{a.kpis['models'][m]['requests']:,}" for m in ("candidate", "legacy")]
    code, out, _ = _run(capsys, "runs", "diff", ids[0], ids[1], "--registry", reg)
    assert code == 0 and "same scenario content" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("requests "))
    assert line.split()[1:] == [f"{a.kpis['requests']:,}", f"{b.kpis['requests']:,}",
                                f"{b.kpis['requests'] - a.kpis['requests']:+,}"]
    code, out, _ = _run(capsys, "runs", "diff", ids[0], ids[0], "--registry", reg)
    assert code == 0 and "identical KPIs" in out
    with pytest.raises(SystemExit) as exc:  # a usage error, as argparse's own
        main(["runs", "diff", ids[0], "--registry", reg])
    assert exc.value.code == 2 and "give two run ids" in capsys.readouterr().err


def test_rerun_reproduces_a_written_run_and_flags_a_changed_one(capsys, small, tmp_path):
    out_dir = tmp_path / "run"
    assert _run(capsys, "run", *_short(small), "--out", str(out_dir), "--no-registry")[0] == 0
    code, out, _ = _run(capsys, "run", "--rerun", str(out_dir), "--no-registry")
    assert code == 0 and "the summary is identical" in out and "seed 11" in out
    summary = json.loads((out_dir / "summary.json").read_text())
    summary["requests"] += 1  # as if another version of the tool had counted differently
    (out_dir / "summary.json").write_text(json.dumps(summary))
    code, out, _ = _run(capsys, "run", "--rerun", str(out_dir), "--no-registry")
    assert code == 1 and "1 of" in out and "although scenario and seed are the same" in out
    code, out, _ = _run(capsys, "run", "--rerun", str(out_dir), "--seed", "3", "--no-registry")
    assert code == 0 and "expected: seed or --set changed" in out
    code, _, err = _run(capsys, "run", "--rerun", str(tmp_path / "nowhere"), "--no-registry")
    assert code == 2 and "nowhere" in err and "Traceback" not in err
    code, _, err = _run(capsys, "run", str(small), "--rerun", str(out_dir), "--no-registry")
    assert code == 2 and "not both" in err


def test_report_writes_a_self_contained_html_page(capsys, small, tmp_path):
    out_dir = tmp_path / "run"
    assert _run(capsys, "run", *_short(small), "--out", str(out_dir), "--no-registry")[0] == 0
    code, out, _ = _run(capsys, "report", str(out_dir), "-o", str(tmp_path / "r.html"))
    assert code == 0 and "r.html" in out
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "small-ab" in page and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page
    code, _, err = _run(capsys, "report", str(tmp_path), "-o", str(tmp_path / "x.html"))
    assert code == 2 and str(tmp_path) in err


def test_capacity_lists_the_autoscaler_s_scale_events(capsys):
    code, out, _ = _run(capsys, "capacity", str(REPO / "scenarios" / "autoscaling_diurnal.toml"),
                        "--set", "duration_s=2000")  # down in the trough, up again after 1500 s
    assert code == 0 and "scale events of the autoscaled fleet" in out
    events = [line for line in out.splitlines() if " -> " in line and "replicas" in line]
    ups = sum(int(x.split(" -> ")[1].split()[0]) > int(x.split(":")[1].split("->")[0]) for x in events)
    header, autoscaled = out.splitlines()[1], out.splitlines()[2].split()
    assert header.endswith("scale up  scale down") and autoscaled[0] == "autoscaled"
    assert autoscaled[-2:] == [str(ups), str(len(events) - ups)] and 0 < ups < len(events)


def test_the_module_docstring_lists_every_command():
    import workbench.cli as cli

    names = set(cli.build_parser()._subparsers._group_actions[0].choices)
    doc_commands = {line.split()[0] for line in cli.__doc__.splitlines() if line and not line.startswith(" ")}
    assert len(names) >= 12 and names <= doc_commands, names - doc_commands
