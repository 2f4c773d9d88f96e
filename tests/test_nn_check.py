"""check_point verdicts on points whose nature is known exactly."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.func import functional_call

from descentlab.errors import InvalidParameterError
from descentlab.nn import check_point
from descentlab.nn.tasks import build_model, make_moons

torch.set_num_threads(1)
F64 = torch.float64


def oracle_eigvalsh(model, loss_fn, X, y, weight_decay=0.0):
    m = model
    names = [n for n, _ in m.named_parameters()]
    shapes = [p.shape for p in m.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in m.parameters()])

    def loss(t):
        p, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            p[n] = t[i : i + s.numel()].view(s)
            i += s.numel()
        return loss_fn(functional_call(m, p, (X,)), y) + 0.5 * weight_decay * (t * t).sum()

    return torch.linalg.eigvalsh(torch.func.hessian(loss)(theta))


def test_origin_of_a_product_of_weights_is_an_index_one_saddle():
    # L(w1, w2) = mean((w2 w1 x - y)^2); at 0: grad 0, Hessian [[0, -2E[xy]], [-2E[xy], 0]]
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    X = torch.tensor([[1.0], [2.0], [-0.5]], dtype=F64)
    y = torch.tensor([[1.5], [3.0], [0.25]], dtype=F64)
    exy = float((X * y).mean())
    for exact_below in (400, 0):  # dense path, and Lanczos + SLQ path
        c = check_point(net, nn.MSELoss(), (X, y), exact_below=exact_below)
        assert c.verdict == "saddle"
        assert c.grad_norm == 0.0
        assert c.lambda_min == pytest.approx(-2 * exy, rel=1e-12)
        assert c.lambda_max == pytest.approx(2 * exy, rel=1e-12)
        assert c.ratio == pytest.approx(1.0, rel=1e-12)
    assert c.index_lower_bound == 1 and c.index_estimate == 1 and c.index == 1
    c = check_point(net, nn.MSELoss(), (X, y))
    assert c.index == 1 and c.negative_fraction == 0.5


def test_all_hidden_units_equal_at_zero_is_a_saddle_with_the_oracle_index():
    task = make_moons(64, noise=0.1, seed=1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    with torch.no_grad():  # every hidden unit identical (zero); output bias = optimal constant
        for p in net.parameters():
            p.zero_()
        frac = task.y.double().mean()
        net[2].bias.copy_(torch.log(torch.stack([1 - frac, frac])))
    loss_fn = nn.CrossEntropyLoss()
    c = check_point(net, loss_fn, (task.X, task.y), batch_size=16)
    ev = oracle_eigvalsh(net, loss_fn, task.X, task.y)
    assert c.verdict == "saddle", str(c)
    assert c.grad_norm < 1e-12
    assert c.index == int((ev < -1e-6).sum()) == 3  # one descent direction per hidden unit
    torch.testing.assert_close(torch.tensor(c.eigenvalues, dtype=F64), ev, rtol=0, atol=1e-12)
    assert "saddle" in str(c) and "index 3" in c.summary
    # Lanczos path: the eigenvalue -0.45 is triple (three identical units); single-vector
    # Lanczos sees it once, the deflated runs find the other two copies and prove there is no 4th
    c2 = check_point(net, loss_fn, (task.X, task.y), exact_below=0, lanczos_tol=1e-9)
    assert c2.verdict == "saddle" and c2.index == 3 and c2.index_lower_bound == 3
    assert c2.lambda_min == pytest.approx(float(ev[0]), rel=1e-6)
    assert "deflated Lanczos" in str(c2)


WD = 1e-3


def trained_mlp():
    """A 2-4-2 tanh MLP on two moons, trained by L-BFGS with weight decay to a strict minimum."""
    task = make_moons(128, noise=0.2, seed=1)
    net = build_model("mlp", task, seed=0, hidden=4)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.LBFGS(
        net.parameters(),
        lr=1,
        max_iter=1000,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=30,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        penalty = sum((p * p).sum() for p in net.parameters())
        loss = loss_fn(net(task.X), task.y) + 0.5 * WD * penalty
        loss.backward()
        return loss

    opt.step(closure)
    return net, loss_fn, task.X, task.y


@pytest.fixture(scope="module")
def trained():
    return trained_mlp()


def test_trained_mlp_is_near_a_strict_minimum(trained):
    net, loss_fn, X, y = trained
    assert (net(X).argmax(1) == y).double().mean() > 0.9
    ev = oracle_eigvalsh(net, loss_fn, X, y, WD)
    # the eigenvalues that prove it (seed 0): lambda_min ~ 6.4e-4 > 0, lambda_max ~ 0.94
    assert ev[0] > 5e-4 and 0.5 < ev[-1] < 2
    c = check_point(net, loss_fn, (X, y), batch_size=32, weight_decay=WD)
    assert c.verdict == "minimum", str(c)
    assert c.index == 0 and c.grad_norm < 1e-6
    torch.testing.assert_close(torch.tensor(c.eigenvalues, dtype=F64), ev, rtol=1e-9, atol=1e-12)
    # Lanczos path gives the same ends to 1e-6 relative
    c2 = check_point(
        net, loss_fn, (X, y), batch_size=32, weight_decay=WD, exact_below=0, k=2, lanczos_tol=1e-9
    )
    assert c2.verdict == "minimum" and c2.converged
    assert c2.lambda_min == pytest.approx(float(ev[0]), rel=1e-6)
    assert c2.lambda_max == pytest.approx(float(ev[-1]), rel=1e-6)
    assert c2.index_lower_bound == 0 and c2.index_estimate == 0
    # uncertainty over batches: each batch's lambda_max from its own Hessian
    per_batch = [
        float(oracle_eigvalsh(net, loss_fn, X[i : i + 32], y[i : i + 32], WD)[-1])
        for i in range(0, 128, 32)
    ]
    spread = c.batch_spread["lambda_max"]
    assert spread["n"] == 4
    assert spread["mean"] == pytest.approx(sum(per_batch) / 4, rel=1e-6)
    d = c.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["verdict"] == "minimum" and d["setup"]["mode"] == "eval"
    assert d["setup"]["weight_decay"] == WD


def test_descending_and_plateau(trained):
    net, loss_fn, X, y = trained
    moved = build_model("mlp", make_moons(4), hidden=4)
    moved.load_state_dict(net.state_dict())
    with torch.no_grad():  # a shift of 1 gives |g| = 0.19, within 2 SE = 0.22 of sampling noise
        moved[2].bias[0] += 5.0
    c = check_point(moved, loss_fn, (X, y), weight_decay=WD)
    assert c.verdict == "descending", c.summary
    assert c.grad_norm > c.thresholds["grad_threshold"] > 2 * c.grad_stderr - 1e-15
    # dead ReLUs and no output bias: the loss is constant around here, the Hessian exactly 0
    dead = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1, bias=False)).double()
    with torch.no_grad():
        dead[0].weight.zero_()
        dead[0].bias.fill_(-1.0)
    c = check_point(dead, nn.MSELoss(), (X, y.double().unsqueeze(1)))
    assert c.verdict == "plateau" and c.lambda_max == 0.0 and c.lambda_min == 0.0


def test_validation():
    net = nn.Linear(2, 1).double()
    X, y = torch.zeros(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)
    with pytest.raises(InvalidParameterError, match="grad_tol must be > 0"):
        check_point(net, nn.MSELoss(), (X, y), grad_tol=0)
    with pytest.raises(InvalidParameterError, match="k must be a positive integer"):
        check_point(net, nn.MSELoss(), (X, y), k=0)
    with pytest.raises(InvalidParameterError, match="not finite"):
        check_point(net, nn.MSELoss(), (X * float("nan"), y))
