"""The learning-rate range test's figure: loss against the learning rate (log axis).

One test (:class:`~descentlab.optim.lr_finder.LRFinderResult`): the raw losses (faint), the
smoothed curve, the suggested rate (steepest descent of the smoothed loss, a vertical line and a
marker) and the "minimum / 10" rate. The y range follows the useful part of the curve: from the
lowest smoothed loss to the highest loss before it, so the blow-up at the end does not squash it.

Several tests from the lab (:class:`~descentlab.optim.lr_finder.LRFinderBatchResult`): each
row's smoothed loss above the divergence floor (log y when every value lies above it), its
suggestion as a dot, and the median suggestion as a vertical line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from descentlab.errors import InvalidParameterError
from descentlab.viz import style
from descentlab.viz._common import new_figure, pick_rows

SUGGEST_COLOR = "#D55E00"  # vermillion
MIN10_COLOR = "#009E73"  # bluish green
DEFAULT_MAX_ROWS = 60


def plot_lr_finder(
    result: Any,
    *,
    title: str | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> Figure:
    """Loss against the learning rate (log x), with the suggested rates marked.

    Args:
        result: an ``LRFinderResult`` (one test) or an ``LRFinderBatchResult`` (tests from many
            starts of a landscape).
        title: the figure title.
        max_rows: at most this many rows of a batch are drawn (spread evenly; ``None``: all).

    Example:
        >>> from descentlab.landscapes import Landscape
        >>> from descentlab.optim import lr_find_landscape
        >>> L = Landscape(lambda P: 2.0 * (P**2).sum(-1), dim=1, domain=(-1, 1))
        >>> r = lr_find_landscape(L, [[1.0]], "gd", start_lr=1e-3, end_lr=10, num_iter=50)
        >>> fig = plot_lr_finder(r.rows[0])
        >>> fig.axes[0].get_xscale()
        'log'
    """
    from descentlab.optim.lr_finder import LRFinderBatchResult, LRFinderResult

    if isinstance(result, LRFinderResult):
        return _plot_one(result, title)
    if isinstance(result, LRFinderBatchResult):
        return _plot_batch(result, title, max_rows)
    raise InvalidParameterError(
        "plot_lr_finder needs an LRFinderResult or an LRFinderBatchResult, got "
        f"{type(result).__name__}"
    )


def _label(lr: float) -> str:
    return f"{lr:.3g}"


def _plot_one(r: Any, title: str | None) -> Figure:
    lrs, raw, s = np.asarray(r.lrs), np.asarray(r.losses), np.asarray(r.smoothed)
    ok = np.isfinite(s)
    with style.context():
        fig = new_figure(style.FIGSIZE)
        ax = fig.add_subplot(1, 1, 1)
        fin = np.isfinite(raw)
        (ln_raw,) = ax.plot(lrs[fin], raw[fin], color="#9a9a9a", lw=0.9, alpha=0.8, label="loss")
        ln_raw.set_gid("raw-loss")
        (ln_s,) = ax.plot(
            lrs[ok], s[ok], color="#0072B2", lw=style.LINEWIDTH, label=f"smoothed (β={r.beta:g})"
        )
        ln_s.set_gid("smoothed-loss")
        if r.suggested_index is not None:
            i = r.suggested_index
            v = ax.axvline(r.suggested_lr, color=SUGGEST_COLOR, lw=1.3, ls="--")
            v.set_gid("suggested-lr")
            ax.scatter(
                [r.suggested_lr],
                [s[i]],
                color=SUGGEST_COLOR,
                zorder=5,
                s=60,
                label=f"steepest descent: lr = {_label(r.suggested_lr)}",
                **style.MARKER_EDGE,
            )
        if r.min_lr_over_10 is not None:
            v = ax.axvline(r.min_lr_over_10, color=MIN10_COLOR, lw=1.3, ls=":")
            v.set_gid("min-lr-over-10")
            v.set_label(f"minimum / 10: lr = {_label(r.min_lr_over_10)}")
        if r.stop_step is not None:
            ax.scatter(
                [lrs[-1]],
                [s[-1] if np.isfinite(s[-1]) else np.nan],
                marker="x",
                color="black",
                zorder=5,
                label=f"stopped ({r.stop_reason.replace('_', '-')}) at step {r.stop_step}",
            )
        _ylim_single(ax, r, s, raw)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss after the step")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(loc="best")
        ax.set_title(title or f"Learning-rate range test: {r.optimizer or 'optimizer'}")
        fig.tight_layout()
    return fig


def _head_range(r: Any) -> tuple[float, float] | None:
    """From the lowest smoothed loss to the highest loss seen up to it (``None``: no data)."""
    s = np.asarray(r.smoothed)
    ok = np.isfinite(s)
    if not ok.any():
        return None
    i_min = r.min_index if r.min_index is not None else int(np.nanargmin(s))
    head = np.concatenate([[r.initial_loss], s[: i_min + 1]])
    head = head[np.isfinite(head)]
    lo = float(np.nanmin(s[ok]))
    hi = float(head.max()) if head.size else float(np.nanmax(s[ok]))
    return lo, hi


def _ylim_single(ax: Any, r: Any, s: np.ndarray, raw: np.ndarray) -> None:
    """The useful part of the curve (the raw losses up to the minimum included)."""
    rng = _head_range(r)
    if rng is None:
        return
    lo, hi = rng
    i_min = r.min_index if r.min_index is not None else 0
    fin = raw[: i_min + 1][np.isfinite(raw[: i_min + 1])]
    if fin.size:
        lo = min(lo, float(fin.min()))
    _set_ylim(ax, lo, hi, log=False)


def _set_ylim(ax: Any, lo: float, hi: float, *, log: bool) -> None:
    if log:
        if lo > 0 and hi > 0:
            ax.set_ylim(lo / 1.5, hi * 2.0)
        return
    span = hi - lo
    if not span > 0:
        span = abs(hi) if hi else 1.0
    ax.set_ylim(lo - 0.08 * span, hi + 0.15 * span)


def _plot_batch(b: Any, title: str | None, max_rows: int | None) -> Figure:
    if max_rows is not None and (
        isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
    ):
        raise InvalidParameterError(
            f"max_rows must be a positive integer or None, got {max_rows!r}"
        )
    rows = pick_rows(len(b.rows), max_rows)
    floor = b.rows[0].loss_floor if b.rows else 0.0
    seen = [np.asarray(b.rows[i].smoothed) for i in rows]
    seen = np.concatenate([v[np.isfinite(v)] for v in seen]) if seen else np.array([])
    log_y = bool(seen.size) and bool(np.all(seen - floor > 0))
    if not log_y:
        floor = 0.0  # some losses reach the floor: plot the losses themselves on a linear axis
    with style.context():
        fig = new_figure(style.FIGSIZE)
        ax = fig.add_subplot(1, 1, 1)
        color = style.optimizer_colors([b.optimizer or "gd"])[b.optimizer or "gd"]
        for n, i in enumerate(rows):
            r = b.rows[i]
            s = np.asarray(r.smoothed)
            ok = np.isfinite(s)
            (ln,) = ax.plot(
                r.lrs[ok],
                s[ok] - floor,
                color=color,
                lw=0.9,
                alpha=0.45,
                label="smoothed loss of one start" if n == 0 else None,
            )
            ln.set_gid(f"row:{i}")
            if r.suggested_index is not None:
                ax.scatter(
                    [r.suggested_lr],
                    [s[r.suggested_index] - floor],
                    color=SUGGEST_COLOR,
                    s=22,
                    zorder=5,
                    label="suggestion of one start" if n == 0 else None,
                    **style.MARKER_EDGE,
                )
        if b.median_suggested_lr is not None:
            v = ax.axvline(
                b.median_suggested_lr,
                color=SUGGEST_COLOR,
                lw=1.6,
                ls="--",
                label=f"median steepest descent: lr = {_label(b.median_suggested_lr)}",
            )
            v.set_gid("median-suggested-lr")
        if b.median_min_lr_over_10 is not None:
            v = ax.axvline(
                b.median_min_lr_over_10,
                color=MIN10_COLOR,
                lw=1.4,
                ls=":",
                label=f"median minimum / 10: lr = {_label(b.median_min_lr_over_10)}",
            )
            v.set_gid("median-min-lr-over-10")
        ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ranges = [_head_range(b.rows[i]) for i in rows]
        ranges = [x for x in ranges if x is not None]
        if ranges:
            lo = min(x[0] for x in ranges) - floor
            hi = max(x[1] for x in ranges) - floor
            _set_ylim(ax, lo, hi, log=log_y)
        ax.set_xlim(float(b.lrs[0]), float(b.lrs[-1]))
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel(f"smoothed loss - {floor:g}" if floor else "smoothed loss")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(loc="best")
        shown = "" if len(rows) == len(b.rows) else f" ({len(rows)} of {len(b.rows)} shown)"
        ax.set_title(
            title
            or f"Range test of {b.optimizer or 'optimizer'} on {b.landscape or 'a landscape'}: "
            f"{len(b.rows)} starts{shown}"
        )
        fig.tight_layout()
    return fig
