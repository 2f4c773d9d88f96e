"""The critical-point finder against exact oracles.

Oracles: the catalogue's certified critical-point sets (every landscape whose set is complete),
closed forms (Styblinski–Tang's cubic, sin x cos y, the monkey saddle), full Hessians from
``torch.func.hessian`` and gradients from ``torch.func.grad`` at float64.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest
import torch

from catalogue_names import REQUIRED_LANDSCAPES
from descentlab.analysis import CriticalPointSet, find_critical_points, refine_critical_points
from descentlab.analysis.critical import _derivatives
from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.landscapes import CriticalPoint, Landscape, get_landscape, landscape_names
from descentlab.linalg import eigh as _eigh_small
from descentlab.linalg import hessian_from_grad as _hessian_rows

torch.set_num_threads(1)


TOL = 1e-6


def _match(found: CriticalPointSet, known: list[CriticalPoint]) -> None:
    """Same points (to TOL, one to one), same kinds, indices and global flags."""
    F = found.array()
    K = np.asarray([c.point for c in known], dtype=float).reshape(len(known), found.dim)
    assert len(found) == len(known), (
        f"found {len(found)} points, {len(known)} known; found kinds {found.counts()}"
    )
    used: set[int] = set()
    for c in known:
        dist = np.abs(F - np.asarray(c.point)).max(1)
        j = int(np.argmin(dist))
        assert dist[j] <= TOL, f"known {c.kind} at {c.point} not found (nearest {dist[j]:.2e})"
        assert j not in used
        used.add(j)
        f = found[j]
        assert (f.kind, f.index, f.is_global) == (c.kind, c.index, c.is_global), (c.point, f)
        assert math.isclose(f.value, c.value, rel_tol=1e-9, abs_tol=1e-9)
    assert np.abs(F[:, None, :] - K[None, :, :]).max(-1).min(1).max() <= TOL


# --------------------------------------------------------------------------- the catalogue
def test_catalogue_is_all_there():
    """The parametrised test below must run on the whole catalogue, not a part of it."""
    missing = set(REQUIRED_LANDSCAPES) - set(landscape_names())
    assert not missing, f"catalogue landscapes not registered: {sorted(missing)}"
    complete = [n for n in landscape_names() if get_landscape(n).complete]
    assert len(complete) >= 18


def _catalogue_params():
    # Lévi N.13 has 3653 points in small basins: ~130k starts, several seconds
    return [
        pytest.param(n, marks=pytest.mark.slow) if n == "levi13" else n for n in landscape_names()
    ]


@pytest.mark.parametrize("name", _catalogue_params())
def test_finder_recovers_the_known_set(name):
    L = get_landscape(name)
    if not L.complete:
        pytest.skip(f"{name}: the known set of critical points is not complete")
    found = find_critical_points(L)
    _match(found, L.critical_points)
    assert found.counts() == L.count_kinds()


@pytest.mark.parametrize("dim", [3, 4, 5, 6])
def test_rosenbrock_in_higher_dimensions(dim):
    """The certified sets: one minimum for d = 3; from d = 4 a second local minimum near
    (-1, 1, ..., 1) and a saddle."""
    L = get_landscape("rosenbrock", dim=dim)
    assert L.complete
    found = find_critical_points(L)
    _match(found, L.critical_points)


def test_styblinski_tang_d3_closed_form():
    """3^3 = 27 points: each coordinate at one of the 3 roots of 4x^3 - 32x + 5 = 0; index =
    number of coordinates at the middle root, so index counts C(3,k) 2^(3-k) = 8, 12, 6, 1."""
    L = get_landscape("styblinski_tang", dim=3)
    roots = np.sort(np.roots([4.0, 0.0, -32.0, 5.0]).real)
    found = find_critical_points(L)
    assert len(found) == 27
    assert found.index_counts() == {0: 8, 1: 12, 2: 6, 3: 1}
    assert found.counts() == {"minimum": 8, "maximum": 1, "saddle": 18, "degenerate": 0}
    for combo in itertools.product(range(3), repeat=3):
        p = roots[list(combo)]
        c, dist = found.nearest(p)
        assert dist <= 1e-12
        k = sum(1 for j in combo if j == 1)
        assert c.index == k
        assert math.isclose(c.value, 0.5 * float(np.sum(p**4 - 16 * p**2 + 5 * p)), rel_tol=1e-13)
    # the global minima: every coordinate at the lowest root
    assert [c.point for c in found.global_minima] == [pytest.approx((roots[0],) * 3, abs=1e-12)]


# --------------------------------------------------------------------------- closed forms
def _sincos(P):
    return torch.sin(P[:, 0]) * torch.cos(P[:, 1])


def test_sin_cos_exact_points_and_kinds():
    L = Landscape(_sincos, 2, domain=(-3, 3))
    found = find_critical_points(L)
    h = math.pi / 2
    expected = {
        (-h, 0.0): ("minimum", 0, True, -1.0),
        (0.0, h): ("saddle", 1, False, 0.0),
        (0.0, -h): ("saddle", 1, False, 0.0),
        (h, 0.0): ("maximum", 2, False, 1.0),
    }
    assert len(found) == 4
    for p, (kind, index, is_global, value) in expected.items():
        c, dist = found.nearest(p)
        assert dist <= 1e-14
        assert (c.kind, c.index, c.is_global) == (kind, index, is_global)
        assert c.value == pytest.approx(value, abs=1e-15)


def test_monkey_saddle_is_degenerate():
    L = Landscape(lambda P: P[:, 0] ** 3 - 3 * P[:, 0] * P[:, 1] ** 2, 2, domain=(-1, 1))
    found = find_critical_points(L)
    assert len(found) == 1
    c = found[0]
    assert c.kind == "degenerate" and not c.is_global
    assert max(abs(x) for x in c.point) <= 1e-9  # linear convergence, still pushed far
    assert found.global_minima == []


def test_quartic_degenerate_minimum():
    """f = x^4 + y^2: Hessian diag(0, 2) at the origin; Newton converges only linearly in x."""
    L = Landscape(lambda P: P[:, 0] ** 4 + P[:, 1] ** 2, 2, domain=(-1, 1))
    found = find_critical_points(L)
    assert len(found) == 1
    assert found[0].kind == "degenerate" and found[0].index == 0
    assert max(abs(x) for x in found[0].point) <= 1e-6


def test_wide_dynamic_range_does_not_make_points_degenerate():
    """exp(x^2) on [-5, 5]: Hessian 2 at the minimum, ~1e13 at the edges."""
    L = Landscape.from_formula("exp(x**2) + y**2", domain=(-5, 5))
    found = find_critical_points(L)
    assert [(c.kind, c.index, c.is_global) for c in found] == [("minimum", 0, True)]
    assert found[0].eigenvalues == pytest.approx((2.0, 2.0), rel=1e-14)
    assert found.notes == ()


def test_formula_landscape():
    L = Landscape.from_formula("x**4 - 2*x**2 + y**2", domain=(-2, 2, -2, 2))
    found = find_critical_points(L)
    assert [(c.kind, c.index, c.is_global) for c in found] == [
        ("minimum", 0, True),
        ("minimum", 0, True),
        ("saddle", 1, False),
    ]
    assert sorted(round(c.point[0], 12) + 0.0 for c in found) == [-1.0, 0.0, 1.0]
    assert all(abs(c.point[1]) <= 1e-14 for c in found)
    assert [c.value for c in found] == pytest.approx([-1.0, -1.0, 0.0], abs=1e-15)


def test_formula_three_dimensions():
    L = Landscape.from_formula("x**2 - y**2 + z**3 - 3*z", domain=(-3, 3))
    found = find_critical_points(L)
    got = sorted((tuple(round(v, 10) + 0.0 for v in c.point), c.kind, c.index) for c in found)
    assert got == [((0.0, 0.0, -1.0), "saddle", 2), ((0.0, 0.0, 1.0), "saddle", 1)]


# --------------------------------------------------------------------------- independent checks
@pytest.mark.parametrize("name", ["himmelblau", "six_hump_camel", "goldstein_price", "rastrigin"])
def test_found_points_against_torch_func(name):
    """Gradient ~0 and Hessian eigenvalues (torch.func, float64) agree with the classification:
    a saddle found is a saddle."""
    L = get_landscape(name)
    found = find_critical_points(L)

    def scalar(x):
        return L.fn(x.unsqueeze(0))[0]

    hess = torch.func.hessian(scalar)
    grad = torch.func.grad(scalar)
    gscale = float(L.grad(L.sample(256)).norm(dim=1).median())
    for c in found[:: max(1, len(found) // 40)]:  # at most ~40 points per landscape
        x = torch.tensor(c.point, dtype=torch.float64)
        assert float(grad(x).norm()) <= 1e-10 * gscale
        lam = torch.linalg.eigvalsh(hess(x)).numpy()
        np.testing.assert_allclose(np.sort(c.eigenvalues), lam, rtol=1e-9, atol=1e-9)
        neg, pos = int((lam < 0).sum()), int((lam > 0).sum())
        assert neg == c.index
        if c.kind == "saddle":
            assert neg > 0 and pos > 0
        elif c.kind == "minimum":
            assert neg == 0
        elif c.kind == "maximum":
            assert pos == 0


def test_fused_derivatives_equal_the_landscape_methods():
    L = get_landscape("goldstein_price")
    X = L.sample(64, seed=3)
    v, g, H = _derivatives(L, X)
    torch.testing.assert_close(v, L.value(X), rtol=1e-14, atol=0)
    torch.testing.assert_close(g, L.grad(X), rtol=1e-13, atol=1e-9)
    torch.testing.assert_close(H, L.hessian(X), rtol=1e-12, atol=1e-8)
    Hf = torch.stack([torch.func.hessian(lambda x: L.fn(x.unsqueeze(0))[0])(x) for x in X[:8]])
    torch.testing.assert_close(H[:8], Hf, rtol=1e-12, atol=1e-8)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_small_eigh_equals_lapack(d):
    """The closed-form 1x1/2x2 eigen-decomposition against torch.linalg.eigh."""
    g = torch.Generator().manual_seed(d)
    A = torch.randn(500, d, d, generator=g, dtype=torch.float64) * 10 ** torch.randint(
        -6, 6, (500, 1, 1), generator=g
    )
    H = A + A.transpose(1, 2)
    special = [torch.zeros(d, d), torch.eye(d), torch.diag(torch.arange(1.0, d + 1)), -torch.eye(d)]
    H = torch.cat([H, torch.stack(special).to(torch.float64)])
    lam, Q = _eigh_small(H)
    ref = torch.linalg.eigvalsh(H)
    scale = H.abs().flatten(1).amax(1, keepdim=True).clamp_min(1e-300)
    assert ((lam.sort(1).values - ref).abs() / scale).max() <= 1e-14
    eye = torch.eye(d, dtype=torch.float64)
    assert (Q.transpose(1, 2) @ Q - eye).abs().max() <= 1e-14
    recon = Q @ torch.diag_embed(lam) @ Q.transpose(1, 2)
    assert ((recon - H).abs().flatten(1).amax(1, keepdim=True) / scale).max() <= 1e-14


@pytest.mark.parametrize("dim", [2, 5])
def test_hessian_rows_equal_torch_func(dim):
    L = get_landscape("rosenbrock", dim=dim)
    X = L.sample(20, seed=2).requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(L.fn(X).sum(), X, create_graph=True)
        H = _hessian_rows(g, X)
    Hf = torch.stack([torch.func.hessian(lambda x: L.fn(x.unsqueeze(0))[0])(x) for x in X])
    torch.testing.assert_close(H, Hf.detach(), rtol=1e-13, atol=1e-10)


class _AnalyticSaddle(Landscape):
    """x^2 - y^2 with its own (exact, counted) derivatives: the finder must use them."""

    def __init__(self):
        super().__init__(lambda P: P[:, 0] ** 2 - P[:, 1] ** 2, 2, domain=(-1, 1))
        self.hessian_calls = 0

    def hessian(self, P):
        self.hessian_calls += 1
        P = self.as_points(P)
        return torch.diag(torch.tensor([2.0, -2.0], dtype=torch.float64)).expand(P.shape[0], 2, 2)


def test_overridden_derivatives_are_used():
    L = _AnalyticSaddle()
    found = find_critical_points(L, n_starts=32, max_rounds=1)
    assert L.hessian_calls > 1
    assert [(c.kind, c.index) for c in found] == [("saddle", 1)]
    assert found[0].point == pytest.approx((0.0, 0.0), abs=1e-15)


# --------------------------------------------------------------------------- refine
def test_refine_converges_to_full_precision():
    L = get_landscape("himmelblau")
    known = torch.tensor([c.point for c in L.critical_points], dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    P = known + 0.05 * torch.randn(known.shape, generator=g, dtype=torch.float64)
    X, ok = refine_critical_points(L, P)
    assert ok.all()
    assert (X - known).abs().max() <= 1e-13


@pytest.mark.parametrize("with_domain", [True, False])
def test_refine_from_points_already_at_roots(with_domain):
    """End points of runs sit (almost) on roots: the tolerance must not collapse with them."""
    base = get_landscape("goldstein_price")
    L = base if with_domain else Landscape(base.fn, 2)
    known = torch.tensor([c.point for c in base.critical_points], dtype=torch.float64)
    for P in (known, known + 1e-9):
        X, ok = refine_critical_points(L, P)
        assert ok.all()
        assert (X - known).abs().max() <= 1e-12


def test_refine_flags_rows_that_reach_no_root():
    L = get_landscape("plateau")  # the only root is the origin; the plateau has none
    P = torch.tensor([[0.05, -0.02], [2.9, 2.9]], dtype=torch.float64)
    X, ok = refine_critical_points(L, P)
    assert ok.tolist() == [True, False]
    assert X[0].abs().max() <= 1e-14


def test_refine_max_distance():
    L = get_landscape("double_well")  # roots (-1, 0), (0, 0), (1, 0)
    P = torch.tensor([[0.9, 0.1], [0.05, -0.02]], dtype=torch.float64)
    X, ok = refine_critical_points(L, P)
    assert ok.all()
    torch.testing.assert_close(X, torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
    X, ok = refine_critical_points(L, P, max_distance=0.1)
    assert ok.tolist() == [False, True]
    with pytest.raises(InvalidParameterError, match="max_distance"):
        refine_critical_points(L, P, max_distance=-1.0)


def test_refine_finds_saddles_and_maxima_too():
    L = Landscape(_sincos, 2)
    P = torch.tensor([[0.1, 1.4], [1.4, 0.1], [-1.5, 0.2]], dtype=torch.float64)
    X, ok = refine_critical_points(L, P)
    assert ok.all()
    h = math.pi / 2
    expected = torch.tensor([[0.0, h], [h, 0.0], [-h, 0.0]], dtype=torch.float64)
    assert (X - expected).abs().max() <= 1e-14


# --------------------------------------------------------------------------- global minima
def test_declared_global_value_is_a_check():
    base = get_landscape("double_well")
    L = Landscape(base.fn, 2, domain=base.domain, global_min_value=-5.0)
    found = find_critical_points(L)
    assert found.global_minima == []
    assert any("declared global minimum" in n for n in found.notes)


def test_no_global_when_the_box_goes_lower():
    L = Landscape.from_formula("x**3 - 3*x", domain=(-5, 5))
    found = find_critical_points(L)
    assert [(c.kind, c.point) for c in found] == [
        ("minimum", pytest.approx((1.0,), abs=1e-15)),
        ("maximum", pytest.approx((-1.0,), abs=1e-15)),
    ]
    assert found.global_minima == []
    assert any("below every minimum" in n for n in found.notes)


def test_global_ties_within_tolerance():
    found = find_critical_points(get_landscape("himmelblau"))
    assert len(found.global_minima) == 4
    assert found.summary().startswith(
        "himmelblau (d=2) on [-5, 5]^2: 9 critical points (4 minima, 4 saddles, 1 maximum)"
    )
    assert all(abs(c.value) <= 1e-20 for c in found.global_minima)


def test_flat_regions_are_not_critical_points():
    """Far out a Gaussian underflows: grad and Hessian are exactly 0 over a whole region."""
    L = Landscape(lambda P: -torch.exp(-(P**2).sum(1)), 2, domain=(-40, 40))
    found = find_critical_points(L)
    assert [(c.kind, c.is_global) for c in found] == [("minimum", True)]
    assert found[0].point == pytest.approx((0.0, 0.0), abs=1e-15)
    assert any("numerically constant" in n for n in found.notes)


def test_mostly_flat_box_keeps_its_real_roots():
    """Easom on a box that is 93% flat tail: the gradient tolerance must come from the steep
    part, or the global minimum (pi, pi) is rejected (regression)."""

    def easom(P):
        x, y = P[:, 0], P[:, 1]
        return -torch.cos(x) * torch.cos(y) * torch.exp(-((x - math.pi) ** 2 + (y - math.pi) ** 2))

    L = Landscape(easom, 2, domain=(math.pi - 10, math.pi + 10))
    found = find_critical_points(L)
    assert [c.point for c in found.global_minima] == [pytest.approx((math.pi, math.pi), abs=1e-14)]
    assert found.global_minima[0].value == pytest.approx(-1.0, abs=1e-15)
    g = L.grad(torch.tensor(found.array())).norm(dim=1)
    assert float(g.max()) <= 1e-15


def test_roots_outside_the_box_are_dropped():
    L = get_landscape("himmelblau")
    found = find_critical_points(L, (0, 5, 0, 5))
    assert sorted((c.kind, tuple(round(x, 6) for x in c.point)) for c in found) == [
        ("minimum", (3.0, 2.0)),
        ("saddle", (0.086678, 2.884255)),
        ("saddle", (3.385154, 0.073852)),
    ]


# --------------------------------------------------------------------------- determinism, API
def test_deterministic_for_a_seed_and_stable_across_seeds():
    L = get_landscape("six_hump_camel")
    a = find_critical_points(L, seed=7)
    b = find_critical_points(L, seed=7)
    c = find_critical_points(L, seed=8)
    assert a.to_dicts() == b.to_dicts()
    assert len(c) == len(a) == 15
    np.testing.assert_allclose(a.array(), c.array(), atol=1e-12)


def test_point_set_api():
    found = find_critical_points(get_landscape("double_well"))
    assert isinstance(found, CriticalPointSet)
    assert len(found) == 3 and len(list(found)) == 3 and found[-1].kind == "saddle"
    assert found.counts() == {"minimum": 2, "maximum": 0, "saddle": 1, "degenerate": 0}
    assert found.index_counts() == {0: 2, 1: 1}
    assert len(found.minima) == 2 and len(found.saddles) == 1 and found.maxima == []
    assert [c.point for c in found.global_minima] == [
        pytest.approx((-1.0, 0.0)),
        pytest.approx((1.0, 0.0)),
    ]
    dicts = found.to_dicts()
    assert json.loads(found.to_json()) == dicts
    for d in dicts:
        assert set(d) == {"point", "value", "kind", "index", "eigenvalues", "is_global"}
    c, dist = found.nearest([0.1, 0.0])
    assert c.kind == "saddle" and dist == pytest.approx(0.1)
    table = found.table().splitlines()
    assert len(table) == 2 + len(found)
    assert table[0].split() == ["#", "point", "value", "kind", "index", "eigenvalues", "global"]
    assert "saddle" in table[-1] and "yes" in table[2]
    assert "3 critical points (2 minima, 1 saddle, 0 maxima)" in found.summary()
    with pytest.raises(InvalidParameterError, match="kind must be one of"):
        found.of_kind("valley")
    with pytest.raises(InvalidParameterError, match="coordinates"):
        found.nearest([1.0, 2.0, 3.0])


def test_counts_are_consistent_for_a_random_formula():
    L = Landscape.from_formula("sin(3*x) * cos(2*y) + 0.1*x**2", domain=(-2, 2))
    found = find_critical_points(L)
    kinds = Counter(c.kind for c in found)
    assert found.counts() == {k: kinds.get(k, 0) for k in found.counts()}
    # every point is a root to full precision and inside the box
    g = L.grad(torch.tensor(found.array())).norm(dim=1)
    assert float(g.max()) <= 1e-12
    assert (np.abs(found.array()) <= 2 + 1e-9).all()


def test_rounds_double_and_respect_max_starts():
    bowl = get_landscape("quadratic_bowl")
    found = find_critical_points(bowl, n_starts=100)
    assert (found.n_rounds, found.n_starts) == (2, 300)  # round 2 finds nothing new: stop
    one = find_critical_points(bowl, n_starts=100, max_rounds=1)
    assert (one.n_rounds, one.n_starts) == (1, 100)
    rich = find_critical_points(get_landscape("rastrigin"), n_starts=64, max_starts=200)
    assert (rich.n_rounds, rich.n_starts) == (3, 200)  # 64 + 128 + the 8 left


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_starts": 0}, "n_starts must be >= 1"),
        ({"n_starts": 2.5}, "n_starts must be an integer"),
        ({"n_starts": True}, "n_starts must be an integer"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"max_rounds": 0}, "max_rounds must be >= 1"),
        ({"max_starts": 0}, "max_starts must be >= 1"),
        ({"xtol": 0.0}, "xtol must be > 0"),
        ({"dedup_tol": float("nan")}, "dedup_tol must be finite"),
        ({"domain": (1, 1)}, "lo < hi"),
        ({"domain": (0, 1, 0, 1, 0, 1)}, "dimension 2"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(DescentlabError, match=match):
        find_critical_points(get_landscape("booth"), **kwargs)


def test_no_domain_and_not_a_landscape():
    L = Landscape(lambda P: (P**2).sum(1), 2)
    with pytest.raises(InvalidParameterError, match="no domain"):
        find_critical_points(L)
    with pytest.raises(InvalidParameterError, match="needs a Landscape"):
        find_critical_points("booth")  # type: ignore[arg-type]


def test_nan_rows_do_not_break_the_search():
    L = Landscape.from_formula("log(x) - x", domain=(-1, 3))  # NaN for x < 0, -inf at 0
    found = find_critical_points(L)
    assert [(c.kind, c.index) for c in found] == [("maximum", 1)]
    assert found[0].point == pytest.approx((1.0,), abs=1e-15)


def test_a_continuum_of_critical_points_stops_the_search_with_a_note():
    """f = x^2 in 2-D: every point of the line x = 0 is critical (Hessian diag(2, 0)). The finder
    must not keep doubling its starts to sample the line ever more densely: it stops after the
    round that reveals the continuum, and every point it lists lies on the line."""
    L = Landscape(lambda P: P[:, 0] ** 2, dim=2, name="valley", domain=(-1, 1))
    cps = find_critical_points(L)
    assert cps.n_rounds == 1
    assert len(cps) >= 32
    assert all(abs(c.point[0]) < 1e-9 and c.kind == "degenerate" for c in cps)
    assert cps.continuum and any("not isolated" in n for n in cps.notes)


def test_isolated_degenerate_point_is_not_a_continuum():
    L = Landscape(lambda P: P[:, 0] ** 3 - 3 * P[:, 0] * P[:, 1] ** 2, dim=2, domain=(-1, 1))
    cps = find_critical_points(L)
    assert not cps.continuum


def test_search_dimension_is_bounded_with_a_clear_error():
    from descentlab.analysis.critical import MAX_SEARCH_DIM
    from descentlab.errors import InvalidParameterError

    L = Landscape(lambda P: (P**2).sum(-1), dim=MAX_SEARCH_DIM + 1, domain=(-1, 1))
    with pytest.raises(InvalidParameterError, match="at most 200 dimensions"):
        find_critical_points(L)
