"""HVP operator: equals the full torch.func.hessian product at float64; never mutates the model."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.nn import HessianOperator, ModelLoss, as_batches

torch.set_num_threads(1)
F64 = torch.float64


def full_hessian(model, loss_fn, X, y, names=None):
    """Oracle: torch.func.hessian of the whole-data loss in one forward (eval mode copy)."""
    m = copy.deepcopy(model).eval()
    named = dict(m.named_parameters())
    names = names or list(named)
    shapes = [named[n].shape for n in names]
    theta = torch.cat([named[n].detach().reshape(-1) for n in names])

    def loss(t):
        p, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            p[n] = t[i : i + s.numel()].view(s)
            i += s.numel()
        return loss_fn(functional_call(m, p, (X,)), y)

    return torch.func.hessian(loss)(theta)


def mlp(act):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), act(), nn.Linear(4, 2)).double()


def cnn(bn=False):
    torch.manual_seed(1)
    layers = [nn.Conv2d(1, 2, 3)]
    if bn:
        layers.append(nn.BatchNorm2d(2))
    layers += [nn.Tanh(), nn.Flatten(), nn.Linear(2 * 3 * 3, 3)]
    return nn.Sequential(*layers).double()


def data_vec(n=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=F64), torch.randint(0, 2, (n,), generator=g)


def data_img(n=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 5, 5, generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g)


def bn_model():
    net = cnn(bn=True)
    net.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            net(torch.randn(8, 1, 5, 5, dtype=F64) * 2 + 0.5)
    return net


CASES = {
    "mlp-tanh": (lambda: mlp(nn.Tanh), data_vec),
    "mlp-relu": (lambda: mlp(nn.ReLU), data_vec),
    "cnn": (cnn, data_img),
    "cnn-batchnorm-eval": (bn_model, data_img),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("method", ["func", "autograd", "autograd-no-reuse"])
def test_hvp_matches_full_hessian(case, method):
    make, make_data = CASES[case]
    net = make()
    X, y = make_data()
    loss_fn = nn.CrossEntropyLoss()
    Hfull = full_hessian(net, loss_fn, X, y)
    # uneven batches (4, 4, 3 / 4, 4, 1): the sample-count weighting must recover the full mean
    reuse = method != "autograd-no-reuse"
    method = method.removesuffix("-no-reuse")
    H = HessianOperator(net, loss_fn, (X, y), batch_size=4, method=method, reuse_graph=reuse)
    assert H.info()["mode"] == "eval" and H.objective.method == method
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        v = torch.randn(H.n, generator=g, dtype=F64)
        torch.testing.assert_close(H @ v, Hfull @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.dense(), Hfull, rtol=1e-10, atol=1e-12)


def test_gradient_matches_autograd_and_batch_weighting():
    net = mlp(nn.Tanh)
    X, y = data_vec(10)
    f = ModelLoss(net, nn.CrossEntropyLoss(), (X, y), batch_size=3)
    loss, g = f.loss_and_grad()
    ref = nn.CrossEntropyLoss()(net(X), y)
    gref = torch.autograd.grad(ref, list(net.parameters()))
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(g, torch.cat([t.reshape(-1) for t in gref]), rtol=1e-10, atol=1e-13)
    # a summing loss_fn with reduction="sum" is the same function
    f2 = ModelLoss(net, nn.CrossEntropyLoss(reduction="sum"), (X, y), batch_size=3, reduction="sum")
    torch.testing.assert_close(f2.loss(), loss, rtol=1e-12, atol=0)


def test_dataloader_and_selected_parameters():
    net = mlp(nn.Tanh)
    X, y = data_vec(12)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=5)
    names = ["2.weight", "2.bias"]
    H = HessianOperator(net, nn.CrossEntropyLoss(), loader, params=names)
    assert H.n == 4 * 2 + 2 and H.info()["n_batches"] == 3
    Hfull = full_hessian(net, nn.CrossEntropyLoss(), X, y, names)
    torch.testing.assert_close(H.dense(), Hfull, rtol=1e-10, atol=1e-12)
    # predicate selection
    H2 = HessianOperator(net, nn.CrossEntropyLoss(), loader, params=lambda n, p: n.startswith("2."))
    assert H2.objective.param_names == names


def test_no_mutation_of_model_buffers_flag_and_optimizer():
    net = bn_model()
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    X, y = data_img()
    nn.CrossEntropyLoss()(net(X), y).backward()
    opt.step()
    state = copy.deepcopy(net.state_dict())
    opt_state = copy.deepcopy(opt.state_dict())
    grads = [p.grad.clone() for p in net.parameters()]
    for mode in ("eval", "train"):
        H = HessianOperator(net, nn.CrossEntropyLoss(), (X, y), mode=mode, batch_size=4)
        H.dense()
        H.objective.loss_and_grad()
        assert H.info()["mode"] == mode
    assert net.training is True
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    for p, g in zip(net.parameters(), grads, strict=True):
        assert torch.equal(p.grad, g)
    new = opt.state_dict()
    for k in opt_state["state"]:
        for key, val in opt_state["state"][k].items():
            assert torch.equal(torch.as_tensor(new["state"][k][key]), torch.as_tensor(val))


def test_train_mode_uses_batch_statistics_and_fixed_dropout():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Dropout(0.3), nn.Linear(5, 2)
    )
    net = net.double()
    X, y = data_vec(8)
    H = HessianOperator(net, nn.CrossEntropyLoss(), (X, y), mode="train", seed=5)
    v = torch.randn(H.n, dtype=F64)
    # deterministic: the same masks each call, so H is one symmetric matrix
    torch.testing.assert_close(H @ v, H @ v, rtol=0, atol=0)
    D = H.dense()
    torch.testing.assert_close(D, D.T, rtol=0, atol=1e-12)
    # oracle with p=0: reverse-over-reverse autograd.functional.hessian of the batch-stat loss.
    # (torch.func.hessian, vmap-based, disagrees with finite differences for train-mode
    # BatchNorm in torch 2.13, so it is not used as the oracle here.)
    net0 = copy.deepcopy(net)
    net0[3].p = 0.0
    H0 = HessianOperator(net0, nn.CrossEntropyLoss(), (X, y), mode="train")
    m = copy.deepcopy(net0).train()
    torch.func.replace_all_batch_norm_modules_(m)
    names = [n for n, _ in m.named_parameters()]
    shapes = [p.shape for p in m.parameters()]

    def loss(t):
        p, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            p[n] = t[i : i + s.numel()].view(s)
            i += s.numel()
        return nn.CrossEntropyLoss()(functional_call(m, p, (X,)), y)

    theta = torch.cat([p.detach().reshape(-1) for p in m.parameters()])
    ref = torch.autograd.functional.hessian(loss, theta)
    torch.testing.assert_close(H0.dense(), ref, rtol=1e-9, atol=1e-11)
    # and one column against central differences of the gradient
    e = torch.zeros_like(theta)
    e[9] = 1e-5
    grad = torch.func.grad(loss)
    fd = (grad(theta + e) - grad(theta - e)) / 2e-5
    torch.testing.assert_close(H0.dense()[:, 9], fd, rtol=1e-5, atol=1e-7)


def test_float32_model_cast_to_float64():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    X, y = data_vec(6)
    H = HessianOperator(net, nn.CrossEntropyLoss(), (X.float(), y), dtype=F64)
    assert H.dtype == F64 and next(net.parameters()).dtype == torch.float32
    Hfull = full_hessian(net.double(), nn.CrossEntropyLoss(), X.float().double(), y)
    torch.testing.assert_close(H.dense(), Hfull, rtol=1e-10, atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    net = mlp(nn.Tanh)
    X, y = data_vec(5)
    with pytest.raises(InvalidParameterError, match="mode must be one of eval, train"):
        ModelLoss(net, nn.CrossEntropyLoss(), (X, y), mode="inference")
    with pytest.raises(InvalidParameterError, match="unknown parameter name"):
        ModelLoss(net, nn.CrossEntropyLoss(), (X, y), params=["nope"])
    with pytest.raises(InvalidParameterError, match="batch_size"):
        as_batches((X, y), batch_size=0)
    with pytest.raises(InvalidParameterError, match="no batches"):
        as_batches([])
    with pytest.raises(InvalidParameterError, match="scalar"):
        ModelLoss(net, nn.CrossEntropyLoss(reduction="none"), (X, y)).loss()
    with pytest.raises(InvalidParameterError, match="vector of 26"):
        HessianOperator(net, nn.CrossEntropyLoss(), (X, y)) @ torch.ones(3, dtype=F64)
    with pytest.raises(DescentlabError):
        HessianOperator(net, nn.CrossEntropyLoss(), "not data")
