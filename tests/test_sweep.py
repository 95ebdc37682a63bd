"""Monte-Carlo sweeps (workbench.experiments.sweep) and operating characteristics."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

import workbench.experiments.checkpoint as checkpoint_mod
import workbench.experiments.executors as executors_mod
import workbench.experiments.sweep as sweep_mod
from workbench.experiments.characteristics import (
    compare_policies,
    format_characteristics,
    operating_characteristics,
    summarise_values,
    wilson_interval,
)
from workbench.experiments.sweep import read_sweep, sweep, sweep_tasks
from workbench.limits import expected_arrivals
from workbench.scenario import ScenarioError, load_scenario

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


def test_summarise_values_clips_the_lower_bound_of_a_non_negative_quantity():
    users_hurt = [0.0, 0.0, 0.0, 0.0, 200.0]  # skewed: scipy's t interval reaches below zero
    lo, hi = stats.t.interval(0.95, 4, loc=40.0, scale=stats.sem(users_hurt))
    assert lo < 0
    s = summarise_values(users_hurt)
    assert (s.lower, s.upper) == (0.0, pytest.approx(hi))
    signed = summarise_values([-1.0, 0.0, 0.0, 0.0, 200.0])  # a quantity that can be negative keeps its bound
    assert signed.lower < 0


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


def test_a_rollback_before_the_fault_is_a_false_alarm_not_a_detection():
    # strategy_kpis leaves time_to_rollback_s undefined (NaN) when the rollback came before the
    # candidate's fault began; such a run caught nothing
    runs = pd.DataFrame({
        "final_state": ["rolled_back", "rolled_back", "rolled_back", "promoted"],
        "time_to_detect_s": [float("nan"), 60.0, 120.0, float("nan")],
        "time_to_rollback_s": [float("nan"), 120.0, 180.0, float("nan")],
        "bad_requests_candidate": [3, 40, 55, 90],
        "time_to_full_rollout_s": [float("nan")] * 3 + [900.0],
        "candidate_faults": [1, 1, 1, 1],
    })
    row = operating_characteristics(runs).iloc[0]
    assert (row["rollbacks"], row["rollbacks_before_fault"]) == (3, 1)
    assert row["detection_rate"] == 0.5  # 2 of 4 runs caught the fault after it began
    assert row["time_to_rollback_s_n"] == 2


def test_same_seeds_identical_with_one_worker_and_two_and_cluster_closes(monkeypatch):
    seen: dict[str, object] = {}
    original = executors_mod._run_dask

    def spy(client, *args, **kwargs):
        seen["workers"] = len(client.nthreads())
        seen["pids"] = _workers(_children()) - before
        return original(client, *args, **kwargs)

    monkeypatch.setattr(executors_mod, "_run_dask", spy)
    one = sweep(BAD, seeds=16, overrides=BAD_SHORT, workers=1, record=False)
    assert "workers" not in seen  # one worker runs in process
    before = _workers(_children())
    two = sweep(BAD, seeds=16, overrides=BAD_SHORT, workers=2, record=False)  # short runs: 2 per task
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

    real = executors_mod.run_point
    calls = []

    def dies_after_four(scenario, seed, batch_requests=0.0):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(seed)
        return real(scenario, seed, batch_requests)

    monkeypatch.setattr(executors_mod, "run_point", dies_after_four)
    with pytest.raises(KeyboardInterrupt):
        sweep(BAD, out=tmp_path / "cut", **args)
    parts = list((tmp_path / "cut" / "runs").glob("*.parquet"))
    assert sum(len(pd.read_parquet(p)) for p in parts) == 4  # finished runs were kept
    assert not (tmp_path / "cut" / "sweep.parquet").exists()

    calls.clear()
    monkeypatch.setattr(executors_mod, "run_point", lambda *a: calls.append(a[1]) or real(*a))
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


# --------------------------------------------------------------------------- plain scripts
TINY = {"duration_s": 720}
SCRIPT = """\
import workbench

print("script body ran")
s = workbench.load_scenario({scenario!r}, overrides={overrides!r})
df = workbench.sweep(s, seeds={seeds!r}, vary={vary!r}, workers=2, record=False)
print(df.to_csv(index=False), end="")
"""


def _run_on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a pseudo-terminal; (exit status, stdout, terminal text)."""
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios
    import threading

    master, slave = pty.openpty()
    # a real terminal has a size (a new pseudo-terminal is 0 x 0, where tqdm draws nothing)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closed (EIO)
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, *argv], stdout=subprocess.PIPE, stderr=slave, cwd=cwd,
                          env=env, text=True, timeout=240)
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, proc.stdout, b"".join(chunks).decode(errors="replace")


def test_unguarded_script_runs_on_two_workers_with_progress_and_a_free_dashboard_port(tmp_path):
    """The README's Python lines, pasted into a .py file without a __main__ guard, just run."""
    import socket

    seeds, vary = [0, 1, 2], {"faults[0].error_rate": [0.01, 0.08]}
    script = tmp_path / "plain.py"
    script.write_text(SCRIPT.format(scenario=str(BAD), overrides=TINY, seeds=seeds, vary=vary))
    blocker = socket.socket()
    try:  # Dask's default dashboard port is taken: the sweep must not fall back with a warning
        blocker.bind(("127.0.0.1", 8787))
        blocker.listen()
    except OSError:
        pass  # already taken by someone else: the same situation
    try:
        status, out, terminal = _run_on_a_terminal([str(script)], tmp_path)
    finally:
        blocker.close()
    assert status == 0, terminal[-3000:]
    assert "Traceback" not in terminal and "Nanny failed" not in terminal
    assert "8787" not in terminal and "already in use" not in terminal
    assert out.count("script body ran") == 1  # workers did not re-run the script
    assert "6/6" in terminal  # the progress bar is on by default on a terminal
    reference = sweep(BAD, seeds=seeds, vary=vary, overrides=TINY, workers=1, record=False)
    assert out.split("\n", 1)[1] == reference.to_csv(index=False)


def test_sweep_in_a_notebook_kernel_shows_a_progress_widget(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = ("import workbench\n"
            f"df = workbench.sweep({str(BAD)!r}, seeds=2, overrides={TINY!r}, workers=1, record=False)\n"
            "print(list(df['final_state']))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "['rolled_back', 'rolled_back']" in text
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, outputs  # tqdm.auto's notebook bar (later updates travel as widget messages)
    assert widgets[0]["data"]["text/plain"].startswith("sweep progressive-bad-candidate:")


def test_progress_auto_follows_the_terminal(monkeypatch):
    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.setattr(executors_mod.sys, "stderr", Stream(True))
    assert executors_mod._show_progress("auto") is True
    assert executors_mod._show_progress(False) is False
    monkeypatch.setattr(executors_mod.sys, "stderr", Stream(False))
    assert executors_mod._show_progress("auto") is False
    assert executors_mod._show_progress(True) is True
    with pytest.raises(ValueError, match="progress"):
        executors_mod._show_progress("yes")


# --------------------------------------------------------------------------- bounds and errors
def test_seeds_and_runs_are_bounded():
    assert sweep_mod.MAX_SEEDS == 100_000 and sweep_mod.MAX_RUNS == 1_000_000
    with pytest.raises(sweep_mod.SweepError, match="at most 100,000"):
        sweep_tasks(100_001)
    with pytest.raises(sweep_mod.SweepError, match="at most 100,000"):
        sweep_tasks(range(10**12))  # refused without building the list
    with pytest.raises(sweep_mod.SweepError, match=r"100,000 x 11 = 1,100,000 runs"):
        sweep_tasks(100_000, {"faults[0].error_rate": [i / 100 for i in range(1, 12)]})
    assert len(sweep_tasks(100_000)[0]) == 100_000


def _cli(argv, capsys):
    from workbench.cli import main

    status = main(argv)
    err = capsys.readouterr().err
    return status, err


CLI_ERRORS = {
    "no '='": (["--vary", "faults[0].error_rate"], "expected KEY=V1,V2"),
    "no key": (["--vary", "=0.1,0.2"], "no key"),
    "unknown key": (["--vary", "faults[0].nope=1,2"], "faults[0].nope: unknown key"),
    "wrong type": (["--vary", "faults[0].error_rate=abc"], "faults[0].error_rate: expected a number"),
    "out of range": (["--vary", "faults[0].error_rate=0.1,2"], "faults[0].error_rate"),
    "no values": (["--vary", "faults[0].error_rate="], "at least one value"),
    "empty value": (["--vary", "faults[0].error_rate=0.1,,0.2"], "empty value"),
    "key twice": (["--vary", "faults[0].error_rate=0.1", "--vary", "faults[0].error_rate=0.2"],
                  "given twice"),
    "value twice": (["--vary", "faults[0].error_rate=0.1,0.1"], "duplicate values"),
    "too many seeds": (["--seeds", "100001"], "at most 100,000"),
    "too many runs": (["--seeds", "100000", "--vary", "faults[0].error_rate=" + ",".join(
        str(i / 100) for i in range(1, 12))], "more than 1,000,000"),
    "scheme": (["--scheduler", "foo://127.0.0.1:8786"], "unknown protocol 'foo'"),
    "no scheme": (["--scheduler", "127.0.0.1:8786"], "tcp://HOST:PORT"),
    "bad port": (["--scheduler", "tcp://127.0.0.1:abc"], "numeric port"),
}


@pytest.mark.parametrize("case", list(CLI_ERRORS))
def test_cli_sweep_errors_are_one_line_exit_2(case, capsys, monkeypatch):
    def no_cluster(n):
        raise AssertionError("a cluster was started for a bad sweep")

    monkeypatch.setattr(executors_mod, "local_client", no_cluster)
    extra, message = CLI_ERRORS[case]
    workers = [] if "--scheduler" in extra else ["--workers", "2"]
    status, err = _cli(["sweep", str(BAD), "--seeds", "2", *workers, "--no-registry", *extra], capsys)
    assert status == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unreachable_scheduler_fails_fast_in_one_line(capsys, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(executors_mod, "_CONNECT_TIMEOUT_S", 0.5)
    status, err = _cli(["sweep", str(GOOD), "--seeds", "2", "--no-registry",
                        "--scheduler", f"tcp://127.0.0.1:{port}"], capsys)
    assert status == 2 and f"cannot reach tcp://127.0.0.1:{port}" in err
    assert err.count("\n") == 1


MANIFESTS = {
    "not JSON": ("{half a manifest", "is not JSON"),
    "a list": ("[1, 2, 3]", "not an object"),
    "foreign": ('{"format": 1, "name": "some other tool"}', "not a workbench sweep manifest"),
    "future": ('{"tool": "workbench-sweep", "format": 99, "sweep_hash": "x", "scenario_hash": "y"}',
               "newer workbench"),
    "damaged": ('{"tool": "workbench-sweep", "format": 2}', "'sweep_hash'"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_out_with_a_damaged_or_foreign_manifest_is_refused_unless_forced(case, tmp_path, capsys):
    text, message = MANIFESTS[case]
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text(text)
    argv = ["sweep", str(GOOD), "--seeds", "1", "--set", "duration_s=60", "--no-registry",
            "--quiet", "--out", str(out)]
    status, err = _cli(argv, capsys)
    assert status == 2 and message in err and str(out / "sweep.json") in err
    assert err.count("\n") == 1
    assert (out / "sweep.json").read_text() == text  # left alone
    status, err = _cli([*argv, "--force"], capsys)
    assert status == 0, err
    assert json_of(out / "sweep.json")["tool"] == "workbench-sweep"


def json_of(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def test_out_that_is_a_file_or_a_foreign_directory(tmp_path, capsys):
    base = ["sweep", str(GOOD), "--seeds", "1", "--set", "duration_s=60", "--no-registry", "--quiet"]
    a_file = tmp_path / "results.csv"
    a_file.write_text("x\n1\n")
    status, err = _cli([*base, "--out", str(a_file)], capsys)
    assert status == 2 and "is not a directory" in err and err.count("\n") == 1
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    status, err = _cli([*base, "--out", str(foreign)], capsys)
    assert status == 2 and "is not empty and holds no sweep" in err and "'cat.jpg'" in err
    status, _ = _cli([*base, "--out", str(foreign), "--force"], capsys)
    assert status == 0
    assert (foreign / "cat.jpg").read_bytes() == b"\xff\xd8"  # other files are never deleted
    assert (foreign / "sweep.parquet").exists()


def test_every_grid_point_is_validated_once_before_a_cluster_starts(monkeypatch):
    from workbench.scenario import Scenario

    calls = []
    real = Scenario.with_overrides

    def counting(self, overrides):
        calls.append(dict(overrides or {}))
        return real(self, overrides)

    def no_cluster(n):
        raise AssertionError("a cluster was started for a bad sweep")

    monkeypatch.setattr(Scenario, "with_overrides", counting)
    monkeypatch.setattr(executors_mod, "local_client", no_cluster)
    with pytest.raises(ScenarioError, match="error_rate") as err:
        sweep(BAD, seeds=5, vary={"faults[0].error_rate": [0.01, 0.02, 3.0]}, workers=2, record=False)
    # one check per grid point (3), not per run (15)
    assert [c.get("faults[0].error_rate") for c in calls] == [0.01, 0.02, 3.0]
    assert str(err.value).startswith(f"{BAD}: faults[0].error_rate")  # names the file


def test_runs_do_not_validate_their_scenario_again(monkeypatch):
    """Validation happens in the client, once per grid point: none per run."""
    from workbench.scenario import Scenario

    validated = []
    real = Scenario.model_validate.__func__

    def counting(cls, *args, **kwargs):
        validated.append(cls)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(Scenario, "model_validate", classmethod(counting))
    base = load_scenario(BAD, overrides=BAD_SHORT)
    validated.clear()
    df = sweep(base, seeds=3, vary={"faults[0].error_rate": [0.03, 0.08]}, workers=1, record=False)
    assert len(df) == 6
    # the base scenario's full mapping once, then each of the two grid points once
    assert len(validated) == 3


# --------------------------------------------------------------------------- resume
def test_damaged_parts_are_redone_and_the_table_is_replaced_atomically(tmp_path, monkeypatch):
    args = {"seeds": 4, "overrides": TINY, "workers": 1, "record": False}
    out = tmp_path / "out"
    monkeypatch.setattr(checkpoint_mod, "_FLUSH_ROWS", 1)  # one part per run
    reference = sweep(BAD, out=out, **args)
    parts = sorted((out / "runs").glob("part-*.parquet"))
    assert len(parts) == 4
    # a part cut in half (SIGKILL mid-write on a disk that lost its tail) and an empty one
    parts[0].write_bytes(parts[0].read_bytes()[: parts[0].stat().st_size // 2])
    parts[1].write_bytes(b"")
    (out / "sweep.parquet").unlink()

    real_point, calls = executors_mod.run_point, []
    monkeypatch.setattr(executors_mod, "run_point", lambda *a: calls.append(a[1]) or real_point(*a))
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((Path(src), Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    with pytest.warns(UserWarning, match="damaged"):
        resumed = sweep(BAD, out=out, **args)
    assert len(calls) == 2  # only the runs of the two damaged parts
    pd.testing.assert_frame_equal(resumed, reference, check_exact=True)
    pd.testing.assert_frame_equal(read_sweep(out), reference, check_exact=True)
    src, dst = replaced[-1]
    assert dst == out / "sweep.parquet" and src.parent == out and src.name.startswith(".")
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_a_sweep_directory_never_mixes_two_sweeps(tmp_path):
    out = tmp_path / "out"
    first = sweep(GOOD, seeds=2, overrides={"duration_s": 60}, workers=1, record=False, out=out)
    manifest = json_of(out / "sweep.json")
    assert manifest["tool"] == "workbench-sweep" and manifest["format"] == 2
    assert manifest["seeds"] == [0, 1] and manifest["runs"] == 2 and manifest["params"] == []
    assert manifest["scenario_hash"] == first.attrs["scenario_hash"]
    with pytest.raises(sweep_mod.SweepError, match="another sweep of this scenario"):
        sweep(GOOD, seeds=3, overrides={"duration_s": 60}, workers=1, record=False, out=out)
    with pytest.raises(sweep_mod.SweepError, match="another sweep of this scenario"):
        sweep(GOOD, seeds=2, vary={"traffic.rate_per_s": [5, 10]}, overrides={"duration_s": 60},
              workers=1, record=False, out=out)
    forced = sweep(GOOD, seeds=3, overrides={"duration_s": 60}, workers=1, record=False, out=out,
                   force=True)
    assert list(forced["seed"]) == [0, 1, 2] and json_of(out / "sweep.json")["seeds"] == [0, 1, 2]
    on_disk = pd.concat([pd.read_parquet(p) for p in (out / "runs").glob("part-*.parquet")])
    assert sorted(on_disk["seed"]) == [0, 1, 2]  # the first sweep's parts are gone
    pd.testing.assert_frame_equal(read_sweep(out), forced, check_exact=True)


def test_short_runs_go_to_dask_in_chunks_of_about_the_same_requests():
    base = load_scenario(BAD, overrides=BAD_SHORT)
    todo = [(SimpleNamespace(key=str(k)), base) for k in range(100)]
    assert expected_arrivals(base) == 40 * 720  # 28,800 requests a run: 13 fit in a 400k-request task
    chunks = executors_mod._chunks(todo, threads=2)
    # ... but 100 runs on 2 threads make at least 8 tasks: 12 runs each, then the last 4
    assert [len(c) for c in chunks] == [12] * 8 + [4]
    assert [t for c in chunks for t in c] == todo  # in order, each once
    long = base.with_overrides({"duration_s": 10 * executors_mod._TASK_REQUESTS / base.traffic.rate_per_s})
    assert {len(c) for c in executors_mod._chunks([(t, long) for t, _ in todo], threads=2)} == {1}
