"""Where negative curvature comes from: the split ``H = G + R`` at a point.

With ``G`` the generalized Gauss-Newton matrix and ``R = H - G`` the residual (see
:mod:`descentlab.nn.ggn`), a loss convex in the network's output has ``G ⪰ 0``. By Weyl's
inequality ``λmin(H) ≥ λmin(G) + λmin(R) ≥ λmin(R)``: every negative eigenvalue of ``H`` is
paid for by ``R``, which vanishes for a model linear in its weights. Along the unit eigenvector
``u`` of ``λmin(H)`` the curvature splits exactly, ``λmin(H) = uᵀGu + uᵀRu``, with
``uᵀGu ≥ 0``; :func:`curvature_split` reports both parts ("the attribution").

Example (the two-weight linear network ``w₂ w₁ x`` at its saddle ``w = 0``: ``J = 0`` there, so
``G = 0`` and all curvature, ``±4·mean(x²)``, is ``R``):
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.zero_(), net[1].weight.zero_()
    >>> X = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    >>> s = curvature_split(net, nn.MSELoss(), (X, 2 * X))
    >>> s.hessian.lambda_min, s.ggn.lambda_min, s.residual.lambda_min
    (-10.0, 0.0, -10.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import InvalidParameterError
from descentlab.io import to_jsonable
from descentlab.nn.ggn import GGNOperator, ResidualOperator
from descentlab.nn.hessian import HessianOperator
from descentlab.nn.spectrum import lanczos


@dataclass
class Extremes:
    """``λmin``/``λmax`` of one operator, with residuals (0 when exact from the dense matrix)."""

    lambda_min: float
    lambda_max: float
    residual_min: float
    residual_max: float
    converged: bool


@dataclass
class CurvatureSplit:
    """``λmin``/``λmax`` of ``H``, ``G`` and ``R = H - G`` and the split along ``H``'s bottom.

    ``along_min`` holds ``uᵀHu``, ``uᵀGu`` and ``uᵀRu`` for the unit eigenvector ``u`` of
    ``λmin(H)``. ``negative_from_residual`` is True when ``H`` has a negative eigenvalue below
    ``-neg_tol`` and ``G`` has none (so, by Weyl, ``R`` supplies it); ``None`` when ``H`` has no
    negative curvature; False when ``G`` itself is indefinite (a loss not convex in the output).
    """

    hessian: Extremes
    ggn: Extremes
    residual: Extremes
    along_min: dict[str, float]
    negative_from_residual: bool | None
    neg_tol: float
    exact: bool
    n_params: int
    n_products: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))

    def __str__(self) -> str:
        rows = [("H", self.hessian), ("G (GGN)", self.ggn), ("R = H - G", self.residual)]
        lines = [f"{'operator':<10} {'lambda_min':>12} {'lambda_max':>12}"]
        lines += [f"{n:<10} {e.lambda_min:>12.5g} {e.lambda_max:>12.5g}" for n, e in rows]
        a = self.along_min
        lines.append(
            f"along H's bottom eigenvector: u'Hu = {a['H']:.5g} = u'Gu {a['G']:.5g} + "
            f"u'Ru {a['R']:.5g}"
        )
        src = {
            True: "negative curvature comes from R (G is PSD)",
            False: "G itself has negative curvature (the loss is not convex in the output)",
            None: "no negative curvature",
        }[self.negative_from_residual]
        lines.append(src)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _extremes_dense(D: Tensor) -> tuple[Extremes, Tensor]:
    ev, vec = torch.linalg.eigh(D.double().cpu())
    return Extremes(float(ev[0]), float(ev[-1]), 0.0, 0.0, True), vec[:, 0]


def _extremes_lanczos(A: Any, tol: float, seed: int) -> tuple[Extremes, Tensor]:
    r = lanczos(A, k=1, which="both", tol=tol, seed=seed)
    assert r.top is not None and r.bottom is not None
    e = Extremes(
        r.lambda_min,
        r.lambda_max,
        float(r.bottom.residuals[0]),
        float(r.top.residuals[0]),
        bool(r.converged),
    )
    return e, r.bottom.vectors[:, 0]


def curvature_split(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    *,
    tol: float = 1e-6,
    neg_rel_tol: float = 1e-2,
    neg_abs_tol: float = 1e-8,
    exact_below: int = 400,
    seed: int = 0,
    **options: Any,
) -> CurvatureSplit:
    """``λmin`` and ``λmax`` of the Hessian ``H``, the GGN ``G`` and the residual ``R = H - G``.

    Args:
        model, loss_fn, data: as for :class:`~descentlab.nn.hessian.HessianOperator` (a DDP
            model and per-rank data shards are accepted; the split is then of the full data).
        tol: Lanczos residual tolerance (relative to the largest Ritz value's modulus).
        neg_rel_tol, neg_abs_tol: an eigenvalue is negative below
            ``-max(neg_abs_tol, neg_rel_tol · max|λ(H)|)`` (as in ``check_point``).
        exact_below: dense matrices and ``eigh`` when ``n`` is at most this.
        seed: Lanczos start vectors.
        **options: passed to :class:`~descentlab.nn.objective.ModelLoss` (``mode``,
            ``batch_size``, ``params``, ``dtype``, ``distributed``...).
    """
    if not isinstance(exact_below, int) or exact_below < 0:
        raise InvalidParameterError(f"exact_below must be an integer >= 0, got {exact_below!r}")
    for name, value in (("neg_rel_tol", neg_rel_tol), ("neg_abs_tol", neg_abs_tol)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise InvalidParameterError(f"{name} must be a finite number >= 0, got {value!r}")
    dist_opts = {k: options.pop(k) for k in ("distributed", "group") if k in options}
    H = HessianOperator(model, loss_fn, data, **dist_opts, **options)
    G = GGNOperator(objective=H.objective, theta=H.theta, **dist_opts)
    R = ResidualOperator(H, G)
    exact = H.n <= exact_below
    if exact:
        DH, DG = H.dense(max_n=max(exact_below, 1)), G.dense(max_n=max(exact_below, 1))
        DH, DG = DH.double(), DG.double()
        eh, u = _extremes_dense(DH)
        eg, _ = _extremes_dense(DG)
        er, _ = _extremes_dense(DH - DG)
        u = u.to(DG.dtype)
        uGu = float(u @ (DG.cpu() @ u))
    else:
        eh, u = _extremes_lanczos(H, tol, seed)
        eg, _ = _extremes_lanczos(G, tol, seed + 1)
        er, _ = _extremes_lanczos(R, tol, seed + 2)
        uGu = float(torch.dot(u, G.matvec(u.to(G.dtype)).to(u.dtype)))
    scale = max(abs(eh.lambda_min), abs(eh.lambda_max))
    neg_tol = max(neg_abs_tol, neg_rel_tol * scale)
    notes = []
    if eh.lambda_min < -neg_tol:
        from_r: bool | None = eg.lambda_min >= -neg_tol
        if not from_r:
            notes.append(
                f"G has lambda_min = {eg.lambda_min:.3g} < 0: the loss is not convex in the "
                "output, so G is not PSD"
            )
    else:
        from_r = None
    if not (eh.converged and eg.converged and er.converged):
        notes.append("a Lanczos run did not reach its tolerance: values are estimates")
    return CurvatureSplit(
        hessian=eh,
        ggn=eg,
        residual=er,
        along_min={"H": eh.lambda_min, "G": uGu, "R": eh.lambda_min - uGu},
        negative_from_residual=from_r,
        neg_tol=neg_tol,
        exact=exact,
        n_params=H.n,
        n_products={"hessian": H.n_hvp, "ggn": G.n_hvp},
        notes=notes,
    )
