"""A run as one self-contained HTML page: facts, outcome, KPI tables, figures, events, scenario.

:func:`html_report` turns a :class:`~workbench.result.RunResult` into a single HTML
document that needs nothing else to display: the figures are PNG images inlined as
``data:`` URIs, the style sheet is inline, and no script, font or image is fetched
from anywhere. It reads well on a screen or a projector 1280 to 1920 pixels wide and
prints on A4 or Letter (figures and table rows are not split across pages).

Every text that comes from the scenario or the run (names, descriptions, reasons,
event details, the scenario itself) is HTML-escaped. The page depends only on the
run: the same run gives the same bytes.

:func:`write_html_report` writes the page of a result, or of a run directory written
by :meth:`~workbench.result.RunResult.to_dir`, to a file atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..result import RunResult
from ..story import story_lines
from .bandit import bandit_regret
from .operations import drift_scores, interleaving_credit, replicas_vs_load
from .panels import shadow_agreement
from .style import use_style
from .timeseries import error_rate_over_time, latency_over_time, model_order, traffic_share

__all__ = ["html_report", "write_html_report", "ReportFigure", "report_figures", "EVENT_ROWS", "FIGURE_DPI"]

#: Rows of the events table shown in the page; the rest are counted.
EVENT_ROWS = 500
#: Resolution of the inlined figures: a 9-inch figure is about 1400 pixels wide.
FIGURE_DPI = 160
_TABLE_ROWS = 500  # any other table (steps, incidents) shows at most this many rows
_DETAILS_CHARS = 240  # event details longer than this are cut, with the full length said

# per-model KPI columns: (field of ModelKpis, header, format; "%" scales by 100)
_KPI_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("requests", "requests", "int"),
    ("users", "users", "int"),
    ("ok", "ok", "int"),
    ("error", "error", "int"),
    ("timeout", "timeout", "int"),
    ("dropped", "dropped", "int"),
    ("error_rate", "non-ok (%)", "%2"),
    ("latency_p50_ms", "p50 (ms)", "1"),
    ("latency_p95_ms", "p95 (ms)", "1"),
    ("latency_p99_ms", "p99 (ms)", "1"),
    ("mean_queue_ms", "queue (ms)", "2"),
    ("utilisation", "utilisation", "2"),
    ("prediction_mae", "MAE", "3"),
    ("conversion_rate", "conversion (%)", "%2"),
    ("slo_breaches", "SLO breaches", "int"),
)
_RESOURCE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("replica_seconds", "replica-seconds", "0"),
    ("mean_replicas", "mean replicas", "2"),
    ("peak_replicas", "peak replicas", "0"),
    ("busy_seconds", "busy seconds", "0"),
    ("scale_events", "scale events", "int"),
)

_CSS = """
:root { --ink: #1d2327; --muted: #5f6b73; --line: #d5dbe0; --head: #eef2f5; --bad: #b03a2e; --good: #1e7a46; }
* { box-sizing: border-box; }
html { font-size: 17px; }
body { margin: 0 auto; padding: 1.5rem 2.5rem 3rem; max-width: 1760px; color: var(--ink); background: #fff;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       line-height: 1.45; }
h1 { font-size: 1.9rem; margin: 0.4rem 0 0.6rem; }
h2 { font-size: 1.35rem; margin: 2.2rem 0 0.7rem; padding-bottom: 0.25rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.4rem 0 0.5rem; }
p.description { max-width: 75rem; color: var(--ink); }
p.note, .muted { color: var(--muted); }
table { border-collapse: collapse; margin: 0.4rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
table.facts th { background: var(--head); width: 16rem; font-weight: 600; }
table.facts td { min-width: 30rem; }
td.text { max-width: 48rem; overflow-wrap: anywhere; }
td.code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.8rem;
          max-width: 40rem; overflow-wrap: anywhere; }
.state-rolled_back, .bad { color: var(--bad); font-weight: 600; }
.state-promoted, .state-switched, .good { color: var(--good); font-weight: 600; }
ul.outcome { font-size: 1.02rem; padding-left: 1.3rem; }
ul.outcome li { margin: 0.2rem 0; }
figure { margin: 1rem 0 1.8rem; }
figure img { display: block; width: 100%; max-width: 1200px; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.92rem; margin-top: 0.35rem; max-width: 75rem; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 0.8rem 1rem; white-space: pre-wrap;
      overflow-wrap: anywhere; font-size: 0.85rem; line-height: 1.35; }
.scroll { overflow-x: auto; }
footer { margin-top: 3rem; color: var(--muted); font-size: 0.85rem; }
@media (max-width: 1400px) { html { font-size: 15px; } body { padding: 1rem 1.2rem 2rem; } }
@media print {
  html { font-size: 10.5pt; }
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  figure, tr, table.facts { break-inside: avoid; page-break-inside: avoid; }
  figure img { max-width: 100%; border: none; }
  thead th { position: static; }
  thead { display: table-header-group; }
  .scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: its title, what to look for, and the PNG bytes (or why there is none).

    ``png`` is empty when the figure could not be drawn from this run's tables;
    ``problem`` then says why.
    """

    title: str
    caption: str
    png: bytes = b""
    problem: str = ""


def _esc(value: Any) -> str:
    """HTML-escaped text of ``value`` (quotes included, so it is safe in attributes too)."""
    return html.escape(str(value), quote=True)


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any, fmt: str) -> str:
    """A value formatted for a table cell; ``-`` for a missing one (NaN or None)."""
    if _isnan(value):
        return "-"
    if fmt == "int":
        return f"{int(value):,}"
    if fmt.startswith("%"):
        return f"{100.0 * float(value):.{int(fmt[1:])}f}"
    return f"{float(value):,.{int(fmt)}f}"


def _seconds(value: Any) -> str:
    return "-" if _isnan(value) else f"{float(value):,.1f} s"


def _render_png(fig: Figure) -> bytes:
    """The figure as PNG at :data:`FIGURE_DPI`; the figure is cleared afterwards."""
    buf = io.BytesIO()
    try:
        with use_style():
            fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight", facecolor="white",
                        metadata={"Software": None})
    finally:
        fig.clear()  # drop every artist: the figure holds no pyplot manager, nothing else refers to it
    return buf.getvalue()


def _bin_s(duration_s: float) -> float:
    """A window width giving about 40 to 90 windows over the run (nicely rounded)."""
    for width in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration_s / width <= 90:
            return float(width)
    return 7200.0


def report_figures(result: RunResult) -> list[ReportFigure]:
    """The figures that apply to ``result``, rendered as PNG, in report order.

    Always: traffic share, latency percentiles and error rate over time per model.
    With a ``drift`` table: the drift scores. With an autoscaled model: its fleet
    against its load. An interleaving run: the interleaving credit. A bandit run: its
    cumulative regret and shares. A shadow run:
    the shadow candidate's agreement and health. A figure that cannot be drawn from
    the run's tables (e.g. a run without requests) comes back with its ``problem``.
    """
    scenario, summary = result.scenario, result.summary
    requests, events = result.requests, result.events
    end_s = float(summary.duration_s) if math.isfinite(summary.duration_s) else None
    bin_s = _bin_s(end_s or 60.0)
    window = f"{bin_s:g}-second windows"
    specs: list[tuple[str, str, Callable[[], Figure]]] = [
        ("Traffic share by model",
         f"Share of arrivals each model served, in {window}; rollout steps dotted with their weight, "
         "rollbacks and promotions as solid lines, fault windows as a red strip along the bottom.",
         lambda: traffic_share(requests, events, bin_s, end_s=end_s)),
        ("Latency percentiles per model",
         f"p50, p95 and p99 latency (queueing and service) of each model in {window}; fault windows "
         "shaded, failed gates as triangles on the top edge, a rollback as a red line.",
         lambda: latency_over_time(requests, events, bin_s, end_s=end_s)),
        ("Error rate per model",
         f"Requests of each model that did not end ok (errors, timeouts, drops) in {window}; fault "
         "windows shaded, failed gates as triangles, a rollback as a red line.",
         lambda: error_rate_over_time(requests, events, bin_s, end_s=end_s)),
    ]
    drift = result.tables.get("drift")
    if isinstance(drift, pd.DataFrame) and not drift.empty:
        specs.append((
            "Feature drift",
            "Each feature's drift statistic at each check against its threshold; filled dots were "
            "flagged, red lines are drift alerts, fault windows shaded.",
            lambda: drift_scores(drift, events, end_s=end_s),
        ))
    resources = result.tables.get("resources")
    autoscaled = [name for name in model_order(scenario.models)
                  if getattr(scenario.models[name], "autoscaling", None) is not None]
    for name in autoscaled:
        if not isinstance(resources, pd.DataFrame):
            specs.append((f"Fleet against load: {name}", "", _missing("resources")))
            continue
        specs.append((
            f"Fleet against load: {name}",
            f"Replicas serving, replicas paid (with those still provisioning) and busy replicas of "
            f"{name} under its autoscaler, against the arrival rate to {name} (requests/s in one-minute "
            "windows).",
            lambda name=name: replicas_vs_load(resources, requests, model=name, events=events),
        ))
    if summary.strategy.kind == "interleaving":
        table = result.tables.get("interleaving")
        specs.append((
            "Interleaving credit",
            "Cumulative impressions won by each ranker and the running Delta_AB; below 0 the "
            "candidate ranks better.",
            (lambda: interleaving_credit(table)) if isinstance(table, pd.DataFrame) else _missing("interleaving"),
        ))
    if summary.strategy.kind == "bandit":
        specs.append((
            "Bandit regret",
            "Cumulative regret against always serving the arm with the best observed reward rate, and "
            "each arm's share of requests over time.",
            lambda: bandit_regret(result),
        ))
    if summary.strategy.kind == "shadow":
        if summary.shadow is not None:
            tolerance = float(summary.shadow.agreement_tolerance)
        else:
            tolerance = float(getattr(scenario.strategy, "agreement_tolerance", 0.5))
        specs.append((
            "Shadow candidate",
            f"Mirrored calls (never seen by users): the candidate's prediction minus legacy's, with the "
            f"agreement band |diff| <= {tolerance:g}, and over time the share that agrees and the share "
            "that did not end ok.",
            lambda: shadow_agreement(result.shadow, tolerance, bin_s, events=events),
        ))
    out = []
    for title, caption, build in specs:
        try:
            fig = build()
        except ValueError as exc:  # the run's tables cannot give this figure (e.g. no rows)
            out.append(ReportFigure(title, caption, problem=str(exc)))
            continue
        out.append(ReportFigure(title, caption, png=_render_png(fig)))
    return out


def _missing(table: str) -> Callable[[], Figure]:
    def build() -> Figure:
        raise ValueError(f"{table}: the run has no such table")

    return build


# -- HTML pieces -------------------------------------------------------------------
def _facts(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table of label and (already escaped) HTML value."""
    body = "".join(f"<tr><th scope=\"row\">{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class=\"facts\"><tbody>{body}</tbody></table>"


def _table(header: Sequence[tuple[str, bool]], rows: Iterable[Sequence[tuple[str, str]]],
           *, cls: str = "") -> str:
    """An HTML table; ``header`` is ``(label, numeric)``, each cell ``(escaped html, css class)``."""
    head = "".join(f"<th scope=\"col\" class=\"num\">{_esc(label)}</th>" if num
                   else f"<th scope=\"col\">{_esc(label)}</th>" for label, num in header)
    body = []
    for row in rows:
        cells = "".join(f"<td class=\"{c}\">{v}</td>" if c else f"<td>{v}</td>" for v, c in row)
        body.append(f"<tr>{cells}</tr>")
    attr = f" class=\"{cls}\"" if cls else ""
    return (f"<div class=\"scroll\"><table{attr}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _kpi_table(result: RunResult) -> str:
    """The per-model KPI table of the summary (requests after the warm-up)."""
    models = result.summary.models
    header = [("model", False)] + [(label, True) for _, label, _ in _KPI_COLUMNS]
    rows = []
    for name in model_order(models):
        kpis = models[name]
        rows.append([(_esc(name), "model")]
                    + [(_number(getattr(kpis, key), fmt), "num") for key, _, fmt in _KPI_COLUMNS])
    return _table(header, rows, cls="kpi")


def _resource_table(result: RunResult) -> str:
    resources = result.summary.resources
    if not resources:
        return ""
    header = [("model", False)] + [(label, True) for _, label, _ in _RESOURCE_COLUMNS]
    rows = []
    for name in model_order(resources):
        r = resources[name]
        rows.append([(_esc(name), "")] + [(_number(getattr(r, key, None), fmt), "num")
                                          for key, _, fmt in _RESOURCE_COLUMNS])
    return "<h3>Fleet cost per model</h3>" + _table(header, rows)


def _arms_table(result: RunResult) -> str:
    arms = result.summary.arms
    if arms is None:
        return ""
    header = [("candidate", False), ("requests", True), ("non-ok (%)", True), ("difference (points)", True),
              ("adjusted p", True), ("mean latency (ms)", True), ("difference (ms)", True),
              ("adjusted p", True), ("verdict", False)]
    rows = []
    for c in arms.candidates:
        diff_pts = math.nan if _isnan(c.error_rate_diff) else 100.0 * c.error_rate_diff
        rows.append([
            (_esc(c.candidate), ""), (_number(c.n_candidate, "int"), "num"),
            (_number(c.error_rate_candidate, "%2"), "num"), (_signed(diff_pts, 2), "num"),
            (_pvalue(c.error_adjusted_p), "num"), (_number(c.mean_latency_candidate_ms, "1"), "num"),
            (_signed(c.latency_diff_ms, 1), "num"), (_pvalue(c.latency_adjusted_p), "num"),
            (_esc(c.verdict), "bad" if c.verdict == "worse" else ("good" if c.verdict == "better" else "")),
        ])
    title = (f"Candidates against legacy ({_esc(arms.correction)}-adjusted p across "
             f"{len(arms.candidates)} candidates, alpha {arms.alpha:g})")
    return f"<h3>{title}</h3>" + _table(header, rows)


def _signed(value: float, digits: int) -> str:
    return "-" if _isnan(value) else f"{value:+.{digits}f}"


def _pvalue(value: float) -> str:
    return "-" if _isnan(value) else f"{value:.3g}"


def _rollback_trigger(result: RunResult) -> tuple[str, str]:
    """The trigger and reason of the run's first rollback incident (empty when none)."""
    if result.summary.incidents:
        first = result.summary.incidents[0]
        return str(first.trigger), str(first.reason)
    inc = result.incidents
    if isinstance(inc, pd.DataFrame) and not inc.empty and "trigger" in inc:
        row = inc.iloc[0]
        return str(row.get("trigger", "")), str(row.get("reason", ""))
    return "", ""


def _outcome_section(result: RunResult) -> str:
    s = result.summary
    state = str(s.strategy.final_state)
    rows = [
        ("strategy", _esc(s.strategy.kind)),
        ("final state", f"<span class=\"state-{_esc(state)}\">{_esc(state)}</span>"),
    ]
    if s.rollback.rolled_back:
        trigger, reason = _rollback_trigger(result)
        rows.append(("rollback", f"<span class=\"bad\">at {_esc(_seconds(s.rollback.time_s))}</span>"))
        rows.append(("rollback trigger", _esc(trigger) or "-"))
        rows.append(("rollback reason", _esc(reason) or "-"))
    else:
        rows.append(("rollback", "none"))
    promoted = s.strategy.get("promoted_at_s")
    if not _isnan(promoted):
        rows.append(("promoted at", _esc(_seconds(promoted))))
    if s.validation is not None:
        verdict = "passed" if s.validation.passed else ("failed, blocked the rollout" if s.validation.blocked
                                                        else "failed")
        rows.append(("pre-deployment validation", f"{_esc(verdict)}: {_esc(s.validation.summary)}"))
    parts = ["<h2 id=\"outcome\">Outcome</h2>"]
    items = [f"<li class=\"story-table\"><pre>{_esc(item)}</pre></li>" if "\n" in item  # a table, as printed
             else f"<li>{_esc(item)}</li>" for item in story_lines(result)]
    parts.append("<ul class=\"outcome\">" + "".join(items) + "</ul>")
    parts.append(_facts(rows))
    details = _strategy_details(s.strategy.details)
    if details:
        parts.append("<h3>Strategy details</h3>" + details)
    return "\n".join(parts)


def _strategy_details(details: Mapping[str, Any]) -> str:
    """The strategy's own values as a two-column table (nested values as compact JSON)."""
    rows = []
    for key, value in details.items():
        if key == "arm_comparison":  # shown as its own table
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = "-" if math.isnan(value) else f"{value:,.6g}"
        elif value is None:
            text = "-"
        elif isinstance(value, (str, int)):
            text = str(value)
        else:
            from ..outputs import dumps_strict

            text = dumps_strict(value, sort_keys=True)
        rows.append((str(key), _esc(text)))
    return _facts(rows) if rows else ""


def _cell(value: Any) -> tuple[str, str]:
    """A data-frame cell as escaped HTML with its css class (numbers right-aligned)."""
    if isinstance(value, bool):
        return _esc(value), ""
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if isinstance(value, int) or kind in ("i", "u"):
        return f"{int(value):,}", "num"
    if isinstance(value, float) or kind == "f":
        v = float(value)
        return ("-" if math.isnan(v) else f"{v:,.6g}"), "num"
    if value is None or value is pd.NA or value is pd.NaT:
        return "-", ""
    return _esc(value), "text"


def _frame_table(frame: pd.DataFrame, limit: int, what: str) -> str:
    """The first ``limit`` rows of ``frame`` as an HTML table, and a count of the rest."""
    shown = frame.head(limit)
    header = [(str(c), pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c]))
              for c in shown.columns]
    rows = [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    out = _table(header, rows)
    if len(frame) > limit:
        out += (f"<p class=\"note\">First {limit:,} of {len(frame):,} rows; the other "
                f"{len(frame) - limit:,} are in {_esc(what)}.parquet.</p>")
    return out


def _events_section(result: RunResult) -> str:
    events = result.events
    parts = ["<h2 id=\"events\">Events</h2>"]
    if events is None or events.empty:
        parts.append("<p class=\"note\">No events (no fault, rollout step, gate, alert or rollback).</p>")
        return "\n".join(parts)
    shown = events.head(EVENT_ROWS)
    header = [("time (s)", True), ("kind", False), ("source", False), ("model", False), ("reason", False),
              ("details", False)]
    rows = []
    for row in shown.itertuples(index=False):
        details = str(getattr(row, "details", "") or "")
        if len(details) > _DETAILS_CHARS:
            details = details[:_DETAILS_CHARS] + f"... ({len(details):,} characters)"
        kind = str(row.kind)
        css = "bad" if kind in ("rollback", "gate_failed", "alert", "fault_start") else (
            "good" if kind == "promotion" else "")
        rows.append([
            (_number(row.time_s, "1"), "num"), (_esc(kind), css), (_esc(row.source), ""),
            (_esc(row.model), ""), (_esc(row.reason), "text"), (_esc(details), "code"),
        ])
    parts.append(_table(header, rows, cls="events"))
    if len(events) > EVENT_ROWS:
        parts.append(f"<p class=\"note\">First {EVENT_ROWS:,} of {len(events):,} events; the other "
                     f"{len(events) - EVENT_ROWS:,} are in events.parquet.</p>")
    return "\n".join(parts)


def _violation_reasons(text: Any) -> str:
    """The reasons of an incident's failed checks, from its ``violations`` JSON text."""
    try:
        data = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return str(text)
    items = data.get("violations", data) if isinstance(data, dict) else data
    if not isinstance(items, list):
        return str(text)
    reasons = [str(v.get("reason", v)) if isinstance(v, dict) else str(v) for v in items
               if not (isinstance(v, dict) and v.get("outcome") == "pass")]
    return "; ".join(reasons)


def _incidents_section(result: RunResult) -> str:
    inc = result.incidents
    parts = ["<h2 id=\"incidents\">Incidents</h2>"]
    if inc is None or inc.empty:
        parts.append("<p class=\"note\">No incident: the run never rolled back.</p>")
        return "\n".join(parts)
    header = [("time (s)", True), ("trigger", False), ("reason", False), ("failed checks", False)]
    rows = []
    for row in inc.head(_TABLE_ROWS).to_dict("records"):
        rows.append([
            (_number(row.get("time_s"), "1"), "num"), (_esc(row.get("trigger", "")), ""),
            (_esc(row.get("reason", "")), "text"), (_esc(_violation_reasons(row.get("violations", ""))), "text"),
        ])
    parts.append(_table(header, rows))
    return "\n".join(parts)


def _figures_section(figures: Sequence[ReportFigure]) -> str:
    parts = ["<h2 id=\"figures\">Figures</h2>"]
    for fig in figures:
        if fig.png:
            data = base64.b64encode(fig.png).decode("ascii")
            parts.append(f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{_esc(fig.title)}\">"
                         f"<figcaption><strong>{_esc(fig.title)}.</strong> {_esc(fig.caption)}</figcaption>"
                         "</figure>")
        else:
            parts.append(f"<p class=\"note\"><strong>{_esc(fig.title)}</strong>: not drawn "
                         f"({_esc(fig.problem)}).</p>")
    return "\n".join(parts)


def _description(text: str) -> str:
    """The scenario's description as paragraphs (blank lines separate them)."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    paragraphs = [p for p in paragraphs if p]
    if not paragraphs:
        return "<p class=\"description muted\">(no description)</p>"
    return "".join(f"<p class=\"description\">{_esc(p)}</p>" for p in paragraphs)


def html_report(result: RunResult) -> str:
    """The run as one self-contained HTML page.

    Title (the scenario's name), description, seed and duration; the outcome (strategy,
    final state, rollback time and trigger, the summary's story lines where
    ``workbench.summary.outcome_lines`` exists); the per-model KPI table; the figures
    that apply to the run (:func:`report_figures`), inlined as PNG; the events (the
    first :data:`EVENT_ROWS`, then a count), the incidents, the rollout steps when the
    run has them, and the scenario as TOML.

    Parameters
    ----------
    result : RunResult
        A finished run (from :func:`workbench.run` or :meth:`RunResult.from_dir`).

    Returns
    -------
    str
        The HTML document. It loads nothing from elsewhere and every text of the run is escaped.
    """
    if not isinstance(result, RunResult):
        raise ValueError(f"result: expected a RunResult, got {type(result).__name__}")
    from .._version import __version__

    scenario, s = result.scenario, result.summary
    name = scenario.name
    title = f"Run report: {name}"
    counts = ", ".join(f"{_esc(k)} {int(v):,}" for k, v in s.status_counts.items())
    facts = [
        ("scenario", _esc(name)),
        ("seed", _esc(result.seed)),
        ("simulated duration", _esc(f"{s.duration_s:,.0f} s ({s.duration_s / 60:,.1f} min); warm-up "
                                    f"{s.warmup_s:,.0f} s left out of the per-model KPIs")),
        ("arrivals", _esc(f"{s.requests:,} requests from {s.users:,} users "
                          f"({s.throughput_per_s:,.1f} ok requests/s)")),
        ("status counts", counts),
        ("non-ok requests", _esc(f"{_number(s.error_rate, '%2')}% of all requests")),
        ("strategy", _esc(f"{s.strategy.kind} (final state: {s.strategy.final_state})")),
    ]
    steps = result.tables.get("steps")
    sections = [
        "<!DOCTYPE html>",
        "<html lang=\"en\">",
        "<head>",
        "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_esc(title)}</h1>",
        _description(scenario.description),
        _facts(facts),
        "</header>",
        "<main>",
        _outcome_section(result),
        "<h2 id=\"kpis\">Per model</h2>",
        f"<p class=\"note\">Requests that arrived after the {s.warmup_s:,.0f} s warm-up; non-ok counts "
        "errors, timeouts and drops; latencies leave drops out.</p>",
        _kpi_table(result),
        _arms_table(result),
        _resource_table(result),
        _figures_section(report_figures(result)),
        _events_section(result),
        _incidents_section(result),
    ]
    if isinstance(steps, pd.DataFrame) and not steps.empty:
        sections += ["<h2 id=\"steps\">Rollout steps</h2>", _frame_table(steps, _TABLE_ROWS, "steps")]
    sections += [
        "<h2 id=\"scenario\">Scenario</h2>",
        "<p class=\"note\">As TOML; <code>workbench run</code> reads it back as the same scenario.</p>",
        f"<pre>{_esc(scenario.to_toml())}</pre>",
        "</main>",
        f"<footer>Rollout Workbench {_esc(__version__)}; seed {_esc(result.seed)}.</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(part for part in sections if part)


def write_html_report(source: RunResult | str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write :func:`html_report` of a run to the file ``path`` (atomically) and return it.

    Parameters
    ----------
    source : RunResult, str or PathLike
        A run, or a run directory written by :meth:`RunResult.to_dir` (read with
        :meth:`RunResult.from_dir`).
    path : str or PathLike
        The HTML file to write; missing parent directories are created. An existing
        file is replaced whole.

    Raises
    ------
    RunDirError
        ``source`` is a directory that cannot be read back as a run.
    OutputDirError
        ``path`` is an existing directory.
    """
    from ..outputs import OutputDirError, atomic_write_text

    if isinstance(source, RunResult):
        result = source
    elif isinstance(source, (str, os.PathLike)):
        result = RunResult.from_dir(source)
    else:
        raise ValueError(f"source: expected a RunResult or a run directory, got {type(source).__name__}")
    if not os.fspath(path).strip():
        raise OutputDirError("report: give a non-empty file path")
    target = Path(path)
    if target.is_dir():
        raise OutputDirError(f"{target}: is a directory; give the HTML file to write (e.g. report.html)")
    page = html_report(result)
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(target, page)
