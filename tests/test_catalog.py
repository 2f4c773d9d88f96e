"""The catalogue's ground truth, checked against independent oracles.

For every landscape (and several dimensions of the any-``d`` ones):
* every listed critical point has a vanishing gradient (autograd, float64), its listed value
  equals ``f`` there, and the signs of the Hessian eigenvalues match its kind and index;
* ``landscape.hessian`` equals ``torch.func.hessian`` of the scalar function on random points;
* the global minimum value is below ``f`` at 10^5 uniform samples of the domain, and the listed
  global minima attain it;
* closed-form counts (Styblinski–Tang ``C(d, k) 2^(d-k)`` points of index ``k``; Rastrigin
  ``21^d``; Himmelblau 4/4/1) and, for the stored sets, an independent high-precision re-check
  with mpmath (value and gradient at 50 digits).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from catalogue_names import REQUIRED_LANDSCAPES
from descentlab.errors import InvalidParameterError, UnknownNameError
from descentlab.landscapes import get_landscape, landscape_names
from descentlab.landscapes.catalog import (
    iter_rastrigin_critical_points,
    rastrigin_roots_1d,
    styblinski_tang_roots_1d,
)

# (name, params): every catalogue entry at its defaults plus other dimensions / parameters.
CASES = [(n, {}) for n in REQUIRED_LANDSCAPES] + [
    ("quadratic_bowl", {"dim": 5}),
    ("ill_conditioned_quadratic", {"condition": 1e4}),
    ("rosenbrock", {"dim": 3}),
    ("rosenbrock", {"dim": 4}),
    ("rosenbrock", {"dim": 5}),
    ("rosenbrock", {"dim": 6}),
    ("rosenbrock", {"dim": 7}),
    ("rosenbrock", {"dim": 12}),
    ("rastrigin", {"dim": 1}),
    ("rastrigin", {"dim": 3}),
    ("rastrigin", {"dim": 6}),
    ("ackley", {"dim": 5}),
    ("styblinski_tang", {"dim": 1}),
    ("styblinski_tang", {"dim": 5}),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small batched ops: one thread is faster and does not fight other processes for cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _ids(case):
    name, params = case
    return name + "".join(f"-{k}{v:g}" for k, v in params.items())


@pytest.fixture(scope="module", params=CASES, ids=_ids)
def land(request):
    name, params = request.param
    return get_landscape(name, **params)


def _points(land):
    cps = land.critical_points
    assert cps, f"{land.name}: no critical points listed"
    # Ackley's global minimum is a cone point: no gradient or Hessian exists there
    smooth = [c for c in cps if not c.note.startswith("nonsmooth")]
    if len(smooth) < len(cps):
        assert land.name == "ackley"
    return cps, smooth


def _grad_tol(land, P):
    """Gradient tolerance at the float64-rounded critical points: ``max(1e-8, 1e-12 * scale)``.

    The listed point is the true one rounded to float64 (error ``<= 2^-53 |p|`` per coordinate),
    which moves the gradient by up to ``|H| 2^-53 |p|``, and evaluating the gradient in float64
    adds rounding of order ``2^-53`` times the size of its partial sums, bounded here by
    ``|H| (1 + |p|) + |f|``. ``1e-12`` is ``2^-53`` with a 1e4 margin for the number of terms.
    Only Goldstein–Price (values up to 1155 and Hessian norms up to 3e4 at its critical points)
    gets a tolerance above 1e-8 (about 1e-7); every other landscape is held to 1e-8.
    """
    H = land.hessian(P)
    hnorm = torch.linalg.matrix_norm(H, ord=2)
    scale = hnorm * (1 + P.norm(dim=1)) + land.value(P).abs()
    return torch.clamp(1e-12 * scale, min=1e-8)


def test_required_names_are_registered():
    names = set(landscape_names())
    missing = [n for n in REQUIRED_LANDSCAPES if n not in names]
    assert not missing, missing
    assert len(names) >= 20


def test_gradient_vanishes_at_every_listed_point(land):
    _, smooth = _points(land)
    if not smooth:
        pytest.skip("only a nonsmooth point is listed")
    P = torch.tensor([c.point for c in smooth], dtype=torch.float64)
    g = land.grad(P).norm(dim=1)
    tol = _grad_tol(land, P)
    bad = torch.nonzero(g > tol).flatten().tolist()
    assert not bad, [(smooth[i].point, float(g[i]), float(tol[i])) for i in bad[:5]]


def test_listed_values_match_f(land):
    cps, _ = _points(land)
    P = torch.tensor([c.point for c in cps], dtype=torch.float64)
    v = land.value(P).numpy()
    listed = np.array([c.value for c in cps])
    np.testing.assert_allclose(v, listed, rtol=1e-12, atol=1e-13)


def test_hessian_signs_match_kind_and_index(land):
    _, smooth = _points(land)
    if not smooth:
        pytest.skip("only a nonsmooth point is listed")
    P = torch.tensor([c.point for c in smooth], dtype=torch.float64)
    ev = torch.linalg.eigvalsh(land.hessian(P))
    scale = ev.abs().amax(dim=1, keepdim=True)
    for c, lam, s in zip(smooth, ev, scale, strict=True):
        assert lam.shape == (land.dim,)
        # every stored point's eigenvalues are well away from 0 except the degenerate ones
        neg = int((lam < -1e-9 * s).sum())
        zero = int((lam.abs() <= 1e-9 * s).sum()) if s > 0 else land.dim
        assert neg == c.index, (c, lam)
        if c.kind == "degenerate":
            assert zero > 0, (c, lam)
            continue
        assert zero == 0, (c, lam)
        expected = "minimum" if neg == 0 else ("maximum" if neg == land.dim else "saddle")
        assert c.kind == expected, (c, lam)
        if c.eigenvalues is not None:  # stored high-precision eigenvalues
            np.testing.assert_allclose(sorted(c.eigenvalues), lam.numpy(), rtol=1e-6, atol=1e-9)


def test_hessian_matches_torch_func(land):
    gen = torch.Generator().manual_seed(7)
    box = land.domain_tensor()
    P = box[:, 0] + torch.rand(4, land.dim, dtype=torch.float64, generator=gen) * (
        box[:, 1] - box[:, 0]
    )

    def scalar(p):
        return land.fn(p.unsqueeze(0))[0]

    H = land.hessian(P)
    for i in range(P.shape[0]):
        ref = torch.func.hessian(scalar)(P[i])
        torch.testing.assert_close(H[i], ref, rtol=1e-10, atol=1e-10)


def test_points_lie_in_domain_and_are_distinct(land):
    cps, _ = _points(land)
    P = np.array([c.point for c in cps])
    box = np.array(land.domain)
    assert np.all(P >= box[:, 0]) and np.all(P <= box[:, 1])
    from scipy.spatial import cKDTree

    assert not cKDTree(P).query_pairs(r=1e-6)


def test_global_minimum_is_below_random_samples(land):
    if land.global_min_value is None:
        # unbounded below: the box has points below the only critical value
        assert land.name in ("simple_saddle", "monkey_saddle")
        assert float(land.value(land.sample(1000, seed=3)).min()) < 0
        return
    v = land.value(land.sample(100_000, seed=11))
    assert float(v.min()) >= land.global_min_value - 1e-12 * max(1.0, abs(land.global_min_value))
    gl = land.global_minima
    assert gl, "a landscape with a global minimum value must list a global minimiser"
    for c in gl:
        assert c.kind == "minimum" and c.value == pytest.approx(land.global_min_value, abs=1e-12)
    if land.complete:
        # every listed minimum at the global value is marked global, and nothing lies below it
        for c in land.critical_points:
            assert c.value >= land.global_min_value - 1e-12 * max(1.0, abs(land.global_min_value))
            if c.kind == "minimum" and abs(c.value - land.global_min_value) < 1e-9:
                assert c.is_global


def test_info_is_json_ready(land):
    import json

    info = land.info()
    json.dumps(info, allow_nan=False)
    assert info["name"] == land.name and info["dim"] == land.dim
    assert info["description"] and info["formula"]
    assert sum(info["counts"].values()) == len(land.critical_points)


# ------------------------------------------------------------------------- closed-form counts
@pytest.mark.parametrize("d", [1, 2, 3, 4, 6, 8])
def test_styblinski_tang_counts_are_binomial(d):
    land = get_landscape("styblinski_tang", dim=d)
    cps = land.critical_points
    assert len(cps) == 3**d
    by_index = np.bincount([c.index for c in cps], minlength=d + 1)
    expected = [math.comb(d, k) * 2 ** (d - k) for k in range(d + 1)]
    assert by_index.tolist() == expected
    assert land.count_kinds() == {
        "minimum": 2**d,
        "maximum": 1,
        "saddle": 3**d - 2**d - 1,
        "degenerate": 0,
    }
    assert len(land.global_minima) == 1
    if d == 8:  # spot-check a sample with the Hessian
        sample = cps[:: 3**d // 50]
        P = torch.tensor([c.point for c in sample], dtype=torch.float64)
        assert land.grad(P).norm(dim=1).max() < 1e-8
        neg = (torch.linalg.eigvalsh(land.hessian(P)) < 0).sum(1)
        assert neg.tolist() == [c.index for c in sample]


def test_styblinski_tang_roots_and_global_value_against_mpmath():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    ref = sorted(mp.polyroots([4, 0, -32, 5], maxsteps=200, extraprec=200))
    for r, x in zip(ref, styblinski_tang_roots_1d(), strict=True):
        assert abs(float(r) - x) <= 2 * math.ulp(x)
    lo = ref[0]
    per_coord = (lo**4 - 16 * lo**2 + 5 * lo) / 2
    assert float(per_coord) == pytest.approx(-39.16616570377142, rel=1e-15)
    land = get_landscape("styblinski_tang", dim=7)
    assert land.global_min_value == pytest.approx(7 * float(per_coord), rel=1e-15)


def test_styblinski_tang_large_dim_is_lazy_and_refuses_to_list():
    land = get_landscape("styblinski_tang", dim=40)  # builds instantly
    assert land.complete
    with pytest.raises(InvalidParameterError, match="iter_styblinski_tang_critical_points"):
        land.critical_points  # noqa: B018


def test_rastrigin_1d_roots_are_every_zero_in_the_box():
    roots = rastrigin_roots_1d()
    assert len(roots) == 21
    assert sum(is_min for _, is_min in roots) == 11
    # independent oracle: sign changes of g on a fine grid (spacing far below the root gaps)
    x = np.linspace(-5.12, 5.12, 2_000_000)  # 0 is not a grid point
    g = 2 * x + 20 * np.pi * np.sin(2 * np.pi * x)
    changes = x[:-1][np.sign(g[:-1]) != np.sign(g[1:])]
    assert len(changes) == 21
    np.testing.assert_allclose(changes, [r for r, _ in roots], atol=1e-5)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_rastrigin_is_the_product_of_1d_roots(d):
    land = get_landscape("rastrigin", dim=d)
    assert land.complete and len(land.critical_points) == 21**d
    assert land.count_kinds()["minimum"] == 11**d
    assert land.count_kinds()["maximum"] == 10**d


def test_rastrigin_large_dim_lists_only_the_global_minimum():
    land = get_landscape("rastrigin", dim=6)
    assert not land.complete and len(land.critical_points) == 1
    assert next(iter(iter_rastrigin_critical_points(6))).dim == 6


def test_known_counts():
    expected = {
        "double_well": (2, 1, 0, 0),
        "simple_saddle": (0, 1, 0, 0),
        "monkey_saddle": (0, 0, 0, 1),
        "three_hump_camel": (3, 2, 0, 0),
        "mccormick": (2, 1, 0, 0),
        "easom": (5, 4, 4, 0),
        "tilted_double_well": (2, 1, 0, 0),
        "nonconvex_curve": (2, 0, 1, 0),
    }
    for name, (mins, saddles, maxs, degen) in expected.items():
        c = get_landscape(name).count_kinds()
        assert (c["minimum"], c["saddle"], c["maximum"], c["degenerate"]) == (
            mins,
            saddles,
            maxs,
            degen,
        ), name


def test_demo_landscapes_have_the_promised_shape():
    tdw = get_landscape("tilted_double_well")
    assert tdw.dim == 2 and tdw.complete
    assert len(tdw.global_minima) == 1
    mins = [c for c in tdw.critical_points if c.kind == "minimum"]
    assert len(mins) == 2 and len([c for c in mins if not c.is_global]) == 1
    curve = get_landscape("nonconvex_curve")
    assert curve.dim == 1 and [c.kind for c in curve.critical_points] == [
        "minimum",
        "maximum",
        "minimum",
    ]
    assert [c.is_global for c in curve.critical_points] == [True, False, False]


def test_plateau_gradient_is_tiny_but_nonzero_far_away():
    land = get_landscape("plateau")
    P = torch.tensor([[2.0, 0.0], [3.0, 3.0], [0.0, -2.5]], dtype=torch.float64)
    g = land.grad(P).norm(dim=1)
    # closed form: |grad| = 2 k r sigma'(k (r^2 - 1)), sigma' = s (1 - s)
    r2 = (P * P).sum(1)
    s = torch.sigmoid(-4.0 * (r2 - 1.0))
    ref = 8.0 * r2.sqrt() * s * (1 - s)
    torch.testing.assert_close(g, ref, rtol=1e-12, atol=0)
    assert 0 < float(g.min()) < 1e-12 and float(g.max()) < 1e-3


def test_bad_parameters_are_clear_errors():
    with pytest.raises(UnknownNameError, match="rosenbrock"):
        get_landscape("himmelbau")
    with pytest.raises(InvalidParameterError, match="dim"):
        get_landscape("rosenbrock", dim=1)
    with pytest.raises(InvalidParameterError, match="dim"):
        get_landscape("rastrigin", dim=2.5)
    with pytest.raises(InvalidParameterError, match="condition"):
        get_landscape("ill_conditioned_quadratic", condition=0.5)
    with pytest.raises(InvalidParameterError, match="condition"):
        get_landscape("ill_conditioned_quadratic", condition=float("nan"))


# ------------------------------------------------------------------------- stored (certified) sets
# Independent transcriptions of the formulas (from the original papers), used only as oracles.
_SYMPY_FORMULAS = {
    "himmelblau": "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
    "six_hump_camel": "(4 - 21*x**2/10 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2",
    "beale": "(3/2 - x + x*y)**2 + (9/4 - x + x*y**2)**2 + (21/8 - x + x*y**3)**2",
    "goldstein_price": "(1 + (x + y + 1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
    "*(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))",
}


def _sympy_rosenbrock(d):
    sp = pytest.importorskip("sympy")
    xs = sp.symbols(f"x1:{d + 1}")
    return xs, sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(d - 1))


def _stored_cases():
    return (
        [(n, {}) for n in _SYMPY_FORMULAS]
        + [("levi13", {})]
        + [("rosenbrock", {"dim": d}) for d in (3, 4, 5, 6, 7)]
    )


@pytest.mark.parametrize("case", _stored_cases(), ids=_ids)
def test_stored_points_are_roundings_of_true_roots(case):
    """Newton at 50 digits from each stored point converges to a root that rounds to it."""
    name, params = case
    sp = pytest.importorskip("sympy")
    mp = pytest.importorskip("mpmath")
    land = get_landscape(name, **params)
    cps = land.critical_points
    if name == "rosenbrock":
        if not land.complete:
            pytest.skip(f"rosenbrock dim={params['dim']} is not stored")
        xs, expr = _sympy_rosenbrock(params["dim"])
    elif name == "levi13":
        xs = sp.symbols("x y")
        x, y = xs
        expr = (
            sp.sin(3 * sp.pi * x) ** 2
            + (x - 1) ** 2 * (1 + sp.sin(3 * sp.pi * y) ** 2)
            + (y - 1) ** 2 * (1 + sp.sin(2 * sp.pi * y) ** 2)
        )
        cps = cps[::37]  # a spread-out sample of the 3653 (the float64 checks cover them all)
    else:
        xs = sp.symbols("x y")
        expr = sp.sympify(_SYMPY_FORMULAS[name], rational=True)
    grad = [sp.diff(expr, v) for v in xs]
    g = sp.lambdify(xs, grad, "mpmath")
    h = sp.lambdify(xs, sp.hessian(expr, xs), "mpmath")
    f = sp.lambdify(xs, expr, "mpmath")
    with mp.workdps(50):
        for c in cps:
            p = mp.matrix([mp.mpf(v) for v in c.point])
            for _ in range(6):
                p = p - mp.lu_solve(mp.matrix(h(*p)), mp.matrix(g(*p)))
            assert mp.norm(mp.matrix(g(*p))) < mp.mpf(10) ** -40, c
            for true, stored in zip(p, c.point, strict=True):
                assert abs(float(true) - stored) <= math.ulp(stored), (c, true)
            assert float(f(*p)) == pytest.approx(c.value, rel=1e-15, abs=1e-30)
            ev = mp.eigsy(mp.matrix(h(*p)), eigvals_only=True)
            assert sum(1 for e in ev if e < 0) == c.index
            assert min(abs(e) for e in ev) > 1e-3  # non-degenerate, far from rounding


def test_goldstein_price_critical_points_are_exact_rationals():
    sp = pytest.importorskip("sympy")
    x, y = sp.symbols("x y")
    expr = sp.sympify(_SYMPY_FORMULAS["goldstein_price"])
    gx, gy = sp.diff(expr, x), sp.diff(expr, y)
    for c in get_landscape("goldstein_price").critical_points:
        sub = {
            x: sp.Rational(round(c.point[0] * 10), 10),
            y: sp.Rational(round(c.point[1] * 10), 10),
        }
        assert gx.subs(sub) == 0 and gy.subs(sub) == 0
        assert float(expr.subs(sub)) == c.value


def test_stored_sets_regenerate_with_the_certification_script():
    """Rerun the certified computation (fast cases) and compare with the stored file exactly."""
    pytest.importorskip("sympy")
    pytest.importorskip("mpmath")
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "certify_critical_points", root / "tools" / "certify_critical_points.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    names = [
        "himmelblau",
        "six_hump_camel",
        "beale",
        "goldstein_price",
        "rosenbrock_3",
        "rosenbrock_4",
    ]
    stored = json.loads(tool.OUT.read_text())["landscapes"]
    fresh = tool.compute(names)
    for n in names:
        assert fresh[n] == stored[n], n


@pytest.mark.slow
def test_levi13_set_regenerates_with_the_certification_script():
    """The exhaustive interval subdivision of [-10, 10]^2 (about 25 s) reproduces the stored set."""
    pytest.importorskip("sympy")
    pytest.importorskip("mpmath")
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "certify_critical_points", root / "tools" / "certify_critical_points.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    stored = json.loads(tool.OUT.read_text())["landscapes"]
    assert tool.compute(["levi13"])["levi13"] == stored["levi13"]


def test_morse_counts_of_coercive_surfaces():
    """Poincaré–Hopf check on the complete sets: #min - #saddle + #max = 1 when f grows outward
    on the box boundary (gradient pointing out), a count that a missing point would break."""
    for name in ("himmelblau", "six_hump_camel", "goldstein_price", "levi13", "three_hump_camel"):
        land = get_landscape(name)
        c = land.count_kinds()
        assert c["minimum"] - c["saddle"] + c["maximum"] == 1, (name, c)


def test_docstring_examples_run():
    import doctest

    import descentlab.landscapes.catalog as catalog

    result = doctest.testmod(catalog, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 20 and result.failed == 0


SMALL_COMPLETE = [
    "quadratic_bowl",
    "ill_conditioned_quadratic",
    "simple_saddle",
    "monkey_saddle",
    "double_well",
    "rosenbrock",
    "himmelblau",
    "beale",
    "booth",
    "matyas",
    "goldstein_price",
    "six_hump_camel",
    "three_hump_camel",
    "styblinski_tang",
    "easom",
    "mccormick",
    "plateau",
    "tilted_double_well",
    "nonconvex_curve",
]


@pytest.mark.parametrize("name", SMALL_COMPLETE)
def test_newton_from_a_dense_grid_finds_nothing_unlisted(name):
    """Independent completeness check: plain Newton on the gradient from a 50 x 50 grid of starts.

    Every start that converges (gradient ~0 and the last step below 1e-10) inside the domain must
    land on a listed point.
    """
    land = get_landscape(name)
    box = land.domain_tensor()
    n = 50 if land.dim == 2 else 400
    ticks = [torch.linspace(float(lo), float(hi), n, dtype=torch.float64) for lo, hi in box]
    P = torch.stack([t.reshape(-1) for t in torch.meshgrid(*ticks, indexing="ij")], 1)
    step = torch.full((P.shape[0],), float("inf"), dtype=torch.float64)
    for _ in range(50):
        g, H = land.grad(P), land.hessian(P)
        if land.dim == 1:
            delta = g / H[:, 0]
        else:  # explicit 2 x 2 solve
            a, b, c, d = H[:, 0, 0], H[:, 0, 1], H[:, 1, 0], H[:, 1, 1]
            det = a * d - b * c
            delta = torch.stack([d * g[:, 0] - b * g[:, 1], a * g[:, 1] - c * g[:, 0]], 1)
            delta = delta / det.unsqueeze(1)
        delta = torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0).clamp(-1e3, 1e3)
        # rows that left the domain are frozen (they cannot count, and far out Easom's values
        # become subnormal floats, which are very slow)
        out = ((P < box[:, 0] - 1) | (P > box[:, 1] + 1)).any(1)
        delta[out] = 0.0
        P = P - delta
        step = delta.norm(dim=1)
    g = land.grad(P).norm(dim=1)
    scale = 1.0 + land.value(P).abs()
    inside = ((P >= box[:, 0]) & (P <= box[:, 1])).all(1)
    converged = inside & (g <= 1e-8 * scale) & (step <= 1e-10)
    listed = torch.tensor([c.point for c in land.critical_points], dtype=torch.float64)
    found = P[converged]
    assert found.shape[0] > 0
    dist = torch.cdist(found, listed).min(1).values
    missing = found[dist > 1e-6]
    assert missing.shape[0] == 0, missing[:5].tolist()


def test_styblinski_tang_too_many_points_is_a_clear_error_in_any_dimension():
    from descentlab.landscapes.catalog import styblinski_tang

    with pytest.raises(InvalidParameterError, match=r"has 3\^20 = 3486784401 critical points"):
        styblinski_tang(dim=20).critical_points  # noqa: B018
    with pytest.raises(InvalidParameterError, match=r"has 3\^10000 critical points, too many"):
        styblinski_tang(dim=10_000).critical_points  # noqa: B018 (4772 digits: str() refuses)


def test_catalogue_summaries_are_complete_sentences():
    import inspect

    from descentlab.landscapes import list_landscapes

    for entry in list_landscapes():
        s = entry.summary
        assert s.endswith("."), (entry.name, s)
        assert "\n" not in s and "  " not in s, (entry.name, s)
        # the whole first paragraph of the docstring, not its first line
        para = inspect.getdoc(entry.factory).split("\n\n")[0]
        assert s == " ".join(para.split()), entry.name
    by_name = {e.name: e.summary for e in list_landscapes()}
    assert by_name["tilted_double_well"].endswith("along a curved valley ``y = x^2``.")
