"""What our optimizers share: the row/full views of a param group, Hessians, validation.

Every optimizer of ours sees a param group as one or more *problems*, each a flat ``(R, n)``
matrix of points with its gradient:

* **rows mode** (group key ``rows_independent=True``, set by the lab engine): each parameter
  ``P`` of shape ``(B, d)`` holds ``B`` independent problems of dimension ``d`` (``R = B``,
  ``n = d``). Per-row Hessians ``(B, d, d)`` come from ``d`` Hessian-vector products of the summed
  loss with ``e_j`` repeated on every row. The optional key ``row_fn`` maps a ``(R, d)`` tensor
  to the ``(R,)`` per-row losses (used without autograd, for line searches and acceptance tests);
  ``row_offset`` (int, default 0) is the global id of row 0, so a row's random draws do not depend
  on where it sits in a batch. The optional key ``row_hessian`` maps ``(R, d)`` points to
  their symmetric ``(R, d, d)`` Hessians in closed form (a landscape's ``analytic_hessian``);
  the curvature rules then use it instead of Hessian-vector products, and need no gradient
  graph (their class sets ``accepts_row_hessian = True``).
* **full mode** (no ``rows_independent``, e.g. ``model.parameters()``): all parameters of the
  group, flattened and concatenated, form one problem (``R = 1``, ``n`` = number of entries).
  The Hessian is formed in full with ``n`` Hessian-vector products, so ``n`` is limited to
  :data:`MAX_FULL_HESSIAN`; curvature between *different* param groups is ignored (each group is
  its own problem, as each group has its own hyper-parameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from descentlab import validate
from descentlab.errors import DimensionError, InvalidParameterError
from descentlab.linalg import hessian_from_flat_grad, hessian_from_grad

MAX_FULL_HESSIAN = 4096
"""Largest number of parameters (one param group) for which a full Hessian is formed."""

Tensor = torch.Tensor


# ---------------------------------------------------------------------------- validation
def check_number(
    owner: str,
    key: str,
    value: Any,
    *,
    lo: float = -math.inf,
    hi: float = math.inf,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """:func:`descentlab.validate.check_number` with the optimizer's name first."""
    return validate.check_number(
        key, value, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, owner=owner
    )


def check_int(owner: str, key: str, value: Any, *, lo: int = 0) -> int:
    """An integer ``>= lo`` (floats with an integral value are accepted)."""
    return validate.check_int(key, value, lo=lo, integral_float=True, owner=owner)


def check_bool(owner: str, key: str, value: Any) -> bool:
    return validate.check_bool(key, value, owner=owner)


def check_lr(owner: str, value: Any) -> float:
    return check_number(owner, "lr", value, lo=0.0, lo_open=True)


# ---------------------------------------------------------------------------- problems
@dataclass
class Problem:
    """One flat view of (part of) a param group: ``R`` points of dimension ``n``."""

    params: list[Tensor]
    x: Tensor  # (R, n), detached copy of the current points
    g: Tensor  # (R, n), detached gradient
    first_row: int  # global id of row 0 (row ids number the rows for counter-based noise)
    rows_mode: bool
    state: dict[str, Any]
    group: dict[str, Any]

    @property
    def rows(self) -> Tensor:
        """``(R,)`` int64 global row ids (built when a rule asks: only noise needs them)."""
        return torch.arange(
            self.first_row, self.first_row + self.R, dtype=torch.int64, device=self.x.device
        )

    @property
    def R(self) -> int:
        return self.x.shape[0]

    @property
    def n(self) -> int:
        return self.x.shape[1]

    def write(self, x_new: Tensor) -> None:
        """Store new points ``(R, n)`` into the parameters."""
        with torch.no_grad():
            if self.rows_mode:
                self.params[0].copy_(x_new)
            else:
                flat = x_new.reshape(-1)
                i = 0
                for p in self.params:
                    k = p.numel()
                    p.copy_(flat[i : i + k].view_as(p))
                    i += k


def problems(
    opt: torch.optim.Optimizer, group: dict[str, Any], owner: str, copy: bool = True
) -> Iterator[tuple[Problem, list[Tensor]]]:
    """The problems of one param group with the gradients (graph kept) they came from.

    Rows-mode problems hold copies of the points and gradients, or with ``copy=False``
    detached views of them (for a caller that writes no parameter before it is done reading).
    """
    params = [p for p in group["params"] if p.grad is not None]
    if not params:
        return
    if group.get("rows_independent", False):
        offset = check_int(owner, "row_offset", group.get("row_offset", 0))
        for p in params:
            if p.ndim != 2:
                raise DimensionError(
                    f"{owner}: with rows_independent=True every parameter must have shape "
                    f"(B, d), got {tuple(p.shape)}"
                )
            prob = Problem(
                params=[p],
                x=p.detach().clone() if copy else p.detach(),
                g=p.grad.detach().clone() if copy else p.grad.detach(),
                first_row=offset,
                rows_mode=True,
                state=opt.state[p],
                group=group,
            )
            yield prob, [p.grad]
    else:
        x = torch.cat([p.detach().reshape(-1) for p in params]).unsqueeze(0)
        g = torch.cat([p.grad.detach().reshape(-1) for p in params]).unsqueeze(0)
        prob = Problem(
            params=params,
            x=x,
            g=g,
            first_row=0,
            rows_mode=False,
            state=opt.state[params[0]],
            group=group,
        )
        yield prob, [p.grad for p in params]


def hessian(prob: Problem, grads: list[Tensor], owner: str) -> Tensor:
    """The ``(R, n, n)`` Hessians of a problem from its gradients' graph (symmetrised)."""
    R, n = prob.R, prob.n
    if prob.rows_mode:
        row_hessian = prob.group.get("row_hessian")
        if row_hessian is not None:  # closed-form, symmetric per-row Hessians from the engine
            return row_hessian(prob.x)
    H = prob.x.new_zeros(R, n, n)
    # A gradient without a graph means the loss is affine in the parameters (zero Hessian) --
    # or that the closure forgot ``create_graph=True``, which cannot be told apart from here.
    if prob.rows_mode:
        (p,), (gp,) = prob.params, grads
        H = hessian_from_grad(gp, p)
    else:
        if n > MAX_FULL_HESSIAN:
            raise InvalidParameterError(
                f"{owner}: a full Hessian over {n} parameters is too large "
                f"(limit {MAX_FULL_HESSIAN}); use a first-order optimizer, fewer parameters, or "
                "rows_independent=True for a batch of small independent problems"
            )
        flat = torch.cat([g.reshape(-1) for g in grads])
        H[0] = hessian_from_flat_grad(flat, prob.params)
    return 0.5 * (H + H.mT)


def release(params: list[Tensor]) -> None:
    """Drop the graph hanging off ``p.grad`` (breaks the param <-> grad reference cycle)."""
    for p in params:
        if p.grad is not None and p.grad.grad_fn is not None:
            p.grad = p.grad.detach()


def call_closure(closure: Callable[[], Any] | None, owner: str) -> Any:
    if closure is None:
        raise InvalidParameterError(
            f"{owner}.step() needs a closure that zeroes the gradients, computes the loss, calls "
            "loss.backward() and returns the loss"
        )
    with torch.enable_grad():
        return closure()


def rows_loss_fn(prob: Problem, closure: Callable[[], Any] | None, owner: str) -> Callable:
    """``X (R, n) -> (R,)`` losses at trial points, without changing the problem's points.

    Rows mode uses the group's ``row_fn``; full mode loads the trial point into the parameters
    and calls the closure (which also recomputes the gradients there).
    """
    if prob.rows_mode:
        fn = prob.group.get("row_fn")
        if fn is None:
            raise InvalidParameterError(
                f"{owner}: on a batched (rows_independent) parameter this rule needs the "
                "param-group key row_fn (a function mapping (B, d) points to (B,) losses)"
            )

        def rows_eval(X: Tensor) -> Tensor:
            with torch.no_grad():
                return fn(X).detach().reshape(-1).to(prob.x.dtype)

        return rows_eval

    def full_eval(X: Tensor) -> Tensor:
        prob.write(X)
        return scalar_tensor(call_closure(closure, owner), prob.x.dtype, prob.x.device)

    return full_eval


def scalar_tensor(loss: Any, dtype: torch.dtype, device: Any = None) -> Tensor:
    """A closure's loss as a detached ``(1,)`` tensor."""
    if isinstance(loss, Tensor):
        loss = loss.detach()
    return torch.as_tensor(float(loss), dtype=dtype, device=device).reshape(1)
