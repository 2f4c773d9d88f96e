"""``/api/point`` (the page's explanation panel and arrows) against torch.func at float64, and the
page's message catalogues: every key in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from descentlab.web.app import create_app  # noqa: E402

QUARTIC = "x**4 - 2*x**2 + y**2 + x*y"
I18N = Path(__file__).resolve().parents[1] / "src" / "descentlab" / "i18n"
STATIC = Path(__file__).resolve().parents[1] / "src" / "descentlab" / "web" / "static"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), raise_server_exceptions=False)


def _quartic(p: torch.Tensor) -> torch.Tensor:
    x, y = p[0], p[1]
    return x**4 - 2 * x**2 + y**2 + x * y


def _himmelblau(p: torch.Tensor) -> torch.Tensor:
    x, y = p[0], p[1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


@pytest.mark.parametrize(
    ("landscape", "fn"),
    [({"formula": QUARTIC}, _quartic), ({"name": "himmelblau"}, _himmelblau)],
)
def test_point_matches_torch_func_hessian_at_float64(client, landscape, fn):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-2.5, 2.5, size=(7, 2))
    r = client.post("/api/point", json={"landscape": landscape, "points": pts.tolist()})
    assert r.status_code == 200, r.text
    out = r.json()["points"]
    assert len(out) == len(pts)
    for p, o in zip(pts, out, strict=True):
        P = torch.tensor(p, dtype=torch.float64)
        H = torch.func.hessian(fn)(P).numpy()
        g = torch.func.grad(fn)(P).numpy()
        np.testing.assert_allclose(o["value"], float(fn(P)), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(o["gradient"], g, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(o["grad_norm"], np.linalg.norm(g), rtol=1e-12)
        np.testing.assert_allclose(o["hessian"], H, rtol=1e-12, atol=1e-10)
        lam = np.linalg.eigvalsh(H)
        np.testing.assert_allclose(o["eigenvalues"], lam, rtol=1e-10, atol=1e-10)
        for k in range(2):
            v = np.array(o["eigenvectors"][k])
            assert abs(np.linalg.norm(v) - 1) < 1e-12
            np.testing.assert_allclose(H @ v, lam[k] * v, atol=1e-9 * max(1.0, abs(lam).max()))
        want = (
            "saddle"
            if lam[0] < 0 < lam[1]
            else ("minimum" if lam[0] > 0 else "maximum" if lam[1] < 0 else "degenerate")
        )
        assert o["shape"] == want


def test_point_at_the_saddle_names_it_and_its_directions(client):
    # double well (x^2 - 1)^2 + y^2: saddle at the origin, Hessian diag(-4, 2)
    r = client.post(
        "/api/point",
        json={"landscape": {"name": "double_well"}, "points": [[0.0, 0.0], [0.9, 0.1]]},
    )
    at, near = r.json()["points"]
    assert at["gradient"] == [0.0, 0.0] and at["shape"] == "saddle"
    assert at["eigenvalues"] == [-4.0, 2.0]
    assert at["eigenvectors"] == [[1.0, 0.0], [0.0, 1.0]]  # curves down along x, up along y
    assert at["nearest"]["kind"] == "saddle" and at["nearest"]["distance"] == 0.0
    # (0.9, 0.1) is nearest to the minimum (1, 0): distance sqrt(0.02)
    assert near["nearest"]["point"] == [1.0, 0.0] and near["nearest"]["is_global"]
    assert near["nearest"]["distance"] == pytest.approx(np.sqrt(0.02), rel=1e-12)


def test_point_errors_are_4xx_naming_the_field(client):
    land = {"name": "double_well"}
    r = client.post("/api/point", json={"landscape": land, "points": []})
    assert r.status_code == 400 and r.json()["field"] == "points"
    r = client.post("/api/point", json={"landscape": land, "points": [[0.0, 0.0]] * 513})
    assert r.status_code == 400 and "limit is 512" in r.json()["error"]
    r = client.post("/api/point", json={"landscape": land, "points": [[1e9, 0.0]]})
    assert r.status_code == 400 and r.json()["field"] == "points"
    r = client.post("/api/point", json={"landscape": land, "points": [[0.0]]})
    assert r.status_code == 422
    r = client.post(
        "/api/point", json={"landscape": {"formula": "x**2 + foo(y)"}, "points": [[0, 0]]}
    )
    assert r.status_code == 400 and r.json()["position"] == 7


def test_point_is_documented(client):
    spec = client.get("/openapi.json").json()
    assert "/api/point" in spec["paths"]
    assert {"PointRequest", "PointResponse"} <= set(spec["components"]["schemas"])


# ---------------------------------------------------------------------------- messages
def _catalogue(lang: str) -> dict[str, str]:
    return json.loads((I18N / lang / "web.json").read_text(encoding="utf-8"))


def test_every_web_message_exists_in_both_languages_with_the_same_placeholders():
    en, ko = _catalogue("en"), _catalogue("ko")
    assert set(en) == set(ko)
    for key in en:
        assert en[key].strip() and ko[key].strip(), key
        ph = re.compile(r"\{(\w+)\}")
        assert set(ph.findall(en[key])) == set(ph.findall(ko[key])), key
        assert en[key] != ko[key], f"{key} is not translated"
    # the Korean is written, not copied: most texts contain Hangul
    hangul = sum(bool(re.search("[\uac00-\ud7a3]", v)) for v in ko.values())
    assert hangul >= 0.9 * len(ko) - 2


def test_every_key_the_page_uses_is_in_the_catalogue():
    en = _catalogue("en")
    js = (STATIC / "app.js").read_text(encoding="utf-8")
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\("([a-z0-9_.]+)"', js))
    used |= set(re.findall(r'data-i18n(?:-title)?="([^"]+)"', html))
    kinds = ["global_minimum", "local_minimum", "saddle", "maximum", "degenerate"]
    outcomes = [*kinds, "plateau", "diverged", "max_steps"]
    used |= {f"cp.{k}" for k in kinds} | {f"kind.{k}" for k in kinds} | {f"why.{k}" for k in kinds}
    used |= {f"outcome.{k}" for k in outcomes} | {f"story.{k}" for k in outcomes}
    used |= {f"shape.{k}" for k in ("minimum", "maximum", "saddle", "degenerate")}
    used |= {"source.catalogue", "source.found"}
    assert used <= set(en), sorted(used - set(en))


def test_meta_serves_both_catalogues(client):
    msgs = client.get("/api/meta").json()["messages"]
    assert msgs["en"] == _catalogue("en") and msgs["ko"] == _catalogue("ko")
