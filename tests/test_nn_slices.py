"""Directions (filter normalisation, orthogonality), slices, interpolation, PCA of a path."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from descentlab.errors import InvalidParameterError
from descentlab.nn import (
    eigen_directions,
    interpolate,
    pca_path,
    random_directions,
    slice_1d,
    slice_2d,
)
from descentlab.nn.directions import direction_cosines
from descentlab.nn.tasks import make_moons

torch.set_num_threads(1)
F64 = torch.float64


def cnn_bn():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 4),
        nn.Tanh(),
        nn.Linear(4, 2),
    ).double()
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(6, 1, 5, 5, dtype=F64) + 1.0)
    net.eval()
    return net


def img_data(n=10):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 5, 5, generator=g, dtype=F64), torch.randint(0, 2, (n,), generator=g)


def direct_loss(model, loss_fn, X, y, theta_dict):
    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        named = dict(m.named_parameters())
        for k, v in theta_dict.items():
            named[k].copy_(v)
        return float(loss_fn(m(X), y))


def test_filter_normalised_orthogonal_directions():
    net = cnn_bn()
    state = copy.deepcopy(net.state_dict())
    for n in (2, 3):
        ds = random_directions(net, n, seed=4)
        for d in ds:
            for name, w in net.named_parameters():
                if w.dim() <= 1:
                    assert torch.count_nonzero(d[name]) == 0, name  # biases and BN excluded
                else:
                    rows_d = d[name].reshape(w.shape[0], -1).norm(dim=1)
                    rows_w = w.detach().reshape(w.shape[0], -1).norm(dim=1)
                    torch.testing.assert_close(rows_d, rows_w, rtol=1e-12, atol=0)
        C = direction_cosines(ds)
        torch.testing.assert_close(C, torch.eye(n, dtype=F64), rtol=0, atol=1e-12)
    # deterministic from the seed; the model is not touched
    a, b = random_directions(net, 2, seed=4), random_directions(net, 2, seed=4)
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0])
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    # ignore=None: 1-D parameters follow the weights; layer normalisation
    d = random_directions(net, 1, ignore=None)[0]
    assert torch.equal(d["1.weight"], net[1].weight.detach())
    d = random_directions(net, 2, norm="layer")
    for name, w in net.named_parameters():
        if w.dim() > 1:
            assert float(d[0][name].norm()) == pytest.approx(float(w.detach().norm()), rel=1e-12)
    with pytest.raises(InvalidParameterError, match="norm must be one of filter, layer, none"):
        random_directions(net, norm="unit")


def test_slices_equal_direct_evaluation_and_vmap_equals_loop():
    net = cnn_bn()
    X, y = img_data()
    loss_fn = nn.CrossEntropyLoss()
    d1, d2 = random_directions(net, 2, seed=1)
    alphas = torch.linspace(-1, 1, 5, dtype=F64)
    s_v = slice_1d(net, loss_fn, (X, y), d1, alphas, batch_size=4, method="vmap")
    s_l = slice_1d(net, loss_fn, (X, y), d1, alphas, batch_size=4, method="loop")
    assert s_v.method == "vmap" and s_l.method == "loop"
    torch.testing.assert_close(s_v.losses, s_l.losses, rtol=1e-12, atol=1e-14)
    base = {k: v.detach() for k, v in net.named_parameters()}
    for a, got in zip(alphas.tolist(), s_v.losses.tolist(), strict=True):
        want = direct_loss(net, loss_fn, X, y, {k: base[k] + a * d1[k] for k in base})
        assert got == pytest.approx(want, rel=1e-12)
    assert s_v.center_loss == pytest.approx(direct_loss(net, loss_fn, X, y, base), rel=1e-12)
    s2 = slice_2d(net, loss_fn, (X, y), d1, d2, [-0.5, 0.0, 0.5], [0.0, 1.0], chunk=4)
    assert s2.losses.shape == (2, 3)
    for i, b in enumerate([0.0, 1.0]):
        for j, a in enumerate([-0.5, 0.0, 0.5]):
            want = direct_loss(
                net, loss_fn, X, y, {k: base[k] + a * d1[k] + b * d2[k] for k in base}
            )
            assert float(s2.losses[i, j]) == pytest.approx(want, rel=1e-12)
    assert s2.to_dict()["losses"][0][1] == pytest.approx(s_v.center_loss, rel=1e-12)


def test_slice_along_the_bottom_eigenvector_shows_the_saddle():
    task = make_moons(64, noise=0.1, seed=1)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    with torch.no_grad():  # the symmetric saddle of test_nn_check
        for p in net.parameters():
            p.zero_()
        frac = task.y.double().mean()
        net[2].bias.copy_(torch.log(torch.stack([1 - frac, frac])))
    loss_fn = nn.CrossEntropyLoss()
    e = eigen_directions(net, loss_fn, (task.X, task.y), k=1, tol=1e-10)
    assert e.labels == ["top1", "bottom1"] and e.values[1] < 0 < e.values[0]
    h = 1e-3
    for lam, d in zip(e.values, e.directions, strict=True):
        s = slice_1d(net, loss_fn, (task.X, task.y), d, [-h, 0.0, h])
        curvature = float(s.losses[0] + s.losses[2] - 2 * s.losses[1]) / h**2
        assert curvature == pytest.approx(lam, rel=1e-4)  # d is a unit eigenvector
    bottom = slice_1d(
        net, loss_fn, (task.X, task.y), e.directions[1], torch.linspace(-0.5, 0.5, 11)
    )
    assert int(bottom.losses.argmax()) == 5  # a maximum along the descent direction


def test_interpolation_endpoints_and_batchnorm_recompute():
    a, b = cnn_bn(), cnn_bn()
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.3 * torch.randn_like(p))
    X, y = img_data(12)
    loss_fn = nn.CrossEntropyLoss()
    s = interpolate(a, loss_fn, (X, y), a, b, [0.0, 0.5, 1.0])
    assert s.setup["recompute_bn"] is False
    assert float(s.losses[0]) == pytest.approx(float(loss_fn(a(X), y).detach()), rel=1e-12)
    # without recompute, alpha=1 uses b's parameters with a's running statistics
    mixed = copy.deepcopy(a)
    mixed.load_state_dict({**a.state_dict(), **dict(b.named_parameters())})
    assert float(s.losses[2]) == pytest.approx(float(loss_fn(mixed(X), y).detach()), rel=1e-12)
    r = interpolate(a, loss_fn, (X, y), a, b, [0.0, 1.0], recompute_bn=True, batch_size=5)
    assert r.method == "loop+bn-refit" and r.setup["recompute_bn"] is True
    for end, got in ((a, r.losses[0]), (b, r.losses[1])):  # oracle: refit by hand
        m = copy.deepcopy(end)
        m[1].reset_running_stats()
        m[1].momentum = None
        m.train()
        with torch.no_grad():
            for i in range(0, 12, 5):
                m(X[i : i + 5])
        m.eval()
        assert float(got) == pytest.approx(float(loss_fn(m(X), y).detach()), rel=1e-10)
    assert a.training is False and b.training is False
    with pytest.raises(InvalidParameterError, match="no BatchNorm"):
        interpolate(
            nn.Linear(2, 2).double(),
            loss_fn,
            (torch.zeros(3, 2, dtype=F64), torch.zeros(3).long()),
            nn.Linear(2, 2).double(),
            nn.Linear(2, 2).double(),
            recompute_bn=True,
        )


def test_pca_of_a_planar_path():
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(30, 2, generator=g, dtype=F64))
    t = torch.linspace(0, 1, 12, dtype=F64)
    coords = torch.stack([torch.cos(3 * t), t**2], 1)
    path = [Q @ c for c in coords]
    p = pca_path(path)
    torch.testing.assert_close(
        p.directions @ p.directions.T, torch.eye(2, dtype=F64), atol=1e-12, rtol=0
    )
    assert float(p.explained.sum()) == pytest.approx(1.0, abs=1e-12)
    recon = p.origin + p.coords @ p.directions
    torch.testing.assert_close(recon, torch.stack(path), atol=1e-12, rtol=0)
    torch.testing.assert_close(p.coords[-1], torch.zeros(2, dtype=F64), atol=1e-12, rtol=0)
    net = nn.Linear(3, 2).double()
    dict_path = [
        {"weight": torch.randn(2, 3, dtype=F64), "bias": torch.randn(2, dtype=F64)}
        for _ in range(5)
    ]
    pd = pca_path(dict_path, model=net)
    dd = pd.direction_dicts()
    assert dd[0]["weight"].shape == (2, 3)
    with pytest.raises(InvalidParameterError, match="at least 3"):
        pca_path(path[:2])
