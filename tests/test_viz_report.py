"""workbench.viz.report: the HTML report of a run, read back with the standard library's
HTML parser: the KPI table holds the summary's counts, the figures are inline PNGs wide
enough for a projector, nothing is loaded from elsewhere and every run text is escaped."""

from __future__ import annotations

import base64
import dataclasses
import struct
import tomllib
from html.parser import HTMLParser

import pandas as pd
import pytest

import workbench
from workbench.outputs import OutputDirError
from workbench.result import RunDirError, RunResult
from workbench.scenario import load_scenario
from workbench.viz import html_report, report, write_html_report

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict
    children: list = dataclasses.field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str):
        for c in self.children:
            if isinstance(c, Node):
                if c.tag == tag:
                    yield c
                yield from c.iter(tag)


class _Tree(HTMLParser):
    """A small DOM: nested nodes with their attributes and (unescaped) text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return
        raise AssertionError(f"closing </{tag}> without an opening tag")

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    tree = _Tree()
    tree.feed(page)
    tree.close()
    assert [n.tag for n in tree.stack] == ["#document"], "unclosed elements"
    return tree.root


def table_rows(table: Node) -> list[list[str]]:
    return [[cell.text().strip() for cell in row.children if isinstance(cell, Node)] for row in table.iter("tr")]


def tables_by_class(doc: Node, cls: str) -> list[Node]:
    return [t for t in doc.iter("table") if cls in t.attrs.get("class", "").split()]


def section_after(doc: Node, heading: str) -> list[Node]:
    """The elements after the <h2> titled ``heading`` up to the next <h2> (in document order)."""
    main = next(doc.iter("main"))
    out, inside = [], False
    for child in main.children:
        if not isinstance(child, Node):
            continue
        if child.tag == "h2":
            if inside:
                break
            inside = child.text().strip() == heading
            continue
        if inside:
            out.append(child)
    return out


def png_images(doc: Node) -> list[tuple[str, bytes]]:
    prefix = "data:image/png;base64,"
    out = []
    for img in doc.iter("img"):
        src = img.attrs.get("src", "")
        assert src.startswith(prefix), src[:40]
        out.append((img.attrs.get("alt", ""), base64.b64decode(src[len(prefix):], validate=True)))
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def bad_run(scenarios_dir):
    scenario = load_scenario(scenarios_dir / "progressive_bad_candidate.toml").with_overrides(
        {"duration_s": 600, "traffic.rate_per_s": 10})
    return workbench.run(scenario)


@pytest.fixture(scope="module")
def rendered():
    """The figures the report of ``bad_run`` rendered (filled by ``bad_page``)."""
    return []


@pytest.fixture(scope="module")
def bad_page(bad_run, rendered):
    from matplotlib._pylab_helpers import Gcf

    original = report._render_png

    def spy(fig):
        rendered.append(fig)
        return original(fig)

    before = Gcf.get_num_fig_managers()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "_render_png", spy)
        page = html_report(bad_run)
    assert Gcf.get_num_fig_managers() == before  # no pyplot figure was opened
    return page


@pytest.fixture(scope="module")
def bad_doc(bad_page):
    return parse(bad_page)


def test_kpi_table_holds_the_summary_counts(bad_run, bad_doc):
    (kpi,) = tables_by_class(bad_doc, "kpi")
    rows = table_rows(kpi)
    header = rows[0]
    assert header[:7] == ["model", "requests", "users", "ok", "error", "timeout", "dropped"]
    by_model = {row[0]: row for row in rows[1:]}
    assert list(by_model) == ["legacy", "candidate"]
    for name, kpis in bad_run.summary.models.items():
        row = by_model[name]
        for col in ("requests", "users", "ok", "error", "timeout", "dropped"):
            assert int(row[header.index(col)].replace(",", "")) == getattr(kpis, col), (name, col)
    # the known counts of this run (seed 12): 854 requests to the candidate, 32 of them failed
    assert by_model["candidate"][header.index("requests")] == "854"
    assert by_model["candidate"][header.index("error")] == "32"
    assert by_model["candidate"][header.index("non-ok (%)")] == "3.75"  # 32 / 854


def test_title_facts_and_outcome(bad_run, bad_doc):
    assert next(bad_doc.iter("title")).text() == "Run report: progressive-bad-candidate"
    assert next(bad_doc.iter("h1")).text() == "Run report: progressive-bad-candidate"
    facts = dict(table_rows(next(bad_doc.iter("table"))))
    assert facts["seed"] == "12"
    assert facts["simulated duration"].startswith("600 s (10.0 min)")
    assert facts["arrivals"].startswith("5,909 requests")
    outcome_tables = [n for n in section_after(bad_doc, "Outcome") if n.tag == "table"]
    outcome = dict(table_rows(outcome_tables[0]))
    assert outcome["strategy"] == "progressive"
    assert outcome["final state"] == "rolled_back"
    assert outcome["rollback"] == "at 600.0 s"
    assert outcome["rollback trigger"] == "strategy:progressive"
    assert outcome["rollback reason"] == bad_run.summary.incidents[0].reason


def test_figures_are_inline_pngs_wide_enough(bad_doc):
    images = png_images(bad_doc)
    titles = [alt for alt, _ in images]
    assert titles == ["Traffic share by model", "Latency percentiles per model", "Error rate per model"]
    for _, data in images:
        width, height = png_size(data)
        assert width >= 1000 and height >= 300


def test_nothing_is_loaded_from_elsewhere(bad_page, bad_doc):
    for tag in ("script", "link", "iframe", "object", "embed"):
        assert not list(bad_doc.iter(tag)), tag
    for tag in ("img", "a", "source", "video", "audio"):
        for node in bad_doc.iter(tag):
            for attr in ("src", "href", "srcset"):
                value = node.attrs.get(attr) or ""
                assert not value.startswith(("http://", "https://", "//")), (tag, attr, value[:60])
    style = next(bad_doc.iter("style")).text()
    assert "url(" not in style and "@import" not in style


def test_events_incidents_steps_and_scenario(bad_run, bad_doc):
    events = [n for n in section_after(bad_doc, "Events") if n.tag == "div"]
    rows = table_rows(next(events[0].iter("table")))
    assert len(rows) == 1 + len(bad_run.events)
    assert [r[1] for r in rows[1:]] == bad_run.events["kind"].tolist()
    assert rows[-1][:2] == ["600.0", "rollback"]
    incidents = table_rows(next(n for n in section_after(bad_doc, "Incidents") if n.tag == "div").children[0])
    assert incidents[1][:2] == ["600.0", "strategy:progressive"]
    # the failed check of the incident, not the passing one
    assert incidents[1][3] == "error_rate 0.0452 > 0.02 (708 requests in 300-600 s)"
    steps = table_rows(next(n for n in section_after(bad_doc, "Rollout steps") if n.tag == "div").children[0])
    assert steps[0] == list(bad_run.tables["steps"].columns)
    assert [r[steps[0].index("candidate_requests")] for r in steps[1:]] == ["146", "708"]
    (pre,) = [n for n in section_after(bad_doc, "Scenario") if n.tag == "pre"]
    assert load_scenario(tomllib.loads(pre.text())) == bad_run.scenario


def test_outcome_lists_what_the_run_showed(bad_run, monkeypatch):
    from workbench.story import story_lines

    monkeypatch.setattr(report, "report_figures", lambda result: [])
    doc = parse(html_report(bad_run))
    (ul,) = [n for n in section_after(doc, "Outcome") if n.tag == "ul"]
    items = [li.text() for li in ul.iter("li")]
    assert items == story_lines(bad_run)
    assert items[0].startswith("outcome: rolled back at")


def test_run_text_is_escaped(monkeypatch):
    monkeypatch.setattr(report, "report_figures", lambda result: [])
    scenario = load_scenario({
        "name": "<script>alert('name')</script>",
        "description": "Tom & Jerry <img src=x onerror=alert(1)>\n\n\"quoted\" </pre>",
        "duration_s": 60,
        "traffic": {"rate_per_s": 5},
        "models": {"legacy": {}},
    })
    page = html_report(workbench.run(scenario))
    assert "<script" not in page and "<img src=x" not in page
    doc = parse(page)
    assert not list(doc.iter("script")) and not list(doc.iter("img"))
    assert next(doc.iter("h1")).text() == "Run report: <script>alert('name')</script>"
    paragraphs = [p.text() for p in doc.iter("p") if "description" in p.attrs.get("class", "")]
    assert paragraphs == ["Tom & Jerry <img src=x onerror=alert(1)>", "\"quoted\" </pre>"]
    (pre,) = [n for n in section_after(doc, "Scenario") if n.tag == "pre"]
    assert tomllib.loads(pre.text())["name"] == "<script>alert('name')</script>"


def test_events_are_cut_at_500_rows_with_a_count(bad_run, monkeypatch):
    monkeypatch.setattr(report, "report_figures", lambda result: [])
    n = 620
    events = pd.DataFrame({"time_s": [float(i) for i in range(n)], "kind": "analysis", "source": "test",
                           "model": "candidate", "reason": [f"look {i} <ok>" for i in range(n)], "details": "{}"})
    doc = parse(html_report(dataclasses.replace(bad_run, events=events)))
    section = section_after(doc, "Events")
    rows = table_rows(next(section[0].iter("table")))
    assert len(rows) == 1 + 500
    assert rows[-1][4] == "look 499 <ok>"
    assert section[1].text() == "First 500 of 620 events; the other 120 are in events.parquet."


def test_figures_are_cleared_after_rendering(bad_page, rendered):
    # three figures drawn with the Figure API (no pyplot manager), each emptied once saved
    assert len(rendered) == 3
    assert all(fig.canvas.manager is None and not fig.axes for fig in rendered)


def test_shadow_run_has_the_shadow_figure(scenarios_dir):
    scenario = load_scenario(scenarios_dir / "shadow_candidate_crashes.toml").with_overrides(
        {"duration_s": 120, "traffic.rate_per_s": 10})
    run = workbench.run(scenario)
    doc = parse(html_report(run))
    images = dict(png_images(doc))
    assert "Shadow candidate" in images
    assert png_size(images["Shadow candidate"])[0] >= 1000
    assert not any(title.startswith("Fleet against load") for title in images)
    (ul,) = [n for n in section_after(doc, "Outcome") if n.tag == "ul"]
    assert any(li.text().startswith(f"shadow: {run.summary.shadow.mirrored:,} mirrored calls") for li in ul.iter("li"))


def test_autoscaling_run_has_the_replicas_figure(scenarios_dir):
    scenario = load_scenario(scenarios_dir / "autoscaling_diurnal.toml").with_overrides(
        {"duration_s": 300, "warmup_s": 0, "traffic.rate_per_s": 20})
    run = workbench.run(scenario)
    images = dict(png_images(parse(html_report(run))))
    assert "Fleet against load: legacy" in images
    assert png_size(images["Fleet against load: legacy"])[0] >= 1000
    assert "Shadow candidate" not in images


def test_bandit_run_has_the_regret_figure(scenarios_dir):
    scenario = load_scenario(scenarios_dir / "bandit_better_candidate.toml").with_overrides(
        {"duration_s": 120, "traffic.rate_per_s": 10})
    doc = parse(html_report(workbench.run(scenario)))
    images = dict(png_images(doc))
    assert "Bandit regret" in images and png_size(images["Bandit regret"])[0] >= 1000
    (ul,) = [n for n in section_after(doc, "Outcome") if n.tag == "ul"]
    assert any(li.text().startswith("regret: ") for li in ul.iter("li"))


def test_write_html_report_from_a_run_directory(bad_run, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "report_figures", lambda result: [])
    run_dir = bad_run.to_dir(tmp_path / "run")
    path = write_html_report(run_dir, tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page == html_report(RunResult.from_dir(run_dir))
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temporary file left
    # the same page from the result itself, the KPI table alike
    same = parse(write_html_report(bad_run, tmp_path / "direct.html").read_text(encoding="utf-8"))
    assert table_rows(tables_by_class(same, "kpi")[0]) == table_rows(tables_by_class(parse(page), "kpi")[0])


def test_write_html_report_refuses_bad_input(bad_run, tmp_path):
    with pytest.raises(RunDirError, match="no such run directory"):
        write_html_report(tmp_path / "missing", tmp_path / "r.html")
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(OutputDirError, match="is a directory"):
        write_html_report(bad_run, tmp_path / "dir.html")
    with pytest.raises(ValueError, match="source: expected a RunResult or a run directory"):
        write_html_report(42, tmp_path / "r.html")
    with pytest.raises(ValueError, match="result: expected a RunResult"):
        html_report("runs/x")


def test_drift_and_interleaving_figures_follow_the_tables(bad_run, monkeypatch):
    from workbench.summary import StrategyOutcome

    monkeypatch.setattr(report, "_render_png", lambda fig: b"\x89PNG\r\n\x1a\n")
    drift = pd.DataFrame({"time_s": [60.0, 120.0, 60.0, 120.0], "feature": ["x1", "x1", "x2", "x2"],
                          "test": "ks", "statistic": [0.4, 0.3, 0.2, 0.001], "threshold": 0.01,
                          "drift": [False, False, False, True]})
    clicks = pd.DataFrame({"time_s": [1.0, 2.0, 3.0, 4.0], "winner": ["a", "b", "b", "tie"]})
    with_drift = dataclasses.replace(bad_run, tables={**bad_run.tables, "drift": drift})
    titles = [f.title for f in report.report_figures(with_drift)]
    assert titles[3:] == ["Feature drift"]
    summary = dataclasses.replace(bad_run.summary, strategy=StrategyOutcome("interleaving", "running"))
    interleaved = dataclasses.replace(bad_run, summary=summary, tables={"interleaving": clicks})
    figures = report.report_figures(interleaved)
    assert [f.title for f in figures][3:] == ["Interleaving credit"]
    assert figures[3].png and not figures[3].problem
    # an interleaving run without its table says so instead of drawing nothing
    missing = report.report_figures(dataclasses.replace(interleaved, tables={}))[3]
    assert missing.png == b"" and missing.problem == "interleaving: the run has no such table"
