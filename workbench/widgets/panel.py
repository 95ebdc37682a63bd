"""The playground: an ipywidgets control panel over the public API.

:func:`control_panel` builds a :class:`ControlPanel`: pick a scenario, a strategy and
its parameters, inject faults, change the candidate, press Run and read the summary
table and the plots; the previous run stays beside the current one. The compare
section runs two to four strategies on the same seeds (``workbench.compare``, paired
by common random numbers): with one seed it shows each strategy's KPIs, with more
(default 10, from the panel's seed on) each strategy's risk with intervals
(rollback and detection rates, time to detect, users hurt, time to full rollout);
:func:`workbench.viz.compare_panel` draws the KPIs (their means over the seeds).

The panel only calls the public API (``workbench.load_scenario``, ``workbench.run``,
``workbench.compare``, ``Scenario.with_overrides``, ``workbench.viz``). Its state is
a plain dict of widget values turned into overrides by one pure function,
:func:`workbench.widgets.mapping.state_to_overrides`, tested without a browser.
Every widget carries a stable CSS class (``wb-run-button``,
``wb-slider-spike-multiplier``, ``wb-plot-latency``, ...) for browser tests.
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
    FAULT_KINDS,
    STRATEGY_KINDS,
    compare_specs,
    find_scenarios,
    state_from_scenario,
    state_to_overrides,
)

if TYPE_CHECKING:
    from workbench.experiments.risk import RiskComparison

__all__ = ["ControlPanel", "control_panel", "figure_png", "summary_frame"]

_LABEL_WIDTH = "140px"
_CONTROL_WIDTH = "410px"
_COMPARE_SEEDS = 10  # seeds per strategy in the compare section: intervals in seconds, not minutes
_COMPARE_SEEDS_MAX = 1000
_FAULT_TITLES = {
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
.wb-control-panel .wb-table {border-collapse: collapse; font-size: 12px; margin: 2px 0 6px 0}
.wb-control-panel .wb-table th, .wb-control-panel .wb-table td {padding: 2px 6px; text-align: right;
  border-bottom: 1px solid #ddd}
.wb-control-panel .wb-error {color: #b00020; white-space: pre-wrap}
.wb-control-panel h4 {margin: 8px 0 2px 0}
</style>"""


# --------------------------------------------------------------------------- helpers
def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib figure (shown in an ``Image`` widget: no pyplot, no backend)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


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
            "error %": _num(100.0 * m.error_rate, "{:.2f}"),
            "p50 ms": _num(m.latency_p50_ms, "{:.1f}"),
            "p99 ms": _num(m.latency_p99_ms, "{:.1f}"),
            "queue ms": _num(m.mean_queue_ms, "{:.2f}"),
            "util": _num(m.utilisation, "{:.2f}"),
            "MAE": _num(m.prediction_mae, "{:.3f}"),
            "conv %": _num(100.0 * m.conversion_rate, "{:.2f}"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _outcome(summary: RunSummary) -> str:
    strat = summary.strategy
    parts = [f"strategy <b>{html.escape(strat.kind)}</b>",
             f"final state <b>{html.escape(strat.final_state)}</b>"]
    if summary.rollback.rolled_back:
        parts.append(f"rolled back at {summary.rollback.time_s:.0f} s")
    return ", ".join(parts)


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


def _scenario_options(root: str | os.PathLike | None) -> dict[str, Path]:
    return {p.stem: p for p in find_scenarios(root)}


# --------------------------------------------------------------------------- the panel
class ControlPanel(widgets.VBox):
    """The playground panel (a ``VBox``); build it with :func:`control_panel`.

    Attributes
    ----------
    controls : dict of str to Widget
        One widget per key of :data:`~workbench.widgets.mapping.CONTROLS`.
    scenario : Scenario
        The picked scenario, before the panel's overrides.
    result : RunResult or None
        The last run.
    """

    def __init__(self, scenario: Any = None, *, scenarios_root: str | os.PathLike | None = None):
        self._files = _scenario_options(scenarios_root)
        self._given: dict[str, Any] = {}
        first_key = self._register(scenario)
        self.scenario = self._load(first_key)
        self.result = None
        self.comparison: pd.DataFrame | RiskComparison | None = None
        self._last: dict[str, Any] | None = None  # state and HTML of the last run
        self._progress_shown = -1.0

        self.picker = _tag(widgets.Dropdown(
            description="scenario", options=self._picker_options(), value=first_key,
            style={"description_width": _LABEL_WIDTH}, layout=widgets.Layout(width=_CONTROL_WIDTH),
        ), "wb-control", "wb-select-scenario")
        self.info = _tag(widgets.HTML(), "wb-scenario-info")
        self.controls: dict[str, widgets.Widget] = {c.key: self._make(c) for c in CONTROLS}
        self.run_button = _tag(widgets.Button(description="Run", button_style="primary", icon="play",
                                              tooltip="simulate the scenario with these settings"),
                               "wb-run-button")
        self.progress = _tag(widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress",
                                                   style={"description_width": "60px"}), "wb-progress")
        self.status = _tag(widgets.HTML(value="<i>Set the controls and press Run.</i>"), "wb-status")
        self.compare_checks = {
            k: _tag(widgets.Checkbox(value=k in ("canary", "progressive", "blue_green"), description=k,
                                     indent=False, layout=widgets.Layout(width="120px")),
                    "wb-control", f"wb-check-compare-{k.replace('_', '-')}")
            for k in STRATEGY_KINDS
        }
        self.compare_seeds = _tag(widgets.BoundedIntText(
            value=_COMPARE_SEEDS, min=1, max=_COMPARE_SEEDS_MAX, description="seeds",
            tooltip="seeds per strategy, from the panel's seed on (1: one run each, no intervals)",
            style={"description_width": "40px"}, layout=widgets.Layout(width="130px"),
        ), "wb-control", "wb-compare-seeds")
        self.compare_button = _tag(widgets.Button(description="Compare strategies", icon="columns",
                                                  tooltip="run the ticked strategies on the same seeds"),
                                   "wb-compare-button")
        self.current_html = _tag(widgets.HTML(), "wb-summary", "wb-summary-current")
        self.previous_html = _tag(widgets.HTML(), "wb-summary-previous")
        self.changes_html = _tag(widgets.HTML(), "wb-changes")
        self.plots = _tag(widgets.VBox(layout=widgets.Layout(width="100%")), "wb-plots")
        self.compare_html = _tag(widgets.HTML(), "wb-compare-table")
        self.compare_plot = _tag(widgets.VBox(layout=widgets.Layout(width="100%")), "wb-compare-plots")

        self._strategy_boxes = {
            kind: widgets.VBox([self.controls[c.key] for c in CONTROLS if c.group == kind])
            for kind in STRATEGY_KINDS
        }
        self._fault_boxes = {
            prefix: _tag(widgets.VBox([widgets.HTML(f"<h4>{_FAULT_TITLES[prefix]}</h4>")]
                                      + [self.controls[c.key] for c in CONTROLS if c.group == prefix]),
                         f"wb-fault-{prefix.replace('_', '-')}")
            for prefix in FAULT_KINDS
        }
        general = [self.controls[k] for k in ("duration_s", "seed", "rate_per_s")]
        left = widgets.VBox(
            [widgets.HTML("<h4>Scenario</h4>"), self.picker, self.info, *general,
             widgets.HTML("<h4>Strategy</h4>"), self.controls["strategy"], *self._strategy_boxes.values(),
             widgets.HTML("<h4>Candidate model</h4>"), self.controls["candidate_median_ms"],
             self.controls["candidate_noise"], *self._fault_boxes.values(),
             widgets.HTML("<h4>Run</h4>"), widgets.HBox([self.run_button, self.progress]),
             widgets.HTML("<h4>Compare two to four strategies (same seeds)</h4>"),
             widgets.HBox(list(self.compare_checks.values())[:3]),
             widgets.HBox(list(self.compare_checks.values())[3:]),
             widgets.HBox([self.compare_seeds, self.compare_button])],
            layout=widgets.Layout(width="440px", flex="0 0 440px"),
        )
        right = _tag(widgets.VBox(
            [self.status, widgets.HBox([self.current_html, self.previous_html],
                                       layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px")),
             self.changes_html, self.plots, self.compare_html, self.compare_plot],
            layout=widgets.Layout(flex="1 1 auto", min_width="0", padding="0 0 0 12px"),
        ), "wb-output")
        super().__init__(
            [widgets.HTML(_STYLE + "<h3>Rollout Workbench playground</h3>"), widgets.HBox([left, right])],
        )
        self.add_class("wb-control-panel")

        self.picker.observe(self._on_pick, names="value")
        self.controls["strategy"].observe(lambda _: self._refresh_visibility(), names="value")
        self.controls["duration_s"].observe(lambda _: self._limit_to_duration(), names="value")
        for prefix in FAULT_KINDS:
            self.controls[f"{prefix}_enabled"].observe(lambda _: self._refresh_visibility(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self.compare_button.on_click(lambda _: self.compare())
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
        else:
            w = widgets.Dropdown(options=list(c.options) or ["-"], **common)
        w.tooltip = c.key
        return _tag(w, "wb-control", c.css_class)

    def state(self) -> dict[str, Any]:
        """The panel's state: a plain dict of widget values (the mapping's input)."""
        return {c.key: self.controls[c.key].value for c in CONTROLS}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Set every control from ``state`` (ranges widened to hold the values)."""
        sc = self.scenario
        kinds = list(STRATEGY_KINDS) + ([sc.strategy.kind] if sc.strategy.kind not in STRATEGY_KINDS else [])
        self.controls["strategy"].options = kinds
        for key in ("data_drift_feature", "concept_drift_feature"):
            self.controls[key].options = sc.feature_names
        dur = float(state["duration_s"])
        for c in CONTROLS:
            w, value = self.controls[c.key], state[c.key]
            if c.kind in ("float", "int"):
                hi = max(c.max, value) if not c.max_from_duration else max(dur - 1.0, value)
                lo = min(c.min, value)
                if c.key == "duration_s":
                    lo = min(lo, max(60.0, float(sc.warmup_s) + 1.0))
                w.max = max(hi, w.min)
                w.min = lo
                w.max = hi
            w.value = value
        self.info.value = (f"<div style='font-size:12px;max-width:{_CONTROL_WIDTH}'>"
                           f"{html.escape(sc.description.strip() or sc.name)}</div>")
        self._refresh_visibility()

    def _limit_to_duration(self) -> None:
        """Start times must fall inside the run: their sliders end at the duration (values clamp)."""
        dur = float(self.controls["duration_s"].value)
        for c in CONTROLS:
            if c.max_from_duration:
                self.controls[c.key].max = max(dur - 1.0, self.controls[c.key].min)

    def _refresh_visibility(self) -> None:
        kind = self.controls["strategy"].value
        for k, box in self._strategy_boxes.items():
            box.layout.display = "flex" if k == kind else "none"
        for prefix in FAULT_KINDS:
            on = bool(self.controls[f"{prefix}_enabled"].value)
            for c in CONTROLS:
                if c.group == prefix and not c.key.endswith("_enabled"):
                    self.controls[c.key].disabled = not on

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
            sc = self.scenario.with_overrides(state_to_overrides(state, self.scenario))
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
        return result

    def _show_run(self, result: Any, state: Mapping[str, Any], elapsed_s: float) -> None:
        sc = result.scenario
        title = (f"{html.escape(sc.name)} | {html.escape(str(state['strategy']))} | seed {result.seed} | "
                 f"{sc.duration_s:.0f} s")
        table = summary_frame(result.summary).to_html(classes="wb-table", border=0, escape=True)
        body = (f"<div><b>Current run</b>: {title}<br>{_outcome(result.summary)}<br>"
                f"<span class='wb-faults'>{html.escape(_faults_line(sc))}</span>{table}</div>")
        if self._last is not None:
            self.previous_html.value = self._last["html"].replace("<b>Current run</b>", "<b>Previous run</b>", 1)
            diff = [f"{html.escape(k)}: {html.escape(repr(self._last['state'][k]))} &rarr; "
                    f"{html.escape(repr(state[k]))}" for k in state if state[k] != self._last["state"].get(k)]
            self.changes_html.value = ("<div style='font-size:12px'><b>Changed since the previous run:</b> "
                                       + ("; ".join(diff) if diff else
                                          "nothing (same settings, same seed: same result)") + "</div>")
        self._last = {"state": dict(state), "html": body}
        self.current_html.value = body
        self.plots.children = self._plots(result)
        self.status.value = (f"<i>Done: {len(result.requests):,} requests simulated in {elapsed_s:.1f} s.</i>")

    def _plots(self, result: Any) -> tuple[widgets.Widget, ...]:
        req, ev, dur = result.requests, result.events, float(result.scenario.duration_s)
        bin_s = max(10.0, round(dur / 60.0 / 10.0) * 10.0)
        figures = [
            ("traffic-share", viz.traffic_share(req, ev, bin_s=bin_s, end_s=dur)),
            ("latency", viz.latency_over_time(req, ev, bin_s=bin_s, end_s=dur)),
            ("error-rate", viz.error_rate_over_time(req, ev, bin_s=bin_s, end_s=dur)),
        ]
        return tuple(
            _tag(widgets.Image(value=figure_png(fig), format="png", layout=widgets.Layout(max_width="100%")),
                 "wb-plot", f"wb-plot-{name}")
            for name, fig in figures
        )

    # ------------------------------------------------------------------ compare
    def compare(self) -> pd.DataFrame | RiskComparison | None:
        """Run the ticked strategies on the same seeds; show the table and the KPI panel.

        One seed (``compare_seeds`` at 1): the panel's seed, one KPI row per strategy
        (a DataFrame). More: seeds ``seed .. seed + n - 1``, each strategy's risk with
        intervals (a :class:`~workbench.experiments.risk.RiskComparison`).
        """
        kinds = [k for k, box in self.compare_checks.items() if box.value]
        state = self.state()
        try:
            specs = compare_specs(state, self.scenario, kinds)
            base = state if state["strategy"] in kinds else {**state, "strategy": kinds[0]}
            overrides = state_to_overrides(base, self.scenario)
        except ValueError as exc:
            self._error(exc)
            return None
        seed, n = int(state["seed"]), int(self.compare_seeds.value)
        seeds_text = f"seed {seed}" if n == 1 else f"seeds {seed}..{seed + n - 1}"
        self.compare_button.disabled = True
        self.progress.bar_style = "info"
        self.progress.value = 0.0
        self.status.value = f"<i>Comparing {', '.join(kinds)} on {seeds_text}...</i>"
        t0 = time.perf_counter()
        try:
            if n == 1:
                outcome = workbench.compare(self.scenario, specs, seed=seed, overrides=overrides)
                fig = viz.compare_panel(outcome)
            else:
                outcome = workbench.compare(self.scenario, specs, seeds=list(range(seed, seed + n)),
                                            overrides=overrides)
                fig = viz.compare_panel(outcome.means())
        except Exception as exc:  # shown in the panel
            self._error(exc)
            return None
        finally:
            self.compare_button.disabled = False
        self.compare_html.value = (self._comparison_html(outcome, seed) if n == 1
                                   else self._risk_html(outcome, seeds_text))
        self.compare_plot.children = (
            _tag(widgets.Image(value=figure_png(fig), format="png", layout=widgets.Layout(max_width="100%")),
                 "wb-plot", "wb-plot-compare"),
        )
        self.progress.value = 1.0
        self.progress.bar_style = "success"
        self.status.value = (f"<i>Compared {len(kinds)} strategies on {seeds_text} in "
                             f"{time.perf_counter() - t0:.1f} s.</i>")
        self.comparison = outcome
        return outcome

    @staticmethod
    def _comparison_html(table: pd.DataFrame, seed: int) -> str:
        """One seed: the KPI row of each strategy."""
        cols = [c for c in _COMPARE_COLUMNS if c in table.columns]
        shown = table[cols].copy().round(1)
        shown["error_rate"] = (100.0 * table["error_rate"]).round(2)
        shown = shown.rename(columns={"error_rate": "error %"})
        return ("<div><b>Strategies on the same traffic</b> (seed "
                f"{seed})" + shown.to_html(classes="wb-table", border=0, index=False,
                                           na_rep="n/a") + "</div>")

    @staticmethod
    def _risk_html(result: RiskComparison, seeds_text: str) -> str:
        """Many seeds: each strategy's risk figures with their intervals."""
        return ("<div><b>Risk of each strategy on the same traffic</b> "
                f"({html.escape(seeds_text)}; value [{result.confidence:.0%} interval]; "
                "bars: means over the seeds)"
                + result.table().to_html(classes="wb-table wb-risk-table", border=0) + "</div>")


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
    """
    return ControlPanel(scenario, scenarios_root=scenarios_root)
