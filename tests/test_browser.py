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

import numpy as np
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


def _open(
    browser, url: str, width: int = 1500, height: int = 1000, dpr: float = 1, touch: bool = False
):
    ctx = browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=dpr,
        locale="en-US",
        has_touch=touch,
    )
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(url)
    pg.wait_for_selector("body[data-ready='1']")
    return ctx, pg, errors


@pytest.fixture
def page(browser, server):
    ctx, pg, errors = _open(browser, server.url)
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
    assert page.locator("#status").inner_text().startswith("double_well")
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
    page.wait_for_function("!app.playing && app.frame === app.timeline.length - 1")
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
    # the status says what went wrong: it is not left at "drawing..." (regression)
    status = page.locator("#status")
    assert status.get_attribute("class") == "error"
    assert "drawing" not in status.inner_text() and "foo" in status.inner_text()
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


# ---------------------------------------------------------------------------- teaching playground
def _select_landscape(page, name: str) -> None:
    page.select_option("#landscape-select", name)
    page.wait_for_function(
        f"app.surface && app.surface.landscape.name === '{name}' && "
        f"document.getElementById('status').textContent.startsWith('{name}')"
    )


def _setup(page, optimizers: list[dict], starts: list[list[float]], steps: int) -> None:
    page.evaluate(
        f"""(() => {{ app.state.optimizers = {json.dumps(optimizers)};
        app.state.starts = {json.dumps(starts)}; app.state.steps = {steps};
        syncControls(); }})()"""
    )


def _png_pixels(path: Path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_playback_runs_to_the_longest_run_not_the_first_to_stop(page):
    # Newton stops after a few steps at the minimum; gd runs all 400 steps (regression: the
    # playback used to end with the first run, 2 frames for the whole race)
    _select_landscape(page, "double_well")
    _setup(
        page,
        [{"name": "newton", "hyper": {}}, {"name": "gd", "hyper": {"lr": 0.01}}],
        [[0.6, 0.8]],
        400,
    )
    page.click("#run-btn")
    page.wait_for_function("app.race && app.frame > 0")
    lengths = page.evaluate("app.race.runs.map(r => r.record_steps.length)")
    last_steps = page.evaluate("app.race.runs.map(r => r.record_steps[r.record_steps.length - 1])")
    assert 4 * lengths[0] < lengths[1] and last_steps[1] == 400
    page.wait_for_function("!app.playing && app.frame === app.timeline.length - 1", timeout=20_000)
    assert page.evaluate("app.timeline.length") == lengths[1]
    assert page.inner_text("#step-label") == "step 400 / 400"
    # at the end each run shows its own last point: newton's stays at its stop
    idx = page.evaluate("app.race.runs.map(r => runIndex(r, app.frame))")
    assert idx == [lengths[0] - 1, lengths[1] - 1]
    # the scrubber spans the longest run
    assert page.get_attribute("#scrubber", "max") == str(lengths[1] - 1)


def test_a_slow_old_answer_cannot_overwrite_a_newer_one(page):
    # delay every request that names himmelblau by 1.5 s, then change the landscape again
    page.evaluate(
        """(() => { const orig = window.fetch; window.fetch = async (u, o) => {
            if (o && o.body && o.body.includes('himmelblau'))
              await new Promise(r => setTimeout(r, 1500));
            return orig(u, o); }; })()"""
    )
    page.select_option("#landscape-select", "himmelblau")
    page.select_option("#landscape-select", "double_well")
    page.wait_for_function("app.surface && app.surface.landscape.name === 'double_well'")
    page.wait_for_timeout(2200)  # the himmelblau answer has arrived by now: it must be dropped
    assert page.evaluate("app.surface.landscape.name") == "double_well"
    assert page.input_value("#landscape-select") == "double_well"
    assert page.inner_text("#status").startswith("double_well")
    # same for runs: a slow run (lr 0.0123, delayed) then a fast one; the fast one stays
    page.evaluate(
        """(() => { const orig = window.fetch; window.fetch = async (u, o) => {
            if (o && o.body && o.body.includes('0.0123'))
              await new Promise(r => setTimeout(r, 1500));
            return orig(u, o); }; })()"""
    )
    _setup(page, [{"name": "gd", "hyper": {"lr": 0.0123}}], [[0.5, 0.5]], 100)
    page.evaluate("run()")
    _setup(page, [{"name": "gd", "hyper": {"lr": 0.05}}], [[0.5, 0.5]], 100)
    page.evaluate("run()")
    page.wait_for_function("app.race && app.race.runs[0].hyper.lr === 0.05")
    page.wait_for_timeout(2200)
    assert page.evaluate("app.race.runs[0].label") == "gd(lr=0.05)"
    assert page.inner_text("#diagnosis li[data-kind]").startswith("gd(lr=0.05)")


@pytest.mark.parametrize(
    ("fragment", "needle"),
    [
        ("#s=!!!not-base64", "could not be read"),
        ("#s=bm90IGpzb24", "could not be read"),  # base64 of 'not json'
        ("#s=WzEsMiwzXQ", "could not be read"),  # base64 of '[1,2,3]'
        (None, "starts, steps"),  # valid JSON with two bad fields
    ],
)
def test_malformed_share_links_show_a_message_not_a_blank_page(browser, server, fragment, needle):
    import base64

    if fragment is None:
        bad = {
            "name": "double_well",
            "starts": "abc",
            "steps": -5,
            "optimizers": [{"name": "gd", "hyper": {"lr": 0.05}}],
        }
        b64 = base64.urlsafe_b64encode(json.dumps(bad).encode()).decode().rstrip("=")
        fragment = "#s=" + b64
    ctx, pg, errors = _open(browser, server.url + fragment)
    try:
        pg.wait_for_function("app.surface !== null")
        status = pg.locator("#status")
        assert status.get_attribute("class") == "error"
        assert needle in status.inner_text()
        assert errors == []
        if needle == "starts, steps":  # the valid fields were kept, the bad ones left at default
            assert pg.evaluate("app.state.name") == "double_well"
            assert pg.evaluate("app.state.steps") == 500
            assert pg.evaluate("app.state.starts") == []
            assert pg.evaluate("app.state.optimizers[0].hyper.lr") == 0.05
        # the page works: a click places a start and a run diagnoses it
        _click_data(pg, 0.5, 0.5)
        _run_and_wait(pg)
        assert len(_outcomes(pg)) >= 1
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize(("width", "height", "dpr"), [(1280, 800, 1), (390, 844, 2)])
def test_layout_at_1280_and_390_px(browser, server, tmp_path, width, height, dpr, lang):
    ctx, pg, errors = _open(browser, server.url + f"?lang={lang}", width, height, dpr)
    try:
        _select_landscape(pg, "double_well")
        _setup(
            pg,
            [
                {"name": "gd", "hyper": {"lr": 0.01}},
                {"name": "perturbed_gd", "hyper": {"lr": 0.01}},
            ],
            [[0.0, 0.9]],
            600,
        )
        pg.click("#run-btn")
        pg.wait_for_function("app.race && !app.playing && app.frame === app.timeline.length - 1")
        # no horizontal scrolling
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        view = pg.locator("#view").bounding_box()
        assert view["x"] >= 0 and view["x"] + view["width"] <= width
        # every canvas is backed at the device pixel ratio (sharp, not stretched)
        for cid in ("view", "loss-curve", "grad-curve"):
            w_css, w_px, h_css, h_px = pg.evaluate(
                f"(() => {{ const c = document.getElementById('{cid}');"
                " const r = c.getBoundingClientRect();"
                f" return [r.width, c.width, r.height, c.height]; }})()"
            )
            assert abs(w_px - w_css * dpr) <= 1 and abs(h_px - h_css * dpr) <= 1, cid
        diag = pg.locator("#diagnosis").bounding_box()
        if width == 1280:
            # three columns: the diagnosis sits right of the map, above the fold
            assert diag["x"] > view["x"] + view["width"]
            assert diag["y"] + 60 < height
            assert view["width"] >= 520
        else:
            # one column: the map first, full width; the diagnosis right under it
            assert view["width"] >= width - 40
            assert diag["y"] > view["y"] + view["height"]
            assert pg.locator("#run-btn").bounding_box()["y"] < height
        # the saddle event: gd stops at the saddle; perturbed gd stalls there, then escapes;
        # the diagnosis says so in the page's language, the map rings the stall
        out = _outcomes(pg)
        assert [k for k, _ in out] == ["saddle", "global_minimum"]
        if lang == "en":
            assert "saddle (0, 0)" in out[0][1]
            assert "stalled 288 steps at the saddle (0, 0)" in out[1][1]
        else:
            assert "안장점 (0, 0)에서 멈췄습니다" in out[0][1]
            assert "안장점 (0, 0) 근처에서 288스텝 동안 머뭇거리다가 빠져나왔습니다" in out[1][1]
        assert pg.locator("#legend .sw.ring").count() == 1
        path = _shot(pg, f"layout-{width}-{lang}.png", tmp_path)
        px = _png_pixels(path)
        assert px.shape[:2] == (round(height * dpr), round(width * dpr))
        # content: gd's blue and perturbed gd's green are both drawn on the map
        vb = [round(v * dpr) for v in (view["x"], view["y"], view["width"], view["height"])]
        region = px[vb[1] : vb[1] + vb[3], vb[0] : vb[0] + vb[2]]
        for rgb in ((0x00, 0x72, 0xB2), (0x00, 0x9E, 0x73)):
            close = (abs(region - np.array(rgb)).sum(axis=2) < 40).sum()
            assert close > 30 * dpr * dpr, rgb
        assert errors == []
    finally:
        ctx.close()


def test_every_optimizer_colour_stands_out_on_the_colour_map_and_the_bar_is_drawn(page):
    palette = page.evaluate("app.meta.style.optimizer_palette")
    ramp = page.evaluate("Array.from({length: 41}, (_, k) => cmap(k / 40))")

    def lab(rgb):  # CIE L*a*b* (D65): distances read as perceived colour differences
        c = np.asarray(rgb, float) / 255
        c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
        m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
        f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    def hexrgb(h):
        return [int(h[i : i + 2], 16) for i in (1, 3, 5)]

    # CIE76 delta E > 25 is a plainly different colour; the old blue ramp held gd's own blue
    # (delta E 3) and sky blue (8)
    worst = min(np.linalg.norm(lab(hexrgb(c)) - lab(r)) for c in palette for r in ramp)
    assert worst > 25, worst
    # the colour bar: its pixels run from the ramp's low colour (bottom) to its high (top)
    g = page.evaluate(
        "(() => { const g = viewGeom(); const c = document.getElementById('view');"
        " const ctx = c.getContext('2d'); const x = PAD.l + g.w + 16;"
        " const top = ctx.getImageData(x, PAD.t + 22, 1, 1).data;"
        " const bot = ctx.getImageData(x, PAD.t + g.h - 3, 1, 1).data;"
        " return [Array.from(top).slice(0, 3), Array.from(bot).slice(0, 3)]; })()"
    )
    assert np.abs(np.array(g[0]) - np.array(ramp[-1])).max() <= 8
    assert np.abs(np.array(g[1]) - np.array(ramp[0])).max() <= 8


def test_the_explanation_panel_says_why_the_saddle_is_a_saddle(page):
    _select_landscape(page, "double_well")
    px, py = page.evaluate(
        "(() => { const g = viewGeom(); return [g.px(0.002), g.py(-0.001)]; })()"
    )
    page.hover("#view", position={"x": px, "y": py})
    page.wait_for_function(
        "app.explain && app.explain.snapped && app.explain.snapped.kind === 'saddle'"
    )
    info = page.evaluate("app.explain.info")
    # snapped to the saddle itself: the Hessian there is diag(-4, 2)
    assert info["point"] == [0.0, 0.0] and info["gradient"] == [0.0, 0.0]
    assert info["eigenvalues"] == [-4.0, 2.0] and info["eigenvectors"] == [[1.0, 0.0], [0.0, 1.0]]
    text = page.inner_text("#explain-body")
    assert "Why this is a saddle" in text and "λ₁ = -4" in text and "λ₂ = 2" in text
    assert "red" in text and "green" in text
    # the eigen-directions are drawn: red pixels along x from the saddle, green along y
    colors = page.evaluate(
        "(() => { const g = viewGeom(), ctx = document.getElementById('view').getContext('2d');"
        " const at = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data).slice(0, 3);"
        " return [at(g.px(0) + 20, g.py(0)), at(g.px(0), g.py(0) - 20)]; })()"
    )
    assert colors[0][0] > 150 and colors[0][1] < 90  # red (#c62828)
    assert colors[1][1] > 90 and colors[1][0] < 80  # green (#1b7a36)
    # an ordinary point: the gradient and the shape, and the nearest critical point
    px, py = page.evaluate("(() => { const g = viewGeom(); return [g.px(0.5), g.py(0.7)]; })()")
    page.hover("#view", position={"x": px, "y": py})
    page.wait_for_function("app.explain && !app.explain.snapped")
    info = page.evaluate("app.explain.info")
    x, y = info["point"]
    assert info["gradient"] == pytest.approx([4 * x * (x * x - 1), 2 * y], abs=1e-12)
    assert info["eigenvalues"] == pytest.approx(sorted([12 * x * x - 4, 2.0]), abs=1e-12)
    assert "downhill" in page.inner_text("#explain-body")


def test_sliders_rerun_as_they_move_and_only_the_last_answer_shows(page):
    _select_landscape(page, "double_well")
    _setup(
        page,
        [
            {"name": "gd", "hyper": {"lr": 0.01}},
            {"name": "momentum", "hyper": {"lr": 0.01, "momentum": 0.9}},
        ],
        [[0.3, 0.8]],
        200,
    )
    _run_and_wait(page)
    before = page.evaluate("app.requests.run")
    # drag gd's lr slider through 8 positions, 25 ms apart (log10 lr from -2.5 to -1)
    page.evaluate(
        """(async () => {
        const sl = document.querySelector("input[data-slider='lr'][data-opt='0']");
        for (let k = 0; k < 8; k++) { sl.value = String(-2.5 + 1.5 * k / 7);
          sl.dispatchEvent(new Event('input')); await new Promise(r => setTimeout(r, 25)); } })()"""
    )
    page.wait_for_function("app.race.runs[0].hyper.lr === 0.1")
    page.wait_for_timeout(400)
    assert page.evaluate("app.state.optimizers[0].hyper.lr") == 0.1
    assert page.input_value("[data-opt='0'][data-hyper='lr']") == "0.1"
    assert page.inner_text("#diagnosis li[data-kind]").startswith("gd(lr=0.1)")
    sent = page.evaluate("app.requests.run") - before
    assert 1 <= sent < 8  # debounced: not one run per input event
    # a long drag (150 input events) raises no error: the address is written a few times a
    # second, not once per event (browsers refuse >100 replaceState calls in 10 s)
    page.evaluate(
        """(async () => {
        const sl = document.querySelector("input[data-slider='lr'][data-opt='0']");
        for (let k = 0; k < 150; k++) { sl.value = String(-2 + k / 150);
          sl.dispatchEvent(new Event('input')); await new Promise(r => setTimeout(r, 4)); } })()"""
    )
    page.wait_for_timeout(500)
    assert "#s=" in page.url
    # the momentum slider too; a live re-run shows the whole paths at once
    page.evaluate(
        """(() => {
        const sl = document.querySelector("input[data-slider='momentum'][data-opt='1']");
        sl.value = '0.5'; sl.dispatchEvent(new Event('input')); })()"""
    )
    page.wait_for_function("app.race.runs[1].hyper.momentum === 0.5")
    assert page.evaluate("app.frame === app.timeline.length - 1")
    assert "momentum=0.5" in page.evaluate("app.race.runs[1].label")


def test_step_button_and_the_gradient_and_velocity_arrows(page):
    _select_landscape(page, "double_well")
    _setup(
        page,
        [
            {"name": "gd", "hyper": {"lr": 0.05}},
            {"name": "momentum", "hyper": {"lr": 0.05, "momentum": 0.9}},
        ],
        [[0.5, 0.8]],
        100,
    )
    page.click("#step-btn")  # no race yet: runs it and stays at step 0
    page.wait_for_function("app.race !== null")
    assert page.inner_text("#step-label") == "step 0 / 100"
    for k in (1, 2, 3):
        page.click("#step-btn")
        assert page.inner_text("#step-label") == f"step {k} / 100"
    # the gradients at the current iterates arrive for the arrows: grad f = (4x(x^2-1), 2y)
    page.wait_for_function("app.arrows && app.arrows.frame === 3")
    grads = page.evaluate("app.arrows.grads")
    pos = page.evaluate("app.race.runs.map(r => r.positions[3][0])")
    for (x, y), g in zip(pos, [gr[0] for gr in grads], strict=True):
        assert g == pytest.approx([4 * x * (x * x - 1), 2 * y], abs=1e-12)
    items = page.evaluate("stepArrowData()")
    assert len(items) == 2
    for it in items:
        run = page.evaluate(f"app.race.runs[{it['ri']}].positions")
        p3, p4 = run[3][0], run[4][0]
        assert it["v"] == pytest.approx([p4[0] - p3[0], p4[1] - p3[1]], abs=1e-15)
    # for plain gd the step taken is exactly -lr * grad f: the two arrows coincide
    gd = next(it for it in items if it["ri"] == 0)
    assert gd["v"] == pytest.approx(gd["g"], rel=1e-9)


def test_language_switch_translates_the_page(page):
    ko = json.loads(
        (Path(__file__).resolve().parents[1] / "src/descentlab/i18n/ko/web.json").read_text("utf-8")
    )
    _select_landscape(page, "double_well")
    _setup(page, [{"name": "gd", "hyper": {"lr": 0.01}}], [[0.0, 0.9]], 300)
    _run_and_wait(page)
    page.select_option("#lang-select", "ko")
    assert page.inner_text("#run-btn") == ko["btn.run"] == "실행"
    for key in page.evaluate(
        "Array.from(document.querySelectorAll('[data-i18n]')).map(e => e.dataset.i18n)"
    ):
        el = page.locator(f"[data-i18n='{key}']").first
        assert el.inner_text().strip() == ko[key].strip() or not el.is_visible(), key
    li = page.inner_text("#diagnosis li[data-kind]")
    assert "안장점 (0, 0)" in li and "멈췄습니다" in li
    assert page.evaluate("document.documentElement.lang") == "ko"
    # the language travels with the share link (the Share button writes the address now;
    # otherwise it follows changes at most every 300 ms)
    page.click("#share-btn")
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#lang-select") == "ko" and page.inner_text("#run-btn") == "실행"
    page.select_option("#lang-select", "en")
    assert page.inner_text("#run-btn") == "Run"


@pytest.mark.parametrize("mode", ["race", "basin"])
def test_png_export_has_a_title_and_a_legend(page, mode):
    _select_landscape(page, "double_well")
    _setup(
        page,
        [{"name": "gd", "hyper": {"lr": 0.05}}, {"name": "momentum", "hyper": {"lr": 0.05}}],
        [[0.3, 0.8]],
        100,
    )
    if mode == "basin":
        page.check("#mode-basin")
        page.fill("#basin-n", "20")
        page.dispatch_event("#basin-n", "change")
        page.click("#run-btn")
        page.wait_for_function("app.basin !== null")
    else:
        _run_and_wait(page)
    with page.expect_download() as dl:
        page.click("#export-png")
    path = Path(dl.value.path())
    meta = page.evaluate("app.lastExport")
    assert meta["title"] == "descentlab — double_well"
    if mode == "race":
        assert "race: 2 optimizer(s) × 1 start(s)" in meta["sub"]
        assert {"gd(lr=0.05)", "momentum(lr=0.05)", "saddle", "global minimum"} <= set(
            meta["legend"]
        )
    else:
        assert meta["sub"].startswith("basin map of gd(lr=0.05): 20×20 starts")
        assert any(e.startswith("global min (1, 0)") for e in meta["legend"])
    px = _png_pixels(path)
    assert px.shape[:2] == (meta["height"], meta["width"])
    dark = px.sum(axis=2) < 200
    assert dark[:40, :].sum() > 200  # the title is written
    view_w = page.evaluate("document.getElementById('view')._w")
    assert dark[60:, view_w + 10 :].sum() > 200  # the legend column is written
    if mode == "basin":  # used to be half blank: the coloured map fills the left half
        coloured = np.ptp(px, axis=2) > 40
        assert coloured[60:, :view_w].mean() > 0.2


def test_many_critical_points_are_labelled_without_overlap(page):
    _select_landscape(page, "levi13")
    n = page.evaluate("app.surface.critical_points.length")
    assert n > 1000
    boxes = page.evaluate("app.labelBoxes")
    assert 1 <= len(boxes) < 100
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    # the global minimum is among the labelled ones, and the legend says the rest are hidden
    assert f"labels on {len(boxes)} of {n:,} points" in page.inner_text("#legend")


def test_on_a_phone_a_tap_explains_and_a_tap_on_a_critical_point_places_no_start(browser, server):
    ctx, pg, errors = _open(browser, server.url + "?lang=ko", 390, 844, 2, touch=True)
    try:
        _select_landscape(pg, "double_well")
        px, py = pg.evaluate("(() => { const g = viewGeom(); return [g.px(0), g.py(0)]; })()")
        pg.tap("#view", position={"x": px + 2, "y": py})
        pg.wait_for_function("app.explain && app.explain.snapped")
        assert pg.evaluate("app.state.starts") == []
        assert "왜 안장점일까요?" in pg.inner_text("#explain-body")
        px, py = pg.evaluate("(() => { const g = viewGeom(); return [g.px(0.5), g.py(0.5)]; })()")
        pg.tap("#view", position={"x": px, "y": py})
        pg.wait_for_function("app.state.starts.length === 1 && app.explain && !app.explain.snapped")
        assert errors == []
    finally:
        ctx.close()


def test_a_bad_link_pasted_into_an_open_page_shows_a_message(page):
    _select_landscape(page, "double_well")
    page.evaluate("location.hash = '#s=%%%broken'")
    page.wait_for_function("document.getElementById('status').className === 'error'")
    assert "could not be read" in page.inner_text("#status")
    assert page.evaluate("app.surface.landscape.name") == "double_well"  # the page carries on
