"""Hostile input against the playground's API: random valid and invalid bodies never get a 5xx.

Hypothesis draws bodies for every request model (SurfaceRequest, CriticalRequest, RunRequest,
BasinRequest, PointRequest, the landscape detail path and its grid): well-formed ones with
adversarial values (seeds of 2^70, dimensions of 10^12, NaN, huge and negative counts, unknown
names, schedule lengths shorter than the run) and broken ones (wrong types, missing and extra
keys, raw bytes, invalid UTF-8, deep nesting). Every answer must be 2xx or 4xx with a one-line
``error`` message; a 5xx fails the test. Then every case listed in issue 13 is pinned as a
regression test.

The tally of answers (requests tried, by status class) is printed at the end of the module
(run with ``-s`` to see it).
"""

from __future__ import annotations

import collections
import json
import time

import pytest

pytest.importorskip("fastapi")
hypothesis = pytest.importorskip("hypothesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from descentlab.web.app import create_app  # noqa: E402
from descentlab.web.limits import Limits  # noqa: E402

# Small bounds keep valid requests cheap; the checks under test are the same.
LIMITS = Limits(max_steps=60, max_basin_n=12, max_grid=48, critical_seconds=1.0, max_starts=6)
TALLY: collections.Counter[str] = collections.Counter()
HUGE = [2**70, -(2**70), 10**12, 2**63, 2**63 - 1, -1, 0, 10**400]
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(LIMITS), raise_server_exceptions=False) as c:
        yield c
    print(
        f"\nhostile web requests: {sum(TALLY.values())} tried; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(TALLY.items()))
    )


def _check(r) -> None:
    """2xx, or 4xx with one line naming the problem; never a 5xx."""
    TALLY[f"{r.status_code // 100}xx"] += 1
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body.get("error"), str) and body["error"].strip(), body
        assert "\n" not in body["error"] and "Traceback" not in body["error"]


def _post(client, path: str, body) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
    _check(client.post(path, content=data, headers={"content-type": "application/json"}))


# ---------------------------------------------------------------------------- strategies
NAMES = [
    "himmelblau",
    "double_well",
    "gaussian_wells",
    "random_fourier_field",
    "random_quadratic_saddle",
    "quadratic_bowl",
    "rosenbrock",
    "rastrigin",
    "ill_conditioned_quadratic",
    "nope",
    "",
    "Double-Well",
    "x" * 70,
]
PARAM_KEYS = [
    "dim",
    "seed",
    "n_wells",
    "n_features",
    "index",
    "width",
    "spread",
    "separation",
    "length_scale",
    "confinement",
    "condition",
    "min_eig",
    "max_eig",
    "zz",
]
FORMULAS = [
    "x**2 + y**2",
    "x**4 - 2*x**2 + y**2",
    "sin(x)*cos(y)",
    "x**",
    "__import__('os')",
    "exp(x**9)",
    "log(x) + y",
    "x" * 600,
    "(" * 300 + "x" + ")" * 300,
    "",
    "x1 + x2",
]
OPTIMIZERS = ["gd", "momentum", "adam", "newton", "lbfgs", "perturbed_gd", "noisy_gd", "sgdd"]
HYPER_KEYS = ["lr", "momentum", "betas", "seed", "eps", "weight_decay", "damping", "nope"]
SCHEDULES = ["cosine", "one_cycle", "step", "reduce_on_plateau", "cyclic", "warmup_cosine", "x"]
SCHEDULE_KEYS = ["T_max", "total_steps", "max_lr", "step_size", "gamma", "warmup_steps", "nope"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=12),
    st.sampled_from(HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
# Each strategy leans towards valid values (so that requests reach the compute paths) and
# mixes in hostile ones.
sane = st.floats(min_value=-3, max_value=3)
numbers = st.one_of(
    sane, sane, sane, st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(HUGE)
)
GOOD_NAMES = ["himmelblau", "double_well", "booth", "six_hump_camel", "gaussian_wells"]
landscape_specs = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(GOOD_NAMES)}),
    st.fixed_dictionaries({"formula": st.sampled_from(FORMULAS[:3])}),
    st.fixed_dictionaries(
        {"name": st.sampled_from(NAMES)},
        optional={
            "params": st.dictionaries(
                st.sampled_from(PARAM_KEYS),
                st.one_of(st.integers(-3, 12), st.sampled_from(HUGE), numbers, json_scalars),
                max_size=2,
            ),
            "domain": st.lists(numbers, min_size=3, max_size=5),
        },
    ),
    st.fixed_dictionaries(
        {"formula": st.sampled_from(FORMULAS)},
        optional={"domain": st.lists(numbers, min_size=4, max_size=4), "params": json_values},
    ),
    json_values,
)
optimizer_choices = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(OPTIMIZERS[:4])}),
    st.fixed_dictionaries(
        {"name": st.sampled_from(OPTIMIZERS[:3]), "hyper": st.fixed_dictionaries({"lr": numbers})}
    ),
    st.fixed_dictionaries(
        {"name": st.sampled_from(OPTIMIZERS)},
        optional={
            "hyper": st.dictionaries(
                st.sampled_from(HYPER_KEYS),
                st.one_of(numbers, st.lists(numbers, max_size=3), json_scalars),
                max_size=2,
            ),
            "label": st.one_of(st.text(max_size=70), json_scalars),
        },
    ),
    json_values,
)
schedule_choices = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.fixed_dictionaries(
        {"name": st.sampled_from(SCHEDULES)},
        optional={
            "params": st.dictionaries(
                st.sampled_from(SCHEDULE_KEYS),
                st.one_of(st.integers(-2, 80), st.sampled_from(HUGE), numbers),
                max_size=3,
            )
        },
    ),
    json_values,
)
starts = st.one_of(
    st.lists(st.lists(sane, min_size=2, max_size=2), min_size=1, max_size=3),
    st.lists(st.lists(sane, min_size=2, max_size=2), min_size=1, max_size=3),
    st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=0, max_size=7),
    json_values,
)
RUN = {
    "landscape": {"name": "double_well"},
    "optimizers": [{"name": "gd", "hyper": {"lr": 0.05}}],
    "starts": [[0.5, 0.5]],
    "steps": 20,
}
counts = st.one_of(
    st.integers(5, 40), st.integers(5, 40), st.integers(-3, 70), st.sampled_from(HUGE), json_scalars
)


def _maybe_break(body: dict, data: st.DataObject) -> object:
    """Sometimes drop a key, add an unknown one, or replace the body by another JSON value."""
    how = data.draw(st.sampled_from(["keep"] * 6 + ["drop", "extra", "replace"]))
    if how == "drop" and body:
        body = dict(body)
        body.pop(data.draw(st.sampled_from(sorted(body))))
    elif how == "extra":
        body = {**body, data.draw(st.text(min_size=1, max_size=8)): data.draw(json_values)}
    elif how == "replace":
        return data.draw(json_values)
    return body


# ---------------------------------------------------------------------------- properties
@SETTINGS
@given(data=st.data())
def test_surface_bodies_never_5xx(client, data):
    body = {"landscape": data.draw(landscape_specs), "grid": data.draw(counts)}
    _post(client, "/api/surface", _maybe_break(body, data))


@SETTINGS
@given(data=st.data())
def test_critical_bodies_never_5xx(client, data):
    _post(
        client,
        "/api/critical-points",
        _maybe_break({"landscape": data.draw(landscape_specs)}, data),
    )


@SETTINGS
@given(data=st.data())
def test_run_bodies_never_5xx(client, data):
    body = {
        "landscape": data.draw(landscape_specs),
        "optimizers": data.draw(
            st.one_of(st.lists(optimizer_choices, min_size=1, max_size=3), json_values)
        ),
        "starts": data.draw(starts),
        "steps": data.draw(counts),
        "schedule": data.draw(schedule_choices),
    }
    if data.draw(st.booleans()):
        body["frames"] = data.draw(counts)
    _post(client, "/api/run", _maybe_break(body, data))


@SETTINGS
@given(data=st.data())
def test_basin_bodies_never_5xx(client, data):
    body = {
        "landscape": data.draw(landscape_specs),
        "optimizers": data.draw(
            st.one_of(st.lists(optimizer_choices, min_size=1, max_size=2), json_values)
        ),
        "n": data.draw(counts),
        "steps": data.draw(counts),
        "schedule": data.draw(schedule_choices),
    }
    _post(client, "/api/basin", _maybe_break(body, data))


@SETTINGS
@given(data=st.data())
def test_point_bodies_never_5xx(client, data):
    body = {"landscape": data.draw(landscape_specs), "points": data.draw(starts)}
    _post(client, "/api/point", _maybe_break(body, data))


hostile = st.one_of(st.sampled_from(HUGE), numbers, json_scalars, json_values)


@SETTINGS
@given(data=st.data())
def test_one_hostile_value_in_a_valid_run(client, data):
    """A valid body with one value replaced: the checks deep inside must hold on their own."""
    body = json.loads(json.dumps(RUN))
    body["landscape"] = data.draw(
        st.sampled_from(
            [
                {"name": "gaussian_wells", "params": {"n_wells": 3}},
                {"name": "random_fourier_field", "params": {"n_features": 16}},
                {"name": "random_quadratic_saddle", "params": {"index": 1}},
                {"formula": "x**4 - 2*x**2 + y**2"},
            ]
        )
    )
    body["schedule"] = {"name": "one_cycle", "params": {"max_lr": 0.1}}
    where = data.draw(
        st.sampled_from(
            [
                ("landscape", "params", data.draw(st.sampled_from(PARAM_KEYS))),
                ("optimizers", 0, "hyper", data.draw(st.sampled_from(HYPER_KEYS))),
                ("optimizers", 0, "name"),
                ("schedule", "params", data.draw(st.sampled_from(SCHEDULE_KEYS))),
                ("schedule", "name"),
                ("starts", 0, 0),
                ("steps",),
                ("frames",),
                ("landscape", "domain"),
            ]
        )
    )
    node = body
    for key in where[:-1]:
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
    node[where[-1]] = data.draw(hostile)
    _post(client, "/api/run", body)


@SETTINGS
@given(name=st.one_of(st.sampled_from(NAMES), st.text(max_size=80)), grid=st.text(max_size=25))
def test_landscape_detail_paths_never_5xx(client, name, grid):
    from urllib.parse import quote

    path = "/api/landscapes/" + quote(name, safe="")
    r = client.get(path, params={"grid": grid} if grid else None)
    TALLY[f"{r.status_code // 100}xx"] += 1
    assert r.status_code < 500, (r.status_code, r.text[:300])


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_raw_bytes_never_5xx(client, raw):
    for path in ("/api/surface", "/api/run"):
        _post(client, path, raw)


# ------------------------------------------------------------------ issue 13, case by case
def _err(r, status: int, field: str | None = None) -> dict:
    _check(r)
    assert r.status_code == status, (r.status_code, r.text[:400])
    body = r.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.mark.parametrize(
    ("name", "params", "field", "words"),
    [
        ("gaussian_wells", {"seed": 2**70}, "landscape.params.seed", "64 bits"),
        ("random_quadratic_saddle", {"seed": 2**70}, "landscape.params.seed", "64 bits"),
        ("gaussian_wells", {"seed": 2**63}, "landscape.params.seed", "2^63 - 1"),
        ("quadratic_bowl", {"dim": 10**12}, "landscape.params.dim", "2-D"),
        ("rosenbrock", {"dim": 10**12}, "landscape.params.dim", "2-D"),
        ("random_quadratic_saddle", {"dim": 6000}, "landscape.params.dim", "2-D"),
        ("random_fourier_field", {"n_features": 10**7}, "landscape.params.n_features", "limit"),
        ("random_fourier_field", {"n_features": 10**5}, "landscape.params.n_features", "limit"),
        ("gaussian_wells", {"n_wells": 3000}, "landscape.params.n_wells", "limit n_wells"),
        ("double_well", {"zz": 1}, "landscape.params.zz", "no parameter 'zz'"),
    ],
)
def test_sizes_and_seeds_are_refused_before_any_work(client, name, params, field, words):
    t0 = time.perf_counter()
    body = _err(
        client.post(
            "/api/surface", json={"landscape": {"name": name, "params": params}, "grid": 20}
        ),
        400,
        field,
    )
    assert words in body["error"], body
    assert time.perf_counter() - t0 < 3.0  # refused up front, not after 20 s of compute


def test_one_cycle_shorter_than_the_run_is_a_400_naming_total_steps(client):
    sched = {"name": "one_cycle", "params": {"max_lr": 0.1, "total_steps": 10}}
    body = _err(client.post("/api/run", json={**RUN, "schedule": sched}), 400)
    assert body["field"] == "schedule.params.total_steps" and "20 steps" in body["error"]
    body = _err(
        client.post(
            "/api/basin",
            json={
                **{k: RUN[k] for k in ("landscape", "optimizers")},
                "n": 5,
                "steps": 20,
                "schedule": sched,
            },
        ),
        400,
        "schedule.params.total_steps",
    )
    # the run length is used when total_steps is left out, and a long enough one is fine
    for params in ({"max_lr": 0.1}, {"max_lr": 0.1, "total_steps": 20}):
        r = client.post(
            "/api/run", json={**RUN, "schedule": {"name": "one_cycle", "params": params}}
        )
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"optimizers": [{"name": "sgdd"}]}, "optimizers[0].name"),
        ({"optimizers": [{"name": "gd", "hyper": {"lr": 2**70}}]}, "optimizers[0].hyper.lr"),
        ({"schedule": {"name": "nope"}}, "schedule.name"),
        ({"schedule": {"name": "cosine", "params": {"T_max": 2**70}}}, "schedule.params.T_max"),
        ({"landscape": {"name": "nope"}}, "landscape.name"),
    ],
)
def test_fields_come_from_the_errors_param(client, patch, field):
    _err(client.post("/api/run", json={**RUN, **patch}), 400, field)


def test_invalid_utf8_is_named(client):
    body = _err(
        client.post(
            "/api/run",
            content=b'{"steps": "\xff\xfe"}',
            headers={"content-type": "application/json"},
        ),
        400,
        "body",
    )
    assert "UTF-8" in body["error"] and "nested" not in body["error"]


def test_deep_nesting_is_named(client):
    deep = b"[" * 30_000 + b"]" * 30_000  # under the 64 KiB bound, deeper than json recurses
    r = client.post("/api/run", content=deep, headers={"content-type": "application/json"})
    body = _err(r, 400, "body")
    assert body["error"] == "malformed JSON: nested too deeply to parse"


def test_body_over_the_limit_is_413_and_the_client_sees_it(client):
    big = json.dumps({**RUN, "pad": "x" * (2 * 1024 * 1024)})
    body = _err(
        client.post("/api/run", content=big, headers={"content-type": "application/json"}), 413
    )
    assert "65536 bytes" in body["error"]


def test_meta_shows_the_limits_table(client):
    meta = client.get("/api/meta").json()
    rows = {row["name"]: row for row in meta["size_limits"]}
    assert {"dim", "dense_dim", "n_features", "n_wells", "seed", "steps", "rows"} <= set(rows)
    assert rows["seed"]["value"] == 2**63 - 1
    assert meta["limits"]["queue_seconds"] > 0 and meta["limits"]["body_seconds"] > 0


def test_an_uncaught_exception_is_a_500_with_an_id(monkeypatch, caplog):
    from descentlab.web import service

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "critical", broken)
    with TestClient(create_app(LIMITS), raise_server_exceptions=False) as c:
        with caplog.at_level("ERROR", logger="descentlab.web"):
            r = c.post("/api/critical-points", json={"landscape": {"name": "himmelblau"}})
        assert r.status_code == 500
        body = r.json()
        assert body["id"] in body["error"] and "a bug" not in body["error"]
        assert any(body["id"] in rec.getMessage() for rec in caplog.records)
        assert c.get("/api/landscapes").status_code == 200
