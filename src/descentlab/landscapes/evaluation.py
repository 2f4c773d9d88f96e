"""Evaluating a landscape over a batch of rows: what every descent loop calls.

* :func:`as_starts`: any start argument as a checked float64 ``(B, d)`` tensor;
* :func:`objective`: ``P (B, d) -> f(P) (B,)`` with its shape checked;
* :func:`value_and_grad`: ``(f(P), grad f(P))`` for every row in one pass: the landscape's
  closed-form gradient when it supplies one, else one backward pass of ``f(P).sum()`` (rows are
  independent, so row ``i`` of the gradient of the sum is ``grad f(P_i)``);
* :func:`row_function`: ``f`` without autograd, for line searches (the ``row_fn`` param-group
  key of :mod:`descentlab.optim`).

The engine, the range test and the experiments share these (re-exported by
:mod:`descentlab.engine`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.landscapes.base import Landscape


def as_starts(landscape: Landscape, starts: Any) -> torch.Tensor:
    """``starts`` as a fresh float64 ``(B, d)`` tensor: finite, at least one row."""
    try:
        X = landscape.as_points(starts).detach().to(torch.float64).clone()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DescentlabError):
            raise
        raise InvalidParameterError(
            f"starts must be numbers of shape (B, {landscape.dim}): {exc}"
        ) from None
    if X.shape[0] == 0:
        raise InvalidParameterError("no starts given")
    if not torch.isfinite(X).all():
        raise InvalidParameterError("starts must be finite")
    return X


def objective(landscape: Landscape) -> Callable[[torch.Tensor], torch.Tensor]:
    """``P (B, d) -> f(P) (B,)``; a wrong output shape is a clear :class:`DescentlabError`."""
    fn = landscape.fn

    def f(P: torch.Tensor) -> torch.Tensor:
        v = fn(P)
        if v.shape != (P.shape[0],):
            raise DescentlabError(
                f"{landscape.name}: the objective returned shape {tuple(v.shape)} for points of "
                f"shape {tuple(P.shape)}; expected ({P.shape[0]},)"
            )
        return v

    return f


def value_and_grad(
    landscape: Landscape,
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``P -> (f(P), grad f(P))`` (both detached): analytic when the landscape has a gradient.

    A landscape built with ``analytic_grad=`` supplies ``(f, grad f)`` in closed form (tested
    equal to autograd); otherwise one backward pass of ``f(P).sum()`` gives every row's
    gradient.
    """
    analytic = landscape.analytic_grad
    if analytic is not None:
        return analytic
    f = objective(landscape)

    def vg(P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        X = P.detach().requires_grad_(True)
        with torch.enable_grad():
            v = f(X)
            (g,) = torch.autograd.grad(v.sum(), X, allow_unused=True)
        return v.detach(), torch.zeros_like(X) if g is None else g

    return vg


def row_function(landscape: Landscape) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f`` row by row without autograd (what a line search evaluates trial points with)."""
    fn = landscape.fn

    def row_fn(P: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return fn(P)

    return row_fn


__all__ = ["as_starts", "objective", "row_function", "value_and_grad"]
