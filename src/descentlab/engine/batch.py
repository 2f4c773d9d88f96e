"""Public primitives of batched descent: starts, the checked objective, the per-row function.

The evaluation primitives live with the landscapes (:mod:`descentlab.landscapes.evaluation`,
so the optimizers' range test can use them below the engine) and are re-exported here.

What the run, the range test, the experiments and the optimizers build on:

* :func:`grid_starts`, :func:`random_starts`: ``(B, d)`` starts over a landscape's domain;
  :func:`as_starts`: any start argument as a checked float64 ``(B, d)`` tensor;
* :func:`objective`: ``P (B, d) -> f(P) (B,)`` with its shape checked;
* :func:`value_and_grad`: ``(f(P), grad f(P))`` for every row in one pass: the landscape's
  analytic gradient when it supplies one, else one backward pass of ``f(P).sum()``
  (rows are independent, so row ``i`` of the gradient of the sum is ``grad f(P_i)``);
* :func:`row_function`: ``f`` without autograd, for line searches (the ``row_fn`` param-group
  key of :mod:`descentlab.optim`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import Landscape
from descentlab.landscapes.evaluation import as_starts, objective, row_function, value_and_grad

MAX_STARTS = 10_000_000
"""The most starts :func:`grid_starts` and :func:`random_starts` build."""


def grid_starts(landscape: Landscape, n: int | Sequence[int]) -> np.ndarray:
    """A regular grid of starts over the landscape's domain: ``prod(n)`` points, shape ``(B, d)``.

    ``n`` is the number of points per axis (one int for every axis, or one per axis); the grid
    includes the domain's corners. The first coordinate varies slowest.

    Example:
        >>> from descentlab.landscapes import Landscape
        >>> L = Landscape(lambda P: (P**2).sum(-1), dim=2, domain=(-1, 1))
        >>> grid_starts(L, 3).shape
        (9, 2)
    """
    box = landscape.require_domain()
    d = landscape.dim
    counts = [n] * d if isinstance(n, int | np.integer) else list(n)
    if len(counts) != d:
        raise InvalidParameterError(f"grid needs {d} counts (one per axis), got {len(counts)}")
    for c in counts:
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1:
            shown = counts if len(counts) <= 10 else c
            raise InvalidParameterError(f"grid counts must be positive integers, got {shown}")
    total = 1
    for c in counts:  # stop at the limit: 5 per axis in a million dimensions is a huge integer
        total *= int(c)
        if total > MAX_STARTS:
            digits = sum(math.log10(int(c)) for c in counts)
            size = f"{math.prod(int(c) for c in counts):,}" if digits < 30 else f"~1e{int(digits)}"
            raise InvalidParameterError(
                f"a grid of {size} starts is too large (at most {MAX_STARTS:,})"
            )
    axes = [
        np.linspace(lo, hi, int(c)) if c > 1 else np.array([(lo + hi) / 2])
        for (lo, hi), c in zip(box, counts, strict=True)
    ]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1).astype(np.float64)


def random_starts(landscape: Landscape, n: int, seed: int = 0) -> np.ndarray:
    """``n`` starts drawn uniformly from the landscape's domain (reproducible by ``seed``)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidParameterError(
            f"number of random starts must be a positive integer, got {n!r}"
        )
    if n > MAX_STARTS:
        raise InvalidParameterError(f"{n:,} random starts are too many (at most {MAX_STARTS:,})")
    return landscape.sample(int(n), seed=seed).detach().cpu().numpy().astype(np.float64)


__all__ = [
    "MAX_STARTS",
    "as_starts",
    "grid_starts",
    "objective",
    "random_starts",
    "row_function",
    "value_and_grad",
]
