"""Directions in parameter space for loss-landscape slices.

**Filter-normalised random directions** (Li, Xu, Taylor, Studer & Goldstein, "Visualizing the
Loss Landscape of Neural Nets", NeurIPS 2018). Draw ``d ~ N(0, I)`` with the shape of every
parameter; for a weight tensor, each *filter* (output channel of a conv, row/neuron of a linear
layer) ``d_i`` is rescaled to the norm of the same filter of the weights, ``d_i ← d_i ‖w_i‖ /
‖d_i‖``, so a step of 1 along ``d`` is commensurate with the weights whatever their scale (a
ReLU network is invariant to per-filter rescaling, which otherwise distorts slices). Biases and
BatchNorm parameters (1-D tensors) are excluded by default (``d = 0``), as in the paper's plots;
with ``ignore=None`` they get ``d = w``.

With several directions, each filter's random parts are **orthogonalised first, then
normalised** (Gram-Schmidt inside each filter, then the per-filter rescaling). Rescaling a filter
does not change which filters are orthogonal, so the directions stay exactly orthogonal *and*
exactly filter-normalised. (Normalising first and orthogonalising the whole vectors afterwards —
as some tools do — breaks the normalisation.) Filters with fewer elements than directions (a
linear layer with one input) cannot be orthogonalised inside the filter; they are only
normalised, and ``direction_cosines`` shows the small overlap that remains.

**Hessian eigenvectors** (:func:`eigen_directions`): unit eigenvectors of the top and bottom
eigenvalues; a slice along a negative-curvature eigenvector shows a saddle as a maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import InvalidParameterError
from descentlab.nn.hessian import HessianOperator
from descentlab.nn.objective import ParamSelector, select_parameters
from descentlab.nn.spectrum import lanczos

NORMS = ("filter", "layer", "none")
IGNORES = ("biasbn", None)

Direction = dict[str, Tensor]


def _gram_schmidt_rows(vecs: list[Tensor]) -> list[Tensor]:
    """Orthogonalise the columns ``vecs[k]`` of shape ``(F, f)`` row by row (per filter)."""
    out: list[Tensor] = []
    for v in vecs:
        w = v.clone()
        for _ in range(2):
            for u in out:
                uu = (u * u).sum(1, keepdim=True)
                coef = torch.where(uu > 0, (w * u).sum(1, keepdim=True) / uu, torch.zeros_like(uu))
                w = w - coef * u
        out.append(w)
    return out


def _rescale_rows(d: Tensor, w: Tensor) -> Tensor:
    dn = d.norm(dim=1, keepdim=True)
    wn = w.norm(dim=1, keepdim=True)
    return torch.where(dn > 0, d * (wn / dn.clamp_min(1e-300)), torch.zeros_like(d))


def random_directions(
    model: nn.Module,
    n: int = 2,
    *,
    seed: int = 0,
    params: ParamSelector = None,
    norm: str = "filter",
    ignore: str | None = "biasbn",
) -> list[Direction]:
    """``n`` random directions (``name -> tensor`` dicts, like the parameters), normalised.

    Args:
        model: the network (only read).
        n: number of directions (2 for a surface).
        seed: the directions are drawn in float64 on the CPU from this seed (same on any
            device), then cast to each parameter's dtype and device.
        params: which parameters (names or predicate); all trainable ones by default.
        norm: ``"filter"`` (Li et al.), ``"layer"`` (whole tensor scaled to ``‖w‖``) or
            ``"none"`` (plain Gaussian, orthogonalised).
        ignore: ``"biasbn"`` zeroes 1-D parameters (biases, BatchNorm); ``None`` sets them to
            ``w`` (``norm="none"``: keeps them random).

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> d1, d2 = random_directions(net)
        >>> torch.allclose(d1["0.weight"].norm(dim=1), net[0].weight.norm(dim=1).detach())
        True
        >>> float(d1["0.bias"].abs().sum())
        0.0
    """
    if not isinstance(n, int) or n < 1:
        raise InvalidParameterError(f"n must be a positive integer, got {n!r}")
    if norm not in NORMS:
        raise InvalidParameterError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if ignore not in IGNORES:
        raise InvalidParameterError(f"ignore must be 'biasbn' or None, got {ignore!r}")
    names = select_parameters(model, params)
    named = dict(model.named_parameters())
    gen = torch.Generator().manual_seed(int(seed))
    out: list[Direction] = [{} for _ in range(n)]
    for name in names:
        w = named[name].detach().to(torch.float64).cpu()
        draws = [torch.randn(w.shape, generator=gen, dtype=torch.float64) for _ in range(n)]
        if w.dim() <= 1 and norm != "none":
            ds = [torch.zeros_like(w) if ignore == "biasbn" else w.clone() for _ in range(n)]
        elif norm == "filter":
            rows = [d.reshape(w.shape[0], -1) for d in draws]
            wr = w.reshape(w.shape[0], -1)
            if wr.shape[1] >= n:  # room to orthogonalise inside each filter
                rows = _gram_schmidt_rows(rows)
            ds = [_rescale_rows(r, wr).reshape(w.shape) for r in rows]
        else:
            flat = _gram_schmidt_rows([d.reshape(1, -1) for d in draws])
            if norm == "layer":
                flat = [_rescale_rows(r, w.reshape(1, -1)) for r in flat]
            ds = [r.reshape(w.shape) for r in flat]
        for k in range(n):
            out[k][name] = ds[k].to(dtype=named[name].dtype, device=named[name].device)
    if norm == "none" and n > 1:  # orthogonalise the whole vectors
        names_order = list(out[0])
        flat = [torch.cat([d[nm].reshape(-1).double().cpu() for nm in names_order]) for d in out]
        flat = _gram_schmidt_rows([f.reshape(1, -1) for f in flat])
        for k in range(n):
            i = 0
            for nm in names_order:
                t = out[k][nm]
                out[k][nm] = flat[k][0, i : i + t.numel()].reshape(t.shape).to(t.dtype).to(t.device)
                i += t.numel()
    return out


def direction_cosines(directions: Sequence[Mapping[str, Tensor]]) -> Tensor:
    """The matrix of cosines between directions (identity off-diagonal 0 = orthogonal)."""
    names = list(directions[0])
    flat = torch.stack(
        [torch.cat([d[n].reshape(-1).double().cpu() for n in names]) for d in directions]
    )
    nrm = flat.norm(dim=1, keepdim=True).clamp_min(1e-300)
    unit = flat / nrm
    return unit @ unit.T


@dataclass
class EigenDirections:
    """Unit Hessian eigenvectors as parameter dicts, with their eigenvalues and labels."""

    labels: list[str]
    values: list[float]
    directions: list[Direction]
    residuals: list[float]

    def __repr__(self) -> str:
        pairs = ", ".join(
            f"{lab}: {v:.4g}" for lab, v in zip(self.labels, self.values, strict=True)
        )
        return f"EigenDirections({pairs})"


def eigen_directions(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    k: int = 1,
    which: str = "both",
    *,
    tol: float = 1e-6,
    seed: int = 0,
    **options: Any,
) -> EigenDirections:
    """Top-``k`` and/or bottom-``k`` unit Hessian eigenvectors (Lanczos), as parameter dicts.

    ``options`` go to :class:`~descentlab.nn.objective.ModelLoss` (``mode``, ``batch_size``...).

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
        >>> X = torch.randn(20, 2, dtype=torch.float64)
        >>> e = eigen_directions(net, nn.MSELoss(), (X, X[:, :1] * X[:, 1:]))
        >>> e.labels, e.values[0] >= e.values[1]
        (['top1', 'bottom1'], True)
    """
    H = HessianOperator(model, loss_fn, data, **options)
    r = lanczos(H, k=k, which=which, tol=tol, seed=seed)
    labels, values, dirs, res = [], [], [], []
    for tag, pairs in (("top", r.top), ("bottom", r.bottom)):
        if pairs is None:
            continue
        for i in range(pairs.values.numel()):
            labels.append(f"{tag}{i + 1}")
            values.append(float(pairs.values[i]))
            dirs.append(
                {n: t.clone() for n, t in H.objective.unflatten(pairs.vectors[:, i]).items()}
            )
            res.append(float(pairs.residuals[i]))
    return EigenDirections(labels, values, dirs, res)
