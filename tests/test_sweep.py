"""Monte-Carlo sweeps (workbench.experiments.sweep) and operating characteristics."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

import workbench.experiments.sweep as sweep_mod
from workbench.experiments.characteristics import (
    compare_policies,
    format_characteristics,
    operating_characteristics,
    summarise_values,
    wilson_interval,
)
from workbench.experiments.sweep import read_sweep, sweep, sweep_tasks
from workbench.scenario import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "scenarios" / "progressive_good_candidate.toml"
BAD = ROOT / "scenarios" / "progressive_bad_candidate.toml"
# short runs: the good candidate is promoted at 900 s (three 300 s steps); the bad
# one's fault starts at 420 s and it is rolled back by 600 s
GOOD_SHORT = {"duration_s": 960}
BAD_SHORT = {"duration_s": 720}


# --------------------------------------------------------------------------- helpers
def _children() -> dict[int, str]:
    """Live child processes of this one (pid -> command line), zombies excluded."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is installed with distributed
        out = {}
        me = str(os.getpid())
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[1] == me and stat[0] != "Z":
                    out[int(d.name)] = (d / "cmdline").read_text().replace("\0", " ")
            except OSError:
                continue
        return out
    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out[p.pid] = " ".join(p.cmdline())
        except psutil.Error:
            continue
    return out


def _workers(children: dict[int, str]) -> set[int]:
    # multiprocessing's resource tracker lives as long as this process: not a worker
    return {pid for pid, cmd in children.items() if "resource_tracker" not in cmd}


# --------------------------------------------------------------------------- intervals
@pytest.mark.parametrize(("k", "n"), [(0, 8), (3, 10), (8, 8), (17, 200), (1, 1)])
def test_wilson_interval_matches_statsmodels(k, n):
    r = wilson_interval(k, n)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert r.rate == k / n
    assert r.lower == pytest.approx(lo, abs=1e-12)
    assert r.upper == pytest.approx(hi, abs=1e-12)


def test_wilson_zero_successes_closed_form_and_bad_input():
    z2 = stats.norm.ppf(0.975) ** 2
    assert wilson_interval(0, 8).upper == pytest.approx(z2 / (8 + z2))  # 0.3244
    assert math.isnan(wilson_interval(0, 0).rate)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 4, confidence=1.5)


def test_summarise_values_t_interval_matches_scipy():
    x = [60.0, 60.0, 120.0, 60.0, 180.0, float("nan")]
    s = summarise_values(x)
    finite = np.array(x[:5])
    lo, hi = stats.t.interval(0.95, 4, loc=finite.mean(), scale=stats.sem(finite))
    assert (s.n, s.mean, s.median) == (5, 96.0, 60.0)
    assert s.p90 == pytest.approx(np.percentile(finite, 90))
    assert (s.lower, s.upper) == (pytest.approx(lo), pytest.approx(hi))
    one = summarise_values([5.0])
    assert one.mean == 5.0 and math.isnan(one.lower)


# --------------------------------------------------------------------------- grid
def test_sweep_tasks_grid_order_and_stable_keys():
    tasks, cols = sweep_tasks([3, 1], {"a.x": [2, 1.5], "b": ["p", "q"]})
    assert cols == ["a.x", "b"]
    assert [(t.params["a.x"], t.params["b"], t.seed) for t in tasks] == [
        (2.0, "p", 3), (2.0, "p", 1), (2.0, "q", 3), (2.0, "q", 1),
        (1.5, "p", 3), (1.5, "p", 1), (1.5, "q", 3), (1.5, "q", 1)]
    again, _ = sweep_tasks([3, 1], {"a.x": [2, 1.5], "b": ["p", "q"]})
    assert [t.key for t in tasks] == [t.key for t in again]  # no process-salted hash()
    assert len({t.key for t in tasks}) == len(tasks)


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [({"seeds": 0}, "seeds"), ({"seeds": [1, 1]}, "seeds"), ({"seeds": [-1]}, "seeds"),
     ({"seeds": 2, "vary": {"traffic.rate_per_s": "abc"}}, "vary"),
     ({"seeds": 2, "vary": {"traffic.rate_per_s": []}}, "vary"),
     ({"seeds": 2, "workers": 0}, "workers"),
     ({"seeds": 2, "client": object(), "scheduler": "tcp://127.0.0.1:1"}, "scheduler"),
     ({"seeds": 2, "scheduler": "localhost"}, "scheduler")],
)
def test_bad_arguments_name_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        sweep(GOOD, record=False, **kwargs)


def test_invalid_grid_point_fails_before_running():
    with pytest.raises(ScenarioError, match="rate_per_s"):
        sweep(GOOD, seeds=2, vary={"traffic.rate_per_s": [10, -1]}, workers=1, record=False)


# --------------------------------------------------------------------------- acceptance
def test_good_candidate_false_rollback_rate_with_interval():
    df = sweep(GOOD, seeds=8, overrides=GOOD_SHORT, workers=1, record=False)
    assert list(df["seed"]) == list(range(8))
    assert (df["candidate_faults"] == 0).all()
    oc = operating_characteristics(df)
    assert len(oc) == 1
    row = oc.iloc[0]
    assert bool(row["good_candidate"]) and row["runs"] == 8
    rollbacks = int((df["final_state"] == "rolled_back").sum())
    lo, hi = proportion_confint(rollbacks, 8, method="wilson")
    assert row["false_rollback_rate"] == rollbacks / 8
    assert (row["false_rollback_rate_lo"], row["false_rollback_rate_hi"]) == (
        pytest.approx(lo), pytest.approx(hi))
    # the scenario's claim: failure_limit 1 keeps a noisy window from rolling back a
    # good model, so no seed rolls back and the interval is [0, z^2/(n+z^2)]
    assert rollbacks == 0 and row["false_rollback_rate_hi"] == pytest.approx(0.3244, abs=1e-4)
    assert math.isnan(row["detection_rate"])
    # promotion after three 300 s steps: 900 s in every run
    assert row["promotion_rate"] == 1.0
    assert row["time_to_full_rollout_s_median"] == 900.0 and row["time_to_full_rollout_s_n"] == 8
    assert row["blast_radius_requests_mean"] == pytest.approx(df["bad_requests_candidate"].mean())
    assert "false-rollback rate" in format_characteristics(oc)


def test_bad_candidate_detection_rate_and_delay_distribution():
    df = sweep(BAD, seeds=6, vary={"faults[0].error_rate": [0.002, 0.08]}, overrides=BAD_SHORT,
               workers=1, record=False)
    oc = operating_characteristics(df)  # grouped by the varied fault size
    assert list(oc["faults[0].error_rate"]) == [0.002, 0.08]
    assert not oc["good_candidate"].any()
    none, big = oc.iloc[0], oc.iloc[1]
    # a "fault" at legacy's own error rate is no fault: nothing to detect
    assert none["detection_rate"] == 0.0 and none["time_to_detect_s_n"] == 0
    # 8% errors against a 2% gate: every seed rolls back
    assert big["detection_rate"] == 1.0
    lo, hi = proportion_confint(6, 6, method="wilson")
    assert (big["detection_rate_lo"], big["detection_rate_hi"]) == (pytest.approx(lo), pytest.approx(hi))
    hit = df[df["faults[0].error_rate"] == 0.08]
    ttd = hit["time_to_detect_s"].to_numpy()
    ttr = hit["time_to_rollback_s"].to_numpy()
    # analyses every 60 s from the step start at 300 s; the fault starts at 420 s, so
    # the first failing analysis is a whole number of intervals after it, at least one
    assert np.all(ttd >= 60) and np.all(ttd % 60 == 0)
    # failure_limit 1 with consecutive counting: rollback at the second failing analysis
    assert np.all(ttr >= ttd + 60)
    assert big["time_to_detect_s_mean"] == pytest.approx(ttd.mean())
    assert big["time_to_detect_s_median"] == pytest.approx(np.median(ttd))
    assert big["time_to_detect_s_p90"] == pytest.approx(np.percentile(ttd, 90))
    assert big["time_to_rollback_s_median"] == pytest.approx(np.median(ttr))
    assert big["blast_radius_requests_mean"] == pytest.approx(hit["bad_requests_candidate"].mean())
    assert big["blast_radius_requests_mean"] > none["blast_radius_requests_mean"]


def test_same_seeds_identical_with_one_worker_and_two_and_cluster_closes(monkeypatch):
    seen: dict[str, object] = {}
    original = sweep_mod._run_dask

    def spy(client, *args, **kwargs):
        seen["workers"] = len(client.nthreads())
        seen["pids"] = _workers(_children()) - before
        return original(client, *args, **kwargs)

    monkeypatch.setattr(sweep_mod, "_run_dask", spy)
    one = sweep(BAD, seeds=4, overrides=BAD_SHORT, workers=1, record=False)
    assert "workers" not in seen  # one worker runs in process
    before = _workers(_children())
    two = sweep(BAD, seeds=4, overrides=BAD_SHORT, workers=2, record=False)
    assert seen["workers"] == 2 and len(seen["pids"]) >= 2  # really ran on a 2-process cluster
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    deadline = time.monotonic() + 10
    while (left := _workers(_children()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"worker processes left behind: {left}"


def test_existing_cluster_by_client_and_by_scheduler_address():
    import logging

    from distributed import Client, LocalCluster

    reference = sweep(GOOD, seeds=[5, 2], overrides=GOOD_SHORT, workers=1, record=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        with Client(cluster, set_as_default=False) as client:
            via_client = sweep(GOOD, seeds=[5, 2], overrides=GOOD_SHORT, client=client, record=False)
            assert client.status == "running"  # a client we were given stays open
        via_address = sweep(GOOD, seeds=[5, 2], overrides=GOOD_SHORT,
                            scheduler=cluster.scheduler_address, record=False)
    pd.testing.assert_frame_equal(reference, via_client, check_exact=True)
    pd.testing.assert_frame_equal(reference, via_address, check_exact=True)


def test_interrupted_sweep_resumes_with_the_same_table(tmp_path, monkeypatch):
    args = {"seeds": 3, "vary": {"faults[0].error_rate": [0.03, 0.08]}, "overrides": BAD_SHORT,
            "workers": 1, "record": False}
    reference = sweep(BAD, out=tmp_path / "whole", **args)
    assert read_sweep(tmp_path / "whole").equals(reference)

    real = sweep_mod.run_task
    calls = []

    def dies_after_four(*a):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(a[2])
        return real(*a)

    monkeypatch.setattr(sweep_mod, "run_task", dies_after_four)
    with pytest.raises(KeyboardInterrupt):
        sweep(BAD, out=tmp_path / "cut", **args)
    parts = list((tmp_path / "cut" / "runs").glob("*.parquet"))
    assert sum(len(pd.read_parquet(p)) for p in parts) == 4  # finished runs were kept
    assert not (tmp_path / "cut" / "sweep.parquet").exists()

    calls.clear()
    monkeypatch.setattr(sweep_mod, "run_task", lambda *a: calls.append(a[2]) or real(*a))
    resumed = sweep(BAD, out=tmp_path / "cut", **args)
    assert len(calls) == 2  # only the unfinished runs
    pd.testing.assert_frame_equal(resumed, reference, check_exact=True)
    pd.testing.assert_frame_equal(read_sweep(tmp_path / "cut"), reference, check_exact=True)
    calls.clear()
    again = sweep(BAD, out=tmp_path / "cut", **args)
    assert calls == [] and again.equals(reference)
    in_memory = sweep(BAD, **args)  # no checkpoint at all: the same table
    pd.testing.assert_frame_equal(in_memory, reference, check_exact=True)
    with pytest.raises(ValueError, match="another scenario"):
        sweep(BAD, out=tmp_path / "cut", seeds=3, overrides={"duration_s": 700}, workers=1,
              record=False)


def test_compare_policies_runs_the_same_seeds_for_each_policy():
    policies = {
        "threshold": {},
        "sequential": {"strategy.gates": [], "strategy.judge": {"kind": "sequential", "metric": "error"}},
        "kayenta": {"strategy.gates": [], "strategy.judge": {"kind": "kayenta"}},
    }
    oc, runs = compare_policies(BAD, policies, seeds=3, overrides=BAD_SHORT, workers=1,
                                record=False, return_runs=True)
    assert list(oc["policy"]) == list(policies)
    for name in policies:
        assert list(runs.loc[runs["policy"] == name, "seed"]) == [0, 1, 2]
    # the "threshold" policy is the scenario itself: the same runs as a plain sweep
    plain = sweep(BAD, seeds=3, overrides=BAD_SHORT, workers=1, record=False)
    mine = runs[runs["policy"] == "threshold"].drop(columns="policy").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, plain, check_exact=True)
    assert (oc["detection_rate"] == 1.0).all()
    with pytest.raises(ValueError, match="policies"):
        compare_policies(BAD, {}, seeds=2, workers=1, record=False)


def test_sweep_is_recorded_in_the_run_registry_with_a_progress_bar(tmp_path, capsys):
    from workbench.registry.runs import RunRegistry

    db = tmp_path / "runs.sqlite"
    df = sweep(BAD, seeds=[0, 1], overrides=BAD_SHORT, workers=1, out=tmp_path / "out", registry=db,
               progress=True)
    assert "2/2" in capsys.readouterr().err
    with RunRegistry(db) as reg:
        rec = reg.get_run(df.attrs["run_id"])
    assert rec.kind == "sweep" and rec.seed == [0, 1]
    assert rec.scenario_name == "progressive-bad-candidate"
    assert rec.kpis["runs"] == 2 and rec.kpis["rollbacks"] == 2
    assert rec.output_dir == str(tmp_path / "out")


def test_operating_characteristics_needs_to_know_which_candidates_are_good():
    df = pd.DataFrame({"final_state": ["promoted"], "time_to_detect_s": [np.nan],
                       "time_to_rollback_s": [np.nan], "bad_requests_candidate": [3],
                       "time_to_full_rollout_s": [900.0]})
    with pytest.raises(ValueError, match="good_candidate"):
        operating_characteristics(df)
    assert operating_characteristics(df, good_candidate=True)["false_rollback_rate"].iloc[0] == 0.0
    with pytest.raises(ValueError, match="missing"):
        operating_characteristics(df.drop(columns="final_state"), good_candidate=True)
