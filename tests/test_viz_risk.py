"""The risk plot draws exactly the summary table's estimates and intervals."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from workbench import viz

NAN = math.nan


@pytest.fixture()
def summary():
    # two strategies, 20 seeds each, a bad candidate: Wilson bounds of 8/20 and 18/20 at 95 %
    # (8/20: 0.2188, 0.6134; 18/20: 0.6990, 0.9721), t intervals of the detection times
    s = pd.DataFrame({
        "strategy": ["canary", "progressive"],
        "good_candidate": [False, False],
        "runs": [20, 20],
        "false_rollback_rate": [NAN, NAN], "false_rollback_rate_low": [NAN, NAN],
        "false_rollback_rate_high": [NAN, NAN],
        "detection_rate": [0.40, 0.90], "detection_rate_low": [0.2188, 0.6990],
        "detection_rate_high": [0.6134, 0.9721],
        "time_to_detect_s_mean": [95.0, 40.0], "time_to_detect_s_low": [-12.0, 31.5],
        "time_to_detect_s_high": [202.0, 48.5],
        "blast_radius_users_mean": [310.0, 120.0], "blast_radius_users_low": [250.0, 98.0],
        "blast_radius_users_high": [370.0, 142.0],
        "time_to_full_rollout_s_mean": [NAN, 1500.0], "time_to_full_rollout_s_low": [NAN, NAN],
        "time_to_full_rollout_s_high": [NAN, NAN],
    })
    s.attrs["confidence"] = 0.95
    return s


def _drawn(ax):
    """(value, low, high) per row, read back from the Axes: dots and interval bars."""
    (dots,) = ax.lines
    segments = ax.collections[0].get_segments()
    rows = {float(seg[0][1]): (float(seg[0][0]), float(seg[1][0])) for seg in segments}
    return {float(y): (float(x), *rows[float(y)]) for x, y in zip(dots.get_xdata(), dots.get_ydata(), strict=True)}


def test_intervals_drawn_equal_the_table(summary):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = viz.risk_plot(summary)
        fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["Rolls back a good candidate", "Catches a bad candidate",
                                               "Time to detect a fault", "Users hurt before rollback",
                                               "Time to full rollout"]
    for ax in axes:
        assert [t.get_text() for t in ax.get_yticklabels()] == ["canary", "progressive"]
        assert ax.get_xlim()[0] == 0.0  # nothing drawn below zero
    # rates in percent: Wilson bounds as given
    det = _drawn(axes[1])
    assert det[0.0] == pytest.approx((40.0, 21.88, 61.34))
    assert det[1.0] == pytest.approx((90.0, 69.90, 97.21))
    # a t interval reaching below zero is drawn from zero; the other as given
    ttd = _drawn(axes[2])
    assert ttd[0.0] == pytest.approx((95.0, 0.0, 202.0))
    assert ttd[1.0] == pytest.approx((40.0, 31.5, 48.5))
    assert _drawn(axes[3]) == {0.0: pytest.approx((310.0, 250.0, 370.0)),
                               1.0: pytest.approx((120.0, 98.0, 142.0))}
    # one value without bounds (a single promoted run): a dot with no width; the other row reads n/a
    assert _drawn(axes[4]) == {1.0: pytest.approx((1500.0, 1500.0, 1500.0))}
    assert "n/a: never fully rolled out" in [t.get_text() for t in axes[4].texts]
    # no good candidate: nothing to roll back, both rows n/a, no dot
    assert axes[0].lines[0].get_xdata().size == 0
    assert [t.get_text() for t in axes[0].texts] == ["n/a: the candidate is bad"] * 2
    assert "95% interval" in fig._suptitle.get_text() and "20 seeds" in fig._suptitle.get_text()


def test_good_and_bad_rows_are_labelled_and_figures_chosen(summary):
    both = pd.concat([summary.iloc[[0]].assign(good_candidate=True, false_rollback_rate=0.1,
                                               false_rollback_rate_low=0.0279, false_rollback_rate_high=0.3010),
                      summary.iloc[[0]]], ignore_index=True)
    fig = viz.risk_plot(both, ["false_rollback_rate", "detection_rate"], ncols=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["canary (good)", "canary (bad)"]
    assert _drawn(ax) == {0.0: pytest.approx((10.0, 2.79, 30.10))}  # Wilson, 2 of 20
    assert ax.get_xlabel() == "share of runs (%)"


def test_bad_input_names_the_argument(summary):
    with pytest.raises(ValueError, match="figures: unknown risk figure 'nope'"):
        viz.risk_plot(summary, ["nope"])
    with pytest.raises(ValueError, match="summary: no column"):
        viz.risk_plot(summary.drop(columns=["detection_rate_high"]), ["detection_rate"])
    with pytest.raises(ValueError, match="summary: expected a non-empty"):
        viz.risk_plot(pd.DataFrame())


def test_a_risk_comparison_is_accepted():
    import workbench

    sc = {"name": "c", "duration_s": 60, "models": {"legacy": {}, "candidate": {}},
          "faults": [{"kind": "error_burst", "target": "candidate", "start_s": 20, "error_rate": 0.5}]}
    risk = workbench.compare(sc, ["canary", "progressive"], seeds=3)
    fig = viz.risk_plot(risk)
    drawn = _drawn(fig.axes[1])  # detection rate
    expected = risk.summary["detection_rate"].to_numpy() * 100.0
    dots = sorted(drawn.items())
    np.testing.assert_allclose([v[0] for _, v in dots], expected[np.isfinite(expected)])
