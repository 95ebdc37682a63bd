"""The playground notebook in a real browser: JupyterLab + headless Chromium (Playwright).

Opens ``notebooks/11_playground.ipynb``, runs all cells from the Run menu, checks that
the control panel renders, moves the latency-spike multiplier slider with the keyboard,
clicks Run and waits until the summary table and the plots appear, and that the run
used the new multiplier. The screenshot is saved to ``tests/ui/artifacts/playground.png``.

Needs Debian's ``chromium`` (launched by its path; Playwright never downloads a
browser) and the ``playwright`` Python package; skipped with a message otherwise.
"""

from __future__ import annotations

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


def test_playground_runs_in_the_browser(chromium_path, lab_server):  # skip before starting a server
    from playwright.sync_api import sync_playwright

    notebook = lab_server.root / NOTEBOOK
    stored = notebook.read_bytes()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "playground.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1700, "height": 1300})
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
            run_button = panel.locator(".wb-run-button")
            run_button.wait_for(state="visible")
            assert panel.locator(".wb-select-scenario select").input_value() == "canary_latency_spike"

            # move the latency-spike multiplier: focus its handle, arrow keys (step 0.5)
            slider = panel.locator(".wb-slider-spike-multiplier")
            assert _readout(slider) == pytest.approx(4.0)
            slider.locator(".noUi-handle").focus()
            for _ in range(4):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "() => parseFloat(document.querySelector('.wb-slider-spike-multiplier .widget-readout')"
                ".innerText) === 6.0")
            assert panel.locator(".wb-summary-current table").count() == 0  # nothing ran yet

            run_button.click()
            summary = panel.locator(".wb-summary-current table")
            summary.wait_for(state="visible")
            for name in ("traffic-share", "latency", "error-rate"):
                panel.locator(f".wb-plot-{name}").wait_for(state="visible")
            page.wait_for_function(  # the plot images are decoded and drawn
                "() => [...document.querySelectorAll('.wb-plot')].every(i => i.complete && i.naturalWidth > 300)")
            text = panel.locator(".wb-summary-current").inner_text()
            assert "canary-latency-spike" in text and "candidate" in text
            assert "latency_spike x6 on candidate" in text  # the slider reached the kernel
            assert "Done" in panel.locator(".wb-status").inner_text()
            # the panel's top with the plots beside the controls, then the screenshot
            panel.evaluate("el => el.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert shot.stat().st_size > 50_000
    assert notebook.read_bytes() == stored, "the browser session must not save outputs into the notebook"
