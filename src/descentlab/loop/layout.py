"""The memory layout of the loop's ``(N, d)`` tensor of rows.

A run stores its rows column-major: coordinate ``j`` of every row is one contiguous vector
(strides ``(1, N)``). A formula reads ``x, y = P.unbind(-1)`` as two dense vectors (with
row-major storage they are strided, and every operation on them is several times slower at
``d = 2``), while element-wise updates and whole-batch reductions still see one dense block.
"""

from __future__ import annotations

import torch


def column_major_repeat(X: torch.Tensor, n: int) -> torch.Tensor:
    """``X.repeat(n, 1)`` stored column-major, written once (no row-major intermediate)."""
    B, d = X.shape
    out = torch.empty((d, n * B), dtype=X.dtype, device=X.device).t()
    for i in range(n):
        out[i * B : (i + 1) * B].copy_(X)
    return out


def dense(x: torch.Tensor) -> torch.Tensor:
    """The elements of ``x`` as a view whose memory is contiguous, when one exists.

    For whole-tensor reductions (sums, min/max), which are many times slower over a
    non-contiguous view than over the same elements laid out densely: ``x`` itself when
    contiguous, ``x.t()`` when ``x`` is a column-major 2-D block, else ``x`` unchanged.
    """
    if x.is_contiguous() or x.dim() != 2:
        return x
    t = x.t()
    return t if t.is_contiguous() else x


def row_sq_norms(g: torch.Tensor) -> torch.Tensor:
    """``|g_i|^2`` for every row of the 2-D ``g`` (a fresh tensor), fastest for its layout.

    Column-major rows sum their coordinate vectors with fused multiply-adds; row-major ones
    take a matrix-vector product with ones (torch's CPU reduction over a short last axis is
    several times slower than either). Same numbers up to rounding of the summation order.
    """
    d = g.shape[1]
    if d <= 8 and g.stride(0) == 1 and g.shape[0] > 1:
        cols = g.unbind(-1)
        out = cols[0] * cols[0]
        for c in cols[1:]:
            out.addcmul_(c, c)
        return out
    return (g * g) @ torch.ones(d, dtype=g.dtype)


__all__ = ["column_major_repeat", "dense", "row_sq_norms"]
