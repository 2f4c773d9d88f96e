"""Learning-rate range test (Smith 2017): sweep the rate up over a short run, watch the loss.

The test takes ``num_iter`` optimizer steps while the learning rate climbs from ``start_lr`` to
``end_lr``, either exponentially or linearly (``k = 0 .. n-1``, ``n = num_iter``)::

    exp:     lr_k = start_lr * (end_lr / start_lr) ** (k / (n - 1))
    linear:  lr_k = start_lr + (end_lr - start_lr) * k / (n - 1)

and records the loss after every step. **Convention**: ``losses[k]`` is the loss *after* the step
taken with ``lrs[k]`` (at ``x_{k+1}``; for mini-batches, on the next batch, whose forward pass
also gives the next gradient), so each point of the curve shows the effect of its own rate.
fastai's ``lr_find`` and pytorch-lr-finder record the batch loss computed *before* the step,
which lags the rate by one step. The loss before any step is ``initial_loss``.

Smoothing is the bias-corrected exponential moving average (``beta = 0`` turns it off)::

    a_k = beta * a_{k-1} + (1 - beta) * L_k,   a_{-1} = 0,   s_k = a_k / (1 - beta ** (k + 1))

The test stops early when ``L_k`` is not finite (``stop_reason="non_finite"``) or when the
smoothed loss passes ``diverge_th`` times the best smoothed loss so far
(``stop_reason="diverged"``), measured above a floor ``m`` (``0`` by default; a landscape's
known global minimum value in the lab)::

    s_k - m > diverge_th * (min_{j <= k} s_j - m)

(the rule only applies while ``min s_j > m``; ``diverge_th=None`` turns it off).

Two suggestions are made from the smoothed curve over its finite points, less the first
``skip_start`` (default ``num_iter // 10``) and the last ``skip_end`` (default 5), as fastai does
(see :func:`suggest_lr`):

* **steepest** (``suggested_lr``): the rate where ``ds/d(log lr)`` is most negative (central
  differences, ``numpy.gradient`` over ``log lr``) up to the smallest smoothed loss, i.e. where
  the loss falls fastest per decade on its way down. This is fastai's ``steep`` and
  pytorch-lr-finder's suggestion (both search the whole curve; a fall after a blow-up is not a
  rate to train with). ``None`` when the smoothed loss never falls.
* **minimum / 10** (``min_lr_over_10``): a tenth of the rate at the smallest smoothed loss
  (fastai's ``minimum``): one decade below where the loss starts to blow up.

Both are ``None`` when the smoothed loss never gets below ``initial_loss`` by more than
``FLAT_RTOL * max(1, |initial_loss|)``: the test then has nothing to say (a start at a minimum
or a critical point; its slopes would be rounding noise).

Two fronts:

* :func:`lr_find`: an ``nn.Module``, a loss function and data, with any registered optimizer
  (or a ``torch.optim.Optimizer`` already built on the model, whose state is carried over). It
  runs on deep copies: the caller's model, optimizer and the global random state are untouched.
* :func:`lr_find_landscape`: a :class:`~descentlab.landscapes.Landscape` from ``B`` starts at
  once (one ``(B, d)`` tensor, each row its own test with the same rate schedule), with per-row
  curves and suggestions and their medians.

Reference: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017
(arXiv:1506.01186), section 3.3.

Example:
    >>> from descentlab.landscapes import Landscape
    >>> L = Landscape(lambda P: 0.5 * 4.0 * (P**2).sum(-1), dim=1, domain=(-1, 1))
    >>> r = lr_find_landscape(L, [[1.0]], "gd", start_lr=1e-3, end_lr=10, num_iter=60)
    >>> r.rows[0].stop_reason
    'diverged'
    >>> 0 < r.rows[0].suggested_lr < 2 / 4.0
    True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from descentlab.errors import DescentlabError, InvalidParameterError, check_positive
from descentlab.landscapes.base import Landscape
from descentlab.landscapes.evaluation import as_starts, objective, row_function, value_and_grad
from descentlab.loop.stepper import ModuleTrack, RowTrack, build_steppers, step_loop
from descentlab.loop.watches import RangeTestRows, RangeTestWatch
from descentlab.optim.functional import functional_step
from descentlab.optim.registry import class_needs
from descentlab.progress import Progress

MODES = ("exp", "linear")
DEFAULT_BETA = 0.98
DEFAULT_DIVERGE_TH = 5.0
STOP_REASONS = ("completed", "diverged", "non_finite")
DEFAULT_MAX_MEMORY = 256 * 2**20
FLAT_RTOL = 1e-10


# ---------------------------------------------------------------------------- pure pieces
def lr_sequence(start_lr: float, end_lr: float, num_iter: int, mode: str = "exp") -> np.ndarray:
    """The ``num_iter`` learning rates of a range test, from ``start_lr`` to ``end_lr``.

    ``exp``: ``lr_k = start_lr * (end_lr / start_lr) ** (k / (n - 1))`` (equal ratios);
    ``linear``: ``lr_k = start_lr + (end_lr - start_lr) * k / (n - 1)`` (equal steps).

    Args:
        start_lr: the first rate (> 0).
        end_lr: the last rate (> ``start_lr``).
        num_iter: number of rates (>= 2).
        mode: ``"exp"`` (default) or ``"linear"``.

    Example:
        >>> lr_sequence(1e-3, 1e-1, 3).tolist()
        [0.001, 0.01, 0.1]
    """
    start_lr, end_lr, num_iter, mode = _check_schedule(start_lr, end_lr, num_iter, mode)
    k = np.arange(num_iter, dtype=np.float64)
    t = k / (num_iter - 1)
    if mode == "exp":
        return start_lr * (end_lr / start_lr) ** t
    return start_lr + (end_lr - start_lr) * t


def smooth_losses(losses: Any, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Bias-corrected exponential moving average along the first axis.

    ``a_k = beta a_{k-1} + (1 - beta) L_k`` with ``a_{-1} = 0`` and ``s_k = a_k / (1 - beta^(k+1))``
    (``beta = 0`` returns the losses unchanged). Works on ``(n,)`` or ``(n, B)`` arrays (each
    column on its own).

    Example:
        >>> smooth_losses([1.0, 3.0], beta=0.5).tolist()
        [1.0, 2.3333333333333335]
    """
    beta = _check_beta(beta)
    L = np.asarray(losses, dtype=np.float64)
    out = np.empty_like(L)
    avg = np.zeros(L.shape[1:], dtype=np.float64)
    for k in range(L.shape[0]):
        avg, out[k] = _ema_step(avg, L[k], beta, k)
    return out


def _ema_step(avg: Any, value: Any, beta: float, k: int) -> tuple[Any, Any]:
    """One step of the bias-corrected EMA (shared by the online stop rule and the offline curve)."""
    with np.errstate(invalid="ignore", over="ignore"):
        avg = beta * avg + (1.0 - beta) * value
        return avg, avg / (1.0 - beta ** (k + 1))


def suggest_lr(
    lrs: Any, smoothed: Any, skip_start: int = 0, skip_end: int = 0
) -> tuple[int | None, int | None]:
    """Indices of the steepest descent and of the minimum of a smoothed range-test curve.

    The curve is cut at its first non-finite value, then its first ``skip_start`` and last
    ``skip_end`` points are left out (the early average rests on few losses, the last ones on
    the blow-up; fastai skips ``num_iter // 10`` and 5) unless fewer than two would remain, in
    which case the whole finite part is used. On that window the minimum index is where
    ``smoothed`` is smallest (``None`` without finite points) and the slope is
    ``numpy.gradient(smoothed, log(lrs))``; the steepest index is where the slope is most
    negative up to the minimum (so a fall after a blow-up is never picked; ``None`` when the
    slope is never negative there, or with fewer than two points). Indices refer to the full
    arrays.

    Example:
        >>> suggest_lr([0.1, 1.0, 10.0, 100.0], [1.0, 0.9, 0.2, 5.0])
        (1, 2)
        >>> suggest_lr([0.1, 1.0, 10.0, 100.0], [0.5, 0.9, 0.2, 5.0], skip_start=1)
        (1, 2)
    """
    lr = np.asarray(lrs, dtype=np.float64)
    s = np.asarray(smoothed, dtype=np.float64)
    if lr.shape != s.shape or lr.ndim != 1:
        raise InvalidParameterError(
            f"lrs and smoothed must be 1-D of the same length, got {lr.shape} and {s.shape}"
        )
    skip_start = _check_skip("skip_start", skip_start)
    skip_end = _check_skip("skip_end", skip_end)
    bad = ~np.isfinite(s)
    n = int(np.argmax(bad)) if bad.any() else s.size
    if n == 0:
        return None, None
    lo, hi = skip_start, n - skip_end
    if hi - lo < 2:
        lo, hi = 0, n
    w = s[lo:hi]
    i_min = lo + int(np.argmin(w))
    if w.size < 2:
        return None, i_min
    slope = np.gradient(w, np.log(lr[lo:hi]))
    j = int(np.argmin(slope[: i_min - lo + 1]))  # on the way down: never a fall after a blow-up
    return (lo + j if slope[j] < 0 else None), i_min


def _check_skip(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InvalidParameterError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------- results
@dataclass
class LRFinderResult:
    """One range test: the rates tried, the losses after each step, and the suggestions.

    Attributes:
        lrs: the rates used, ``(m,)`` with ``m <= num_iter`` (the test may stop early).
        losses: the loss after the step with ``lrs[k]``, ``(m,)`` (the last may be non-finite).
        smoothed: bias-corrected EMA of ``losses`` (``beta``), ``(m,)``.
        initial_loss: the loss before the first step.
        suggested_lr: the rate at the steepest descent of ``smoothed`` per ``log lr`` (or None).
        min_loss_lr: the rate at the smallest smoothed loss (or None).
        min_lr_over_10: ``min_loss_lr / 10`` (fastai's "minimum" suggestion; or None).
        stop_step: the step at which the test stopped early (None when it ran every step).
        stop_reason: ``"completed"``, ``"diverged"`` (smoothed loss rule) or ``"non_finite"``.
        num_iter, start_lr, end_lr, mode, beta, diverge_th, loss_floor: the settings.
        skip_start, skip_end: points left out at both ends when suggesting (:func:`suggest_lr`).
        optimizer: the optimizer's label.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    initial_loss: float
    suggested_lr: float | None
    min_loss_lr: float | None
    min_lr_over_10: float | None
    stop_step: int | None
    stop_reason: str
    num_iter: int
    start_lr: float
    end_lr: float
    mode: str
    beta: float
    diverge_th: float | None
    loss_floor: float
    skip_start: int = 0
    skip_end: int = 0
    optimizer: str = ""
    suggested_index: int | None = None
    min_index: int | None = None

    @property
    def suggested_loss(self) -> float | None:
        """The smoothed loss at the suggested rate."""
        i = self.suggested_index
        return None if i is None else float(self.smoothed[i])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (non-finite losses become ``None``)."""
        return {
            "optimizer": self.optimizer,
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "num_iter": self.num_iter,
            "mode": self.mode,
            "beta": self.beta,
            "diverge_th": self.diverge_th,
            "loss_floor": self.loss_floor,
            "skip_start": self.skip_start,
            "skip_end": self.skip_end,
            "initial_loss": _finite_or_none(self.initial_loss),
            "suggested_lr": self.suggested_lr,
            "min_loss_lr": self.min_loss_lr,
            "min_lr_over_10": self.min_lr_over_10,
            "stop_step": self.stop_step,
            "stop_reason": self.stop_reason,
            "lrs": [float(v) for v in self.lrs],
            "losses": [_finite_or_none(v) for v in self.losses],
            "smoothed": [_finite_or_none(v) for v in self.smoothed],
        }

    def summary(self) -> str:
        """A few lines for humans."""
        lines = [
            f"lr range test, {self.optimizer or 'optimizer'}: {self.lrs.size} steps, "
            f"lr {self.start_lr:g} -> {self.lrs[-1]:g} ({self.mode})",
            "suggested lr (steepest descent of the smoothed loss): "
            + (
                "none (the smoothed loss never fell)"
                if self.suggested_lr is None
                else f"{self.suggested_lr:.4g}"
            ),
            "minimum / 10: "
            + ("none" if self.min_lr_over_10 is None else f"{self.min_lr_over_10:.4g}")
            + (
                ""
                if self.min_loss_lr is None
                else f" (smallest smoothed loss at lr {self.min_loss_lr:.4g})"
            ),
        ]
        if self.stop_step is not None:
            why = "the loss was not finite" if self.stop_reason == "non_finite" else "diverged"
            lines.append(f"stopped at step {self.stop_step} (lr {self.lrs[-1]:.4g}): {why}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass
class LRFinderBatchResult:
    """Range tests from ``B`` starts of a landscape, all with the same rate schedule.

    Attributes:
        rows: one :class:`LRFinderResult` per start.
        starts: the ``(B, d)`` starts.
        lrs: the full schedule ``(num_iter,)``.
        median_suggested_lr: median of the rows' ``suggested_lr`` (rows without one left out;
            None if no row has one).
        median_min_lr_over_10: median of the rows' ``min_lr_over_10`` (same rule).
        landscape: the landscape's name.
    """

    rows: list[LRFinderResult]
    starts: np.ndarray
    lrs: np.ndarray
    median_suggested_lr: float | None
    median_min_lr_over_10: float | None
    landscape: str = ""
    optimizer: str = ""

    def __len__(self) -> int:
        return len(self.rows)

    def losses(self) -> np.ndarray:
        """Raw losses ``(num_iter, B)``, NaN after a row stopped."""
        return self._stack("losses")

    def smoothed(self) -> np.ndarray:
        """Smoothed losses ``(num_iter, B)``, NaN after a row stopped."""
        return self._stack("smoothed")

    def _stack(self, name: str) -> np.ndarray:
        out = np.full((self.lrs.size, len(self.rows)), np.nan)
        for i, r in enumerate(self.rows):
            v = getattr(r, name)
            out[: v.size, i] = v
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: the medians, the schedule and every row."""
        return {
            "landscape": self.landscape,
            "optimizer": self.optimizer,
            "n_rows": len(self.rows),
            "median_suggested_lr": self.median_suggested_lr,
            "median_min_lr_over_10": self.median_min_lr_over_10,
            "lrs": [float(v) for v in self.lrs],
            "rows": [
                {"start": [float(x) for x in s], **r.to_dict()}
                for s, r in zip(self.starts, self.rows, strict=True)
            ],
        }

    def summary(self) -> str:
        """A few lines for humans."""
        n = len(self.rows)
        with_s = sum(r.suggested_lr is not None for r in self.rows)
        stops = {k: sum(r.stop_reason == k for r in self.rows) for k in STOP_REASONS}
        med = self.median_suggested_lr
        m10 = self.median_min_lr_over_10
        below = sum(
            bool(np.any(r.smoothed[np.isfinite(r.smoothed)] <= r.loss_floor)) for r in self.rows
        )
        note = []
        if below and self.rows[0].diverge_th is not None:
            note.append(
                f"note: {below} row{'s' * (below != 1)} reached the loss floor "
                f"{self.rows[0].loss_floor:g}, where the divergence rule stops applying; pass a "
                "lower loss_floor (a lower bound of the loss) to keep it on"
            )
        return "\n".join(
            [
                f"lr range test on {self.landscape or 'a landscape'} with "
                f"{self.optimizer or 'optimizer'} from {n} start{'s' * (n != 1)}: lr "
                f"{self.lrs[0]:g} -> {self.lrs[-1]:g} over {self.lrs.size} steps",
                "median suggested lr (steepest descent of the smoothed loss): "
                + ("none" if med is None else f"{med:.4g}")
                + f" ({with_s} of {n} rows have one)",
                "median minimum / 10: " + ("none" if m10 is None else f"{m10:.4g}"),
                "rows: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in stops.items()),
                *note,
            ]
        )

    def __str__(self) -> str:
        return self.summary()


def _finite_or_none(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.median(vals)) if vals else None


# ---------------------------------------------------------------------------- validation
def _check_schedule(
    start_lr: Any, end_lr: Any, num_iter: Any, mode: Any
) -> tuple[float, float, int, str]:
    start_lr = check_positive("start_lr", start_lr)
    end_lr = check_positive("end_lr", end_lr)
    if not end_lr > start_lr:
        raise InvalidParameterError(
            f"end_lr must be larger than start_lr, got start_lr={start_lr:g}, end_lr={end_lr:g}"
        )
    if isinstance(num_iter, float) and num_iter.is_integer():
        num_iter = int(num_iter)
    if isinstance(num_iter, bool) or not isinstance(num_iter, int | np.integer) or num_iter < 2:
        raise InvalidParameterError(f"num_iter must be an integer >= 2, got {num_iter!r}")
    if mode not in MODES:
        raise InvalidParameterError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return start_lr, end_lr, int(num_iter), str(mode)


def _check_beta(beta: Any) -> float:
    b = check_positive("beta", beta, allow_zero=True)
    if not b < 1:
        raise InvalidParameterError(f"beta must be in [0, 1), got {beta!r}")
    return b


def _check_diverge_th(th: Any) -> float | None:
    if th is None:
        return None
    v = check_positive("diverge_th", th)
    if not v > 1:
        raise InvalidParameterError(
            f"diverge_th must be > 1 (a factor over the best smoothed loss) or None, got {th!r}"
        )
    return v


def _check_settings(
    start_lr: Any,
    end_lr: Any,
    num_iter: Any,
    mode: Any,
    beta: Any,
    diverge_th: Any,
    loss_floor: Any,
    skip_start: Any = None,
    skip_end: Any = 5,
) -> dict[str, Any]:
    s, e, n, m = _check_schedule(start_lr, end_lr, num_iter, mode)
    floor = float(loss_floor) if isinstance(loss_floor, int | float) else math.nan
    if isinstance(loss_floor, bool) or not math.isfinite(floor):
        raise InvalidParameterError(f"loss_floor must be a finite number, got {loss_floor!r}")
    return {
        "start_lr": s,
        "end_lr": e,
        "num_iter": n,
        "mode": m,
        "beta": _check_beta(beta),
        "diverge_th": _check_diverge_th(diverge_th),
        "loss_floor": floor,
        "skip_start": n // 10 if skip_start is None else _check_skip("skip_start", skip_start),
        "skip_end": _check_skip("skip_end", skip_end),
    }


def _resolve(optimizer: Any) -> Any:
    from descentlab.optim.registry import resolve_optimizer

    if isinstance(optimizer, tuple) and len(optimizer) == 2 and isinstance(optimizer[1], Mapping):
        spec = resolve_optimizer(optimizer[0], **dict(optimizer[1]))
    else:
        spec = resolve_optimizer(optimizer)
    probe = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    if "lr" not in spec.factory([probe]).defaults:
        raise InvalidParameterError(
            f"{spec.label} has no learning rate (no 'lr' hyper-parameter); a range test needs one"
        )
    return spec


# ---------------------------------------------------------------------------- the stop rule
def _watch(B: int, num_iter: int, settings: dict[str, Any]) -> RangeTestWatch:
    """The range test's stop rule for ``B`` columns (the engine's watch with our EMA)."""
    return RangeTestWatch(
        B,
        num_iter,
        beta=settings["beta"],
        diverge_th=settings["diverge_th"],
        loss_floor=settings["loss_floor"],
        ema_step=_ema_step,
    )


def _result(
    lrs: np.ndarray,
    raw: np.ndarray,
    initial: float,
    stop_step: int,
    reason: str,
    settings: dict[str, Any],
    label: str,
) -> LRFinderResult:
    """Post-process one column: truncate at the stop, smooth, suggest."""
    m = lrs.size if stop_step < 0 else stop_step + 1
    lr = lrs[:m].copy()
    losses = raw[:m].copy()
    smoothed = smooth_losses(losses, settings["beta"])
    i_steep, i_min = suggest_lr(lr, smoothed, settings["skip_start"], settings["skip_end"])
    fell = i_min is not None and bool(
        smoothed[i_min] < initial - FLAT_RTOL * max(1.0, abs(float(initial)))
    )
    if not fell:  # the loss never fell: no suggestion (slopes of a flat curve are noise)
        i_steep = i_min = None
    min_lr = None if i_min is None else float(lr[i_min])
    return LRFinderResult(
        lrs=lr,
        losses=losses,
        smoothed=smoothed,
        initial_loss=float(initial),
        suggested_lr=None if i_steep is None else float(lr[i_steep]),
        min_loss_lr=min_lr,
        min_lr_over_10=None if min_lr is None else min_lr / 10.0,
        stop_step=None if stop_step < 0 else int(stop_step),
        stop_reason=reason,
        num_iter=settings["num_iter"],
        start_lr=settings["start_lr"],
        end_lr=settings["end_lr"],
        mode=settings["mode"],
        beta=settings["beta"],
        diverge_th=settings["diverge_th"],
        loss_floor=settings["loss_floor"],
        skip_start=settings["skip_start"],
        skip_end=settings["skip_end"],
        optimizer=label,
        suggested_index=i_steep,
        min_index=i_min,
    )


def _is_elementwise(spec: Any) -> bool:
    if spec.elementwise is not None:
        return bool(spec.elementwise)
    from descentlab.optim.probe import is_elementwise

    return bool(is_elementwise(spec))


# ---------------------------------------------------------------------------- lab front
def lr_find_landscape(
    landscape: Landscape,
    starts: Any,
    optimizer: Any = "gd",
    *,
    start_lr: float = 1e-5,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    beta: float = DEFAULT_BETA,
    diverge_th: float | None = DEFAULT_DIVERGE_TH,
    loss_floor: float | None = None,
    skip_start: int | None = None,
    skip_end: int = 5,
    seed: int = 0,
    max_memory: int = DEFAULT_MAX_MEMORY,
    progress: bool | None = None,
) -> LRFinderBatchResult:
    """Run the range test from every start of a landscape at once (one test per row).

    All ``B`` starts live in one ``(B, d)`` tensor: one forward and one backward pass per step
    serve every row, and an element-wise optimizer (SGD, Adam, ...) keeps the rows independent,
    so row ``i`` is exactly the test started from ``starts[i]`` alone. Optimizers that couple
    coordinates (L-BFGS) run row by row. A row that stops (see the module docstring) is frozen
    while the others go on; the run ends when every row has stopped or after ``num_iter`` steps.

    Args:
        landscape: the objective.
        starts: ``(B, d)`` points (or one point ``(d,)``).
        optimizer: a registered name, ``(name, {hyper})`` pair, ``OptimizerSpec`` or callable;
            its own ``lr`` is replaced by the schedule.
        start_lr, end_lr, num_iter, mode: the schedule (:func:`lr_sequence`).
        beta: smoothing of the loss curve (0: none).
        diverge_th: stop a row when its smoothed loss passes this factor over its best (above
            ``loss_floor``); ``None``: stop only on non-finite losses.
        loss_floor: the floor ``m`` of the divergence rule; default: the landscape's global
            minimum value when known, else 0.
        skip_start, skip_end: points left out at the start (default ``num_iter // 10``) and
            the end (default 5) of the curve when suggesting (see :func:`suggest_lr`).
        seed: seeds torch's generator inside the run (noisy optimizers), without touching the
            global one.
        max_memory: bytes the curves may take (``24 * num_iter * B``: raw, smoothed and the
            per-row copies); larger runs are refused with advice.
        progress: show a progress bar (``None``: when stderr is a terminal).

    Returns:
        an :class:`LRFinderBatchResult`.

    Example:
        >>> from descentlab.landscapes import get_landscape
        >>> L = get_landscape("himmelblau")
        >>> r = lr_find_landscape(L, [[0.0, 0.0], [1.0, 1.0]], ("momentum", {}), num_iter=50)
        >>> len(r.rows), r.lrs.size
        (2, 50)
    """

    if not isinstance(landscape, Landscape):
        raise InvalidParameterError(
            f"landscape must be a Landscape, got {type(landscape).__name__}"
        )
    if loss_floor is None:
        gm = landscape.global_min_value
        loss_floor = gm if gm is not None and math.isfinite(gm) else 0.0
    settings = _check_settings(
        start_lr, end_lr, num_iter, mode, beta, diverge_th, loss_floor, skip_start, skip_end
    )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"seed must be an integer >= 0, got {seed!r}")
    X0 = as_starts(landscape, starts)
    need = 24 * settings["num_iter"] * X0.shape[0]
    if isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory < 1:
        raise InvalidParameterError(f"max_memory must be a positive integer, got {max_memory!r}")
    if need > max_memory:
        fit = max(1, max_memory // (24 * settings["num_iter"]))
        raise InvalidParameterError(
            f"range tests of {X0.shape[0]} starts over {settings['num_iter']} steps need "
            f"{need / 2**20:.1f} MiB of curves, over max_memory={max_memory / 2**20:.1f} MiB; "
            f"use at most {fit} starts, fewer steps, or raise max_memory"
        )
    spec = _resolve(optimizer)
    lrs = lr_sequence(settings["start_lr"], settings["end_lr"], settings["num_iter"], mode)
    B = X0.shape[0]
    apart = not _is_elementwise(spec)
    watch = _watch(B, lrs.size, settings)
    rows_watch = RangeTestRows(X0, watch)
    X = X0.clone()
    track = RowTrack(X, 0, B, objective(landscape), rows_watch, None, lrs.size)
    build_steppers(
        track,
        spec,
        steps=lrs.size,
        apart=apart,
        row_fn=row_function(landscape),
        fixed_rates=lrs,
        fast_path=functional_step,
        row_hessian=landscape.analytic_hessian,
    )
    with (
        torch.random.fork_rng(devices=[]),
        Progress(lrs.size, f"lr range test ({spec.label})", enabled=progress) as bar,
    ):
        torch.manual_seed(int(seed))
        step_loop(
            [track], lrs.size, value_and_grad=value_and_grad(landscape),
            on_step=lambda k: bar.update(1),
        )  # fmt: skip
    X.grad = None
    parts = [(watch, rows_watch.initial, i) for i in range(B)]
    rows = [
        _result(
            lrs,
            w.raw[:, j],
            float(init[j]),
            int(w.stop_step[j]),
            str(w.reason[j]),
            settings,
            spec.label,
        )
        for w, init, j in parts
    ]
    return LRFinderBatchResult(
        rows=rows,
        starts=X0.numpy().copy(),
        lrs=lrs,
        median_suggested_lr=_median([r.suggested_lr for r in rows]),
        median_min_lr_over_10=_median([r.min_lr_over_10 for r in rows]),
        landscape=landscape.name,
        optimizer=spec.label,
    )


# ---------------------------------------------------------------------------- nn front
def lr_find(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    data: Any,
    optimizer: Any = "gd",
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    beta: float = DEFAULT_BETA,
    diverge_th: float | None = DEFAULT_DIVERGE_TH,
    loss_floor: float = 0.0,
    skip_start: int | None = None,
    skip_end: int = 5,
    batch_size: int | None = None,
    train_mode: bool = True,
    seed: int = 0,
    progress: bool | None = None,
) -> LRFinderResult:
    """Run the range test on a copy of ``model``: ``num_iter`` steps with a rising rate.

    Step ``k`` sets every param group's rate to ``lrs[k]``, steps on the current batch and
    records the loss at the new weights on the next batch (whose gradient drives step
    ``k + 1``); batches cycle through ``data`` in order. Optimizers that need a closure
    (L-BFGS, Newton-type) get one on the current batch (``create_graph`` for second-order ones).

    Nothing of the caller's is changed: the model (parameters, buffers, training flag), an
    optimizer passed in and torch's global random state are left bit-identical; the test runs
    on deep copies.

    Args:
        model: any ``nn.Module``.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``.
        data: an ``(X, y)`` pair of tensors (split by ``batch_size``) or an iterable of
            ``(inputs, targets)`` batches (read once).
        optimizer: a registered name (``"momentum"``), ``(name, {hyper})``, ``OptimizerSpec``,
            callable ``params -> Optimizer``, or a ``torch.optim.Optimizer`` already built on
            ``model``'s parameters (the copy starts from its state: momentum buffers, ...).
            Its own ``lr`` is replaced by the schedule.
        start_lr, end_lr, num_iter, mode: the schedule (:func:`lr_sequence`).
        beta: smoothing of the loss curve (0: none).
        diverge_th: stop when the smoothed loss passes this factor over the best one (above
            ``loss_floor``, default 0); ``None``: stop only on a non-finite loss.
        skip_start, skip_end: points left out at the start (default ``num_iter // 10``) and
            the end (default 5) of the curve when suggesting (see :func:`suggest_lr`).
        batch_size: mini-batch size for an ``(X, y)`` pair (``None``: full batch).
        train_mode: run the copy in training mode (dropout, batch statistics) as training
            would; ``False``: evaluation mode.
        seed: seeds torch's generator inside the test (dropout), restored afterwards.
        progress: show a progress bar (``None``: when stderr is a terminal).

    Returns:
        an :class:`LRFinderResult`.

    Example:
        >>> from descentlab.nn.tasks import build_model, make_moons
        >>> task = make_moons(100)
        >>> net = build_model("mlp", task, hidden=8)
        >>> r = lr_find(net, nn.CrossEntropyLoss(), (task.X, task.y), "momentum", num_iter=60)
        >>> r.suggested_lr is not None and 1e-7 <= r.suggested_lr <= 10
        True
    """
    from descentlab.nn.objective import as_batches, to_device

    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise InvalidParameterError("loss_fn must be callable: loss_fn(outputs, targets)")
    settings = _check_settings(
        start_lr, end_lr, num_iter, mode, beta, diverge_th, loss_floor, skip_start, skip_end
    )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"seed must be an integer >= 0, got {seed!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InvalidParameterError("the model has no trainable parameters")
    batches = as_batches(data, batch_size=batch_size)
    first = params[0]
    batches = [to_device(b, first.device, first.dtype) for b in batches]

    if isinstance(optimizer, torch.optim.Optimizer):
        net, opt, label = _copy_with_optimizer(model, optimizer)
        needs_closure, second = class_needs(type(optimizer))
        if "lr" not in opt.defaults:
            raise InvalidParameterError(f"{label} has no learning rate; a range test needs one")
    else:
        spec = _resolve(optimizer)
        try:
            net = copy.deepcopy(model)
        except Exception as exc:  # e.g. modules holding non-copyable handles
            raise DescentlabError(f"cannot copy the model to work on it safely: {exc}") from exc
        try:
            opt = spec.factory([p for p in net.parameters() if p.requires_grad])
        except DescentlabError:
            raise
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"{spec.label}: could not be built: {exc}") from None
        needs_closure, second, label = spec.needs_closure, spec.second_order, spec.label
    net.train(bool(train_mode))
    lrs = lr_sequence(settings["start_lr"], settings["end_lr"], settings["num_iter"], mode)
    watch = _watch(1, lrs.size, settings)
    nb = len(batches)
    initial = math.nan

    def batch_loss(i: int) -> torch.Tensor:
        x, y = batches[i % nb]
        try:
            out = loss_fn(net(x), y)
        except DescentlabError:
            raise
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:
            raise DescentlabError(
                f"the model or loss_fn failed on batch {i % nb}: {exc}".splitlines()[0]
            ) from None
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise InvalidParameterError(
                "loss_fn must return a scalar tensor, got "
                + (f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else repr(out))
            )
        return out.reshape(())

    def observe(k: int, loss: torch.Tensor, final: bool) -> bool:
        # iterate k is the point after step k - 1: its loss is L_{k-1} (the initial one at 0)
        nonlocal initial
        if k == 0:
            initial = float(loss)
            if not math.isfinite(initial):
                raise InvalidParameterError(
                    f"the loss is not finite at the model's weights ({initial}); nothing to test"
                )
            return True
        return not watch.observe(k - 1, np.array([float(loss)])).any()

    params = [p for p in net.parameters() if p.requires_grad]
    track = ModuleTrack(params, batch_loss, observe, lrs.size, final_eval=True)
    track.set_stepper(opt, second_order=second, rates=lrs, label="the optimizer")
    del needs_closure  # every step gets the closure; optimizers that need none ignore it
    with (
        torch.random.fork_rng(
            devices=[first.device.index or 0] if first.device.type == "cuda" else []
        ),
        Progress(settings["num_iter"], f"lr range test ({label})", enabled=progress) as bar,
    ):
        torch.manual_seed(int(seed))
        step_loop([track], lrs.size, on_step=lambda k: bar.update(1))
    for p in net.parameters():
        p.grad = None
    return _result(
        lrs,
        watch.raw[:, 0],
        initial,
        int(watch.stop_step[0]),
        str(watch.reason[0]),
        settings,
        label,
    )


def _copy_with_optimizer(
    model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[nn.Module, torch.optim.Optimizer, str]:
    """Deep-copy the model and the optimizer together, so the copy steps the copied weights."""
    own = {id(p) for p in model.parameters()}
    for g in optimizer.param_groups:
        for p in g["params"]:
            if id(p) not in own:
                raise InvalidParameterError(
                    "the optimizer holds parameters that are not the model's; build it on "
                    "model.parameters() or pass the optimizer's name instead"
                )
    try:
        net, opt = copy.deepcopy((model, optimizer))
    except Exception as exc:
        raise DescentlabError(
            f"cannot copy the model and its optimizer to work on them safely: {exc}"
        ) from exc
    return net, opt, type(optimizer).__name__


__all__ = [
    "LRFinderBatchResult",
    "LRFinderResult",
    "lr_find",
    "lr_find_landscape",
    "lr_sequence",
    "smooth_losses",
    "suggest_lr",
]
