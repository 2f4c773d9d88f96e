"""descentlab.linalg against torch.linalg and torch.func.hessian at float64, edge cases included."""

from __future__ import annotations

import math

import pytest
import torch

from descentlab import linalg
from descentlab.landscapes import get_landscape

torch.set_num_threads(1)
F64 = torch.float64


def _sym(B: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(B, n, n, generator=g, dtype=F64)
    return A + A.mT


def _func_hessians(L, X: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.func.hessian(lambda x: L.fn(x.unsqueeze(0))[0])(x) for x in X])


# ---------------------------------------------------------------------------------- Hessians
@pytest.mark.parametrize("batched", [False, True, None])
@pytest.mark.parametrize(("name", "dim"), [("rosenbrock", 2), ("rosenbrock", 5), ("rastrigin", 9)])
def test_hessian_from_grad_equals_torch_func_hessian(name, dim, batched):
    L = get_landscape(name, dim=dim)
    X = L.sample(12, seed=3).requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(L.fn(X).sum(), X, create_graph=True)
        H = linalg.hessian_from_grad(g, X, batched=batched)
    torch.testing.assert_close(H, _func_hessians(L, X).detach(), rtol=1e-13, atol=1e-10)


@pytest.mark.parametrize("batched", [False, True])
def test_row_hessians_and_hvp_equal_torch_func(batched):
    L = get_landscape("styblinski_tang", dim=6)
    X = L.sample(10, seed=1)
    Hf = _func_hessians(L, X)
    torch.testing.assert_close(
        linalg.row_hessians(L.fn, X, batched=batched), Hf, rtol=1e-13, atol=0
    )
    V = torch.randn(10, 6, generator=torch.Generator().manual_seed(2), dtype=F64)
    ref = (Hf @ V.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(linalg.row_hvp(L.fn, X, V), ref, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("batched", [False, True])
def test_affine_objective_has_zero_hessian(batched):
    def f(P):
        return P @ torch.tensor([1.0, -2.0, 3.0], dtype=F64) + 4.0

    X = torch.randn(5, 3, dtype=F64)
    assert torch.equal(linalg.row_hessians(f, X, batched=batched), torch.zeros(5, 3, 3, dtype=F64))
    assert torch.equal(linalg.row_hvp(f, X, torch.ones_like(X)), torch.zeros_like(X))


def test_hessian_of_a_partly_unused_variable_is_zero_there():
    def f(P):
        return P[:, 0] ** 3  # does not depend on P[:, 1]

    X = torch.tensor([[2.0, 5.0]], dtype=F64)
    for batched in (False, True):
        H = linalg.row_hessians(f, X, batched=batched)
        assert H.tolist() == [[[12.0, 0.0], [0.0, 0.0]]]


# ------------------------------------------------------------------------ eigendecomposition
@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_eigh_equals_lapack_with_edge_cases(n):
    H = _sym(400, n, seed=n) * 10 ** torch.randint(
        -6, 6, (400, 1, 1), generator=torch.Generator().manual_seed(n)
    )
    special = [
        torch.zeros(n, n),  # zero matrix
        torch.eye(n),  # repeated eigenvalue
        -3.0 * torch.eye(n),
        torch.diag(torch.arange(1.0, n + 1)),
        torch.diag(torch.tensor([2.0] * (n - 1) + [-1.0])) if n > 1 else torch.ones(1, 1),
    ]
    H = torch.cat([H, torch.stack(special).to(F64)])
    lam, V = linalg.eigh(H)
    ref = torch.linalg.eigvalsh(H)
    scale = H.abs().flatten(1).amax(1, keepdim=True).clamp_min(1e-300)
    assert ((lam - ref).abs() / scale).max() <= 1e-14  # ascending, like LAPACK
    eye = torch.eye(n, dtype=F64)
    assert (V.mT @ V - eye).abs().max() <= 1e-14
    recon = V @ torch.diag_embed(lam) @ V.mT
    assert ((recon - H).abs().flatten(1).amax(1, keepdim=True) / scale).max() <= 1e-14


def test_eigh_two_by_two_uses_the_symmetric_part_and_batches_any_leading_shape():
    H = torch.tensor([[1.0, 3.0], [1.0, 1.0]], dtype=F64)  # symmetric part [[1, 2], [2, 1]]
    lam, _ = linalg.eigh(H.expand(2, 3, 2, 2))
    assert lam.shape == (2, 3, 2)
    torch.testing.assert_close(lam[1, 2], torch.tensor([-1.0, 3.0], dtype=F64), rtol=0, atol=1e-15)


def test_safe_eigh_isolates_non_finite_rows():
    H = _sym(4, 2, seed=0)
    H[1, 0, 1] = math.nan
    H[2, 1, 1] = math.inf
    lam, V, finite = linalg.safe_eigh(H)
    assert finite.tolist() == [True, False, False, True]
    assert torch.isfinite(lam).all() and torch.isfinite(V).all()
    torch.testing.assert_close(lam[[0, 3]], torch.linalg.eigvalsh(H[[0, 3]]), rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------ safe solves
@pytest.mark.parametrize("n", [2, 4])
def test_pinv_solve_equals_torch_pinv(n):
    H = _sym(50, n, seed=7)
    # rank-deficient rows: drop one eigenvalue exactly
    lam, V = torch.linalg.eigh(H[:10])
    lam[:, 0] = 0.0
    H[:10] = V @ torch.diag_embed(lam) @ V.mT
    H[10] = 0.0  # the zero matrix
    H[11] = torch.eye(n, dtype=F64)  # repeated eigenvalue
    g = torch.randn(50, n, generator=torch.Generator().manual_seed(8), dtype=F64)
    ref = (torch.linalg.pinv(H, hermitian=True, rtol=1e-10) @ g.unsqueeze(-1)).squeeze(-1)
    out = linalg.pinv_solve(H, g)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)
    assert torch.equal(out[10], torch.zeros(n, dtype=F64))
    # a nonsingular row is the ordinary solve
    torch.testing.assert_close(out[20:], torch.linalg.solve(H[20:], g[20:]), rtol=1e-9, atol=1e-9)


def test_pinv_solve_singular_gives_minimum_norm_least_squares():
    H = torch.tensor([[[1.0, 1.0], [1.0, 1.0]]], dtype=F64)  # rank 1
    g = torch.tensor([[2.0, 0.0]], dtype=F64)
    x = linalg.pinv_solve(H, g)
    ref = torch.linalg.lstsq(H[0], g[0].unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    torch.testing.assert_close(x[0], ref, rtol=0, atol=1e-15)
    torch.testing.assert_close(x, torch.tensor([[0.5, 0.5]], dtype=F64), rtol=0, atol=1e-15)


def test_pinv_solve_non_finite_rows_give_nan_without_touching_others():
    H = torch.eye(2, dtype=F64).repeat(3, 1, 1) * 2.0
    g = torch.ones(3, 2, dtype=F64)
    H[0, 0, 0] = math.nan
    g[2, 1] = math.inf
    x = linalg.pinv_solve(H, g)
    assert torch.isnan(x[0]).all() and torch.isnan(x[2]).all()
    assert x[1].tolist() == [0.5, 0.5]


def test_pinv_from_eig_and_safe_divide_cut():
    lam = torch.tensor([[1e-12, 2.0]], dtype=F64)
    V = torch.eye(2, dtype=F64).unsqueeze(0)
    gt = torch.tensor([[1.0, 4.0]], dtype=F64)
    assert linalg.pinv_from_eig(lam, V, gt, rcond=1e-10).tolist() == [[0.0, 2.0]]
    assert linalg.pinv_from_eig(lam, V, gt, rcond=1e-15).tolist() == [[1e12, 2.0]]
    assert linalg.safe_divide(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 4.0]), 0.0).tolist() == [
        0.0,
        0.25,
    ]


def test_symmetrize():
    H = torch.tensor([[[1.0, 2.0], [4.0, 3.0]]], dtype=F64)
    assert linalg.symmetrize(H).tolist() == [[[1.0, 3.0], [3.0, 3.0]]]


# ---------------------------------------------------------------------------- dense Hessians
@pytest.mark.parametrize("chunk", [None, 1, 3, 64])
def test_dense_hessian_equals_torch_func_hessian(chunk):
    gen = torch.Generator().manual_seed(4)
    A = torch.randn(7, 7, generator=gen, dtype=F64)

    def f(w):
        return torch.tanh(A @ w).pow(2).sum() + w[0] * w[1] * w[2] + (w**4).sum()

    w = torch.randn(7, generator=gen, dtype=F64)
    ref = torch.func.hessian(f)(w)
    torch.testing.assert_close(linalg.dense_hessian(f, w, chunk=chunk), ref, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("chunk", [None, 5])
def test_hessian_over_module_parameters_with_an_unused_one(chunk):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    net = net.double()
    unused = torch.nn.Parameter(torch.ones(2, dtype=F64))
    params = [*net.parameters(), unused]
    X = torch.randn(9, 3, dtype=F64)
    y = torch.randn(9, 1, dtype=F64)
    loss = ((net(X) - y) ** 2).mean()
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    flat = torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
    )
    H = linalg.hessian_from_flat_grad(flat, params, chunk=chunk)

    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]

    def flat_loss(theta):
        out, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            out[n] = theta[i : i + s.numel()].reshape(s)
            i += s.numel()
        return ((torch.func.functional_call(net, out, (X,)) - y) ** 2).mean()

    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    ref = torch.func.hessian(flat_loss)(theta)
    m = theta.numel()
    torch.testing.assert_close(H[:m, :m], ref, rtol=1e-12, atol=1e-13)
    assert torch.equal(H[m:], torch.zeros(2, m + 2, dtype=F64))
    assert torch.equal(H[:, m:], torch.zeros(m + 2, 2, dtype=F64))


def test_dense_hessian_of_an_affine_function_is_zero():
    w = torch.randn(4, dtype=F64)
    H = linalg.dense_hessian(lambda v: (3.0 * v).sum() + 1.0, w)
    assert torch.equal(H, torch.zeros(4, 4, dtype=F64))


def test_eigh_of_diagonal_two_by_two_gives_exact_axis_vectors():
    H = torch.tensor(
        [[[-4.0, 0.0], [0.0, 2.0]], [[2.0, 0.0], [0.0, -4.0]], [[3.0, -0.0], [-0.0, 1.0]]],
        dtype=F64,
    )
    lam, V = linalg.eigh(H)
    assert lam.tolist() == [[-4.0, 2.0], [-4.0, 2.0], [1.0, 3.0]]
    assert V.abs().tolist() == [
        [[1.0, 0.0], [0.0, 1.0]],
        [[0.0, 1.0], [1.0, 0.0]],
        [[0.0, 1.0], [1.0, 0.0]],
    ]
