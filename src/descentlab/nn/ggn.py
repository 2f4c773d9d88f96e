"""The generalized Gauss-Newton matrix and the Fisher as linear operators (never formed).

For a loss ``L(θ) = Σ_b w_b ℓ_b(f_b(θ))`` of network outputs ``f_b = f(x_b; θ)`` (batch weights
``w_b`` as in :class:`~descentlab.nn.objective.ModelLoss`), the chain rule splits the Hessian:

    ``H = G + R``,  ``G = Σ_b w_b J_bᵀ (∇²_f ℓ_b) J_b``,  ``R = Σ_b w_b Σ_k (∂ℓ_b/∂f_k) ∇²_θ f_k``,

with ``J_b = ∂f_b/∂θ``. ``G`` is the **generalized Gauss-Newton** (GGN) matrix. When the loss is
convex in the output (cross-entropy, squared error) ``∇²_f ℓ ⪰ 0``, so ``G ⪰ 0``: every
negative eigenvalue of ``H`` comes from ``R``, the term that exists only because the network
is nonlinear in its weights (for a linear model ``∇²_θ f = 0``, ``R = 0`` and ``H = G``).
Schraudolph (2002); Martens, "New insights and perspectives on the natural gradient method"
(JMLR 2020).

The **Fisher** comes in two kinds (per-sample losses ``ℓ_i``, ``N`` samples):

* ``"empirical"``: ``F_emp = (1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ``, the outer products of per-sample
  gradients at the observed labels (what many optimizers precondition with);
* ``"true"``: ``F = (1/N) Σ_i E_{ŷ ~ p(·|f_i)} [∇ℓ(f_i, ŷ) ∇ℓ(f_i, ŷ)ᵀ]`` for a loss that is the
  negative log-likelihood of a predictive distribution: ``CrossEntropyLoss`` (categorical,
  ``p = softmax(f)``, output-space Fisher ``diag(p) - ppᵀ``) or ``MSELoss`` with its mean over
  ``D`` outputs (Gaussian ``N(f, (D/2) I)``, output-space Fisher ``(2/D) I``). The expectation is
  taken exactly (no sampling). For both, ``F`` equals the GGN (Martens 2020, §9.2).

A product ``G v`` is one forward-mode pass (``J v``), an output-space product, and one reverse
pass (``Jᵀ u``): about the cost of a Hessian-vector product. ``F_emp v`` is ``Σ_i ∇ℓ_i (∇ℓ_iᵀ v)``:
a forward-mode pass gives every ``∇ℓ_iᵀ v`` at once, a reverse pass weighted by them the sum —
no per-sample gradient is ever stored.

All operators accept the options of :class:`~descentlab.nn.hessian.HessianOperator`, including
data parallelism (products averaged over ranks with sample-count weights).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(3, 2).double()
    >>> X, y = torch.randn(20, 3, dtype=torch.float64), torch.randint(0, 2, (20,))
    >>> G = GGNOperator(net, nn.CrossEntropyLoss(), (X, y))
    >>> H = HessianOperator(net, nn.CrossEntropyLoss(), (X, y))
    >>> bool(torch.allclose(G.dense(), H.dense()))  # a linear model: R = 0
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.nn.hessian import HessianOperator

FISHER_KINDS = ("empirical", "true")

__all__ = ["FISHER_KINDS", "FisherOperator", "GGNOperator", "HessianOperator", "ResidualOperator"]


class _OutputCurvature(HessianOperator):
    """``Σ_b w_b J_bᵀ M_b J_b v`` for an output-space operator ``M_b`` given by a subclass."""

    def _output_product(self, out: Tensor, y: Any, u: Tensor, weight: float) -> Tensor:
        raise NotImplementedError

    def _batch_weight(self, i: int) -> float:
        return self.objective._weight(i, self.batch)

    def _local_matvec(self, v: Any) -> Tensor:
        f = self.objective
        p = f.unflatten(self.theta)
        vd = f.unflatten(f.as_vector(v))
        total = torch.zeros(f.n, device=f.device, dtype=f.dtype)
        if f.weight_decay:
            total = total + self._decay_part(f.as_vector(v))
        for i in f._check_batch_index(self.batch):
            x, y = f.batches[i]

            def forward(q: dict[str, Tensor], x: Any = x) -> Tensor:
                return functional_call(f.model, q, (x,))

            try:
                with f._rng(i):
                    out, Jv = torch.func.jvp(forward, (p,), (vd,))
                    u = self._output_product(out.detach(), y, Jv.detach(), self._batch_weight(i))
                with f._rng(i):
                    _, vjp_fn = torch.func.vjp(forward, p)
                    (JtMJv,) = vjp_fn(u)
            except DescentlabError:
                raise
            except Exception as exc:
                raise DescentlabError(
                    f"{type(self).__name__} needs a model torch.func can differentiate "
                    f"(forward and reverse mode): {exc}"
                ) from exc
            total = total + f.flatten(JtMJv)
        return total.detach()

    def _decay_part(self, v: Tensor) -> Tensor:
        return self.objective.weight_decay * v


class GGNOperator(_OutputCurvature):
    """``G v`` with ``G = Σ_b w_b J_bᵀ ∇²_f ℓ_b J_b`` (plus ``weight_decay · I``): see the module.

    The output-space Hessian ``∇²_f ℓ_b`` is taken from ``loss_fn`` itself (double backward in
    output space, cheap: the output is small), so any loss that is twice differentiable in the
    output works; ``G ⪰ 0`` needs it convex there (``CrossEntropyLoss``, ``MSELoss``...).
    """

    def _output_product(self, out: Tensor, y: Any, u: Tensor, weight: float) -> Tensor:
        o = out.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(
                self.objective.loss_fn(o, y).reshape(()), o, create_graph=True
            )
            if not g.requires_grad:  # the loss is affine in the output
                return torch.zeros_like(u)
            (hu,) = torch.autograd.grad(g, o, grad_outputs=u, allow_unused=True)
        return weight * (torch.zeros_like(u) if hu is None else hu.detach())


class FisherOperator(_OutputCurvature):
    """``F v`` for the empirical or the true Fisher (``kind``): see the module docstring.

    Args:
        kind: ``"empirical"`` or ``"true"``.
        model, loss_fn, data, **options: as for :class:`HessianOperator`. ``loss_fn`` must be a
            batch mean (or sum, ``reduction="sum"``) of per-sample losses: the per-sample loss of
            sample ``i`` is ``loss_fn(f_i[None], y_i[None])``. ``weight_decay`` adds
            ``weight_decay · I`` as in the Hessian.
    """

    def __init__(self, *args: Any, kind: str = "empirical", **kwargs: Any) -> None:
        if kind not in FISHER_KINDS:
            raise InvalidParameterError(
                f"kind must be one of {', '.join(FISHER_KINDS)}, got {kind!r}"
            )
        self.kind = kind
        super().__init__(*args, **kwargs)
        if kind == "true":
            self._true_kind = _likelihood(self.objective.loss_fn)

    def _batch_weight(self, i: int) -> float:
        # per-sample weight 1/N (1/n_b for a one-batch operator), whatever the reduction
        if self.batch is None:
            return 1.0 / self.objective.n_samples
        return 1.0 / self.objective.counts[i]

    def _output_product(self, out: Tensor, y: Any, u: Tensor, weight: float) -> Tensor:
        if self._true_kind == "categorical":
            if out.dim() != 2:
                raise InvalidParameterError(
                    "the true Fisher of CrossEntropyLoss needs outputs of shape (batch, classes)"
                )
            prob = torch.softmax(out, dim=-1)
            return weight * (prob * u - prob * (prob * u).sum(-1, keepdim=True))
        d = out[0].numel()  # Gaussian: (2/D) I per sample
        return weight * (2.0 / d) * u

    def _local_matvec(self, v: Any) -> Tensor:
        if self.kind == "true":
            return super()._local_matvec(v)
        return self._empirical(v)

    def _empirical(self, v: Any) -> Tensor:
        f = self.objective
        p = f.unflatten(self.theta)
        vd = f.unflatten(f.as_vector(v))
        total = torch.zeros(f.n, device=f.device, dtype=f.dtype)
        if f.weight_decay:
            total = total + f.weight_decay * f.as_vector(v)
        loss_fn = f.loss_fn

        def one(o: Tensor, t: Any) -> Tensor:
            return loss_fn(o.unsqueeze(0), _unsqueeze(t)).reshape(())

        for i in f._check_batch_index(self.batch):
            x, y = f.batches[i]

            def per_sample(q: dict[str, Tensor], x: Any = x, y: Any = y) -> Tensor:
                return torch.func.vmap(one)(functional_call(f.model, q, (x,)), y)

            try:
                with f._rng(i):
                    _, s = torch.func.jvp(per_sample, (p,), (vd,))  # s_i = ∇ℓ_iᵀ v
                with f._rng(i):
                    _, vjp_fn = torch.func.vjp(per_sample, p)
                    (Fv,) = vjp_fn(self._batch_weight(i) * s.detach())
            except DescentlabError:
                raise
            except Exception as exc:
                raise DescentlabError(
                    "the empirical Fisher needs per-sample losses loss_fn(f_i[None], y_i[None]) "
                    f"that torch.func can vmap and differentiate: {exc}"
                ) from exc
            total = total + f.flatten(Fv)
        return total.detach()

    def batch_operator(self, batch: int) -> FisherOperator:
        return FisherOperator(
            objective=self.objective,
            theta=self.theta,
            batch=batch,
            distributed=False,
            kind=self.kind,
        )

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["fisher"] = self.kind
        return out


class ResidualOperator:
    """``R v = H v - G v``: the part of the Hessian due to the network's nonlinearity.

    Built from a :class:`HessianOperator` and a :class:`GGNOperator` on the same objective and
    point; one product costs one of each.
    """

    def __init__(self, H: HessianOperator, G: GGNOperator) -> None:
        if H.n != G.n or H.objective is not G.objective:
            raise InvalidParameterError("H and G must share one objective (same model and data)")
        self.H, self.G = H, G
        self.n_hvp = 0

    n = property(lambda self: self.H.n)
    dtype = property(lambda self: self.H.dtype)
    device = property(lambda self: self.H.device)
    compute_dtype = property(lambda self: self.H.compute_dtype)
    work_dtype = property(lambda self: self.H.work_dtype)
    shape = property(lambda self: self.H.shape)

    def matvec(self, v: Any) -> Tensor:
        self.n_hvp += 1
        return self.H.matvec(v) - self.G.matvec(v)

    def __matmul__(self, v: Any) -> Tensor:
        if isinstance(v, Tensor) and v.dim() == 2:
            return torch.stack([self.matvec(c) for c in v.T], dim=1)
        return self.matvec(v)

    def dense(self, max_n: int = 4000) -> Tensor:
        return self.H.dense(max_n) - self.G.dense(max_n)


def _unsqueeze(t: Any) -> Any:
    return t.unsqueeze(0) if isinstance(t, Tensor) else t


def _likelihood(loss_fn: Callable[..., Any]) -> str:
    """Which predictive distribution ``loss_fn`` is the negative log-likelihood of."""
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        if (
            loss_fn.reduction != "mean"
            or loss_fn.weight is not None
            or loss_fn.label_smoothing != 0
        ):
            raise InvalidParameterError(
                "the true Fisher needs CrossEntropyLoss with reduction='mean', no class "
                "weights and no label smoothing (a plain categorical likelihood)"
            )
        return "categorical"
    if isinstance(loss_fn, nn.MSELoss):
        if loss_fn.reduction != "mean":
            raise InvalidParameterError("the true Fisher needs MSELoss with reduction='mean'")
        return "gaussian"
    raise InvalidParameterError(
        "the true Fisher needs a likelihood loss: nn.CrossEntropyLoss (categorical) or "
        f"nn.MSELoss (Gaussian), got {type(loss_fn).__name__}; use kind='empirical' or the GGN"
    )
