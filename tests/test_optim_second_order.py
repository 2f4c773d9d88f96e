"""Second-order optimizers against closed forms, brute force and torch.func.hessian."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import classify_eigenvalues
from descentlab.optim import (
    MAX_FULL_HESSIAN,
    ArmijoGD,
    CubicNewton,
    DampedNewton,
    Newton,
    SaddleFreeNewton,
    cubic_model,
    cubic_step,
    resolve_optimizer,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using backward.. with create_graph=True")
F64 = torch.float64


def make(opt_cls, P, row_fn=None, **hyper):
    group = {"params": [P], "rows_independent": True}
    if row_fn is not None:
        group["row_fn"] = row_fn
    return opt_cls([group], **hyper)


def drive(opt, P, f, steps, create_graph=True):
    def closure():
        opt.zero_grad()
        loss = f(P).sum()
        loss.backward(create_graph=create_graph)
        return loss

    for _ in range(steps):
        opt.step(closure)
    return P.detach()


def double_well(P):
    return (P[:, 0] ** 2 - 1.0) ** 2 + P[:, 1] ** 2


def quad_loss(H, g):
    """``f(x) = g.x + 1/2 x.H.x`` per row: gradient ``g`` and Hessian ``H`` at ``x = 0``."""
    H = torch.as_tensor(H, dtype=F64)
    g = torch.as_tensor(g, dtype=F64)
    return lambda P: P @ g + 0.5 * ((P @ H) * P).sum(-1)


def one_step(opt_cls, H, g, **hyper):
    P = torch.zeros(1, len(g), dtype=F64, requires_grad=True)
    opt = make(opt_cls, P, row_fn=quad_loss(H, g), **hyper)
    return drive(opt, P, quad_loss(H, g), 1)[0]


# ---------------------------------------------------------------------------- Newton
def test_newton_solves_a_quadratic_in_one_step():
    # Each row its own (indefinite) quadratic 1/2 x.A_i.x + b_i.x: one step lands on -A_i^-1 b_i.
    gen = torch.Generator().manual_seed(0)
    B, d = 5, 4
    Q = torch.linalg.qr(torch.randn(B, d, d, generator=gen, dtype=F64)).Q
    lam = (
        torch.tensor([3.0, -1.0, 0.5, 2.0], dtype=F64) * torch.linspace(1, 2, B, dtype=F64)[:, None]
    )
    A = Q @ torch.diag_embed(lam) @ Q.mT
    b = torch.randn(B, d, generator=gen, dtype=F64)

    def f(P):
        return 0.5 * torch.einsum("bi,bij,bj->b", P, A, P) + (b * P).sum(-1)

    P = torch.randn(B, d, generator=gen, dtype=F64).requires_grad_(True)
    drive(make(Newton, P), P, f, 1)
    expected = -torch.linalg.solve(A, b)
    torch.testing.assert_close(P.detach(), expected, rtol=1e-12, atol=1e-12)


def test_newton_goes_to_the_saddle_where_gd_finds_a_minimum():
    start = torch.tensor([[0.3, 0.5]], dtype=F64)  # f_xx = 12 x^2 - 4 < 0 here
    P = start.clone().requires_grad_(True)
    end = drive(make(Newton, P), P, double_well, 30)
    torch.testing.assert_close(end, torch.zeros(1, 2, dtype=F64), rtol=0, atol=1e-12)
    H = torch.func.hessian(lambda x: double_well(x[None])[0])(end[0])
    assert classify_eigenvalues(torch.linalg.eigvalsh(H)) == ("saddle", 1)

    Q = start.clone().requires_grad_(True)
    gd = torch.optim.SGD([Q], lr=0.05)
    drive(gd, Q, double_well, 300, create_graph=False)
    torch.testing.assert_close(Q.detach(), torch.tensor([[1.0, 0.0]], dtype=F64), rtol=0, atol=1e-8)


@pytest.mark.parametrize(("cls", "hyper"), [(SaddleFreeNewton, {}), (CubicNewton, {"M": 6.0})])
def test_saddle_free_and_cubic_newton_escape_the_saddle(cls, hyper):
    P = torch.tensor([[0.3, 0.5], [-0.05, -0.4]], dtype=F64, requires_grad=True)
    end = drive(make(cls, P, **hyper), P, double_well, 60)
    expected = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=F64)
    torch.testing.assert_close(end, expected, rtol=0, atol=1e-8)


def test_cubic_newton_leaves_an_exact_saddle():
    P = torch.zeros(1, 2, dtype=F64, requires_grad=True)  # g = 0, H = diag(-4, 2)
    drive(make(CubicNewton, P, M=8.0), P, double_well, 1)
    # Hard case: s = tau * e_x with tau = 2 * 4 / M = 1.
    torch.testing.assert_close(P.detach(), torch.tensor([[1.0, 0.0]], dtype=F64))


def test_newton_singular_hessian_uses_the_pseudo_inverse():
    # f = x^2 + y (H = diag(2, 0)): the step solves the x part and ignores the flat direction.
    P = torch.tensor([[2.0, 5.0]], dtype=F64, requires_grad=True)
    drive(make(Newton, P), P, lambda X: X[:, 0] ** 2 + X[:, 1], 1)
    torch.testing.assert_close(P.detach(), torch.tensor([[0.0, 5.0]], dtype=F64))
    # Zero Hessian (affine loss): no step at all, no overflow.
    P = torch.tensor([[2.0, 5.0]], dtype=F64, requires_grad=True)
    drive(make(Newton, P), P, lambda X: 3 * X[:, 0] - X[:, 1], 1)
    torch.testing.assert_close(P.detach(), torch.tensor([[2.0, 5.0]], dtype=F64))


# ---------------------------------------------------------------------------- closed forms
def test_damped_newton_two_by_two_closed_form():
    a, b, c, mu = 2.0, 1.0, -3.0, 0.5
    g = (1.0, -2.0)
    # (H + mu I)^-1 by the 2x2 adjugate formula.
    a2, c2 = a + mu, c + mu
    det = a2 * c2 - b * b
    s = (-(c2 * g[0] - b * g[1]) / det, -(-b * g[0] + a2 * g[1]) / det)
    got = one_step(DampedNewton, [[a, b], [b, c]], g, damping=mu, lr=1.0)
    torch.testing.assert_close(got, torch.tensor(s, dtype=F64), rtol=1e-13, atol=0)


def test_saddle_free_newton_two_by_two_closed_form():
    # H = [[0, 2], [2, 0]] has eigenvalues +-2, so |H| = 2 I and the step is -g / (2 + mu).
    g, mu = (1.0, -3.0), 0.25
    got = one_step(SaddleFreeNewton, [[0.0, 2.0], [2.0, 0.0]], g, damping=mu)
    torch.testing.assert_close(got, -torch.tensor(g, dtype=F64) / (2 + mu), rtol=1e-13, atol=0)
    # Newton on the same point moves to the saddle of the quadratic: -H^-1 g.
    got = one_step(Newton, [[0.0, 2.0], [2.0, 0.0]], g)
    torch.testing.assert_close(got, torch.tensor([1.5, -0.5], dtype=F64), rtol=1e-13, atol=0)


def rot(theta):
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s], [s, c]], dtype=F64)


@pytest.mark.parametrize("theta", [0.0, 0.7])
@pytest.mark.parametrize(
    ("H", "g", "M", "s"),
    [
        # H = 0: |s| = sqrt(2|g|/M) along -g.
        ([[0.0, 0.0], [0.0, 0.0]], [3.0, 4.0], 2.0, [-3 / math.sqrt(5), -4 / math.sqrt(5)]),
        # easy case: 1/(lambda - 1) = lambda/2 -> lambda = 2, s = (-1, 0).
        ([[-1.0, 0.0], [0.0, 3.0]], [1.0, 0.0], 4.0, [-1.0, 0.0]),
        # hard case: g orthogonal to v_min, lambda = 1, |s| = 2: s = (sqrt(3), -1).
        ([[-1.0, 0.0], [0.0, 3.0]], [0.0, 4.0], 1.0, [math.sqrt(3.0), -1.0]),
        # positive definite: lambda solves |g|/(2 + lambda) = 2 lambda/M with M = 1, g = 3:
        # 2 lambda^2 + 4 lambda - 3 = 0.
        (
            [[2.0, 0.0], [0.0, 2.0]],
            [3.0, 0.0],
            1.0,
            [-3.0 / (2.0 + (-4 + math.sqrt(40)) / 4), 0.0],
        ),
    ],
)
def test_cubic_step_closed_forms(H, g, M, s, theta):
    Q = rot(theta)
    Ht = Q @ torch.tensor(H, dtype=F64) @ Q.T
    gt = Q @ torch.tensor(g, dtype=F64)
    st = Q @ torch.tensor(s, dtype=F64)
    got = cubic_step(Ht[None], gt[None], M)[0]
    if g == [0.0, 4.0]:  # hard case: +-tau v_min are both minimisers
        assert torch.allclose(got, st, atol=1e-12) or torch.allclose(
            got, Q @ torch.tensor([-s[0], s[1]], dtype=F64), atol=1e-12
        )
    else:
        torch.testing.assert_close(got, st, rtol=1e-12, atol=1e-12)
    # Through the optimizer as well (x <- x + s).
    torch.testing.assert_close(
        one_step(CubicNewton, Ht.tolist(), gt.tolist(), M=M).abs(),
        got.abs(),
        rtol=1e-12,
        atol=1e-12,
    )


def test_cubic_step_is_the_global_minimiser_of_the_model():
    rng = np.random.default_rng(3)
    B, d = 25, 3
    A = rng.normal(size=(B, d, d))
    H = torch.tensor((A + A.transpose(0, 2, 1)) / 2, dtype=F64)
    g = torch.tensor(rng.normal(size=(B, d)), dtype=F64)
    g[:3] *= 1e-9  # near-hard cases
    M = 1.7
    s = cubic_step(H, g, M)
    ours = cubic_model(H, g, s, M)
    # First- and second-order optimality (Nesterov & Polyak, Thm 1): g + (H + M|s|/2 I) s = 0
    # and H + M|s|/2 I is positive semi-definite.
    r = torch.linalg.vector_norm(s, dim=-1)
    resid = g + ((H + (M * r / 2)[:, None, None] * torch.eye(d, dtype=F64)) @ s[..., None])[..., 0]
    assert resid.abs().max() < 1e-9
    assert (torch.linalg.eigvalsh(H).min(-1).values + M * r / 2 > -1e-9).all()
    # Brute force: multi-start BFGS on the model never beats it.
    for i in range(B):
        Hi, gi = H[i].numpy(), g[i].numpy()

        def m(x, Hi=Hi, gi=gi):
            return gi @ x + 0.5 * x @ Hi @ x + M / 6 * np.linalg.norm(x) ** 3

        best = min(minimize(m, rng.normal(size=d) * 3, method="BFGS").fun for _ in range(6))
        assert float(ours[i]) <= best + 1e-9


def test_non_finite_rows_do_not_disturb_the_others():
    good = torch.tensor([[0.3, 0.5], [1.2, -0.7]], dtype=F64)
    bad = torch.tensor([[math.nan, 0.0]], dtype=F64)
    for cls in (Newton, DampedNewton, SaddleFreeNewton, CubicNewton):
        P = torch.cat([good[:1], bad, good[1:]]).requires_grad_(True)
        end = drive(make(cls, P), P, double_well, 3)
        Q = good.clone().requires_grad_(True)
        ref = drive(make(cls, Q), Q, double_well, 3)
        torch.testing.assert_close(end[[0, 2]], ref, rtol=1e-13, atol=1e-14)
        assert torch.isnan(end[1]).all()


# ---------------------------------------------------------------------------- adaptive damping
def test_adaptive_damping_accepts_and_rejects_per_row():
    f = lambda X: torch.cos(X[:, 0])  # noqa: E731
    # Row 0 at 0.1 (concave, the step heads for the maximum at 0: rejected);
    # row 1 at 3.0 (convex near the minimum at pi: accepted).
    P = torch.tensor([[0.1], [3.0]], dtype=F64, requires_grad=True)
    opt = make(DampedNewton, P, row_fn=f, damping=0.01, adaptive=True, factor=4.0)
    drive(opt, P, f, 1)
    st = opt.state[P]
    assert st["accepted"].tolist() == [False, True]
    torch.testing.assert_close(st["damping"], torch.tensor([0.04, 0.0025], dtype=F64))
    x1 = 3.0 - (-math.sin(3.0)) / (-math.cos(3.0) + 0.01)
    torch.testing.assert_close(P.detach()[:, 0], torch.tensor([0.1, x1], dtype=F64))


# ---------------------------------------------------------------------------- nn.Module
def tiny_model_and_loss():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    model = model.double()
    X = torch.randn(16, 2, dtype=F64)
    y = torch.sin(X[:, :1]) + 0.3 * X[:, 1:]
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def unflatten(v):
        out, i = {}, 0
        for n, sh in zip(names, shapes, strict=True):
            k = math.prod(sh)
            out[n] = v[i : i + k].reshape(sh)
            i += k
        return out

    def flat_loss(v):
        pred = torch.func.functional_call(model, unflatten(v), (X,))
        return ((pred - y) ** 2).mean()

    return model, flat_loss, X, y


def model_closure(model, opt, X, y, create_graph):
    def closure():
        opt.zero_grad()
        loss = ((model(X) - y) ** 2).mean()
        loss.backward(create_graph=create_graph)
        return loss

    return closure


def reference_direction(name, H, g, hyper):
    lam, V = torch.linalg.eigh(H)
    gt = V.T @ g
    if name == "newton":
        return torch.linalg.pinv(H, rtol=1e-10, hermitian=True) @ g
    if name == "damped_newton":
        return torch.linalg.solve(H + hyper["damping"] * torch.eye(len(g), dtype=F64), g)
    if name == "saddle_free_newton":
        return V @ (gt / (lam.abs() + hyper["damping"]))
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("name", "hyper"),
    [
        ("newton", {"lr": 0.5}),
        ("damped_newton", {"damping": 0.3}),
        ("saddle_free_newton", {"damping": 0.05}),
        ("cubic_newton", {"M": 3.0}),
    ],
)
def test_second_order_on_a_small_module_matches_torch_func_hessian(name, hyper):
    model, flat_loss, X, y = tiny_model_and_loss()
    spec = resolve_optimizer(name, **hyper)
    opt = spec.factory(list(model.parameters()))
    v = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    for _ in range(3):
        H = torch.func.hessian(flat_loss)(v)
        g = torch.func.grad(flat_loss)(v)
        if name == "cubic_newton":
            s = cubic_step(H[None], g[None], hyper["M"])[0]
            # and s satisfies the optimality condition with the reference Hessian
            r = s.norm()
            resid = g + (H + hyper["M"] * r / 2 * torch.eye(len(g), dtype=F64)) @ s
            assert resid.abs().max() < 1e-10
            v = v + s
        else:
            v = v - hyper.get("lr", 1.0) * reference_direction(name, H, g, hyper)
        opt.step(model_closure(model, opt, X, y, create_graph=True))
        got = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(got, v, rtol=1e-9, atol=1e-11)
    for p in model.parameters():  # the graph hanging off .grad was released
        assert p.grad is None or p.grad.grad_fn is None


def test_armijo_on_a_module_matches_a_manual_backtracking():
    model, flat_loss, X, y = tiny_model_and_loss()
    opt = ArmijoGD(model.parameters(), lr=4.0, c=0.3, beta=0.5)
    v = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    for _ in range(4):
        g = torch.func.grad(flat_loss)(v)
        f0, t = float(flat_loss(v)), 4.0
        while not float(flat_loss(v - t * g)) <= f0 - 0.3 * t * float(g @ g):
            t *= 0.5
        v = v - t * g
        opt.step(model_closure(model, opt, X, y, create_graph=False))
        got = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(got, v, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(opt.state[next(model.parameters())]["step_size"].item(), t)


def test_full_hessian_size_limit_is_a_clear_error():
    layer = torch.nn.Linear(MAX_FULL_HESSIAN, 1).double()  # MAX + 1 parameters
    opt = Newton(layer.parameters())
    x = torch.randn(3, MAX_FULL_HESSIAN, dtype=F64)
    with pytest.raises(InvalidParameterError, match="too large"):
        opt.step(model_closure(layer, opt, x, torch.zeros(3, 1, dtype=F64), True))


def test_armijo_rows_backtrack_independently():
    # f = sum x^2, t0 = 1: row 0 halves once to land on 0; a zero-gradient row accepts t0.
    f = lambda X: (X**2).sum(-1)  # noqa: E731
    P = torch.tensor([[1.0, 2.0], [0.0, 0.0], [-3.0, 0.5]], dtype=F64, requires_grad=True)
    opt = make(ArmijoGD, P, row_fn=f, lr=1.0)
    drive(opt, P, f, 1, create_graph=False)
    torch.testing.assert_close(P.detach(), torch.zeros(3, 2, dtype=F64))
    assert opt.state[P]["step_size"].tolist() == [0.5, 1.0, 0.5]
    # max_backtracks = 0: the overshooting rows stay, with step size 0.
    P = torch.tensor([[1.0, 2.0]], dtype=F64, requires_grad=True)
    opt = make(ArmijoGD, P, row_fn=f, lr=1.0, max_backtracks=0)
    drive(opt, P, f, 1, create_graph=False)
    assert P.detach().tolist() == [[1.0, 2.0]] and opt.state[P]["step_size"].tolist() == [0.0]


# ---------------------------------------------------------------------------- fast paths
def test_closed_form_eigh_equals_lapack_for_one_and_two_dimensions():
    from descentlab.optim.newton import eigh

    gen = torch.Generator().manual_seed(5)
    A = torch.randn(500, 2, 2, generator=gen, dtype=F64)
    H = A + A.mT
    H[0] = 0.0
    H[1] = torch.eye(2, dtype=F64)
    H[2] = torch.tensor([[3.0, 0.0], [0.0, -1.0]], dtype=F64)
    H[3] = torch.tensor([[1.0, 1e-9], [1e-9, 1.0]], dtype=F64)
    H[4] = torch.tensor([[1e8, 1.0], [1.0, -1e-8]], dtype=F64)
    lam, V = eigh(H)
    ref = torch.linalg.eigvalsh(H)
    scale = H.abs().amax(dim=(-2, -1), keepdim=True).squeeze(-1).clamp_min(1.0)
    assert ((lam - ref).abs() / scale).max() < 1e-14
    torch.testing.assert_close(V @ torch.diag_embed(lam) @ V.mT, H, rtol=0, atol=1e-13 * 1e8)
    torch.testing.assert_close(
        V.mT @ V, torch.eye(2, dtype=F64).expand(500, 2, 2), rtol=0, atol=1e-15
    )
    h1 = torch.randn(7, 1, 1, generator=gen, dtype=F64)
    lam1, V1 = eigh(h1)
    assert torch.equal(lam1[:, 0], h1[:, 0, 0]) and torch.equal(V1, torch.ones_like(h1))


def test_registered_classes_passed_as_callables_keep_their_properties():
    spec = resolve_optimizer(CubicNewton, M=2.0)
    assert spec.second_order and spec.needs_closure and spec.elementwise is True
    assert spec.label == "CubicNewton(M=2)"


def test_full_mode_param_groups_are_separate_problems():
    # Two groups on one loss: each group's step uses its own Hessian block (cross-group
    # curvature ignored) and its own lr -- the same as two Newton optimizers, one per group.
    def loss_of(a, b):
        return (a**2).sum() * (1 + 0.1 * (b**2).sum()) + torch.cos(b).sum() + (a * b).sum()

    a0 = torch.tensor([0.5, -1.0], dtype=F64)
    b0 = torch.tensor([0.3, 0.7], dtype=F64)
    a, b = a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = Newton([{"params": [a], "lr": 0.5}, {"params": [b], "lr": 1.0}])

    def closure():
        opt.zero_grad()
        loss = loss_of(a, b)
        loss.backward(create_graph=True)
        return loss

    opt.step(closure)
    Ha = torch.func.hessian(lambda x: loss_of(x, b0))(a0)
    Hb = torch.func.hessian(lambda y: loss_of(a0, y))(b0)
    ga = torch.func.grad(lambda x: loss_of(x, b0))(a0)
    gb = torch.func.grad(lambda y: loss_of(a0, y))(b0)
    torch.testing.assert_close(a.detach(), a0 - 0.5 * torch.linalg.solve(Ha, ga))
    torch.testing.assert_close(b.detach(), b0 - 1.0 * torch.linalg.solve(Hb, gb))


def test_adaptive_damping_on_a_module_matches_the_manual_rule():
    model, flat_loss, X, y = tiny_model_and_loss()
    opt = DampedNewton(model.parameters(), damping=1e-3, adaptive=True, factor=5.0)
    v = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    mu, eye = 1e-3, torch.eye(len(v), dtype=F64)
    accepted = []
    for _ in range(6):
        H, g = torch.func.hessian(flat_loss)(v), torch.func.grad(flat_loss)(v)
        trial = v - torch.linalg.solve(H + mu * eye, g)
        ok = bool(flat_loss(trial) <= flat_loss(v))
        accepted.append(ok)
        v, mu = (trial, mu / 5.0) if ok else (v, mu * 5.0)
        opt.step(model_closure(model, opt, X, y, create_graph=True))
        got = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(got, v, rtol=1e-9, atol=1e-11)
        st = opt.state[next(model.parameters())]
        assert math.isclose(float(st["damping"][0]), mu, rel_tol=1e-12)
    assert any(accepted)
