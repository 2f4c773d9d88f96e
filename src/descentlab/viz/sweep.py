"""Learning-rate sweeps: outcome shares and final loss against the learning rate.

Built for one engine run over a grid of rates (``engine.run(..., lrs=[...])``: row
``g * B0 + i`` is start ``i`` with rate ``lrs[g]``, recorded in ``Trajectory.row_lr``). The top
panel stacks, per rate, the share of starts ending in each outcome (global minimum, local
minimum, saddle, diverged, still moving, ...); the bottom panel shows the median final loss
above the global minimum value with its interquartile band (diverged rows left out).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import Landscape
from descentlab.viz import style
from descentlab.viz._common import new_figure
from descentlab.viz.curves import FLOOR


def sweep_table(traj: Any, diagnosis: Any) -> dict[str, Any]:
    """Per learning rate: the outcome counts and the final-loss quartiles (finite rows only).

    Returns ``{"lrs": (G,), "counts": {kind: (G,)}, "n": (G,), "loss_q": (G, 3)}``.
    """
    row_lr = np.asarray(traj.row_lr, dtype=float)
    if row_lr.size == 0 or not np.all(np.isfinite(row_lr)):
        raise InvalidParameterError(
            "a learning-rate sweep needs a run over a grid of rates (engine.run(..., lrs=[...]))"
        )
    lrs = np.unique(row_lr)
    if lrs.size < 2:
        raise InvalidParameterError(
            f"a learning-rate sweep needs at least two rates (engine.run(..., lrs=[...])); this "
            f"run has only lr={lrs[0]:g}"
        )
    kinds = np.array([o.kind for o in diagnosis])
    if kinds.size != row_lr.size:
        raise InvalidParameterError(
            f"the diagnosis has {kinds.size} rows but the trajectory has {row_lr.size}"
        )
    losses = np.asarray(traj.final_losses, dtype=float)
    counts = {k: np.zeros(lrs.size, dtype=int) for k in style.OUTCOME_COLORS}
    n = np.zeros(lrs.size, dtype=int)
    loss_q = np.full((lrs.size, 3), np.nan)
    for g, lr in enumerate(lrs):
        sel = row_lr == lr
        n[g] = int(sel.sum())
        for k in counts:
            counts[k][g] = int(np.sum(kinds[sel] == k))
        ok = sel & (kinds != "diverged") & np.isfinite(losses)
        if ok.any():
            loss_q[g] = np.quantile(losses[ok], [0.25, 0.5, 0.75])
    return {"lrs": lrs, "counts": counts, "n": n, "loss_q": loss_q}


def plot_lr_sweep(
    landscape: Landscape,
    traj: Any,
    diagnosis: Any = None,
    *,
    title: str | None = None,
) -> Figure:
    """Outcome shares (stacked bars) and final loss (median, quartile band) against the rate.

    Args:
        landscape: the landscape the sweep ran on (its global minimum value, when known, is
            subtracted from the losses).
        traj: one ``Trajectory`` from ``engine.run(..., lrs=[...])``.
        diagnosis: its ``Diagnosis`` (computed with ``analysis.diagnose`` when omitted).
        title: the figure title.

    Example:
        >>> from descentlab.landscapes import get_landscape
        >>> from descentlab.engine import run, grid_starts
        >>> L = get_landscape("double_well")
        >>> tr = run(L, "gd", grid_starts(L, 4), steps=200, lrs=[0.01, 0.1, 0.6])
        >>> fig = plot_lr_sweep(L, tr)
        >>> fig.sweep["n"].tolist()
        [16, 16, 16]
    """
    if diagnosis is None:
        from descentlab.analysis.diagnose import diagnose

        diagnosis = diagnose(traj, landscape)
    tab = sweep_table(traj, diagnosis)
    lrs = tab["lrs"]
    ref = landscape.global_min_value
    if ref is None:
        finite = tab["loss_q"][np.isfinite(tab["loss_q"])]
        ref = float(finite.min()) if finite.size else 0.0
        ylabel = "final loss - lowest seen"
    else:
        ylabel = "final loss - f*"
    label = getattr(traj, "optimizer", "") or "optimizer"
    with style.context():
        fig = new_figure((7.4, 6.2))
        ax_o, ax_l = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.1, 1.0]})
        pos = np.arange(lrs.size)
        _stacked_outcome_bars(
            ax_o, pos, {k: tab["counts"][k] / np.maximum(tab["n"], 1) for k in style.OUTCOME_COLORS}
        )
        ax_o.set_ylim(0, 1)
        ax_o.set_ylabel("share of starts")
        ax_o.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        q = np.maximum(tab["loss_q"] - ref, FLOOR)
        ok = np.all(np.isfinite(tab["loss_q"]), axis=1)
        color = style.optimizer_colors([label])[label]
        ax_l.fill_between(pos[ok], q[ok, 0], q[ok, 2], color=color, alpha=0.25, lw=0)
        (ln,) = ax_l.plot(pos[ok], q[ok, 1], "o-", color=color, lw=1.8, label="median")
        ln.set_gid("median-loss")
        ax_l.set_yscale("log")
        ax_l.set_ylabel(ylabel)
        ax_l.set_xticks(pos, [f"{v:.3g}" for v in lrs], rotation=45 if lrs.size > 8 else 0)
        ax_l.set_xlabel("learning rate")
        ax_l.grid(True, alpha=0.3)
        fig.suptitle(
            title or f"{label} on {landscape.name}: outcome and final loss vs learning rate"
        )
        fig.tight_layout()
    fig.sweep = tab  # type: ignore[attr-defined]
    return fig


# ---------------------------------------------------------------- sweeps (descentlab.sweeps)
def plot_outcome_bars(summary: dict[str, Any], *, title: str | None = None) -> Figure:
    """Stacked bars of outcome shares per optimizer and learning rate, from
    :func:`descentlab.sweeps.analysis.summarize` (its ``outcome_bars``)."""
    rows = summary["outcome_bars"]
    if not rows:
        raise InvalidParameterError("the sweep summary has no runs")
    many = len(rows) > 10
    sep = " " if many else "\n"
    labels = [
        r["optimizer"] if r["lr"] is None else f"{r['optimizer']}{sep}lr={r['lr']:.3g}"
        for r in rows
    ]
    with style.context():
        fig = new_figure((max(6.0, 0.55 * len(rows) + 2.5), 4.6))
        ax = fig.subplots()
        pos = np.arange(len(rows))
        _stacked_outcome_bars(
            ax,
            pos,
            {
                k: np.array([r["counts"].get(k, 0) / max(r["n"], 1) for r in rows])
                for k in style.OUTCOME_COLORS
            },
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of runs")
        ax.set_xticks(
            pos, labels, rotation=55 if many else 0, ha="right" if many else "center", fontsize=8
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax.set_title(title or f"where the runs ended ({summary['runs']} runs)")
        fig.tight_layout()
    return fig


def plot_success_heatmap(summary: dict[str, Any], *, title: str | None = None) -> Figure:
    """Learning rate x optimizer heat map of success (share of runs ending at a global
    minimum), from :func:`descentlab.sweeps.analysis.summarize` (its ``heatmap``)."""
    hm = summary["heatmap"]
    M = np.array(hm["success"], dtype=float).reshape(len(hm["lrs"]), len(hm["optimizers"]))
    with style.context():
        fig = new_figure((1.2 * len(hm["optimizers"]) + 2.8, 0.45 * max(len(hm["lrs"]), 1) + 2.0))
        ax = fig.subplots()
        if M.size:
            im = ax.imshow(
                np.ma.masked_invalid(M),
                cmap="viridis",
                vmin=0,
                vmax=1,
                aspect="auto",
                origin="lower",
            )
            for i in range(M.shape[0]):
                for j in range(M.shape[1]):
                    if np.isfinite(M[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{100 * M[i, j]:.0f}%",
                            ha="center",
                            va="center",
                            color="white" if M[i, j] < 0.6 else "black",
                            fontsize=8,
                        )
            fig.colorbar(im, ax=ax, label="success (global minimum)")
        ax.set_xticks(np.arange(len(hm["optimizers"])), hm["optimizers"])
        ax.set_yticks(np.arange(len(hm["lrs"])), [f"{v:.3g}" for v in hm["lrs"]])
        ax.set_xlabel("optimizer")
        ax.set_ylabel("learning rate")
        ax.set_title(title or "success by learning rate and optimizer")
        fig.tight_layout()
    return fig


def plot_ecdf(summary: dict[str, Any], *, title: str | None = None) -> Figure:
    """COCO-style runtime ECDFs of the tuned configurations with bootstrap bands, from
    :func:`descentlab.sweeps.analysis.summarize` (its ``ecdf``)."""
    e = summary["ecdf"]
    b = np.asarray(e["budgets"], dtype=float)
    colors = style.optimizer_colors(list(e["curves"]))
    with style.context():
        fig = new_figure((7.0, 4.4))
        ax = fig.subplots()
        x = np.maximum(b, 0.8)  # budget 0 drawn at the left edge of the log axis
        for label, cur in e["curves"].items():
            c = colors[label]
            ax.fill_between(x, cur["lo"], cur["hi"], color=c, alpha=0.2, lw=0, step="post")
            (ln,) = ax.step(x, cur["fraction"], where="post", color=c, lw=1.8, label=label)
            ln.set_gid(f"ecdf:{label}")
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel("steps")
        ax.set_ylabel("fraction of (run, target) pairs")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
        targets = ", ".join(f"{t:g}" for t in summary["targets"])
        ax.set_title(title or f"runtime ECDF, targets f - f* <= {targets} (tuned)")
        fig.tight_layout()
    return fig


def _stacked_outcome_bars(ax: Any, pos: np.ndarray, shares: dict[str, np.ndarray]) -> None:
    """One stacked bar per position: each outcome kind's share, in the vocabulary's order and
    colours (kinds with no share are left out of the bars and the legend); each bar's gid is
    ``share:<kind>`` so tests can read back what was drawn."""
    bottom = np.zeros(len(pos))
    for kind, color in style.OUTCOME_COLORS.items():
        share = shares[kind]
        if not share.any():
            continue
        bars = ax.bar(
            pos,
            share,
            bottom=bottom,
            color=color,
            edgecolor="white",
            linewidth=0.6,
            label=style.OUTCOME_LABELS[kind],
            width=0.8,
        )
        for b in bars:
            b.set_gid(f"share:{kind}")
        bottom += share
