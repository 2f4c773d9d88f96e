"""End to end: Playwright drives Debian's headless Chromium against the real server on loopback.

Skipped (with the reason) when Playwright or /usr/bin/chromium is missing, unless
``DESCENTLAB_REQUIRE_BROWSER=1``: then a missing browser fails the tests (CI sets it).
Screenshots go to ``$DESCENTLAB_SCREENSHOT_DIR`` (default: the test's tmp dir).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRED = os.environ.get("DESCENTLAB_REQUIRE_BROWSER") == "1"
TIMEOUT_MS = 30_000


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (DESCENTLAB_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install 'descentlab[browser]')")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("uvicorn")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    from descentlab.web.server import BackgroundServer

    with BackgroundServer() as srv:
        yield srv


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(server.url)
    pg.wait_for_selector("body[data-ready='1']")
    yield pg
    ctx.close()
    assert errors == [], errors


def _shot(page, name: str, tmp_path: Path) -> Path:
    out = Path(os.environ.get("DESCENTLAB_SCREENSHOT_DIR", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    return path


def _click_data(page, x: float, y: float) -> None:
    """Click the contour view where the data point (x, y) is drawn."""
    px, py = page.evaluate(f"(() => {{ const g = viewGeom(); return [g.px({x}), g.py({y})]; }})()")
    page.click("#view", position={"x": px, "y": py})


def _outcomes(page) -> list[tuple[str, str]]:
    items = page.query_selector_all("#diagnosis li[data-kind]")
    return [(li.get_attribute("data-kind"), li.inner_text()) for li in items]


def _run_and_wait(page) -> None:
    page.evaluate("document.getElementById('diagnosis').innerHTML = ''")
    page.click("#run-btn")
    page.wait_for_selector("#diagnosis li[data-kind]")


def test_race_near_a_saddle_then_change_lr_and_rerun(page, tmp_path):
    # pick a landscape with a saddle between two global minima
    page.select_option("#landscape-select", "double_well")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('double_well')"
    )
    labels = page.evaluate("app.surface.critical_points.map(c => c.label).sort()")
    assert labels == ["global min", "global min", "saddle"]

    # a start just beside the saddle's stable direction; the click lands within a pixel of it
    _click_data(page, 0.01, 0.5)
    start = page.evaluate("app.state.starts[0]")
    assert abs(start[0] - 0.01) < 0.01 and abs(start[1] - 0.5) < 0.01 and start[0] > 0
    assert page.locator("#starts-list li").count() == 1

    # two optimizers: gd with a small rate, heavy-ball momentum with the same rate
    page.fill("[data-opt='0'][data-hyper='lr']", "0.002")
    page.dispatch_event("[data-opt='0'][data-hyper='lr']", "change")
    page.fill("[data-opt='1'][data-hyper='lr']", "0.002")
    page.dispatch_event("[data-opt='1'][data-hyper='lr']", "change")
    page.fill("#steps-input", "300")
    page.dispatch_event("#steps-input", "change")
    _run_and_wait(page)
    out = _outcomes(page)
    assert len(out) == 2
    (gd_kind, gd_text), (mom_kind, mom_text) = out
    # gd is still crawling away from the saddle; momentum escaped to a global minimum
    assert (
        gd_kind == "max_steps" and "saddle (0, 0)" in gd_text and gd_text.startswith("gd(lr=0.002)")
    )
    assert mom_kind == "global_minimum" and "global minimum" in mom_text
    assert "momentum" in mom_text
    # the race animates; the scrubber reaches the last frame and shows the step
    page.wait_for_function("app.frame === app.race.runs[0].record_steps.length - 1")
    assert page.inner_text("#step-label") == "step 300 / 300"
    page.fill("#scrubber", "10")
    page.dispatch_event("#scrubber", "input")
    assert re.fullmatch(r"step \d+ / 300", page.inner_text("#step-label"))
    _shot(page, "race.png", tmp_path)

    # change gd's learning rate and rerun: the starts and the other optimizer stay
    page.fill("[data-opt='0'][data-hyper='lr']", "0.02")
    page.press("[data-opt='0'][data-hyper='lr']", "Enter")
    page.wait_for_function(
        "document.querySelector('#diagnosis li[data-kind]') && "
        "document.querySelector('#diagnosis li').innerText.startsWith('gd(lr=0.02)')"
    )
    out = _outcomes(page)
    assert [k for k, _ in out] == ["global_minimum", "global_minimum"]
    assert page.evaluate("app.state.starts.length") == 1
    assert page.evaluate("app.state.optimizers.map(o => o.name)") == ["gd", "momentum"]
    # exports: CSV rows are (optimizer, start, step, x, y, loss, grad_norm, outcome)
    frames = page.evaluate("app.race.runs.map(r => r.record_steps.length)")
    with page.expect_download() as dl:
        page.click("#export-csv")
    csv_lines = Path(dl.value.path()).read_text().strip().split("\n")
    assert csv_lines[0] == "optimizer,start,step,x,y,loss,grad_norm,outcome"
    assert len(csv_lines) == 1 + sum(frames)
    assert csv_lines[-1].endswith(",global_minimum")
    with page.expect_download() as dl:
        page.click("#export-json")
    exported = json.loads(Path(dl.value.path()).read_text())
    assert exported["setup"]["starts"] == page.evaluate("app.state.starts")
    assert [r["label"] for r in exported["race"]["runs"]] == [
        "gd(lr=0.02)",
        "momentum(lr=0.002, momentum=0.9)",
    ]
    with page.expect_download() as dl:
        page.click("#export-png")
    assert Path(dl.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the 3-D view draws the same race on the surface
    before = page.evaluate("document.getElementById('view').toDataURL()")
    page.check("#view-3d")
    assert page.evaluate("document.getElementById('view').toDataURL()") != before
    _shot(page, "race-3d.png", tmp_path)
    page.check("#view-contour")

    # the whole setup is in the URL: a fresh page from it restores and reruns the same race
    url = page.url
    assert "#s=" in url
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#diagnosis li[data-kind]")
    assert page.evaluate("app.state.optimizers[0].hyper.lr") == 0.02
    assert [k for k, _ in _outcomes(page)] == ["global_minimum", "global_minimum"]
    _shot(page, "rerun.png", tmp_path)


def test_bad_formula_shows_the_error_at_its_position(page, tmp_path):
    page.check("#source-formula")
    page.fill("#formula-input", "x**2 + foo(y)")
    page.press("#formula-input", "Enter")
    err = page.locator("#formula-error")
    err.wait_for(state="visible")
    lines = err.inner_text().split("\n")
    assert lines[0] == "x**2 + foo(y)"
    assert lines[1] == " " * 7 + "^"  # under the 'f' of foo
    assert "foo" in lines[2] and "position 7" in lines[2]
    _shot(page, "formula-error.png", tmp_path)
    # a good formula clears the error and draws its numerically found critical points
    page.fill("#formula-input", "x**4 - 2*x**2 + y**2")
    page.press("#formula-input", "Enter")
    err.wait_for(state="hidden")
    page.wait_for_function("app.surface && app.surface.landscape.name === 'formula'")
    assert page.evaluate("app.surface.critical_points_source") == "found"
    kinds = page.evaluate("app.surface.critical_points.map(c => c.label).sort()")
    assert kinds == ["global min", "global min", "saddle"]


def test_basin_map_mode(page, tmp_path):
    page.select_option("#landscape-select", "tilted_double_well")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('tilted_double_well')"
    )
    page.check("#mode-basin")
    page.fill("#basin-n", "30")
    page.dispatch_event("#basin-n", "change")
    page.fill("#steps-input", "300")
    page.dispatch_event("#steps-input", "change")
    page.click("#run-btn")
    page.wait_for_function("app.basin !== null")
    legend = page.inner_text("#legend")
    assert "global min (-1.057, 1.118)" in legend and "%" in legend
    text = page.inner_text("#diagnosis")
    assert "reaches a global minimum from" in text
    _shot(page, "basin.png", tmp_path)
