"""The one linear-algebra module: per-row Hessians, batched HVPs, small ``eigh``, safe solves.

Every function works on a batch of independent problems, one per row:

* **Per-row Hessians** of a batched objective ``f: (B, d) -> (B,)``. Rows are independent, so the
  gradient of the *sum* ``S(X) = sum_b f(X_b)`` has ``dS/dX_b = grad f(X_b)``, and one
  Hessian-vector product of ``S`` with the direction ``E_j`` (the unit vector ``e_j`` repeated on
  every row) gives column ``j`` of all ``B`` Hessians at once: ``H[b] e_j``. ``d`` products give
  the ``(B, d, d)`` stack; :func:`hessian_from_grad` does them one backward pass each or, for
  larger ``d``, as one batched (vmapped) backward pass.
* **Batched HVPs** ``H(X_b) V_b`` (:func:`row_hvp`): one backward pass of ``<grad S, V>``.
* **Dense Hessians** of one scalar loss over ``n`` parameters (:func:`hessian_from_flat_grad`,
  :func:`dense_hessian`): ``n`` HVPs, ``chunk`` of them per vmapped backward pass.
* **Symmetric eigendecomposition** (:func:`eigh`): closed forms for ``n <= 2``, LAPACK above.
* **Safe solves** (:func:`pinv_solve`, :func:`pinv_from_eig`, :func:`safe_divide`): the
  Moore-Penrose pseudo-inverse ``H^+ g = V diag(1/lam_i if |lam_i| > rcond max|lam| else 0)
  V^T g``; a singular (or zero) matrix gives the minimum-norm least-squares solution instead of
  an overflow, and a row with a non-finite entry gives NaN without disturbing the others.

Tolerances are arguments, with the defaults stated where they are defined.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

Tensor = torch.Tensor

PINV_RCOND = 1e-10
"""Default relative cut of :func:`pinv_solve`: eigenvalues ``|lam| <= 1e-10 max|lam|`` count as
zero (a step along them would be amplified by more than ``1e10`` relative to the best-conditioned
direction, i.e. dominated by rounding at float64)."""

BATCHED_HVP_MIN_DIM = 4
BATCHED_HVP_MAX_ENTRIES = 4096
""":func:`hessian_from_grad` computes the ``d`` products as one vmapped backward pass
(``is_grads_batched``) when ``d >= 4`` and the batch has at most ``B d = 4096`` entries;
otherwise ``d`` plain passes. Measured at one thread (``benchmarks/bench_linalg.py``, medians):
with few rows the batched pass is 1.7x (Rosenbrock ``d = 5``) to 16x (Rastrigin ``d = 64``)
faster, because the plain passes cost one autograd call each; at ``B = 1024`` and ``d >= 16`` it
is 0.4-0.8x (vmapped slicing ops of a formula over a large batch are slower than ``d`` passes)."""


# ---------------------------------------------------------------------------------- Hessians
def hessian_from_grad(g: Tensor, X: Tensor, *, batched: bool | None = None) -> Tensor:
    """Per-row Hessians ``H[b] = d g[b] / d X[b]``, ``(B, d, d)``, from a gradient with a graph.

    ``g`` is the ``(B, d)`` gradient of the summed objective with respect to the leaf ``X``,
    computed with ``create_graph=True``. Column ``j`` is the Hessian-vector product with ``E_j``
    (``e_j`` on every row). A gradient without a graph means the objective is affine in ``X``:
    the Hessian is zero. ``batched=None`` chooses the vmapped pass where it was measured faster
    (:data:`BATCHED_HVP_MIN_DIM`, :data:`BATCHED_HVP_MAX_ENTRIES`); a batched pass the graph
    cannot vmap falls back to ``d`` passes. The result is not symmetrised (pass it to
    :func:`symmetrize` if rounding matters).

    Example:
        >>> X = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
        >>> (g,) = torch.autograd.grad((X[:, 0] ** 2 * X[:, 1]).sum(), X, create_graph=True)
        >>> hessian_from_grad(g, X).tolist()
        [[[4.0, 2.0], [2.0, 0.0]]]
    """
    B, d = X.shape
    H = torch.zeros(B, d, d, dtype=X.dtype, device=X.device)
    if not g.requires_grad:
        return H
    if batched is None:
        batched = d >= BATCHED_HVP_MIN_DIM and B * d <= BATCHED_HVP_MAX_ENTRIES
    if batched:
        E = torch.eye(d, dtype=X.dtype, device=X.device).unsqueeze(1).expand(d, B, d)
        try:
            (cols,) = torch.autograd.grad(
                g, X, grad_outputs=E, retain_graph=True, is_grads_batched=True, allow_unused=True
            )
        except RuntimeError:  # an op without a batching rule: fall back to d passes
            cols = None
        else:
            if cols is None:  # the gradient does not depend on X
                return H
            return cols.detach().permute(1, 0, 2).contiguous()
    for j in range(d):
        (col,) = torch.autograd.grad(g[:, j].sum(), X, retain_graph=True, allow_unused=True)
        if col is not None:
            H[:, j, :] = col.detach()
    return H


def row_hessians(
    fn: Callable[[Tensor], Tensor], X: Tensor, *, batched: bool | None = None
) -> Tensor:
    """Per-row Hessians ``(B, d, d)`` of a batched objective ``fn: (B, d) -> (B,)`` at ``X``.

    ``d`` Hessian-vector products of ``sum_b fn(X)_b`` (see :func:`hessian_from_grad`).

    Example:
        >>> f = lambda P: P[:, 0] ** 2 - 3 * P[:, 1] ** 2
        >>> row_hessians(f, torch.zeros(1, 2, dtype=torch.float64)).tolist()
        [[[2.0, 0.0], [0.0, -6.0]]]
    """
    Xg = X.detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(fn(Xg).sum(), Xg, create_graph=True)
        return hessian_from_grad(g, Xg, batched=batched)


def row_hvp(fn: Callable[[Tensor], Tensor], X: Tensor, V: Tensor) -> Tensor:
    """Per-row Hessian-vector products ``H(X_b) V_b``, ``(B, d)``, from one double backward.

    ``d/dX <grad S(X), V> = H V`` row by row, because rows are independent.

    Example:
        >>> f = lambda P: (P**3).sum(-1)
        >>> X = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
        >>> row_hvp(f, X, torch.ones_like(X)).tolist()
        [[6.0, 12.0]]
    """
    Xg = X.detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(fn(Xg).sum(), Xg, create_graph=True)
        if not g.requires_grad:  # affine objective: the Hessian is zero
            return torch.zeros_like(Xg).detach()
        (hv,) = torch.autograd.grad(g, Xg, grad_outputs=V, allow_unused=True)
    return torch.zeros_like(Xg).detach() if hv is None else hv.detach()


def hessian_from_flat_grad(
    flat_grad: Tensor, params: Sequence[Tensor], *, chunk: int | None = 64
) -> Tensor:
    """The dense ``(n, n)`` Hessian over parameters ``params`` from their flattened gradient.

    ``flat_grad`` is the ``(n,)`` concatenation of the gradients of one scalar loss with respect
    to ``params`` (computed with ``create_graph=True``). Row ``j`` is ``d flat_grad[j] / d
    params`` flattened in the same order. Rows are computed ``chunk`` at a time in one vmapped
    backward pass (``is_grads_batched``; ``chunk=None``: one backward pass per row, the
    reference), falling back to one pass per row where the graph cannot be vmapped. Parameters
    the gradient does not depend on give zero columns; a gradient without a graph gives zeros.

    Example:
        >>> w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
        >>> (g,) = torch.autograd.grad((w[0] ** 2 * w[1]), w, create_graph=True)
        >>> hessian_from_flat_grad(g, [w]).tolist()
        [[4.0, 2.0], [2.0, 0.0]]
    """
    params = list(params)
    n = flat_grad.numel()
    H = flat_grad.new_zeros(n, n)
    if flat_grad.grad_fn is None:
        return H.detach()

    def rows(cols: Sequence[Tensor | None], lead: tuple[int, ...]) -> Tensor:
        return torch.cat(
            [
                (c if c is not None else p.new_zeros(*lead, *p.shape)).detach().reshape(*lead, -1)
                for c, p in zip(cols, params, strict=True)
            ],
            dim=-1,
        )

    if chunk is not None:
        try:
            for s in range(0, n, chunk):
                e = min(n, s + chunk)
                E = flat_grad.new_zeros(e - s, n)
                E[torch.arange(e - s), torch.arange(s, e)] = 1.0
                cols = torch.autograd.grad(
                    flat_grad,
                    params,
                    grad_outputs=E,
                    retain_graph=True,
                    is_grads_batched=True,
                    allow_unused=True,
                )
                H[s:e] = rows(cols, (e - s,))
            return H
        except RuntimeError:  # an op without a batching rule: one pass per row below
            pass
    for j in range(n):
        cols = torch.autograd.grad(flat_grad[j], params, retain_graph=True, allow_unused=True)
        H[j] = rows(cols, ())
    return H


def dense_hessian(
    fn: Callable[[Tensor], Tensor], theta: Tensor, *, chunk: int | None = 16
) -> Tensor:
    """The dense ``(n, n)`` Hessian of a scalar function of a vector ``theta`` (``n`` HVPs).

    The rows come :func:`hessian_from_flat_grad`'s way, ``chunk`` unit vectors per vmapped
    backward pass: the numbers of ``torch.func.hessian`` with memory bounded by ``chunk`` copies
    of the graph.

    Example:
        >>> dense_hessian(lambda w: (w[0] * w[1] - 1) ** 2, torch.zeros(2, dtype=torch.float64))
        tensor([[ 0., -2.],
                [-2.,  0.]], dtype=torch.float64)
    """
    x = theta.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(fn(x), x, create_graph=True)
        return hessian_from_flat_grad(g.reshape(-1), [x], chunk=chunk)


def symmetrize(H: Tensor) -> Tensor:
    """``(H + H^T) / 2`` over the last two axes (removes rounding asymmetry of HVP columns)."""
    return 0.5 * (H + H.mT)


# ------------------------------------------------------------------------ eigendecomposition
def eigh(H: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors of symmetric ``(..., n, n)`` matrices.

    ``n = 1`` and ``n = 2`` (the lab's landscapes) use closed forms, ~30x faster than LAPACK on
    many tiny matrices and as accurate (absolute error ~ eps * |H|): for ``[[a, b], [b, c]]``
    the eigenvalues are ``m -+ r`` with ``m = (a + c) / 2``, ``r = hypot((a - c) / 2, b)``, and
    the top eigenvector is ``(cos t, sin t)`` with ``t = atan2(b, (a - c) / 2) / 2``. Only the
    symmetric part is used (``b`` is the mean of the two off-diagonal entries). Larger ``n``
    goes to ``torch.linalg.eigh``. With a repeated eigenvalue any orthonormal basis is returned
    (``V`` is the identity for a multiple of the identity); a diagonal ``2 x 2`` gets exact axis
    vectors.

    Example:
        >>> lam, V = eigh(torch.tensor([[[2.0, 1.0], [1.0, 2.0]]], dtype=torch.float64))
        >>> lam.tolist()
        [[1.0, 3.0]]
    """
    n = H.shape[-1]
    if n == 1:
        return H[..., 0], torch.ones_like(H)
    if n == 2:
        a, b, c = H[..., 0, 0], 0.5 * (H[..., 0, 1] + H[..., 1, 0]), H[..., 1, 1]
        m = 0.5 * (a + c)
        h = 0.5 * (a - c)
        r = torch.hypot(h, b)
        lam = torch.stack([m - r, m + r], dim=-1)
        t = 0.5 * torch.atan2(b, h)
        cos, sin = torch.cos(t), torch.sin(t)
        # a diagonal matrix with a > c has t = +-pi/2, where cos(t) ~ 6e-17 instead of 0: snap
        # it, so diagonal Hessians (separable functions) get exact axis eigenvectors
        swap = (b == 0) & (h < 0)
        cos = torch.where(swap, 0.0, cos)
        sin = torch.where(swap, 1.0, sin)
        # columns: v_min = (-sin, cos), v_max = (cos, sin)
        V = torch.stack([torch.stack([-sin, cos], -1), torch.stack([cos, sin], -1)], dim=-1)
        return lam, V
    return torch.linalg.eigh(H)


def safe_eigh(H: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`eigh` of a ``(B, n, n)`` stack that tolerates non-finite rows.

    Returns ``lam, V, finite``: rows with a NaN or infinite entry are decomposed as the identity
    (so LAPACK never sees them) and flagged ``False`` in ``finite``.
    """
    finite = torch.isfinite(H).flatten(1).all(1)
    if not bool(finite.all()):
        eye = torch.eye(H.shape[-1], dtype=H.dtype, device=H.device).expand_as(H)
        H = torch.where(finite[:, None, None], H, eye)
    lam, V = eigh(H)
    return lam, V, finite


# ------------------------------------------------------------------------------ safe solves
def safe_divide(num: Tensor, den: Tensor, cut: Tensor | float) -> Tensor:
    """``num / den`` with the entries where ``|den| <= cut`` set to zero (pseudo-inverse)."""
    small = den.abs() <= cut
    return torch.where(small, torch.zeros_like(num), num / torch.where(small, 1.0, den))


def pinv_from_eig(lam: Tensor, V: Tensor, gt: Tensor, rcond: float = PINV_RCOND) -> Tensor:
    """``H^+ g = V c`` with ``c_i = gt_i / lam_i`` (0 where ``|lam_i| <= rcond max_j |lam_j|``).

    ``H = V diag(lam) V^T`` row by row, ``gt = V^T g``; shapes ``(R, n)``, ``(R, n, n)``,
    ``(R, n)`` -> ``(R, n)``. A zero matrix gives the zero vector.
    """
    cut = rcond * lam.abs().amax(dim=-1, keepdim=True)
    return (V @ safe_divide(gt, lam, cut).unsqueeze(-1)).squeeze(-1)


def pinv_solve(H: Tensor, g: Tensor, rcond: float = PINV_RCOND) -> Tensor:
    """The minimum-norm least-squares solution ``H^+ g`` per row: ``(R, n, n), (R, n) -> (R, n)``.

    ``H`` is symmetric. Eigenvalues with ``|lam| <= rcond * max|lam|`` count as zero
    (Moore-Penrose), so a singular ``H`` gives the least-squares step of smallest norm and the
    zero matrix gives ``0``. Rows where ``H`` or ``g`` is not finite give NaN.

    Example:
        >>> H = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
        >>> pinv_solve(H, torch.tensor([[4.0, 1.0]], dtype=torch.float64)).tolist()
        [[2.0, 0.0]]
    """
    ok = torch.isfinite(g).all(dim=-1)
    lam, V, finite = safe_eigh(H)
    ok = ok & finite
    g0 = torch.where(ok[:, None], g, torch.zeros_like(g))
    gt = (V.mT @ g0.unsqueeze(-1)).squeeze(-1)
    s = pinv_from_eig(lam, V, gt, rcond)
    return torch.where(ok[:, None], s, torch.full_like(s, math.nan))
