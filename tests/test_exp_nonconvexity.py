"""Claim 1 experiment: every number against its closed form or exact identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from descentlab.experiments import nonconvexity as nc
from descentlab.experiments import run_experiment

torch.set_num_threads(1)
DT = torch.float64


def test_product_loss_saddle_at_origin_exact() -> None:
    origin = torch.zeros(2, dtype=DT)
    H = torch.func.hessian(nc.product_loss)(origin)
    assert H.tolist() == [[0.0, -1.0], [-1.0, 0.0]]
    assert torch.func.grad(nc.product_loss)(origin).tolist() == [0.0, 0.0]
    assert torch.linalg.eigvalsh(H).tolist() == [-1.0, 1.0]
    assert float(nc.product_loss(origin)) == 0.5


def test_product_hessian_closed_form_everywhere() -> None:
    g = torch.Generator().manual_seed(0)
    for w in 3 * torch.randn(20, 2, generator=g, dtype=DT):
        measured = torch.func.hessian(nc.product_loss)(w)
        closed = nc.product_hessian(float(w[0]), float(w[1]))
        torch.testing.assert_close(measured, closed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("t", [0.25, 1.0, -2.0, 5.0])
def test_product_minima_on_hyperbola(t: float) -> None:
    w = torch.tensor([t, 1.0 / t], dtype=DT)
    assert float(nc.product_loss(w)) == pytest.approx(0.0, abs=1e-15)
    assert float(torch.func.grad(nc.product_loss)(w).norm()) < 1e-15
    ev = torch.linalg.eigvalsh(torch.func.hessian(nc.product_loss)(w))
    assert ev.tolist() == pytest.approx([0.0, t * t + 1 / (t * t)], abs=1e-12)


def test_product_loss_is_the_loss_of_a_model_linear_in_x() -> None:
    x = torch.randn(101, dtype=DT, generator=torch.Generator().manual_seed(1))
    x = x / x.pow(2).mean().sqrt()
    W = torch.randn(50, 2, dtype=DT, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(
        nc.product_loss_from_data(W, x), nc.product_loss(W), rtol=0, atol=1e-13
    )
    # sign symmetry: (1, 1) and (-1, -1) have loss 0, their midpoint (the saddle) 1/2
    ends = nc.product_loss(torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=DT))
    assert ends.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("make", [nc.linear_regression, nc.logistic_regression, nc.random_features])
def test_affine_models_hessian_is_closed_form_and_psd(make) -> None:
    model = make()
    pts = 3 * torch.randn(40, model.n_params, dtype=DT, generator=torch.Generator().manual_seed(3))
    H = nc.hessians(model.loss, pts)
    closed = torch.stack([model.hessian(p) for p in pts])
    torch.testing.assert_close(H, closed, rtol=1e-10, atol=1e-13)
    lmin, _ = nc.min_eigenvalues(H)
    assert float(lmin.min()) >= -nc.PSD_TOL


def test_linear_regression_hessian_is_two_over_n_xtx() -> None:
    model = nc.linear_regression(m=30, d=3, seed=5)
    X, _ = nc._data(30, 3, 5)
    A = torch.cat([X, torch.ones(30, 1, dtype=DT)], 1)
    w = torch.randn(4, dtype=DT, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        torch.func.hessian(model.loss)(w), 2 / 30 * A.T @ A, rtol=1e-13, atol=1e-13
    )


def test_swap_units_same_function_and_certificate() -> None:
    net = nc.tanh_network(m=32, width=4)
    theta = nc.train(net, 400, seed=1)
    for i, j in [(0, 1), (1, 3)]:
        other = net.swap_units(theta, i, j)
        torch.testing.assert_close(net.predict(other), net.predict(theta), rtol=0, atol=1e-13)
    cert = nc.permutation_certificate(net, theta)
    assert cert.endpoint_difference <= 1e-12
    assert cert.loss_mid > cert.loss_a and cert.gap > 0
    # the midpoint merges units i and j: identical hidden weights there
    mid = 0.5 * (theta + net.swap_units(theta, *cert.units))
    W, b, a, _ = net.unflatten(mid)
    i, j = cert.units
    assert torch.equal(W[i], W[j]) and b[i] == b[j] and a[i] == a[j]


def test_train_path_checkpoints() -> None:
    net = nc.tanh_network(m=16, width=3)
    cps, final = nc.train_path(net, 100, seed=2, every=30)
    assert cps.shape == (4, net.n_params)  # steps 0, 30, 60, 90
    g = torch.Generator().manual_seed(2)
    torch.testing.assert_close(cps[0], 0.7 * torch.randn(net.n_params, generator=g, dtype=DT))
    torch.testing.assert_close(final, nc.train(net, 100, seed=2), rtol=0, atol=0)
    from descentlab.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="every"):
        nc.train_path(net, 10, every=0)


def test_swap_units_refuses_bad_units() -> None:
    from descentlab.errors import InvalidParameterError

    net = nc.tanh_network(m=8, width=3)
    with pytest.raises(InvalidParameterError, match="hidden units"):
        net.swap_units(torch.zeros(net.n_params, dtype=DT), 0, 3)


def test_tanh_network_negative_curvature_matches_second_difference() -> None:
    net = nc.tanh_network(m=32, width=3)
    pts = torch.randn(30, net.n_params, dtype=DT, generator=torch.Generator().manual_seed(4))
    lam, vec = torch.linalg.eigh(nc.hessians(net.loss, pts))
    k = int(lam[:, 0].argmin())
    assert float(lam[k, 0]) < 0
    v, h = vec[k, :, 0], 1e-4
    fd = (net.loss(pts[k] + h * v) - 2 * net.loss(pts[k]) + net.loss(pts[k] - h * v)) / h**2
    assert float(fd) == pytest.approx(float(lam[k, 0]), rel=1e-5)


def test_experiment_quick(tmp_path) -> None:
    r = run_experiment("nonconvexity", quick=True, out=tmp_path, progress=False)
    assert r.verdict == "qualified"
    n = r.numbers
    assert n["product"]["origin_eigenvalues"] == [-1.0, 1.0]
    assert n["product"]["origin_hessian"] == [[0.0, -1.0], [-1.0, 0.0]]
    for v in n["affine_in_weights"].values():
        assert v["psd_everywhere"] and v["min_eigenvalue"] >= -1e-10
        assert v["max_rel_error_vs_closed_form"] < 1e-10
        assert v["min_eigenvalue"] == pytest.approx(v["closed_form_min_eigenvalue"], rel=1e-8)
    assert n["tanh_network"]["min_eigenvalue"] < 0
    assert n["tanh_network"]["finite_difference_rel_error"] < 1e-5
    pc = n["permutation_certificate"]
    assert pc["endpoint_abs_difference"] <= 1e-12 and pc["midpoint_minus_chord"] > 0
    assert set(r.figures) == {
        "min_eigenvalues",
        "product_saddle",
        "permutation_certificate",
        "negative_curvature",
        "training_curvature",
        "curvature_split",
    }
    cs = n["curvature_split"]  # H = G + R: R = 0 for the linear model, G PSD for both
    assert cs["linear"]["max_abs_lambda_min_R"] < 1e-12
    assert cs["linear"]["min_lambda_min_G"] == pytest.approx(cs["linear"]["min_lambda_min_H"])
    assert cs["linear"]["min_lambda_min_H"] >= -1e-12
    assert cs["tanh"]["min_lambda_min_G"] >= -1e-12 and cs["tanh"]["min_lambda_min_H"] < 0
    assert cs["tanh"]["max_R_minus_H"] <= 1e-10  # Weyl: lambda_min(R) <= lambda_min(H)
    tr = n["tanh_network"]["training"]
    assert tr["checkpoints"] == 50 and 0.0 <= tr["fraction_with_negative_curvature"] <= 1.0
    for p in r.figures.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(r.to_dict(), allow_nan=False)
    assert r.seconds < 60
    assert np.isfinite(r.numbers["deep_linear"]["min_eigenvalue"])
