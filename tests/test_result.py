"""RunResult.from_dir: a run directory reads back as the run that wrote it, and bad
directories are refused with the directory and the file named."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

import workbench
from workbench.outputs import MANIFEST_NAME, OutputDirError
from workbench.result import RunDirError, RunResult
from workbench.scenario import load_scenario


def _assert_same_run(back: RunResult, run: RunResult) -> None:
    assert back.scenario == run.scenario
    assert back.seed == run.seed
    # summary.json is strict JSON: compare the JSON forms (NaN written as null on both sides)
    assert json.loads(back.summary.to_json()) == json.loads(run.summary.to_json())
    for name in ("requests", "shadow", "events", "incidents"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(run, name))
    assert sorted(back.tables) == sorted(run.tables)
    for name, frame in run.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], frame)


@pytest.fixture(scope="module")
def bad_run(scenarios_dir):
    scenario = load_scenario(scenarios_dir / "progressive_bad_candidate.toml").with_overrides(
        {"duration_s": 600, "traffic.rate_per_s": 10})
    return workbench.run(scenario)


@pytest.fixture(scope="module")
def bad_dir(bad_run, tmp_path_factory):
    return bad_run.to_dir(tmp_path_factory.mktemp("runs") / "bad")


def test_round_trip_of_a_rolled_back_progressive_run(bad_run, bad_dir):
    back = RunResult.from_dir(bad_dir)
    _assert_same_run(back, bad_run)
    # the run itself: seed 12 of the scenario, rolled back by the strategy's gate at 600 s
    assert back.seed == 12
    assert back.summary.strategy.final_state == "rolled_back"
    assert back.summary.rollback.time_s == 600.0
    assert back.incidents["trigger"].tolist() == ["strategy:progressive"]
    assert sorted(back.tables) == ["resources", "steps"]
    assert back.summary.requests == len(back.requests) == 5909
    # the shadow table is empty here: its statuses keep their four categories
    assert back.shadow.empty
    assert list(back.shadow["status"].cat.categories) == ["ok", "error", "timeout", "dropped"]


def test_round_trip_of_a_shadow_run_and_accepts_a_str_path(scenarios_dir, tmp_path):
    scenario = load_scenario(scenarios_dir / "shadow_candidate_crashes.toml").with_overrides(
        {"duration_s": 120, "traffic.rate_per_s": 10})
    run = workbench.run(scenario)
    run.to_dir(tmp_path / "shadow")
    back = RunResult.from_dir(str(tmp_path / "shadow"))
    _assert_same_run(back, run)
    assert len(back.shadow) == run.summary.shadow.mirrored > 0


def test_a_second_write_reads_back_the_same(bad_dir, tmp_path):
    back = RunResult.from_dir(bad_dir)
    back.to_dir(tmp_path / "again")
    _assert_same_run(RunResult.from_dir(tmp_path / "again"), back)


def _copy(bad_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(bad_dir, target)
    return target


def test_missing_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(RunDirError, match="no such run directory") as info:
        RunResult.from_dir(missing)
    assert str(missing) in str(info.value)
    # a ValueError, and the CLI's output-directory error (exit status 2)
    assert isinstance(info.value, ValueError) and isinstance(info.value, OutputDirError)


def test_a_file_is_not_a_run_directory(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("{}")
    with pytest.raises(RunDirError, match="not a directory"):
        RunResult.from_dir(path)


def test_directory_without_manifest(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RunDirError) as info:
        RunResult.from_dir(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert MANIFEST_NAME in str(info.value) and "not a run directory" in str(info.value)


def test_output_of_another_kind(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    manifest["kind"] = "compare"
    (target / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(RunDirError, match="holds a compare output, not a run"):
        RunResult.from_dir(target)


def test_corrupt_summary_names_the_file(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    (target / "summary.json").write_text('{"scenario": "x", "seed": 1,')
    with pytest.raises(RunDirError) as info:
        RunResult.from_dir(target)
    assert str(info.value).startswith(f"{target}: summary.json: not valid JSON")


def test_summary_missing_a_field(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    data = json.loads((target / "summary.json").read_text())
    del data["models"]
    (target / "summary.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError, match=r"summary\.json: field 'models' is missing"):
        RunResult.from_dir(target)


def test_summary_of_the_wrong_shape(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    (target / "summary.json").write_text("[1, 2]")
    with pytest.raises(RunDirError, match=r"summary\.json: expected a JSON object, got list"):
        RunResult.from_dir(target)


def test_missing_summary(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    (target / "summary.json").unlink()
    with pytest.raises(RunDirError, match=rf"^{target}: summary\.json: missing$"):
        RunResult.from_dir(target)


def test_invalid_scenario_names_the_file_and_the_field(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    data = json.loads((target / "scenario.json").read_text())
    data["scenario"]["duration_s"] = -5
    (target / "scenario.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError) as info:
        RunResult.from_dir(target)
    text = str(info.value)
    assert text.startswith(f"{target}: scenario.json: scenario: ")
    assert "duration_s" in text


@pytest.mark.parametrize("seed", [-1, "3", None, True])
def test_bad_seed(bad_dir, tmp_path, seed):
    target = _copy(bad_dir, tmp_path)
    data = json.loads((target / "scenario.json").read_text())
    data["seed"] = seed
    (target / "scenario.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError, match=r"scenario\.json: seed: expected a non-negative integer"):
        RunResult.from_dir(target)


def test_missing_table(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    (target / "events.parquet").unlink()
    with pytest.raises(RunDirError, match=rf"^{target}: events\.parquet: missing$"):
        RunResult.from_dir(target)


@pytest.mark.parametrize("name", ["requests", "steps"])
def test_corrupt_table_names_the_file(bad_dir, tmp_path, name):
    target = _copy(bad_dir, tmp_path)
    (target / f"{name}.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(RunDirError) as info:
        RunResult.from_dir(target)
    assert str(info.value).startswith(f"{target}: {name}.parquet: not a readable Parquet table")


def test_unknown_status_is_refused(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    frame = pd.read_parquet(target / "requests.parquet")
    frame["status"] = frame["status"].astype(str).replace({"error": "exploded"}).astype("category")
    frame.to_parquet(target / "requests.parquet", index=False)
    with pytest.raises(RunDirError, match=r"requests\.parquet: status: unknown value\(s\) \['exploded'\]"):
        RunResult.from_dir(target)


def test_other_parquet_files_become_tables(bad_dir, tmp_path):
    target = _copy(bad_dir, tmp_path)
    extra = pd.DataFrame({"time_s": [1.0, 2.0], "value": [3, 4]})
    extra.to_parquet(target / "custom.parquet", index=False)
    back = RunResult.from_dir(target)
    assert sorted(back.tables) == ["custom", "resources", "steps"]
    pd.testing.assert_frame_equal(back.tables["custom"], extra)
