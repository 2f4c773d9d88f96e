"""Find, refine and classify the critical points of a landscape.

A critical (stationary) point solves ``grad f(x) = 0``. Minimising ``f`` finds only minima; to
find saddles and maxima as well we solve the root problem ``F(x) = grad f(x) = 0`` whose
Jacobian is the Hessian ``H(x)``. Every start runs at once as one row of a ``(B, d)`` batch.

The solver is Levenberg–Marquardt on ``F`` (Levenberg 1944; Marquardt 1963): with the
eigen-decomposition ``H = Q diag(lam) Q^T`` of the symmetric Hessian, the damped step is

    s = -(H^2 + mu I)^{-1} H g = -Q diag(lam_i / (lam_i^2 + mu)) Q^T g,

capped at half the box width. It is accepted when ``||g||`` at the trial point is below the
largest of the row's last 8 accepted values (non-monotone test: Grippo, Lampariello & Lucidi,
SIAM J. Numer. Anal. 23, 1986) — then ``mu`` shrinks by 3 and the step tends to Newton's
``-H^+ g`` — and rejected otherwise — then ``mu`` grows by 4 and the step tends to a short
gradient step on ``||g||^2 / 2``. A row stops

* converged, when its undamped Newton step ``-H^+ g`` (the estimated distance to the root) is
  below ``xtol (1 + ||x||)`` and ``||g||`` below ``gtol``; that last step is applied, so
  non-degenerate roots end at full float64 precision;
* stalled, after 24 rejections in a row (a non-zero local minimum of ``||g||``, or the rounding
  floor of a root: it counts as converged if its Newton step is below ``1000 xtol``);
* wandering, when its Newton step has not halved for 60 iterations (e.g. on a plateau where
  ``||g||`` keeps falling but no root is near), or when it leaves the box enlarged by one width.

At a degenerate root (e.g. the monkey saddle, Hessian zero at the root) Newton converges only
linearly, so the stopping test is on the step length, not on ``||g||`` (which there is the
*square* of the distance), and rows are then merged within ``dedup_tol``. Roots where ``f`` is
constant to rounding over a neighbourhood (far out in a Gaussian's tail, where everything has
underflowed) are not isolated critical points at float64 resolution; they are counted in a note
and not listed.

Classification uses the Hessian eigenvalues (``classify_eigenvalues``): minimum, maximum, saddle
with its index (number of negative eigenvalues), or degenerate when an eigenvalue is zero
relative to the landscape's Hessian scale and second order cannot decide.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import torch

from descentlab.errors import InvalidParameterError
from descentlab.formatting import format_number, format_table
from descentlab.io import to_jsonable
from descentlab.landscapes.base import (
    KINDS,
    CriticalPoint,
    Landscape,
    classify_eigenvalues,
    normalize_domain,
)
from descentlab.linalg import hessian_from_grad, pinv_from_eig, safe_eigh
from descentlab.progress import Progress
from descentlab.validate import check_at_most, check_choice, check_positive

Tensor = torch.Tensor
_F64 = torch.float64

# A Hessian eigenvalue below this fraction of the row's largest one is treated as zero in the
# Newton pseudo-inverse: a few float64 epsilons, the rounding level of the eigenvalues. Along a
# degenerate direction (f ~ x^4: lam ~ 12 x^2) this ends Newton's linear convergence at
# |x| ~ 1e-8 relative, instead of dividing rounding noise by rounding noise.
_PINV_RCOND = 1e-15
# How many accepted gradient norms the non-monotone acceptance test looks back over.
_NONMONOTONE_WINDOW = 8
# Iterations a row may go without halving its Newton step before it is stopped.
_PATIENCE = 60
# A root is "numerically flat" when f changes by at most this fraction of its range over the
# box within 5% of the box around it: ~100 float64 epsilons, the rounding of typical values.
_FLAT_TOL = 1e-14
# Degeneracy is judged against the Hessian's size at probes this fraction of the box away.
_PROBE = 0.01


# ---------------------------------------------------------------------------------------------
# result container
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CriticalPointSet(Sequence[CriticalPoint]):
    """The classified critical points a search found, in increasing order of value.

    A read-only sequence of :class:`~descentlab.landscapes.base.CriticalPoint` with summaries.

    Attributes:
        points: the critical points, sorted by value then coordinates.
        landscape: the landscape's name.
        dim: its dimension.
        domain: the box that was searched, one ``(lo, hi)`` per dimension.
        n_starts: how many starts were solved in all.
        n_converged: how many of them converged to a root (inside the domain or not).
        n_rounds: how many rounds of starts ran (a new round runs while the last found new points).
        notes: remarks a user should read (e.g. a declared global minimum that was not found).
        continuum: True when the roots are not isolated (a curve or surface of critical points
            was found, the search stopped, and the degenerate points listed are samples of it).

    Example:
        >>> from descentlab.landscapes.base import Landscape
        >>> L = Landscape(lambda P: P[:, 0] ** 2 - P[:, 1] ** 2, dim=2, domain=(-1, 1))
        >>> cps = find_critical_points(L, n_starts=64)
        >>> cps.counts()["saddle"], cps[0].index
        (1, 1)
    """

    points: tuple[CriticalPoint, ...]
    landscape: str = "custom"
    dim: int = 0
    domain: tuple[tuple[float, float], ...] = ()
    n_starts: int = 0
    n_converged: int = 0
    n_rounds: int = 0
    notes: tuple[str, ...] = field(default=())
    continuum: bool = False

    # -- sequence protocol
    @overload
    def __getitem__(self, i: int) -> CriticalPoint: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[CriticalPoint, ...]: ...
    def __getitem__(self, i: int | slice) -> CriticalPoint | tuple[CriticalPoint, ...]:
        return self.points[i]

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[CriticalPoint]:
        return iter(self.points)

    # -- summaries
    def counts(self) -> dict[str, int]:
        """Number of points of each kind: ``{"minimum": .., "maximum": .., "saddle": .., ...}``."""
        out = dict.fromkeys(KINDS, 0)
        for c in self.points:
            out[c.kind] += 1
        return out

    def index_counts(self) -> dict[int, int]:
        """Number of non-degenerate points by Morse index (0 = minima, ``d`` = maxima)."""
        out: dict[int, int] = {}
        for c in self.points:
            if c.kind != "degenerate":
                out[c.index] = out.get(c.index, 0) + 1
        return dict(sorted(out.items()))

    def of_kind(self, kind: str) -> list[CriticalPoint]:
        """The points of one kind (``minimum``, ``maximum``, ``saddle`` or ``degenerate``)."""
        check_choice("kind", kind, KINDS)
        return [c for c in self.points if c.kind == kind]

    @property
    def minima(self) -> list[CriticalPoint]:
        return self.of_kind("minimum")

    @property
    def maxima(self) -> list[CriticalPoint]:
        return self.of_kind("maximum")

    @property
    def saddles(self) -> list[CriticalPoint]:
        return self.of_kind("saddle")

    @property
    def degenerate(self) -> list[CriticalPoint]:
        return self.of_kind("degenerate")

    @property
    def global_minima(self) -> list[CriticalPoint]:
        """The points marked ``is_global`` (the lowest minima, ties within tolerance)."""
        return [c for c in self.points if c.is_global]

    def array(self) -> np.ndarray:
        """The points' coordinates as an ``(n, d)`` float64 array."""
        return np.asarray([c.point for c in self.points], dtype=float).reshape(len(self), self.dim)

    def nearest(self, point: Sequence[float] | np.ndarray | Tensor) -> tuple[CriticalPoint, float]:
        """The critical point closest (Euclidean) to ``point`` and its distance.

        Raises ``InvalidParameterError`` when the set is empty or the dimension differs.
        """
        if not self.points:
            raise InvalidParameterError("the set of critical points is empty")
        p = np.asarray(
            point.detach().cpu().numpy() if isinstance(point, Tensor) else point, dtype=float
        ).ravel()
        if p.size != self.dim:
            raise InvalidParameterError(f"point has {p.size} coordinates, the set has d={self.dim}")
        dist = np.linalg.norm(self.array() - p, axis=1)
        k = int(np.argmin(dist))
        return self.points[k], float(dist[k])

    # -- output
    def to_dicts(self) -> list[dict[str, Any]]:
        """One ``CriticalPoint.to_dict()`` per point (JSON-ready)."""
        return [c.to_dict() for c in self.points]

    def to_json(self, indent: int | None = 2) -> str:
        """The points as a JSON list of ``{"point", "value", "kind", "index", "eigenvalues",
        "is_global"}`` objects."""
        return json.dumps(to_jsonable(self.to_dicts()), indent=indent, allow_nan=False)

    def summary(self) -> str:
        """One line: what was searched and what was found."""
        c = self.counts()
        names = {"minimum": "minima", "saddle": "saddles", "maximum": "maxima"}
        found = ", ".join(f"{c[k]} {k if c[k] == 1 else names[k]}" for k in names)
        if c["degenerate"]:
            found += f", {c['degenerate']} degenerate"
        if self.domain and len(set(self.domain)) == 1 and len(self.domain) > 1:
            box = f"[{self.domain[0][0]:g}, {self.domain[0][1]:g}]^{len(self.domain)}"
        else:
            box = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.domain)
        noun = "critical point" if len(self) == 1 else "critical points"
        return (
            f"{self.landscape} (d={self.dim}) on {box}: {len(self)} {noun} "
            f"({found}) from {self.n_starts} starts"
        )

    def table(self, digits: int = 6) -> str:
        """An aligned text table: number, point, value, kind, index, eigenvalues, global."""
        headers = ["#", "point", "value", "kind", "index", "eigenvalues", "global"]
        rows = []
        for i, c in enumerate(self.points):
            eig = "" if c.eigenvalues is None else _fmt_vec(c.eigenvalues, 4)
            rows.append(
                [
                    str(i + 1),
                    _fmt_vec(c.point, digits),
                    format_number(c.value, digits),
                    c.kind,
                    str(c.index),
                    eig,
                    "yes" if c.is_global else "",
                ]
            )
        return format_table(headers, rows, right={0, 2, 4})

    def __str__(self) -> str:
        parts = [self.summary(), self.table()]
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(parts)


def _fmt_vec(v: Sequence[float], digits: int) -> str:
    return "(" + ", ".join(format_number(float(x), digits) for x in v) + ")"


# ---------------------------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------------------------
def _uses_base_derivatives(landscape: Landscape) -> bool:
    cls = type(landscape)
    return cls.hessian is Landscape.hessian and cls.value_and_grad is Landscape.value_and_grad


def _derivatives(landscape: Landscape, X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Values ``(B,)``, gradients ``(B, d)`` and symmetric Hessians ``(B, d, d)`` at float64.

    For a plain ``Landscape`` one graph gives all three (gradient of the sum, then ``d``
    Hessian-vector products); a subclass that overrides ``value_and_grad``/``hessian`` is
    called through those methods so its own derivatives are the ones used.
    """
    X = X.detach().to(_F64)
    B, d = X.shape
    if not _uses_base_derivatives(landscape):
        v, g = landscape.value_and_grad(X)
        H = landscape.hessian(X)
        v, g, H = v.detach().to(_F64), g.detach().to(_F64), H.detach().to(_F64)
    else:
        Xg = X.requires_grad_(True)
        H = torch.zeros(B, d, d, dtype=_F64)
        with torch.enable_grad():
            vals = landscape.fn(Xg)
            (g,) = torch.autograd.grad(vals.sum(), Xg, create_graph=True)
            if g.requires_grad:
                H = hessian_from_grad(g, Xg)
        v, g = vals.detach().to(_F64), g.detach().to(_F64)
        H = H.detach()
    H = 0.5 * (H + H.transpose(1, 2))
    return v.reshape(B), g.reshape(B, d), H


def _newton_from_eig(lam: Tensor, Q: Tensor, gq: Tensor) -> Tensor:
    """Pseudo-inverse Newton step ``-H^+ g`` from ``H = Q diag(lam) Q^T`` and ``gq = Q^T g``."""
    return -pinv_from_eig(lam, Q, gq, _PINV_RCOND)


@dataclass
class _SolveResult:
    x: Tensor  # (B, d) final points
    converged: Tensor  # (B,) bool: stopped on a root
    grad_norm: Tensor  # (B,) ||g|| at x
    step_norm: Tensor  # (B,) last undamped Newton step length
    start_values: Tensor  # (B,) f at the start
    gtol: float  # the gradient-norm tolerance used


def _solve(
    landscape: Landscape,
    X0: Tensor,
    *,
    max_iter: int,
    xtol: float,
    gtol: float | None,
    box: Tensor | None,
    trust: float | None,
    scale: Tensor | None = None,
) -> _SolveResult:
    """Batched LM/Newton on ``grad f = 0`` from every row of ``X0``.

    ``box`` ``(d, 2)``: rows leaving this (already enlarged) box are dropped; ``trust`` bounds
    the step length measured in units of ``scale`` ``(d,)`` (the domain's widths). ``gtol``
    (absolute) is the largest ``||g||`` accepted at a root; ``None`` derives it from the
    gradients at the starts.

    The state of the rows still iterating is kept compact (finished rows are written out and
    dropped), and accept/reject updates are ``torch.where`` on that state: at a few thousand
    rows the loop's cost is the number of tensor operations, not their size.
    """
    X0 = X0.detach().to(_F64)
    B = X0.shape[0]
    v, g, H = _derivatives(landscape, X0)
    lam, Q, finite_h = safe_eigh(H)
    gn = g.norm(dim=1)
    finite = torch.isfinite(v) & torch.isfinite(gn) & finite_h
    start_values = v.clone()
    if gtol is None:
        # the largest gradient at the starts, not a typical one: where most of the box is a flat
        # tail (Easom on a wide box) a median would be ~1e-26 and reject every real root
        ok = finite & (gn > 0)
        ref = float(gn[ok].max()) if bool(ok.any()) else 1.0
        gtol = 1e-7 * max(ref, 1e-300)
    X_out = X0.clone()
    gn_out = gn.clone()
    step_out = torch.full((B,), math.inf, dtype=_F64)
    conv_out = torch.zeros(B, dtype=torch.bool)

    # compact state of the rows still iterating; rid maps them back to rows of X0
    rid = finite.nonzero().flatten()
    x, g, gn, lam, Q = X0[rid], g[rid], gn[rid], lam[rid], Q[rid]
    lmax2 = lam.abs().amax(1) ** 2
    mu = 1e-3 * torch.where(lmax2 > 0, lmax2, torch.ones_like(lmax2))
    rejects = torch.zeros(rid.numel(), dtype=torch.long)
    # non-monotone acceptance (Grippo, Lampariello & Lucidi 1986): a step may raise ||g|| above
    # the current value as long as it stays below the largest of the last few accepted values.
    # Newton's steps along a curved valley (Rosenbrock) raise ||g|| for a while before the
    # quadratic convergence sets in; a monotone test would reject them and crawl.
    history = gn.unsqueeze(1).repeat(1, _NONMONOTONE_WINDOW)
    slot = torch.zeros(rid.numel(), dtype=torch.long)
    cols = torch.arange(_NONMONOTONE_WINDOW)
    # rows whose Newton step (the estimated distance to the root) has not halved for _PATIENCE
    # iterations are not converging: e.g. drifting over a plateau where ||g|| keeps falling
    # (exponentially) but no root is near. They stop, and are judged like stalled rows.
    best_step = torch.full((rid.numel(),), math.inf, dtype=_F64)
    last_gain = torch.zeros(rid.numel(), dtype=torch.long)
    if box is not None:
        lo, hi = box[:, 0], box[:, 1]

    for it in range(max_iter):
        if rid.numel() == 0:
            break
        gq = (g.unsqueeze(1) @ Q).squeeze(1)  # Q^T g
        dn = _newton_from_eig(lam, Q, gq)
        dnn = dn.norm(dim=1)
        gained = dnn < 0.5 * best_step
        best_step = torch.where(gained, dnn, best_step)
        last_gain = torch.where(gained, it, last_gain)
        done = (dnn <= xtol * (1.0 + x.norm(dim=1))) & (gn <= gtol)

        # Levenberg–Marquardt trial step, capped at `trust` domain widths
        denom = lam * lam + mu.unsqueeze(1)
        coef = torch.where(denom > 0, lam / torch.where(denom > 0, denom, 1.0), 0.0)
        s = -(Q @ (coef * gq).unsqueeze(-1)).squeeze(-1)
        if trust is not None and scale is not None:
            sn = (s / scale).norm(dim=1, keepdim=True)
            s = s * torch.clamp(trust / torch.where(sn > 0, sn, 1.0), max=1.0)
        xt = x + s
        vt, gt, Ht = _derivatives(landscape, xt)
        lamt, Qt, fin_t = safe_eigh(Ht)
        gtn = gt.norm(dim=1)
        good = torch.isfinite(vt) & torch.isfinite(gtn) & fin_t & (gtn < history.amax(1))

        x_prev, gn_prev = x, gn
        gm = good.unsqueeze(1)
        x, g, lam = torch.where(gm, xt, x), torch.where(gm, gt, g), torch.where(gm, lamt, lam)
        Q = torch.where(gm.unsqueeze(2), Qt, Q)
        gn = torch.where(good, gtn, gn)
        mu = torch.where(good, mu / 3.0, mu * 4.0)
        rejects = torch.where(good, 0, rejects + 1)
        put = gm & (cols == (slot % _NONMONOTONE_WINDOW).unsqueeze(1))
        history = torch.where(put, gtn.unsqueeze(1), history)
        slot = slot + good.long()

        # a row that cannot lower ||g|| any more has stalled: at the rounding floor of a root
        # (judged below on its Newton step) or at a non-zero local minimum of ||g|| (dropped)
        stop = done | (rejects >= 24) | (it - last_gain > _PATIENCE)
        if box is not None:
            stop = stop | ((x < lo) | (x > hi)).any(1)
        if it == max_iter - 1:
            stop = torch.ones_like(stop)
        if not bool(stop.any()):
            continue
        # converged rows take their last (undamped Newton) step
        r = rid[done]
        X_out[r] = x_prev[done] + dn[done]
        gn_out[r] = gn_prev[done]
        step_out[r] = dnn[done]
        conv_out[r] = True
        # stopped rows without the strict test: accept those at the rounding floor of a root
        rest = stop & ~done
        if bool(rest.any()):
            r = rid[rest]
            xr, gr, gnr = x[rest], g[rest], gn[rest]
            dr = _newton_from_eig(lam[rest], Q[rest], (gr.unsqueeze(1) @ Q[rest]).squeeze(1))
            drn = dr.norm(dim=1)
            X_out[r], gn_out[r], step_out[r] = xr, gnr, drn
            conv_out[r] = (drn <= 1e3 * xtol * (1.0 + xr.norm(dim=1))) & (gnr <= gtol)
        keep = ~stop
        rid, x, g, gn, lam, Q = rid[keep], x[keep], g[keep], gn[keep], lam[keep], Q[keep]
        mu, rejects, history, slot = mu[keep], rejects[keep], history[keep], slot[keep]
        best_step, last_gain = best_step[keep], last_gain[keep]
    return _SolveResult(X_out, conv_out, gn_out, step_out, start_values, gtol)


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def refine_critical_points(
    landscape: Landscape,
    P: Any,
    *,
    max_iter: int = 200,
    xtol: float = 1e-12,
    gtol: float | None = None,
    max_distance: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Polish approximate critical points with batched damped Newton (Levenberg–Marquardt).

    Each row of ``P`` is moved to a nearby root of ``grad f`` (whatever its kind) by the
    iteration ``x <- x - (H^2 + mu I)^{-1} H g`` with ``mu`` adapted per row, ending with
    undamped Newton steps ``x <- x - H^+ g`` (see the module docstring). When the landscape
    has a domain, each step is capped at half its width, so a row does not leap from a flat
    stretch to a far root in one step.

    Args:
        landscape: the objective.
        P: points, shape ``(B, d)`` or ``(d,)``.
        max_iter: iterations at most (every row runs in the same batch).
        xtol: a row has converged when its Newton step is below ``xtol * (1 + ||x||)``.
        gtol: the largest gradient norm accepted at a root; default ``1e-7`` times the
            landscape's gradient scale: the largest ``||g||`` over 256 points of its domain, or
            without a domain the largest ``||g|| + max|eig H| (1 + ||x||)`` over ``P`` (end
            points of runs sit near roots, so their gradients alone would make it collapse).
        max_distance: when given, a row that converged farther than this (Euclidean) from its
            start counts as not converged: the root is not the one "near" the point.

    Returns:
        ``(points, converged)``: the refined ``(B, d)`` float64 points and a ``(B,)`` bool mask
        of rows that reached a root (within ``max_distance``). Rows that did not converge hold
        wherever the iteration stopped.

    Example:
        >>> import torch
        >>> from descentlab.landscapes.base import Landscape
        >>> L = Landscape(lambda P: P[:, 0] ** 3 - 3 * P[:, 0], dim=1)  # roots at x = -1, 1
        >>> X, ok = refine_critical_points(L, torch.tensor([[0.8], [-1.3]]))
        >>> [round(float(x), 12) for x in X[:, 0]], ok.tolist()
        ([1.0, -1.0], [True, True])
    """
    X0 = landscape.as_points(P).to(_F64)
    max_iter = _check_int("max_iter", max_iter, 1)
    check_positive("xtol", xtol)
    if gtol is not None:
        check_positive("gtol", gtol)
    else:
        gtol = 1e-7 * _gradient_scale(landscape, X0)
    if max_distance is not None:
        check_positive("max_distance", max_distance)
    scale = None if landscape.domain is None else landscape.domain_tensor().diff(dim=1)[:, 0]
    res = _solve(
        landscape,
        X0,
        max_iter=max_iter,
        xtol=xtol,
        gtol=gtol,
        box=None,
        trust=0.5,
        scale=None if scale is None else scale.to(_F64),
    )
    converged = res.converged
    if max_distance is not None:
        converged = converged & ((res.x - X0).norm(dim=1) <= max_distance)
    return res.x, converged


def _gradient_scale(landscape: Landscape, P: Tensor) -> float:
    """A typical gradient norm of the landscape (see ``refine_critical_points``)."""
    if landscape.domain is not None:
        S = landscape.sample(256, seed=0).to(_F64)
        n = landscape.grad(S).to(_F64).norm(dim=1)
    else:
        _, g, H = _derivatives(landscape, P)
        lam_max = torch.linalg.eigvalsh(H).abs().amax(1) if H.shape[0] else H.new_zeros(0)
        n = g.norm(dim=1) + lam_max * (1.0 + P.norm(dim=1))
    n = n[torch.isfinite(n) & (n > 0)]
    return float(n.max()) if n.numel() else 1.0


def default_n_starts(dim: int) -> int:
    """Starts per round by default: ``256 * 2^(d-1)``, at most 4096."""
    return int(min(4096, 256 * 2 ** (max(int(dim), 1) - 1)))


# Box searches beyond this many dimensions are refused (d x d Hessians per start; no start set
# covers such a box anyway). refine_critical_points has no such limit.
MAX_SEARCH_DIM = 200


def find_critical_points(
    landscape: Landscape,
    domain: Any = None,
    *,
    n_starts: int | None = None,
    seed: int = 0,
    max_rounds: int = 8,
    max_starts: int = 131_072,
    max_iter: int = 200,
    xtol: float = 1e-12,
    dedup_tol: float = 1e-6,
    zero_tol: float = 1e-8,
    value_tol: float = 1e-8,
    progress: bool | None = None,
) -> CriticalPointSet:
    """Every critical point of ``landscape`` in a box, classified: minima, saddles, maxima.

    Solves ``grad f(x) = 0`` (not ``min f``) from quasi-random starts (scrambled Sobol points of
    the box, deterministic for ``seed``), all at once: batched Levenberg–Marquardt on the
    gradient with the Hessian as Jacobian, finished by Newton to full float64 precision (see
    the module docstring). Roots outside the box are dropped, roots closer than ``dedup_tol``
    (relative to the box size) merged. Round ``r`` solves ``n_starts * 2^(r-1)`` new starts;
    rounds continue while the previous one found a point not seen before, up to ``max_rounds``
    rounds and ``max_starts`` starts in all — a landscape with a handful of points costs two
    rounds, one with thousands of small basins (Lévi N.13: 3653 points) gets the starts it
    needs.

    Each point is classified by its Hessian eigenvalues with ``classify_eigenvalues``: an
    eigenvalue counts as zero below ``zero_tol`` times the Hessian's local scale: the largest
    ``|eigenvalue|`` at the point and at ``2d`` probes 1% of the box away (at the monkey
    saddle's origin the Hessian is 0 but grows linearly around it; ``exp(x^2)`` on a wide box
    has Hessians of 1e12 at the edges, which must not make its minimum's 2 look like 0). The
    minima with the lowest value (ties within ``value_tol * max(1, |value|)``) are marked
    ``is_global`` — unless the landscape declares ``global_min_value`` and it differs (then the
    minima matching it are global), or a start in the box is lower than every minimum found
    (then none is; a note says so).

    Args:
        landscape: the objective (any dimension).
        domain: the box to search, ``(lo, hi)`` for all dimensions, a flat
            ``lo1, hi1, lo2, hi2, ...`` list, or one pair per dimension; default the
            landscape's own domain.
        n_starts: starts of the first round; default ``256 * 2^(d-1)`` (at most 4096).
        seed: seed of the scrambled Sobol sequence of starts.
        max_rounds: rounds at most; 1 solves exactly ``n_starts`` starts.
        max_starts: starts in all rounds at most (the first round always runs whole).
        max_iter: LM/Newton iterations at most per start.
        xtol: Newton-step tolerance, relative to ``1 + ||x||``.
        dedup_tol: roots closer than this times ``max(1, largest box width)`` are one point.
        zero_tol: eigenvalue-is-zero threshold, relative to the Hessian's local scale.
        value_tol: relative tolerance for ties between global minima.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        A :class:`CriticalPointSet`, sorted by value.

    Example:
        >>> from descentlab.landscapes.base import Landscape
        >>> L = Landscape(lambda P: P[:, 0] ** 4 - 2 * P[:, 0] ** 2 + P[:, 1] ** 2, dim=2,
        ...               domain=(-2, 2))
        >>> cps = find_critical_points(L)
        >>> [(c.kind, c.index, c.is_global) for c in cps]
        [('minimum', 0, True), ('minimum', 0, True), ('saddle', 1, False)]
        >>> [round(x, 12) + 0.0 for x in cps[2].point]
        [0.0, 0.0]
    """
    if not isinstance(landscape, Landscape):
        raise InvalidParameterError(
            f"find_critical_points needs a Landscape, got {type(landscape).__name__}"
        )
    d = landscape.dim
    if d > MAX_SEARCH_DIM:
        raise InvalidParameterError(
            f"{landscape.name}: find_critical_points searches at most {MAX_SEARCH_DIM} dimensions "
            f"(got d={d}): every start needs a d x d Hessian, and filling a box with starts is "
            "hopeless far below that; use refine_critical_points from points of interest instead"
        )
    dom = normalize_domain(domain, d) if domain is not None else landscape.domain
    if dom is None:
        raise InvalidParameterError(
            f"{landscape.name}: no domain to search; pass domain=(lo, hi) or one pair per dimension"
        )
    n = default_n_starts(d) if n_starts is None else _check_int("n_starts", n_starts, 1)
    check_at_most("n_starts", n, 10_000_000)
    max_rounds = _check_int("max_rounds", max_rounds, 1)
    max_starts = _check_int("max_starts", max_starts, 1)
    max_rounds = min(max_rounds, 40)  # 2^40 starts is beyond any budget anyway
    max_iter = _check_int("max_iter", max_iter, 1)
    seed = _check_int("seed", seed, 0)
    for name, val in (("xtol", xtol), ("dedup_tol", dedup_tol), ("zero_tol", zero_tol)):
        check_positive(name, val)
    check_positive("value_tol", value_tol, allow_zero=True)

    box = torch.tensor(dom, dtype=_F64)
    lo, hi = box[:, 0], box[:, 1]
    width = hi - lo
    # rows may wander a box-width outside while converging, but not to infinity
    search_box = torch.stack([lo - width, hi + width], dim=1)
    scale = max(1.0, float(width.max()))
    merge_tol = dedup_tol * scale
    inside_tol = 1e-9 * width

    sobol = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed)
    reps = torch.zeros(0, d, dtype=_F64)
    rep_gn = torch.zeros(0, dtype=_F64)
    flat_reps = torch.zeros(0, d, dtype=_F64)
    flat_gn = torch.zeros(0, dtype=_F64)
    fmin, fmax = math.inf, -math.inf
    start_vals: list[Tensor] = []
    total = n_conv = rounds = 0
    gtol: float | None = None
    # rows per solve: bound the (B, d, d) Hessians to ~32 MB whatever n_starts and d are
    chunk = max(64, 4_000_000 // (d * d + 4 * d))
    total_max = max(n, min(max_starts, n * (2**max_rounds - 1)))
    continuum = 0  # singular-Hessian roots of the last round when they form a continuum
    with Progress(total_max, f"critical points ({landscape.name})", enabled=progress) as bar:
        for _ in range(max_rounds):
            rounds += 1
            k_round = reps.shape[0]
            # round r solves n * 2^(r-1) new starts: cheap landscapes stop after two rounds,
            # rich ones (thousands of points, small basins) get the starts they need
            n_round = min(n * 2 ** (rounds - 1), total_max - total)
            if n_round <= 0:
                rounds -= 1
                break
            U = sobol.draw(n_round, dtype=_F64)
            found_new = False
            for s in range(0, n_round, chunk):
                X0 = lo + U[s : s + chunk] * width
                res = _solve(
                    landscape,
                    X0,
                    max_iter=max_iter,
                    xtol=xtol,
                    gtol=gtol,
                    box=search_box,
                    trust=0.5,
                    scale=width,
                )
                bar.update(X0.shape[0])
                if gtol is None:  # fixed from the first starts, so every round uses the same
                    gtol = res.gtol
                total += X0.shape[0]
                n_conv += int(res.converged.sum())
                start_vals.append(res.start_values)
                sv = res.start_values[torch.isfinite(res.start_values)]
                if sv.numel():
                    fmin, fmax = min(fmin, float(sv.min())), max(fmax, float(sv.max()))
                inside = ((res.x >= lo - inside_tol) & (res.x <= hi + inside_tol)).all(1)
                keep = res.converged & inside
                new_reps, new_gn = _merge(reps, rep_gn, res.x[keep], res.grad_norm[keep], merge_tol)
                k = reps.shape[0]
                flat = _flat_rows(landscape, new_reps[k:], width=width, frange=fmax - fmin)
                if bool(flat.any()):
                    flat_reps, flat_gn = _merge(
                        flat_reps, flat_gn, new_reps[k:][flat], new_gn[k:][flat], merge_tol
                    )
                    new_reps = torch.cat([new_reps[:k], new_reps[k:][~flat]])
                    new_gn = torch.cat([new_gn[:k], new_gn[k:][~flat]])
                found_new = found_new or new_reps.shape[0] > k
                reps, rep_gn = new_reps, new_gn
            if not found_new and (reps.shape[0] > 0 or rounds >= 2):
                break
            continuum = _continuum_size(landscape, reps[k_round:])
            if continuum:  # more starts would only sample the same curve/surface more densely
                break

    sv = torch.cat(start_vals)
    sv = sv[torch.isfinite(sv)]
    lowest_sample = float(sv.min()) if sv.numel() else math.inf
    points, notes = _classify(
        landscape,
        reps,
        width=width,
        zero_tol=zero_tol,
        value_tol=value_tol,
        lowest_sample=lowest_sample,
    )
    if continuum:
        notes.insert(
            0,
            f"the critical points are not isolated: one round of starts found {continuum} new "
            "roots with a singular Hessian (a curve or surface of critical points, e.g. a flat "
            "valley floor); the search stopped, and the points listed are samples of that set",
        )
    if flat_reps.shape[0]:
        notes.insert(
            0,
            f"{flat_reps.shape[0]} roots lie where f is numerically constant over a neighbourhood "
            f"(changes by at most {_FLAT_TOL:g} x its range within 5% of the box): not isolated "
            "critical points at float64 resolution, not listed",
        )
    return CriticalPointSet(
        points=tuple(points),
        landscape=landscape.name,
        dim=d,
        domain=tuple(dom),
        n_starts=total,
        n_converged=n_conv,
        n_rounds=rounds,
        notes=tuple(notes),
        continuum=bool(continuum),
    )


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
# A round whose new roots number at least this many, at least half with a singular Hessian,
# is sampling a continuum of critical points (isolated degenerate roots are rare and few).
_CONTINUUM_MIN_NEW = 32


def _continuum_size(landscape: Landscape, new_roots: Tensor) -> int:
    """How many of a round's new roots have a singular Hessian, when they signal a continuum.

    Returns 0 unless there are at least ``_CONTINUUM_MIN_NEW`` new roots and at least half of
    them have ``min |lambda| <= 1e-6 * max(max |lambda|, 1)``.
    """
    n_new = new_roots.shape[0]
    if n_new < _CONTINUUM_MIN_NEW:
        return 0
    lam = torch.linalg.eigvalsh(landscape.hessian(new_roots)).abs()
    singular = lam.min(dim=1).values <= 1e-6 * lam.max(dim=1).values.clamp_min(1.0)
    n_sing = int(singular.sum())
    return n_sing if 2 * n_sing >= n_new else 0


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidParameterError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _merge(
    reps: Tensor, rep_gn: Tensor, X: Tensor, gn: Tensor, tol: float, block: int = 2048
) -> tuple[Tensor, Tensor]:
    """Add the roots ``X`` to the representatives ``reps``, merging any within ``tol`` (max-norm).

    Within a cluster the member with the smallest gradient norm represents it (at a degenerate
    root, where Newton converges linearly, that is the member nearest the root).
    """
    reps, rep_gn = reps.clone(), rep_gn.clone()
    for s in range(0, X.shape[0], block):
        xb, gb = X[s : s + block], gn[s : s + block]
        if reps.shape[0]:
            dist = (xb.unsqueeze(1) - reps.unsqueeze(0)).abs().amax(-1)
            near, j = dist.min(1)
            hit = near <= tol
            if bool(hit.any()):
                jj, gg, xx = j[hit], gb[hit], xb[hit]
                best = torch.full_like(rep_gn, math.inf).scatter_reduce(0, jj, gg, reduce="amin")
                sel = (gg == best[jj]) & (best[jj] < rep_gn[jj])
                reps[jj[sel]], rep_gn[jj[sel]] = xx[sel], gg[sel]
            xb, gb = xb[~hit], gb[~hit]
        # greedy among the block's unmatched rows
        while xb.shape[0]:
            dist = (xb - xb[0]).abs().amax(-1)
            same = dist <= tol
            k = int(torch.argmin(torch.where(same, gb, math.inf)))
            reps = torch.cat([reps, xb[k : k + 1]])
            rep_gn = torch.cat([rep_gn, gb[k : k + 1]])
            xb, gb = xb[~same], gb[~same]
    return reps, rep_gn


def _flat_rows(landscape: Landscape, R: Tensor, *, width: Tensor, frange: float) -> Tensor:
    """Roots around which ``f`` is numerically constant (e.g. far out in Easom's tail).

    There ``grad f`` and ``H`` vanish to rounding over a whole region, so the root is not an
    isolated critical point at float64 resolution. ``f`` is compared at ``2d`` (plus ``2^d``
    diagonal, for ``d <= 4``) points at 5% of the box from the root: flat when it changes by
    at most ``_FLAT_TOL * range(f)`` (f's range over the starts): a change at the rounding
    level of f's typical values. A real degenerate point (the monkey saddle) has ``f``
    varying like ``r^3`` around it, far above that.
    """
    n, d = R.shape
    if n == 0:
        return torch.zeros(0, dtype=torch.bool)
    offsets = torch.cat([torch.eye(d, dtype=_F64), -torch.eye(d, dtype=_F64)])
    if d <= 4:
        signs = [[1.0 if (k >> j) & 1 else -1.0 for j in range(d)] for k in range(2**d)]
        offsets = torch.cat([offsets, torch.tensor(signs, dtype=_F64) / math.sqrt(d)])
    Y = (R.unsqueeze(1) + 0.05 * offsets.unsqueeze(0) * width).reshape(-1, d)
    fy = landscape.value(Y).detach().to(_F64).reshape(n, -1)
    f0 = landscape.value(R).detach().to(_F64)
    var = (fy - f0.unsqueeze(1)).abs().amax(1)
    return ~(var > _FLAT_TOL * frange)  # NaN counts as flat: nothing can be said there


def _classify(
    landscape: Landscape,
    reps: Tensor,
    *,
    width: Tensor,
    zero_tol: float,
    value_tol: float,
    lowest_sample: float,
) -> tuple[list[CriticalPoint], list[str]]:
    notes: list[str] = []
    if reps.shape[0] == 0:
        return [], notes
    vals = landscape.value(reps).detach().to(_F64)
    H = landscape.hessian(reps).detach().to(_F64)
    H = 0.5 * (H + H.transpose(1, 2))
    lam = torch.linalg.eigvalsh(H)
    # the Hessian's local scale: its largest |eigenvalue| at the point and at 2d probes
    n, d = reps.shape
    eye = torch.eye(d, dtype=_F64)
    offsets = torch.cat([eye, -eye]) * (_PROBE * width)
    Y = (reps.unsqueeze(1) + offsets.unsqueeze(0)).reshape(-1, d)
    lam_probe = safe_eigh(_derivatives(landscape, Y)[2])[0].abs().amax(1).reshape(n, 2 * d)
    lam_probe = torch.where(torch.isfinite(lam_probe), lam_probe, 0.0)
    local = torch.maximum(lam.abs().amax(1), lam_probe.amax(1))
    raw = []
    kinds = [
        classify_eigenvalues(lam[i], abs_tol=max(zero_tol * float(local[i]), 1e-300))
        for i in range(n)
    ]
    for i in range(reps.shape[0]):
        kind, index = kinds[i]
        raw.append((float(vals[i]), tuple(float(x) for x in reps[i]), kind, index, lam[i]))
    # by value (ties to 12 digits: mirror-image points differ in the last bits), then position
    raw.sort(key=lambda r: (float(f"{r[0]:.12g}"), r[1]))

    minima_vals = [r[0] for r in raw if r[2] == "minimum"]
    global_value: float | None = None
    declared = landscape.global_min_value
    if minima_vals:
        lowest = min(minima_vals)
        tol = value_tol * max(1.0, abs(lowest))
        if declared is not None and abs(lowest - declared) > value_tol * max(1.0, abs(declared)):
            if any(abs(v - declared) <= value_tol * max(1.0, abs(declared)) for v in minima_vals):
                global_value = declared
            else:
                notes.append(
                    f"the declared global minimum value {declared:.10g} is not among the minima "
                    f"found in this domain (lowest found: {lowest:.10g}); none is marked global"
                )
        elif lowest_sample < lowest - tol:
            notes.append(
                f"f takes the value {lowest_sample:.10g} in the domain, below every minimum found "
                f"(lowest {lowest:.10g}); the lowest value is on the boundary or was missed, so "
                "no minimum is marked global"
            )
        else:
            global_value = lowest
    points = []
    for v, p, kind, index, lam_i in raw:
        is_global = (
            kind == "minimum"
            and global_value is not None
            and abs(v - global_value) <= value_tol * max(1.0, abs(global_value))
        )
        points.append(
            CriticalPoint(
                point=p,
                value=v,
                kind=kind,
                index=index,
                is_global=is_global,
                eigenvalues=tuple(float(x) for x in lam_i),
            )
        )
    return points, notes
