"""Random landscapes against independent oracles.

* random quadratic: value, gradient and Hessian equal the closed forms built in numpy from the
  landscape's ``Q`` and ``lam``; the index equals the count of negative eigenvalues of that
  matrix (numpy ``eigvalsh``); the finder finds the one point with that index;
* Fourier-feature field: the value equals a direct numpy evaluation, the gradient its closed
  form, the Hessian ``torch.func.hessian``; the covariance over seeds matches
  ``sigma^2 exp(-|x-y|^2 / (2 ell^2))`` (Monte Carlo, 5 standard errors); the gradient points
  outward beyond the proven critical radius;
* Gaussian wells: closed-form derivatives equal autograd; the certificate's Hessian lower bound
  holds at sampled points of each ball; the gradient points outward on each ball's sphere; the
  listed minima have zero gradient and a positive Hessian, and the finder finds exactly one
  critical point in each certified ball.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab.analysis.critical import find_critical_points
from descentlab.errors import InvalidParameterError
from descentlab.landscapes import (
    gaussian_wells,
    get_landscape,
    random_fourier_field,
    random_quadratic_saddle,
)

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _rand(n, d, seed, scale=1.0):
    g = np.random.default_rng(seed)
    return g.uniform(-scale, scale, size=(n, d))


# --------------------------------------------------------------------------- random quadratic
@pytest.mark.parametrize(("dim", "index"), [(1, 0), (1, 1), (4, 2), (7, 7), (12, 5), (30, 0)])
def test_quadratic_closed_forms_and_exact_index(dim, index):
    L = random_quadratic_saddle(dim=dim, index=index, seed=dim + index)
    Q, lam = L.Q.numpy(), L.lam.numpy()
    np.testing.assert_allclose(Q.T @ Q, np.eye(dim), atol=1e-14)
    A = (Q * lam) @ Q.T
    X = _rand(16, dim, seed=1, scale=2.0)
    np.testing.assert_allclose(
        L.value(X).numpy(), 0.5 * np.einsum("bi,ij,bj->b", X, A, X), rtol=1e-13, atol=1e-14
    )
    np.testing.assert_allclose(L.grad(X).numpy(), X @ A.T, rtol=1e-12, atol=1e-13)
    H = L.hessian(X[:3]).numpy()
    for h in H:
        np.testing.assert_allclose(h, A, atol=1e-13)
    ev = np.linalg.eigvalsh(A)
    assert int((ev < 0).sum()) == index
    (cp,) = L.critical_points
    assert cp.index == index and cp.value == 0.0 and cp.point == (0.0,) * dim
    assert cp.kind == ("minimum" if index == 0 else "maximum" if index == dim else "saddle")
    np.testing.assert_allclose(cp.eigenvalues, ev, rtol=1e-13)
    assert all(0.5 <= abs(v) <= 2.0 for v in cp.eigenvalues)
    assert float(L.grad(torch.zeros(1, dim, dtype=F64)).abs().max()) == 0.0
    assert L.complete
    assert (L.global_min_value == 0.0) == (index == 0) and cp.is_global == (index == 0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.data(), st.integers(0, 2**31 - 1))
def test_quadratic_index_is_exact_for_any_parameters(dim, data, seed):
    index = data.draw(st.integers(0, dim))
    ratio = data.draw(st.sampled_from([1.0, 10.0, 1e4, 1e8]))
    L = random_quadratic_saddle(dim=dim, index=index, seed=seed, min_eig=1.0, max_eig=ratio)
    A = L.hessian(torch.zeros(1, dim, dtype=F64))[0].numpy()
    ev = np.linalg.eigvalsh(A)
    assert int((ev < 0).sum()) == index == L.critical_points[0].index
    # Weyl: the computed Hessian's eigenvalues lie within max_eig * (a few eps) of lam
    tol = 1e-14 * dim * ratio
    np.testing.assert_allclose(ev, L.critical_points[0].eigenvalues, rtol=0, atol=tol)
    assert float(np.min(np.abs(ev))) >= 1.0 - tol


def test_quadratic_is_seeded():
    a = random_quadratic_saddle(dim=5, index=2, seed=3)
    b = random_quadratic_saddle(dim=5, index=2, seed=3)
    c = random_quadratic_saddle(dim=5, index=2, seed=4)
    assert torch.equal(a.matrix, b.matrix)
    assert not torch.allclose(a.matrix, c.matrix)


def test_finder_recovers_the_quadratic_saddle():
    L = get_landscape("random_quadratic_saddle", dim=3, index=2, seed=5)
    found = find_critical_points(L, n_starts=64, max_rounds=2)
    assert [(c.kind, c.index) for c in found] == [("saddle", 2)]
    assert max(abs(x) for x in found[0].point) <= 1e-14


def test_quadratic_bad_parameters():
    with pytest.raises(InvalidParameterError, match="index"):
        random_quadratic_saddle(dim=3, index=4)
    with pytest.raises(InvalidParameterError, match="index"):
        random_quadratic_saddle(dim=3, index=-1)
    with pytest.raises(InvalidParameterError, match="min_eig"):
        random_quadratic_saddle(min_eig=3.0, max_eig=2.0)
    with pytest.raises(InvalidParameterError, match="1e-8"):
        random_quadratic_saddle(min_eig=1e-12, max_eig=1.0)
    with pytest.raises(InvalidParameterError, match="seed"):
        random_quadratic_saddle(seed=-1)
    with pytest.raises(InvalidParameterError, match="dim"):
        get_landscape("random_quadratic_saddle", dim=0)
    with pytest.raises(InvalidParameterError, match="accepted"):
        get_landscape("random_quadratic_saddle", size=3)


# --------------------------------------------------------------------------- Fourier field
def _numpy_field(L, X):
    W, b, a = L.W.numpy(), L.b.numpy(), L.a.numpy()
    m = len(a)
    out = np.zeros(len(X))
    for k in range(m):
        out += a[k] * np.cos(X @ W[k] + b[k])
    g = L.amplitude * math.sqrt(2.0 / m) * out
    r2 = (X**2).sum(1) / L.radius**2
    return g + L.confinement * r2**2


def test_field_value_gradient_hessian_against_direct_evaluation():
    L = random_fourier_field(dim=3, seed=2, n_features=20, length_scale=0.7, amplitude=1.5)
    X = _rand(50, 3, seed=4, scale=3.0)
    np.testing.assert_allclose(L.value(X).numpy(), _numpy_field(L, X), rtol=1e-13, atol=1e-13)
    W, b, a = L.W.numpy(), L.b.numpy(), L.a.numpy()
    coef = L.amplitude * math.sqrt(2.0 / len(a)) * a
    S = np.sin(X @ W.T + b)  # (n, m)
    grad = -(S * coef) @ W + 4 * L.confinement * (X**2).sum(1, keepdims=True) * X / L.radius**4
    np.testing.assert_allclose(L.grad(X).numpy(), grad, rtol=1e-12, atol=1e-12)
    P = torch.as_tensor(X[:4])
    H = L.hessian(P)
    for i in range(4):
        ref = torch.func.hessian(lambda p: L.fn(p.unsqueeze(0))[0])(P[i])
        torch.testing.assert_close(H[i], ref, rtol=1e-12, atol=1e-12)


def test_field_covariance_is_squared_exponential():
    """Over seeds: E[g(x)] = 0 and E[g(x) g(y)] = sigma^2 exp(-|x - y|^2 / (2 ell^2))."""
    sigma, ell = 1.3, 0.8
    x = np.array([[0.1, -0.2], [0.5, 0.3], [1.2, -0.9], [0.1, -0.2]])
    y = np.array([[0.1, -0.2], [0.1, 0.0], [0.0, 0.0], [2.5, 1.0]])
    n = 3000
    gx, gy = np.zeros((n, 4)), np.zeros((n, 4))
    for s in range(n):
        L = random_fourier_field(dim=2, seed=s, n_features=2, length_scale=ell, amplitude=sigma)
        gx[s] = L.field(x).numpy()
        gy[s] = L.field(y).numpy()
    prod = gx * gy
    est = prod.mean(0)
    se = prod.std(0) / math.sqrt(n)
    expected = sigma**2 * np.exp(-((x - y) ** 2).sum(1) / (2 * ell**2))
    assert np.all(np.abs(est - expected) <= 5 * se), (est, expected, se)
    assert np.all(np.abs(gx.mean(0)) <= 5 * gx.std(0) / math.sqrt(n))


def test_field_gradient_points_outward_beyond_the_critical_radius():
    L = random_fourier_field(dim=3, seed=1)
    r = L.critical_radius
    assert L.domain == ((-r, r),) * 3
    g = np.random.default_rng(0)
    U = g.normal(size=(2000, 3))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    X = U * (r * g.uniform(1.0 + 1e-9, 2.0, size=(2000, 1)))
    G = L.grad(X).numpy()
    radial = (G * X).sum(1) / np.linalg.norm(X, axis=1)
    # the proof's bound: radial derivative >= 4 c |x|^3 / R^4 - G_bound > 0
    lower = 4 * L.confinement * np.linalg.norm(X, axis=1) ** 3 / L.radius**4 - L.grad_bound
    assert np.all(lower > 0) and np.all(radial >= lower - 1e-9)


@pytest.mark.parametrize("seed", [0, 3])
def test_field_critical_points_found_inside_the_proven_ball(seed):
    L = random_fourier_field(dim=2, seed=seed, n_features=6 if seed else 64, confinement=2.0)
    assert L.critical_points is None and not L.complete
    found = find_critical_points(L, n_starts=256, max_rounds=3)
    P = np.array([c.point for c in found])
    counts = found.counts()
    assert counts["minimum"] >= 1 and counts["degenerate"] == 0
    # Morse theory: a coercive Morse function on R^2 has #minima - #saddles + #maxima = 1
    # (the Euler characteristic of the plane): a check that no critical point was missed
    assert counts["minimum"] - counts["saddle"] + counts["maximum"] == 1
    assert np.all(np.linalg.norm(P, axis=1) <= L.critical_radius)
    assert float(L.grad(P).norm(dim=1).max()) <= 1e-10
    # the lowest minimum found is below every sample of the domain
    assert float(L.value(L.sample(20_000, seed=1)).min()) >= found.global_minima[0].value - 1e-12


def test_field_bad_parameters():
    for kw, word in [
        ({"n_features": 0}, "n_features"),
        ({"length_scale": 0.0}, "length_scale"),
        ({"amplitude": -1.0}, "amplitude"),
        ({"confinement": float("nan")}, "confinement"),
        ({"radius": 0}, "radius"),
    ]:
        with pytest.raises(InvalidParameterError, match=word):
            random_fourier_field(**kw)


# --------------------------------------------------------------------------- Gaussian wells
def test_wells_closed_form_derivatives_equal_autograd():
    L = gaussian_wells(dim=3, n_wells=5, seed=1)
    X = torch.as_tensor(_rand(6, 3, seed=2, scale=2.5))
    G = L.grad(X)
    H = L.hessian(X)
    for i in range(len(X)):
        g, h = L.grad_and_hessian(X[i])
        torch.testing.assert_close(g, G[i], rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(h, H[i], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("dim", "n_wells", "seed"), [(2, 4, 0), (3, 6, 2), (8, 5, 1)])
def test_wells_certificates_hold(dim, n_wells, seed):
    L = gaussian_wells(dim=dim, n_wells=n_wells, seed=seed)
    gen = np.random.default_rng(seed)
    listed = iter(L.critical_points)
    for k, r in enumerate(L.certified_radii):
        if math.isnan(r):
            continue
        mu = L.centers[k].numpy()
        # Hessian lower bound of the certificate, at random points of the ball (autograd)
        U = gen.normal(size=(200, dim))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        X = mu + U * r * gen.uniform(0, 1, size=(200, 1)) ** (1 / dim)
        lam_min = torch.linalg.eigvalsh(L.hessian(X))[:, 0]
        m = L.hessian_lower_bound(k, r)
        assert m > 0 and float(lam_min.min()) >= m
        # outward gradient on the sphere
        S = mu + U * r
        assert float(((L.grad(S).numpy()) * (S - mu)).sum(1).min()) > 0
        # the listed minimum: in the ball, zero gradient, positive Hessian, value and eigenvalues
        c = next(listed)
        x = torch.tensor([c.point], dtype=F64)
        assert np.linalg.norm(np.array(c.point) - mu) <= r
        assert float(L.grad(x).abs().max()) <= 1e-13
        ev = torch.linalg.eigvalsh(L.hessian(x))[0]
        np.testing.assert_allclose(c.eigenvalues, ev.numpy(), rtol=1e-12)
        assert float(ev.min()) > 0 and c.kind == "minimum" and c.index == 0
        assert c.value == float(L.value(x)[0]) and not c.is_global
    assert next(listed, None) is None
    assert not L.complete and L.global_min_value is None


def test_wells_unique_critical_point_in_each_ball_by_the_finder():
    L = gaussian_wells(dim=2, n_wells=3, seed=4)
    for k, r in enumerate(L.certified_radii):
        mu = L.centers[k].tolist()
        box = [(m - r, m + r) for m in mu]
        found = find_critical_points(L, box, n_starts=64, max_rounds=2)
        inside = [c for c in found if math.dist(c.point, mu) <= r]
        assert len(inside) == 1 and inside[0].kind == "minimum"
        listed = L.critical_points[k].point
        assert math.dist(inside[0].point, listed) <= 1e-12


def test_wells_report_uncertified_wells():
    L = gaussian_wells(dim=10, n_wells=6, seed=3)
    failed = [k for k, r in enumerate(L.certified_radii) if math.isnan(r)]
    assert failed  # this draw has a well the certificate cannot cover
    assert len(L.critical_points) == 6 - len(failed)
    assert "No minimum is certified near well(s) " + ", ".join(map(str, failed)) in (L.description)


def test_wells_bad_parameters():
    with pytest.raises(InvalidParameterError, match="cannot place 50 wells"):
        gaussian_wells(dim=1, n_wells=50, width=0.5, spread=1.0)
    with pytest.raises(InvalidParameterError, match="curvature"):
        gaussian_wells(curvature=0.0)
    with pytest.raises(InvalidParameterError, match="n_wells"):
        gaussian_wells(n_wells=0)


def test_catalogue_entries_build_with_defaults_and_json_info():
    import json

    for name in ("random_quadratic_saddle", "random_fourier_field", "gaussian_wells"):
        L = get_landscape(name)
        info = json.loads(json.dumps(L.info(), allow_nan=False))
        assert info["name"] == name and info["description"] and info["formula"]
        assert get_landscape(name, dim=2).dim == 2


def test_docstring_examples_run():
    import doctest

    from descentlab.landscapes import random as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0
