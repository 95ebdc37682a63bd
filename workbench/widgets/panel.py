"""The playground: an ipywidgets control panel over the public API.

:func:`control_panel` builds a :class:`ControlPanel`: a header (Run, progress, status)
above a tab bar. The control tabs (``setup``, ``faults and drift``, ``gates and
rollback``, ``monitors``) are built from :data:`workbench.widgets.mapping.CONTROLS`
grouped by :data:`~workbench.widgets.mapping.TABS`, so a new control appears without a
change here; controls that do not apply to the chosen strategy are hidden. The other
tabs show what was run:

- ``results``: the per-model summary of the last run beside the previous one, what
  changed between them, three plots (traffic share, latency, error rate) and *Save
  HTML report*;
- ``compare``: two to four strategies on the panel's seed (``workbench.compare``,
  paired by common random numbers), their KPI table and
  :func:`workbench.viz.compare_panel`;
- ``risk``: the same strategies over many seeds (``workbench.compare(..., seeds=N)``),
  each risk figure with its interval (:func:`workbench.viz.risk_plot`).

The setup tab saves the panel's scenario as TOML, loads one back into the controls and
exports the strategy as Argo Rollouts or Flagger YAML (shown and written next to the
TOML file).

Figures follow the width of the panel: each is rendered to a PNG exactly
``plot_width`` pixels wide (the panel's width when *fit plots to the panel* is on,
measured in the browser) and shown at that size, at a resolution that keeps the
smallest text at least :data:`MIN_TEXT_PX` pixels high. Tables scroll sideways instead
of being clipped.

The panel only calls the public API (``workbench.load_scenario``, ``workbench.run``,
``workbench.compare``, ``Scenario.with_overrides``, ``workbench.viz``,
``workbench.rollouts``). Its state is a plain dict of widget values turned into
overrides by one pure function, :func:`workbench.widgets.mapping.state_to_overrides`,
tested without a browser. Every widget carries a stable CSS class (``wb-run-button``,
``wb-slider-spike-multiplier``, ``wb-tab-risk``, ``wb-plot-latency``,
``wb-table-scroll``, ...) for browser tests.
"""

from __future__ import annotations

import html
import io
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

import workbench
from workbench import viz
from workbench.summary import RunSummary

from .mapping import (
    CONTROLS,
    STRATEGY_KINDS,
    TABS,
    applicable,
    choice_options,
    compare_specs,
    find_scenarios,
    inactive,
    load_state,
    save_state,
    scenario_from_state,
    state_from_scenario,
    state_to_overrides,
)

if TYPE_CHECKING:
    from workbench.experiments.risk import RiskComparison

__all__ = ["ControlPanel", "MIN_TEXT_PX", "TAB_TITLES", "control_panel", "figure_png", "figure_size",
           "summary_frame"]

#: Smallest text of a figure on screen, in CSS pixels (the plots' smallest font is 7.5 pt).
MIN_TEXT_PX = 11.0
_SMALLEST_FONT_PT = 7.5
_MIN_DPI = math.ceil(MIN_TEXT_PX * 72.0 / _SMALLEST_FONT_PT)  # 106
_MAX_WIDTH_IN = 12.0  # wider plots get a higher resolution (bigger text), not more inches
_MIN_PLOT_PX, _MAX_PLOT_PX = 600, 2400
_DEFAULT_PLOT_PX = 1000  # before the browser has measured the panel (or where it cannot)

_LABEL_WIDTH = "150px"
_CONTROL_WIDTH = "420px"
_COMPARE_SEEDS = 10  # seeds per strategy on the risk tab: intervals in seconds, not minutes
_COMPARE_SEEDS_MAX = 1000
_DEFAULT_FILE = Path("runs") / "playground" / "scenario.toml"

#: The tabs, in order: the control tabs (titles of ``mapping.TABS``), then the output tabs.
TAB_TITLES: tuple[str, ...] = ("setup", "faults and drift", "gates and rollback", "monitors",
                               "results", "compare", "risk")
_GROUP_TITLES = {
    "general": "Scenario, traffic and strategy",
    "candidate": "Candidate model",
    "spike": "Latency spike on the candidate",
    "burst": "Error burst on the candidate",
    "outage": "Candidate outage",
    "data_drift": "Data drift (a feature's mean moves)",
    "concept_drift": "Concept drift (the target function changes)",
}
_STRATEGY_TITLES = {
    "ab": "A/B split", "canary": "canary cohort", "progressive": "progressive delivery",
    "shadow": "shadow traffic", "blue_green": "blue/green", "bandit": "bandit",
    "single": "legacy only", "interleaving": "interleaving",
}
_COMPARE_COLUMNS = ["strategy", "final_state", "candidate_users", "bad_requests_candidate",
                    "time_to_detect_s", "time_to_rollback_s", "time_degraded_s", "error_rate",
                    "latency_p99_ms"]
_STYLE = """<style>
.wb-control-panel {font-size: 13px}
.wb-control-panel .wb-table {border-collapse: collapse; font-size: 13px; margin: 2px 0 6px 0}
.wb-control-panel .wb-table th, .wb-control-panel .wb-table td {padding: 3px 8px; text-align: right;
  border-bottom: 1px solid #ddd; white-space: nowrap}
.wb-control-panel .wb-table-scroll {overflow-x: auto; max-width: 100%}
.wb-control-panel .wb-error {color: #b00020; white-space: pre-wrap}
.wb-control-panel .wb-yaml {max-height: 420px; overflow: auto; background: #f6f6f6; padding: 6px;
  font-size: 12px; white-space: pre; margin: 4px 0}
.wb-control-panel h4 {margin: 8px 0 2px 0}
.wb-control-panel .wb-note {font-size: 13px; color: #555; line-height: 1.45}
.wb-control-panel .wb-story {font-size: 13px; line-height: 1.45; margin: 4px 0; padding-left: 18px}
.wb-control-panel .wb-story-table {font-size: 12px; margin: 2px 0}
.wb-control-panel .wb-button {width: auto; min-width: max-content}
.wb-control-panel .wb-plot img, .wb-control-panel img.wb-plot {max-width: none}
.wb-control-panel .wb-tabs {--jp-widgets-horizontal-tab-width: auto}
</style>"""
# The browser measures the panel and writes the width into the plot-width box (the kernel
# re-renders the figures at that width) whenever the panel is resized, while "fit plots to
# the panel" is ticked. Where the front end does not run it, the box keeps its value.
_WIDTH_PROBE = (
    "<img alt='' style='display:none' src='data:,' onerror=\"(function(img){"
    "var panel=img.closest('.wb-control-panel');"
    "if(!panel||panel.dataset.wbWidthProbe){return;}panel.dataset.wbWidthProbe='1';"
    "var timer=null,last=0;"
    "function send(){var fit=panel.querySelector('.wb-plot-fit input');"
    "var box=panel.querySelector('.wb-plot-width input');"
    "if(!fit||!box||!fit.checked||!panel.isConnected){return;}"
    "var w=Math.floor(panel.clientWidth-48);"
    "if(w<1||Math.abs(w-last)<24){return;}last=w;box.value=String(w);"
    "box.dispatchEvent(new Event('change',{bubbles:true}));}"
    "new ResizeObserver(function(){clearTimeout(timer);timer=setTimeout(send,300);}).observe(panel);"
    "})(this)\">"
)


# --------------------------------------------------------------------------- helpers
def figure_size(width_px: int) -> tuple[float, float]:
    """``(width_in, dpi)`` that render a figure ``width_px`` pixels wide with readable text.

    The resolution keeps the smallest font (7.5 pt) at least :data:`MIN_TEXT_PX` pixels
    high when the PNG is shown at its own size; beyond 12 inches the resolution grows
    instead of the figure, so text grows with the plot (a projector).

    Examples
    --------
    >>> figure_size(1000), figure_size(1800)
    ((9.433962264150944, 106.0), (12.0, 150.0))
    """
    if isinstance(width_px, bool) or not isinstance(width_px, (int, float)) or not width_px >= 1:
        raise ValueError(f"width_px: expected a positive number of pixels, got {width_px!r}")
    dpi = max(float(_MIN_DPI), float(width_px) / _MAX_WIDTH_IN)
    return float(width_px) / dpi, dpi


def figure_png(fig: Any, width_px: int = _DEFAULT_PLOT_PX) -> bytes:
    """PNG bytes of a matplotlib figure, exactly ``width_px`` pixels wide (see :func:`figure_size`).

    The figure keeps its aspect ratio; it is shown in an ``Image`` widget (no pyplot,
    no backend).
    """
    width_in, dpi = figure_size(width_px)
    w0, h0 = fig.get_size_inches()
    fig.set_size_inches(width_in, h0 * width_in / w0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=None, facecolor="white")
    return buf.getvalue()


def _panel_columns(width_px: int) -> int:
    """Panels per row of a multi-panel figure: one per 400 px, one to three."""
    return max(1, min(3, int(width_px) // 400))


def _num(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return spec.format(value)


def summary_frame(summary: RunSummary) -> pd.DataFrame:
    """The per-model KPI table of a run's summary as formatted strings (one row per model)."""
    rows = {}
    for name, m in summary.models.items():
        rows[name] = {
            "requests": _num(m.requests, "{:,d}"),
            "users": _num(m.users, "{:,d}"),
            "non-ok %": _num(100.0 * m.error_rate, "{:.2f}"),
            "p50 ms": _num(m.latency_p50_ms, "{:.1f}"),
            "p99 ms": _num(m.latency_p99_ms, "{:.1f}"),
            "queue ms": _num(m.mean_queue_ms, "{:.2f}"),
            "util": _num(m.utilisation, "{:.2f}"),
            "MAE": _num(m.prediction_mae, "{:.3f}"),
            "conv %": _num(100.0 * m.conversion_rate, "{:.2f}"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _scroll(table_html: str) -> str:
    """A table in a box that scrolls sideways when the table is wider than the panel."""
    return f"<div class='wb-table-scroll'>{table_html}</div>"


def _outcome(summary: RunSummary) -> str:
    strat = summary.strategy
    parts = [f"strategy <b>{html.escape(strat.kind)}</b>",
             f"final state <b>{html.escape(strat.final_state)}</b>"]
    if summary.rollback.rolled_back:
        parts.append(f"rolled back at {summary.rollback.time_s:.0f} s")
    return ", ".join(parts)


def _story_html(result: Any) -> str:
    """What the run showed (:func:`workbench.story.story_lines`): sentences as a list, tables as printed."""
    from workbench.story import story_lines

    items = [f"<li><div class='wb-table-scroll'><pre class='wb-story-table'>{html.escape(item)}</pre></div></li>"
             if "\n" in item else f"<li>{html.escape(item)}</li>" for item in story_lines(result)]
    return "<ul class='wb-story'>" + "".join(items) + "</ul>"


def _faults_line(scenario: Any) -> str:
    """What was injected, in words: ``latency_spike x6 on candidate at 1200-1500 s``."""
    parts = []
    for f in scenario.faults:
        what = {"latency_spike": lambda f: f"x{f.multiplier:g}" + (f" +{f.add_ms:g} ms" if f.add_ms else ""),
                "error_burst": lambda f: f"{100 * f.error_rate:g}% errors",
                "outage": lambda f: f.mode,
                "data_drift": lambda f: f"{f.feature} shift {f.shift:+g}",
                "concept_drift": lambda f: ", ".join(f"{k} {v:+g}" for k, v in f.weight_shift.items()),
                }.get(f.kind, lambda f: "")(f)
        target = getattr(f, "target", None)
        end = "end" if f.duration_s is None else f"{f.end_s:g}"
        parts.append(f"{f.kind} {what}{' on ' + target if target else ''} at {f.start_s:g}-{end} s")
    return "faults: " + ("; ".join(parts) if parts else "none")


def _tag(widget: widgets.Widget, *classes: str) -> widgets.Widget:
    for cls in classes:
        widget.add_class(cls)
    return widget


def _css(name: str) -> str:
    return name.replace("_", "-").replace(" ", "-").replace("/", "-")


def _button(description: str, css: str, tooltip: str, **kwargs: Any) -> widgets.Button:
    """A button sized to its whole label."""
    return _tag(widgets.Button(description=description, tooltip=tooltip,
                               layout=widgets.Layout(width="auto", min_width="max-content"), **kwargs),
                "wb-button", css)


def _scenario_options(root: str | os.PathLike | None) -> dict[str, Path]:
    return {p.stem: p for p in find_scenarios(root)}


def _control_tabs() -> dict[str, tuple[str, ...]]:
    """Control tab title -> Control groups: ``mapping.TABS``, every group placed once."""
    out = {title: tuple(groups) for title, groups in TABS.items()}
    placed = {g for groups in out.values() for g in groups}
    first = next(iter(out))
    extra = tuple(dict.fromkeys(c.group for c in CONTROLS if c.group not in placed))
    out[first] = out[first] + extra  # a group no tab names is shown on the first tab
    return out


def _group_title(group: str) -> str:
    if group in _GROUP_TITLES:
        return _GROUP_TITLES[group]
    if group in _STRATEGY_TITLES:
        return f"Strategy parameters: {_STRATEGY_TITLES[group]}"
    return group.replace("_", " ").capitalize()


# --------------------------------------------------------------------------- the panel
class ControlPanel(widgets.VBox):
    """The playground panel (a ``VBox``); build it with :func:`control_panel`.

    Attributes
    ----------
    controls : dict of str to Widget
        One widget per key of :data:`~workbench.widgets.mapping.CONTROLS`.
    tabs : ipywidgets.Tab
        The tabs of :data:`TAB_TITLES`.
    scenario : Scenario
        The picked scenario, before the panel's overrides.
    result : RunResult or None
        The last run.
    comparison : DataFrame or None
        The last comparison on one seed.
    risk_result : RiskComparison or None
        The last comparison over many seeds.
    """

    def __init__(self, scenario: Any = None, *, scenarios_root: str | os.PathLike | None = None):
        self._files = _scenario_options(scenarios_root)
        self._given: dict[str, Any] = {}
        first_key = self._register(scenario)
        self.scenario = self._load(first_key)
        self.result = None
        self.comparison: pd.DataFrame | None = None
        self.risk_result: RiskComparison | None = None
        self._last: dict[str, Any] | None = None  # state and HTML of the last run
        self._progress_shown = -1.0
        self._quiet = False  # set while the panel itself changes many controls at once
        # figures shown, as (name, function of the panel width drawing the figure)
        self._figures: dict[str, list[tuple[str, Callable[[int], Any]]]] = {"plots": [], "compare": [], "risk": []}

        self.picker = _tag(widgets.Dropdown(
            description="scenario", options=self._picker_options(), value=first_key,
            style={"description_width": _LABEL_WIDTH}, layout=widgets.Layout(width=_CONTROL_WIDTH),
        ), "wb-control", "wb-select-scenario")
        self.info = _tag(widgets.HTML(layout=widgets.Layout(max_width="860px")), "wb-scenario-info")
        self.controls: dict[str, widgets.Widget] = {c.key: self._make(c) for c in CONTROLS}

        # header: always visible above the tabs
        self.run_button = _button("Run", "wb-run-button", "simulate the scenario with these settings",
                                  button_style="primary", icon="play")
        self.progress = _tag(widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress",
                                                   style={"description_width": "70px"}), "wb-progress")
        self.status = _tag(widgets.HTML(value="<i>Set the controls and press Run.</i>"), "wb-status")
        self.plot_width = _tag(widgets.BoundedIntText(
            value=_DEFAULT_PLOT_PX, min=_MIN_PLOT_PX, max=_MAX_PLOT_PX, description="plot width (px)",
            tooltip="width of every plot in screen pixels", style={"description_width": "100px"},
            layout=widgets.Layout(width="190px")), "wb-control", "wb-plot-width")
        self.plot_fit = _tag(widgets.Checkbox(value=True, description="fit plots to the panel", indent=False,
                                              layout=widgets.Layout(width="auto")),
                             "wb-control", "wb-plot-fit")

        # files (setup tab)
        self.path = _tag(widgets.Text(value=str(_DEFAULT_FILE), description="scenario file",
                                      style={"description_width": _LABEL_WIDTH},
                                      layout=widgets.Layout(width="560px")), "wb-control", "wb-scenario-path")
        self.save_button = _button("Save scenario TOML", "wb-save-toml-button",
                                   "write the scenario with the panel's settings to the file", icon="save")
        self.load_button = _button("Load scenario TOML", "wb-load-toml-button",
                                   "read the file and set every control from it", icon="folder-open")
        self.argo_button = _button("Export Argo YAML", "wb-export-argo-button",
                                   "the strategy as an Argo Rollout, written next to the file", icon="download")
        self.flagger_button = _button("Export Flagger YAML", "wb-export-flagger-button",
                                      "the strategy as a Flagger Canary, written next to the file",
                                      icon="download")
        self.export_html = _tag(widgets.HTML(layout=widgets.Layout(width="100%")), "wb-export-output")

        # results tab
        self.report_button = _button("Save HTML report", "wb-report-button",
                                     "a self-contained HTML page of the last run, next to the scenario file",
                                     icon="file", disabled=True)
        self.current_html = _tag(widgets.HTML(layout=widgets.Layout(flex="1 1 520px", min_width="0")),
                                 "wb-summary", "wb-summary-current")
        self.previous_html = _tag(widgets.HTML(layout=widgets.Layout(flex="1 1 520px", min_width="0")),
                                  "wb-summary-previous")
        self.changes_html = _tag(widgets.HTML(), "wb-changes")
        self.plots = _tag(widgets.VBox(layout=widgets.Layout(width="100%", overflow="auto")), "wb-plots")

        # compare and risk tabs
        self.compare_checks = {
            k: _tag(widgets.Checkbox(value=k in ("canary", "progressive", "blue_green"),
                                     description=_STRATEGY_TITLES.get(k, k), indent=False,
                                     layout=widgets.Layout(width="auto", margin="0 16px 0 0")),
                    "wb-control", f"wb-check-compare-{_css(k)}")
            for k in STRATEGY_KINDS
        }
        self.compare_button = _button("Compare strategies", "wb-compare-button",
                                      "run the ticked strategies on the panel's seed", icon="columns")
        self.compare_html = _tag(widgets.HTML(layout=widgets.Layout(width="100%")), "wb-compare-table")
        self.compare_plot = _tag(widgets.VBox(layout=widgets.Layout(width="100%", overflow="auto")),
                                 "wb-compare-plots")
        self.risk_seeds = _tag(widgets.BoundedIntText(
            value=_COMPARE_SEEDS, min=2, max=_COMPARE_SEEDS_MAX, description="seeds",
            tooltip="seeds per strategy, from the panel's seed on",
            style={"description_width": "50px"}, layout=widgets.Layout(width="150px"),
        ), "wb-control", "wb-risk-seeds")
        self.risk_button = _button("Compute risk", "wb-risk-button",
                                   "run the ticked strategies on many seeds: each risk with its interval",
                                   icon="bar-chart")
        self.risk_html = _tag(widgets.HTML(layout=widgets.Layout(width="100%")), "wb-risk-table")
        self.risk_plot = _tag(widgets.VBox(layout=widgets.Layout(width="100%", overflow="auto")),
                              "wb-risk-plots")

        # control groups, laid out in wrapping columns on their tabs
        self._control_tabs = _control_tabs()
        self._group_boxes: dict[str, widgets.VBox] = {}
        for group in dict.fromkeys(c.group for c in CONTROLS):
            items = [self.controls[c.key] for c in CONTROLS if c.group == group]
            head = [widgets.HTML(f"<h4>{html.escape(_group_title(group))}</h4>")]
            self._group_boxes[group] = _tag(widgets.VBox(head + items, layout=widgets.Layout(
                width="auto", margin="0 24px 8px 0")), "wb-group", f"wb-group-{_css(group)}")
        self._strategy_boxes = {k: self._group_boxes[k] for k in _STRATEGY_TITLES if k in self._group_boxes}

        pages: dict[str, widgets.Widget] = {}
        for title, groups in self._control_tabs.items():
            boxes = [self._group_boxes[g] for g in groups if g in self._group_boxes]
            top: list[widgets.Widget] = []
            if title == next(iter(self._control_tabs)):
                top = [widgets.HTML("<h4>Scenario</h4>"), self.picker, self.info]
            if not boxes and not top:
                boxes = [widgets.HTML("<div class='wb-note'>No control on this tab for this scenario.</div>")]
            body = widgets.HBox(boxes, layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
            children = [*top, body]
            if title == next(iter(self._control_tabs)):
                children += [widgets.HTML("<h4>Scenario file and exports</h4>"), self.path,
                             widgets.HBox([self.save_button, self.load_button, self.argo_button,
                                           self.flagger_button],
                                          layout=widgets.Layout(flex_flow="row wrap", grid_gap="6px")),
                             self.export_html]
            pages[title] = widgets.VBox(children)
        pages["results"] = widgets.VBox([
            widgets.HBox([self.report_button], layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.current_html, self.previous_html],
                         layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px", width="100%")),
            self.changes_html, self.plots])
        pages["compare"] = widgets.VBox([
            widgets.HTML("<h4>Two to four strategies on the same traffic (the panel's seed)</h4>"),
            widgets.HBox(list(self.compare_checks.values()), layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.compare_button]), self.compare_html, self.compare_plot])
        pages["risk"] = widgets.VBox([
            widgets.HTML("<h4>Risk of each ticked strategy (compare tab) over many seeds</h4>"
                         "<div class='wb-note'>Every strategy runs on the same seeds, from the panel's "
                         "seed on; each figure is shown with its interval.</div>"),
            widgets.HBox([self.risk_seeds, self.risk_button], layout=widgets.Layout(grid_gap="8px")),
            self.risk_html, self.risk_plot])
        titles = list(pages)
        self.tabs = _tag(widgets.Tab(children=[_tag(pages[t], "wb-tab-page", f"wb-tab-{_css(t)}")
                                               for t in titles]), "wb-tabs")
        self.tabs.titles = tuple(titles)
        self._tab_index = {t: i for i, t in enumerate(titles)}

        header = widgets.VBox([
            widgets.HTML(_STYLE + _WIDTH_PROBE + "<h3>Rollout Workbench playground</h3>"),
            widgets.HBox([self.run_button, self.progress, self.plot_width, self.plot_fit],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center", grid_gap="8px")),
            self.status,
        ])
        super().__init__([header, self.tabs], layout=widgets.Layout(width="100%"))
        self.add_class("wb-control-panel")

        self.picker.observe(self._on_pick, names="value")
        for key, w in self.controls.items():
            w.observe(lambda _: self._refresh_visibility(), names="value")
            if key == "duration_s":
                w.observe(lambda _: self._limit_to_duration(), names="value")
        self.plot_width.observe(lambda _: self._render_all(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self.compare_button.on_click(lambda _: self.compare())
        self.risk_button.on_click(lambda _: self.risk())
        self.save_button.on_click(lambda _: self.save_scenario())
        self.load_button.on_click(lambda _: self.load_scenario())
        self.argo_button.on_click(lambda _: self.export("argo"))
        self.flagger_button.on_click(lambda _: self.export("flagger"))
        self.report_button.on_click(lambda _: self.save_report())
        self.set_state(state_from_scenario(self.scenario))

    # ------------------------------------------------------------------ scenarios
    def _register(self, scenario: Any) -> str:
        if scenario is None:
            if not self._files:
                raise ValueError("scenario: no scenarios/ directory found; pass a Scenario or a path")
            return "canary_latency_spike" if "canary_latency_spike" in self._files else next(iter(self._files))
        if isinstance(scenario, workbench.Scenario):
            key = f"(given) {scenario.name}"
            self._given[key] = scenario
            return key
        if isinstance(scenario, (str, os.PathLike)):
            path = Path(scenario)
            for key, p in self._files.items():
                if p.exists() and path.exists() and p.resolve() == path.resolve():
                    return key
            key = f"(file) {path.name}"
            self._given[key] = path
            return key
        raise ValueError(f"scenario: expected a Scenario, a path or None, got {type(scenario).__name__}")

    def _picker_options(self) -> list[str]:
        return list(self._given) + list(self._files)

    def _load(self, key: str) -> Any:
        source = self._given.get(key, self._files.get(key))
        if isinstance(source, workbench.Scenario):
            return source
        return workbench.load_scenario(source)

    def _on_pick(self, change: Mapping[str, Any]) -> None:
        if self._quiet:
            return
        try:
            self.scenario = self._load(change["new"])
        except ValueError as exc:
            self._error(exc)
            return
        self.set_state(state_from_scenario(self.scenario))
        self.status.value = f"<i>Loaded {html.escape(self.scenario.name)}. Press Run.</i>"

    # ------------------------------------------------------------------ controls
    def _make(self, c: Any) -> widgets.Widget:
        common = {"description": c.description, "style": {"description_width": _LABEL_WIDTH},
                  "layout": widgets.Layout(width=_CONTROL_WIDTH)}
        if c.kind == "float":
            w = widgets.FloatSlider(min=c.min, max=c.max, step=c.step, continuous_update=False,
                                    readout_format=".2f" if c.step < 1 else ".0f", **common)
        elif c.kind == "int":
            w = widgets.IntSlider(min=int(c.min), max=int(c.max), step=int(c.step), continuous_update=False,
                                  **common)
        elif c.kind == "seed":
            w = widgets.BoundedIntText(min=int(c.min), max=int(c.max), **common)
        elif c.kind == "bool":
            w = widgets.Checkbox(indent=False, **common)
        elif c.kind == "choice":
            w = widgets.Dropdown(options=list(c.options) or ["-"], **common)
        else:  # free text (names, expressions)
            w = widgets.Text(continuous_update=False, **common)
        w.tooltip = c.key
        return _tag(w, "wb-control", c.css_class)

    def state(self) -> dict[str, Any]:
        """The panel's state: a plain dict of widget values (the mapping's input)."""
        return {c.key: self.controls[c.key].value for c in CONTROLS}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Set every control from ``state`` (ranges and choices widened to hold the values)."""
        sc = self.scenario
        self._quiet = True
        try:
            for key, options in choice_options(sc).items():
                if key in self.controls:
                    self.controls[key].options = list(options) or ["-"]
            dur = float(state.get("duration_s", sc.duration_s))
            for c in CONTROLS:
                if c.key not in state:
                    continue
                w, value = self.controls[c.key], state[c.key]
                if c.kind in ("float", "int") and isinstance(value, (int, float)):
                    from_duration = getattr(c, "max_from_duration", False)
                    hi = max(c.max, value) if not from_duration else max(dur - 1.0, value)
                    lo = min(c.min, value)
                    if c.key == "duration_s":
                        lo = min(lo, max(60.0, float(sc.warmup_s) + 1.0))
                    w.max = max(hi, w.min)
                    w.min = lo
                    w.max = hi
                elif c.kind == "choice" and value not in w.options:
                    w.options = [*w.options, value]
                w.value = value
        finally:
            self._quiet = False
        self.info.value = (f"<div class='wb-note'>{html.escape(sc.description.strip() or sc.name)}</div>")
        self._refresh_visibility()

    def _limit_to_duration(self) -> None:
        """Start times must fall inside the run: their sliders end at the duration (values clamp)."""
        dur = float(self.controls["duration_s"].value)
        for c in CONTROLS:
            if getattr(c, "max_from_duration", False):
                self.controls[c.key].max = max(dur - 1.0, self.controls[c.key].min)

    def _applicable(self, state: Mapping[str, Any]) -> set[str] | None:
        """Keys that apply to the chosen strategy (``mapping.applicable``), or None to show all."""
        try:
            return set(applicable(state, self.scenario))
        except ValueError:  # a state being set, not yet consistent
            return None

    def _inactive(self, state: Mapping[str, Any]) -> set[str]:
        """Keys whose on/off switch is off (``mapping.inactive``): shown greyed out."""
        try:
            return set(inactive(state))
        except (KeyError, ValueError):
            return set()

    def _refresh_visibility(self) -> None:
        """Hide the controls that do not apply to the chosen strategy, grey out those switched off."""
        if self._quiet:
            return
        state = self.state()
        kind = state["strategy"]
        keep = self._applicable(state)
        for group, box in self._group_boxes.items():
            keys = [c.key for c in CONTROLS if c.group == group]
            if keep is None:
                shown = group not in _STRATEGY_TITLES or group == kind
            else:
                for key in keys:
                    self.controls[key].layout.display = None if key in keep else "none"
                shown = any(key in keep for key in keys)
            box.layout.display = "flex" if shown else "none"
        off = self._inactive(state)
        for key, w in self.controls.items():
            w.disabled = key in off

    # ------------------------------------------------------------------ figures
    def _image(self, draw: Callable[[int], Any], name: str) -> widgets.Image:
        width = int(self.plot_width.value)
        png = figure_png(draw(width), width)
        return _tag(widgets.Image(value=png, format="png",
                                  layout=widgets.Layout(width=f"{width}px", max_width="none", height="auto")),
                    "wb-plot", f"wb-plot-{name}")

    def _show_figures(self, where: str, figures: list[tuple[str, Callable[[int], Any]]]) -> None:
        self._figures[where] = figures
        box = {"plots": self.plots, "compare": self.compare_plot, "risk": self.risk_plot}[where]
        box.children = tuple(self._image(draw, name) for name, draw in figures)

    def _render_all(self) -> None:
        """Draw every figure shown again at the plot width (after the panel was resized)."""
        for where, figures in self._figures.items():
            if figures:
                self._show_figures(where, figures)

    def select_tab(self, title: str) -> None:
        """Show the tab called ``title`` (one of :data:`TAB_TITLES`)."""
        if title not in self._tab_index:
            raise ValueError(f"title: no tab {title!r}; expected one of {list(self._tab_index)}")
        self.tabs.selected_index = self._tab_index[title]

    # ------------------------------------------------------------------ run
    def _on_progress(self, fraction: float) -> None:
        if fraction >= 1.0 or fraction - self._progress_shown >= 0.02:
            self._progress_shown = fraction
            self.progress.value = min(1.0, max(0.0, float(fraction)))

    def _error(self, exc: BaseException) -> None:
        self.progress.bar_style = "danger"
        kind = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
        self.status.value = f"<div class='wb-error'>{html.escape(kind + str(exc))}</div>"

    def overrides(self) -> dict[str, Any]:
        """The overrides the current state maps to (see :func:`state_to_overrides`)."""
        return state_to_overrides(self.state(), self.scenario)

    def run(self, *, progress: Callable[[float], None] | None = None) -> Any:
        """Simulate the scenario with the panel's settings; show summary and plots.

        Returns the :class:`~workbench.RunResult`, or None when the settings are
        invalid or the run failed (the message is shown in the panel).
        """
        state = self.state()
        try:
            sc = scenario_from_state(state, self.scenario)
        except ValueError as exc:
            self._error(exc)
            return None
        self.run_button.disabled = True
        self.progress.bar_style = "info"
        self.progress.value = 0.0
        self._progress_shown = -1.0
        self.status.value = f"<i>Running {html.escape(sc.name)} ({state['strategy']}, seed {state['seed']})...</i>"
        t0 = time.perf_counter()

        def tick(fraction: float) -> None:
            self._on_progress(fraction)
            if progress is not None:
                progress(fraction)

        try:
            result = workbench.run(sc, seed=int(state["seed"]), progress=tick)
            elapsed_s = time.perf_counter() - t0
            self._show_run(result, state, elapsed_s)
        except Exception as exc:  # shown in the panel: a widget callback has nowhere else to report
            self._error(exc)
            return None
        finally:
            self.run_button.disabled = False
        self.progress.value = 1.0
        self.progress.bar_style = "success"
        self.result = result
        self.report_button.disabled = False
        self.select_tab("results")
        return result

    def _show_run(self, result: Any, state: Mapping[str, Any], elapsed_s: float) -> None:
        sc = result.scenario
        title = (f"{html.escape(sc.name)} | {html.escape(str(state['strategy']))} | seed {result.seed} | "
                 f"{sc.duration_s:.0f} s")
        table = _scroll(summary_frame(result.summary).to_html(classes="wb-table", border=0, escape=True))
        body = (f"<div><b>Current run</b>: {title}<br>{_outcome(result.summary)}<br>"
                f"<span class='wb-faults'>{html.escape(_faults_line(sc))}</span>{table}"
                f"{_story_html(result)}</div>")
        if self._last is not None:
            self.previous_html.value = self._last["html"].replace("<b>Current run</b>", "<b>Previous run</b>", 1)
            diff = [f"{html.escape(k)}: {html.escape(repr(self._last['state'][k]))} &rarr; "
                    f"{html.escape(repr(state[k]))}" for k in state if state[k] != self._last["state"].get(k)]
            self.changes_html.value = ("<div class='wb-note'><b>Changed since the previous run:</b> "
                                       + ("; ".join(diff) if diff else
                                          "nothing (same settings, same seed: same result)") + "</div>")
        self._last = {"state": dict(state), "html": body}
        self.current_html.value = body
        self._show_figures("plots", self._plots(result))
        self.status.value = (f"<i>Done: {len(result.requests):,} requests simulated in {elapsed_s:.1f} s.</i>")

    @staticmethod
    def _plots(result: Any) -> list[tuple[str, Callable[[int], Any]]]:
        req, ev, dur = result.requests, result.events, float(result.scenario.duration_s)
        bin_s = max(10.0, round(dur / 60.0 / 10.0) * 10.0)
        return [
            ("traffic-share", lambda _: viz.traffic_share(req, ev, bin_s=bin_s, end_s=dur)),
            ("latency", lambda _: viz.latency_over_time(req, ev, bin_s=bin_s, end_s=dur)),
            ("error-rate", lambda _: viz.error_rate_over_time(req, ev, bin_s=bin_s, end_s=dur)),
        ]

    # ------------------------------------------------------------------ compare and risk
    def _compare_inputs(self) -> tuple[list[str], dict[str, Any], list[dict[str, Any]], dict[str, Any]] | None:
        kinds = [k for k, box in self.compare_checks.items() if box.value]
        state = self.state()
        try:
            specs = compare_specs(state, self.scenario, kinds)
            base = state if state["strategy"] in kinds else {**state, "strategy": kinds[0]}
            overrides = state_to_overrides(base, self.scenario)
        except ValueError as exc:
            self._error(exc)
            return None
        return kinds, state, specs, overrides

    def _busy(self, text: str) -> None:
        self.progress.bar_style = "info"
        self.progress.value = 0.0
        self.status.value = f"<i>{html.escape(text)}</i>"

    def _done(self, text: str) -> None:
        self.progress.value = 1.0
        self.progress.bar_style = "success"
        self.status.value = f"<i>{html.escape(text)}</i>"

    def compare(self) -> pd.DataFrame | None:
        """Run the ticked strategies on the panel's seed; show their KPI table and panel.

        Returns the :func:`workbench.compare` table (one row per strategy), or None
        when fewer than two or more than four are ticked (the message is shown).
        """
        inputs = self._compare_inputs()
        if inputs is None:
            return None
        kinds, state, specs, overrides = inputs
        seed = int(state["seed"])
        self.compare_button.disabled = True
        self._busy(f"Comparing {', '.join(kinds)} on seed {seed}...")
        t0 = time.perf_counter()
        try:
            table = workbench.compare(self.scenario, specs, seed=seed, overrides=overrides)

            def draw(width: int) -> Any:
                return viz.compare_panel(table, ncols=_panel_columns(width))

            self._show_figures("compare", [("compare", draw)])
        except Exception as exc:  # shown in the panel
            self._error(exc)
            return None
        finally:
            self.compare_button.disabled = False
        self.compare_html.value = self._comparison_html(table, seed)
        self._done(f"Compared {len(kinds)} strategies on seed {seed} in {time.perf_counter() - t0:.1f} s.")
        self.comparison = table
        self.select_tab("compare")
        return table

    def risk(self) -> RiskComparison | None:
        """Run the ticked strategies on seeds ``seed .. seed + n - 1``; show each risk with its interval.

        Returns the :class:`~workbench.experiments.risk.RiskComparison`, or None
        when the strategies ticked are not two to four (the message is shown).
        """
        inputs = self._compare_inputs()
        if inputs is None:
            return None
        kinds, state, specs, overrides = inputs
        seed, n = int(state["seed"]), int(self.risk_seeds.value)
        seeds_text = f"seeds {seed}..{seed + n - 1}"
        self.risk_button.disabled = True
        self._busy(f"Risk of {', '.join(kinds)} on {seeds_text}...")
        t0 = time.perf_counter()
        try:
            outcome = workbench.compare(self.scenario, specs, seeds=list(range(seed, seed + n)),
                                        overrides=overrides)

            def draw(width: int) -> Any:
                return viz.risk_plot(outcome, ncols=_panel_columns(width))

            self._show_figures("risk", [("risk", draw)])
        except Exception as exc:  # shown in the panel
            self._error(exc)
            return None
        finally:
            self.risk_button.disabled = False
        self.risk_html.value = self._risk_html(outcome, seeds_text)
        self._done(f"Risk of {len(kinds)} strategies on {seeds_text} in {time.perf_counter() - t0:.1f} s.")
        self.risk_result = outcome
        self.select_tab("risk")
        return outcome

    @staticmethod
    def _comparison_html(table: pd.DataFrame, seed: int) -> str:
        """One seed: the KPI row of each strategy."""
        cols = [c for c in _COMPARE_COLUMNS if c in table.columns]
        shown = table[cols].copy().round(1)
        shown["error_rate"] = (100.0 * table["error_rate"]).round(2)
        shown = shown.rename(columns={"error_rate": "non-ok %"})
        return (f"<div><b>Strategies on the same traffic</b> (seed {seed})"
                + _scroll(shown.to_html(classes="wb-table", border=0, index=False, na_rep="n/a")) + "</div>")

    @staticmethod
    def _risk_html(result: RiskComparison, seeds_text: str) -> str:
        """Many seeds: each strategy's risk figures with their intervals."""
        return ("<div><b>Risk of each strategy on the same traffic</b> "
                f"({html.escape(seeds_text)}; value [{result.confidence:.0%} interval])"
                + _scroll(result.table().to_html(classes="wb-table wb-risk-table", border=0)) + "</div>")

    # ------------------------------------------------------------------ files
    def _path(self, path: str | os.PathLike | None) -> Path:
        if path is not None:
            self.path.value = str(path)
        text = str(self.path.value).strip()
        if not text:
            raise ValueError("scenario file: give a path ending in .toml")
        return Path(text).expanduser()

    def _sibling(self, suffix: str) -> Path:
        """A file next to the scenario file: ``scenario.toml`` -> ``scenario.argo.yaml``."""
        p = self._path(None)
        return p.with_name(p.stem + suffix)

    def save_scenario(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write the scenario with the panel's settings as TOML to ``path`` (default: the path box).

        Returns the file written, or None on an error (the message is shown).
        """
        try:
            target = self._path(path)
            if target.is_dir():
                raise ValueError(f"scenario file: {target} is a directory; give a file name ending in .toml")
            target.parent.mkdir(parents=True, exist_ok=True)
            written = save_state(self.state(), self.scenario, target)
        except (ValueError, OSError) as exc:
            self._error(exc)
            return None
        self.status.value = f"<i>Saved the scenario to {html.escape(str(written))}.</i>"
        return written

    def load_scenario(self, path: str | os.PathLike | None = None) -> Any:
        """Read a scenario TOML file (default: the path box) and set every control from it.

        Returns the :class:`~workbench.Scenario` read, or None on an error (the
        message is shown; the controls are left as they were).
        """
        try:
            source = self._path(path)
            if not source.is_file():
                raise ValueError(f"scenario file: no file {source}")
            sc, state = load_state(source)
        except (ValueError, OSError) as exc:
            self._error(exc)
            return None
        key = f"(file) {source.name}"
        self._given[key] = sc
        self._quiet = True
        try:
            self.picker.options = self._picker_options()
            self.picker.value = key
        finally:
            self._quiet = False
        self.scenario = sc
        self.set_state(state)
        self.status.value = f"<i>Loaded {html.escape(str(source))} ({html.escape(sc.name)}). Press Run.</i>"
        return sc

    def export(self, target: str) -> str | None:
        """The strategy as Argo Rollouts (``"argo"``) or Flagger (``"flagger"``) YAML.

        The text is shown on the setup tab and written next to the scenario file
        (``<name>.argo.yaml`` / ``<name>.flagger.yaml``). A strategy with no such form
        shows why instead; None is returned then.
        """
        if target not in ("argo", "flagger"):
            raise ValueError(f"target: expected 'argo' or 'flagger', got {target!r}")
        from workbench import rollouts

        write = rollouts.to_argo if target == "argo" else rollouts.to_flagger
        name = "Argo Rollouts" if target == "argo" else "Flagger"
        try:
            sc = scenario_from_state(self.state(), self.scenario)
            text = write(sc)
            out = self._sibling(f".{target}.yaml")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except (ValueError, OSError) as exc:
            self.export_html.value = (f"<div class='wb-error'>No {name} export: "
                                      f"{html.escape(str(exc))}</div>")
            self._error(exc)
            return None
        self.export_html.value = (f"<div><b>{name}</b> ({html.escape(str(out))})"
                                  f"<pre class='wb-yaml wb-yaml-{target}'>{html.escape(text)}</pre></div>")
        self.status.value = f"<i>Exported the strategy as {name} YAML to {html.escape(str(out))}.</i>"
        return text

    def save_report(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write a self-contained HTML report of the last run (default: next to the scenario file).

        Returns the file written, or None when nothing has run yet or writing failed
        (the message is shown).
        """
        if self.result is None:
            self._error(ValueError("report: press Run first; the report shows the last run"))
            return None
        try:
            from workbench.viz.report import write_html_report

            target = Path(path) if path is not None else self._sibling(".report.html")
            written = Path(write_html_report(self.result, target))
        except Exception as exc:  # shown in the panel: a widget callback has nowhere else to report
            self._error(exc)
            return None
        self.status.value = f"<i>Saved the HTML report to {html.escape(str(written))}.</i>"
        return written


def control_panel(scenario: Any = None, *, scenarios_root: str | os.PathLike | None = None) -> ControlPanel:
    """The playground control panel (an ipywidgets ``VBox``), to be the last line of a cell.

    Parameters
    ----------
    scenario : Scenario, path or None
        What to open first. None: ``canary_latency_spike`` from the ``scenarios/``
        directory (next to the package, else in or above the current directory).
    scenarios_root : path, optional
        Where the picker looks for ``scenarios/*.toml``.

    Examples
    --------
    >>> import workbench
    >>> sc = workbench.load_scenario({"name": "tiny", "duration_s": 120,
    ...     "models": {"legacy": {}, "candidate": {}}, "strategy": {"kind": "canary"}})
    >>> panel = control_panel(sc)
    >>> panel.controls["strategy"].value, "wb-run-button" in panel.run_button._dom_classes
    ('canary', True)
    >>> panel.tabs.titles
    ('setup', 'faults and drift', 'gates and rollback', 'monitors', 'results', 'compare', 'risk')
    """
    return ControlPanel(scenario, scenarios_root=scenarios_root)
