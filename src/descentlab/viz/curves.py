"""Loss and gradient-norm curves per optimizer, on log scales, with saddle levels marked.

A run that stalls near a saddle shows it twice: its loss sits on the saddle's level (dashed red
line, ``f(saddle) - f*``) and its gradient norm dips towards zero before rising again as it
escapes. Lines carry gids ``loss:<optimizer>:<row>`` and ``gradnorm:<optimizer>:<row>``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import Landscape
from descentlab.viz import style
from descentlab.viz._common import as_runs, critical_points_in_domain, new_figure, pick_rows

FLOOR = 1e-16  # log-scale floor for values that reach exactly zero


def loss_reference(runs: dict[str, Any], landscape: Landscape | None) -> tuple[float, str]:
    """The value subtracted before the log scale: ``f*`` when known, else the lowest loss seen."""
    if landscape is not None and landscape.global_min_value is not None:
        return landscape.global_min_value, "f - f*"
    lows = [np.nanmin(np.where(np.isfinite(t.losses), t.losses, np.nan)) for t in runs.values()]
    lows = [v for v in lows if np.isfinite(v)]
    return (float(min(lows)) if lows else 0.0), "f - min f seen"


def robust_top(series: list[np.ndarray], diverged: list[bool], pad: float = 4.0) -> float:
    """The upper y limit (log scale) of a panel: ``pad`` times the highest value of the runs that
    did not diverge, and at least ``pad`` times every run's first value (so each start shows).

    One diverged run (``1e11`` after a few steps) no longer stretches the axis over ten decades
    that the other runs leave empty; it is cut at the frame and marked.
    """
    kept = [np.nanmax(v[np.isfinite(v)]) for v, d in zip(series, diverged, strict=True)
            if not d and np.isfinite(v).any()]  # fmt: skip
    starts = [v[0] for v in series if len(v) and np.isfinite(v[0])]
    cands = kept + starts
    if not cands:
        return float("nan")
    return pad * float(max(cands))


def plot_curves(
    runs: Any,
    *,
    landscape: Landscape | None = None,
    max_rows: int | None = 8,
    title: str | None = None,
) -> Figure:
    """Loss (minus the global minimum value) and gradient norm against the step, log scale.

    Args:
        runs: a ``Trajectory``, a ``Race`` or a mapping ``label -> Trajectory``.
        landscape: when given, the loss is drawn as ``f - f*`` (its global minimum value) and the
            levels of its saddles and local minima are drawn as horizontal lines.
        max_rows: at most this many rows per optimizer (spread evenly); ``None`` for all.
        title: the figure title.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> t = SimpleNamespace(record_steps=np.arange(3), losses=np.array([[4.0], [1.0], [0.25]]),
        ...                     grad_norms=np.array([[4.0], [2.0], [1.0]]), stop_step=np.array([2]),
        ...                     positions=np.zeros((3, 1, 1)))
        >>> fig = plot_curves({"gd": t})
        >>> [ax.get_yscale() for ax in fig.axes]
        ['log', 'log']
    """
    runs = as_runs(runs)
    if not runs:
        raise InvalidParameterError("plot_curves needs at least one run")
    ref, ylabel = loss_reference(runs, landscape)
    colors = style.optimizer_colors(list(runs))
    with style.context():
        fig = new_figure(style.FIGSIZE_WIDE)
        ax_l, ax_g = fig.subplots(1, 2)
        drawn: list[tuple[str, int, np.ndarray, np.ndarray, np.ndarray, bool]] = []
        for label, traj in runs.items():
            steps_all = np.asarray(traj.record_steps)
            losses = np.asarray(traj.losses, dtype=float)
            gnorms = np.asarray(traj.grad_norms, dtype=float)
            stop = getattr(traj, "stop_step", None)
            reasons = getattr(traj, "stop_reason", None)
            for row in pick_rows(losses.shape[1], max_rows):
                keep = np.ones(steps_all.shape, bool)
                if stop is not None:
                    s = np.asarray(stop)[row]
                    keep = steps_all <= s
                    after = np.nonzero(steps_all >= s)[0]
                    if after.size:
                        keep[after[0]] = True
                lo = np.maximum(losses[keep, row] - ref, FLOOR)
                gn = np.maximum(gnorms[keep, row], FLOOR)
                diverged = bool(
                    (reasons is not None and str(np.asarray(reasons)[row]) == "diverged")
                    or not np.isfinite(lo).all()
                    or not np.isfinite(gn).all()
                )
                drawn.append((label, row, steps_all[keep], lo, gn, diverged))
        tops = [robust_top([d[3] for d in drawn], [d[5] for d in drawn]),
                robust_top([d[4] for d in drawn], [d[5] for d in drawn])]  # fmt: skip
        n_clipped = 0
        first: set[str] = set()
        for label, row, st, lo, gn, diverged in drawn:
            kw = {"color": colors[label], "lw": 1.6, "alpha": 0.9}
            if diverged:
                kw["ls"] = "--"
            for ax, vals, top, kind in (
                (ax_l, lo, tops[0], "loss"),
                (ax_g, gn, tops[1], "gradnorm"),
            ):
                over = ~(vals <= top)  # above the frame, inf or nan
                shown = np.where(over, top, vals)
                if over.any():  # cut the line where it leaves the frame and mark the spot
                    k = int(np.argmax(over))
                    shown = shown[: k + 1]
                    ax.scatter(
                        [st[k]], [top], marker="^", s=46, c=colors[label], edgecolors="black",
                        linewidths=0.7, zorder=6, clip_on=False,
                    ).set_gid(f"clipped:{kind}:{label}:{row}")  # fmt: skip
                    n_clipped += 1
                leg = label if (kind == "loss" and label not in first) else "_nolegend_"
                (a,) = ax.plot(st[: len(shown)], shown, label=leg, **kw)
                a.set_gid(f"{kind}:{label}:{row}")
            first.add(label)
        if landscape is not None:
            seen: set[tuple[str, float]] = set()
            for c in critical_points_in_domain(landscape):
                key = style.critical_kind_key(c.kind, c.is_global)
                if key not in ("saddle", "local_minimum"):
                    continue
                level = float(c.value) - ref
                if level <= 0 or (key, round(level, 6)) in seen:
                    continue
                seen.add((key, round(level, 6)))
                ks = style.KIND_STYLES[key]
                ln = ax_l.axhline(
                    level,
                    color=ks.color,
                    ls="--" if key == "saddle" else ":",
                    lw=1.1,
                    alpha=0.8,
                    label=f"{ks.label} level",
                )
                ln.set_gid(f"level:{key}")
        ax_l.set_yscale("log")
        ax_g.set_yscale("log")
        for ax, top in ((ax_l, tops[0]), (ax_g, tops[1])):
            if np.isfinite(top):
                ax.set_ylim(top=top)
        ax_l.set_xlabel("step")
        ax_g.set_xlabel("step")
        ax_l.set_ylabel(ylabel)
        ax_g.set_ylabel("‖∇f‖")
        ax_l.set_title("loss")
        ax_g.set_title("gradient norm (dips = stalls near critical points)")
        for ax in (ax_l, ax_g):
            ax.grid(True, which="major", alpha=0.3)
        handles, labels = ax_l.get_legend_handles_labels()
        uniq = dict(zip(labels, handles, strict=True))
        if n_clipped:
            from matplotlib.lines import Line2D

            uniq["diverged: line cut at the frame"] = Line2D(
                [], [], ls="none", marker="^", ms=7, mfc="0.6", mec="black", mew=0.7
            )
        fig.legend(
            list(uniq.values()),
            list(uniq),
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(len(uniq), 5),
            frameon=False,
        )
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
