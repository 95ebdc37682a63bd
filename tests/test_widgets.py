"""The playground's widget-state -> overrides mapping, and the panel driven without a browser.

Known answers: each control lands on its dotted path with its value; a panel opened on
a scenario file runs exactly that file (round trip); a disabled fault is no fault; every
produced override validates; and a latency spike set in the panel multiplies the
candidate's median latency by the multiplier inside the window (lognormal service time,
low utilisation: the median of ``m * S`` is ``m`` times the median of ``S``).
"""

from __future__ import annotations

import html

import numpy as np
import pytest
from scenario_builders import shipped

import workbench
from workbench.widgets import (
    CONTROLS,
    find_scenarios,
    state_from_scenario,
)

SCENARIO_FILES = find_scenarios()



@pytest.fixture(scope="module")
def canary():
    return shipped("canary_latency_spike")


@pytest.fixture(scope="module")
def progressive():
    return shipped("progressive_bad_candidate")


def _median_latency_ms(result, start_s, end_s):
    req = result.requests
    sel = (req["model"] == "candidate") & (req["status"] == "ok") & req["time_s"].between(start_s, end_s)
    return float(np.median(req.loc[sel, "latency_ms"]))


# --------------------------------------------------------------------------- the panel, headless
def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _descendants(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)


@pytest.fixture(scope="module")
def panel(scenarios_dir):
    pytest.importorskip("ipywidgets")
    from workbench.widgets import control_panel

    p = control_panel(scenarios_dir / "canary_latency_spike.toml")
    return p


def test_figure_size_keeps_text_readable():
    from workbench.widgets.panel import MIN_TEXT_PX, figure_size

    for width_px in (600, 1000, 1232, 1500, 1872, 2400):
        width_in, dpi = figure_size(width_px)
        assert width_in * dpi == pytest.approx(width_px)
        assert 7.5 * dpi / 72.0 >= MIN_TEXT_PX  # the smallest font (7.5 pt) at least 11 px high
        assert width_in <= 12.0
    assert figure_size(1800) == (12.0, 150.0)  # a projector: more pixels per inch, bigger text
    with pytest.raises(ValueError, match="width_px"):
        figure_size(0)


def test_panel_has_a_classed_widget_per_control(panel, canary):
    from workbench.widgets.panel import TAB_TITLES

    assert set(panel.controls) == {c.key for c in CONTROLS}
    for c in CONTROLS:
        assert c.css_class in panel.controls[c.key]._dom_classes
        assert panel.controls[c.key].description == c.description
    assert panel.tabs.titles == TAB_TITLES
    assert "wb-tabs" in panel.tabs._dom_classes
    assert [w._dom_classes[-1] for w in panel.tabs.children] == [
        "wb-tab-setup", "wb-tab-faults-and-drift", "wb-tab-gates-and-rollback", "wb-tab-monitors",
        "wb-tab-results", "wb-tab-compare", "wb-tab-risk"]
    # every control is on exactly one tab
    on_tabs = [w for page in panel.tabs.children for w in _descendants(page)]
    for c in CONTROLS:
        assert sum(w is panel.controls[c.key] for w in on_tabs) == 1, c.key
    for button, css in ((panel.run_button, "wb-run-button"), (panel.save_button, "wb-save-toml-button"),
                        (panel.load_button, "wb-load-toml-button"), (panel.argo_button, "wb-export-argo-button"),
                        (panel.flagger_button, "wb-export-flagger-button"),
                        (panel.report_button, "wb-report-button"), (panel.compare_button, "wb-compare-button"),
                        (panel.risk_button, "wb-risk-button")):
        assert css in button._dom_classes and "wb-button" in button._dom_classes
        assert button.layout.width == "auto"  # the whole label, never cut
    assert panel.picker.value == "canary_latency_spike"
    assert panel.state() == state_from_scenario(canary)


def test_panel_run_shows_summary_plots_and_previous_run(panel, canary):
    panel.set_state(state_from_scenario(canary) | {"duration_s": 600.0, "spike_start_s": 200.0,
                                                   "spike_duration_s": 200.0})
    panel.plot_width.value = 1000
    seen = []
    first = panel.run(progress=seen.append)
    assert first is not None, panel.status.value
    assert seen[-1] == 1.0 and panel.progress.value == 1.0
    assert len(first.requests) > 0 and first.scenario.duration_s == 600.0
    assert "<b>Current run</b>" in panel.current_html.value and "candidate" in panel.current_html.value
    assert "wb-table-scroll" in panel.current_html.value  # the table scrolls instead of being clipped
    from workbench.story import story_lines

    story = story_lines(first)  # what the run showed, as the CLI prints it
    assert "latency_spike #0 on candidate, 200-400 s: before -&gt; during" in panel.current_html.value
    assert all(html.escape(item) in panel.current_html.value for item in story)
    assert panel.tabs.selected_index == panel.tabs.titles.index("results")
    names = [w._dom_classes[-1] for w in panel.plots.children]
    assert names == ["wb-plot-traffic-share", "wb-plot-latency", "wb-plot-error-rate"]
    for w in panel.plots.children:  # exactly the plot width, shown at its own size
        assert _png_size(w.value)[0] == 1000 and w.layout.width == "1000px"
    panel.plot_width.value = 1500  # the panel got wider: the same figures drawn again
    assert [_png_size(w.value)[0] for w in panel.plots.children] == [1500, 1500, 1500]
    panel.controls["spike_multiplier"].value = 8.0
    panel.run_button.click()  # the button calls run()
    assert panel.result is not first
    assert "<b>Previous run</b>" in panel.previous_html.value
    assert "spike_multiplier: 4.0 &rarr; 8.0" in panel.changes_html.value
    assert panel.result.scenario.faults[0].multiplier == 8.0


def test_panel_saves_an_html_report_of_the_last_run(panel, tmp_path):
    assert panel.result is not None and not panel.report_button.disabled
    panel.path.value = str(tmp_path / "spike.toml")
    out = panel.save_report()
    assert out == tmp_path / "spike.report.html", panel.status.value
    text = out.read_text()
    assert text.lstrip().lower().startswith("<!doctype html") and "data:image/png;base64," in text


def test_panel_compare_and_errors(panel):
    for kind, box in panel.compare_checks.items():
        box.value = kind in ("canary", "progressive")
    table = panel.compare()
    assert list(table["strategy"]) == ["canary", "progressive"]
    assert len(set(table["requests"])) == 1  # same seed, same traffic
    assert panel.compare_plot.children and "wb-plot-compare" in panel.compare_plot.children[0]._dom_classes
    assert "wb-table-scroll" in panel.compare_html.value
    panel.compare_checks["progressive"].value = False
    assert panel.compare() is None
    assert "wb-error" in panel.status.value and "two to four" in panel.status.value


def test_panel_keeps_start_times_inside_the_run(panel, canary):
    panel.set_state(state_from_scenario(canary))
    assert panel.controls["spike_start_s"].value == 1200.0
    panel.controls["duration_s"].value = 900.0
    assert panel.controls["spike_start_s"].max == 899.0
    assert panel.controls["spike_start_s"].value == 899.0  # clamped: the run stays valid
    assert panel.scenario.with_overrides(panel.overrides()).faults[0].start_s == 899.0


def test_panel_saves_and_loads_a_scenario_toml(panel, canary, tmp_path):
    panel.set_state(state_from_scenario(canary) | {"spike_multiplier": 7.0, "canary_candidate_fraction": 0.3})
    target = tmp_path / "what-if.toml"
    assert panel.save_scenario(target) == target, panel.status.value
    saved = workbench.load_scenario(target)
    assert saved.faults[0].multiplier == 7.0 and saved.strategy.candidate_fraction == 0.3
    panel.controls["spike_multiplier"].value = 3.0
    panel.picker.value = "baseline"  # another scenario altogether
    assert panel.load_scenario(target) is not None, panel.status.value
    assert panel.picker.value == "(file) what-if.toml"
    assert panel.controls["spike_multiplier"].value == 7.0
    assert panel.controls["canary_candidate_fraction"].value == 0.3
    assert panel.scenario.with_overrides(panel.overrides()).to_mapping() == saved.to_mapping()
    assert panel.load_scenario(tmp_path / "missing.toml") is None
    assert "no file" in panel.status.value and panel.controls["spike_multiplier"].value == 7.0


def test_panel_exports_argo_and_flagger_or_says_why_not(panel, scenarios_dir, tmp_path):
    panel.path.value = str(tmp_path / "rollout.toml")
    panel.picker.value = "progressive_bad_candidate"
    argo = panel.export("argo")
    assert argo is not None, panel.status.value
    assert "kind: Rollout" in argo and (tmp_path / "rollout.argo.yaml").read_text() == argo
    assert "wb-yaml-argo" in panel.export_html.value
    flagger = panel.export("flagger")
    assert "kind: Canary" in flagger and (tmp_path / "rollout.flagger.yaml").read_text() == flagger
    panel.controls["strategy"].value = "canary"  # a fixed canary share has no Argo form
    assert panel.export("argo") is None
    assert "No Argo Rollouts export" in panel.export_html.value and "Traceback" not in panel.export_html.value
    assert "wb-error" in panel.status.value


def test_panel_picker_reloads_the_scenario(panel, scenarios_dir):
    panel.picker.value = "baseline"
    panel.picker.value = "progressive_bad_candidate"
    sc = shipped("progressive_bad_candidate")
    assert panel.state() == state_from_scenario(sc)
    assert panel._strategy_boxes["progressive"].layout.display == "flex"
    assert panel._strategy_boxes["canary"].layout.display == "none"
    assert panel.controls["spike_multiplier"].disabled  # no spike in this file
    assert panel.scenario.with_overrides(panel.overrides()).to_mapping() == sc.to_mapping()


def test_panel_risk_over_seeds_shows_intervals(panel):
    for kind, box in panel.compare_checks.items():
        box.value = kind in ("canary", "progressive")
    panel.controls["duration_s"].value = 900.0
    panel.risk_seeds.value = 3
    risk = panel.risk()
    seed = panel.controls["seed"].value
    assert risk.strategies == ("canary", "progressive") and risk.seeds == (seed, seed + 1, seed + 2)
    assert "wb-risk-table" in panel.risk_html.value and "catches a bad candidate" in panel.risk_html.value
    assert "wb-table-scroll" in panel.risk_html.value
    assert panel.risk_result is risk
    (image,) = panel.risk_plot.children
    assert "wb-plot-risk" in image._dom_classes and _png_size(image.value)[0] == panel.plot_width.value
    assert panel.tabs.selected_index == panel.tabs.titles.index("risk")


def test_panel_hides_what_does_not_apply_and_greys_out_what_is_off(panel, scenarios_dir):
    from workbench.widgets import applicable
    from workbench.widgets.mapping import inactive

    panel.picker.value = "progressive_bad_candidate"
    for kind in ("progressive", "canary", "blue_green"):
        panel.controls["strategy"].value = kind
        state = panel.state()
        keep, off = applicable(state, panel.scenario), inactive(state)
        assert "progressive_interval_s" in keep if kind == "progressive" else "progressive_interval_s" not in keep
        for c in CONTROLS:
            assert (panel.controls[c.key].layout.display != "none") == (c.key in keep), (kind, c.key)
            assert panel.controls[c.key].disabled == (c.key in off), (kind, c.key)
        assert panel._strategy_boxes[kind].layout.display == "flex"
        assert all(box.layout.display == "none" for k, box in panel._strategy_boxes.items() if k != kind)


