"""Gradient descent with a backtracking (Armijo) line search, per row of a batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from descentlab.optim._base import (
    call_closure,
    check_int,
    check_lr,
    check_number,
    problems,
    release,
    rows_loss_fn,
    scalar_tensor,
)

Tensor = torch.Tensor


class ArmijoGD(torch.optim.Optimizer):
    r"""Gradient descent with backtracking line search (Armijo's sufficient-decrease rule).

    Per row, starting from ``t = lr``, the step ``t`` is shrunk by ``beta`` until

    .. math:: f(x - t g) \le f(x) - c\, t\, \|g\|^2

    (and ``f(x - t g)`` is finite), then ``x <- x - t g``. A row that finds no such ``t`` in
    ``max_backtracks`` halvings stays where it is this step (its accepted step is recorded as 0).
    The step accepted per row is kept in the state as ``step_size``.

    On a batched ``(B, d)`` parameter (param-group key ``rows_independent=True``) every row runs
    its own search, evaluated with the group's ``row_fn`` (``(R, d) -> (R,)`` losses, no
    autograd); only rows still searching are evaluated. In full mode (a model's parameters) the
    trial losses come from calling the closure; ``p.grad`` is then left at the last trial point.

    Args:
        lr: initial trial step ``t0`` of every search (> 0).
        c: sufficient-decrease constant in ``(0, 1)``.
        beta: shrink factor in ``(0, 1)``.
        max_backtracks: maximum number of shrinks per step (>= 0).

    Example:
        >>> import torch
        >>> from descentlab.optim import ArmijoGD
        >>> f = lambda P: (P**2).sum(-1)
        >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
        >>> opt = ArmijoGD([{"params": [x], "rows_independent": True, "row_fn": f}], lr=1.0)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = f(x).sum()
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure)  # t = 1 overshoots (f unchanged), t = 0.5 lands on 0
        >>> x.detach().tolist(), opt.state[x]["step_size"].tolist()
        ([[0.0, 0.0]], [0.5])

    Reference: L. Armijo, *Minimization of functions having Lipschitz continuous first partial
    derivatives*, Pacific J. Math. 16 (1966) 1-3; Nocedal & Wright, Algorithm 3.1.
    """

    owner = "armijo_gd"

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        c: float = 1e-4,
        beta: float = 0.5,
        max_backtracks: int = 30,
    ) -> None:
        super().__init__(
            params,
            self._validate({"lr": lr, "c": c, "beta": beta, "max_backtracks": max_backtracks}),
        )

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        o = self.owner
        return {
            "lr": check_lr(o, hyper["lr"]),
            "c": check_number(o, "c", hyper["c"], lo=0.0, hi=1.0, lo_open=True, hi_open=True),
            "beta": check_number(
                o, "beta", hyper["beta"], lo=0.0, hi=1.0, lo_open=True, hi_open=True
            ),
            "max_backtracks": check_int(o, "max_backtracks", hyper["max_backtracks"], lo=0),
        }

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One line-search step. ``closure`` is required: it computes the loss and gradients."""
        loss = call_closure(closure, self.owner)
        work = []
        for group in self.param_groups:
            group.update(self._validate({k: group[k] for k in self.defaults}))
            work.extend(prob for prob, _ in problems(self, group, self.owner))
        touched = [p for prob in work for p in prob.params]
        release(touched)
        for prob in work:
            grp = prob.group
            evaluate = rows_loss_fn(prob, closure, self.owner)
            x, g = prob.x, prob.g
            f0 = evaluate(x) if prob.rows_mode else scalar_tensor(loss, x.dtype, x.device)
            f0 = f0.to(x.dtype)
            gg = (g * g).sum(-1)
            t = torch.full((prob.R,), grp["lr"], dtype=x.dtype, device=x.device)
            accepted = torch.zeros(prob.R, dtype=torch.bool, device=x.device)
            searching = torch.ones(prob.R, dtype=torch.bool, device=x.device)
            for k in range(grp["max_backtracks"] + 1):
                idx = searching.nonzero().squeeze(1)
                if idx.numel() == 0:
                    break
                trial = x[idx] - t[idx, None] * g[idx]
                f1 = evaluate(trial)
                ok = torch.isfinite(f1) & (f1 <= f0[idx] - grp["c"] * t[idx] * gg[idx])
                accepted[idx[ok]] = True
                searching[idx[ok]] = False
                if k < grp["max_backtracks"]:
                    t[idx[~ok]] *= grp["beta"]
            step_size = torch.where(accepted, t, torch.zeros_like(t))
            prob.state["step_size"] = step_size
            prob.write(x - step_size[:, None] * g)
        release(touched)
        return loss
