"""OC-curve and policy-comparison plots on real (small) sweeps."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

import workbench
from workbench import viz
from workbench.experiments import compare_policies, operating_characteristics

SCEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios",
                    "progressive_bad_candidate.toml")


@pytest.fixture(scope="module")
def oc():
    df = workbench.sweep(SCEN, seeds=3, vary={"faults[0].error_rate": [0.005, 0.08]}, workers=1,
                         overrides={"duration_s": 900}, record=False)
    return operating_characteristics(df, by="faults[0].error_rate")


def test_oc_curve_draws_rates_with_intervals_and_units(oc):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = viz.oc_curve(oc, "faults[0].error_rate", x_label="candidate error rate (share)")
        fig.canvas.draw()
    ax = fig.axes[0]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_ydata(), oc.sort_values("faults[0].error_rate").detection_rate)
    assert ax.get_ylabel().endswith("(share of runs)") and "(share)" in ax.get_xlabel()
    assert fig.axes[1].get_ylabel().endswith("(s)")


def test_policy_comparison_bars(tmp_path):
    pol = compare_policies(SCEN, {"threshold": {}, "kayenta": {"strategy.gates": [],
                                                                 "strategy.judge": {"kind": "kayenta"}}},
                           seeds=2, workers=1, overrides={"duration_s": 900})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = viz.policy_comparison(pol)
        fig.savefig(tmp_path / "p.png")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["threshold", "kayenta"]
    drawn = [m for m in ("false_rollback_rate", "detection_rate", "blast_radius_requests_mean")
             if pol[m].notna().any()]  # a bad candidate: no false-rollback rate to draw
    assert [ax.get_title() for ax in fig.axes] == [viz.sweeps.metric_label(m)[0] for m in drawn]
    for ax, metric in zip(fig.axes, drawn, strict=True):
        part = pol.dropna(subset=[metric])
        heights, lo, hi = _drawn(ax)
        np.testing.assert_allclose(heights, part[metric])
        np.testing.assert_allclose(lo, np.maximum(part[f"{metric}_lo"], 0.0))
        np.testing.assert_allclose(hi, part[f"{metric}_hi"])
        assert min(heights.min(), lo.min()) >= 0
    with pytest.raises(ValueError, match="metrics"):
        viz.policy_comparison(pol, metrics=["nope"])


def _drawn(ax):
    """Bar heights and the error bars' lower and upper ends, read back from the Axes."""
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    heights = np.array([p.get_height() for p in bars.patches])
    errs = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    if not errs:
        return heights, np.array([]), np.array([])
    segments = errs[0].lines[2][0].get_segments()
    lo = np.array([min(seg[:, 1]) for seg in segments])
    hi = np.array([max(seg[:, 1]) for seg in segments])
    return heights, lo, hi


# a table as compare_policies returns it, with the faults the chart must not show: a t interval
# of a skewed count reaching below 0, a rate interval past 1, a policy with one run (no interval)
_HAND = pd.DataFrame({
    "policy": ["fast", "strict", "single"],
    "runs": [4, 4, 4],
    "detection_rate": [0.75, 1.0, 0.25],
    "detection_rate_lo": [0.30064, 0.51010, -0.01],
    "detection_rate_hi": [0.95440, 1.02, 0.69936],
    "blast_radius_requests_mean": [12.0, 40.0, 7.0],
    "blast_radius_requests_mean_lo": [-5.5, 10.0, np.nan],
    "blast_radius_requests_mean_hi": [29.5, 70.0, np.nan],
})


def test_policy_comparison_reads_back_clipped_intervals_and_titles():
    fig = viz.policy_comparison(_HAND, metrics=["detection_rate", "blast_radius_requests_mean"],
                                confidence=0.9)
    rate_ax, count_ax = fig.axes[:2]
    heights, lo, hi = _drawn(rate_ax)
    np.testing.assert_allclose(heights, [0.75, 1.0, 0.25])
    np.testing.assert_allclose(lo, [0.30064, 0.51010, 0.0])  # -0.01 clipped at 0
    np.testing.assert_allclose(hi, [0.95440, 1.0, 0.69936])  # 1.02 clipped at 1
    heights, lo, hi = _drawn(count_ax)
    np.testing.assert_allclose(heights, [12.0, 40.0, 7.0])
    np.testing.assert_allclose(lo, [0.0, 10.0])  # no interval for the one-run policy
    np.testing.assert_allclose(hi, [29.5, 70.0])
    assert rate_ax.get_title() == "bad candidates caught"
    assert count_ax.get_title() == "bad requests before rollback (mean)"
    assert count_ax.get_ylabel() == "requests" and rate_ax.get_ylabel() == "share of runs"
    assert rate_ax.get_ylim()[0] == 0 and count_ax.get_ylim()[0] == 0
    caption = fig.get_supxlabel()
    assert "90% interval" in caption and "Wilson" in caption
    assert "(4 runs each)" in fig.get_suptitle()
    with pytest.raises(ValueError, match="confidence"):
        viz.policy_comparison(_HAND, confidence=95)


def test_oc_curve_clips_bands_and_delays_at_zero():
    oc = pd.DataFrame({"size": [0.01, 0.08], "detection_rate": [0.0, 1.0],
                       "detection_rate_lo": [-0.02, 0.6], "detection_rate_hi": [0.4, 1.05],
                       "time_to_detect_s_mean": [30.0, 60.0], "time_to_detect_s_mean_lo": [-12.0, 40.0],
                       "time_to_detect_s_mean_hi": [72.0, 80.0]})
    fig = viz.oc_curve(oc, "size")
    rate_ax, delay_ax = fig.axes
    band = rate_ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 0.0 and band.max() == 1.0
    assert rate_ax.get_ylim()[0] == 0 and delay_ax.get_ylim()[0] == 0
    segments = next(c for c in delay_ax.containers if isinstance(c, ErrorbarContainer)).lines[2][0].get_segments()
    np.testing.assert_allclose([seg[:, 1].min() for seg in segments], [0.0, 40.0])
    np.testing.assert_allclose([seg[:, 1].max() for seg in segments], [72.0, 80.0])
    assert "95% Wilson interval" in rate_ax.get_title() and "95% t interval" in delay_ax.get_title()
    assert delay_ax.get_ylabel() == "time to detect (mean) (s)"
