"""The linear autoencoder of Baldi & Hornik (1989): every critical point, its loss and its index.

The loss of a linear autoencoder with ``p`` hidden units on centred data ``X`` (``n x m``) is

    ``L(A, B) = ||X - A B X||_F^2``,  ``A`` (``n x p``), ``B`` (``p x n``),

with data covariance ``S = X X^T = U diag(lam) U^T``, ``lam_1 > ... > lam_n > 0`` distinct.
Baldi & Hornik showed that, for ``A`` of full rank ``p``, ``(A, B)`` is critical exactly when
``A = U_I C`` and ``B = C^-1 U_I^T`` for a set ``I`` of ``p`` eigenvector indices and an
invertible ``C`` (the ``GL(p)`` symmetry ``A -> A C``, ``B -> C^-1 B``), with loss
``tr S - sum_{i in I} lam_i = sum_{j not in I} lam_j``; only ``I = {1..p}`` (the top ``p``
eigenvectors: principal component analysis) is a minimum, every other one is a saddle.

The Hessian there is exact (derived here by expanding ``L`` to second order at ``C = I``, in the
eigenbasis). Writing ``J`` for the complement of ``I``, the ``2 n p`` parameter directions split
into independent blocks:

* for each latent unit ``k`` (sitting on eigenvector ``i_k in I``) and each ``j in J``, the pair
  (``A[j, k]``, ``B[k, j]``) has the ``2 x 2`` Hessian ``2 [[lam_i, -lam_j], [-lam_j, lam_j]]``
  (determinant ``4 lam_j (lam_i - lam_j)``): one negative eigenvalue exactly when
  ``lam_j > lam_i``, i.e. when a left-out direction carries more variance than a kept one;
* for each ``k`` and each ``i in I``, the pair (``A[i, k]``, ``B[k, i]``) has the Hessian
  ``2 lam_i [[1, 1], [1, 1]]``: eigenvalues ``4 lam_i`` and ``0``. These ``p^2`` zero eigenvalues
  are the ``GL(p)`` symmetry directions (``dA = A E``, ``dB = -E B``).

Hence the index (number of negative eigenvalues) of the critical point ``I`` is the number of
pairs ``(i in I, j in J)`` with ``lam_j > lam_i``, it has ``p^2`` zero eigenvalues, and only the
top set has index 0. With ``C != I`` the Hessian is congruent to this one (the symmetry is a
linear change of parameters), so by Sylvester's law of inertia the index and the number of zero
eigenvalues are the same. The origin ``A = B = 0`` (rank 0) is critical too, with loss ``tr S``
and Hessian eigenvalues ``+-2 lam_j`` (each ``p`` times): index ``n p``.

Reference: P. Baldi and K. Hornik, *Neural networks and principal component analysis: learning
from examples without local minima*, Neural Networks 2 (1989) 53-58.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from descentlab.errors import InvalidParameterError

Tensor = torch.Tensor
DTYPE = torch.float64


@dataclass(frozen=True)
class LinearAutoencoder:
    """Data ``X`` (``n x m``) with covariance ``X X^T = U diag(lam) U^T`` and ``p`` hidden units.

    Attributes:
        X: the data, one sample per column.
        U: orthonormal eigenvectors of ``X X^T`` (columns), in the order of ``lam``.
        lam: the eigenvalues, strictly decreasing.
        p: the number of hidden units.
    """

    X: Tensor
    U: Tensor
    lam: Tensor
    p: int

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_params(self) -> int:
        return 2 * self.n * self.p

    def split(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """The flat parameter vector ``[A (row-major), B (row-major)]`` as ``(A, B)``."""
        n, p = self.n, self.p
        return theta[: n * p].reshape(n, p), theta[n * p :].reshape(p, n)

    def flat(self, A: Tensor, B: Tensor) -> Tensor:
        return torch.cat([A.reshape(-1), B.reshape(-1)])

    def loss(self, theta: Tensor) -> Tensor:
        """``||X - A B X||_F^2`` for the flat parameter vector ``theta``."""
        A, B = self.split(theta)
        R = self.X - A @ (B @ self.X)
        return (R * R).sum()

    def critical_point(self, subset: tuple[int, ...], C: Tensor | None = None) -> Tensor:
        """``A = U_I C``, ``B = C^-1 U_I^T`` for the eigenvector indices ``subset`` (0-based)."""
        if len(subset) != self.p or len(set(subset)) != self.p:
            raise InvalidParameterError(
                f"a full-rank critical point needs {self.p} distinct eigenvector indices, "
                f"got {subset}"
            )
        UI = self.U[:, list(subset)]
        C = torch.eye(self.p, dtype=DTYPE) if C is None else C
        return self.flat(UI @ C, torch.linalg.solve(C, UI.T))


def make_autoencoder(
    eigenvalues: tuple[float, ...] = (5.0, 4.0, 3.0, 2.0, 1.0),
    p: int = 2,
    m: int = 12,
    seed: int = 0,
) -> LinearAutoencoder:
    """Data whose covariance ``X X^T`` has exactly the given (distinct, positive) eigenvalues.

    ``X = U diag(sqrt(lam)) Z`` with ``U`` a random orthogonal matrix and ``Z`` (``n x m``) with
    orthonormal rows, so ``X X^T = U diag(lam) U^T`` up to rounding.

    Example:
        >>> ae = make_autoencoder((3.0, 2.0, 1.0), p=1)
        >>> [round(float(v), 12) for v in torch.linalg.eigvalsh(ae.X @ ae.X.T).flip(0)]
        [3.0, 2.0, 1.0]
    """
    lam = torch.tensor(eigenvalues, dtype=DTYPE)
    n = lam.numel()
    if n < 2 or not bool((lam > 0).all()) or not bool((lam[:-1] > lam[1:]).all()):
        raise InvalidParameterError(
            f"eigenvalues must be at least two positive, strictly decreasing numbers, "
            f"got {eigenvalues}"
        )
    if not 1 <= p < n:
        raise InvalidParameterError(f"p must be in 1..{n - 1}, got {p}")
    if m < n:
        raise InvalidParameterError(f"m (samples) must be at least n = {n}, got {m}")
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=DTYPE))
    Z, _ = torch.linalg.qr(torch.randn(m, n, generator=g, dtype=DTYPE))  # (m, n), Z^T Z = I
    X = U @ torch.diag(lam.sqrt()) @ Z.T
    return LinearAutoencoder(X, U, lam, p)


def theory_loss(lam: Tensor, subset: tuple[int, ...]) -> float:
    """``sum_{j not in I} lam_j``: the loss of the critical point ``I``."""
    return math.fsum(float(v) for j, v in enumerate(lam) if j not in subset)


def theory_index(lam: Tensor, subset: tuple[int, ...]) -> int:
    """Number of pairs ``(i in I, j not in I)`` with ``lam_j > lam_i``.

    Example:
        >>> theory_index(torch.tensor([3.0, 2.0, 1.0]), (2,))  # keep the smallest: 2 pairs
        2
    """
    vals = [float(v) for v in lam]
    out = [j for j in range(len(vals)) if j not in subset]
    return sum(1 for i in subset for j in out if vals[j] > vals[i])


def theory_eigenvalues(lam: Tensor, subset: tuple[int, ...], p: int) -> list[float]:
    """The exact Hessian spectrum at ``A = U_I``, ``B = U_I^T`` (``C = I``), ascending.

    Per ``(i in I, j not in I)``: the eigenvalues of ``2 [[lam_i, -lam_j], [-lam_j, lam_j]]``;
    per ``(k, i in I)``: ``4 lam_i`` and ``0``.
    """
    vals = [float(v) for v in lam]
    out = [j for j in range(len(vals)) if j not in subset]
    ev: list[float] = []
    for i in subset:
        for j in out:
            a, b = vals[i], vals[j]
            mid, rad = a + b, math.sqrt((a - b) ** 2 + 4 * b * b)
            ev += [mid - rad, mid + rad]
        ev += [4.0 * vals[i]] * p + [0.0] * p
    return sorted(ev)


@dataclass(frozen=True)
class AECriticalPoint:
    """One enumerated critical point, theory beside measurement."""

    subset: tuple[int, ...]
    loss: float
    theory_loss: float
    grad_norm: float
    index: int
    theory_index: int
    zero_eigenvalues: int
    max_eigenvalue_error: float  # against theory_eigenvalues (C = I only; nan otherwise)

    @property
    def kind(self) -> str:
        return "minimum" if self.index == 0 else "saddle"


def _inertia(H: Tensor) -> tuple[Tensor, int, int]:
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T))
    tol = 1e-9 * max(1.0, float(ev.abs().max()))
    return ev, int((ev < -tol).sum()), int((ev.abs() <= tol).sum())


def enumerate_critical_points(
    ae: LinearAutoencoder, C: Tensor | None = None
) -> list[AECriticalPoint]:
    """Every full-rank critical point (one per ``p``-subset), measured with ``torch.func``.

    Gradient and Hessian come from ``torch.func.grad`` / ``torch.func.hessian`` at float64; the
    index counts eigenvalues below ``-1e-9 * max |eigenvalue|`` and the zero count those within
    it. With ``C = None`` (``C = I``) the spectrum is also compared with
    :func:`theory_eigenvalues`.

    Example:
        >>> ae = make_autoencoder((3.0, 2.0, 1.0), p=1)
        >>> [(c.subset, c.index) for c in enumerate_critical_points(ae)]
        [((0,), 0), ((1,), 1), ((2,), 2)]
    """
    grad = torch.func.grad(ae.loss)
    hess = torch.func.hessian(ae.loss)
    out = []
    for subset in itertools.combinations(range(ae.n), ae.p):
        theta = ae.critical_point(subset, C)
        ev, neg, zero = _inertia(hess(theta))
        err = float("nan")
        if C is None:
            th = torch.tensor(theory_eigenvalues(ae.lam, subset, ae.p), dtype=DTYPE)
            err = float((ev - th).abs().max())
        out.append(
            AECriticalPoint(
                subset=subset,
                loss=float(ae.loss(theta)),
                theory_loss=theory_loss(ae.lam, subset),
                grad_norm=float(grad(theta).norm()),
                index=neg,
                theory_index=theory_index(ae.lam, subset),
                zero_eigenvalues=zero,
                max_eigenvalue_error=err,
            )
        )
    return out


def origin_point(ae: LinearAutoencoder) -> dict[str, float | int]:
    """``A = B = 0``: loss ``tr S``, Hessian eigenvalues ``+-2 lam_j`` (``p`` times each), index
    ``n p``; measured here beside the theory."""
    theta = torch.zeros(ae.n_params, dtype=DTYPE)
    ev, neg, zero = _inertia(torch.func.hessian(ae.loss)(theta))
    lam = [float(v) for v in ae.lam]
    th = torch.tensor(sorted([2 * v for v in lam] * ae.p + [-2 * v for v in lam] * ae.p))
    return {
        "loss": float(ae.loss(theta)),
        "theory_loss": math.fsum(lam),
        "grad_norm": float(torch.func.grad(ae.loss)(theta).norm()),
        "index": neg,
        "theory_index": ae.n * ae.p,
        "zero_eigenvalues": zero,
        "max_eigenvalue_error": float((ev - th.to(DTYPE)).abs().max()),
    }
