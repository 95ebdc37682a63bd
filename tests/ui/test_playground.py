"""The playground notebook in a real browser: JupyterLab + headless Chromium (Playwright).

Opens ``notebooks/11_playground.ipynb`` at 1280x800, runs all cells from the Run menu and
checks, through the page as a user sees it:

- the control panel renders with its tabs and every button shows its whole label;
- save-then-load through the UI: the latency-spike multiplier moved with the keyboard,
  saved to a TOML file, moved again, loaded back: the saved value returns;
- Run: the summary table and three plots appear, the run used the multiplier, every
  plot is at least 600 px wide on screen with its smallest text (7.5 pt, at the PNG's
  own dpi, scaled by displayed / PNG width) at least 11 px high, and no table is
  clipped (it fits, or its box scrolls sideways);
- the risk tab draws its plot;
- at 1920x1080 the plots are drawn again at the new panel width, with the same checks.

Screenshots in ``tests/ui/artifacts/``: ``playground-1280x800.png`` and
``playground-1920x1080.png`` (the results tab), ``playground-setup-1280x800.png``,
``playground-gates-1280x800.png`` and ``playground-risk-1920x1080.png``.

Needs Debian's ``chromium`` (launched by its path; Playwright never downloads a
browser) and the ``playwright`` Python package; skipped with a message otherwise.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the chromium_path fixture skips with a message
    PlaywrightTimeout = TimeoutError

pytestmark = pytest.mark.ui

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
NOTEBOOK = "notebooks/11_playground.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
TIMEOUT_MS = 60_000
SMALLEST_FONT_PT = 7.5  # the smallest text the panel's figures use (compare-panel tick labels)
MIN_TEXT_PX = 11.0
MIN_PLOT_PX = 600.0


def _wait_kernel_idle(page) -> None:
    """The status bar says ``Python 3 (ipykernel) | Idle`` once the kernel is connected."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
        ".some(e => /ipykernel\\)? \\| Idle/.test(e.innerText))")


def _all_cells_ran(page) -> bool:
    prompts = page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    return bool(prompts) and all(re.search(r"\[\d+\]", p) for p in prompts)


def _run_all_cells(page) -> None:
    """Run > Run All Cells, from the menu bar; once more if no cell started (a lost click)."""
    for _ in range(2):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]"
                ".some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))", timeout=10_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")


def _diagnostics(page) -> str:
    """What the notebook shows (prompts, outputs), for a failure message."""
    prompts = page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    outputs = page.locator(".jp-NotebookPanel .jp-OutputArea-output").all_inner_texts()
    status = page.locator(".jp-StatusBar-TextItem").all_inner_texts()
    return f"prompts {prompts}\nstatus bar {status}\noutputs:\n" + "\n---\n".join(o[:2000] for o in outputs)


def _readout(slider) -> float:
    return float(slider.locator(".widget-readout").inner_text().strip())


def _tab(panel, title: str) -> None:
    panel.locator(".wb-tabs .lm-TabBar-tab", has_text=re.compile(f"^{re.escape(title)}$")).click()
    panel.locator(f".wb-tab-{title.replace(' ', '-')}").wait_for(state="visible")


def _wait_status(panel, text: str) -> None:
    panel.page.wait_for_function(
        "t => (document.querySelector('.wb-control-panel .wb-status') || {}).innerText.includes(t)", arg=text)


def _set_spike(page, panel, target: float) -> None:
    """Focus the multiplier slider's handle and press arrows (step 0.5) until it reads ``target``."""
    slider = panel.locator(".wb-slider-spike-multiplier")
    steps = round((target - _readout(slider)) / 0.5)
    slider.locator(".noUi-handle").focus()
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowRight" if steps > 0 else "ArrowLeft")
    page.wait_for_function(
        "t => parseFloat(document.querySelector('.wb-slider-spike-multiplier .widget-readout').innerText) === t",
        arg=target)


def _png_dpi(page, css: str) -> float:
    """The resolution written in a plot's PNG (its pHYs chunk), read from the image the page shows."""
    from PIL import Image

    data = page.evaluate(
        """async css => {
            const img = document.querySelector(css + ' img') || document.querySelector('img' + css);
            const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
            let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s);
        }""", css)
    with Image.open(io.BytesIO(base64.b64decode(data))) as im:
        return float(im.info["dpi"][0])


def _check_plots(page, panel, names: list[str]) -> list[dict]:
    """Every plot at least 600 px wide on screen, its smallest text at least 11 px high."""
    boxes = []
    for name in names:
        css = f".wb-plot-{name}"
        page.wait_for_function(
            "css => { const i = document.querySelector(css + ' img') || document.querySelector('img' + css);"
            " return i && i.complete && i.naturalWidth >= 600; }", arg=css)
        box = page.evaluate(
            """css => { const i = document.querySelector(css + ' img') || document.querySelector('img' + css);
                        const r = i.getBoundingClientRect();
                        return {shown: r.width, natural: i.naturalWidth}; }""", css)
        dpi = _png_dpi(page, css)
        text_px = SMALLEST_FONT_PT * dpi / 72.0 * box["shown"] / box["natural"]
        assert box["shown"] >= MIN_PLOT_PX, (name, box)
        assert text_px >= MIN_TEXT_PX, (name, box, dpi, text_px)
        boxes.append(box | {"dpi": dpi, "text_px": text_px})
    return boxes


def _check_tables_and_buttons(page) -> None:
    """No table clipped (it fits its box, or the box scrolls sideways); every button and tab label whole."""
    tables = page.evaluate(
        """() => [...document.querySelectorAll('.wb-control-panel .wb-table')].filter(t => t.offsetParent)
           .map(t => { const box = t.closest('.wb-table-scroll');
                       return {box: !!box, sw: box ? box.scrollWidth : t.scrollWidth,
                               cw: box ? box.clientWidth : t.clientWidth,
                               overflow: box ? getComputedStyle(box).overflowX : 'none'}; })""")
    assert tables, "no table shown"
    for t in tables:
        assert t["box"] and (t["sw"] <= t["cw"] + 1 or t["overflow"] in ("auto", "scroll")), t
    buttons = page.evaluate(
        """() => [...document.querySelectorAll('.wb-control-panel .wb-button')].filter(b => b.offsetParent)
           .map(b => ({label: b.innerText, sw: b.scrollWidth, cw: b.clientWidth}))""")
    assert buttons
    for b in buttons:
        assert b["sw"] <= b["cw"] + 1, b
    tabs = page.evaluate(
        """() => [...document.querySelectorAll('.wb-control-panel .wb-tabs .lm-TabBar-tabLabel')]
           .map(t => ({label: t.innerText, sw: t.scrollWidth, cw: t.clientWidth}))""")
    assert len(tabs) == 7
    for tab in tabs:
        assert tab["sw"] <= tab["cw"] + 1, tab


def _screenshot(page, panel, path: Path) -> None:
    panel.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))


def test_playground_in_the_browser(chromium_path, lab_server, tmp_path):  # skip before starting a server
    from playwright.sync_api import sync_playwright

    notebook = lab_server.root / NOTEBOOK
    stored = notebook.read_bytes()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    saved_toml = tmp_path / "what-if.toml"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(lab_server.lab_url(NOTEBOOK), wait_until="domcontentloaded")
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
            _wait_kernel_idle(page)
            _run_all_cells(page)

            panel = page.locator(".wb-control-panel")
            try:
                panel.wait_for(state="visible")
            except PlaywrightTimeout:
                page.screenshot(path=str(ARTIFACTS / "playground-failure.png"))
                pytest.fail(f"the control panel did not render\n{_diagnostics(page)}", pytrace=False)
            assert _all_cells_ran(page), _diagnostics(page)
            panel.locator(".wb-run-button").wait_for(state="visible")
            tabs = panel.locator(".wb-tabs .lm-TabBar-tab").all_inner_texts()
            assert [t.strip() for t in tabs] == ["setup", "faults and drift", "gates and rollback", "monitors",
                                                 "results", "compare", "risk"]
            assert panel.locator(".wb-select-scenario select").input_value() == "canary_latency_spike"

            # save then load through the UI: 4 -> 6, save, 6 -> 5, load: 6 again
            _tab(panel, "faults and drift")
            assert _readout(panel.locator(".wb-slider-spike-multiplier")) == pytest.approx(4.0)
            _set_spike(page, panel, 6.0)
            _tab(panel, "setup")
            path_box = panel.locator(".wb-scenario-path input")
            path_box.fill(str(saved_toml))
            path_box.press("Enter")
            panel.locator(".wb-save-toml-button").click()
            _wait_status(panel, "Saved the scenario")
            assert "multiplier = 6.0" in saved_toml.read_text()
            _tab(panel, "faults and drift")
            _set_spike(page, panel, 5.0)
            _tab(panel, "setup")
            panel.locator(".wb-load-toml-button").click()
            _wait_status(panel, "Loaded")
            _screenshot(page, panel, ARTIFACTS / "playground-setup-1280x800.png")
            _tab(panel, "faults and drift")
            assert _readout(panel.locator(".wb-slider-spike-multiplier")) == pytest.approx(6.0)
            assert panel.locator(".wb-select-scenario select").input_value() == "(file) what-if.toml"
            _tab(panel, "gates and rollback")
            _screenshot(page, panel, ARTIFACTS / "playground-gates-1280x800.png")

            # run: summary, plots, readable, nothing clipped
            assert panel.locator(".wb-summary-current table").count() == 0  # nothing ran yet
            panel.locator(".wb-run-button").click()
            panel.locator(".wb-summary-current table").wait_for(state="visible")  # the results tab opens
            _wait_status(panel, "Done")
            text = panel.locator(".wb-summary-current").inner_text()
            assert "canary-latency-spike" in text and "candidate" in text
            assert "latency_spike x6 on candidate" in text  # the loaded value reached the kernel
            plots = ["traffic-share", "latency", "error-rate"]
            small = _check_plots(page, panel, plots)
            _check_tables_and_buttons(page)
            _screenshot(page, panel, ARTIFACTS / "playground-1280x800.png")

            # risk tab: three seeds of two strategies
            _tab(panel, "compare")
            for kind in ("canary", "progressive", "blue-green"):
                box = panel.locator(f".wb-check-compare-{kind} input")
                if box.is_checked() != (kind != "blue-green"):
                    box.click()
            _tab(panel, "risk")
            seeds = panel.locator(".wb-risk-seeds input")
            seeds.fill("3")
            seeds.press("Enter")
            panel.locator(".wb-risk-button").click()
            _wait_status(panel, "Risk of 2 strategies")
            _check_plots(page, panel, ["risk"])
            _check_tables_and_buttons(page)

            # a projector-sized window: the panel measures itself, the plots are drawn wider
            page.set_viewport_size({"width": 1920, "height": 1080})
            page.wait_for_function(
                "w => { const i = document.querySelector('.wb-plot-risk img') ||"
                " document.querySelector('img.wb-plot-risk'); return i && i.naturalWidth > w; }",
                arg=small[0]["natural"] + 200)
            page.locator("img.wb-plot-risk").scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / "playground-risk-1920x1080.png"))
            _tab(panel, "results")
            large = _check_plots(page, panel, plots)
            assert large[0]["natural"] > small[0]["natural"] + 200
            _check_tables_and_buttons(page)
            _screenshot(page, panel, ARTIFACTS / "playground-1920x1080.png")
        finally:
            browser.close()
    for name in ("playground-1280x800.png", "playground-1920x1080.png"):
        assert (ARTIFACTS / name).stat().st_size > 50_000
    assert notebook.read_bytes() == stored, "the browser session must not save outputs into the notebook"
