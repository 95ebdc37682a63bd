"""OC-curve and policy-comparison plots on real (small) sweeps."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

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
    with pytest.raises(ValueError, match="metrics"):
        viz.policy_comparison(pol, metrics=["nope"])
