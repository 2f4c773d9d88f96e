"""Loss-landscape views of a network: interpolations, 1-D/2-D slices, the training path's plane.

* :func:`interpolate` — ``L((1-α)θ_a + αθ_b)`` (Goodfellow, Vinyals & Saxe, "Qualitatively
  characterizing neural network optimization problems", ICLR 2015), optionally recomputing the
  BatchNorm running statistics at each ``α`` (the interpolated statistics are not the
  statistics of the interpolated network);
* :func:`slice_1d`, :func:`slice_2d` — ``L(θ + αd)`` and ``L(θ + αd₁ + βd₂)`` along given
  directions (random filter-normalised ones or Hessian eigenvectors, see
  :mod:`descentlab.nn.directions`);
* :func:`pca_path` — the plane of the first two principal components of a training path
  ``θ_t - θ_T`` (Li et al., NeurIPS 2018, §7), with the path's coordinates in it.

Grid points are evaluated in chunks with ``torch.func.vmap`` over ``functional_call`` (one
batched forward per chunk and batch of data); models that ``vmap`` cannot run (and ``"train"``
mode) use a plain loop. Both give the same numbers; ``method`` records which was used. Nothing
here changes the caller's model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.nn._summary import summary
from descentlab.nn.objective import ModelLoss, ParamSelector, select_parameters
from descentlab.progress import Progress


def _grid(values: Any, what: str) -> Tensor:
    t = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if t.numel() < 1 or not torch.isfinite(t).all():
        raise InvalidParameterError(f"{what} must be a non-empty list of finite numbers")
    return t


def evaluate_points(
    f: ModelLoss,
    points: Tensor,
    *,
    chunk: int = 64,
    method: str = "auto",
    progress: bool | None = None,
) -> tuple[Tensor, str]:
    """``L`` at each row of ``points`` ``(G, n)``; returns the losses ``(G,)`` and the method.

    ``method``: ``"auto"`` (vmap, loop on failure), ``"vmap"`` or ``"loop"``.
    """
    if method not in ("auto", "vmap", "loop"):
        raise InvalidParameterError(f"method must be auto, vmap or loop, got {method!r}")
    if not isinstance(chunk, int) or chunk < 1:
        raise InvalidParameterError(f"chunk must be a positive integer, got {chunk!r}")
    points = points.to(device=f.device, dtype=f.dtype)
    G = points.shape[0]
    use = "loop" if (method == "loop" or f.mode == "train") else "vmap"
    if method == "vmap" and f.mode == "train":
        raise InvalidParameterError("vmap evaluation needs mode='eval' (batch statistics differ)")
    out = torch.empty(G, dtype=f.dtype, device=f.device)

    def loss_at(flat: Tensor) -> Tensor:
        p = f.unflatten(flat)
        total = torch.zeros((), dtype=f.dtype, device=f.device)
        for (x, y), w in zip(f.batches, f.weights, strict=True):
            total = total + w * f._batch_loss(p, x, y)
        if f.weight_decay:
            total = total + 0.5 * f.weight_decay * torch.dot(flat, flat)
        return total

    with Progress(G, "landscape", enabled=progress) as bar, torch.no_grad():
        i = 0
        while i < G:
            block = points[i : i + chunk]
            if use == "vmap":
                try:
                    out[i : i + chunk] = torch.func.vmap(loss_at)(block)
                except DescentlabError:
                    raise
                except Exception:
                    if method == "vmap":
                        raise
                    use = "loop"
                    continue
            else:
                out[i : i + chunk] = torch.stack([f.loss(p) for p in block])
            bar.update(block.shape[0])
            i += chunk
    return out, use


@dataclass
class Slice:
    """Losses on a 1-D (``betas`` is ``None``) or 2-D grid around ``center``.

    ``losses`` has shape ``(len(alphas),)`` or ``(len(betas), len(alphas))`` (rows: β).
    """

    alphas: Tensor
    betas: Tensor | None
    losses: Tensor
    center_loss: float
    method: str
    setup: dict[str, Any]
    labels: tuple[str, ...] = ("d1", "d2")
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        grid = (
            f"{self.alphas.numel()}"
            if self.betas is None
            else f"{self.betas.numel()}x{self.alphas.numel()}"
        )
        return summary(
            "Slice",
            grid=grid,
            labels=self.labels,
            center_loss=float(self.center_loss),
            loss_min=float(self.losses.nan_to_num(float("inf")).min()),
            loss_max=float(self.losses.nan_to_num(float("-inf")).max()),
            method=self.method,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "alphas": self.alphas.tolist(),
            "betas": None if self.betas is None else self.betas.tolist(),
            "losses": self.losses.tolist(),
            "center_loss": self.center_loss,
            "method": self.method,
            "labels": list(self.labels),
            "setup": self.setup,
            **{k: v for k, v in self.extra.items() if not isinstance(v, Tensor)},
        }


def _center(f: ModelLoss, center: Any) -> Tensor:
    return f.theta0 if center is None else f.as_vector(_params_of(center, f.param_names))


def _params_of(obj: Any, names: Sequence[str]) -> Any:
    """Flat vectors pass through; a module or state dict gives its ``names`` entries."""
    if isinstance(obj, nn.Module):
        obj = dict(obj.named_parameters())
    if isinstance(obj, Mapping):
        missing = [n for n in names if n not in obj]
        if missing:
            raise InvalidParameterError(f"missing parameter(s) {missing}")
        return {n: torch.as_tensor(obj[n]).detach() for n in names}
    return obj


def slice_1d(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    direction: Any,
    alphas: Any = None,
    *,
    center: Any = None,
    chunk: int = 64,
    method: str = "auto",
    label: str = "d",
    **options: Any,
) -> Slice:
    """``L(θ + α d)`` for ``α`` in ``alphas`` (default ``linspace(-1, 1, 41)``).

    ``direction``: a parameter dict (e.g. from ``random_directions``) or a flat vector;
    ``center``: another point (module, state dict or vector) instead of the model's parameters.
    ``options`` go to :class:`~descentlab.nn.objective.ModelLoss`.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
        >>> X = torch.randn(16, 2, dtype=torch.float64)
        >>> from descentlab.nn.directions import random_directions
        >>> s = slice_1d(net, nn.MSELoss(), (X, X[:, :1]), random_directions(net, 1)[0], [0.0, 0.5])
        >>> s.losses.shape
        torch.Size([2])
    """
    f = ModelLoss(model, loss_fn, data, **options)
    a = _grid(alphas if alphas is not None else torch.linspace(-1, 1, 41), "alphas")
    c = _center(f, center)
    d = f.as_vector(_params_of(direction, f.param_names))
    pts = c[None, :] + a.to(c)[:, None] * d[None, :]
    losses, used = evaluate_points(f, pts, chunk=chunk, method=method)
    return Slice(a, None, losses.double().cpu(), float(f.loss(c)), used, f.info(), (label,))


def slice_2d(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    d1: Any,
    d2: Any,
    alphas: Any = None,
    betas: Any = None,
    *,
    center: Any = None,
    chunk: int = 64,
    method: str = "auto",
    labels: tuple[str, str] = ("d1", "d2"),
    progress: bool | None = None,
    **options: Any,
) -> Slice:
    """``L(θ + α d₁ + β d₂)`` on the grid ``betas × alphas`` (default 21 × 21 on ``[-1, 1]²``).

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
        >>> X = torch.randn(16, 2, dtype=torch.float64)
        >>> from descentlab.nn.directions import random_directions
        >>> u, v = random_directions(net, 2)
        >>> slice_2d(net, nn.MSELoss(), (X, X[:, :1]), u, v, [-1, 0, 1], [0, 1]).losses.shape
        torch.Size([2, 3])
    """
    f = ModelLoss(model, loss_fn, data, **options)
    a = _grid(alphas if alphas is not None else torch.linspace(-1, 1, 21), "alphas")
    b = _grid(betas if betas is not None else torch.linspace(-1, 1, 21), "betas")
    c = _center(f, center)
    u = f.as_vector(_params_of(d1, f.param_names))
    v = f.as_vector(_params_of(d2, f.param_names))
    B, A = torch.meshgrid(b.to(c), a.to(c), indexing="ij")
    pts = c[None, :] + A.reshape(-1, 1) * u[None, :] + B.reshape(-1, 1) * v[None, :]
    losses, used = evaluate_points(f, pts, chunk=chunk, method=method, progress=progress)
    Z = losses.reshape(b.numel(), a.numel()).double().cpu()
    return Slice(a, b, Z, float(f.loss(c)), used, f.info(), tuple(labels))


def _reset_bn_and_refit(net: nn.Module, batches: list) -> None:
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the refit batches
    net.train()
    with torch.no_grad():
        for x, _ in batches:
            net(x)
    net.eval()


def interpolate(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    start: Any,
    end: Any,
    alphas: Any = None,
    *,
    recompute_bn: bool = False,
    bn_data: Any = None,
    chunk: int = 64,
    method: str = "auto",
    **options: Any,
) -> Slice:
    """``L((1-α) θ_start + α θ_end)`` for ``α`` in ``alphas`` (default ``linspace(-0.5, 1.5, 41)``).

    ``start``/``end``: modules of the same architecture, state dicts or flat vectors (``model``
    gives the architecture and the buffers). With ``recompute_bn=True`` each point's BatchNorm
    running statistics are re-estimated (cumulative average, train-mode forward passes over
    ``bn_data``, default: ``data``) before the eval-mode loss is taken.

    Example:
        >>> a = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
        >>> b = copy.deepcopy(a)
        >>> X = torch.randn(16, 2, dtype=torch.float64)
        >>> s = interpolate(a, nn.MSELoss(), (X, X[:, :1]), a, b, [0.0, 1.0])
        >>> bool(s.losses[0] == s.losses[1])
        True
    """
    f = ModelLoss(model, loss_fn, data, **options)
    a = _grid(alphas if alphas is not None else torch.linspace(-0.5, 1.5, 41), "alphas")
    ta = f.as_vector(_params_of(start, f.param_names))
    tb = f.as_vector(_params_of(end, f.param_names))
    pts = (1 - a.to(ta))[:, None] * ta[None, :] + a.to(ta)[:, None] * tb[None, :]
    if not recompute_bn:
        losses, used = evaluate_points(f, pts, chunk=chunk, method=method)
    else:
        if f.mode != "eval":
            raise InvalidParameterError("recompute_bn needs mode='eval'")
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in f.model.modules()):
            raise InvalidParameterError("recompute_bn: the model has no BatchNorm layer")
        bn_batches = (
            f.batches if bn_data is None else ModelLoss(model, loss_fn, bn_data, **options).batches
        )
        work = copy.deepcopy(f.model)  # f.model is already a private copy; so is this one
        named = dict(work.named_parameters())
        vals = []
        with Progress(a.numel(), "interpolation") as bar:
            for p in pts:
                with torch.no_grad():
                    for name, t in f.unflatten(p).items():
                        named[name].copy_(t)
                _reset_bn_and_refit(work, bn_batches)
                f.model.load_state_dict(work.state_dict())  # the refitted statistics
                vals.append(f.loss(p))
                bar.update()
        losses, used = torch.stack(vals), "loop+bn-refit"
    setup = f.info()
    setup["recompute_bn"] = bool(recompute_bn)
    return Slice(a, None, losses.double().cpu(), float(losses[0]), used, setup, ("alpha",))


@dataclass
class PCAPath:
    """A training path in the plane of its first two principal components around ``origin``."""

    origin: Tensor
    directions: Tensor  # (2, n), orthonormal
    coords: Tensor  # (T, 2)
    explained: Tensor  # (2,) fraction of the variance of θ_t - origin
    names: list[str] | None = None
    shapes: list[tuple[int, ...]] | None = None

    def __repr__(self) -> str:
        return summary(
            "PCAPath",
            points=int(self.coords.shape[0]),
            n=int(self.directions.shape[1]),
            explained=[round(float(e), 4) for e in self.explained],
        )

    def direction_dicts(self) -> list[dict[str, Tensor]]:
        """The two directions as parameter dicts (needs a path given as dicts)."""
        if self.names is None or self.shapes is None:
            raise InvalidParameterError("the path was given as flat vectors: no parameter names")
        out = []
        for d in self.directions:
            i, item = 0, {}
            for n, s in zip(self.names, self.shapes, strict=True):
                k = int(torch.tensor(s).prod()) if s else 1
                item[n] = d[i : i + k].reshape(s)
                i += k
            out.append(item)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"coords": self.coords.tolist(), "explained": self.explained.tolist()}


def pca_path(
    path: Sequence[Any],
    *,
    model: nn.Module | None = None,
    params: ParamSelector = None,
    origin: str = "final",
) -> PCAPath:
    """Principal plane of ``θ_t - θ_origin`` over a path (flat vectors or parameter dicts).

    ``origin``: ``"final"`` (Li et al.) or ``"mean"``. The directions are the top two right
    singular vectors; ``coords[t]`` are the projections of ``θ_t - origin`` on them.

    Example:
        >>> path = [torch.tensor([t, 2 * t, 0.1 * t * t], dtype=torch.float64) for t in range(5)]
        >>> p = pca_path(path)
        >>> p.coords.shape, round(float(p.explained.sum()), 6)
        (torch.Size([5, 2]), 1.0)
    """
    if origin not in ("final", "mean"):
        raise InvalidParameterError(f"origin must be 'final' or 'mean', got {origin!r}")
    if len(path) < 3:
        raise InvalidParameterError(f"a PCA of a path needs at least 3 points, got {len(path)}")
    names = shapes = None
    if isinstance(path[0], Mapping | nn.Module):
        names = select_parameters(model, params) if model is not None else None
        first = _params_of(path[0], names) if names else dict(path[0])
        names = list(first)
        shapes = [tuple(first[n].shape) for n in names]
        rows = [
            torch.cat([_params_of(p, names)[n].reshape(-1).double().cpu() for n in names])
            for p in path
        ]
    else:
        rows = [torch.as_tensor(p).reshape(-1).double().cpu() for p in path]
    M = torch.stack(rows)
    o = M[-1] if origin == "final" else M.mean(0)
    C = M - o
    _, S, Vh = torch.linalg.svd(C, full_matrices=False)
    total = float((S**2).sum())
    if total == 0:
        raise InvalidParameterError("the path does not move: no principal plane")
    k = min(2, Vh.shape[0])
    D = Vh[:k]
    if k < 2:
        raise InvalidParameterError("the path spans a single direction; a plane needs two")
    coords = C @ D.T
    explained = S[:2] ** 2 / total
    return PCAPath(o, D, coords, explained, names, shapes)
