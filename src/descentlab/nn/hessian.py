"""The Hessian of a model's loss as a linear operator ``v -> H v`` (never formed).

``H = ∇²L(θ)`` with ``L`` the sample-weighted full-data loss of :class:`ModelLoss`. A product is
one backward pass through each batch's kept gradient graph (double backward; measured 1.4-2.4
gradients on CPU, see ``benchmarks/RESULTS.md``) or, with ``method="func"`` or many batches,
``torch.func.jvp`` of ``torch.func.grad`` (forward-over-reverse). The dense matrix is available
for small ``n`` (tests, exact indices).

**Data parallel.** When ``torch.distributed`` is initialised with several ranks (or with
``distributed=True``), each rank passes its own shard of the data and every product and gradient
is the sample-count weighted average over all ranks, ``H v = Σ_r (N_r/N) H_r v``, formed by one
float64 ``all_reduce`` (:mod:`descentlab.nn.distributed`); every rank gets the same vector. A
``DistributedDataParallel`` model is used through its ``.module`` (DDP's hooks never run).

**Precision.** Products are computed in the model's dtype (float32, bfloat16...); cross-rank
sums are float64, and the algorithms that consume the operator (:func:`as_matvec`) run their
recurrences in float64. A product of a float32 model therefore carries the model's rounding,
about ``eps₃₂ · ‖H‖ · c`` with ``c`` a small multiple of the depth (``eps₃₂ ≈ 1.2e-7``;
bfloat16: ``eps ≈ 7.8e-3``): eigenvalues cannot be resolved finer than that, and Lanczos floors
its tolerance at ``50 · eps`` of the model's dtype (:attr:`HessianOperator.compute_dtype`; for
bfloat16 that floor is 0.39, and a small tanh MLP's ``λmax`` came out 10% low). For a
diagnosis of a bfloat16 model pass ``dtype=torch.float32`` (or float64): the private copy is
cast, the caller's model is untouched.

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
from descentlab.nn import distributed as dist_helpers
from descentlab.nn.objective import ModelLoss


class HessianOperator:
    """``H v`` for the loss of ``(model, loss_fn, data)`` at the model's parameters (or ``theta``).

    Args:
        model, loss_fn, data: as in :class:`ModelLoss` (all of its keyword options are accepted:
            ``params``, ``mode``, ``batch_size``, ``max_batches``, ``reduction``, ``method``,
            ``dtype``, ``seed``).
        theta: the point (a flat vector or a name -> tensor dict); default: the model's values.
        batch: restrict to one batch's loss (``None``: the full-data average). A one-batch
            operator is always local to this rank (batch ``i`` is a different batch on each).
        distributed: ``"auto"`` (default: average over ranks when torch.distributed runs with
            more than one), ``True`` (require it) or ``False`` (this rank's data only).
        group: the process group to average over (default: the world).

    ``n_hvp`` counts the products taken through this operator. ``info()`` records the mode
    (eval/train), the method (``func``/``autograd``), the sizes and the ranks.
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
        distributed: bool | str = "auto",
        group: Any = None,
        **options: Any,
    ) -> None:
        use_dist = dist_helpers.resolve(distributed, group) and batch is None
        if objective is None:
            if model is None or loss_fn is None or data is None:
                raise InvalidParameterError("give model, loss_fn and data (or an objective)")
            try:
                objective = ModelLoss(dist_helpers.unwrap_model(model), loss_fn, data, **options)
            except Exception as exc:  # every rank must hear of it, or the others would hang
                if not use_dist:
                    raise
                dist_helpers.raise_together(exc, group)
            if use_dist:
                dist_helpers.raise_together(None, group)
        elif options:
            raise InvalidParameterError(f"options {sorted(options)} apply only without objective")
        self.objective = objective
        self.theta = objective.theta0 if theta is None else objective.as_vector(theta).clone()
        if batch is not None:
            objective._check_batch_index(batch)
        self.batch = batch
        self.n_hvp = 0
        self.group = group
        self.reducer: dist_helpers.Reducer | None = None
        if use_dist:
            reducer = dist_helpers.Reducer(objective.n_samples, group, device=self.device)
            reducer.check_equal_int("the number of parameters", self.n)
            reducer.check_same("the parameters", self.theta)
            self.reducer = reducer

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
    def compute_dtype(self) -> torch.dtype:
        """The dtype the products are computed in (the model's): it bounds their accuracy."""
        return self.objective.dtype

    @property
    def work_dtype(self) -> torch.dtype:
        """The dtype of recurrences and reductions run on this operator: float64."""
        return torch.float64

    @property
    def distributed(self) -> bool:
        """Whether products and gradients are averaged over ranks."""
        return self.reducer is not None

    @property
    def n_samples(self) -> int:
        """Samples behind the loss: over all ranks when distributed."""
        if self.batch is not None:
            return self.objective.counts[self.batch]
        return self.reducer.total if self.reducer is not None else self.objective.n_samples

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    def matvec(self, v: Any) -> Tensor:
        """``H v`` for a flat vector (or a name -> tensor dict) ``v``."""
        self.n_hvp += 1
        out = self._local_matvec(v)
        if self.reducer is not None:
            out = self.reducer.weighted_mean(out).to(self.dtype)
        return out

    def _local_matvec(self, v: Any) -> Tensor:
        """This rank's product (subclasses: the GGN, the Fisher)."""
        return self.objective.hvp(v, self.theta, batch=self.batch)

    def __matmul__(self, v: Any) -> Tensor:
        if isinstance(v, Tensor) and v.dim() == 2:
            return torch.stack([self.matvec(c) for c in v.T], dim=1)
        return self.matvec(v)

    def gradient(self) -> tuple[Tensor, Tensor]:
        """Loss and gradient at this operator's point (same data and batch; all ranks)."""
        loss, grad = self.objective.loss_and_grad(self.theta, batch=self.batch)
        if self.reducer is not None:
            both = self.reducer.weighted_mean(torch.cat([loss.reshape(1), grad]))
            loss, grad = both[0].to(self.dtype), both[1:].to(self.dtype)
        return loss, grad

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
        """The operator of one batch's loss at the same point (this rank's batch ``batch``)."""
        return type(self)(
            objective=self.objective, theta=self.theta, batch=batch, distributed=False
        )

    @property
    def n_batches(self) -> int:
        return len(self.objective.batches)

    def info(self) -> dict[str, Any]:
        out = self.objective.info()
        out["batch"] = self.batch
        if self.reducer is not None:
            out["world_size"] = self.reducer.size
            out["n_samples"] = self.reducer.total
            out["n_samples_per_rank"] = list(self.reducer.counts)
        return out


def as_matvec(A: Any) -> tuple[Callable[[Tensor], Tensor], int, torch.dtype, torch.device]:
    """``(matvec, n, dtype, device)`` for a ``HessianOperator``, a square matrix, or any object
    with ``matvec`` and ``n`` (or ``shape``).

    ``dtype`` is the dtype to run recurrences in: an operator with a ``work_dtype`` (float64
    for a float32/bfloat16 model) gets a ``matvec`` that casts its input to the operator's
    ``dtype`` and its output back to ``work_dtype``."""
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
        work = getattr(A, "work_dtype", dtype)
        if work != dtype:
            inner = A.matvec

            def matvec(v: Tensor) -> Tensor:
                return inner(v.to(dtype)).to(work)

            return matvec, n, work, torch.device(device)
        return A.matvec, n, dtype, torch.device(device)
    raise InvalidParameterError(
        f"expected a HessianOperator, a square tensor or an object with matvec, got "
        f"{type(A).__name__}"
    )
