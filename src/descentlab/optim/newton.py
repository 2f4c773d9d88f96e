"""Second-order rules torch.optim lacks: Newton, damped, saddle-free and cubic-regularised Newton.

All four work from the eigendecomposition ``H = V diag(lam) V^T`` of the Hessian of each problem
(one per row of a batched ``(B, d)`` parameter, or one over a small model's flattened parameters;
see :mod:`descentlab.optim._base` for the two modes and the full-Hessian size limit) and differ in
what they do with the eigenvalues:

============================  =========================================================
rule                          step ``x <- x - lr * V c`` with ``c_i =``
============================  =========================================================
Newton                        ``gt_i / lam_i``  (``gt = V^T g``; pseudo-inverse if singular)
damped Newton (Levenberg)     ``gt_i / (lam_i + mu)``
saddle-free Newton            ``gt_i / (|lam_i| + mu)``
cubic-regularised Newton      ``gt_i / (lam_i + lambda*)``, ``lambda*`` from the secular equation
============================  =========================================================

Closure convention: ``step(closure)`` calls ``closure()``, which must zero the gradients, compute
the scalar loss (for a batch of independent rows, the *sum* of the rows' losses), call
``loss.backward(create_graph=True)`` and return the loss. The Hessian is then built from
Hessian-vector products of ``p.grad``. A gradient without a graph is read as an affine loss
(zero Hessian), so forgetting ``create_graph=True`` silently turns the curvature off.

Rows whose gradient or Hessian is not finite get a NaN step (they have diverged; the engine
freezes them) and never disturb the other rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from descentlab.errors import InvalidParameterError
from descentlab.linalg import eigh, pinv_solve, safe_divide
from descentlab.optim._base import (
    Problem,
    call_closure,
    check_bool,
    check_lr,
    check_number,
    hessian,
    problems,
    release,
    rows_loss_fn,
    scalar_tensor,
)

Tensor = torch.Tensor


# ---------------------------------------------------------------------------- linear algebra
def _eig(H: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``lam (R, n)`` ascending, ``V (R, n, n)``, ``gt = V^T g (R, n)`` and a finite-row mask."""
    ok = torch.isfinite(H).all(dim=(-2, -1)) & torch.isfinite(g).all(dim=-1)
    if not bool(ok.all()):
        eye = torch.eye(H.shape[-1], dtype=H.dtype, device=H.device).expand_as(H)
        H = torch.where(ok[:, None, None], H, eye)
        g = torch.where(ok[:, None], g, torch.zeros_like(g))
    lam, V = eigh(H)
    gt = (V.mT @ g.unsqueeze(-1)).squeeze(-1)
    return lam, V, gt, ok


def _back(V: Tensor, c: Tensor, ok: Tensor) -> Tensor:
    """``V c`` per row; NaN on rows that were not finite."""
    s = (V @ c.unsqueeze(-1)).squeeze(-1)
    return torch.where(ok[:, None], s, torch.full_like(s, math.nan))


def newton_direction(H: Tensor, g: Tensor, rcond: float = 1e-10) -> Tensor:
    """``H^+ g`` per row: ``(R, n, n), (R, n) -> (R, n)``.

    Eigenvalues with ``|lam| <= rcond * max|lam|`` count as zero (Moore-Penrose pseudo-inverse),
    so a singular Hessian gives the minimum-norm least-squares step instead of an overflow.
    """
    if H.shape[-1] == 2:
        return _newton_direction_2x2(H, g, rcond)
    return pinv_solve(H, g, rcond)


_SAFE_LO, _SAFE_HI = 2.0**-400, 2.0**400
"""Eigenvalue scales for which ``r = sqrt(h^2 + b^2)`` neither overflows nor loses accuracy to
underflow (its error stays far below the rounding of ``m -+ r``): outside, ``hypot``."""


def _newton_direction_2x2(H: Tensor, g: Tensor, rcond: float) -> Tensor:
    """:func:`newton_direction` for ``n = 2`` written out per entry (no batched 2x2 matmuls).

    The eigenvalues ``lo, hi = m -+ r`` (``m = (a + c) / 2``, ``r = sqrt(((a - c) / 2)^2 +
    b^2)``) decide, row by row. Where neither is cut (``|lam| > rcond max|lam|``) and
    ``max|lam|`` lies in ``[2^-400, 2^400]`` (every row of a typical run), ``H^+ g = H^{-1} g``
    by Cramer's rule with ``det = lo * hi`` (forward stable for ``n = 2``; the product of the
    eigenvalues is more accurate than ``ac - b^2``). Elsewhere the closed-form eigenpairs of
    :func:`eigh` (``r`` by ``hypot``; ``v_min = (-sin t, cos t)``, ``v_max = (cos t, sin t)``)
    give ``c_i = (v_i . g) / lam_i`` (zero where cut) and ``H^+ g = c_min v_min + c_max v_max``;
    a row with a non-finite entry gives NaN. Each row's result depends on that row alone.
    """
    a, c = H[..., 0, 0], H[..., 1, 1]
    b = 0.5 * (H[..., 0, 1] + H[..., 1, 0])
    gx, gy = g.unbind(-1)
    m = 0.5 * (a + c)
    h = 0.5 * (a - c)
    r = torch.addcmul(h * h, b, b).sqrt_()
    lo, hi = m - r, m + r
    am = m.abs()
    big = am + r  # = max(|lo|, |hi|) exactly (r >= 0); (am - r).abs() = min(|lo|, |hi|)
    margin = (am - r).abs_().sub_(big, alpha=rcond)  # > 0: neither eigenvalue is cut (nan: no)
    det = lo * hi
    s = torch.empty_like(g)
    torch.div(torch.addcmul(c * gx, b, gy, value=-1.0), det, out=s[..., 0])
    torch.div(torch.addcmul(a * gy, b, gx, value=-1.0), det, out=s[..., 1])
    least, small, large = torch.stack([margin.amin(), big.amin(), big.amax()]).tolist()
    if least > 0 and small >= _SAFE_LO and large <= _SAFE_HI:
        return s
    fast = (margin > 0) & (big >= _SAFE_LO) & (big <= _SAFE_HI)
    ok = torch.isfinite(a + b + c + gx + gy)
    r = torch.hypot(h, b)
    lo, hi = m - r, m + r
    cut = rcond * torch.maximum(lo.abs(), hi.abs())
    t = 0.5 * torch.atan2(b, h)
    cos, sin = torch.cos(t), torch.sin(t)
    c_lo = safe_divide(cos * gy - sin * gx, lo, cut)
    c_hi = safe_divide(cos * gx + sin * gy, hi, cut)
    e = torch.stack([cos * c_hi - sin * c_lo, sin * c_hi + cos * c_lo], -1)
    e = torch.where(ok[..., None], e, torch.full_like(e, math.nan))
    return torch.where(fast[..., None], s, e)


def damped_direction(H: Tensor, g: Tensor, damping: Tensor | float, rcond: float = 1e-10) -> Tensor:
    """``(H + mu I)^+ g`` per row; ``damping`` is a float or an ``(R,)`` tensor."""
    lam, V, gt, ok = _eig(H, g)
    mu = torch.as_tensor(damping, dtype=H.dtype, device=H.device).reshape(-1, 1)
    den = lam + mu
    scale = torch.maximum(lam.abs().amax(dim=-1, keepdim=True), mu.abs())
    return _back(V, safe_divide(gt, den, rcond * scale), ok)


def saddle_free_direction(H: Tensor, g: Tensor, damping: float, rcond: float = 1e-10) -> Tensor:
    """``(|H| + mu I)^+ g`` per row, ``|H| = V |diag(lam)| V^T`` (Dauphin et al. 2014)."""
    lam, V, gt, ok = _eig(H, g)
    den = lam.abs() + damping
    scale = torch.clamp(lam.abs().amax(dim=-1, keepdim=True), min=damping)
    return _back(V, safe_divide(gt, den, rcond * scale), ok)


def cubic_step(H: Tensor, g: Tensor, M: float) -> Tensor:
    """Global minimiser ``s`` of ``g.s + 1/2 s.H.s + M/6 |s|^3`` per row (Nesterov & Polyak 2006).

    The minimiser is ``s = -(H + lambda I)^{-1} g`` with ``lambda = M |s| / 2`` and
    ``H + lambda I`` positive semi-definite (their Theorem 1). In the eigenbasis
    ``|s(lambda)| = |gt / (lam + lambda)|`` decreases on ``lambda > max(0, -lam_min)`` while
    ``2 lambda / M`` increases, so the secular equation ``|s(lambda)| = 2 lambda / M`` has one
    root there, found by bisection to machine precision (vectorised over rows).

    *Hard case*: when ``g`` has no component along the eigenvectors of ``lam_min < 0`` and the
    remaining step at ``lambda = -lam_min`` is shorter than ``2 lambda / M``, the root sits on
    the boundary: ``s = s_partial + tau v_min`` with ``tau`` filling the length up to
    ``2 lambda / M`` (sign following ``-gt_min`` when it is not exactly zero, else the sign that
    makes the largest entry of ``tau v_min`` positive).
    This is also what happens at an exact saddle (``g = 0``): the step leaves along ``v_min``.
    """
    lam, V, gt, ok = _eig(H, g)
    dt = lam.dtype
    lam_min = lam[:, 0]
    lo = torch.clamp(-lam_min, min=0.0)
    gnorm = torch.linalg.vector_norm(gt, dim=-1)
    scale = lam.abs().amax(dim=-1)
    eig_tol = 1e-12 * torch.clamp(scale, min=1e-300)

    # Hard-case test at lambda = lo.
    in_min = lam <= (lam_min + eig_tol)[:, None]
    g_min = torch.linalg.vector_norm(torch.where(in_min, gt, 0.0), dim=-1)
    den_lo = lam + lo[:, None]
    s_part = torch.where(in_min, torch.zeros_like(gt), -gt / torch.where(in_min, 1.0, den_lo))
    part_norm = torch.linalg.vector_norm(s_part, dim=-1)
    hard = (g_min <= 1e-10 * gnorm) & (part_norm <= 2.0 * lo / M)

    # Easy case: the root of psi(l) = 1/|s(l)| - M/(2l) on (lo, hi]; psi(hi) >= 0 because
    # |s(hi)| <= |g| / (hi - lo). psi is concave and increasing (1/|s| is concave, as in
    # More & Sorensen's trust-region analysis), so a Newton step from a left end point a
    # (psi(a) < 0) lands in [a, root]: each iteration takes that Newton step for a, and a
    # bisection step keeps the bracket [a, b] shrinking; convergence is quadratic from the left.
    a = lo.clone()
    b = lo + torch.sqrt(M * gnorm / 2.0)
    conv = torch.zeros_like(a, dtype=torch.bool)
    eps = torch.finfo(dt).eps
    idx = torch.arange(
        a.shape[0], device=a.device
    )  # rows still iterating (most finish in a few iterations)
    for _ in range(200):
        la, ga, lo_i = lam[idx], gt[idx], lo[idx]
        ai, bi = a[idx], b[idx]
        den_a = la + ai[:, None]
        w = ga / den_a
        n_a = torch.linalg.vector_norm(w, dim=-1)
        psi = 1.0 / n_a - M / (2.0 * ai)
        dpsi = (w * w / den_a).sum(-1) / n_a**3 + M / (2.0 * ai * ai)
        newton = ai - psi / dpsi
        fresh = ai <= lo_i  # psi is not defined at lo itself: bisect first
        # Newton has converged once its step is at rounding level (or would go backwards).
        ci = ~fresh & torch.isfinite(newton) & (newton <= ai * (1 + 4 * eps))
        ok_newton = torch.isfinite(newton) & (newton > ai) & (newton < bi) & ~fresh & ~ci
        ai = torch.where(ok_newton, newton, ai)
        mid = 0.5 * (ai + bi)
        done = ci | (mid <= ai) | (mid >= bi)
        s_norm = torch.linalg.vector_norm(ga / (la + mid[:, None]), dim=-1)
        pos = s_norm > 2.0 * mid / M
        ai = torch.where(pos & ~done, mid, ai)
        bi = torch.where(~pos & ~done, mid, bi)
        a[idx], b[idx], conv[idx] = ai, bi, ci
        idx = idx[~done]
        if idx.numel() == 0:
            break
    lam_star = torch.where(conv, a, b)
    den = lam + lam_star[:, None]
    positive = den > 0
    c_easy = torch.where(positive, -gt / torch.where(positive, den, 1.0), torch.zeros_like(gt))
    # Near the hard case lambda* is within rounding of -lam_min, where |s(lambda)| is extremely
    # steep: there the lam_min component is better taken from the length condition
    # |s| = 2 lambda* / M (the other components are insensitive to lambda). Per row, keep
    # whichever candidate satisfies the optimality condition g + (H + M|s|/2 I) s = 0 better.
    g_min_vec = torch.where(in_min, gt, 0.0)
    rest = torch.where(in_min, torch.zeros_like(c_easy), c_easy)
    need = torch.sqrt(
        torch.clamp(
            (2.0 * lam_star / M) ** 2 - torch.linalg.vector_norm(rest, dim=-1) ** 2, min=0.0
        )
    )
    unit = g_min_vec / torch.where(g_min > 0, g_min, 1.0)[:, None]
    c_alt = rest - unit * need[:, None]

    def residual(c: Tensor) -> Tensor:
        r = torch.linalg.vector_norm(c, dim=-1, keepdim=True)
        return torch.linalg.vector_norm(gt + (lam + 0.5 * M * r) * c, dim=-1)

    use_alt = (g_min > 0) & (residual(c_alt) < residual(c_easy))
    c_easy = torch.where(use_alt[:, None], c_alt, c_easy)

    # Hard case: fill up the length along the first eigenvector of lam_min.
    tau = torch.sqrt(torch.clamp((2.0 * lo / M) ** 2 - part_norm**2, min=0.0))
    g0 = gt[:, 0]
    # With gt_min = 0 both +-tau v_min are minimisers: take the one whose largest entry is
    # positive, so the choice does not depend on the eigen-solver's sign convention.
    v_min = V[:, :, 0]
    big = v_min.gather(1, v_min.abs().argmax(dim=1, keepdim=True)).squeeze(1)
    canonical = torch.where(big >= 0, 1.0, -1.0).to(dt)
    sign = torch.where(g0 > 0, -1.0, torch.where(g0 < 0, 1.0, canonical)).to(dt)
    c_hard = s_part.clone()
    c_hard[:, 0] = sign * tau
    c = torch.where(hard[:, None], c_hard, c_easy)
    zero_g = gnorm == 0
    c = torch.where((zero_g & ~hard)[:, None], torch.zeros_like(c), c)
    return _back(V, c, ok)


def cubic_model(H: Tensor, g: Tensor, s: Tensor, M: float) -> Tensor:
    """``g.s + 1/2 s.H.s + M/6 |s|^3`` per row (the model :func:`cubic_step` minimises)."""
    Hs = (H @ s.unsqueeze(-1)).squeeze(-1)
    return (
        (g * s).sum(-1)
        + 0.5 * (s * Hs).sum(-1)
        + M / 6.0 * torch.linalg.vector_norm(s, dim=-1) ** 3
    )


# ---------------------------------------------------------------------------- base class
class _CurvatureOptimizer(torch.optim.Optimizer):
    """Shared ``step``: closure -> per-problem Hessians -> ``_update`` -> write back."""

    owner = "second-order"
    accepts_row_hessian = True  # honours the ``row_hessian`` group key (see optim._base)

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        defaults = self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(
        self,
        prob: Problem,
        H: Tensor,
        closure: Callable[[], Any] | None,
        loss: Any,
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step. ``closure`` is required (see the module docstring); returns its loss."""
        loss = call_closure(closure, self.owner)
        work: list[tuple[Problem, Tensor]] = []
        touched: list[Tensor] = []
        try:
            for group in self.param_groups:
                group.update(self._validate({k: group[k] for k in self.defaults}))
                # All Hessians first: writing a parameter in place would invalidate the graph
                # the other problems' Hessian-vector products still need.
                for prob, grads in problems(self, group, self.owner):
                    work.append((prob, hessian(prob, grads, self.owner)))
                    touched.extend(prob.params)
        finally:
            release(touched)
        try:
            for prob, H in work:
                prob.write(self._update(prob, H, closure, loss))
        finally:
            release(touched)
        return loss

    def _functional_ok(self, group: dict[str, Any]) -> bool:
        """Whether ``_update`` on this group needs neither the closure nor the loss."""
        return True

    def functional_step(self) -> Callable[..., None] | None:
        """:meth:`step` from gradients already computed, without the closure and the step
        wrapper, when every group is a batch of rows with closed-form Hessians (the
        ``row_hessian`` key) and the rule's trial evaluations (if any) go through the rows'
        ``row_fn``; else ``None``.

        ``step()`` reads the parameters' ``.grad``; ``step(grads)`` takes them from the list
        (in ``param_groups`` order). The same problems (on views of the points instead of
        copies: every update is computed before any is written), Hessians and updates as
        :meth:`step`, so the iterates are bit-identical (``tests/test_engine_fast_paths.py``).
        """
        for group in self.param_groups:
            if not group.get("rows_independent") or group.get("row_hessian") is None:
                return None
            if any(p.ndim != 2 for p in group["params"]) or not self._functional_ok(group):
                return None
        params = [p for group in self.param_groups for p in group["params"]]

        def step(grads: list[Tensor] | None = None) -> None:
            if grads is not None:
                for p, g in zip(params, grads, strict=True):
                    p.grad = g
            try:
                work = []
                for group in self.param_groups:
                    group.update(self._validate({k: group[k] for k in self.defaults}))
                    # views, not copies: every update is computed before any write
                    for prob, grads_ in problems(self, group, self.owner, copy=False):
                        work.append((prob, hessian(prob, grads_, self.owner)))
                updates = [(prob, self._update(prob, H, None, None)) for prob, H in work]
                for prob, x_new in updates:
                    prob.write(x_new)
            finally:
                if grads is not None:
                    for p in params:
                        p.grad = None

        return step


class Newton(_CurvatureOptimizer):
    r"""Newton's method: ``x <- x - lr * H^{-1} g``.

    With ``lr = 1`` it jumps to the stationary point of the local quadratic model, whatever its
    kind: it converges to saddles and maxima as readily as to minima (the point of
    Dauphin et al. 2014). A singular Hessian is handled with the pseudo-inverse: eigenvalues with
    ``|lam| <= rcond * max|lam|`` are treated as zero, so the step has no component along them
    (minimum-norm least-squares solution of ``H s = g``; a zero Hessian gives a zero step).

    Args:
        params: parameters or param groups (see :mod:`descentlab.optim._base` for the batched
            ``rows_independent`` mode and the full-Hessian limit of 4096 parameters).
        lr: step scale (1 is the pure Newton step).
        rcond: relative cut-off for zero eigenvalues, in ``[0, 1)``.

    Example:
        >>> import torch
        >>> from descentlab.optim import Newton
        >>> x = torch.tensor([[3.0, -1.0]], dtype=torch.float64, requires_grad=True)
        >>> opt = Newton([{"params": [x], "rows_independent": True}])
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (x[:, 0] ** 2 + 4 * x[:, 1] ** 2 + x[:, 0] * x[:, 1]).sum()
        ...     loss.backward(create_graph=True)
        ...     return loss
        >>> _ = opt.step(closure)
        >>> x.detach().abs().max().item() < 1e-12  # a quadratic is solved in one step
        True

    Reference: J. Nocedal and S. Wright, *Numerical Optimization*, 2nd ed., ch. 3.3 (2006).
    """

    owner = "newton"

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rcond: float = 1e-10) -> None:
        super().__init__(params, {"lr": lr, "rcond": rcond})

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        return {
            "lr": check_lr(self.owner, hyper["lr"]),
            "rcond": check_number(
                self.owner, "rcond", hyper["rcond"], lo=0.0, hi=1.0, hi_open=True
            ),
        }

    def _update(self, prob: Problem, H: Tensor, closure: Any, loss: Any) -> Tensor:
        grp = prob.group
        return prob.x - grp["lr"] * newton_direction(H, prob.g, grp["rcond"])


class DampedNewton(_CurvatureOptimizer):
    r"""Levenberg's damped Newton: ``x <- x - lr * (H + mu I)^{-1} g``.

    ``mu`` (``damping``) interpolates between Newton (``mu -> 0``) and gradient descent with step
    ``lr / mu`` (``mu -> inf``). With ``adaptive=True`` each row keeps its own ``mu`` and the
    Levenberg-Marquardt acceptance rule is applied: the trial point is accepted when the loss does
    not increase, and then ``mu <- max(mu / factor, min_damping)``; otherwise the row stays where
    it is and ``mu <- min(mu * factor, max_damping)``. The losses at trial points come from the
    group's ``row_fn`` (batched lab) or from calling the closure again (full mode). Without
    ``adaptive``, an indefinite ``H + mu I`` may give an ascent step; ``mu`` at which
    ``H + mu I`` is singular is handled with the pseudo-inverse as in :class:`Newton`.

    Args:
        lr: step scale.
        damping: initial/fixed ``mu >= 0``.
        adaptive: adapt ``mu`` per row with the acceptance rule above.
        factor: multiplier for ``mu`` (> 1).
        min_damping, max_damping: bounds of the adaptive ``mu``.
        rcond: relative cut-off for zero eigenvalues of ``H + mu I``.

    Example:
        >>> import torch
        >>> from descentlab.optim import DampedNewton
        >>> x = torch.tensor([[1.0]], dtype=torch.float64, requires_grad=True)
        >>> opt = DampedNewton([{"params": [x], "rows_independent": True}], damping=1.0)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (x**2).sum()  # g = 2x, H = 2: step 2/(2 + 1)
        ...     loss.backward(create_graph=True)
        ...     return loss
        >>> _ = opt.step(closure)
        >>> round(x.item(), 12)
        0.333333333333

    References: K. Levenberg, *A method for the solution of certain non-linear problems in least
    squares*, Quart. Appl. Math. 2 (1944); D. Marquardt, SIAM J. Appl. Math. 11 (1963).
    """

    owner = "damped_newton"

    def _functional_ok(self, group: dict[str, Any]) -> bool:
        # the acceptance rule evaluates trial points: through the rows' ``row_fn`` it needs
        # no closure
        return not group["adaptive"] or group.get("row_fn") is not None

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        damping: float = 1e-2,
        adaptive: bool = False,
        factor: float = 10.0,
        min_damping: float = 1e-12,
        max_damping: float = 1e12,
        rcond: float = 1e-10,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "damping": damping,
                "adaptive": adaptive,
                "factor": factor,
                "min_damping": min_damping,
                "max_damping": max_damping,
                "rcond": rcond,
            },
        )

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        o = self.owner
        out = {
            "lr": check_lr(o, hyper["lr"]),
            "damping": check_number(o, "damping", hyper["damping"], lo=0.0),
            "adaptive": check_bool(o, "adaptive", hyper["adaptive"]),
            "factor": check_number(o, "factor", hyper["factor"], lo=1.0, lo_open=True),
            "min_damping": check_number(o, "min_damping", hyper["min_damping"], lo=0.0),
            "max_damping": check_number(
                o, "max_damping", hyper["max_damping"], lo=0.0, lo_open=True
            ),
            "rcond": check_number(o, "rcond", hyper["rcond"], lo=0.0, hi=1.0, hi_open=True),
        }
        if out["min_damping"] > out["max_damping"]:
            raise InvalidParameterError(
                f"{o}: min_damping ({out['min_damping']:g}) exceeds "
                f"max_damping ({out['max_damping']:g})",
            )
        if out["adaptive"] and out["min_damping"] <= 0:
            raise InvalidParameterError(
                f"{o}: min_damping must be > 0 with adaptive=True (mu would never recover)"
            )
        return out

    def _update(self, prob: Problem, H: Tensor, closure: Any, loss: Any) -> Tensor:
        grp = prob.group
        if not grp["adaptive"]:
            return prob.x - grp["lr"] * damped_direction(H, prob.g, grp["damping"], grp["rcond"])
        mu = prob.state.get("damping")
        if mu is None or mu.shape != (prob.R,):
            mu = torch.full((prob.R,), grp["damping"], dtype=prob.x.dtype, device=prob.x.device)
            mu.clamp_(grp["min_damping"], grp["max_damping"])
        evaluate = rows_loss_fn(prob, closure, self.owner)
        f0 = (
            evaluate(prob.x) if prob.rows_mode else scalar_tensor(loss, prob.x.dtype, prob.x.device)
        )
        trial = prob.x - grp["lr"] * damped_direction(H, prob.g, mu, grp["rcond"])
        f1 = evaluate(trial)
        accept = torch.isfinite(f1) & (f1 <= f0.to(f1.dtype))
        prob.state["damping"] = torch.where(
            accept,
            torch.clamp(mu / grp["factor"], min=grp["min_damping"]),
            torch.clamp(mu * grp["factor"], max=grp["max_damping"]),
        )
        prob.state["accepted"] = accept
        return torch.where(accept[:, None], trial, prob.x)


class SaddleFreeNewton(_CurvatureOptimizer):
    r"""Saddle-free Newton: ``x <- x - lr * (|H| + mu I)^{-1} g`` with ``|H| = V |Lambda| V^T``.

    Rescaling the gradient by the *absolute* curvature keeps Newton's scale invariance but moves
    downhill along negative-curvature directions, so saddle points repel instead of attract.
    This is the exact (eigendecomposition) form; Dauphin et al. approximate ``|H|`` in a Krylov
    subspace for large models.

    Args:
        lr: step scale.
        damping: ``mu >= 0`` added to ``|lam|`` (bounds the step where curvature vanishes).
        rcond: relative cut-off for zero ``|lam| + mu`` (only matters with ``damping=0``).

    Example:
        >>> import torch
        >>> from descentlab.optim import SaddleFreeNewton
        >>> x = torch.tensor([[0.1, 0.5]], dtype=torch.float64, requires_grad=True)
        >>> opt = SaddleFreeNewton([{"params": [x], "rows_independent": True}], damping=0.0)
        >>> def closure():  # saddle x^2 - y^2 at the origin: step (0.1, -0.5) -> (0, 1)
        ...     opt.zero_grad()
        ...     loss = (x[:, 0] ** 2 - x[:, 1] ** 2).sum()
        ...     loss.backward(create_graph=True)
        ...     return loss
        >>> _ = opt.step(closure)
        >>> [round(v, 12) for v in x.detach()[0].tolist()]
        [0.0, 1.0]

    Reference: Y. Dauphin, R. Pascanu, C. Gulcehre, K. Cho, S. Ganguli, Y. Bengio, *Identifying
    and attacking the saddle point problem in high-dimensional non-convex optimization*,
    NeurIPS 2014.
    """

    owner = "saddle_free_newton"

    def __init__(
        self, params: Iterable[Any], lr: float = 1.0, damping: float = 1e-3, rcond: float = 1e-10
    ) -> None:
        super().__init__(params, {"lr": lr, "damping": damping, "rcond": rcond})

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        o = self.owner
        return {
            "lr": check_lr(o, hyper["lr"]),
            "damping": check_number(o, "damping", hyper["damping"], lo=0.0),
            "rcond": check_number(o, "rcond", hyper["rcond"], lo=0.0, hi=1.0, hi_open=True),
        }

    def _update(self, prob: Problem, H: Tensor, closure: Any, loss: Any) -> Tensor:
        grp = prob.group
        d = saddle_free_direction(H, prob.g, grp["damping"], grp["rcond"])
        return prob.x - grp["lr"] * d


class CubicNewton(_CurvatureOptimizer):
    r"""Cubic-regularised Newton: ``x <- x + lr * s``, ``s`` the global minimiser of
    ``m(s) = g.s + 1/2 s.H.s + M/6 |s|^3``.

    When ``M`` bounds the Lipschitz constant of the Hessian, ``f(x + s) <= f(x) + m(s)``, so each
    step decreases ``f``; the method converges to second-order stationary points (it escapes
    strict saddles, even starting exactly on one). The subproblem is solved exactly per row from
    the eigendecomposition through the 1-D secular equation, including the hard case (see
    :func:`cubic_step`).

    Args:
        lr: step scale (1 in the paper).
        M: cubic regularisation (> 0), an estimate of the Hessian's Lipschitz constant.

    Example:
        >>> import torch
        >>> from descentlab.optim import CubicNewton
        >>> x = torch.tensor([[0.0, 0.0]], dtype=torch.float64, requires_grad=True)
        >>> opt = CubicNewton([{"params": [x], "rows_independent": True}], M=2.0)
        >>> def closure():  # linear loss: g = (3, 4), H = 0, |s| = sqrt(2|g|/M) = sqrt(5)
        ...     opt.zero_grad()
        ...     loss = (3 * x[:, 0] + 4 * x[:, 1]).sum()
        ...     loss.backward(create_graph=True)
        ...     return loss
        >>> _ = opt.step(closure)
        >>> round(float(x.detach().norm()) ** 2, 12)
        5.0

    Reference: Yu. Nesterov and B. T. Polyak, *Cubic regularization of Newton method and its
    global performance*, Math. Program. 108 (2006) 177-205.
    """

    # At an exact saddle the cubic model's minimiser steps along negative curvature.
    moves_at_critical_points = True

    owner = "cubic_newton"

    def __init__(self, params: Iterable[Any], lr: float = 1.0, M: float = 1.0) -> None:
        super().__init__(params, {"lr": lr, "M": M})

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        o = self.owner
        return {
            "lr": check_lr(o, hyper["lr"]),
            "M": check_number(o, "M", hyper["M"], lo=0.0, lo_open=True),
        }

    def _update(self, prob: Problem, H: Tensor, closure: Any, loss: Any) -> Tensor:
        grp = prob.group
        return prob.x + grp["lr"] * cubic_step(H, prob.g, grp["M"])
