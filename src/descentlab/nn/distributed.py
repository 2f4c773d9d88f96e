"""Data-parallel helpers: each process (rank) holds a shard of the data, the model is the same.

The full-data loss over ``R`` ranks, rank ``r`` holding ``N_r`` samples with local loss
``L_r(θ)`` (the sample-weighted average over its shard), is the sample-count weighted average

    ``L(θ) = Σ_r (N_r / N) · L_r(θ)``,  ``N = Σ_r N_r``,

so its gradient and Hessian-vector products are the same weighted averages of the local ones:
``H v = Σ_r (N_r / N) · H_r v``. :class:`Reducer` forms them with one ``all_reduce`` (sum) of
``N_r · H_r v`` in float64, whatever the model's dtype, then divides by ``N``. Every rank
receives the same vector, so deterministic algorithms built on the products (Lanczos, trace
and density estimators with fixed probe seeds) take the same steps on every rank and return
the same eigenvalues and vectors; collectives stay in lockstep.

A model wrapped in ``DistributedDataParallel`` is used through its ``.module``: the tools work on
a private copy of that module with ``torch.func``, so DDP's gradient hooks never run and
nothing is reduced twice.

Shards may be uneven (per-rank tensors of any sizes). A ``DistributedSampler`` pads the data
to a multiple of the world size by repeating its first samples (or drops the tail with
``drop_last=True``): the loss is then that of the padded (or shortened) data; per-rank slices
such as ``X[rank::world]`` keep the data exactly.

Launch with ``torchrun --nproc-per-node 2 script.py`` (``gloo`` on CPU, ``nccl`` on GPUs); in the
script, ``torch.distributed.init_process_group()`` before building any operator. Only rank 0
should print or write: :func:`is_main_process`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import InvalidParameterError

DISTRIBUTED_CHOICES = ("auto", True, False)


def world_size(group: Any = None) -> int:
    """Number of ranks in ``group`` (1 when torch.distributed is not initialised)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size(group))


def rank(group: Any = None) -> int:
    """This process's rank in ``group`` (0 when torch.distributed is not initialised)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return 0
    return int(dist.get_rank(group))


def is_main_process(group: Any = None) -> bool:
    """True on rank 0 (and in a single-process run): the one process that prints or writes."""
    return rank(group) == 0


def mean_over_ranks(value: float, group: Any = None) -> float:
    """The plain mean of a number over the ranks (float64; the same result on every rank)."""
    dist = torch.distributed
    device = "cuda" if dist.get_backend(group) == "nccl" else "cpu"
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t, group=group)
    return float(t) / world_size(group)


def raise_together(error: BaseException | None, group: Any = None) -> None:
    """A collective check: if ``error`` is set on any rank, raise on every rank (the ranks
    that failed re-raise their own error, the others say which ranks failed), so that one
    rank's bad input is an error everywhere instead of a hang at the next collective."""
    dist = torch.distributed
    device = "cuda" if dist.get_backend(group) == "nccl" else "cpu"
    flags = [torch.zeros(1, device=device) for _ in range(world_size(group))]
    dist.all_gather(flags, torch.tensor([float(error is not None)], device=device), group=group)
    failed = [r for r, f in enumerate(flags) if float(f) > 0]
    if error is not None:
        raise error
    if failed:
        raise InvalidParameterError(
            f"rank(s) {failed} could not build their part of the operator (see their error)"
        )


def unwrap_model(model: Any) -> Any:
    """The module inside a ``DistributedDataParallel`` (or ``DataParallel``) wrapper."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    while isinstance(model, wrappers):
        model = model.module
    return model


def resolve(distributed: Any, group: Any = None) -> bool:
    """Whether to reduce across ranks: ``"auto"`` reduces when more than one rank exists."""
    if distributed not in DISTRIBUTED_CHOICES or not isinstance(distributed, str | bool):
        raise InvalidParameterError(
            f"distributed must be 'auto', True or False, got {distributed!r}"
        )
    if distributed is False:
        return False
    n = world_size(group)
    if distributed is True and not (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    ):
        raise InvalidParameterError(
            "distributed=True needs torch.distributed.init_process_group() first "
            "(launch with torchrun)"
        )
    return n > 1


class Reducer:
    """Sample-weighted averages across the ranks of ``group``, computed in float64.

    Args:
        local_count: ``N_r``, the samples this rank holds (may differ between ranks).
        group: the process group (default: the world).
        device: the model's device; communication buffers live there for ``nccl`` (a CUDA
            device) and on the CPU for any other backend.
    """

    def __init__(self, local_count: int, group: Any = None, device: Any = None) -> None:
        dist = torch.distributed
        self.group = group
        self.size = world_size(group)
        self.rank = rank(group)
        backend = dist.get_backend(group)
        if backend != "nccl":
            device = "cpu"  # gloo/mpi: CPU buffers, whatever the model's device
        elif device is None or torch.device(device).type != "cuda":
            device = "cuda"
        self.comm_device = torch.device(device)
        counts = self.all_gather_float([float(local_count)])
        self.counts = [int(c) for c in counts[:, 0].tolist()]
        self.total = int(sum(self.counts))
        self.local_count = int(local_count)
        self.n_reduce = 0

    def all_gather_float(self, values: list[float]) -> Tensor:
        """``(R, len(values))`` float64 CPU tensor of every rank's ``values``."""
        t = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        out = [torch.zeros_like(t) for _ in range(self.size)]
        torch.distributed.all_gather(out, t, group=self.group)
        return torch.stack(out).cpu()

    def weighted_mean(self, local: Tensor) -> Tensor:
        """``Σ_r (N_r/N) · local_r`` in float64 on ``local``'s device (same on every rank)."""
        buf = local.detach().to(device=self.comm_device, dtype=torch.float64) * self.local_count
        torch.distributed.all_reduce(buf, group=self.group)
        self.n_reduce += 1
        return (buf / self.total).to(local.device)

    def check_same(self, name: str, vec: Tensor) -> None:
        """Raise on every rank if ``vec`` (e.g. the parameters) differs between ranks."""
        ref = vec.detach().to(device=self.comm_device, dtype=torch.float64).clone()
        torch.distributed.broadcast(ref, src=_global_rank(0, self.group), group=self.group)
        diff = torch.linalg.vector_norm(
            ref - vec.detach().to(device=self.comm_device, dtype=torch.float64)
        )
        scale = torch.linalg.vector_norm(ref).clamp_min(1e-300)
        flag = torch.tensor([float(diff / scale)], dtype=torch.float64, device=self.comm_device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX, group=self.group)
        if float(flag) > 1e-12:
            raise InvalidParameterError(
                f"{name} differ between ranks (relative difference {float(flag):.1e}): every "
                "rank must hold the same model (e.g. broadcast it, or wrap it in DDP)"
            )

    def check_equal_int(self, name: str, value: int) -> None:
        """Raise on every rank unless ``value`` is the same on all of them."""
        vals = self.all_gather_float([float(value)])[:, 0]
        if bool((vals != vals[0]).any()):
            raise InvalidParameterError(
                f"{name} differs between ranks: {[int(v) for v in vals.tolist()]}"
            )


def _global_rank(group_rank: int, group: Any) -> int:
    if group is None:
        return group_rank
    return int(torch.distributed.get_global_rank(group, group_rank))
