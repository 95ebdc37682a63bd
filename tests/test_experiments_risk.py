"""Risk over many paired seeds (workbench.experiments.risk): known answers and intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

import workbench
import workbench.experiments.risk as risk_mod
from workbench.experiments.risk import (
    INPROCESS_MAX_RUNS,
    format_risk,
    risk_summary,
    risk_table,
)

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "scenarios" / "progressive_bad_candidate.toml"

# A progressive rollout with exactly one analysis: step 1 (50%) is analysed at 60 s over
# [0, 60); a pass promotes (step 2 is the last, 100%, no pause), a fail rolls back
# (failure_limit 0). The candidate is identical to legacy: every call fails with
# probability P, independently, and nothing else goes wrong (no timeouts, no queue).
# The gate fails when errors / n > T for the n candidate calls in the window, so given
# n the rollback probability is P(Binomial(n, P) > T n): a false rollback.
P, T = 0.02, 0.021
FALSE_ALARM = {
    "name": "false-alarm", "duration_s": 70, "traffic": {"rate_per_s": 40, "users": 20000},
    "models": {"legacy": {"error_rate": P, "replicas": 8, "timeout_ms": 5000},
               "candidate": {"error_rate": P, "replicas": 8, "timeout_ms": 5000}},
    # a user cohort (the seeds' windows as first recorded); the expected rate below is computed
    # from each seed's own window size, whichever way the split is drawn
    "strategy": {"kind": "progressive", "split": "users", "steps": [{"weight": 50, "pause_s": 60}, {"weight": 100}],
                 "interval_s": 60, "failure_limit": 0,
                 "gates": [{"metric": "error_rate", "threshold": T, "direction": "max",
                            "min_samples": 100}]},
}
SEEDS = 40  # at the in-process limit: no Dask cluster in this test


def _gate_failure_probability(n: int) -> float:
    """P(errors / n > T) for errors ~ Binomial(n, P): the gate's false-alarm probability."""
    k = math.floor(T * n)  # the most errors that still pass, checked in the gate's own arithmetic
    while k >= 0 and k / n > T:
        k -= 1
    while (k + 1) / n <= T:
        k += 1
    return float(stats.binom.sf(k, n, P))


@pytest.fixture(scope="module")
def false_alarms():
    return workbench.compare(FALSE_ALARM, ["progressive"], seeds=SEEDS)


def test_identical_candidate_is_rolled_back_at_the_gates_false_alarm_rate(false_alarms):
    row = false_alarms.summary.iloc[0]
    assert bool(row["good_candidate"]) and row["runs"] == SEEDS
    # Expected rate: for each seed, the probability its one analysis fails given that
    # seed's window size n (read from the analysis event); averaged over the seeds.
    expected = []
    for seed in false_alarms.seeds:
        events = workbench.run(FALSE_ALARM, seed=seed).events
        analyses = events[events["kind"].isin(["analysis", "gate_failed"])]
        assert len(analyses) == 1
        n = json.loads(analyses["details"].iloc[0])["gates"][0]["samples"]
        expected.append(_gate_failure_probability(n))
    rate = float(np.mean(expected))
    assert 0.2 < rate < 0.6  # a false-alarm rate worth measuring
    observed = false_alarms.runs["final_state"].eq("rolled_back").mean()
    assert 0 < observed < 1 and row["false_rollback_rate"] == observed
    assert row["false_rollback_rate_low"] <= rate <= row["false_rollback_rate_high"]
    assert math.isnan(row["detection_rate"])  # no bad candidate to catch
    promoted = false_alarms.runs["final_state"].eq("promoted")
    assert (promoted | false_alarms.runs["final_state"].eq("rolled_back")).all()
    assert row["time_to_full_rollout_s_n"] == promoted.sum()
    assert row["time_to_full_rollout_s_median"] == 60.0


def test_rates_match_statsmodels_wilson_and_means_scipy_t(false_alarms):
    row = false_alarms.summary.iloc[0]
    k = int(false_alarms.runs["final_state"].eq("rolled_back").sum())
    lo, hi = proportion_confint(k, SEEDS, alpha=0.05, method="wilson")
    assert row["false_rollback_rate_low"] == pytest.approx(lo, abs=1e-12)
    assert row["false_rollback_rate_high"] == pytest.approx(hi, abs=1e-12)
    for kpi in ("candidate_users", "requests", "error_rate", "latency_p99_ms"):
        x = false_alarms.runs[kpi].to_numpy(dtype=float)
        lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert row[f"{kpi}_mean"] == pytest.approx(x.mean())
        assert row[f"{kpi}_low"] == pytest.approx(lo) and row[f"{kpi}_high"] == pytest.approx(hi)


def test_a_candidate_failing_half_its_calls_is_caught_on_every_seed():
    broken = {"faults[0].error_rate": 0.5, "duration_s": 600}
    n = 6
    risk = workbench.compare(BAD, ["progressive", "blue_green"], seeds=n, overrides=broken)
    lo, hi = proportion_confint(n, n, alpha=0.05, method="wilson")
    for _, row in risk.summary.iterrows():
        assert not row["good_candidate"] and row["runs"] == n
        assert row["detection_rate"] == 1.0
        assert row["detection_rate_low"] == pytest.approx(lo, abs=1e-12) and row["detection_rate_high"] == 1.0
        assert math.isnan(row["false_rollback_rate"])
        assert row["time_to_detect_s_n"] == n and row["time_to_detect_s_median"] <= 60.0
        assert row["blast_radius_users_mean"] > 0
        assert row["blast_radius_users_mean"] <= row["blast_radius_requests_mean"]
    assert (risk.runs["final_state"] == "rolled_back").all()


def test_small_comparisons_run_in_process_and_larger_ones_on_dask(monkeypatch):
    calls = []
    real = risk_mod.run_sweep

    def spy(base, tasks, columns, **kwargs):
        calls.append((len(tasks), kwargs["workers"], kwargs["scheduler"]))
        return real(base, tasks, columns, **{**kwargs, "workers": 1})  # no cluster in this test

    monkeypatch.setattr(risk_mod, "run_sweep", spy)
    sc = {"name": "t", "duration_s": 5, "traffic": {"rate_per_s": 5}, "models": {"legacy": {}, "candidate": {}}}
    # many short runs (few requests in all) stay in this process too
    monkeypatch.setattr(risk_mod, "INPROCESS_MAX_REQUESTS", (INPROCESS_MAX_RUNS + 2) * 25)
    workbench.compare(sc, ["ab", "canary"], seeds=INPROCESS_MAX_RUNS // 2)
    workbench.compare(sc, ["ab", "canary"], seeds=INPROCESS_MAX_RUNS // 2 + 1)
    monkeypatch.setattr(risk_mod, "INPROCESS_MAX_REQUESTS", (INPROCESS_MAX_RUNS + 2) * 25 - 1)
    workbench.compare(sc, ["ab", "canary"], seeds=INPROCESS_MAX_RUNS // 2 + 1)
    workbench.compare(sc, ["ab"], seeds=2, workers=3)
    assert calls == [(INPROCESS_MAX_RUNS, 1, None), (INPROCESS_MAX_RUNS + 2, 1, None),
                     (INPROCESS_MAX_RUNS + 2, None, None), (2, 3, None)]


def test_summary_keeps_good_and_bad_runs_apart_and_formats_intervals():
    runs = pd.DataFrame({
        "strategy": ["p"] * 6, "kind": ["progressive"] * 6, "seed": [0, 1, 2, 0, 1, 2],
        "final_state": ["promoted", "promoted", "rolled_back", "rolled_back", "rolled_back", "running"],
        "time_to_detect_s": [math.nan] * 3 + [60.0, 120.0, math.nan],
        "time_to_rollback_s": [math.nan] * 3 + [120.0, 180.0, math.nan],
        "bad_requests_candidate": [1, 2, 3, 40, 50, 90], "bad_users_candidate": [1, 2, 3, 30, 35, 70],
        "time_to_full_rollout_s": [900.0, 960.0] + [math.nan] * 4,
        "candidate_faults": [0, 0, 0, 1, 1, 1],
    })
    summary = risk_summary(runs)
    assert list(summary["good_candidate"]) == [True, False]
    good, bad = summary.iloc[0], summary.iloc[1]
    assert good["false_rollback_rate"] == pytest.approx(1 / 3) and math.isnan(good["detection_rate"])
    assert bad["detection_rate"] == pytest.approx(2 / 3) and math.isnan(bad["false_rollback_rate"])
    assert bad["time_to_detect_s_mean"] == 90.0 and bad["time_to_detect_s_median"] == 90.0
    assert bad["blast_radius_users_median"] == 35.0 and good["time_to_full_rollout_s_mean"] == 930.0
    table = risk_table(summary)
    assert list(table.columns) == ["p (good)", "p (bad)"]
    assert table.loc["rolls back a good candidate", "p (good)"] == "0.33 [0.06, 0.79]"
    assert table.loc["catches a bad candidate", "p (good)"] == "-"
    assert table.loc["time to detect (s)", "p (bad)"].endswith("median 90")
    text = format_risk(summary)
    assert "catches a bad candidate" in text and "Wilson" in text


def test_risk_summary_rejects_what_is_not_a_run_table():
    with pytest.raises(ValueError, match="DataFrame"):
        risk_summary([1, 2])
    with pytest.raises(ValueError, match="no column 'policy'"):
        risk_summary(pd.DataFrame({"strategy": ["a"]}), by="policy")


def test_means_is_a_compare_shaped_table(false_alarms):
    means = false_alarms.means()
    assert list(means["strategy"]) == ["progressive"]
    assert means.loc[0, "candidate_users"] == pytest.approx(false_alarms.runs["candidate_users"].mean())
    assert "bad_requests_candidate" in means and "final_state" not in means
    assert false_alarms.format() == format_risk(false_alarms.summary)
