"""The playground's JSON API through FastAPI's test client, against closed forms and the library.

Every error path is exercised: each must answer 4xx with one clear line (never a 500 or a hang).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from descentlab.errors import FormulaError  # noqa: E402
from descentlab.landscapes import Landscape, get_landscape  # noqa: E402
from descentlab.web.app import create_app  # noqa: E402
from descentlab.web.limits import Limits  # noqa: E402

QUARTIC = "x**4 - 2*x**2 + y**2"  # minima (+-1, 0) value -1, saddle (0, 0) value 0


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), raise_server_exceptions=False)


def _err(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "\n" not in body["error"]
    return body


# ---------------------------------------------------------------------------- catalogue
def test_landscapes_lists_every_2d_catalogue_entry(client):
    r = client.get("/api/landscapes")
    assert r.status_code == 200
    names = {e["name"] for e in r.json()}
    assert {"tilted_double_well", "rosenbrock", "monkey_saddle"} <= names
    for e in r.json():
        assert get_landscape(e["name"], **({"dim": 2} if "dim" in e["params"] else {})).dim == 2


def test_landscape_detail_grid_matches_landscape_values(client):
    r = client.get("/api/landscapes/tilted_double_well", params={"grid": 21})
    assert r.status_code == 200
    body = r.json()
    L = get_landscape("tilted_double_well")
    X, Y = np.meshgrid(body["x"], body["y"])
    want = L.value(np.stack([X.ravel(), Y.ravel()], 1)).numpy().reshape(21, 21)
    np.testing.assert_allclose(np.array(body["z"], dtype=float), want, rtol=0, atol=1e-12)
    assert body["x"][0] == L.domain[0][0] and body["x"][-1] == L.domain[0][1]
    assert body["y"][0] == L.domain[1][0] and body["y"][-1] == L.domain[1][1]
    # every known critical point, exactly, with the page's label
    got = sorted((tuple(c["point"]), c["kind"], c["label"]) for c in body["critical_points"])
    want_cps = sorted(
        (
            tuple(float(v) for v in c.point),
            c.kind,
            "global min" if c.is_global else ("local min" if c.kind == "minimum" else c.kind),
        )
        for c in L.critical_points
    )
    assert got == want_cps
    assert body["critical_points_source"] == "catalogue" and body["complete"] is True


def test_any_dimension_landscape_is_drawn_at_d2(client):
    r = client.post("/api/surface", json={"landscape": {"name": "rosenbrock"}, "grid": 11})
    assert r.status_code == 200
    assert r.json()["landscape"]["dim"] == 2
    mins = [c for c in r.json()["critical_points"] if c["kind"] == "minimum"]
    assert [c["point"] for c in mins] == [[1.0, 1.0]]


def test_custom_domain_filters_critical_points(client):
    # only the global minimum of the tilted double well lies in x < -0.5
    L = get_landscape("tilted_double_well")
    r = client.post(
        "/api/surface",
        json={"landscape": {"name": "tilted_double_well", "domain": [-2, -0.5, -1, 3]}, "grid": 9},
    )
    assert r.status_code == 200
    cps = r.json()["critical_points"]
    inside = [c for c in L.critical_points if c.point[0] <= -0.5]
    assert [c["point"] for c in cps] == [list(c.point) for c in inside]
    assert r.json()["x"][0] == -2 and r.json()["x"][-1] == -0.5


# ---------------------------------------------------------------------------- formulas
def test_formula_surface_values_and_found_critical_points(client):
    r = client.post(
        "/api/surface",
        json={"landscape": {"formula": QUARTIC, "domain": [-2, 2, -2, 2]}, "grid": 17},
    )
    assert r.status_code == 200
    body = r.json()
    X, Y = np.meshgrid(body["x"], body["y"])
    np.testing.assert_allclose(np.array(body["z"]), X**4 - 2 * X**2 + Y**2, atol=1e-12)
    cps = sorted(body["critical_points"], key=lambda c: c["point"])
    assert [c["kind"] for c in cps] == ["minimum", "saddle", "minimum"]
    np.testing.assert_allclose([c["point"] for c in cps], [[-1, 0], [0, 0], [1, 0]], atol=1e-9)
    np.testing.assert_allclose([c["value"] for c in cps], [-1, 0, -1], atol=1e-12)
    assert [c["label"] for c in cps] == ["global min", "saddle", "global min"]
    assert cps[1]["index"] == 1
    np.testing.assert_allclose(sorted(cps[1]["eigenvalues"]), [-4, 2], atol=1e-9)
    assert body["critical_points_source"] == "found"


def test_critical_points_endpoint_matches_the_finder(client):
    from descentlab.analysis import find_critical_points

    r = client.post("/api/critical-points", json={"landscape": {"formula": "x**3 - 3*x + y**2"}})
    assert r.status_code == 200
    got = sorted((tuple(c["point"]), c["kind"]) for c in r.json()["critical_points"])
    L = Landscape.from_formula("x**3 - 3*x + y**2", domain=(-3, 3, -3, 3))
    want = sorted((tuple(c.point), c.kind) for c in find_critical_points(L))
    assert got == want
    # closed form: (1, 0) minimum, (-1, 0) saddle
    assert [k for _, k in got] == ["saddle", "minimum"]
    np.testing.assert_allclose([p for p, _ in got], [[-1, 0], [1, 0]], atol=1e-9)


def test_formula_of_x_only_is_drawn_in_2d():
    # x**2 in 2-D has a whole line of critical points: the search says so, none are marked
    client = TestClient(create_app(Limits(critical_seconds=5)), raise_server_exceptions=False)
    r = client.post("/api/surface", json={"landscape": {"formula": "x**2"}, "grid": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["landscape"]["dim"] == 2
    np.testing.assert_allclose(np.array(body["z"])[0], np.array(body["x"]) ** 2)
    assert body["critical_points"] == []
    assert "a curve (or surface) of critical points" in body["critical_points_note"]
    # a run there is still answered (diagnosed without critical points)
    r = client.post(
        "/api/run",
        json={
            "landscape": {"formula": "x**2"},
            "optimizers": [{"name": "gd", "hyper": {"lr": 0.1}}],
            "starts": [[1.0, 1.0]],
            "steps": 10,
        },
    )
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["runs"][0]["final_points"], [[0.8**10, 1.0]])


def test_too_many_critical_points_are_capped_lowest_first():
    client = TestClient(create_app(Limits(max_critical_points=10)), raise_server_exceptions=False)
    r = client.post("/api/critical-points", json={"landscape": {"formula": "sin(5*x)*sin(5*y)"}})
    assert r.status_code == 200, r.text
    body = r.json()
    values = [c["value"] for c in body["critical_points"]]
    assert len(values) == 10 and values == sorted(values)
    assert "the 10 lowest are marked" in body["critical_points_note"]
    np.testing.assert_allclose(values, -1.0, atol=1e-9)  # the minima of sin*sin are -1


@pytest.mark.parametrize(
    "formula",
    [
        "x**2 + foo(y)",
        "x**2 + (y",
        "x**2 + __import__('os').system('true')",
        "x.real + y",
        "x**2 + y**2 + z",
        "lambda: 1",
        "x[0] + y",
        "x if y else y",
    ],
)
def test_bad_formula_is_400_with_the_parsers_position(client, formula):
    with pytest.raises(FormulaError) as info:
        Landscape.from_formula(formula, domain=(-3, 3, -3, 3), dim=2)
    body = _err(client.post("/api/surface", json={"landscape": {"formula": formula}}), 400)
    assert body["field"] == "formula"
    assert body["position"] == info.value.position
    assert body["error"] == str(info.value)


def test_unknown_formula_function_position_points_at_it(client):
    body = _err(client.post("/api/surface", json={"landscape": {"formula": "x**2 + foo(y)"}}), 400)
    assert body["position"] == 7
    assert "foo" in body["error"] and "allowed" in body["error"]


def test_formula_errors_on_critical_points_endpoint_too(client):
    body = _err(client.post("/api/critical-points", json={"landscape": {"formula": "x +* y"}}), 400)
    assert body["field"] == "formula" and isinstance(body["position"], int)


# ---------------------------------------------------------------------------- error paths
def test_unknown_landscape_lists_valid_names(client):
    body = _err(client.post("/api/surface", json={"landscape": {"name": "nope"}}), 400)
    assert "nope" in body["error"] and "tilted_double_well" in body["error"]
    body = _err(client.get("/api/landscapes/nope"), 404)
    assert "valid:" in body["error"]


def test_unknown_landscape_parameter(client):
    body = _err(
        client.post("/api/surface", json={"landscape": {"name": "booth", "params": {"k": 1}}}), 400
    )
    assert "'k'" in body["error"] and "accepted" in body["error"]


def test_non_2d_landscape_is_refused(client):
    body = _err(
        client.post(
            "/api/surface", json={"landscape": {"name": "rosenbrock", "params": {"dim": 3}}}
        ),
        400,
    )
    assert "2-D" in body["error"] and "3" in body["error"]


@pytest.mark.parametrize(
    "spec, needle",
    [
        ({}, "either"),
        ({"name": "booth", "formula": "x"}, "either"),
        ({"formula": "   "}, "empty"),
        ({"formula": "x", "params": {"a": 1}}, "params"),
        ({"name": "booth", "domain": [0, 1, 0]}, "4 numbers"),
        ({"name": "booth", "domain": [1, 0, 0, 1]}, "x_lo < x_hi"),
        ({"name": "booth", "domain": [0, 1e9, 0, 1]}, "1e+06"),
    ],
)
def test_bad_landscape_specs(client, spec, needle):
    body = _err(client.post("/api/surface", json={"landscape": spec}), 400)
    assert needle in body["error"]


def test_grid_bounds_are_stated(client):
    for grid in (2, 301):
        body = _err(
            client.post("/api/surface", json={"landscape": {"name": "booth"}, "grid": grid}), 400
        )
        assert "between 5 and 300" in body["error"] and body["field"] == "grid"


def test_formula_length_bound_is_stated(client):
    f = "x" + " + x" * 200
    body = _err(client.post("/api/surface", json={"landscape": {"formula": f}}), 400)
    assert "limit is 500" in body["error"]


def test_malformed_json_is_400_with_position(client):
    body = _err(
        client.post(
            "/api/surface", content=b'{"landscape": {', headers={"content-type": "application/json"}
        ),
        400,
    )
    assert body["error"].startswith("malformed JSON") and "position" in body["error"]


def test_deeply_nested_json_is_400(client):
    raw = b'{"landscape": ' + b"[" * 30000 + b"]" * 30000 + b"}"
    r = client.post("/api/surface", content=raw, headers={"content-type": "application/json"})
    body = _err(r, 400)
    assert body["error"].startswith("malformed JSON")


def test_wrong_shapes_are_422(client):
    body = _err(client.post("/api/surface", json=[1, 2]), 422)
    assert "JSON object" in body["error"]
    body = _err(client.post("/api/surface", json={"landscape": {"name": "booth", "x": 1}}), 422)
    assert body["error"] == "landscape.x: unknown field"
    body = _err(client.post("/api/surface", json={"grid": 10}), 422)
    assert body["error"] == "landscape: required"
    body = _err(
        client.post("/api/surface", json={"landscape": {"name": "booth"}, "grid": "a"}), 422
    )
    assert body["field"] == "grid"
    body = _err(
        client.post(
            "/api/surface",
            content=b'{"landscape": {"name": "booth"}}',
            headers={"content-type": "text/plain"},
        ),
        422,
    )
    assert "Content-Type: application/json" in body["error"]


def test_body_size_bound_declared_and_streamed():
    client = TestClient(create_app(Limits(max_body_bytes=1000)), raise_server_exceptions=False)
    big = b'{"landscape": {"formula": "' + b"x" * 2000 + b'"}}'
    body = _err(
        client.post("/api/surface", content=big, headers={"content-type": "application/json"}), 413
    )
    assert "1000 bytes" in body["error"]

    def chunks():  # no content-length: counted while streaming
        for _ in range(5):
            yield b" " * 400

    body = _err(
        client.post("/api/surface", content=chunks(), headers={"content-type": "application/json"}),
        413,
    )
    assert "1000 bytes" in body["error"]


def test_unknown_route_and_method_are_json_errors(client):
    _err(client.get("/api/nothing"), 404)
    _err(client.get("/api/surface"), 405)


def test_openapi_documents_every_endpoint_with_models(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in (
        "/api/meta",
        "/api/landscapes",
        "/api/landscapes/{name}",
        "/api/surface",
        "/api/critical-points",
        "/api/run",
        "/api/basin",
    ):
        assert p in paths
    schemas = spec["components"]["schemas"]
    for m in (
        "RunRequest",
        "RunResponse",
        "BasinRequest",
        "BasinResponse",
        "SurfaceResponse",
        "ErrorResponse",
        "LandscapeSpec",
        "OptimizerChoice",
    ):
        assert m in schemas
    assert "400" in paths["/api/run"]["post"]["responses"]


def test_page_and_static_files_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert '<canvas id="view"' in r.text and "/static/app.js" in r.text
    for f in ("app.js", "style.css"):
        assert client.get(f"/static/{f}").status_code == 200
    assert "http" not in client.get("/static/app.js").text.replace("HTTP ", "")  # no CDN


def test_api_docs_are_served_without_any_cdn(client):
    r = client.get("/docs")
    assert r.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in r.text
    assert "/openapi.json" in r.text
    assert not re.search(r"(src|href)=['\"]https?://", r.text)
    for f in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
        assert client.get(f"/static/vendor/swagger-ui/{f}").status_code == 200
    assert client.get("/redoc").status_code == 404


def test_json_numbers_are_finite_or_null(client):
    # log(x) is NaN for x < 0 and -inf at 0: JSON carries null there, never NaN
    r = client.post(
        "/api/surface",
        json={"landscape": {"formula": "log(x) + y**2", "domain": [-1, 1, -1, 1]}, "grid": 5},
    )
    assert r.status_code == 200
    z = r.json()["z"]
    assert z[0][0] is None and z[0][-1] == pytest.approx(math.log(1) + 1)
    assert "NaN" not in r.text and "Infinity" not in r.text


def test_wall_time_bound_answers_503_and_server_stays_up():
    from descentlab.web.service import warm_up

    warm_up()  # imports done outside the job that will be stopped
    client = TestClient(create_app(Limits(wall_seconds=0.0005)), raise_server_exceptions=False)
    # a formula no other test searched (found critical points are cached per formula)
    body = _err(
        client.post(
            "/api/critical-points", json={"landscape": {"formula": "x**2 + 3*y**2 + x*y/7"}}
        ),
        503,
    )
    assert "0.0005 s" in body["error"]
    # the server answers the next request (the abandoned job finishes in its own thread)
    ok = TestClient(create_app(), raise_server_exceptions=False)
    assert ok.get("/api/landscapes").status_code == 200


def test_overlong_job_is_stopped_and_frees_its_slot():
    import threading
    import time

    from descentlab.web.service import warm_up

    warm_up()
    client = TestClient(
        create_app(Limits(wall_seconds=1.0, max_concurrent=1)), raise_server_exceptions=False
    )
    # L-BFGS runs its 64 rows apart: hours of work if it were not stopped
    slow = {
        "landscape": {"name": "booth"},
        "optimizers": [{"name": "lbfgs"}],
        "starts": [[0.5, 0.5]] * 64,
        "steps": 5000,
    }
    # threads other tests left (a stopped search still finishing its last torch call) aside
    earlier = {t for t in threading.enumerate() if t.name == "descentlab-job"}
    t0 = time.monotonic()
    body = _err(client.post("/api/run", json=slow), 503)
    assert "wall-time bound of 1 s and was stopped" in body["error"]
    assert time.monotonic() - t0 < 5
    # with one slot only, the next run is answered (not "busy" after 1 s): the stopped job
    # gave its slot back
    r = _run(client, steps=20)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 5
    while any(t.name == "descentlab-job" and t not in earlier for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the stopped job's thread is still running"
        time.sleep(0.01)


# ---------------------------------------------------------------------------- run / race
def _run(client, **kw):
    body = {
        "landscape": {"formula": "x**2 + 10*y**2", "domain": [-2, 2, -2, 2]},
        "optimizers": [{"name": "gd", "hyper": {"lr": 0.01}}],
        "starts": [[1.0, 1.0]],
        "steps": 50,
    }
    body.update(kw)
    return client.post("/api/run", json=body)


def test_run_gd_equals_the_closed_form(client):
    r = _run(client)
    assert r.status_code == 200, r.text
    run = r.json()["runs"][0]
    assert run["label"] == "gd(lr=0.01)" and run["optimizer"] == "gd"
    k = np.array(run["record_steps"])
    np.testing.assert_array_equal(k, np.arange(51))
    P = np.array(run["positions"])[:, 0, :]
    # x_{k+1} = x_k - lr * 2 x_k, y_{k+1} = y_k - lr * 20 y_k
    np.testing.assert_allclose(P[:, 0], 0.98**k, rtol=1e-13)
    np.testing.assert_allclose(P[:, 1], 0.8**k, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        np.array(run["losses"])[:, 0], P[:, 0] ** 2 + 10 * P[:, 1] ** 2, rtol=1e-12
    )
    np.testing.assert_allclose(
        np.array(run["grad_norms"])[:, 0], np.hypot(2 * P[:, 0], 20 * P[:, 1]), rtol=1e-12
    )
    assert run["stop_step"] == [50] and run["stop_reason"] == ["max_steps"]
    np.testing.assert_allclose(run["final_points"], [[0.98**50, 0.8**50]], rtol=1e-12)


def test_run_momentum_equals_torch_sgd_step_by_step(client):
    import torch

    r = _run(
        client,
        optimizers=[{"name": "momentum", "hyper": {"lr": 0.02, "momentum": 0.8}}],
        starts=[[1.5, -0.7], [-0.3, 0.9]],
        steps=40,
    )
    assert r.status_code == 200, r.text
    P = np.array(r.json()["runs"][0]["positions"])
    for b, start in enumerate([[1.5, -0.7], [-0.3, 0.9]]):
        x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([x], lr=0.02, momentum=0.8)
        want = [x.detach().clone().numpy()]
        for _ in range(40):
            opt.zero_grad()
            (x[0] ** 2 + 10 * x[1] ** 2).backward()
            opt.step()
            want.append(x.detach().clone().numpy())
        np.testing.assert_allclose(P[:, b, :], np.array(want), rtol=1e-12, atol=1e-15)


def test_race_outcomes_equal_the_librarys_diagnosis(client):
    from descentlab.analysis.diagnose import diagnose
    from descentlab.engine import run

    starts = [[0.0, 1.0], [0.5, 1.0], [0.01, 0.5]]
    opts = [{"name": "gd", "hyper": {"lr": 0.05}}, {"name": "momentum", "hyper": {"lr": 0.002}}]
    r = client.post(
        "/api/run",
        json={
            "landscape": {"name": "double_well"},
            "optimizers": opts,
            "starts": starts,
            "steps": 300,
        },
    )
    assert r.status_code == 200, r.text
    runs = r.json()["runs"]
    L = get_landscape("double_well")
    for o, got in zip(opts, runs, strict=True):
        tr = run(L, o["name"], starts, 300, progress=False, **o["hyper"])
        want = [d.to_dict() for d in diagnose(tr, L)]
        assert [g["kind"] for g in got["outcomes"]] == [w["kind"] for w in want]
        assert [g["text"] for g in got["outcomes"]] == [w["text"] for w in want]
        np.testing.assert_allclose(got["final_points"], tr.final_points, rtol=0, atol=0)
    # gd from exactly the saddle's stable line converges to the saddle (index 1)
    sad = runs[0]["outcomes"][0]
    assert sad["kind"] == "saddle" and sad["index"] == 1 and sad["critical_point"] == [0.0, 0.0]
    assert runs[0]["outcomes"][1]["kind"] == "global_minimum"
    assert runs[0]["outcomes"][1]["critical_point"] == [1.0, 0.0]
    # the words come straight from the diagnosis
    assert "saddle (0, 0)" in sad["text"]


def test_run_on_formula_is_diagnosed_against_the_drawn_points(client):
    r = client.post(
        "/api/run",
        json={
            "landscape": {"formula": QUARTIC, "domain": [-2, 2, -2, 2]},
            "optimizers": [{"name": "gd", "hyper": {"lr": 0.05}}],
            "starts": [[0.0, 1.0], [-0.3, 0.4]],
            "steps": 1000,
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()["runs"][0]["outcomes"]
    assert [o["kind"] for o in out] == ["saddle", "global_minimum"]
    np.testing.assert_allclose(out[0]["critical_point"], [0, 0], atol=1e-9)
    np.testing.assert_allclose(out[1]["critical_point"], [-1, 0], atol=1e-9)


def test_frames_subsample_the_same_iterates(client):
    full = _run(client, steps=200, frames=600).json()["runs"][0]
    sub = _run(client, steps=200, frames=20).json()["runs"][0]
    steps = sub["record_steps"]
    assert steps == list(range(0, 201, 10))
    np.testing.assert_array_equal(np.array(sub["positions"]), np.array(full["positions"])[steps])
    assert len(_run(client, steps=5000).json()["runs"][0]["record_steps"]) <= 602


def test_diverged_run_is_reported_with_nulls_not_nan(client):
    r = _run(client, optimizers=[{"name": "gd", "hyper": {"lr": 5.0}}], steps=400)
    assert r.status_code == 200
    run = r.json()["runs"][0]
    assert run["stop_reason"] == ["diverged"] and run["outcomes"][0]["kind"] == "diverged"
    assert "NaN" not in r.text and "Infinity" not in r.text


def test_same_optimizer_twice_gets_distinct_labels_and_colours(client):
    r = _run(
        client,
        optimizers=[{"name": "gd", "hyper": {"lr": 0.01}}, {"name": "gd", "hyper": {"lr": 0.01}}],
    )
    runs = r.json()["runs"]
    assert runs[0]["label"] != runs[1]["label"]
    assert runs[0]["color"] != runs[1]["color"]


@pytest.mark.parametrize(
    "kw, field, needle",
    [
        ({"optimizers": [{"name": "sgdd"}]}, "optimizers[0].name", "valid: "),
        (
            {"optimizers": [{"name": "gd", "hyper": {"lr": -1}}]},
            "optimizers[0].hyper.lr",
            "lr must be > 0",
        ),
        ({"optimizers": [{"name": "gd", "hyper": {"nope": 1}}]}, "optimizers[0]", "accepted"),
        ({"optimizers": []}, "optimizers", "at least one"),
        ({"optimizers": [{"name": "gd"}] * 9}, "optimizers", "limit is 8"),
        ({"starts": []}, "starts", "at least one"),
        ({"starts": [[0.1, 0.1]] * 65}, "starts", "limit is 64"),
        ({"starts": [[1e7, 0]]}, "starts", "1e+06"),
        ({"steps": 0}, "steps", "between 1 and 5000"),
        ({"steps": 5001}, "steps", "between 1 and 5000"),
        ({"frames": 1}, "frames", "between 2 and 600"),
        ({"schedule": {"name": "nope"}}, "schedule.name", "valid: "),
        (
            {"schedule": {"name": "one_cycle", "params": {"max_lr": 0.1, "total_steps": 10}}},
            "schedule.params.total_steps",
            "shorter than the run's 50 steps",
        ),
    ],
)
def test_run_error_paths(client, kw, field, needle):
    body = _err(_run(client, **kw), 400)
    assert needle in body["error"], body
    assert body.get("field") == field


def test_run_shape_errors_are_422(client):
    body = _err(_run(client, starts=[[1.0, 2.0, 3.0]]), 422)
    assert body["field"].startswith("starts")
    body = _err(_run(client, steps="many"), 422)
    assert body["field"] == "steps"
    body = _err(_run(client, optimizers=[{"hyper": {}}]), 422)
    assert body["error"] == "optimizers.0.name: required"


def test_non_finite_start_is_refused(client):
    raw = (
        b'{"landscape": {"name": "booth"}, "optimizers": [{"name": "gd"}], '
        b'"starts": [[NaN, 0]], "steps": 5}'
    )
    r = client.post("/api/run", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.json()["error"]


# ---------------------------------------------------------------------------- basin map
def test_basin_codes_equal_the_diagnosis_of_the_grid(client):
    from descentlab.analysis.diagnose import diagnose
    from descentlab.engine import run

    r = client.post(
        "/api/basin",
        json={
            "landscape": {"name": "tilted_double_well"},
            "optimizers": [{"name": "gd", "hyper": {"lr": 0.02}}],
            "n": 12,
            "steps": 1500,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    L = get_landscape("tilted_double_well")
    np.testing.assert_allclose(body["x"], np.linspace(-2, 2, 12))
    np.testing.assert_allclose(body["y"], np.linspace(-1, 3, 12))
    Y, X = np.meshgrid(body["y"], body["x"], indexing="ij")
    starts = np.stack([X.ravel(), Y.ravel()], 1)
    tr = run(L, "gd", starts, 1500, lr=0.02, record_every=1500, progress=False)
    kinds = [o.kind for o in diagnose(tr, L)]
    m = body["maps"][0]
    by_code = {e["code"]: e for e in m["legend"]}
    got = [by_code[c]["kind"] for row in m["codes"] for c in row]
    assert got == kinds
    assert sum(e["count"] for e in m["legend"]) == 144
    assert m["global_fraction"] == pytest.approx(kinds.count("global_minimum") / 144)
    # the two minima get their own codes, labelled with their points
    labels = {e["label"] for e in m["legend"]}
    assert "global min (-1.057, 1.118)" in labels and "local min (0.9304, 0.8656)" in labels


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"n": 4}, "between 5 and 150"),
        ({"n": 151}, "between 5 and 150"),
        ({"n": 150, "steps": 5000}, "basin-map bound"),
        ({"steps": 0}, "between 1 and 5000"),
        ({"optimizers": []}, "at least one"),
    ],
)
def test_basin_error_paths(client, kw, needle):
    body = {
        "landscape": {"name": "tilted_double_well"},
        "optimizers": [{"name": "gd"}],
        "n": 10,
        "steps": 10,
    }
    body.update(kw)
    assert needle in _err(client.post("/api/basin", json=body), 400)["error"]


def test_meta_lists_optimizers_schedules_and_limits(client):
    from descentlab.optim import optimizer_names

    meta = client.get("/api/meta").json()
    assert [o["name"] for o in meta["optimizers"]] == optimizer_names()
    gd = next(o for o in meta["optimizers"] if o["name"] == "gd")
    assert gd["defaults"]["lr"] == 0.01
    assert meta["limits"]["max_starts"] == 64 and meta["limits"]["max_steps"] == 5000
    assert meta["style"]["kinds"]["saddle"]["color"].startswith("#")
    assert isinstance(meta["schedules"], list)


def test_run_with_cosine_schedule_equals_the_closed_form(client):
    T = 30
    r = _run(
        client,
        optimizers=[{"name": "gd", "hyper": {"lr": 0.04}}],
        schedule={"name": "cosine", "params": {"T_max": T}},
        steps=T,
    )
    assert r.status_code == 200, r.text
    assert r.json()["schedule"] == {"name": "cosine", "params": {"T_max": T}}
    P = np.array(r.json()["runs"][0]["positions"])[:, 0, :]
    # lr_k = 0.04 (1 + cos(pi k / T)) / 2 (CosineAnnealingLR, eta_min = 0)
    x, y, want = 1.0, 1.0, [(1.0, 1.0)]
    for k in range(T):
        lr = 0.04 * (1 + math.cos(math.pi * k / T)) / 2
        x, y = x - lr * 2 * x, y - lr * 20 * y
        want.append((x, y))
    np.testing.assert_allclose(P, np.array(want), rtol=1e-12)
    lrs = r.json()["runs"][0]["lr"]
    np.testing.assert_allclose(
        lrs[:T], [0.04 * (1 + math.cos(math.pi * k / T)) / 2 for k in range(T)], rtol=1e-12
    )


def test_bad_schedule_parameter_names_it(client):
    body = _err(
        _run(client, schedule={"name": "exponential", "params": {"gamma": -1}}),
        400,
    )
    assert "gamma" in body["error"] and body["field"] == "schedule"


def _steps_near_saddle(x0: float, lr: float, momentum: float, steps: int, radius: float) -> int:
    """Iterates of heavy-ball GD on (x^2 - 1)^2 (y = 0) within ``radius`` of the saddle x = 0."""
    x, buf, near = x0, None, int(abs(x0) < radius)
    for _ in range(steps):
        g = 4 * x**3 - 4 * x
        buf = g if buf is None else momentum * buf + g  # torch.optim.SGD's buffer
        x -= lr * (buf if momentum else g)
        near += abs(x) < radius
    return near


def test_stall_at_the_saddle_is_told_in_words_with_the_right_count(client):
    # The done-when of the playground: from a start beside the saddle, gd stalls there much
    # longer than momentum before both escape, and the answer says so in words.
    r = client.post(
        "/api/run",
        json={
            "landscape": {"name": "double_well"},
            "optimizers": [
                {"name": "gd", "hyper": {"lr": 0.01}},
                {"name": "momentum", "hyper": {"lr": 0.01, "momentum": 0.9}},
            ],
            "starts": [[0.001, 0.0]],
            "steps": 600,
        },
    )
    assert r.status_code == 200, r.text
    gd, mom = (run["outcomes"][0] for run in r.json()["runs"])
    radius = 1e-2 * 4.0  # diagnose's default: 1% of the domain's largest width
    want_gd = _steps_near_saddle(0.001, 0.01, 0.0, 600, radius)
    want_mom = _steps_near_saddle(0.001, 0.01, 0.9, 600, radius)
    assert want_gd > 3 * want_mom
    for out, want in ((gd, want_gd), (mom, want_mom)):
        assert out["kind"] == "global_minimum"
        assert out["saddle_visits"] == [
            {"point": [0.0, 0.0], "kind": "saddle", "index": 1, "steps": want}
        ]
        assert out["text"].startswith(
            f"stalled {want} steps at the saddle (0, 0), index 1, then escaped to the global "
            "minimum (1, 0)"
        )


def test_critical_search_past_its_time_bound_is_named_not_fatal():
    client = TestClient(create_app(Limits(critical_seconds=0.001)), raise_server_exceptions=False)
    formula = "sin(5*x)*cos(5*y) + 0.01*x**2"
    r = client.post("/api/surface", json={"landscape": {"formula": formula}, "grid": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["critical_points"] == []
    assert "did not settle within 0.001 s" in body["critical_points_note"]


def test_basin_map_says_when_most_starts_are_still_moving():
    """GD at lr 0.01 on the tilted double well: after 50 steps almost every start is still
    moving (slowest curvature ~0.89, so the error shrinks by at most (1 - 0.0089)^50 ~ 0.64);
    the map says so and how to fix it. After 1500 steps none is, and there is no note."""
    client = TestClient(create_app(Limits()), raise_server_exceptions=False)
    body = {
        "landscape": {"name": "tilted_double_well"},
        "optimizers": [{"name": "gd", "hyper": {"lr": 0.01}}],
        "n": 8,
    }
    short = client.post("/api/basin", json={**body, "steps": 50}).json()["maps"][0]
    moving = sum(e["count"] for e in short["legend"] if e["kind"] == "max_steps")
    assert moving * 4 > 64
    assert "still moving after 50 steps" in short["note"]
    long = client.post("/api/basin", json={**body, "steps": 1500}).json()["maps"][0]
    assert not any(e["kind"] == "max_steps" for e in long["legend"])
    assert long["note"] == ""


def test_an_isolated_degenerate_point_is_still_marked():
    """The monkey saddle's origin is degenerate but isolated: it is marked, with no curve note
    (only a search that reports a continuum hides its degenerate samples)."""
    client = TestClient(create_app(Limits(critical_seconds=10)), raise_server_exceptions=False)
    r = client.post(
        "/api/surface",
        json={"landscape": {"formula": "x**3 - 3*x*y**2", "domain": [-1, 1, -1, 1]}, "grid": 5},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    (cp,) = body["critical_points"]
    assert cp["kind"] == "degenerate"
    np.testing.assert_allclose(cp["point"], [0.0, 0.0], atol=1e-9)  # Newton is linear here
    assert "curve" not in body["critical_points_note"]
