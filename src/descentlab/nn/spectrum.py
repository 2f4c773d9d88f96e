"""Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.

Lanczos builds an orthonormal basis ``V_j`` of the Krylov space ``span{v, Hv, ..., H^{j-1}v}``
in which ``V_jᵀ H V_j = T_j`` is tridiagonal; the eigenvalues of ``T_j`` (Ritz values) converge
to *both* ends of the spectrum at once, so one run gives ``λmax`` and ``λmin`` — unlike power
iteration, which returns the eigenvalue of largest modulus and cannot tell ``λmax`` from a
negative ``λmin`` at a saddle. Every new vector is orthogonalised against all previous ones
(twice: "twice is enough"), which keeps the basis orthonormal in floating point and prevents
ghost copies of converged eigenvalues. A Ritz pair ``(θ, y = V_j s)`` has residual
``‖Hy - θy‖ = |β_j s_j|``; iterations stop when every wanted pair has residual
``≤ max(atol, tol · max|θ|)`` or the step budget ``max_steps`` is spent, then the residuals are
recomputed with true products and reported with a per-pair ``converged`` flag.

Error bounds (Parlett, ch. 11): for a unit ``y`` with ``r = Hy - θy``, some eigenvalue of ``H``
lies in ``[θ - ‖r‖, θ + ‖r‖]``; if no other eigenvalue lies within ``gap`` of ``θ``, the
distance shrinks to ``‖r‖² / gap`` (Kato–Temple). ``Eigenpairs.bounds`` is the first,
guaranteed bound, refined by the second with ``gap`` taken as the distance to the nearest other
Ritz value minus its residual (a bound that assumes Lanczos has not missed an eigenvalue in
between — the usual assumption once the pairs have converged). A Ritz value is also the Rayleigh
quotient ``yᵀHy`` of its vector, so ``λmin ≤ θmin`` and ``λmax ≥ θmax`` hold whether or not the
pair converged.

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

import math
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
    as columns ``(n, k)``, true residuals ``‖Hv - λv‖``, per-pair convergence flags and error
    bounds: an eigenvalue of ``H`` lies within ``bounds[i]`` of ``values[i]`` (see the module
    docstring)."""

    values: Tensor
    vectors: Tensor
    residuals: Tensor
    converged: Tensor
    bounds: Tensor | None = None

    def __post_init__(self) -> None:
        if self.bounds is None:
            self.bounds = self.residuals.clone()

    def __repr__(self) -> str:
        return summary(
            "Eigenpairs",
            values=[round(float(v), 6) for v in self.values[:6]],
            k=int(self.values.numel()),
            n=int(self.vectors.shape[0]),
            converged=f"{int(self.converged.sum())}/{int(self.converged.numel())}",
        )

    def to_dict(self) -> dict[str, Any]:
        assert self.bounds is not None
        return {
            "values": self.values.tolist(),
            "residuals": self.residuals.tolist(),
            "bounds": self.bounds.tolist(),
            "converged": [bool(c) for c in self.converged.tolist()],
        }


@dataclass
class LanczosResult:
    """Top and/or bottom eigenpairs, all Ritz values, and the cost (operator products).

    ``converged`` is true when every reported pair converged; ``max_steps`` is the step budget
    that applied and ``budget_exhausted`` says the run stopped because it was spent (raise
    ``max_steps`` to go further); ``atol`` and ``tol`` are the residual tolerances used.
    """

    top: Eigenpairs | None
    bottom: Eigenpairs | None
    ritz_values: Tensor
    n_matvec: int
    iterations: int
    tol: float
    scale: float
    converged: bool
    atol: float = 0.0
    max_steps: int = 0
    budget_exhausted: bool = False

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
            "atol": self.atol,
            "scale": self.scale,
            "converged": self.converged,
            "max_steps": self.max_steps,
            "budget_exhausted": self.budget_exhausted,
        }


class LanczosProcess:
    """The Lanczos recurrence with full reorthogonalisation, one step at a time.

    ``alphas``/``betas`` define ``T_j`` (``betas[i]`` couples basis vectors ``i`` and ``i+1``);
    ``basis[:j]`` is ``V_jᵀ``. ``exhausted`` is set once no new direction can be added (the
    whole space is spanned, or an invariant subspace was reached with ``restart=False``).

    Storage grows with the steps taken (doubling), not with ``max_iter``. While it fits in
    ``products_budget`` bytes, the raw products ``H v_i`` are kept too (``products[:j]``), so a
    Ritz vector's true residual ``‖H y - θ y‖ = ‖W s - θ V s‖`` costs no further product.
    The recurrences run in the dtype of ``v0`` (float64 for a float32 model's operator, see
    :func:`~descentlab.nn.hessian.as_matvec`).
    """

    products_budget = 1 << 30  # bytes of kept products before they are dropped

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
        keep_products: bool = True,
    ) -> None:
        self.exclude = exclude  # restarts stay orthogonal to these columns too
        self.matvec = matvec
        self.n = n
        self.restart = restart
        self.generator = generator
        self.max_iter = min(max_iter, n)
        nrm = torch.linalg.vector_norm(v0)
        if not torch.isfinite(nrm) or nrm == 0:
            raise InvalidParameterError("the Lanczos start vector must be finite and non-zero")
        cap = min(self.max_iter, 16)
        self.basis = torch.empty(cap, n, dtype=v0.dtype, device=v0.device)
        self.products: Tensor | None = torch.empty_like(self.basis) if keep_products else None
        self.basis[0] = v0 / nrm
        self.alphas: list[float] = []
        self.betas: list[float] = []
        self.j = 0
        self.exhausted = False
        self.n_matvec = 0
        self._scale = 0.0

    def _reserve(self, rows: int) -> None:
        """Room for ``rows`` basis vectors (and products, while within the budget)."""
        cap = self.basis.shape[0]
        if rows <= cap:
            return
        new_cap = min(max(2 * cap, rows), self.max_iter + 1)
        grown = torch.empty(new_cap, self.n, dtype=self.basis.dtype, device=self.basis.device)
        grown[:cap] = self.basis
        self.basis = grown
        if self.products is not None:
            if new_cap * self.n * self.basis.element_size() > self.products_budget:
                self.products = None  # too large: residuals will cost one product each
            else:
                grown_p = torch.empty_like(grown)
                grown_p[:cap] = self.products
                self.products = grown_p

    def step(self) -> None:
        j = self.j
        if self.finished:
            return
        q = self.basis[j]
        w = self.matvec(q)
        self.n_matvec += 1
        if not torch.isfinite(w).all():
            raise InvalidParameterError("the operator returned non-finite values (NaN/Inf)")
        if self.products is not None:
            self.products[j] = w
        self._scale = max(self._scale, float(torch.linalg.vector_norm(w)))
        V = self.basis[: j + 1]
        c = V @ w
        alpha = float(c[j])
        w = w - V.T @ c
        w = w - V.T @ (V @ w)  # classical Gram-Schmidt, twice ("twice is enough")
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
            self._reserve(self.j + 1)
            self.basis[self.j] = w
        else:
            beta_store = beta
            if self.j < self.max_iter:
                self._reserve(self.j + 1)
                self.basis[self.j] = w / beta
        self.betas.append(beta_store)

    def ritz_residuals(self, S: Tensor, values: Tensor) -> tuple[Tensor, Tensor] | None:
        """Unit Ritz vectors ``Y = V s / ‖V s‖`` (columns) for the columns ``s`` of ``S`` and
        their true residuals ``‖H y - θ y‖`` from the kept products, or ``None`` when the
        products were not kept."""
        if self.products is None:
            return None
        j = self.j
        S = S.to(dtype=self.basis.dtype, device=self.basis.device)
        Y = self.basis[:j].T @ S
        HY = self.products[:j].T @ S
        nrm = torch.linalg.vector_norm(Y, dim=0, keepdim=True)
        Y, HY = Y / nrm, HY / nrm
        theta = values.to(dtype=Y.dtype, device=Y.device)
        res = torch.linalg.vector_norm(HY - Y * theta[None, :], dim=0)
        return Y, res.double().cpu()

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
    atol: float = 0.0,
    max_steps: int | None = None,
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
        tol: relative residual tolerance: stop when every wanted Ritz pair has residual
            ``≤ max(atol, tol · max|θ|)`` (``tol`` floored at a few machine epsilons).
        atol: absolute residual tolerance (default 0: relative only).
        max_steps: step budget, the most Lanczos steps (operator products); default
            ``min(n, max(100, 20k))``; any value up to ``n`` may be asked for.
        max_iter: the former name of ``max_steps`` (give one of them).
        seed: seed of the random start vector (drawn in float64 on the CPU, so it is the same
            on every device).
        v0: an explicit start vector instead.
        deflate: orthonormal columns ``Q`` (``(n, m)``) to exclude: Lanczos runs on
            ``(I - QQᵀ) H (I - QQᵀ)`` from a start orthogonal to ``Q``, so it returns the
            eigenpairs of ``H`` in the complement of ``span Q`` (e.g. further copies of a
            repeated eigenvalue after its first eigenvector was found).

    Returns:
        A :class:`LanczosResult`; ``converged`` is ``False`` (not an error) when the budget
        ran out first (``budget_exhausted``), with per-pair flags in ``top``/``bottom``.

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
    if not (isinstance(atol, int | float) and math.isfinite(atol) and atol >= 0):
        raise InvalidParameterError(f"atol must be a finite number >= 0, got {atol!r}")
    budget_name = "max_steps"
    if max_iter is not None:
        if max_steps is not None and max_steps != max_iter:
            raise InvalidParameterError("give max_steps or its former name max_iter, not both")
        max_steps, budget_name = max_iter, "max_iter"
    if max_steps is None:
        max_steps = min(n_free, max(100, 20 * k))
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise InvalidParameterError(f"{budget_name} must be a positive integer, got {max_steps!r}")
    max_iter = min(max_steps, n_free)
    # the tolerance floor follows the dtype the products are computed in (a float32 model's
    # products carry float32 rounding even though the recurrence runs in float64)
    eps = max(torch.finfo(dtype).eps, torch.finfo(getattr(A, "compute_dtype", dtype)).eps)
    tol_eff = max(float(tol), 50 * eps)
    atol = float(atol)
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
        limit = max(atol, tol_eff * max(scale, 1e-300))
        done = bool((est[idx] <= limit).all()) or scale == 0.0
        if done or proc.finished:
            break
    theta, S, est = proc.ritz()
    scale = float(theta.abs().max())
    limit = max(atol, tol_eff * max(scale, 1e-300)) + 100 * eps * max(scale, 1e-300)
    Vt = proc.basis[: proc.j]
    top, bottom = _wanted(theta, k, which)
    n_true = 0

    def pairs(index: Tensor | None) -> Eigenpairs | None:
        nonlocal n_true
        if index is None:
            return None
        vals = theta[index]
        kept = proc.ritz_residuals(S[:, index], vals)
        if kept is not None:  # true residuals from the products already taken
            Y, res_t = kept
        else:
            Y = Vt.T @ S[:, index].to(dtype=dtype, device=device)
            Y = Y / torch.linalg.vector_norm(Y, dim=0, keepdim=True)
            res = []
            for c in range(Y.shape[1]):
                r = matvec(Y[:, c]) - vals[c].to(dtype=dtype, device=device) * Y[:, c]
                n_true += 1
                res.append(float(torch.linalg.vector_norm(r)))
            res_t = torch.tensor(res, dtype=torch.float64)
        ok = res_t <= limit
        return Eigenpairs(vals.clone(), Y, res_t, ok, _bounds(theta, index, res_t))

    top_p, bottom_p = pairs(top), pairs(bottom)
    flags = [p.converged.all() for p in (top_p, bottom_p) if p is not None]
    converged = bool(all(flags))
    return LanczosResult(
        top=top_p,
        bottom=bottom_p,
        ritz_values=theta,
        n_matvec=proc.n_matvec + n_true,
        iterations=proc.j,
        tol=tol_eff,
        scale=scale,
        converged=converged,
        atol=atol,
        max_steps=max_iter,
        budget_exhausted=not converged and proc.j >= max_iter and not proc.exhausted,
    )


def _bounds(theta: Tensor, index: Tensor, residuals: Tensor) -> Tensor:
    """Half-widths ``min(‖r‖, ‖r‖² / gap)`` around the Ritz values ``theta[index]``.

    ``gap`` is the distance to the nearest other Ritz value less the residual (Kato–Temple
    needs the gap to the rest of the spectrum; the Ritz values stand in for it). With one Ritz
    value, or no positive gap, the bound is the residual itself.
    """
    out = residuals.clone()
    if theta.numel() < 2:
        return out
    for c, i in enumerate(index.tolist()):
        others = torch.cat([theta[:i], theta[i + 1 :]])
        gap = float((others - theta[i]).abs().min()) - float(residuals[c])
        if gap > 0:
            out[c] = min(float(residuals[c]), float(residuals[c]) ** 2 / gap)
    return out
