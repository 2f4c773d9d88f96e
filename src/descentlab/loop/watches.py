"""Watches: per-row stop rules the step loop consults after every evaluation, all vectorised.

:class:`StopRules` is the run's rule set, checked at every iterate ``x_k`` of every running row:

* ``diverged``: the value or the gradient norm is not finite, or ``|x_k| > bound`` (Euclidean
  norm). The row is frozen at its last finite iterate ``x_{k-1}``; its stop step is ``k``.
* ``converged``: ``|grad f(x_k)| <= grad_tol``. The row is frozen at ``x_k``.
* ``max_steps``: the row is still running after the last step.

:class:`RangeTestWatch` is the learning-rate range test's rule (Smith 2017, fastai's variant):
after step ``k`` with rate ``lr_k`` the loss ``L_k`` is smoothed by the bias-corrected EMA
``a_k = beta a_{k-1} + (1 - beta) L_k``, ``s_k = a_k / (1 - beta^(k+1))``; a row stops when
``L_k`` or ``s_k`` is not finite (``non_finite``) or ``s_k - m > th (best_k - m)`` with
``best_k = min_{j<=k} s_j > m`` (``diverged``; ``m`` the loss floor).

Both keep one boolean ``running`` mask and update it with whole-tensor operations: no per-row
Python work at any batch size.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import torch

from descentlab.loop.layout import dense, row_sq_norms

RUNNING, CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2, 3
SMALL_ELEMENTS = 512
"""Up to this many coordinates (``B * d``) the rules run on numpy views of the same memory:
a handful of rows costs torch's per-operation overhead, not arithmetic."""
STOP_REASONS = np.array(["running", "converged", "max_steps", "diverged"])
"""Stop-reason names indexed by the codes above (``STOP_REASONS[status]`` vectorised)."""


class StopRules:
    """The converged / diverged / bound rules for ``B`` rows, and each row's frozen final state.

    ``fpos``, ``fval``, ``fgn`` hold the state a stopped row is frozen at; ``stop_step`` the
    step it stopped at (``steps`` while running); ``status`` the code of its reason.
    """

    def __init__(self, X0: torch.Tensor, steps: int, grad_tol: float, bound: float) -> None:
        B, d = X0.shape
        self.B, self.d = B, d
        self.tol2 = grad_tol * grad_tol
        self.status = torch.zeros(B, dtype=torch.int8)
        self.running = torch.ones(B, dtype=torch.bool)
        self.n_running = B
        self.stop_step = torch.full((B,), steps, dtype=torch.int64)
        self.fpos = X0.clone()
        self.fval = torch.full((B,), math.nan, dtype=torch.float64)
        self.fgn = torch.full((B,), math.nan, dtype=torch.float64)
        self.prev_pos = X0.clone()
        # the previous iterate's values and squared gradient norms: references to the last
        # observation's tensors (nothing before the first; no memory spent on placeholders)
        nan = torch.full((), math.nan, dtype=torch.float64)
        self.prev_val = nan.expand(B)
        self.prev_gsq = nan.expand(B)
        self.bound = bound
        self.b2 = bound * bound
        # |x_ij| <= bound / sqrt(d) for every j implies |x_i| <= bound (largest finite if none)
        self.xbound = bound / math.sqrt(d) if bound != math.inf else sys.float_info.max
        # 1e300 on stopped rows (added to their gradient norms in the screen); set by _apply,
        # read only once a row has stopped
        self.lift = torch.zeros((), dtype=torch.float64).expand(B)
        self._lift_np = np.zeros(B)
        self.small = B * d <= SMALL_ELEMENTS
        self._prev_pos_np = self.prev_pos.numpy()

    @property
    def reasons(self) -> np.ndarray:
        """Each row's stop reason as a string array (vectorised lookup)."""
        return STOP_REASONS[self.status.numpy().astype(np.int64)]

    def observe(
        self,
        k: int,
        x: torch.Tensor,
        v: torch.Tensor,
        gsq: torch.Tensor,
        total: torch.Tensor | None = None,
        final: bool = False,
    ) -> None:
        """Apply the rules at iterate ``k`` (values ``v``, squared gradient norms ``gsq`` at ``x``).

        ``v`` and ``gsq`` must be fresh tensors (they are kept, not copied); ``x`` is copied.
        ``total`` is ``v.sum()`` when the caller has it. ``final`` ends every running row
        (``max_steps``).
        """
        if self.small:
            xn = x.numpy()
            if final or not self._nobody_stops_small(xn, v.numpy(), gsq.numpy()):
                self._apply(k, x, v, gsq, final)
            if not final:
                np.copyto(self._prev_pos_np, xn)
                self.prev_val = v
                self.prev_gsq = gsq
            return
        if final or not self._nobody_stops(x, v, gsq, total):
            self._apply(k, x, v, gsq, final)
        if not final:
            self.prev_pos.copy_(x)
            self.prev_val = v
            self.prev_gsq = gsq

    def _nobody_stops_small(self, x: np.ndarray, v: np.ndarray, gsq: np.ndarray) -> bool:
        """:meth:`_nobody_stops` on numpy views (same test, same numbers; the loop runs it
        with numpy's warnings off: inf and nan are outcomes here)."""
        if not math.isfinite(float(v.sum())):
            return False
        gl = gsq if self.n_running == self.B else gsq + self._lift_np
        lo, hi = float(gl.min()), float(gl.max())
        if not hi < math.inf or not (lo > self.tol2 if self.tol2 > 0 else lo == lo):
            return False
        return float(np.abs(x).max()) <= self.xbound

    def _nobody_stops(
        self, x: torch.Tensor, v: torch.Tensor, gsq: torch.Tensor, total: torch.Tensor | None
    ) -> bool:
        """A cheap sufficient test that no running row stops at this iterate.

        Reductions to a handful of scalars instead of per-row masks: the sums of the values and
        of the squared gradient norms are finite only if every term is (nan and inf propagate;
        a sum that overflows merely fails the test); the smallest squared gradient norm of the
        running rows (stopped rows are lifted by ``1e300``) must pass the tolerance;
        ``max |x_ij| * sqrt(d) <= bound`` implies every row is inside the bound. Stopped rows
        sit at finite points inside the bound, so they never fail it. When the test fails,
        :meth:`_apply` decides row by row.
        """
        if self.B == 1:  # one row: three scalars, no reductions worth batching
            t, s, x2 = torch.stack([v[0], gsq[0], (x * x).sum()]).tolist()
            if not (math.isfinite(t) and s < math.inf):
                return False
            return (s > self.tol2 if self.tol2 > 0 else s == s) and x2 <= self.b2
        # finite sums imply finite terms (an overflowing sum only sends the step to _apply);
        # frozen rows sit at points with finite values and gradients, so they never fail
        parts = [v.sum() if total is None else total.detach(), gsq.sum()]
        if self.tol2 > 0:
            parts.append(torch.amin(gsq if self.n_running == self.B else gsq + self.lift))
        if self.b2 != math.inf:
            parts.extend(torch.aminmax(dense(x)))
        t, s, *rest = torch.stack(parts).tolist()
        if not (math.isfinite(t) and math.isfinite(s)):
            return False
        if self.tol2 > 0 and not rest.pop(0) > self.tol2:
            return False
        return not rest or (abs(rest[0]) <= self.xbound and abs(rest[1]) <= self.xbound)

    def _apply(
        self, k: int, x: torch.Tensor, v: torch.Tensor, gsq: torch.Tensor, final: bool
    ) -> None:
        """The rules row by row, as masks (exact; see the module docstring)."""
        # ``s = gsq + 0 * v`` is nan when the value is not finite and inf or nan when the
        # gradient is not, so ``s < inf`` (false for nan) says both are finite: a row keeps
        # running iff that holds, its gradient is above the tolerance and it is inside the bound.
        s = gsq + 0.0 * v
        keep = s < math.inf
        if self.tol2 > 0:
            keep &= s > self.tol2
        inside = None
        if self.b2 != math.inf:
            inside = row_sq_norms(x) <= self.b2
            keep &= inside
        stop = ~keep
        if self.n_running < self.B:
            stop &= self.running
        if bool(stop.any()):
            ok = torch.isfinite(s)
            if inside is not None:
                ok &= inside
            div = stop & ~ok
            conv = stop & ok
            if bool(div.any()):
                self.fpos[div] = self.prev_pos[div]
                self.fval[div] = self.prev_val[div]
                self.fgn[div] = self.prev_gsq[div].sqrt()
                self.status[div] = DIVERGED
            self.fpos[conv] = x[conv]
            self.fval[conv] = v[conv]
            self.fgn[conv] = gsq[conv].sqrt()
            self.status[conv] = CONVERGED
            self.stop_step[stop] = k
            self.running &= ~stop
            self.n_running = int(self.running.sum())
        if final and self.n_running == self.B:  # every row: plain copies, no masks
            self.fpos.copy_(x)
            self.fval.copy_(v)
            torch.sqrt(gsq, out=self.fgn)
            self.status.fill_(MAX_STEPS)
            self.stop_step.fill_(k)
            self.running.fill_(False)
            self.n_running = 0
        elif final:  # one pass per field (boolean indexing costs several over many rows)
            rest = self.running
            self.fpos.copy_(torch.where(rest[:, None], x, self.fpos))
            self.fval.copy_(torch.where(rest, v, self.fval))
            self.fgn.copy_(torch.where(rest, gsq.sqrt(), self.fgn))
            self.status.masked_fill_(rest, MAX_STEPS)
            self.stop_step.masked_fill_(rest, k)
            self.running.fill_(False)
            self.n_running = 0
        self.lift = (~self.running).to(torch.float64) * 1e300
        self._lift_np = self.lift.numpy()


class RangeTestWatch:
    """The range test's online smoothing and stop rules for ``B`` columns of losses (numpy).

    Args:
        B: the number of independent tests (rows).
        num_iter: the most steps; ``raw[k]`` holds the losses after step ``k``.
        beta: the EMA factor (``0``: no smoothing).
        diverge_th: the divergence factor ``th`` (``None``: stop only on non-finite losses).
        loss_floor: the floor ``m``.
        ema_step: ``(avg, value, beta, k) -> (avg, smoothed)``, the one bias-corrected EMA step
            shared with the offline curve.
    """

    def __init__(
        self,
        B: int,
        num_iter: int,
        *,
        beta: float,
        diverge_th: float | None,
        loss_floor: float,
        ema_step: Any,
    ) -> None:
        self.beta = beta
        self.th = diverge_th
        self.floor = loss_floor
        self.ema_step = ema_step
        self.raw = np.full((num_iter, B), np.nan)
        self.avg = np.zeros(B)
        self.best = np.full(B, np.inf)
        self.running = np.ones(B, dtype=bool)
        self.stop_step = np.full(B, -1, dtype=np.int64)
        self.reason = np.array(["completed"] * B, dtype=object)

    def observe(self, k: int, values: np.ndarray) -> np.ndarray:
        """Record ``L_k`` for the running rows; return the mask of rows that stop at ``k``."""
        run = self.running
        self.raw[k, run] = values[run]
        avg, s = self.ema_step(self.avg, values, self.beta, k)
        self.avg = np.where(run, avg, self.avg)
        finite = np.isfinite(values) & np.isfinite(s)
        with np.errstate(invalid="ignore"):
            self.best = np.where(run & finite, np.minimum(self.best, s), self.best)
            stop_nf = run & ~finite
            stop_div = np.zeros_like(run)
            if self.th is not None:
                m = self.floor
                stop_div = run & finite & (self.best > m) & (s - m > self.th * (self.best - m))
        new = stop_nf | stop_div
        self.reason[stop_nf] = "non_finite"
        self.reason[stop_div] = "diverged"
        self.stop_step[new] = k
        self.running = run & ~new
        return new


class RangeTestRows:
    """The range test's watch as the step loop's row watch.

    The loop observes the iterate ``x_k`` before step ``k``: the first observation keeps the
    initial losses, every later one is ``L_{k-1}``, the loss after step ``k - 1``, and goes to
    :class:`RangeTestWatch`. A row it stops is frozen at ``x_{k-1}``, the point the stopping
    step was taken from (finite there), so the next steps see it unchanged.
    """

    def __init__(self, X0: torch.Tensor, watch: RangeTestWatch) -> None:
        self.B = X0.shape[0]
        self.watch = watch
        self.running = torch.ones(self.B, dtype=torch.bool)
        self.n_running = self.B
        self.fpos = X0.clone()
        self.prev_pos = X0.clone()
        self.initial = np.full(self.B, np.nan)

    def observe(
        self,
        k: int,
        x: torch.Tensor,
        v: torch.Tensor,
        gsq: torch.Tensor,
        total: torch.Tensor | None = None,
        final: bool = False,
    ) -> None:
        """Hand ``L_{k-1}`` (or the initial losses at ``k = 0``) to the watch; freeze new stops."""
        values = v.detach().numpy().astype(np.float64)
        if k == 0:
            self.initial = values.copy()
        else:
            new = self.watch.observe(k - 1, values)
            if new.any():
                stopped = torch.from_numpy(new)
                self.fpos[stopped] = self.prev_pos[stopped]
                self.running = torch.from_numpy(self.watch.running.copy())
                self.n_running = int(self.watch.running.sum())
        if not final:
            self.prev_pos.copy_(x)


__all__ = [
    "CONVERGED",
    "DIVERGED",
    "MAX_STEPS",
    "RUNNING",
    "SMALL_ELEMENTS",
    "STOP_REASONS",
    "RangeTestRows",
    "RangeTestWatch",
    "StopRules",
]
