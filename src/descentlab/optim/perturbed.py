"""Gradient descent with noise: perturbed GD (Jin et al. 2017) and noisy GD (Ge et al. 2015).

Both draw their noise from a counter-based generator (:mod:`descentlab.optim._rng`): the draw
for a row is a pure function of ``(seed, row id, step, coordinate)``, so a row gets bit-identical
noise whether it runs alone or in a batch of any size, and whatever the other rows do. The row id
is ``row_offset + i`` for row ``i`` of a batched ``(B, d)`` parameter (param-group keys
``rows_independent=True`` and ``row_offset``, default 0); in full mode (a model's parameters) the
whole group is one row and the coordinate is the index in the flattened, concatenated parameters.
The step counter is kept per parameter in the optimizer state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from descentlab.optim import _rng
from descentlab.optim._base import (
    Problem,
    check_int,
    check_lr,
    check_number,
    problems,
)

Tensor = torch.Tensor


def _seed(owner: str, seed: Any) -> int:
    return check_int(owner, "seed", seed, lo=0)


class _NoiseOptimizer(torch.optim.Optimizer):
    # Random kicks move a row even where the gradient is exactly zero.
    moves_at_critical_points = True

    owner = "noise"

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        super().__init__(params, self._validate(defaults))

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, prob: Problem, t: int) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step from the gradients in ``p.grad`` (``closure``, if given, computes them)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group.update(self._validate({k: group[k] for k in self.defaults}))
            for prob, _ in problems(self, group, self.owner):
                t = int(prob.state.get("step", 0))
                prob.write(self._update(prob, t))
                prob.state["step"] = t + 1
        return loss


class PerturbedGD(_NoiseOptimizer):
    r"""Perturbed gradient descent (Jin, Ge, Netrapalli, Kakade, Jordan 2017, Algorithm 2).

    Per row, at step ``t``::

        if |g| <= g_thres and t - t_noise > t_thres:   # small gradient, no recent perturbation
            x <- x + xi,  xi ~ Uniform(ball of radius r)     t_noise <- t
        else:
            x <- x - lr g

    A row that is perturbed takes no gradient step in that iteration, so its next step uses the
    gradient *at the perturbed point*, as in the paper (where both happen within one iteration;
    here the perturbation costs one iteration of its own). The paper's termination test (return
    the pre-perturbation point when the loss has not dropped by ``f_thres`` after ``t_thres``
    steps) is left to the caller's stop rules; without it a row sitting at a minimum is nudged at
    most once every ``t_thres`` steps, by at most ``r``. Near a strict saddle the perturbation
    gives the unstable direction a component that gradient descent then amplifies.

    The state holds per row ``last_perturbation`` (step of the last one, ``-t_thres - 1`` before
    any) and ``perturbations`` (how many so far).

    Args:
        lr: gradient step size.
        g_thres: gradient-norm threshold below which a row may be perturbed (>= 0).
        t_thres: minimum number of steps between two perturbations of a row (>= 1).
        radius: radius ``r`` of the perturbation ball (> 0).
        seed: seed of the counter-based generator (integer >= 0).

    Example:
        >>> import torch
        >>> from descentlab.optim import PerturbedGD
        >>> x = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)  # on the saddle
        >>> opt = PerturbedGD([{"params": [x], "rows_independent": True}], lr=0.1, radius=0.1)
        >>> for _ in range(60):
        ...     opt.zero_grad()
        ...     ((x[:, 0] ** 2 - 1) ** 2 + x[:, 1] ** 2).sum().backward()
        ...     _ = opt.step()
        >>> round(abs(x[0, 0].item()), 6)  # escaped to a minimum (+-1, 0)
        1.0

    Reference: C. Jin, R. Ge, P. Netrapalli, S. Kakade, M. I. Jordan, *How to escape saddle
    points efficiently*, ICML 2017.
    """

    owner = "perturbed_gd"

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        g_thres: float = 1e-3,
        t_thres: int = 50,
        radius: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            params,
            {"lr": lr, "g_thres": g_thres, "t_thres": t_thres, "radius": radius, "seed": seed},
        )

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        o = self.owner
        return {
            "lr": check_lr(o, hyper["lr"]),
            "g_thres": check_number(o, "g_thres", hyper["g_thres"], lo=0.0),
            "t_thres": check_int(o, "t_thres", hyper["t_thres"], lo=1),
            "radius": check_number(o, "radius", hyper["radius"], lo=0.0, lo_open=True),
            "seed": _seed(o, hyper["seed"]),
        }

    def _update(self, prob: Problem, t: int) -> Tensor:
        grp = prob.group
        last = prob.state.get("last_perturbation")
        if last is None or last.shape != (prob.R,):
            last = torch.full(
                (prob.R,), -grp["t_thres"] - 1, dtype=torch.int64, device=prob.x.device
            )
            prob.state["perturbations"] = torch.zeros(
                prob.R, dtype=torch.int64, device=prob.x.device
            )
        gnorm = torch.linalg.vector_norm(prob.g, dim=1)
        kick = (gnorm <= grp["g_thres"]) & (t - last > grp["t_thres"])
        # torch.optim.SGD's own arithmetic (add with alpha, fused on vectorised lanes): away
        # from the kicks the iterates are bit-identical to plain gradient descent
        x_new = prob.x.add(prob.g, alpha=-grp["lr"])
        if bool(kick.any()):
            idx = kick.nonzero().squeeze(1)
            xi = _rng.ball(grp["seed"], prob.rows[idx], t, prob.n, 0, prob.x.dtype)
            x_new[idx] = prob.x[idx] + grp["radius"] * xi
            last = torch.where(kick, torch.full_like(last, t), last)
            prob.state["perturbations"] = prob.state["perturbations"] + kick.to(torch.int64)
        prob.state["last_perturbation"] = last
        return x_new


class NoisyGD(_NoiseOptimizer):
    r"""Noisy gradient descent: ``x <- x - lr (g + xi)``, ``xi ~ N(0, sigma^2 I)`` every step.

    Isotropic noise gives every direction, including a saddle's unstable one, a component that
    the gradient then amplifies (Ge et al. add noise uniform on the unit sphere; we use the
    Gaussian with standard deviation ``sigma`` per coordinate, also isotropic).

    Args:
        lr: step size.
        sigma: noise standard deviation per coordinate (>= 0; 0 is plain gradient descent).
        seed: seed of the counter-based generator (integer >= 0).

    Example:
        >>> import torch
        >>> from descentlab.optim import NoisyGD
        >>> x = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
        >>> opt = NoisyGD([{"params": [x], "rows_independent": True}], lr=0.1, sigma=0.0)
        >>> (x - 1.0).pow(2).sum().backward(); _ = opt.step()
        >>> x.detach().tolist()
        [[0.2, 0.2]]

    Reference: R. Ge, F. Huang, C. Jin, Y. Yuan, *Escaping from saddle points -- online
    stochastic gradient for tensor decomposition*, COLT 2015.
    """

    owner = "noisy_gd"

    def __init__(
        self, params: Iterable[Any], lr: float = 0.01, sigma: float = 0.1, seed: int = 0
    ) -> None:
        super().__init__(params, {"lr": lr, "sigma": sigma, "seed": seed})

    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        o = self.owner
        return {
            "lr": check_lr(o, hyper["lr"]),
            "sigma": check_number(o, "sigma", hyper["sigma"], lo=0.0),
            "seed": _seed(o, hyper["seed"]),
        }

    def _update(self, prob: Problem, t: int) -> Tensor:
        grp = prob.group
        if grp["sigma"] == 0:
            return prob.x - grp["lr"] * prob.g
        xi = _rng.normal(grp["seed"], prob.rows, t, prob.n, 0, prob.x.dtype)
        return prob.x - grp["lr"] * (prob.g + grp["sigma"] * xi)
