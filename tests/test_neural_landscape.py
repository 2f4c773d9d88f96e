"""network_landscape against the model itself.

Oracles: each row's value is the loss of a copy of the model with that row loaded by
``torch.nn.utils.vector_to_parameters``; gradients are ``torch.autograd`` on that copy; the
Hessian of a tiny net is ``torch.func.hessian`` of ``functional_call`` at float64; the engine's
Adam run equals ``torch.optim.Adam`` stepped on a copy of the model. The model is never
modified. Named entries: ``product_model`` against ``1/2 (1 - w1 w2)^2`` and its exact critical
set; ``xor_net``'s listed point against the hand-derived gradient, Hessian and quartic descent.
"""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from descentlab.engine import run
from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.landscapes import get_landscape, network_landscape
from descentlab.landscapes.neural import xor_data

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _mlp(seed=0, sizes=(3, 4, 2), act=nn.Tanh):
    torch.manual_seed(seed)
    layers = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1]).double()


def _data(n=10, d_in=3, d_out=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=g, dtype=F64), torch.randn(
        n, d_out, generator=g, dtype=F64
    )


def _oracle_loss_and_grad(model, loss_fn, X, y, theta):
    """Loss and gradient of a fresh copy of ``model`` with ``theta`` loaded (plain autograd)."""
    net = copy.deepcopy(model)
    vector_to_parameters(theta.clone(), net.parameters())
    net.zero_grad()
    loss = loss_fn(net(X), y)
    loss.backward()
    return loss.detach(), torch.cat([p.grad.reshape(-1) for p in net.parameters()])


def _snapshot(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        model.training,
        [p.requires_grad for p in model.parameters()],
        [p.grad for p in model.parameters()],
    )


def _unchanged(model, snap):
    state, training, req, grads = snap
    now = model.state_dict()
    assert all(torch.equal(now[k], v) for k, v in state.items())
    assert model.training == training
    assert [p.requires_grad for p in model.parameters()] == req
    assert all(g is None for g in grads) and all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("method", ["vmap", "bmm", "auto"])
def test_rows_equal_the_model_loss_and_autograd(method):
    model = _mlp()
    snap = _snapshot(model)
    X, y = _data()
    L = network_landscape(model, nn.MSELoss(), (X, y), method=method)
    assert L.method == ("vmap" if method == "vmap" else "bmm")
    assert L.dim == sum(p.numel() for p in model.parameters()) == 26
    P = L.sample(7, seed=3)
    v, G = L.value_and_grad(P)
    for i in range(len(P)):
        ref_v, ref_g = _oracle_loss_and_grad(model, nn.MSELoss(), X, y, P[i])
        torch.testing.assert_close(v[i], ref_v, rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(G[i], ref_g, rtol=1e-12, atol=1e-14)
    _unchanged(model, snap)


@pytest.mark.parametrize("method", ["vmap", "bmm"])
def test_hessian_of_a_tiny_net_equals_torch_func(method):
    model = _mlp(seed=2, sizes=(2, 2, 1))
    X, y = _data(6, 2, 1, seed=4)
    L = network_landscape(model, nn.MSELoss(), (X, y), method=method)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def scalar(theta):
        parts = torch.split(theta, [math.prod(s) for s in shapes])
        p = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes, strict=True)}
        return nn.functional.mse_loss(functional_call(model, p, (X,)), y)

    P = L.sample(3, seed=5)
    H = L.hessian(P)
    for i in range(3):
        torch.testing.assert_close(H[i], torch.func.hessian(scalar)(P[i]), rtol=1e-11, atol=1e-12)


def test_general_module_uses_vmap_and_matches():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 2)

        def forward(self, x):
            return self.b(x + torch.sin(self.a(x)))

    torch.manual_seed(0)
    model = Residual().double()
    X, y = _data()
    L = network_landscape(model, nn.MSELoss(), (X, y))
    assert L.method == "vmap"
    with pytest.raises(InvalidParameterError, match="bmm"):
        network_landscape(model, nn.MSELoss(), (X, y), method="bmm")
    P = L.sample(4, seed=0)
    for i, (v, g) in enumerate(zip(*L.value_and_grad(P), strict=True)):
        ref_v, ref_g = _oracle_loss_and_grad(model, nn.MSELoss(), X, y, P[i])
        torch.testing.assert_close(v, ref_v, rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(g, ref_g, rtol=1e-12, atol=1e-14)


def test_batches_weights_weight_decay_and_classification():
    model = _mlp(seed=3, sizes=(3, 5, 3), act=nn.ReLU)
    X, _ = _data(11)
    y = torch.arange(11) % 3
    wd = 0.1
    L = network_landscape(model, nn.CrossEntropyLoss(), (X, y), batch_size=4, weight_decay=wd)
    assert L.method == "bmm"
    Lv = network_landscape(
        model, nn.CrossEntropyLoss(), (X, y), batch_size=4, weight_decay=wd, method="vmap"
    )
    P = L.sample(5, seed=1)
    for i in range(5):
        # full-data mean of the batch means, weighted by batch sizes = the mean over all rows
        ref_v, ref_g = _oracle_loss_and_grad(model, nn.CrossEntropyLoss(), X, y, P[i])
        ref_v = ref_v + 0.5 * wd * P[i].dot(P[i])
        ref_g = ref_g + wd * P[i]
        for land in (L, Lv):
            v, g = land.value_and_grad(P[i])
            torch.testing.assert_close(v[0], ref_v, rtol=1e-13, atol=1e-14)
            torch.testing.assert_close(g[0], ref_g, rtol=1e-12, atol=1e-14)


def test_selected_parameters_only_and_domain_box():
    model = _mlp()
    X, y = _data()
    L = network_landscape(model, nn.MSELoss(), (X, y), params=["2.weight", "2.bias"], radius=0.5)
    assert L.method == "vmap" and L.dim == 10
    theta0 = torch.cat([model[2].weight.reshape(-1), model[2].bias]).detach()
    torch.testing.assert_close(L.theta0, theta0)
    box = L.domain_tensor()
    torch.testing.assert_close(box[:, 0], theta0 - 0.5)
    torch.testing.assert_close(box[:, 1], theta0 + 0.5)
    P = L.sample(3, seed=2)
    full = parameters_to_vector(model.parameters()).detach()
    for i in range(3):
        theta = full.clone()
        theta[-10:] = P[i]
        ref_v, ref_g = _oracle_loss_and_grad(model, nn.MSELoss(), X, y, theta)
        v, g = L.value_and_grad(P[i])
        torch.testing.assert_close(v[0], ref_v, rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(g[0], ref_g[-10:], rtol=1e-12, atol=1e-14)
    net = L.module_at(P[0])
    assert torch.equal(net[2].bias, P[0][-2:]) and torch.equal(net[0].weight, model[0].weight)


def test_train_mode_batchnorm_and_dropout_match_modelloss():
    from descentlab.nn.objective import ModelLoss

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Dropout(0.3), nn.Linear(4, 1)
    ).double()
    snap = _snapshot(model)
    X, y = _data(12, 3, 1)
    L = network_landscape(model, nn.MSELoss(), (X, y), mode="train", batch_size=5)
    obj = ModelLoss(model, nn.MSELoss(), (X, y), mode="train", batch_size=5)
    P = L.sample(3, seed=0)
    v, G = L.value_and_grad(P)
    for i in range(3):
        ref_v, ref_g = obj.loss_and_grad(P[i])
        torch.testing.assert_close(v[i], ref_v, rtol=1e-13, atol=1e-14)
        torch.testing.assert_close(G[i], ref_g, rtol=1e-12, atol=1e-14)
    _unchanged(model, snap)


def test_engine_adam_equals_torch_optim_on_the_model():
    model = _mlp(seed=5, sizes=(3, 3, 2))
    snap = _snapshot(model)
    X, y = _data(8)
    L = network_landscape(model, nn.MSELoss(), (X, y))
    starts = L.sample(3, seed=4)
    traj = run(L, "adam", starts, 25, lr=0.05, grad_tol=0.0, progress=False)
    for i in range(3):
        net = copy.deepcopy(model)
        vector_to_parameters(starts[i].clone(), net.parameters())
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(25):
            opt.zero_grad()
            nn.functional.mse_loss(net(X), y).backward()
            opt.step()
        ref = parameters_to_vector(net.parameters()).detach().numpy()
        assert abs(traj.final_points[i] - ref).max() <= 1e-12
    _unchanged(model, snap)


@pytest.mark.filterwarnings("ignore:Using a target size")
def test_bad_input_is_a_clear_error():
    model = _mlp()
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="method"):
        network_landscape(model, nn.MSELoss(), (X, y), method="loop")
    with pytest.raises(InvalidParameterError, match="radius"):
        network_landscape(model, nn.MSELoss(), (X, y), radius=0)
    with pytest.raises(InvalidParameterError, match=r"nn\.Module"):
        network_landscape("net", nn.MSELoss(), (X, y))
    for method in ("vmap", "bmm"):
        with pytest.raises(DescentlabError, match="scalar"):
            network_landscape(model, nn.MSELoss(reduction="none"), (X, y), method=method)
        # data that do not fit the model: one clear error when the landscape is built
        with pytest.raises(DescentlabError, match="cannot evaluate the loss"):
            network_landscape(model, nn.MSELoss(), (X[:, :2], y), method=method)
        with pytest.raises(DescentlabError, match="cannot evaluate the loss"):
            network_landscape(model, nn.MSELoss(), (X, y[:, :1].repeat(1, 3)), method=method)


# --------------------------------------------------------------------------- named entries
def test_product_model_closed_form_and_critical_set():
    L = get_landscape("product_model")
    assert L.dim == 2 and not L.complete and L.global_min_value == 0.0
    W = L.sample(50, seed=0)
    w1, w2 = W[:, 0], W[:, 1]
    torch.testing.assert_close(L.value(W), 0.5 * (1 - w1 * w2) ** 2, rtol=1e-15, atol=1e-16)
    ref_g = torch.stack([-(1 - w1 * w2) * w2, -(1 - w1 * w2) * w1], 1)
    torch.testing.assert_close(L.grad(W), ref_g, rtol=1e-14, atol=1e-15)
    (origin,) = L.critical_points
    assert (origin.point, origin.kind, origin.index, origin.value) == ((0.0, 0.0), "saddle", 1, 0.5)
    H = L.hessian(torch.zeros(1, 2, dtype=F64))[0]
    assert H.tolist() == [[0.0, -1.0], [-1.0, 0.0]]
    assert torch.linalg.eigvalsh(H).tolist() == [-1.0, 1.0] == list(origin.eigenvalues)
    # the hyperbola w1 w2 = 1: zero gradient, Hessian eigenvalues 0 and w1^2 + w2^2
    a = torch.tensor([0.5, 1.0, 2.0, -1.25], dtype=F64)
    Q = torch.stack([a, 1 / a], 1)
    assert float(L.grad(Q).abs().max()) <= 1e-15 and float(L.value(Q).abs().max()) <= 1e-30
    ev = torch.linalg.eigvalsh(L.hessian(Q))
    torch.testing.assert_close(ev[:, 0], torch.zeros(4, dtype=F64), rtol=0, atol=1e-14)
    torch.testing.assert_close(ev[:, 1], a**2 + 1 / a**2, rtol=1e-14, atol=0)


def test_xor_net_listed_point_and_its_descent_direction():
    L = get_landscape("xor_net")
    assert L.dim == 9 and L.global_min_value == 0.0 and not L.complete
    (c,) = L.critical_points
    x = torch.tensor([c.point], dtype=F64)
    assert float(L.value(x)[0]) == c.value == 0.25
    assert float(L.grad(x).abs().max()) == 0.0
    H = L.hessian(x)[0]
    assert torch.equal(H, torch.diag(torch.tensor([0.0] * 8 + [2.0], dtype=F64)))
    assert c.kind == "degenerate" and list(c.eigenvalues) == [0.0] * 8 + [2.0]
    # not a minimum: W1_0 = (2t, 2t), b1_0 = 2t, v_0 = t gives 1/4 - 4 t^4 + O(t^6)
    v = torch.zeros(9, dtype=F64)
    v[[0, 1, 4]] = 2.0
    v[6] = 1.0
    for t in (1e-2, 2e-2):
        ratio = (float(L.value(x + t * v)[0]) - 0.25) / t**4
        assert ratio == pytest.approx(-4.0, rel=5e-3)


def test_xor_net_global_minimum_zero_is_attained():
    """``v_0 = -v_1 = v``, ``W1_j = (s, s)``, ``b1 = (c, -c)``: out depends on u = x1 + x2,
    ``out(0) = b2 + 2 v tanh(c) = 1`` and ``out(±2) = b2 + v (tanh(2s + c) - tanh(2s - c)) = 0``."""
    L = get_landscape("xor_net")
    s, c = 1.0, 0.5
    k0 = 2 * math.tanh(c)
    k2 = math.tanh(2 * s + c) - math.tanh(2 * s - c)
    vv = 1.0 / (k0 - k2)
    b2 = -vv * k2
    theta = torch.tensor([s, s, s, s, c, -c, vv, -vv, b2], dtype=F64)
    assert float(L.value(theta)[0]) <= 1e-30
    X, y = xor_data()
    net = L.module_at(theta)
    torch.testing.assert_close(net(X), y, rtol=0, atol=1e-15)


def test_named_networks_are_seeded_and_reject_bad_seeds():
    a, b = get_landscape("xor_net", seed=1), get_landscape("xor_net", seed=1)
    assert torch.equal(a.theta0, b.theta0)
    assert not torch.equal(a.theta0, get_landscape("xor_net", seed=2).theta0)
    with pytest.raises(InvalidParameterError, match="seed"):
        get_landscape("xor_net", seed=-3)


def test_docstring_examples_run():
    import doctest

    from descentlab.landscapes import neural as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0
