"""workbench.viz: every figure renders from a real run without warnings, labels its
axes with units, and draws the numbers it is given (hand-built cases)."""

from __future__ import annotations

import io
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import workbench  # noqa: E402
from workbench import viz  # noqa: E402
from workbench.viz.style import EVENT_STYLE  # noqa: E402

UNIT = re.compile(r"\([^)]+\)")


@pytest.fixture(scope="module")
def bad_run(scenarios_dir):
    # error burst on the candidate from 420 s, open-ended; rollback at 540 s
    return workbench.run(scenarios_dir / "progressive_bad_candidate.toml", overrides={"duration_s": 900})


@pytest.fixture(scope="module")
def shadow_run(scenarios_dir):
    return workbench.run(scenarios_dir / "shadow_candidate_crashes.toml", overrides={"duration_s": 300})


@pytest.fixture(scope="module")
def compare_table(scenarios_dir):
    return workbench.compare(scenarios_dir / "progressive_bad_candidate.toml", ["canary", "progressive"],
                             overrides={"duration_s": 900})


def render(make):
    """Build and render a figure with every warning turned into an error."""
    before = plt.get_fignums()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = make()
        assert isinstance(fig, Figure)
        fig.savefig(io.BytesIO(), format="png")
    assert plt.get_fignums() == before, "viz must not register figures with pyplot"
    return fig


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def assert_units(fig, x=True):
    for ax in visible_axes(fig):
        assert UNIT.search(ax.get_ylabel()), f"y label without unit: {ax.get_ylabel()!r}"
        if x:
            assert UNIT.search(ax.get_xlabel()), f"x label without unit: {ax.get_xlabel()!r}"


def vlines_at(ax, color):
    return sorted({round(float(line.get_xdata()[0]), 6) for line in ax.get_lines()
                   if isinstance(line, Line2D) and line.get_color() == color
                   and len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]})


# -- real runs -----------------------------------------------------------------


def test_traffic_share_real_run(bad_run):
    fig = render(lambda: viz.traffic_share(bad_run.requests, bad_run.events))
    assert_units(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time since start (min)"  # 900 s > 10 min
    assert vlines_at(ax, EVENT_STYLE["rollback"][0]) == [9.0]  # rollback at 540 s
    assert vlines_at(ax, EVENT_STYLE["step"][0]) == [0.0, 5.0]  # steps at 0 and 300 s
    assert ax.get_ylim() == (0.0, 100.0)


def test_latency_over_time_real_run(bad_run):
    fig = render(lambda: viz.latency_over_time(bad_run.requests, bad_run.events))
    assert_units(fig)
    ax = fig.axes[0]
    labels = {line.get_label() for line in ax.get_lines()}
    assert {"legacy p50", "legacy p95", "legacy p99", "candidate p99"} <= labels
    # the open-ended fault is shaded from 7 min to the end of the run (15 min)
    spans = sorted((round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6))
                   for p in ax.patches if isinstance(p, Rectangle))
    assert len(spans) == 1 and spans[0] == pytest.approx((7.0, 15.0), abs=0.01)  # last arrival ~899.9 s
    fig_log = render(lambda: viz.latency_over_time(bad_run.requests, quantiles=(0.5, 0.99), log_y=True,
                                                   time_unit="s"))
    assert fig_log.axes[0].get_yscale() == "log"
    assert fig_log.axes[0].get_xlabel() == "time since start (s)"


def test_error_rate_over_time_real_run(bad_run):
    fig = render(lambda: viz.error_rate_over_time(bad_run.requests, bad_run.events))
    assert_units(fig)
    ax = fig.axes[0]
    cand = next(line for line in ax.get_lines() if line.get_label() == "candidate")
    x, y = np.asarray(cand.get_xdata()), np.asarray(cand.get_ydata(), dtype=float)
    # 8 % injected errors between the fault (7 min) and the rollback (9 min)
    inside = (x > 7.0) & (x < 9.0) & np.isfinite(y)
    assert inside.any() and 4.0 < np.nanmean(y[inside]) < 12.0
    assert np.all(np.isnan(y[x > 9.5]))  # no candidate traffic after the rollback
    gates = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert len(gates) == 1 and np.allclose(gates[0].get_xdata(), [8.0, 9.0])


def test_shadow_agreement_real_run(shadow_run):
    fig = render(lambda: viz.shadow_agreement(shadow_run.shadow, tolerance=0.5, events=shadow_run.events))
    assert_units(fig)
    right = fig.axes[1]
    bad = next(line for line in right.get_lines() if line.get_label().startswith("candidate non-ok"))
    # the shadowed candidate fails half its calls
    assert abs(np.nanmean(np.asarray(bad.get_ydata(), dtype=float)) - 50.0) < 5.0
    agree = next(line for line in right.get_lines() if line.get_label().startswith("agreement"))
    expected = 100 * shadow_run.summary.shadow.agreement
    assert abs(np.nanmean(np.asarray(agree.get_ydata(), dtype=float)) - expected) < 3.0


def test_compare_panel_real_run(compare_table):
    fig = render(lambda: viz.compare_panel(compare_table))
    assert_units(fig, x=False)
    axes = visible_axes(fig)
    assert len(axes) == 6
    users = next(ax for ax in axes if ax.get_title() == "users exposed to candidate")
    heights = [p.get_height() for p in users.patches]
    assert heights == pytest.approx(compare_table["candidate_users"].astype(float).tolist())
    ticks = [t.get_text() for t in users.get_xticklabels()]
    assert ticks[1] == "progressive\nrolled_back"


# -- hand-built cases ----------------------------------------------------------


def _requests(rows):
    frame = pd.DataFrame(rows, columns=["time_s", "model", "status", "latency_ms"])
    frame["model"] = frame["model"].astype("category")
    frame["status"] = frame["status"].astype("category")
    return frame


def test_latency_quantiles_known_values():
    rows = [(i * 0.2, "legacy", "ok", float(i + 1)) for i in range(100)]  # 1..100 ms in [0, 20) s
    rows += [(25.0, "legacy", "dropped", np.nan)]
    fig = render(lambda: viz.latency_over_time(_requests(rows), bin_s=30, quantiles=(0.5, 0.9)))
    lines = {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in fig.axes[0].get_lines()}
    assert lines["legacy p50"][0] == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert lines["legacy p90"][0] == pytest.approx(np.percentile(np.arange(1, 101), 90))
    assert fig.axes[0].get_xlabel() == "time since start (s)"


def test_error_rate_known_values_and_min_count():
    rows = [(float(i), "legacy", "error" if i < 2 else "ok", 10.0) for i in range(10)]
    rows += [(float(i), "candidate", "timeout", 10.0) for i in range(3)]  # below min_count
    rows += [(40.0 + i, "legacy", "dropped" if i == 0 else "ok", 10.0) for i in range(5)]
    fig = render(lambda: viz.error_rate_over_time(_requests(rows), bin_s=30, min_count=5))
    lines = {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in fig.axes[0].get_lines()}
    assert lines["legacy"].tolist() == pytest.approx([20.0, 20.0])
    assert np.isnan(lines["candidate"]).all()
    only = render(lambda: viz.error_rate_over_time(_requests(rows), bin_s=30, statuses=("error",)))
    y = np.asarray(only.axes[0].get_lines()[0].get_ydata(), dtype=float)
    assert y.tolist() == pytest.approx([20.0, 0.0])
    assert only.axes[0].get_ylabel() == "error requests (%)"


def test_traffic_share_known_values():
    rows = [(1.0, "legacy", "ok", 1.0)] * 3 + [(2.0, "candidate", "ok", 1.0)]
    rows += [(31.0, "candidate", "ok", 1.0)] * 2
    fig = render(lambda: viz.traffic_share(_requests(rows), bin_s=30))
    ax = fig.axes[0]
    legacy, candidate = ax.collections[:2]
    top_legacy = legacy.get_paths()[0].vertices[:, 1]
    top_cand = candidate.get_paths()[0].vertices[:, 1]
    assert 75.0 in np.round(top_legacy, 9) and 0.0 in np.round(top_legacy, 9)
    assert top_cand.max() == pytest.approx(100.0)


def test_fault_windows_pairs_and_open_faults():
    ev = pd.DataFrame({
        "time_s": [10.0, 20.0, 40.0, 60.0],
        "kind": ["fault_start", "fault_start", "fault_end", "rollback"],
        "reason": ["a #0 starts", "b #1 starts", "a #0 ends", "gate"],
    })
    assert viz.fault_windows(ev, end_s=90.0) == [(10.0, 40.0, "a #0"), (20.0, 90.0, "b #1")]
    assert viz.fault_windows(None, end_s=90.0) == []


def test_p_values_over_time_known_columns():
    df = pd.DataFrame({
        "time_s": [60.0, 120.0, 180.0, 240.0],
        "p_naive": [0.2, 0.03, 0.08, 0.01],
        "p_sequential": [1.0, 0.5, 0.3, 0.04],
        "estimate": [0.1, 0.2, 0.15, 0.2],
        "ci_low": [-0.1, 0.01, -0.01, 0.05],
        "ci_high": [0.3, 0.39, 0.31, 0.35],
        "cs_low": [-0.5, -0.3, -0.2, 0.01],
        "cs_high": [0.7, 0.7, 0.5, 0.4],
    })
    fig = render(lambda: viz.p_values_over_time(df, effect_name="MAE difference", effect_unit="label units"))
    assert_units(fig)
    top, bottom = fig.axes
    assert top.get_yscale() == "log"
    assert bottom.get_ylabel() == "MAE difference (label units)"
    # first crossing of alpha circled: naive at the 2nd look, sequential at the 4th (seconds: run <= 10 min)
    circles = sorted(float(line.get_xdata()[0]) for line in top.get_lines() if line.get_marker() == "o")
    assert circles == [120.0, 240.0]
    only_n = render(lambda: viz.p_values_over_time(pd.DataFrame({"n": [10, 20], "p_naive": [0.5, 0.2]})))
    assert only_n.axes[0].get_xlabel() == "observations (count)"


def test_compare_panel_missing_values_are_na():
    table = pd.DataFrame({"strategy": ["a", "b"], "time_to_rollback_s": [np.nan, 30.0],
                          "error_rate": [0.01, 0.02]})
    fig = render(lambda: viz.compare_panel(table))
    ax = next(ax for ax in fig.axes if ax.get_title() == "fault start to rollback")
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["n/a", "30"]
    err = next(ax for ax in fig.axes if ax.get_ylabel() == "share of requests (%)")
    assert [p.get_height() for p in err.patches] == pytest.approx([1.0, 2.0])


def test_use_style_is_scoped():
    before = matplotlib.rcParams["axes.spines.top"]
    with viz.use_style():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.spines.top"] == before


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: viz.traffic_share(pd.DataFrame({"time_s": [1.0]})), "requests: missing column"),
        (lambda: viz.latency_over_time(_requests([])), "requests: the table is empty"),
        (lambda: viz.error_rate_over_time(_requests([(1.0, "legacy", "ok", 1.0)]), bin_s=0), "bin_s"),
        (lambda: viz.traffic_share(_requests([(1.0, "legacy", "ok", 1.0)]), time_unit="h"), "time_unit"),
        (lambda: viz.latency_over_time(_requests([(1.0, "legacy", "ok", 1.0)]), quantiles=(50,)),
         "quantiles"),
        (lambda: viz.compare_panel(pd.DataFrame({"strategy": ["a"]}), metrics=["nope"]), "metrics"),
        (lambda: viz.p_values_over_time(pd.DataFrame({"n": [1, 2]})), "p-value column"),
        (lambda: viz.shadow_agreement(pd.DataFrame({"time_s": [1.0], "status": ["ok"],
                                                    "prediction_diff": [0.1]}), tolerance=-1), "tolerance"),
        (lambda: viz.traffic_share([1, 2]), "expected a pandas DataFrame"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
