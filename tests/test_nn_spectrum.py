"""Lanczos, Hutchinson/Hutch++ and SLQ against known spectra and full network Hessians."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from descentlab.errors import InvalidParameterError
from descentlab.nn import HessianOperator, hutchinson, hutchpp, lanczos, slq_density

torch.set_num_threads(1)
F64 = torch.float64


def with_spectrum(lam, seed=0):
    lam = torch.as_tensor(lam, dtype=F64)
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(lam.numel(), lam.numel(), generator=g, dtype=F64))
    return Q @ torch.diag(lam) @ Q.T


SPECTRA = {
    "indefinite": torch.cat(
        [torch.tensor([-5.0, -2.0]), torch.linspace(0.1, 3, 36), torch.tensor([9.0, 20.0])]
    ),
    "psd-decaying": 100.0 * 0.7 ** torch.arange(40.0),
    "negative-definite": -torch.linspace(1, 8, 25),
    "repeated": torch.tensor([-3.0, -3.0, 1.0, 1.0, 1.0, 4.0, 4.0, 7.0]),
}


@pytest.mark.parametrize("name", list(SPECTRA))
@pytest.mark.parametrize("seed", [0, 1])
def test_lanczos_extremes_on_known_spectra(name, seed):
    lam = SPECTRA[name].to(F64)
    A = with_spectrum(lam, seed)
    distinct = torch.unique(lam)  # single-vector Lanczos sees each distinct value once
    k = min(2, distinct.numel())
    r = lanczos(A, k=k, seed=seed, tol=1e-10)
    assert r.converged
    scale = lam.abs().max()
    torch.testing.assert_close(r.top.values, distinct.flip(0)[:k], rtol=0, atol=1e-9 * scale)
    torch.testing.assert_close(r.bottom.values, distinct[:k], rtol=0, atol=1e-9 * scale)
    for pairs in (r.top, r.bottom):
        for c in range(k):
            v = pairs.vectors[:, c]
            assert abs(float(v.norm()) - 1) < 1e-12
            res = float((A @ v - pairs.values[c] * v).norm())
            assert res == pytest.approx(float(pairs.residuals[c]), abs=1e-12)
            assert res <= 1e-10 * scale
    assert r.n_matvec <= r.iterations + 2 * k


def test_lanczos_restarts_when_the_krylov_space_is_invariant():
    A = torch.diag(torch.tensor([1.0, -4.0, 2.0, 9.0, 0.5], dtype=F64))
    e1 = torch.zeros(5, dtype=F64)
    e1[0] = 1.0  # an eigenvector: the first Krylov space is 1-dimensional
    r = lanczos(A, k=1, v0=e1)
    assert r.lambda_max == pytest.approx(9.0, abs=1e-12)
    assert r.lambda_min == pytest.approx(-4.0, abs=1e-12)


def test_lanczos_reports_non_convergence_and_validates():
    A = with_spectrum(torch.linspace(-1, 1, 200))
    r = lanczos(A, k=3, max_iter=15)
    assert not r.converged and r.iterations == 15
    with pytest.raises(InvalidParameterError, match="which must be one of"):
        lanczos(A, which="largest")
    with pytest.raises(InvalidParameterError, match="k=300 exceeds"):
        lanczos(A, k=300)
    with pytest.raises(InvalidParameterError, match="square"):
        lanczos(torch.ones(2, 3))
    with pytest.raises(InvalidParameterError, match="non-finite"):
        lanczos(torch.full((3, 3), float("nan"), dtype=F64))


def test_only_top_or_bottom():
    A = with_spectrum(torch.tensor([-2.0, 0.0, 1.0, 5.0]))
    top = lanczos(A, which="top")
    bottom = lanczos(A, which="bottom")
    assert top.bottom is None and top.lambda_max == pytest.approx(5.0, abs=1e-10)
    assert bottom.top is None and bottom.lambda_min == pytest.approx(-2.0, abs=1e-10)


# -- traces ---------------------------------------------------------------------------------
def test_hutchinson_interval_covers_at_the_nominal_rate():
    A = with_spectrum(torch.linspace(-2, 6, 30), seed=3)
    true = float(torch.trace(A))
    hits = sum(
        hutchinson(A, 60, seed=s).ci[0] <= true <= hutchinson(A, 60, seed=s).ci[1]
        for s in range(40)
    )
    assert hits >= 33  # 95% nominal; P(hits < 33) < 1% for a correct interval
    est = hutchinson(A, 60, seed=0)
    assert est.n_matvec == 60 and est.ci[0] < est.value < est.ci[1]


def test_hutchpp_exact_when_the_sketch_spans_the_space_and_better_than_hutchinson():
    A = with_spectrum(100.0 * 0.5 ** torch.arange(20.0), seed=4)
    true = float(torch.trace(A))
    assert hutchpp(A, 60).value == pytest.approx(true, rel=1e-12)  # sketch of 20 >= n
    B = with_spectrum(100.0 * 0.8 ** torch.arange(200.0), seed=5)
    tb = float(torch.trace(B))
    err_pp = [abs(hutchpp(B, 60, seed=s).value - tb) for s in range(10)]
    err_h = [abs(hutchinson(B, 60, seed=s).value - tb) for s in range(10)]
    assert sorted(err_pp)[5] < 0.2 * sorted(err_h)[5]  # median error: decaying spectrum


# -- SLQ ------------------------------------------------------------------------------------
def test_slq_weights_integrate_to_one_and_moments_are_hutchinson_of_powers():
    lam = torch.cat([torch.linspace(-1, -0.2, 6), torch.linspace(0.1, 4, 34)]).to(F64)
    A = with_spectrum(lam, seed=6)
    n = lam.numel()
    d = slq_density(A, n_vectors=5, n_iter=12, seed=2)
    for w in d.weights:
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    grid = torch.linspace(-3, 6, 4001, dtype=F64)
    assert float(torch.trapezoid(d.density(grid, sigma=0.05), grid)) == pytest.approx(1.0, abs=1e-6)
    # the same Rademacher vectors, drawn as slq_density draws them
    g = torch.Generator().manual_seed(2)
    Z = [(torch.randint(0, 2, (n,), generator=g) * 2 - 1).to(F64) for _ in range(5)]
    for k in range(0, 6):  # Gauss quadrature with 12 nodes is exact to degree 23
        Ak = torch.linalg.matrix_power(A, k)
        hutch = sum(float(z @ Ak @ z) for z in Z) / (5 * n)
        assert d.moment(k) == pytest.approx(hutch, rel=1e-9, abs=1e-12)
    # with a full Krylov space, the negative mass is the quadratic form of the negative projector
    full = slq_density(A, n_vectors=5, n_iter=n, seed=2)
    evals, evecs = torch.linalg.eigh(A)
    P = evecs[:, evals < 0] @ evecs[:, evals < 0].T
    exact = sum(float(z @ P @ z) for z in Z) / (5 * n)
    assert full.negative_mass() == pytest.approx(exact, abs=1e-9)
    assert full.lambda_min == pytest.approx(-1.0, abs=1e-9)
    assert full.ratio == pytest.approx(0.25, abs=1e-9)
    assert math.isfinite(d.to_dict()["negative_mass"])


# -- on a network's Hessian ------------------------------------------------------------------
def test_network_extremes_and_trace_match_eigvalsh_of_the_full_hessian():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 3)
    ).double()
    X = torch.randn(40, 3, dtype=F64)
    y = torch.randint(0, 3, (40,))
    H = HessianOperator(net, nn.CrossEntropyLoss(), (X, y), batch_size=16)
    D = H.dense()
    ev = torch.linalg.eigvalsh(D)
    assert ev[0] < 0 < ev[-1]  # random init: indefinite
    r = lanczos(H, k=3, tol=1e-8)
    assert r.converged
    for got, want in zip(r.top.values.tolist(), ev.flip(0)[:3].tolist(), strict=True):
        assert got == pytest.approx(want, rel=1e-6)
    for got, want in zip(r.bottom.values.tolist(), ev[:3].tolist(), strict=True):
        assert got == pytest.approx(want, rel=1e-6)
    tr = hutchpp(H, 3 * H.n + 3)  # sketch spans the space: exact up to rounding
    assert tr.value == pytest.approx(float(ev.sum()), rel=1e-6)
    est = hutchinson(H, 40)
    assert est.ci[0] <= float(ev.sum()) <= est.ci[1]


def test_deflation_finds_further_copies_of_a_repeated_eigenvalue():
    A = with_spectrum(torch.tensor([-3.0, -3.0, -3.0, 1.0, 1.0, 2.0, 5.0]), seed=7)
    r = lanczos(A, k=2)
    assert r.bottom.values.tolist() == pytest.approx([-3.0, 1.0], abs=1e-9)  # one copy seen
    Q = r.bottom.vectors[:, :1]
    found = [-3.0]
    for _ in range(3):
        r2 = lanczos(A, k=1, which="bottom", deflate=Q)
        assert r2.converged
        v = r2.bottom.vectors[:, 0]
        assert float((Q.T @ v).abs().max()) < 1e-10  # stays in the complement
        found.append(float(r2.bottom.values[0]))
        Q = torch.cat([Q, r2.bottom.vectors], 1)
    assert found == pytest.approx([-3.0, -3.0, -3.0, 1.0], abs=1e-9)
    with pytest.raises(InvalidParameterError, match="orthonormal"):
        lanczos(A, deflate=torch.ones(7, 1, dtype=F64))
