"""The 24 noiseless BBOB functions (COCO's ``bbob`` suite) as batched float64 landscapes.

Each function ``f_N`` is built for a dimension ``d >= 2`` and an instance number ``i >= 1``
exactly as the COCO platform builds it (Hansen, Finck, Ros, Auger, "Real-parameter black-box
optimization benchmarking 2009: noiseless functions definitions", INRIA RR-6829, and the
``cocoex`` reference code): the instance fixes a random optimum ``x_opt``, an objective shift
``f_opt`` and orthogonal matrices ``R, Q`` from the suite's legacy generator (Park–Miller
uniform numbers, Box–Muller normals, Gram–Schmidt), seeded with ``N + 10000 i``. The building
blocks, in the notation of the definitions:

* ``T_osz(x) = sign(x) exp(x̂ + 0.049 (sin(c1 x̂) + sin(c2 x̂)))``, ``x̂ = log|x|``
  (``c1, c2 = 10, 7.9`` for ``x > 0`` and ``5.5, 3.1`` otherwise; ``T_osz(0) = 0``);
* ``T_asy^β(x)_i = x_i^(1 + β (i-1)/(d-1) sqrt(x_i))`` where ``x_i > 0``, else ``x_i``;
* ``Λ^α = diag(α^(0.5 (i-1)/(d-1)))``;
* ``f_pen(x) = Σ max(0, |x_i| - 5)^2``.

Values equal ``cocoex``'s to about ``1e-14`` relative (tested at random points for several
dimensions and instances). Ground truth: the global minimiser and ``f_opt`` are known for every
function (``global_min_value``); no other critical point is known, so ``complete`` is False and
each description says so. Some functions are not smooth (the descriptions say where), and the
step ellipsoid ``f7`` has a zero gradient almost everywhere: gradient methods cannot move on it.

Example:
    >>> L = bbob(1, dim=3, instance=1)
    >>> float(L.value(L.critical_points[0].point)) == L.global_min_value
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.landscapes.registry import register
from descentlab.validate import check_int

Tensor = torch.Tensor

MAX_INSTANCE = 100_000  # seeds are N + 10000 i; the legacy generator takes 31-bit seeds
MAX_DIM = 40  # the legacy rotation generator is defined up to d = 40 (COCO's largest)


# ------------------------------------------------------------------ legacy random numbers
def _unif(n: int, seed: int) -> np.ndarray:
    """``n`` uniform numbers in (0, 1] from the suite's legacy Park–Miller generator with a
    32-slot shuffle table (``bbob2009_unif``)."""
    seed = abs(int(seed))
    seed = max(seed, 1)
    akt = seed
    table = [0] * 32
    for i in range(39, -1, -1):
        tmp = akt // 127773
        akt = 16807 * (akt - tmp * 127773) - 2836 * tmp
        if akt < 0:
            akt += 2147483647
        if i < 32:
            table[i] = akt
    rand = table[0]
    out = np.empty(n)
    for i in range(n):
        tmp = akt // 127773
        akt = 16807 * (akt - tmp * 127773) - 2836 * tmp
        if akt < 0:
            akt += 2147483647
        k = rand // 67108865
        rand = table[k]
        table[k] = akt
        r = rand / 2.147483647e9
        out[i] = 1e-99 if r == 0.0 else r
    return out


def _gauss(n: int, seed: int) -> np.ndarray:
    """``n`` standard normals by Box–Muller on ``2n`` legacy uniforms."""
    u = _unif(2 * n, seed)
    g = np.sqrt(-2.0 * np.log(u[:n])) * np.cos(2.0 * math.pi * u[n:])
    g[g == 0.0] = 1e-99
    return g


def _rotation(seed: int, d: int) -> np.ndarray:
    """A ``d x d`` orthogonal matrix: normals filled column by column, then Gram–Schmidt."""
    B = _gauss(d * d, seed).reshape(d, d).T.copy()  # B[i, j] = g[j d + i]
    for i in range(d):
        for j in range(i):
            B[:, i] -= (B[:, i] @ B[:, j]) * B[:, j]
        B[:, i] /= math.sqrt(B[:, i] @ B[:, i])
    return B


def _xopt(seed: int, d: int) -> np.ndarray:
    x = 8.0 * np.floor(1e4 * _unif(d, seed)) / 1e4 - 4.0
    x[x == 0.0] = -1e-5
    return x


def _fopt(function: int, instance: int) -> float:
    """The objective shift ``f_opt`` (rounded to 0.01, clipped to [-1000, 1000])."""
    base = {4: 3, 18: 17}.get(function, function)
    seed = base + 10000 * instance
    ratio = _gauss(1, seed)[0] / _gauss(1, seed + 1)[0]
    return float(min(1000.0, max(-1000.0, math.floor(100.0 * 100.0 * ratio + 0.5) / 100.0)))


# ------------------------------------------------------------------ building blocks (batched)
def _t(a: np.ndarray) -> Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)


def _ramp(d: int) -> np.ndarray:
    """``(i-1)/(d-1)`` for ``i = 1..d``."""
    return np.arange(d) / (d - 1.0)


def _lam(alpha: float, d: int) -> np.ndarray:
    """The diagonal of ``Λ^α``: ``α^(0.5 (i-1)/(d-1))``."""
    return np.power(math.sqrt(alpha), _ramp(d))


def _tosz(x: Tensor) -> Tensor:
    """``T_osz`` element-wise (``0`` at ``0``; autograd never sees ``log 0``)."""
    nz = x != 0
    pos = x > 0
    h = torch.log(torch.where(nz, x.abs(), torch.ones_like(x)))
    # (scalars in torch.where would be float32: 7.9 must stay a float64)
    osc = torch.where(
        pos, torch.sin(10.0 * h) + torch.sin(7.9 * h), torch.sin(5.5 * h) + torch.sin(3.1 * h)
    )
    y = torch.exp(h + 0.049 * osc)
    return torch.where(nz, torch.where(pos, y, -y), torch.zeros_like(x))


def _tasy(x: Tensor, beta: float) -> Tensor:
    d = x.shape[-1]
    ramp = torch.as_tensor(_ramp(d), dtype=x.dtype)
    pos = x > 0
    xp = torch.where(pos, x, torch.ones_like(x))
    return torch.where(pos, xp ** (1.0 + beta * ramp * torch.sqrt(xp)), x)


def _pen(x: Tensor) -> Tensor:
    return (torch.clamp(x.abs() - 5.0, min=0.0) ** 2).sum(-1)


def _rastrigin(z: Tensor) -> Tensor:
    d = z.shape[-1]
    return 10.0 * (d - torch.cos(2.0 * math.pi * z).sum(-1)) + (z * z).sum(-1)


def _rosenbrock(z: Tensor) -> Tensor:
    a, b = z[:, :-1], z[:, 1:]
    return 100.0 * ((a * a - b) ** 2).sum(-1) + ((a - 1.0) ** 2).sum(-1)


def _round(x: Tensor) -> Tensor:
    return torch.floor(x + 0.5)


# ------------------------------------------------------------------ the 24 functions
@dataclass(frozen=True)
class _Built:
    fn: Callable[[Tensor], Tensor]
    xopt: np.ndarray  # a global minimiser


_NAMES = {
    1: "sphere",
    2: "separable ellipsoid",
    3: "Rastrigin",
    4: "Büche-Rastrigin",
    5: "linear slope",
    6: "attractive sector",
    7: "step ellipsoid",
    8: "Rosenbrock",
    9: "rotated Rosenbrock",
    10: "ellipsoid",
    11: "discus",
    12: "bent cigar",
    13: "sharp ridge",
    14: "different powers",
    15: "rotated Rastrigin",
    16: "Weierstrass",
    17: "Schaffers F7",
    18: "ill-conditioned Schaffers F7",
    19: "composite Griewank-Rosenbrock F8F2",
    20: "Schwefel x*sin(sqrt(|x|))",
    21: "Gallagher 101 peaks",
    22: "Gallagher 21 peaks",
    23: "Katsuura",
    24: "Lunacek bi-Rastrigin",
}

# What the gradient sees, per function (said in every description).
_SMOOTHNESS = {
    5: "smooth inside the box; the optimum is the corner x_i = 5 sign(x_opt_i), and beyond it "
    "each clamped coordinate has zero gradient (every point with x_i x_opt_i >= 25 for all i is "
    "a global minimiser)",
    6: "differentiable, but T_osz and the power 0.9 of the objective make the Hessian unbounded "
    "at the optimum",
    7: "piecewise constant apart from a tiny 1e-5 |z_1| floor: the gradient is zero almost "
    "everywhere, so gradient methods cannot move (not differentiable on the rounding steps)",
    13: "not differentiable on the ridge z_2 = ... = z_d = 0 (a cone in those coordinates)",
    14: "differentiable; the Hessian is singular at the optimum",
    16: "smooth but extremely rugged (12 Weierstrass terms); the global minimum is not unique",
    17: "not differentiable at the optimum (the fourth root of z_i^2 + z_{i+1}^2)",
    18: "not differentiable at the optimum (the fourth root of z_i^2 + z_{i+1}^2)",
    21: "not differentiable where the highest peak changes (a maximum over 101 Gaussian peaks)",
    22: "not differentiable where the highest peak changes (a maximum over 21 Gaussian peaks)",
    23: "continuous but not differentiable on a dense set of kinks (32-term Katsuura "
    "sawtooth); its gradient is piecewise constant and meaningless for descent",
    24: "not differentiable where the minimum of the two Rastrigin funnels switches",
}
_TOSZ = {2, 3, 4, 10, 11, 15, 16}


def _f1(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X = _t(xo)
    return _Built(lambda P: ((P - X) ** 2).sum(-1), xo)


def _f2(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X, w = _t(xo), _t(np.power(1e6, _ramp(d)))
    return _Built(lambda P: (w * _tosz(P - X) ** 2).sum(-1), xo)


def _f3(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X, lam = _t(xo), _t(_lam(10.0, d))
    return _Built(lambda P: _rastrigin(lam * _tasy(_tosz(P - X), 0.2)), xo)


def _f4(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(3 + 10000 * inst, d)
    xo[::2] = np.abs(xo[::2])
    X = _t(xo)
    base = _t(np.power(math.sqrt(10.0), _ramp(d)))
    even = _t((np.arange(d) % 2 == 0).astype(float))

    def fn(P: Tensor) -> Tensor:
        y = _tosz(P - X)
        s = torch.where((y > 0) & (even > 0), 10.0 * base, base)
        return _rastrigin(s * y) + 100.0 * _pen(P)

    return _Built(fn, xo)


def _f5(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    corner = np.where(xo < 0, -5.0, 5.0)
    s = np.where(xo > 0, 1.0, -1.0) * np.power(10.0, _ramp(d))
    C, S = _t(corner), _t(s)
    const = float(np.sum(5.0 * np.abs(s)))

    def fn(P: Tensor) -> Tensor:
        z = torch.where(P * C < 25.0, P, C.expand_as(P))
        return const - (S * z).sum(-1)

    return _Built(fn, corner)


def _affine_lqr(d: int, seed: int, alpha: float) -> np.ndarray:
    """``R Λ^α Q`` with ``R`` from seed + 10^6 and ``Q`` from seed."""
    R, Q = _rotation(seed + 1_000_000, d), _rotation(seed, d)
    return (R * _lam(alpha, d)) @ Q


def _f6(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X, Mt = _t(xo), _t(_affine_lqr(d, seed, 10.0).T)

    def fn(P: Tensor) -> Tensor:
        z = (P - X) @ Mt
        raw = torch.where(z * X > 0, 1e4 * z * z, z * z).sum(-1)
        y = _tosz(raw)
        pos = y > 0
        return torch.where(pos, torch.where(pos, y, torch.ones_like(y)) ** 0.9, y)

    return _Built(fn, xo)


def _f7(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    Q, R = _rotation(seed, d), _rotation(seed + 1_000_000, d)
    X = _t(xo)
    At = _t((np.sqrt(np.power(10.0, _ramp(d)))[:, None] * Q).T)
    Rt, w = _t(R.T), _t(np.power(100.0, _ramp(d)))

    def fn(P: Tensor) -> Tensor:
        zt = (P - X) @ At
        zr = torch.where(zt.abs() > 0.5, _round(zt), _round(10.0 * zt) / 10.0)
        z = zr @ Rt
        core = (w * z * z).sum(-1)
        return 0.1 * torch.maximum(zt[:, 0].abs() * 1e-4, core) + _pen(P)

    return _Built(fn, xo)


def _f8(d: int, inst: int, seed: int) -> _Built:
    xo = 0.75 * _xopt(seed, d)
    X = _t(xo)
    c = max(1.0, math.sqrt(d) / 8.0)
    return _Built(lambda P: _rosenbrock(c * (P - X) + 1.0), xo)


def _f9(d: int, inst: int, seed: int) -> _Built:
    R = _rotation(seed, d)
    c = max(1.0, math.sqrt(d) / 8.0)
    Mt = _t((c * R).T)
    xo = R.sum(axis=0) / (2.0 * c)
    return _Built(lambda P: _rosenbrock(P @ Mt + 0.5), xo)


def _f10(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X, Rt, w = _t(xo), _t(_rotation(seed + 1_000_000, d).T), _t(np.power(1e6, _ramp(d)))
    return _Built(lambda P: (w * _tosz((P - X) @ Rt) ** 2).sum(-1), xo)


def _f11(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    w = np.ones(d)
    w[0] = 1e6
    X, Rt, W = _t(xo), _t(_rotation(seed + 1_000_000, d).T), _t(w)
    return _Built(lambda P: (W * _tosz((P - X) @ Rt) ** 2).sum(-1), xo)


def _f12(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed + 1_000_000, d)
    w = np.full(d, 1e6)
    w[0] = 1.0
    X, Rt, W = _t(xo), _t(_rotation(seed + 1_000_000, d).T), _t(w)
    return _Built(lambda P: (W * (_tasy((P - X) @ Rt, 0.5) @ Rt) ** 2).sum(-1), xo)


def _f13(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X, Mt = _t(xo), _t(_affine_lqr(d, seed, 10.0).T)

    def fn(P: Tensor) -> Tensor:
        z = (P - X) @ Mt
        return z[:, 0] ** 2 + 100.0 * torch.sqrt((z[:, 1:] ** 2).sum(-1))

    return _Built(fn, xo)


def _f14(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X, Rt = _t(xo), _t(_rotation(seed + 1_000_000, d).T)
    e = _t(2.0 + 4.0 * _ramp(d))
    return _Built(lambda P: torch.sqrt((((P - X) @ Rt).abs() ** e).sum(-1)), xo)


def _f15(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X = _t(xo)
    Rt, Mt = _t(_rotation(seed + 1_000_000, d).T), _t(_affine_lqr(d, seed, 10.0).T)
    return _Built(lambda P: _rastrigin(_tasy(_tosz((P - X) @ Rt), 0.2) @ Mt), xo)


def _f16(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X = _t(xo)
    Rt, Mt = _t(_rotation(seed + 1_000_000, d).T), _t(_affine_lqr(d, seed, 0.01).T)
    k = np.arange(12.0)
    a, b = np.power(0.5, k), np.power(3.0, k)
    f0 = float(np.sum(a * np.cos(2.0 * math.pi * b * 0.5)))
    A, Bk = _t(a), _t(b)

    def fn(P: Tensor) -> Tensor:
        z = _tosz((P - X) @ Rt) @ Mt
        s = (torch.cos((2.0 * math.pi * (z + 0.5)).unsqueeze(-1) * Bk) * A).sum((-1, -2))
        return 10.0 * (s / d - f0) ** 3 + (10.0 / d) * _pen(P)

    return _Built(fn, xo)


def _schaffers(d: int, seed: int, cond: float) -> _Built:
    xo = _xopt(seed, d)
    X = _t(xo)
    Rt = _t(_rotation(seed + 1_000_000, d).T)
    Mt = _t((_lam(cond, d)[:, None] * _rotation(seed, d)).T)

    def fn(P: Tensor) -> Tensor:
        z = _tasy((P - X) @ Rt, 0.5) @ Mt
        s = z[:, :-1] ** 2 + z[:, 1:] ** 2
        terms = s**0.25 * (1.0 + torch.sin(50.0 * s**0.1) ** 2)
        return (terms.sum(-1) / (d - 1.0)) ** 2 + 10.0 * _pen(P)

    return _Built(fn, xo)


def _f17(d: int, inst: int, seed: int) -> _Built:
    return _schaffers(d, seed, 10.0)


def _f18(d: int, inst: int, seed: int) -> _Built:
    return _schaffers(d, 17 + 10000 * inst, 1000.0)


def _f19(d: int, inst: int, seed: int) -> _Built:
    R = _rotation(seed, d)
    c = max(1.0, math.sqrt(d) / 8.0)
    Mt = _t((c * R).T)

    def fn(P: Tensor) -> Tensor:
        z = P @ Mt + 0.5
        a, b = z[:, :-1], z[:, 1:]
        s = 100.0 * (a * a - b) ** 2 + (1.0 - a) ** 2
        return 10.0 + 10.0 * (s / 4000.0 - torch.cos(s)).sum(-1) / (d - 1.0)

    return _Built(fn, R.sum(axis=0) / (2.0 * c))


def _f20(d: int, inst: int, seed: int) -> _Built:
    sign = np.where(_unif(d, seed) < 0.5, -1.0, 1.0)
    two_abs = 2.0 * 0.5 * 4.2096874637 * np.ones(d)  # 2 |x_opt|
    S, T2, lam = _t(sign), _t(two_abs), _t(_lam(10.0, d))

    def fn(P: Tensor) -> Tensor:
        y = 2.0 * S * P
        zh = torch.cat([y[:, :1], y[:, 1:] + 0.25 * (y[:, :-1] - T2[:-1])], dim=1)
        z = 100.0 * (lam * (zh - T2) + T2)
        pen = (torch.clamp(z.abs() - 500.0, min=0.0) ** 2).sum(-1)
        core = (z * torch.sin(torch.sqrt(z.abs()))).sum(-1)
        return 0.01 * (pen + 418.9828872724339 - core / d)

    return _Built(fn, 0.5 * 4.2096874633 * sign)


def _gallagher(d: int, seed: int, peaks: int) -> _Built:
    R = _rotation(seed, d)
    if peaks == 101:
        cond0, b, c = math.sqrt(1000.0), 10.0, 5.0
    else:
        cond0, b, c = 1000.0, 9.8, 4.9
    order = np.argsort(_unif(peaks - 1, seed), kind="stable")
    cond = np.empty(peaks)
    cond[0] = cond0
    cond[1:] = np.power(1000.0, order / (peaks - 2.0))
    heights = np.empty(peaks)
    heights[0] = 10.0
    heights[1:] = np.arange(peaks - 1) / (peaks - 2.0) * 8.0 + 1.1
    scales = np.empty((peaks, d))
    for i in range(peaks):
        perm = np.argsort(_unif(d, seed + 1000 * i), kind="stable")
        scales[i] = np.power(cond[i], perm / (d - 1.0) - 0.5)
    u = _unif(d * peaks, seed).reshape(peaks, d)
    centres = (b * u - c) @ R.T  # (peaks, d), rotated
    centres[0] *= 0.8
    xo = 0.8 * (b * u[0] - c)
    Rt, Cn, Sc, H = _t(R.T), _t(centres), _t(scales), _t(heights)

    def fn(P: Tensor) -> Tensor:
        t = P @ Rt
        q = (Sc * (t.unsqueeze(1) - Cn) ** 2).sum(-1)  # (B, peaks)
        g = torch.clamp((H * torch.exp(-0.5 / d * q)).amax(-1), min=0.0)
        return _tosz(10.0 - g) ** 2 + _pen(P)

    return _Built(fn, xo)


def _f21(d: int, inst: int, seed: int) -> _Built:
    return _gallagher(d, seed, 101)


def _f22(d: int, inst: int, seed: int) -> _Built:
    return _gallagher(d, seed, 21)


def _f23(d: int, inst: int, seed: int) -> _Built:
    xo = _xopt(seed, d)
    X, Mt = _t(xo), _t(_affine_lqr(d, seed, 100.0).T)
    p2 = _t(np.power(2.0, np.arange(1.0, 33.0)))
    idx = _t(np.arange(1.0, d + 1.0))

    def fn(P: Tensor) -> Tensor:
        z = ((P - X) @ Mt).unsqueeze(-1) * p2  # (B, d, 32)
        s = ((z - _round(z)).abs() / p2).sum(-1)
        prod = torch.prod(1.0 + idx * s, dim=-1)
        return 10.0 / d / d * (-1.0 + prod ** (10.0 / d**1.2)) + _pen(P)

    return _Built(fn, xo)


def _f24(d: int, inst: int, seed: int) -> _Built:
    mu0, dd = 2.5, 1.0
    s = 1.0 - 0.5 / (math.sqrt(d + 20.0) - 4.1)
    mu1 = -math.sqrt((mu0 * mu0 - dd) / s)
    xo = np.where(_gauss(d, seed) < 0, -0.5 * mu0, 0.5 * mu0)
    sign = _t(np.where(xo < 0, -1.0, 1.0))
    At = _t((_lam(100.0, d)[:, None] * _rotation(seed, d)).T)
    Rt = _t(_rotation(seed + 1_000_000, d).T)

    def fn(P: Tensor) -> Tensor:
        xh = 2.0 * sign * P
        z = ((xh - mu0) @ At) @ Rt
        s1 = ((xh - mu0) ** 2).sum(-1)
        s2 = ((xh - mu1) ** 2).sum(-1)
        rast = 10.0 * (d - torch.cos(2.0 * math.pi * z).sum(-1))
        return torch.minimum(s1, dd * d + s * s2) + rast + 1e4 * _pen(P)

    return _Built(fn, xo)


_BUILDERS: dict[int, Callable[[int, int, int], _Built]] = {
    1: _f1, 2: _f2, 3: _f3, 4: _f4, 5: _f5, 6: _f6, 7: _f7, 8: _f8, 9: _f9, 10: _f10,
    11: _f11, 12: _f12, 13: _f13, 14: _f14, 15: _f15, 16: _f16, 17: _f17, 18: _f18,
    19: _f19, 20: _f20, 21: _f21, 22: _f22, 23: _f23, 24: _f24,
}  # fmt: skip


# ------------------------------------------------------------------ public factory
def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    return check_int(name, value, lo=lo, hi=hi)


def bbob(function: int, dim: int = 2, instance: int = 1) -> Landscape:
    """BBOB function ``f<function>`` in ``dim`` dimensions, instance ``instance`` (COCO's).

    Args:
        function: 1..24 (see the module docstring for the suite's definitions).
        dim: the dimension, 2..40.
        instance: the instance number (1..100000): it fixes ``x_opt``, ``f_opt`` and the
            rotations exactly as ``cocoex`` does.

    Returns:
        a :class:`~descentlab.landscapes.Landscape` on ``[-5, 5]^d`` whose ``critical_points``
        list only the global minimiser (``complete`` is False) and whose ``global_min_value``
        is ``f_opt``.
    """
    f = _check_int("function", function, 1, 24)
    d = _check_int("dim", dim, 2, MAX_DIM)
    inst = _check_int("instance", instance, 1, MAX_INSTANCE)
    built = _BUILDERS[f](d, inst, f + 10000 * inst)
    fopt = _fopt(f, inst)
    inner = built.fn

    def fn(P: Tensor) -> Tensor:
        return inner(P) + fopt

    with torch.no_grad():
        value = float(fn(_t(built.xopt).unsqueeze(0))[0])
    smooth = _SMOOTHNESS.get(f, "")
    note = "" if f not in _SMOOTHNESS else f"f{f} is {smooth}"
    if f in _TOSZ:
        tosz = (
            "T_osz is continuous but its derivative oscillates without limit at 0, so the "
            "Hessian at the optimum does not exist"
        )
        note = f"{note}; {tosz}" if note else tosz
    cp = CriticalPoint(
        point=tuple(float(v) for v in built.xopt),
        value=value,
        kind="minimum",
        index=0,
        is_global=True,
        note=note or "the global minimiser (x_opt of this instance)",
    )
    desc = (
        f"BBOB f{f} ({_NAMES[f]}), instance {inst}, d={d}, as in COCO's bbob suite. Known: the "
        f"global minimiser and f_opt = {fopt:g}. Not known: every other critical point "
        "(complete is False). " + (f"Smoothness: {smooth}." if smooth else "Smooth.")
    )
    if f == 20:
        desc += " The listed minimiser is COCO's (accurate to about 1e-9)."
    return Landscape(
        fn,
        d,
        name=f"bbob_f{f}",
        domain=(-5.0, 5.0),
        critical_points=[cp],
        complete=False,
        global_min_value=value,
        description=desc,
        formula=f"BBOB f{f}: {_NAMES[f]}",
        params={"dim": d, "instance": inst},
        any_layout=True,
    )


def _register(f: int) -> None:
    def factory(dim: int = 2, instance: int = 1) -> Landscape:
        return bbob(f, dim=dim, instance=instance)

    factory.__name__ = f"bbob_f{f}"
    factory.__doc__ = f"BBOB f{f}: {_NAMES[f]} (COCO's noiseless suite; dim >= 2, instance >= 1)."
    register(f"bbob_f{f}")(factory)


for _f in range(1, 25):
    _register(_f)
