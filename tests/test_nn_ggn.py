"""GGN and Fisher operators against dense float64 matrices built from Jacobians and per-sample
gradients (torch.func.jacrev), and against curvlinops where it is installed."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev

from descentlab.errors import InvalidParameterError
from descentlab.nn import HessianOperator
from descentlab.nn.ggn import FisherOperator, GGNOperator, ResidualOperator

torch.set_num_threads(1)
F64 = torch.float64
N = 13


def net_tanh(n_out: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, n_out)).double()


def data(kind: str, n_out: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(N, 3, generator=g, dtype=F64)
    if kind == "ce":
        return X, torch.randint(0, n_out, (N,), generator=g)
    return X, torch.randn(N, n_out, generator=g, dtype=F64)


def flat_fn(net: nn.Module, fn):
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def unflat(t):
        out, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            out[n] = t[i : i + s.numel()].view(s)
            i += s.numel()
        return out

    return (lambda t, *a: fn(unflat(t), *a)), theta


def jacobians(net, X):
    """``J[i]``: the ``(outputs, n)`` Jacobian of sample ``i``'s output."""
    f, theta = flat_fn(net, lambda p: functional_call(net, p, (X,)))
    return jacrev(f)(theta)


def per_sample_grads(net, loss_fn, X, y):
    def losses(p):
        return torch.stack(
            [loss_fn(functional_call(net, p, (X[i : i + 1],)), y[i : i + 1]) for i in range(N)]
        )

    f, theta = flat_fn(net, losses)
    return jacrev(f)(theta)  # (N, n)


def dense_ggn(net, kind, X, y):
    J = jacobians(net, X)
    out = net(X).detach()
    if kind == "ce":
        P = torch.softmax(out, -1)
        M = [torch.diag(P[i]) - torch.outer(P[i], P[i]) for i in range(N)]
    else:  # MSELoss(mean) over N*D entries: output Hessian 2/(N D) I, times N below
        M = [2.0 / out.shape[1] * torch.eye(out.shape[1], dtype=F64)] * N
    return sum(J[i].T @ M[i] @ J[i] for i in range(N)) / N


LOSSES = {"ce": nn.CrossEntropyLoss, "mse": nn.MSELoss}


@pytest.mark.parametrize("kind", ["ce", "mse"])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_ggn_equals_dense_jacobian_form(kind, batch_size):
    net = net_tanh()
    X, y = data(kind)
    G = GGNOperator(net, LOSSES[kind](), (X, y), batch_size=batch_size)
    ref = dense_ggn(net, kind, X, y)
    assert torch.allclose(G.dense(), ref, rtol=0, atol=1e-12 * float(ref.abs().max()))
    assert float(torch.linalg.eigvalsh(ref).min()) > -1e-12  # PSD for a convex loss


@pytest.mark.parametrize("kind", ["ce", "mse"])
def test_true_fisher_equals_expected_score_outer_products(kind):
    """Oracle built from its definition: E over the predictive distribution of per-sample
    gradient outer products at sampled labels (an exact sum over classes for CE; for the
    Gaussian N(f, D/2 I) of MSELoss, E[(f - ŷ)(f - ŷ)ᵀ] = (D/2) I in closed form)."""
    net = net_tanh()
    X, y = data(kind)
    F = FisherOperator(net, LOSSES[kind](), (X, y), kind="true", batch_size=5).dense()
    n = F.shape[0]
    ref = torch.zeros(n, n, dtype=F64)
    out = net(X).detach()
    if kind == "ce":
        P = torch.softmax(out, -1)
        for c in range(3):
            g = per_sample_grads(net, nn.CrossEntropyLoss(), X, torch.full((N,), c))
            ref += (g * P[:, c : c + 1]).T @ g / N
    else:
        D = out.shape[1]
        J = jacobians(net, X)
        # ∇θ ℓ = (2/D) Jᵀ (f - ŷ); E[(f-ŷ)(f-ŷ)ᵀ] = (D/2) I  ->  (2/D) JᵀJ
        ref = sum((2.0 / D) * J[i].T @ J[i] for i in range(N)) / N
    assert torch.allclose(F, ref, rtol=0, atol=1e-12 * float(ref.abs().max()))
    # and the known identity for these likelihoods: the true Fisher is the GGN
    G = GGNOperator(net, LOSSES[kind](), (X, y)).dense()
    assert torch.allclose(F, G, rtol=0, atol=1e-12 * float(G.abs().max()))


@pytest.mark.parametrize("kind", ["ce", "mse"])
@pytest.mark.parametrize("batch_size", [None, 5])
def test_empirical_fisher_equals_per_sample_gradient_outer_products(kind, batch_size):
    net = net_tanh()
    X, y = data(kind)
    F = FisherOperator(net, LOSSES[kind](), (X, y), batch_size=batch_size).dense()
    g = per_sample_grads(net, LOSSES[kind](), X, y)
    ref = g.T @ g / N
    assert torch.allclose(F, ref, rtol=0, atol=1e-12 * float(ref.abs().max()))


def test_weight_decay_adds_identity_to_ggn_and_fisher():
    net = net_tanh()
    X, y = data("ce")
    G0 = GGNOperator(net, nn.CrossEntropyLoss(), (X, y)).dense()
    G1 = GGNOperator(net, nn.CrossEntropyLoss(), (X, y), weight_decay=0.3).dense()
    assert torch.allclose(G1 - G0, 0.3 * torch.eye(G0.shape[0], dtype=F64), atol=1e-13)
    F0 = FisherOperator(net, nn.CrossEntropyLoss(), (X, y)).dense()
    F1 = FisherOperator(net, nn.CrossEntropyLoss(), (X, y), weight_decay=0.3).dense()
    assert torch.allclose(F1 - F0, 0.3 * torch.eye(F0.shape[0], dtype=F64), atol=1e-13)


def test_residual_is_hessian_minus_ggn_and_vanishes_for_linear_model():
    net = net_tanh()
    X, y = data("ce")
    H = HessianOperator(net, nn.CrossEntropyLoss(), (X, y))
    G = GGNOperator(objective=H.objective)
    R = ResidualOperator(H, G)
    assert torch.allclose(R.dense(), H.dense() - dense_ggn(net, "ce", X, y), atol=1e-12)
    lin = nn.Linear(3, 3).double()
    H = HessianOperator(lin, nn.CrossEntropyLoss(), (X, y))
    R = ResidualOperator(H, GGNOperator(objective=H.objective))
    assert float(R.dense().abs().max()) < 1e-14
    with pytest.raises(InvalidParameterError, match="share one objective"):
        ResidualOperator(H, GGNOperator(lin, nn.CrossEntropyLoss(), (X, y)))


def test_float32_model_products_match_float64_to_its_precision():
    net = net_tanh()
    X, y = data("ce")
    v = torch.randn(sum(p.numel() for p in net.parameters()), dtype=F64)
    ref = GGNOperator(net, nn.CrossEntropyLoss(), (X, y)) @ v
    G32 = GGNOperator(net.float(), nn.CrossEntropyLoss(), (X.float(), y))
    out = G32 @ v.float()
    assert out.dtype == torch.float32 and G32.work_dtype == F64
    assert float((out.double() - ref).norm() / ref.norm()) < 1e-5


def test_bad_fisher_requests_are_clear_errors():
    net = net_tanh()
    X, y = data("ce")
    with pytest.raises(InvalidParameterError, match="kind must be one of"):
        FisherOperator(net, nn.CrossEntropyLoss(), (X, y), kind="natural")
    with pytest.raises(InvalidParameterError, match="likelihood loss"):
        FisherOperator(net, nn.SmoothL1Loss(), data("mse"), kind="true")
    with pytest.raises(InvalidParameterError, match="label smoothing"):
        FisherOperator(net, nn.CrossEntropyLoss(label_smoothing=0.1), (X, y), kind="true")


HAVE_CURVLINOPS = importlib.util.find_spec("curvlinops") is not None


@pytest.mark.skipif(not HAVE_CURVLINOPS, reason="curvlinops is not installed")
@pytest.mark.parametrize("kind", ["ce", "mse"])
def test_against_curvlinops(kind):
    import curvlinops

    net = net_tanh()
    X, y = data(kind)
    batches = [(X[:6], y[:6]), (X[6:], y[6:])]
    params = [p for p in net.parameters() if p.requires_grad]
    ggn = curvlinops.GGNLinearOperator(net, LOSSES[kind](), params, batches)
    ours = GGNOperator(net, LOSSES[kind](), batches)
    n = ours.n
    eye = torch.eye(n, dtype=F64)
    ref = torch.stack([torch.cat([t.reshape(-1) for t in ggn @ _split(e, params)]) for e in eye])
    assert torch.allclose(ours.dense(), ref.T, rtol=0, atol=1e-12 * float(ref.abs().max()))
    if kind == "ce":  # curvlinops' MSE per-sample loss omits the 1/D of ours; CE matches
        ef = curvlinops.EFLinearOperator(net, LOSSES[kind](), params, batches)
        ref = torch.stack([torch.cat([t.reshape(-1) for t in ef @ _split(e, params)]) for e in eye])
        F = FisherOperator(net, LOSSES[kind](), batches).dense()
        assert torch.allclose(F, ref.T, rtol=0, atol=1e-12 * float(ref.abs().max()))


def _split(v, params):
    out, i = [], 0
    for p in params:
        out.append(v[i : i + p.numel()].view_as(p))
        i += p.numel()
    return out
