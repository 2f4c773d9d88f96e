"""Records of a run: positions, values and gradient norms every ``record_every`` steps.

Memory: the records take ``8 * T * B * (d + 2)`` bytes with ``T = steps // record_every + 2``
records, plus ``8 * steps`` bytes per learning-rate column. ``record_every="auto"`` records every
step while that stays under :data:`AUTO_RECORD_BYTES` (a small run keeps its whole path), and
otherwise the fewest steps apart that fit it, so a run of a million rows does not spend its time
copying positions (recording every step costs 33-44% of a step at large B).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from descentlab.errors import InvalidParameterError

AUTO_RECORD_BYTES = 32 * 2**20
"""The record budget of ``record_every="auto"``."""


def record_bytes(B: int, d: int, steps: int, record_every: int, lr_columns: int = 1) -> int:
    """Bytes the records of a run take (see the module docstring)."""
    T = steps // record_every + 2
    return 8 * T * B * (d + 2) + 8 * steps * lr_columns


def auto_record_every(B: int, d: int, steps: int, budget: int = AUTO_RECORD_BYTES) -> int:
    """The smallest ``record_every`` whose records fit ``budget`` (1 when everything fits).

    Example:
        >>> auto_record_every(1, 2, 500), auto_record_every(1_000_000, 2, 1000)
        (1, 1000)
    """
    per_record = 8 * B * (d + 2)
    fit = budget // per_record - 2  # records besides the start and the end
    if fit >= steps:
        return 1
    if fit < 0:  # not even the two ends fit: record only them
        return max(1, steps)
    return steps // (fit + 1) + 1  # the smallest e with steps // e <= fit


def check_memory(
    B: int, d: int, steps: int, record_every: int, max_memory: int, lr_columns: int = 1
) -> None:
    """Refuse a run whose records exceed ``max_memory``, naming the ``record_every`` that fits."""
    T = steps // record_every + 2
    need = record_bytes(B, d, steps, record_every, lr_columns)
    if need > max_memory:
        per_record = 8 * B * (d + 2)
        avail = max_memory - 8 * steps * lr_columns
        fit = max(1, avail // per_record - 2)
        advice = (
            f"use record_every >= {math.ceil(steps / fit)}"
            if avail >= 3 * per_record
            else "use fewer starts or fewer steps"
        )
        raise InvalidParameterError(
            f"recording {T} states of {B} starts in {d} dimensions needs {need / 2**20:.1f} MiB, "
            f"over max_memory={max_memory / 2**20:.1f} MiB; {advice}, or raise max_memory"
        )


class Recorder:
    """Preallocated records; a stopped row is recorded at its frozen state."""

    def __init__(self, B: int, d: int, steps: int, record_every: int) -> None:
        self.B = B
        self.record_every = record_every
        T = steps // record_every + 2
        self.pos = np.empty((T, B, d))
        self.loss = np.empty((T, B))
        self.gn = np.empty((T, B))
        self._pos_t = torch.from_numpy(self.pos)
        self._loss_t = torch.from_numpy(self.loss)
        self._gn_t = torch.from_numpy(self.gn)
        self.steps_rec: list[int] = []

    def due(self, k: int) -> bool:
        """Whether iterate ``k`` is recorded."""
        return k % self.record_every == 0

    def record(
        self,
        k: int,
        x: torch.Tensor,
        v: torch.Tensor,
        gn: torch.Tensor,
        running: torch.Tensor | None = None,
        frozen: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        """Record iterate ``k``; rows where ``running`` is false take the ``frozen`` state."""
        if self.steps_rec and self.steps_rec[-1] == k:
            return
        t = len(self.steps_rec)
        if running is None or frozen is None:
            self._pos_t[t].copy_(x)
            self._loss_t[t].copy_(v)
            self._gn_t[t].copy_(gn)
        else:
            fpos, fval, fgn = frozen
            torch.where(running[:, None], x, fpos, out=self._pos_t[t])
            torch.where(running, v, fval, out=self._loss_t[t])
            torch.where(running, gn, fgn, out=self._gn_t[t])
        self.steps_rec.append(k)

    def record_numpy(
        self,
        k: int,
        x: np.ndarray,
        v: np.ndarray,
        gn: np.ndarray,
        running: np.ndarray | None = None,
        frozen: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """:meth:`record` from numpy arrays (a small batch: no torch overhead)."""
        if self.steps_rec and self.steps_rec[-1] == k:
            return
        t = len(self.steps_rec)
        if running is None or frozen is None:
            self.pos[t] = x
            self.loss[t] = v
            self.gn[t] = gn
        else:
            fpos, fval, fgn = frozen
            np.copyto(self.pos[t], np.where(running[:, None], x, fpos))
            np.copyto(self.loss[t], np.where(running, v, fval))
            np.copyto(self.gn[t], np.where(running, gn, fgn))
        self.steps_rec.append(k)

    def finish(
        self, last_step: int, fpos: torch.Tensor, fval: torch.Tensor, fgn: torch.Tensor
    ) -> int:
        """Record the frozen final state (after an early stop) unless recorded; the record count."""
        if not self.steps_rec or self.steps_rec[-1] < last_step:
            self.record(last_step, fpos, fval, fgn)
        return len(self.steps_rec)


__all__ = ["AUTO_RECORD_BYTES", "Recorder", "auto_record_every", "check_memory", "record_bytes"]
