"""The batched objective every other part of descentlab works on.

A ``Landscape`` maps points ``P`` of shape ``(B, d)`` to values of shape ``(B,)``; each row is an
independent problem. Gradients come from one backward pass through ``f(P).sum()`` (row ``i`` of
the gradient of the sum is the gradient of ``f`` at row ``i``); per-row Hessians ``(B, d, d)``
come from ``d`` Hessian-vector products of that sum with the unit vector ``e_j`` repeated on every
row. We never ``vmap`` a scalar function over thousands of rows on the CPU: the batched form is
~35x faster there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from descentlab.errors import DimensionError, InvalidParameterError
from descentlab.linalg import row_hessians, row_hvp
from descentlab.validate import check_at_most, check_choice, check_int

KINDS = ("minimum", "maximum", "saddle", "degenerate")

Tensor = torch.Tensor
Domain = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class CriticalPoint:
    """A point where the gradient vanishes, with what it is.

    ``kind`` is one of ``minimum``, ``maximum``, ``saddle``, ``degenerate``; ``index`` is the
    number of negative Hessian eigenvalues (0 for a minimum, ``d`` for a maximum).
    ``degenerate`` means a Hessian eigenvalue is zero (relative to the Hessian's scale) and the
    non-zero ones do not have both signs, so second order cannot tell what the point is.
    """

    point: tuple[float, ...]
    value: float
    kind: str
    index: int
    is_global: bool = False
    eigenvalues: tuple[float, ...] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)

    @property
    def dim(self) -> int:
        return len(self.point)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "point": [float(x) for x in self.point],
            "value": float(self.value),
            "kind": self.kind,
            "index": int(self.index),
            "eigenvalues": None
            if self.eigenvalues is None
            else [float(e) for e in self.eigenvalues],
            "is_global": bool(self.is_global),
        }
        if self.note:
            d["note"] = self.note
        return d


def classify_eigenvalues(
    eigenvalues: Sequence[float] | np.ndarray | Tensor,
    *,
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
) -> tuple[str, int]:
    """Kind and index of a stationary point from its Hessian eigenvalues.

    An eigenvalue counts as zero when ``|lam| <= max(abs_tol, rel_tol * max|lam|)``. Both signs
    present (beyond that tolerance) means a saddle even if some eigenvalue is zero; otherwise any
    zero eigenvalue makes the point ``degenerate``. The index counts the negative eigenvalues.
    """
    lam = np.asarray(
        eigenvalues.detach().cpu().numpy() if isinstance(eigenvalues, Tensor) else eigenvalues,
        dtype=float,
    ).ravel()
    if lam.size == 0:
        raise InvalidParameterError("need at least one eigenvalue")
    scale = float(np.max(np.abs(lam)))
    tol = max(abs_tol, rel_tol * scale)
    neg = int(np.sum(lam < -tol))
    pos = int(np.sum(lam > tol))
    zero = lam.size - neg - pos
    if neg and pos:
        return "saddle", neg
    if zero:
        return "degenerate", neg
    if neg == 0:
        return "minimum", 0
    return "maximum", neg


MAX_DIM = 1_000_000
"""The largest dimension a ``Landscape`` accepts (points are rows of a ``(B, d)`` tensor)."""


def normalize_domain(domain: Any, dim: int | None) -> Domain | None:
    if domain is None:
        return None
    arr = np.asarray(domain, dtype=float)
    if arr.ndim == 1:
        if arr.size == 2:
            if dim is None:
                raise InvalidParameterError("a (lo, hi) domain needs a known dimension")
            arr = np.tile(arr, (dim, 1))
        elif arr.size % 2 == 0:
            arr = arr.reshape(-1, 2)
        else:
            raise InvalidParameterError(
                "domain must be (lo, hi), a flat list lo1,hi1,lo2,hi2,... "
                "or one (lo, hi) per dimension"
            )
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InvalidParameterError("domain must have one (lo, hi) pair per dimension")
    if dim is not None and arr.shape[0] != dim:
        raise InvalidParameterError(
            f"domain has {arr.shape[0]} (lo, hi) pairs but the landscape has dimension {dim}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr[:, 0] >= arr[:, 1]):
        raise InvalidParameterError(f"every domain pair needs finite lo < hi, got {arr.tolist()}")
    return tuple((float(lo), float(hi)) for lo, hi in arr)


class Landscape:
    """A batched objective ``f: (B, d) -> (B,)`` with its ground truth where known.

    Args:
        fn: maps a ``(B, d)`` tensor to ``(B,)`` values, built from differentiable torch ops.
        dim: the dimension ``d``.
        name: a short name (catalogue key or ``"formula"``).
        domain: plotting/sampling box, one ``(lo, hi)`` per dimension (or one pair for all).
        critical_points: known critical points (``CriticalPoint`` or dicts), or a zero-argument
            callable producing them (for large sets, e.g. Styblinski–Tang's ``3^d``).
        complete: True when ``critical_points`` is *every* critical point inside ``domain``.
        global_min_value: the global minimum value, where known.
        description: one paragraph for humans: what the surface shows, and what is not known.
        formula: a human-readable formula.
        params: the parameters the landscape was built with (e.g. ``{"dim": 5}``).
        analytic_grad: optional ``P (B, d) -> (f(P) (B,), grad f(P) (B, d))`` in closed form,
            which the engine uses instead of autograd (must equal autograd; tested).
        analytic_hessian: optional ``P (B, d) -> (B, d, d)`` per-row Hessians in closed form,
            which Newton-type rules in the engine use instead of Hessian-vector products.
        any_layout: ``fn`` (and the closed forms) accept rows in any memory layout, e.g. the
            column-major block a run stores its rows in (coordinates as contiguous vectors,
            fastest for formulas that ``unbind`` them); without it the engine hands ``fn``
            row-major rows, as a function using ``P.view`` needs.

    Example:
        >>> import torch
        >>> from descentlab.landscapes.base import Landscape
        >>> bowl = Landscape(lambda P: (P**2).sum(-1), dim=2, name="bowl", domain=(-2, 2))
        >>> bowl.grad(torch.tensor([[1.0, -2.0]], dtype=torch.float64)).tolist()
        [[2.0, -4.0]]
    """

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        dim: int,
        *,
        name: str = "custom",
        domain: Any = None,
        critical_points: Any = None,
        complete: bool = False,
        global_min_value: float | None = None,
        description: str = "",
        formula: str = "",
        params: dict[str, Any] | None = None,
        dtype: torch.dtype = torch.float64,
        analytic_grad: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
        analytic_hessian: Callable[[Tensor], Tensor] | None = None,
        any_layout: bool = False,
    ) -> None:
        dim = check_int("dim", dim, lo=1)
        check_at_most("dim", dim, MAX_DIM)  # before building a per-dimension domain
        self.fn = fn
        self.dim = dim
        self.name = name
        self.domain: Domain | None = normalize_domain(domain, dim)
        self._cp_source = critical_points
        self._cp_cache: list[CriticalPoint] | None = None
        self.complete = bool(complete)
        self.global_min_value = None if global_min_value is None else float(global_min_value)
        self.description = description
        self.formula = formula
        self.params = dict(params or {})
        self.dtype = dtype
        self.analytic_grad = analytic_grad
        self.analytic_hessian = analytic_hessian
        self.any_layout = bool(any_layout)

    # ------------------------------------------------------------------ ground truth
    @property
    def critical_points(self) -> list[CriticalPoint] | None:
        """The known critical points (``None`` when nothing is known)."""
        if self._cp_cache is None and self._cp_source is not None:
            src = self._cp_source() if callable(self._cp_source) else self._cp_source
            self._cp_cache = [
                c if isinstance(c, CriticalPoint) else CriticalPoint(**c) for c in src
            ]
        return self._cp_cache

    @property
    def global_minima(self) -> list[CriticalPoint]:
        return [c for c in (self.critical_points or []) if c.is_global]

    def count_kinds(self) -> dict[str, int] | None:
        cps = self.critical_points
        if cps is None:
            return None
        out = dict.fromkeys(KINDS, 0)
        for c in cps:
            out[c.kind] += 1
        return out

    # ------------------------------------------------------------------ evaluation
    def as_points(self, P: Any) -> Tensor:
        """Convert array-like input to a ``(B, d)`` tensor of this landscape's dtype."""
        if isinstance(P, Tensor):
            T = P.to(self.dtype)
        else:
            T = torch.as_tensor(np.asarray(P, dtype=float), dtype=self.dtype)
        if T.ndim == 1:
            T = T.unsqueeze(0)
        if T.ndim != 2 or T.shape[1] != self.dim:
            raise DimensionError(
                f"{self.name}: points must have shape (B, {self.dim}) or ({self.dim},), "
                f"got {tuple(T.shape)}"
            )
        return T

    def value(self, P: Any) -> Tensor:
        """``f`` at every row of ``P``: shape ``(B,)``."""
        return self.fn(self.as_points(P))

    __call__ = value

    def value_and_grad(self, P: Any) -> tuple[Tensor, Tensor]:
        """Values ``(B,)`` and gradients ``(B, d)`` from one backward pass of the sum."""
        X = self.as_points(P).detach().requires_grad_(True)
        with torch.enable_grad():
            v = self.fn(X)
            (g,) = torch.autograd.grad(v.sum(), X)
        return v.detach(), g

    def grad(self, P: Any) -> Tensor:
        return self.value_and_grad(P)[1]

    def hvp(self, P: Any, V: Any) -> Tensor:
        """Per-row Hessian-vector products ``H(P_i) V_i``: shape ``(B, d)``."""
        return row_hvp(self.fn, self.as_points(P), self.as_points(V))

    def hessian(self, P: Any) -> Tensor:
        """Per-row Hessians ``(B, d, d)`` from ``d`` HVPs of the summed objective."""
        return row_hessians(self.fn, self.as_points(P))

    # ------------------------------------------------------------------ helpers
    def require_domain(self) -> Domain:
        if self.domain is None:
            raise InvalidParameterError(f"{self.name}: no domain given; pass domain=...")
        return self.domain

    def domain_tensor(self) -> Tensor:
        """The domain as a ``(d, 2)`` tensor."""
        return torch.tensor(self.require_domain(), dtype=self.dtype)

    def sample(
        self, n: int, seed: int | None = 0, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` points uniform in the domain box, shape ``(n, d)``."""
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        box = self.domain_tensor()
        u = torch.rand(int(n), self.dim, dtype=self.dtype, generator=generator)
        return box[:, 0] + u * (box[:, 1] - box[:, 0])

    def grid(self, n: int | Sequence[int] = 100) -> tuple[Tensor, Tensor, Tensor]:
        """For 2-D landscapes: ``(X, Y, Z)`` on an ``n x n`` grid of the domain (for contours)."""
        if self.dim != 2:
            raise DimensionError(
                f"{self.name}: grid() needs a 2-D landscape, this one has d={self.dim}"
            )
        nx, ny = (n, n) if isinstance(n, int) else tuple(n)
        (x0, x1), (y0, y1) = self.require_domain()
        xs = torch.linspace(x0, x1, nx, dtype=self.dtype)
        ys = torch.linspace(y0, y1, ny, dtype=self.dtype)
        Y, X = torch.meshgrid(ys, xs, indexing="ij")
        Z = self.fn(torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1)).reshape(ny, nx)
        return X, Y, Z.detach()

    def info(self) -> dict[str, Any]:
        """A JSON-friendly summary (what ``descentlab landscapes`` prints)."""
        counts = self.count_kinds()
        return {
            "name": self.name,
            "dim": self.dim,
            "params": dict(self.params),
            "domain": None if self.domain is None else [list(p) for p in self.domain],
            "global_min_value": self.global_min_value,
            "critical_points_known": counts is not None,
            "complete": bool(self.complete),
            "counts": counts,
            "formula": self.formula,
            "description": self.description,
        }

    @classmethod
    def from_formula(
        cls, expression: str, domain: Any = None, *, dim: int | None = None, name: str = "formula"
    ) -> Landscape:
        """A landscape from a formula string, parsed against a whitelist (never evaluated).

        Example:
            >>> L = Landscape.from_formula("x**4 - 2*x**2 + y**2", domain=(-2, 2, -2, 2))
            >>> float(L.value([1.0, 0.0]))
            -1.0
        """
        from descentlab.landscapes.formula import formula_landscape

        return formula_landscape(expression, domain=domain, dim=dim, name=name)

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Landscape({self.name!r}, dim={self.dim}{', ' + p if p else ''})"


def isclose_point(a: Sequence[float], b: Sequence[float], tol: float = 1e-6) -> bool:
    return all(math.isclose(x, y, rel_tol=0, abs_tol=tol) for x, y in zip(a, b, strict=True))
