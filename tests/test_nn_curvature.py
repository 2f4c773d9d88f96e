"""curvature_split: H = G + R on a linear model (R = 0, H = G PSD) and at known saddles."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from descentlab.nn.curvature import curvature_split

torch.set_num_threads(1)
F64 = torch.float64


def test_linear_model_has_no_residual_and_psd_hessian():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 4, generator=g, dtype=F64)
    y = torch.randint(0, 3, (40,), generator=g)
    torch.manual_seed(0)
    lin = nn.Linear(4, 3).double()
    s = curvature_split(lin, nn.CrossEntropyLoss(), (X, y))
    assert s.exact
    assert abs(s.residual.lambda_min) < 1e-14 and abs(s.residual.lambda_max) < 1e-14
    assert s.hessian.lambda_min == pytest.approx(s.ggn.lambda_min, abs=1e-14)
    assert s.hessian.lambda_max == pytest.approx(s.ggn.lambda_max, rel=1e-12)
    assert s.hessian.lambda_min > -1e-14  # PSD (the softmax shift gives exact zeros)
    assert s.negative_from_residual is None


def test_two_weight_linear_network_saddle_is_all_residual():
    """f = w2 w1 x, L = mean((f - 2x)²) at w = 0: J = 0 so G = 0 and
    H = R = [[0, -4 mean(x²)], [-4 mean(x²), 0]]: eigenvalues ±10 for x = (1, 2)."""
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.zero_()
        net[1].weight.zero_()
    X = torch.tensor([[1.0], [2.0]], dtype=F64)
    s = curvature_split(net, nn.MSELoss(), (X, 2 * X))
    assert (s.hessian.lambda_min, s.hessian.lambda_max) == pytest.approx((-10.0, 10.0), abs=1e-12)
    assert (s.ggn.lambda_min, s.ggn.lambda_max) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert (s.residual.lambda_min, s.residual.lambda_max) == pytest.approx((-10, 10), abs=1e-12)
    assert s.along_min["G"] == pytest.approx(0.0, abs=1e-12)
    assert s.along_min["R"] == pytest.approx(-10.0, abs=1e-12)
    assert s.negative_from_residual is True


def symmetric_tanh_saddle() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """All weights zero with balanced classes: a critical point (every gradient is zero by
    symmetry) where the Hessian is indefinite."""
    g = torch.Generator().manual_seed(2)
    n = 60
    t = torch.rand(n, generator=g, dtype=F64) * torch.pi
    lab = torch.arange(n) % 2
    X = 3 * torch.stack([torch.cos(t) + lab, torch.sin(t) * (1 - 2 * lab) + 0.5 * lab], 1)
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    return net, X, lab


def oracle(net, X, y):
    """Dense H by torch.func.hessian and G by Jacobians, at float64."""
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def unflat(t):
        out, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            out[n] = t[i : i + s.numel()].view(s)
            i += s.numel()
        return out

    def out_fn(t):
        return functional_call(net, unflat(t), (X,))

    H = torch.func.hessian(lambda t: nn.functional.cross_entropy(out_fn(t), y))(theta)
    J = torch.func.jacrev(out_fn)(theta)
    P = torch.softmax(out_fn(theta), -1).detach()
    G = sum(J[i].T @ (torch.diag(P[i]) - torch.outer(P[i], P[i])) @ J[i] for i in range(len(y)))
    return H, G / len(y), theta


@pytest.mark.parametrize("exact_below", [400, 0])  # dense path and Lanczos path
def test_tanh_network_saddle_negative_curvature_comes_from_residual(exact_below):
    net, X, y = symmetric_tanh_saddle()
    H, G, _ = oracle(net, X, y)
    eh, eg, er = (torch.linalg.eigvalsh(M) for M in (H, G, H - G))
    assert float(eh[0]) < -0.1 and float(eg[0]) > -1e-12  # a real saddle; G is PSD
    s = curvature_split(net, nn.CrossEntropyLoss(), (X, y), exact_below=exact_below, tol=1e-10)
    assert s.exact == (exact_below > 0)
    for got, ref in ((s.hessian, eh), (s.ggn, eg), (s.residual, er)):
        assert got.lambda_min == pytest.approx(float(ref[0]), abs=1e-8)
        assert got.lambda_max == pytest.approx(float(ref[-1]), abs=1e-8)
    assert s.residual.lambda_min <= s.hessian.lambda_min + 1e-10  # Weyl, with G PSD
    assert s.along_min["G"] >= -1e-10
    assert s.along_min["G"] + s.along_min["R"] == pytest.approx(s.hessian.lambda_min, abs=1e-10)
    assert s.negative_from_residual is True
    assert "comes from R" in str(s)


def test_check_point_says_the_negative_curvature_comes_from_residual():
    from descentlab.nn import check_point

    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.zero_()
        net[1].weight.zero_()
    X = torch.tensor([[1.0], [2.0]], dtype=F64)
    c = check_point(net, nn.MSELoss(), (X, 2 * X))
    assert c.verdict == "saddle" and c.negative_from_residual is True
    sp = c.evidence["curvature_split_along_min"]
    assert sp["G"] == pytest.approx(0.0, abs=1e-12) and sp["R"] == pytest.approx(-10.0)
    assert "negative curvature from R" in str(c)
    # the tanh saddle on the Lanczos path: u'Gu >= 0, u'Ru = lambda_min - u'Gu
    tnet, TX, ty = symmetric_tanh_saddle()
    c = check_point(tnet, nn.CrossEntropyLoss(), (TX, ty), exact_below=0)
    assert c.verdict == "saddle" and c.negative_from_residual is True
    sp = c.evidence["curvature_split_along_min"]
    assert sp["G"] >= 0 and sp["G"] + sp["R"] == pytest.approx(c.lambda_min, abs=1e-9)
    # a minimum of a linear model: no negative curvature, no attribution
    g = torch.Generator().manual_seed(0)
    A = torch.randn(30, 2, generator=g, dtype=F64)
    lin = nn.Linear(2, 1).double()
    w = torch.linalg.lstsq(
        torch.cat([A, torch.ones(30, 1, dtype=F64)], 1), A @ torch.ones(2, 1, dtype=F64)
    ).solution
    with torch.no_grad():
        lin.weight.copy_(w[:2].T)
        lin.bias.copy_(w[2])
    c = check_point(lin, nn.MSELoss(), (A, A @ torch.ones(2, 1, dtype=F64)))
    assert c.verdict == "minimum" and c.negative_from_residual is None
