"""Cumulative regret of a bandit: hand-computed small tables, then a real run."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import viz
from workbench.viz.bandit import regret_from_requests, regret_from_updates

SCEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios",
                    "bandit_better_candidate.toml")


def _requests():
    # legacy: 4 pulls, rewards ok&<=250 -> 1, 0 (slow), 0 (error), 1 -> rate 0.5
    # candidate: 4 pulls -> 1, 1, 1, 0 (timeout) -> rate 0.75 (best)
    # regret per request: legacy 0.25, candidate 0; out of time order on purpose
    return pd.DataFrame({
        "time_s": [0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8],
        "model": ["candidate", "legacy", "legacy", "candidate", "legacy", "candidate", "legacy", "candidate"],
        "status": ["ok", "ok", "ok", "ok", "error", "ok", "ok", "timeout"],
        "latency_ms": [40.0, 100.0, 300.0, 80.0, 5.0, 250.0, 90.0, 2000.0],
    })


def test_regret_from_requests_hand_computed():
    curve = regret_from_requests(_requests(), slo_latency_ms=250)
    assert curve.attrs["reward_rate"] == {"legacy": 0.5, "candidate": 0.75}
    assert curve.attrs["best_arm"] == "candidate"
    # arrival order: L, L, C, L, C, C, L, C
    assert curve["model"].tolist() == ["legacy", "legacy", "candidate", "legacy", "candidate", "candidate",
                                       "legacy", "candidate"]
    np.testing.assert_allclose(curve["cumulative_regret"], [0.25, 0.5, 0.5, 0.75, 0.75, 0.75, 1.0, 1.0])


def test_regret_from_requests_conversion_rewards():
    req = _requests().assign(converted=[1.0, 0.0, 1.0, np.nan, np.nan, 1.0, 1.0, np.nan])
    curve = regret_from_requests(req, reward="conversion")
    # legacy: 0 (t0.1), 1 (t0.2), 0 (error), 1 -> 0.5; candidate: 1, NaN (no label: no pull), 1, 0 (timeout) -> 2/3
    assert curve.attrs["reward_rate"]["legacy"] == pytest.approx(0.5)
    assert curve.attrs["reward_rate"]["candidate"] == pytest.approx(2 / 3)
    # every legacy request costs 2/3 - 1/2 = 1/6, four of them
    assert curve["cumulative_regret"].iloc[-1] == pytest.approx(4 / 6)


def test_regret_from_updates_hand_computed():
    tab = pd.DataFrame({"time_s": [5.0, 10.0, 15.0], "batch_size": [8, 12, 10],
                        "pulls_legacy": [4, 10, 12], "successes_legacy": [2, 5, 6],
                        "pulls_candidate": [4, 10, 18], "successes_candidate": [4, 9, 18],
                        "routed_legacy": [5, 2, 1], "routed_candidate": [5, 8, 9],
                        "candidate_share": [0.5, 0.8, 0.9]})
    curve = regret_from_updates(tab)
    # last rates: legacy 6/12 = 0.5, candidate 18/18 = 1.0; regret = 0.5 per legacy request
    assert curve.attrs["best_arm"] == "candidate"
    np.testing.assert_allclose(curve["regret"], [2.5, 1.0, 0.5])
    np.testing.assert_allclose(curve["cumulative_regret"], [2.5, 3.5, 4.0])


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="slo_latency_ms"):
        regret_from_requests(_requests())
    with pytest.raises(ValueError, match="reward"):
        regret_from_requests(_requests(), slo_latency_ms=250, reward="clicks")
    with pytest.raises(ValueError, match="requests"):
        regret_from_requests(_requests().drop(columns="status"), slo_latency_ms=250)
    with pytest.raises(ValueError, match="bandit"):
        regret_from_updates(pd.DataFrame({"time_s": [1.0]}))


@pytest.fixture(scope="module")
def batched_run():
    sc = workbench.load_scenario(SCEN).with_overrides({"duration_s": 300, "strategy.update_interval_s": 5})
    return workbench.run(sc)


def test_bandit_regret_figure_ends_at_the_summary_regret(batched_run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = viz.bandit_regret(batched_run)
        fig.canvas.draw()
    ax = fig.axes[0]
    y = ax.lines[0].get_ydata()
    assert y[-1] == pytest.approx(batched_run.summary.strategy.details["regret"], rel=1e-9)
    assert np.all(np.diff(y) >= -1e-12) and y.min() >= 0
    assert ax.get_ylim()[0] == 0 and "(s)" in ax.get_xlabel()


def test_bandit_regret_from_update_table(batched_run):
    fig = viz.bandit_regret(batched_run, source="updates")
    y = fig.axes[0].lines[0].get_ydata()
    table = batched_run.tables["bandit"]
    assert len(y) == len(table)
    # the update table misses only the requests routed after the last tick and the pending rewards
    assert y[-1] == pytest.approx(batched_run.summary.strategy.details["regret"], rel=0.05)
    with pytest.raises(ValueError, match="source"):
        viz.bandit_regret(batched_run, source="nope")
