"""Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.

Lanczos builds an orthonormal basis ``V_j`` of the Krylov space ``span{v, Hv, ..., H^{j-1}v}``
in which ``V_jᵀ H V_j = T_j`` is tridiagonal; the eigenvalues of ``T_j`` (Ritz values) converge
to *both* ends of the spectrum at once, so one run gives ``λmax`` and ``λmin`` — unlike power
iteration, which returns the eigenvalue of largest modulus and cannot tell ``λmax`` from a
negative ``λmin`` at a saddle. Every new vector is orthogonalised against all previous ones
(twice: "twice is enough"), which keeps the basis orthonormal in floating point and prevents
ghost copies of converged eigenvalues. A Ritz pair ``(θ, y = V_j s)`` has residual
``‖Hy - θy‖ = |β_j s_j|``; iterations stop when every wanted pair has residual
``≤ tol · max|θ|``, then the residuals are recomputed with true products and reported.

If the Krylov space becomes invariant (``β_j ≈ 0``) before the wanted pairs converge, Lanczos
restarts with a fresh random vector orthogonal to the basis (``T`` gets a zero coupling), so
eigenvalues absent from the first Krylov space are still found. Exactly repeated eigenvalues
are seen once per Krylov space (a limitation of single-vector Lanczos); ``deflate=`` the
vectors already found and run again to get the further copies (``check_point`` does this when
it counts negative eigenvalues).

References: C. Lanczos (1950); G. Golub & C. Van Loan, *Matrix Computations*, §10.1; B. Parlett,
*The Symmetric Eigenvalue Problem* (1998), ch. 13.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from descentlab.errors import InvalidParameterError
from descentlab.nn._summary import summary
from descentlab.nn.hessian import as_matvec

WHICH = ("both", "top", "bottom")


@dataclass
class Eigenpairs:
    """Eigenvalues (largest first for ``top``, smallest first for ``bottom``), unit eigenvectors
    as columns ``(n, k)``, true residuals ``‖Hv - λv‖`` and per-pair convergence flags."""

    values: Tensor
    vectors: Tensor
    residuals: Tensor
    converged: Tensor

    def __repr__(self) -> str:
        return summary(
            "Eigenpairs",
            values=[round(float(v), 6) for v in self.values[:6]],
            k=int(self.values.numel()),
            n=int(self.vectors.shape[0]),
            converged=f"{int(self.converged.sum())}/{int(self.converged.numel())}",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": self.values.tolist(),
            "residuals": self.residuals.tolist(),
            "converged": [bool(c) for c in self.converged.tolist()],
        }


@dataclass
class LanczosResult:
    """Top and/or bottom eigenpairs, all Ritz values, and the cost (operator products)."""

    top: Eigenpairs | None
    bottom: Eigenpairs | None
    ritz_values: Tensor
    n_matvec: int
    iterations: int
    tol: float
    scale: float
    converged: bool

    def __repr__(self) -> str:
        parts: dict[str, Any] = {}
        if self.top is not None:
            parts["lambda_max"] = self.lambda_max
        if self.bottom is not None:
            parts["lambda_min"] = self.lambda_min
        return summary(
            "LanczosResult",
            **parts,
            converged=self.converged,
            iterations=self.iterations,
            n_matvec=self.n_matvec,
        )

    @property
    def lambda_max(self) -> float:
        if self.top is None:
            raise InvalidParameterError("lambda_max needs which='top' or 'both'")
        return float(self.top.values[0])

    @property
    def lambda_min(self) -> float:
        if self.bottom is None:
            raise InvalidParameterError("lambda_min needs which='bottom' or 'both'")
        return float(self.bottom.values[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": None if self.top is None else self.top.to_dict(),
            "bottom": None if self.bottom is None else self.bottom.to_dict(),
            "n_matvec": self.n_matvec,
            "iterations": self.iterations,
            "tol": self.tol,
            "scale": self.scale,
            "converged": self.converged,
        }


class LanczosProcess:
    """The Lanczos recurrence with full reorthogonalisation, one step at a time.

    ``alphas``/``betas`` define ``T_j`` (``betas[i]`` couples basis vectors ``i`` and ``i+1``);
    ``basis[:j]`` is ``V_jᵀ``. ``exhausted`` is set once no new direction can be added (the
    whole space is spanned, or an invariant subspace was reached with ``restart=False``).
    """

    def __init__(
        self,
        matvec: Any,
        n: int,
        v0: Tensor,
        max_iter: int,
        *,
        restart: bool = True,
        generator: torch.Generator | None = None,
        exclude: Tensor | None = None,
    ) -> None:
        self.exclude = exclude  # restarts stay orthogonal to these columns too
        self.matvec = matvec
        self.n = n
        self.restart = restart
        self.generator = generator
        self.max_iter = min(max_iter, n)
        self.basis = torch.zeros(self.max_iter, n, dtype=v0.dtype, device=v0.device)
        nrm = torch.linalg.vector_norm(v0)
        if not torch.isfinite(nrm) or nrm == 0:
            raise InvalidParameterError("the Lanczos start vector must be finite and non-zero")
        self.basis[0] = v0 / nrm
        self.alphas: list[float] = []
        self.betas: list[float] = []
        self.j = 0
        self.exhausted = False
        self.n_matvec = 0
        self._scale = 0.0

    def step(self) -> None:
        j = self.j
        if self.finished:
            return
        q = self.basis[j]
        w = self.matvec(q)
        self.n_matvec += 1
        if not torch.isfinite(w).all():
            raise InvalidParameterError("the operator returned non-finite values (NaN/Inf)")
        self._scale = max(self._scale, float(torch.linalg.vector_norm(w)))
        alpha = float(torch.dot(w, q))
        V = self.basis[: j + 1]
        for _ in range(2):  # classical Gram-Schmidt, twice
            w = w - V.T @ (V @ w)
        beta = float(torch.linalg.vector_norm(w))
        self.alphas.append(alpha)
        self.j = j + 1
        if self.j >= self.n:
            self.exhausted = True
            return
        if beta <= 1e-10 * max(self._scale, 1e-300):
            if not self.restart:
                self.exhausted = True
                return
            w = self._fresh_direction()
            if w is None:
                self.exhausted = True
                return
            beta_store = 0.0
            self.basis[self.j] = w
        else:
            beta_store = beta
            if self.j < self.max_iter:
                self.basis[self.j] = w / beta
        self.betas.append(beta_store)

    @property
    def finished(self) -> bool:
        """No further step: the space is exhausted or ``max_iter`` steps were taken."""
        return self.exhausted or self.j >= self.max_iter

    def _fresh_direction(self) -> Tensor | None:
        V = self.basis[: self.j]
        for _ in range(3):
            r = torch.randn(self.n, generator=self.generator, dtype=torch.float64)
            r = r.to(dtype=V.dtype, device=V.device)
            for _ in range(2):
                if self.exclude is not None:
                    r = r - self.exclude @ (self.exclude.T @ r)
                r = r - V.T @ (V @ r)
            nrm = torch.linalg.vector_norm(r)
            if nrm > 1e-8:
                return r / nrm
        return None

    def tridiagonal(self) -> Tensor:
        """``T_j`` as a dense float64 CPU matrix."""
        j = self.j
        T = torch.diag(torch.tensor(self.alphas[:j], dtype=torch.float64))
        if j > 1:
            off = torch.tensor(self.betas[: j - 1], dtype=torch.float64)
            T = T + torch.diag(off, 1) + torch.diag(off, -1)
        return T

    def ritz(self) -> tuple[Tensor, Tensor, Tensor]:
        """Ritz values (ascending), the eigenvectors of ``T_j``, estimated residuals."""
        theta, S = torch.linalg.eigh(self.tridiagonal())
        if self.exhausted or len(self.betas) < self.j:
            est = torch.zeros_like(theta)
        else:
            est = (self.betas[self.j - 1] * S[-1, :]).abs()
        return theta, S, est


def _wanted(theta: Tensor, k: int, which: str) -> tuple[Tensor | None, Tensor | None]:
    m = theta.numel()
    kk = min(k, m)
    top = torch.arange(m - 1, m - 1 - kk, -1) if which in ("both", "top") else None
    bottom = torch.arange(kk) if which in ("both", "bottom") else None
    return top, bottom


def lanczos(
    A: Any,
    k: int = 1,
    which: str = "both",
    *,
    tol: float = 1e-6,
    max_iter: int | None = None,
    seed: int = 0,
    v0: Tensor | None = None,
    deflate: Tensor | None = None,
) -> LanczosResult:
    """The ``k`` largest and/or ``k`` smallest eigenpairs of a symmetric operator.

    Args:
        A: a :class:`~descentlab.nn.hessian.HessianOperator`, a symmetric matrix, or an object
            with ``matvec(v)`` and ``n``.
        k: how many eigenpairs at each wanted end.
        which: ``"both"`` (default), ``"top"`` or ``"bottom"``.
        tol: stop when every wanted Ritz pair has residual ``≤ tol · max|θ|`` (floored at a
            few machine epsilons of the dtype).
        max_iter: most Lanczos steps (operator products); default ``min(n, max(100, 20k))``.
        seed: seed of the random start vector (drawn in float64 on the CPU, so it is the same
            on every device).
        v0: an explicit start vector instead.
        deflate: orthonormal columns ``Q`` (``(n, m)``) to exclude: Lanczos runs on
            ``(I - QQᵀ) H (I - QQᵀ)`` from a start orthogonal to ``Q``, so it returns the
            eigenpairs of ``H`` in the complement of ``span Q`` (e.g. further copies of a
            repeated eigenvalue after its first eigenvector was found).

    Returns:
        A :class:`LanczosResult`; ``converged`` is ``False`` (not an error) when ``max_iter``
        ran out first.

    Example:
        >>> H = torch.diag(torch.tensor([-2.0, 0.5, 1.0, 3.0], dtype=torch.float64))
        >>> r = lanczos(H, k=1)
        >>> round(r.lambda_max, 8), round(r.lambda_min, 8)
        (3.0, -2.0)
    """
    matvec, n, dtype, device = as_matvec(A)
    if deflate is not None:
        Q = torch.as_tensor(deflate).to(dtype=dtype, device=device)
        if Q.dim() == 1:
            Q = Q[:, None]
        if Q.dim() != 2 or Q.shape[0] != n:
            raise InvalidParameterError(f"deflate must have shape (n, m) with n={n}")
        if Q.shape[1] >= n:
            raise InvalidParameterError("deflate spans the whole space: nothing left")
        if not torch.allclose(
            Q.T @ Q, torch.eye(Q.shape[1], dtype=dtype, device=device), atol=1e-6
        ):
            raise InvalidParameterError("deflate must have orthonormal columns")
        base = matvec

        def project(v: Tensor) -> Tensor:
            return v - Q @ (Q.T @ v)

        def matvec(v: Tensor) -> Tensor:
            return project(base(project(v)))

        n_free = n - Q.shape[1]
    else:
        project = None
        n_free = n
    if which not in WHICH:
        raise InvalidParameterError(f"which must be one of {', '.join(WHICH)}, got {which!r}")
    if not isinstance(k, int) or k < 1:
        raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
    if k > n_free:
        raise InvalidParameterError(f"k={k} exceeds the operator size n={n_free}")
    if not (isinstance(tol, int | float) and 0 < tol < 1):
        raise InvalidParameterError(f"tol must be in (0, 1), got {tol!r}")
    if max_iter is None:
        max_iter = min(n_free, max(100, 20 * k))
    if not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidParameterError(f"max_iter must be a positive integer, got {max_iter!r}")
    max_iter = min(max_iter, n_free)
    eps = torch.finfo(dtype).eps
    tol_eff = max(float(tol), 50 * eps)
    # A deflated run draws a start of its own: the previous run's start may have had its whole
    # component in a repeated eigenspace along the very vector now deflated.
    offset = 0 if project is None else 1_000_003 * (1 + Q.shape[1])
    gen = torch.Generator().manual_seed(int(seed) + offset)
    if v0 is None:
        v0 = torch.randn(n, generator=gen, dtype=torch.float64)
    v0 = torch.as_tensor(v0).to(dtype=dtype, device=device)
    if v0.shape != (n,):
        raise InvalidParameterError(f"v0 must have shape ({n},), got {tuple(v0.shape)}")
    if project is not None:
        v0 = project(project(v0))
    proc = LanczosProcess(
        matvec, n, v0, max_iter, restart=True, generator=gen, exclude=None if project is None else Q
    )
    need = k if which != "both" else min(n_free, k + 1)
    while True:
        proc.step()
        if proc.j < need and not proc.finished:
            continue
        theta, S, est = proc.ritz()
        scale = float(theta.abs().max()) if theta.numel() else 0.0
        top, bottom = _wanted(theta, k, which)
        idx = torch.cat([i for i in (top, bottom) if i is not None])
        done = bool((est[idx] <= tol_eff * max(scale, 1e-300)).all()) or scale == 0.0
        if done or proc.finished:
            break
    theta, S, est = proc.ritz()
    scale = float(theta.abs().max())
    Vt = proc.basis[: proc.j]
    top, bottom = _wanted(theta, k, which)
    n_true = 0

    def pairs(index: Tensor | None) -> Eigenpairs | None:
        nonlocal n_true
        if index is None:
            return None
        vals = theta[index]
        Y = Vt.T @ S[:, index].to(dtype=dtype, device=device)
        Y = Y / torch.linalg.vector_norm(Y, dim=0, keepdim=True)
        res = []
        for c in range(Y.shape[1]):
            r = matvec(Y[:, c]) - vals[c].to(dtype=dtype, device=device) * Y[:, c]
            n_true += 1
            res.append(float(torch.linalg.vector_norm(r)))
        res_t = torch.tensor(res, dtype=torch.float64)
        ok = res_t <= (tol_eff + 100 * eps) * max(scale, 1e-300)
        return Eigenpairs(vals.clone(), Y, res_t, ok)

    top_p, bottom_p = pairs(top), pairs(bottom)
    flags = [p.converged.all() for p in (top_p, bottom_p) if p is not None]
    return LanczosResult(
        top=top_p,
        bottom=bottom_p,
        ritz_values=theta,
        n_matvec=proc.n_matvec + n_true,
        iterations=proc.j,
        tol=tol_eff,
        scale=scale,
        converged=bool(all(flags)),
    )
