"""The Hessian of a model's loss as a linear operator ``v -> H v`` (never formed).

``H = ∇²L(θ)`` with ``L`` the sample-weighted full-data loss of :class:`ModelLoss`. A product is
one backward pass through each batch's kept gradient graph (double backward; measured 1.4-2.4
gradients on CPU, see ``benchmarks/RESULTS.md``) or, with ``method="func"`` or many batches,
``torch.func.jvp`` of ``torch.func.grad`` (forward-over-reverse). The dense matrix is available
for small ``n`` (tests, exact indices).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    >>> X, y = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
    >>> H = HessianOperator(net, nn.MSELoss(), (X, y))
    >>> (H @ torch.ones(H.n, dtype=torch.float64)).shape
    torch.Size([13])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import InvalidParameterError
from descentlab.nn.objective import ModelLoss


class HessianOperator:
    """``H v`` for the loss of ``(model, loss_fn, data)`` at the model's parameters (or ``theta``).

    Args:
        model, loss_fn, data: as in :class:`ModelLoss` (all of its keyword options are accepted:
            ``params``, ``mode``, ``batch_size``, ``max_batches``, ``reduction``, ``method``,
            ``dtype``, ``seed``).
        theta: the point (a flat vector or a name -> tensor dict); default: the model's values.
        batch: restrict to one batch's loss (``None``: the full-data average).

    ``n_hvp`` counts the products taken through this operator. ``info()`` records the mode
    (eval/train), the method (``func``/``autograd``) and the sizes.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        loss_fn: Callable[[Any, Any], Tensor] | None = None,
        data: Any = None,
        *,
        objective: ModelLoss | None = None,
        theta: Any = None,
        batch: int | None = None,
        **options: Any,
    ) -> None:
        if objective is None:
            if model is None or loss_fn is None or data is None:
                raise InvalidParameterError("give model, loss_fn and data (or an objective)")
            objective = ModelLoss(model, loss_fn, data, **options)
        elif options:
            raise InvalidParameterError(f"options {sorted(options)} apply only without objective")
        self.objective = objective
        self.theta = objective.theta0 if theta is None else objective.as_vector(theta).clone()
        if batch is not None:
            objective._check_batch_index(batch)
        self.batch = batch
        self.n_hvp = 0

    @property
    def n(self) -> int:
        return self.objective.n

    @property
    def dtype(self) -> torch.dtype:
        return self.objective.dtype

    @property
    def device(self) -> torch.device:
        return self.objective.device

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    def matvec(self, v: Any) -> Tensor:
        """``H v`` for a flat vector (or a name -> tensor dict) ``v``."""
        self.n_hvp += 1
        return self.objective.hvp(v, self.theta, batch=self.batch)

    def __matmul__(self, v: Any) -> Tensor:
        if isinstance(v, Tensor) and v.dim() == 2:
            return torch.stack([self.matvec(c) for c in v.T], dim=1)
        return self.matvec(v)

    def gradient(self) -> tuple[Tensor, Tensor]:
        """Loss and gradient at this operator's point (same data and batch)."""
        return self.objective.loss_and_grad(self.theta, batch=self.batch)

    def dense(self, max_n: int = 4000) -> Tensor:
        """The full ``n x n`` Hessian from ``n`` products (symmetrised); for small models only."""
        if self.n > max_n:
            raise InvalidParameterError(
                f"dense Hessian of {self.n} parameters refused (max_n={max_n}); "
                "use the Lanczos tools instead"
            )
        eye = torch.eye(self.n, device=self.device, dtype=self.dtype)
        H = torch.stack([self.matvec(e) for e in eye], dim=1)
        return 0.5 * (H + H.T)

    def batch_operator(self, batch: int) -> HessianOperator:
        """The Hessian of one batch's loss at the same point."""
        return HessianOperator(objective=self.objective, theta=self.theta, batch=batch)

    @property
    def n_batches(self) -> int:
        return len(self.objective.batches)

    def info(self) -> dict[str, Any]:
        out = self.objective.info()
        out["batch"] = self.batch
        return out


def as_matvec(A: Any) -> tuple[Callable[[Tensor], Tensor], int, torch.dtype, torch.device]:
    """``(matvec, n, dtype, device)`` for a ``HessianOperator``, a square matrix, or any object
    with ``matvec`` and ``n`` (or ``shape``)."""
    if isinstance(A, Tensor):
        if A.dim() != 2 or A.shape[0] != A.shape[1]:
            raise InvalidParameterError(f"expected a square matrix, got shape {tuple(A.shape)}")
        if not A.is_floating_point():
            A = A.double()
        return (lambda v: A @ v), int(A.shape[0]), A.dtype, A.device
    if hasattr(A, "matvec"):
        n = int(A.n) if hasattr(A, "n") else int(A.shape[0])
        dtype = getattr(A, "dtype", torch.float64)
        device = getattr(A, "device", torch.device("cpu"))
        return A.matvec, n, dtype, torch.device(device)
    raise InvalidParameterError(
        f"expected a HessianOperator, a square tensor or an object with matvec, got "
        f"{type(A).__name__}"
    )
