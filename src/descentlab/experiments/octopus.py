"""Du et al. (2017)'s chain of saddles ("octopus"): gradient descent slows down geometrically.

Du, Jin, Lee, Jordan, Poczos and Singh build a smooth function on which gradient descent from a
natural random start visits ``d`` strict saddles one after the other, and the time it spends at
the ``i``-th grows geometrically in ``i``, while perturbed gradient descent passes each in a
bounded number of steps.

**Construction (the tube).** Fix ``L > 0`` (curvature of the stable directions), ``gamma > 0``
(of the unstable one) and a scale ``tau > 0``. The tube is split into cells ``D_1, ..., D_d,
D_{d+1}``: in ``D_i`` the first ``i - 1`` coordinates have already travelled out to ``[2 tau, 6
tau]`` (around ``4 tau``), ``x_i`` is on its way (``[0, 2 tau]``) and the rest are still small
(``[0, tau]``). On ``D_i``

* ``f = sum_{j<i} L (x_j - 4 tau)^2 - gamma x_i^2 + sum_{j>i} L x_j^2 - (i - 1) nu`` where
  ``x_i <= tau`` (a quadratic saddle ``z_i = (4 tau, ..., 4 tau, 0, ..., 0)`` with value
  ``-(i - 1) nu`` and Hessian ``diag(2L, ..., 2L, -2 gamma, 2L, ..., 2L)``);
* ``f = sum_{j<i} L (x_j - 4 tau)^2 + g1(x_i) + g2(x_i) x_{i+1}^2 + sum_{j>i+1} L x_j^2
  - (i - 1) nu`` where ``tau <= x_i <= 2 tau``, the splines

      ``g1(x) = -gamma x^2 + (-14 L + 10 gamma) (x - tau)^3 / (3 tau)
      + (5 L - 3 gamma) (x - tau)^4 / (2 tau^2)``,
      ``g2(x) = -gamma - 10 (L + gamma) (x - 2 tau)^3 / tau^3 - 15 (L + gamma) (x - 2 tau)^4 /
      tau^4 - 6 (L + gamma) (x - 2 tau)^5 / tau^5``

  joining, with matching value, slope and curvature (so ``f`` is twice continuously
  differentiable), ``-gamma x^2`` at ``tau`` to ``L (x - 4 tau)^2 - nu`` at ``2 tau``, and the
  coefficient of ``x_{i+1}^2`` from ``L`` (stable) to ``-gamma`` (the next unstable direction);
  ``nu = -g1(2 tau) + 4 L tau^2 = tau^2 (37 L + 13 gamma) / 6`` makes the pieces meet;
* ``D_{d+1}``: ``f = sum_j L (x_j - 4 tau)^2 - d nu``, the local minimum ``(4 tau, ..., 4 tau)``.

**Why gradient descent slows down.** Near ``z_i`` the unstable coordinate grows by
``(1 + 2 lr gamma)`` per step, while every later coordinate has been *shrinking* by
``(1 - 2 lr L)`` per step since the start. So ``x_{i+1}`` arrives at saddle ``i + 1`` smaller
by a factor ``(1 - 2 lr L)^{T_i}`` and needs ``log(1/x_{i+1}) / log(1 + 2 lr gamma)`` steps to
grow back: the escape times satisfy ``T_{i+1} ~ rho T_i`` with

    ``rho = 1 + log(1 / (1 - 2 lr L)) / log(1 + 2 lr gamma)``.

**What is simplified here** (and why the saddles and Hessians stay exact): the paper makes the
tube into an "octopus" by gluing reflected and permuted copies and extending the function
smoothly to all of ``R^d``, so that a start uniform in a ball lies in some arm. Here ``f`` is
evaluated on the tube with every coordinate reflected (``|x_j|`` where the coordinate is away
from 0, ``x_j^2`` where it is near 0 -- so the function is unchanged and still exactly twice
differentiable on the tube, and a perturbation that flips a sign stays inside): ``2^d`` arms
for the sign patterns, one ordering of the coordinates, and no extension outside the tube.
Outside the tube (e.g. ``|x_{i+1}| > tau`` while ``x_i`` is still travelling) the formula of the
cell that the first unfinished coordinate selects is used, which is continuous inside the tube
only. Runs started in ``[-1, 1]^d`` with ``tau > 1`` stay in the tube.

Reference: S. S. Du, C. Jin, J. D. Lee, M. I. Jordan, B. Poczos, A. Singh, *Gradient descent
can take exponential time to escape saddle points*, NeurIPS 2017 (arXiv:1705.10412), sec. 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.validate import check_int, check_positive

Tensor = torch.Tensor


@dataclass(frozen=True)
class Octopus:
    """The tube function's constants: ``L``, ``gamma``, ``tau``, dimension ``d``."""

    d: int
    L: float = 1.0
    gamma: float = 1.0
    tau: float = math.e

    def __post_init__(self) -> None:
        check_int("d", self.d, lo=1)
        for name in ("L", "gamma", "tau"):
            check_positive(name, getattr(self, name))

    @property
    def nu(self) -> float:
        """The drop in value from one saddle to the next: ``tau^2 (37 L + 13 gamma) / 6``."""
        return self.tau**2 * (37.0 * self.L + 13.0 * self.gamma) / 6.0

    def g1(self, x: Tensor) -> Tensor:
        L, gm, t = self.L, self.gamma, self.tau
        u = x - t
        return (
            -gm * x**2 + (-14 * L + 10 * gm) * u**3 / (3 * t) + (5 * L - 3 * gm) * u**4 / (2 * t**2)
        )

    def g2(self, x: Tensor) -> Tensor:
        L, gm, t = self.L, self.gamma, self.tau
        v = (x - 2 * t) / t
        return -gm - (L + gm) * (10 * v**3 + 15 * v**4 + 6 * v**5)

    def cell(self, P: Tensor) -> Tensor:
        """``(B,)`` 0-based cell of each row: the number of leading coordinates with
        ``|x_j| >= 2 tau`` (``d`` at the minimum's cell)."""
        far = (P.detach().abs() >= 2 * self.tau).to(torch.int64)
        return torch.cumprod(far, dim=1).sum(1)

    def __call__(self, P: Tensor) -> Tensor:
        """``f(P)`` for ``P`` of shape ``(B, d)``: one value per row."""
        if P.ndim != 2 or P.shape[1] != self.d:
            raise InvalidParameterError(
                f"points must have shape (B, {self.d}), got {tuple(P.shape)}"
            )
        t = self.tau
        i = self.cell(P)  # active coordinate (0-based), d = done
        j = torch.arange(self.d, device=P.device).expand_as(P)
        ia = i.unsqueeze(1)
        A = P.abs()
        active_x = P.gather(1, i.clamp(max=self.d - 1).unsqueeze(1)).abs()  # (B, 1)
        spline = (ia < self.d) & (active_x > t)  # active coordinate in its spline part
        done = self.L * (A - 4 * t) ** 2
        waiting = self.L * P**2
        act = torch.where(spline, self.g1(A), -self.gamma * P**2)
        nxt = torch.where(spline, self.g2(active_x) * P**2, waiting)
        terms = torch.where(
            j < ia, done, torch.where(j == ia, act, torch.where(j == ia + 1, nxt, waiting))
        )
        return terms.sum(1) - i.to(P.dtype) * self.nu

    def saddle(self, i: int) -> np.ndarray:
        """The ``i``-th saddle ``z_i`` (1-based; ``i = d + 1`` is the local minimum)."""
        if not 1 <= i <= self.d + 1:
            raise InvalidParameterError(f"saddle index must be in 1..{self.d + 1}, got {i}")
        z = np.zeros(self.d)
        z[: i - 1] = 4 * self.tau
        return z

    def saddle_value(self, i: int) -> float:
        """``f(z_i) = -(i - 1) nu``."""
        return -(i - 1) * self.nu

    def saddle_eigenvalues(self, i: int) -> list[float]:
        """Hessian eigenvalues at ``z_i``, sorted: ``-2 gamma`` once, ``2 L`` ``d - 1`` times
        (``2 L`` ``d`` times at the minimum ``i = d + 1``)."""
        ev = [2 * self.L] * self.d
        if i <= self.d:
            ev[0] = -2 * self.gamma
        return sorted(ev)

    def growth_ratio(self, lr: float) -> float:
        """``rho = 1 + log(1 / (1 - 2 lr L)) / log(1 + 2 lr gamma)``: predicted ratio of successive
        escape times of gradient descent (needs ``2 lr L < 1``)."""
        if not 0 < 2 * lr * self.L < 1:
            raise InvalidParameterError(f"the prediction needs 0 < 2 lr L < 1, got lr={lr}")
        return 1 + math.log(1 / (1 - 2 * lr * self.L)) / math.log(1 + 2 * lr * self.gamma)

    def landscape(self) -> Landscape:
        """The tube function as a :class:`~descentlab.landscapes.Landscape` with its ``d``
        saddles (positive orthant representatives) and the local minimum listed."""
        cps = [
            CriticalPoint(
                tuple(float(v) for v in self.saddle(i)),
                self.saddle_value(i),
                "saddle" if i <= self.d else "minimum",
                1 if i <= self.d else 0,
                is_global=i == self.d + 1,
                eigenvalues=tuple(self.saddle_eigenvalues(i)),
            )
            for i in range(1, self.d + 2)
        ]
        return Landscape(
            self,
            self.d,
            name="octopus_tube",
            domain=(-1.0, 5 * self.tau),
            critical_points=cps,
            complete=False,
            description="Du et al. (2017) chain of d strict saddles along a tube",
            params={"d": self.d, "L": self.L, "gamma": self.gamma, "tau": self.tau},
        )
