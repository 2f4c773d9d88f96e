"""check_point's decision rule against oracles: exact critical points of linear networks (dense
``torch.func.hessian`` at float64), per-sample gradients by a plain loop, and the same data
batched in different ways."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader, TensorDataset

from descentlab.nn import check_point
from descentlab.nn.tasks import build_model, make_moons

torch.set_num_threads(1)
F64 = torch.float64


def flat_loss(net, loss_fn, X, Y, weight_decay=0.0):
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(t):
        p, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            p[n] = t[i : i + s.numel()].view(s)
            i += s.numel()
        return loss_fn(functional_call(net, p, (X,)), Y) + 0.5 * weight_decay * (t * t).sum()

    return loss, theta


def oracle(net, loss_fn, X, Y, weight_decay=0.0):
    """Eigenvalues of the dense Hessian and the gradient norm, by torch.func at float64."""
    loss, theta = flat_loss(net, loss_fn, X, Y, weight_decay)
    ev = torch.linalg.eigvalsh(torch.func.hessian(loss)(theta))
    return ev, float(torch.func.grad(loss)(theta).norm())


# -- exact critical points of a linear network y = W2 W1 x --------------------------------------
def whitened_data(n=60, sv=(3.0, 2.0, 1.0), seed=0):
    """Inputs with XᵀX/N = I and targets Y = X Aᵀ, A with singular values ``sv``."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, 3, generator=g, dtype=F64))
    X = Q * math.sqrt(n)
    U, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=F64))
    return X, X @ (U @ torch.diag(torch.tensor(sv, dtype=F64)) @ V.T).T


def linear_critical_point(X, Y, subset, gauge):
    """Baldi & Hornik (1989): with whitened inputs, W2 = U_S C, W1 = C⁻¹ U_Sᵀ Σ_YX is a
    critical point for every subset S of the left singular vectors of Σ_YX and every invertible
    gauge C; S = the top two is the global minimum, any other S a saddle. A gauge change is a
    linear change of parameters, so the Hessians at one S are congruent: same index."""
    syx = Y.T @ X / X.shape[0]
    U, _, _ = torch.linalg.svd(syx)
    us = U[:, list(subset)]
    net = nn.Sequential(nn.Linear(3, 2, bias=False), nn.Linear(2, 3, bias=False)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.linalg.solve(gauge, us.T @ syx))
        net[1].weight.copy_(us @ gauge)
    return net


GAUGES = {
    "identity": torch.eye(2, dtype=F64),
    "diag(10, 0.1)": torch.diag(torch.tensor([10.0, 0.1], dtype=F64)),
    "general": torch.tensor([[1.0, 2.0], [0.5, 3.0]], dtype=F64),
    "diag(3.65, 1/3.65)": torch.diag(torch.tensor([3.6466, 1 / 3.6466], dtype=F64)),
}


@pytest.mark.parametrize("subset,index", [((0, 2), 1), ((1, 2), 2)])
def test_linear_network_saddles_have_the_exact_index_at_every_gauge(subset, index):
    X, Y = whitened_data()
    for name, C in GAUGES.items():
        net = linear_critical_point(X, Y, subset, C)
        ev, gnorm = oracle(net, nn.MSELoss(), X, Y)
        assert gnorm < 1e-12
        assert int((ev < -1e-8).sum()) == index, name  # the oracle's index
        c = check_point(net, nn.MSELoss(), (X, Y), batch_size=25)
        assert c.verdict == "saddle", f"{name}: {c.summary}"
        assert c.index == index and c.index_exact, name
        torch.testing.assert_close(torch.tensor(c.eigenvalues, dtype=F64), ev, rtol=0, atol=1e-11)
    # the Lanczos path, at the worst-conditioned gauge (lambda_min / lambda_max = -1.5e-4)
    net = linear_critical_point(X, Y, subset, GAUGES["diag(10, 0.1)"])
    ev, _ = oracle(net, nn.MSELoss(), X, Y)
    c = check_point(net, nn.MSELoss(), (X, Y), exact_below=0, lanczos_tol=1e-10)
    assert c.verdict == "saddle" and c.index == index and c.index_exact, str(c)
    assert c.lambda_min == pytest.approx(float(ev[0]), rel=1e-8)


def test_linear_network_global_minimum_is_degenerate_never_a_saddle():
    # the gauge group GL(2) leaves the loss unchanged: 4 exactly flat directions
    X, Y = whitened_data()
    for name, C in GAUGES.items():
        net = linear_critical_point(X, Y, (0, 1), C)
        ev, _ = oracle(net, nn.MSELoss(), X, Y)
        assert ev[0] > -1e-10 and int((ev.abs() < 1e-9).sum()) == 4
        c = check_point(net, nn.MSELoss(), (X, Y))
        assert c.verdict == "degenerate", f"{name}: {c.summary}"
        assert c.index == 0
        assert any("4 eigenvalue(s) within" in n for n in c.notes)


def test_weak_but_certain_negative_curvature_is_a_saddle_not_a_minimum():
    # the case: |grad| ~ 1e-14, lambda_min = -0.39 next to lambda_max = 47 (0.83%)
    X, Y = whitened_data()
    net = linear_critical_point(X, Y, (0, 2), GAUGES["diag(3.65, 1/3.65)"])

    def loss_fn(out, target):
        return 2.65079 * nn.functional.mse_loss(out, target)

    ev, gnorm = oracle(net, loss_fn, X, Y)
    assert float(ev[0]) == pytest.approx(-0.39, abs=1e-3)
    assert float(ev[-1]) == pytest.approx(47.0, abs=1e-2) and gnorm < 1e-12
    assert -ev[0] / ev[-1] < 0.01  # below the former 1%-of-lambda_max rule
    for exact_below in (400, 0):
        c = check_point(net, loss_fn, (X, Y), exact_below=exact_below, lanczos_tol=1e-10)
        assert c.verdict == "saddle" and c.weak_negative, c.summary
        assert c.summary.startswith("saddle, weak negative curvature: lambda_min = -0.39")
        assert c.lambda_min == pytest.approx(float(ev[0]), rel=1e-8)
        assert c.evidence["lambda_min"]["upper"] < -c.thresholds["curvature_scale"]
        assert c.index == 1 and c.index_exact


# -- the same data however it is batched ----------------------------------------------------------
N = 1000
WD = 1e-3


def _train(net, loss_fn, X, y, steps):
    opt = torch.optim.LBFGS(
        net.parameters(),
        lr=1,
        max_iter=steps,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=30,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        penalty = sum((p * p).sum() for p in net.parameters())
        loss = loss_fn(net(X), y) + 0.5 * WD * penalty
        loss.backward()
        return loss

    opt.step(closure)
    return net


@pytest.fixture(scope="module")
def moons_models():
    task = make_moons(N, noise=0.2, seed=3)
    loss_fn = nn.CrossEntropyLoss()
    strict = _train(build_model("mlp", task, seed=0, hidden=4), loss_fn, task.X, task.y, 1000)
    early = _train(build_model("mlp", task, seed=0, hidden=4), loss_fn, task.X, task.y, 12)
    # the case: the former rule said "descending" as a pair or in batches of 400 and
    # "minimum" in batches of 100 or 300 (|g| = 1.1e-2 between grad_tol and 2 batch SEs)
    mid = _train(build_model("mlp", task, seed=0, hidden=4), loss_fn, task.X, task.y, 40)
    return task, loss_fn, {"strict minimum": strict, "early stop": early, "former flip": mid}


def batchings(task):
    ds = TensorDataset(task.X, task.y)
    g = torch.Generator().manual_seed(7)
    return {
        "pair": dict(data=(task.X, task.y)),
        "pair/400": dict(data=(task.X, task.y), batch_size=400),  # 400, 400, 200
        "loader/100": dict(data=DataLoader(ds, batch_size=100)),
        "loader/300": dict(data=DataLoader(ds, batch_size=300)),  # last batch of 100
        "loader/400 shuffled": dict(data=DataLoader(ds, batch_size=400, shuffle=True, generator=g)),
    }


def test_same_data_same_verdict_however_batched(moons_models):
    task, loss_fn, models = moons_models
    for label, net in models.items():
        ev, gnorm = oracle(net, loss_fn, task.X, task.y, WD)
        checks = {
            name: check_point(net, loss_fn, weight_decay=WD, **kw)
            for name, kw in batchings(task).items()
        }
        ref = checks["pair"]
        assert ref.grad_norm == pytest.approx(gnorm, rel=1e-9)
        for name, c in checks.items():
            assert c.verdict == ref.verdict, f"{label}, {name}: {c.summary} vs {ref.summary}"
            for key in ("grad_norm", "grad_stderr", "lambda_min", "lambda_max"):
                assert getattr(c, key) == pytest.approx(getattr(ref, key), rel=1e-8), key
            assert c.thresholds["grad_threshold"] == pytest.approx(
                ref.thresholds["grad_threshold"], rel=1e-8
            )
            assert c.lambda_min == pytest.approx(float(ev[0]), rel=1e-8, abs=1e-12)
        if label == "strict minimum":
            assert ref.verdict == "minimum" and ev[0] > 0, ref.summary
        if label == "former flip":  # |g| within noise, lambda_min = 5.8e-4 below tau = 4.3e-2
            assert ref.verdict == "degenerate", ref.summary
            assert 0 < ref.lambda_min < ref.thresholds["curvature_scale"]
    # and on the Lanczos path
    net = models["strict minimum"]
    ev, _ = oracle(net, loss_fn, task.X, task.y, WD)
    for name in ("pair", "loader/300", "loader/400 shuffled"):
        kw = batchings(task)[name]
        c = check_point(
            net, loss_fn, weight_decay=WD, exact_below=0, lanczos_tol=1e-10, density_vectors=0, **kw
        )
        assert c.verdict == "minimum" and c.converged, c.summary
        assert c.lambda_min == pytest.approx(float(ev[0]), rel=1e-7)
        assert c.lambda_max == pytest.approx(float(ev[-1]), rel=1e-7)


def test_gradient_noise_equals_a_per_sample_loop(moons_models):
    task, loss_fn, models = moons_models
    net = models["early stop"]
    _, theta = flat_loss(net, loss_fn, task.X, task.y)
    rows = []
    for i in range(0, N, 97):  # every 97th sample, a subset with its own oracle
        li, _ = flat_loss(net, loss_fn, task.X[i : i + 1], task.y[i : i + 1])
        rows.append(torch.func.grad(li)(theta))
    G = torch.stack(rows)
    m = G.shape[0]
    se = math.sqrt(float(((G - G.mean(0)) ** 2).sum()) / (m * (m - 1)))
    idx = list(range(0, N, 97))
    c = check_point(net, loss_fn, (task.X[idx], task.y[idx]), density_vectors=0)
    assert c.grad_stderr == pytest.approx(se, rel=1e-10)
    assert c.thresholds["grad_threshold"] == pytest.approx(max(1e-3, 2 * se), rel=1e-10)
    assert "per-sample gradients" in c.summary


def test_unconverged_lambda_min_is_unresolved_not_minimum(moons_models):
    task, loss_fn, models = moons_models
    net = models["strict minimum"]
    kw = dict(weight_decay=WD, exact_below=0, lanczos_tol=1e-10, density_vectors=0)
    short = check_point(net, loss_fn, (task.X, task.y), lanczos_max_steps=4, **kw)
    assert short.verdict == "unresolved" and not short.evidence["lambda_min"]["converged"]
    assert short.evidence["lanczos"]["budget_exhausted"]
    assert "lanczos_max_steps" in short.summary
    full = check_point(net, loss_fn, (task.X, task.y), lanczos_max_steps=200, **kw)
    assert full.verdict == "minimum" and full.converged


def test_without_per_sample_noise_the_threshold_is_grad_tol_and_says_so(moons_models):
    task, _, models = moons_models
    net = models["early stop"]
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0], dtype=F64))  # not a mean
    for kw in ({"data": (task.X, task.y)}, {"data": (task.X, task.y), "batch_size": 300}):
        c = check_point(net, weighted, density_vectors=0, **kw)
        assert c.grad_stderr is None and c.thresholds["grad_threshold"] == 1e-3
        assert any("not an average of per-sample losses" in n for n in c.notes)
        assert c.verdict == "descending"
    c = check_point(net, nn.CrossEntropyLoss(), (task.X, task.y), mode="train", density_vectors=0)
    assert c.grad_stderr is None and any("train mode" in n for n in c.notes)


def test_an_unconverged_negative_ritz_value_still_proves_a_saddle():
    # two Lanczos steps: lambda_min has not converged, but its Ritz value is the Rayleigh
    # quotient of an explicit direction, so lambda_min <= it < 0 is certain
    X, Y = whitened_data()
    net = linear_critical_point(X, Y, (1, 2), GAUGES["general"])
    ev, _ = oracle(net, nn.MSELoss(), X, Y)
    c = check_point(net, nn.MSELoss(), (X, Y), exact_below=0, lanczos_max_steps=3, k=1)
    assert not c.evidence["lambda_min"]["converged"]
    assert c.verdict == "saddle" and c.index is None and c.index_lower_bound >= 1, c.summary
    assert float(ev[0]) <= c.lambda_min < 0
