"""Tell whether an optimizer keeps the rows of one ``(B, d)`` parameter independent."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.optim.registry import OptimizerSpec, resolve_optimizer
from descentlab.validate import check_int

Tensor = torch.Tensor


def _probe_fn(P: Tensor) -> Tensor:
    """A non-quadratic test objective, ``(B, d) -> (B,)``, coupling a row's coordinates."""
    x = P
    shifted = torch.roll(x, 1, dims=1)
    return (
        ((x**2 - 1.0) ** 2).sum(-1) + 0.3 * torch.sin(3.0 * x).sum(-1) + 0.2 * (x * shifted).sum(-1)
    )


def _probe_starts(rows: int, dim: int, dtype: torch.dtype) -> Tensor:
    # Rows with very different scales and gradients, so per-tensor norms, trust ratios or
    # shared curvature estimates cannot agree with the per-row ones by accident.
    g = torch.Generator().manual_seed(1234)
    base = torch.rand(rows, dim, generator=g, dtype=torch.float64) - 0.5
    scale = torch.logspace(-1, 0.5, rows, dtype=torch.float64).unsqueeze(1)
    return (base * 2 * scale + 0.05).to(dtype)


def _run(spec: OptimizerSpec, P0: Tensor, steps: int, row_offset: int = 0) -> Tensor:
    P = P0.clone().requires_grad_(True)
    group = {"params": [P], "rows_independent": True, "row_fn": _probe_fn, "row_offset": row_offset}
    opt = spec.factory([group])

    def closure() -> Tensor:
        opt.zero_grad()
        loss = _probe_fn(P).sum()
        loss.backward(create_graph=spec.second_order)
        return loss

    for _ in range(steps):
        opt.step(closure)
    for p in (P,):
        if p.grad is not None:
            p.grad = p.grad.detach()
    return P.detach()


def is_elementwise(
    optimizer: str | Callable | OptimizerSpec,
    *,
    steps: int = 5,
    rows: int = 2,
    dim: int = 3,
    rtol: float = 1e-10,
    **hyper: Any,
) -> bool:
    """``True`` when a batched run of ``rows`` starts equals ``rows`` separate runs.

    The probe runs the optimizer for ``steps`` steps on a non-quadratic test function, once on
    one ``(rows, dim)`` parameter and once on ``rows`` separate ``(1, dim)`` parameters (each
    with its own optimizer), always through a closure, at float64, with the lab's param-group
    keys (``rows_independent``, ``row_fn``, ``row_offset`` = the row's index in the batch) set so
    row-aware optimizers can use them. Any
    difference beyond ``rtol`` (relative to the scale of the points) means the rule couples the
    rows (per-tensor norms or trust ratios, factored moments, L-BFGS's dot products, ...).
    Exactly equal results are the rule for element-wise optimizers; the tolerance only absorbs
    vectorised-versus-scalar rounding.

    For an optimizer whose hyper-parameters never trigger its coupling on this test (e.g. a
    norm clip that never clips) the probe can only say that it behaved element-wise here.

    Args:
        optimizer: a registry name, a callable ``params -> Optimizer`` or an ``OptimizerSpec``.
        steps, rows, dim: size of the probe.
        rtol: relative tolerance of the comparison.
        **hyper: hyper-parameters for ``optimizer``.

    Example:
        >>> import torch
        >>> from descentlab.optim import is_elementwise
        >>> is_elementwise(torch.optim.Adam, lr=0.1), is_elementwise("lbfgs")
        (True, False)
    """
    steps = check_int("steps", steps, lo=1)
    rows = check_int("rows", rows, lo=2)
    dim = check_int("dim", dim, lo=1)
    spec = resolve_optimizer(optimizer, **hyper)
    P0 = _probe_starts(rows, dim, torch.float64)
    try:
        batched = _run(spec, P0, steps)
        separate = torch.cat([_run(spec, P0[i : i + 1], steps, i) for i in range(rows)])
    except DescentlabError:
        raise
    except Exception as exc:  # a third-party optimizer failing on the probe
        raise InvalidParameterError(
            f"{spec.label}: could not be probed ({type(exc).__name__}: {exc})"
        ) from None
    fin_b, fin_s = torch.isfinite(batched), torch.isfinite(separate)
    if not torch.equal(fin_b, fin_s):
        return False
    if not bool(fin_b.any()):
        return True
    diff = (batched - separate)[fin_b].abs().max().item()
    scale = max(1.0, separate[fin_s].abs().max().item())
    return math.isfinite(diff) and diff <= rtol * scale
