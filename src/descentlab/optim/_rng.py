"""Counter-based random numbers: each draw is a pure function of (seed, row, step, column).

The stochastic optimizers (perturbed and noisy gradient descent) must give row ``i`` the same
noise whether it runs alone or inside a batch of any size, and whatever happens to the other rows
(frozen, diverged, removed). A stateful ``torch.Generator`` cannot promise that: the numbers a
row receives at step ``t`` depend on how many were drawn before. Here every number is a hash of
its coordinates instead, computed with vectorised integer ops (the 32-bit ``lowbias32`` mixer of
C. Wellons, applied in a chain), so a batch of ``B`` rows costs a few integer ops per entry.

Integers are held in ``int64`` and kept below ``2**32``; products are split into 16-bit halves so
no intermediate exceeds ``2**49`` (no reliance on overflow behaviour).
"""

from __future__ import annotations

import math

import torch

_M32 = 0xFFFFFFFF


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for ``0 <= x < 2**32`` without leaving int64's range."""
    lo = x & 0xFFFF
    hi = x >> 16
    return ((((hi * c) & 0xFFFF) << 16) + lo * c) & _M32


def _mix(x: torch.Tensor) -> torch.Tensor:
    """The ``lowbias32`` integer hash (a bijection on 32-bit values)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _key(seed: int, rows: torch.Tensor, step: int, stream: int) -> torch.Tensor:
    """A 32-bit key per row from (seed, row id, step, stream): shape ``(R, 1)``."""
    s = int(seed)
    h = _mix(torch.full_like(rows, s & _M32))
    h = _mix(h ^ ((s >> 32) & _M32))
    h = _mix(h ^ (rows & _M32))
    h = _mix(h ^ ((rows >> 32) & _M32))
    h = _mix(h ^ (int(step) & _M32))
    h = _mix(h ^ ((int(step) >> 32) & _M32))
    h = _mix(h ^ (int(stream) & _M32))
    return h.unsqueeze(1)


def uniform(
    seed: int, rows: torch.Tensor, step: int, n: int, stream: int, dtype: torch.dtype
) -> torch.Tensor:
    """Uniform numbers in ``[0, 1)`` with 53 random bits, shape ``(len(rows), n)``.

    Entry ``(r, j)`` depends only on ``(seed, rows[r], step, j, stream)``.
    """
    rows = rows.to(torch.int64)
    k = _key(seed, rows, step, stream)
    cols = torch.arange(n, dtype=torch.int64, device=rows.device)
    h1 = _mix(k ^ (2 * cols))
    h2 = _mix(k ^ (2 * cols + 1))
    bits = (h1 >> 6) * (1 << 27) + (h2 >> 5)  # 26 + 27 = 53 bits
    return bits.to(torch.float64).mul_(2.0**-53).to(dtype)


def normal(
    seed: int, rows: torch.Tensor, step: int, n: int, stream: int, dtype: torch.dtype
) -> torch.Tensor:
    """Standard normal numbers, shape ``(R, n)``.

    Box-Muller on pairs of counter-based uniforms: each pair ``(u1, u2)`` gives two independent
    normals ``rho cos(theta)`` and ``rho sin(theta)`` (``rho = sqrt(-2 ln(1 - u1))``,
    ``theta = 2 pi u2``), for columns ``j`` and ``j + ceil(n / 2)``.
    """
    m = (n + 1) // 2
    u1 = uniform(seed, rows, step, m, 2 * stream, torch.float64)
    u2 = uniform(seed, rows, step, m, 2 * stream + 1, torch.float64)
    rho = torch.sqrt(-2.0 * torch.log1p(-u1))
    theta = 2.0 * math.pi * u2
    z = torch.cat([rho * torch.cos(theta), rho * torch.sin(theta)], dim=1)[:, :n]
    return z.to(dtype)


def ball(
    seed: int, rows: torch.Tensor, step: int, n: int, stream: int, dtype: torch.dtype
) -> torch.Tensor:
    """Points uniform in the unit ball of ``R^n``, one per row: shape ``(R, n)``.

    Direction from ``n`` normals, radius ``U^(1/n)`` (so the density is uniform in volume).
    """
    # normal() uses uniform streams 4s and 4s+1 (below 2**31); the radius uses 2**31 + s.
    z = normal(seed, rows, step, n, 2 * stream, torch.float64)
    u = uniform(seed, rows, step, 1, (1 << 31) + stream, torch.float64)
    norm = torch.linalg.vector_norm(z, dim=1, keepdim=True).clamp_min(1e-300)
    return (z / norm * u.pow(1.0 / n)).to(dtype)
