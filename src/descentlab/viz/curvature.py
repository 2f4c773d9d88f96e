"""Where negative curvature comes from: ``λmin`` of ``H``, ``G`` (GGN) and ``R = H - G``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from descentlab.errors import InvalidParameterError
from descentlab.viz import style

PARTS = (
    ("H", "λmin(H), the Hessian", "#000000", "o"),
    ("G", "λmin(G), Gauss-Newton", "#009E73", "s"),
    ("R", "λmin(R), R = H - G", "#D55E00", "v"),
)


def plot_curvature_split(
    panels: Mapping[str, Sequence[Mapping[str, float]]],
    path: str | os.PathLike[str],
    *,
    linthresh: float = 1e-3,
) -> Path:
    """One panel per model: at each point (sorted by ``λmin(H)``), ``λmin`` of ``H``, ``G`` and
    ``R``, on a symmetric-log axis with zero marked.

    Args:
        panels: model name -> a list of points, each ``{"H": λmin(H), "G": λmin(G),
            "R": λmin(R)}`` (e.g. from :func:`descentlab.nn.curvature_split`).
        path: where to write the figure (png or svg).
        linthresh: the linear range of the symmetric-log axis around 0.

    For a model linear in its weights the three marks show ``R = 0`` and ``λmin(H) = λmin(G)
    ≥ 0``; for a network, ``λmin(G) ≥ 0`` still, and ``λmin(R) ≤ λmin(H) < 0`` where the
    Hessian is indefinite.
    """
    from descentlab.viz._common import new_figure, save_figure

    if not panels:
        raise InvalidParameterError("plot_curvature_split needs at least one panel")
    for name, pts in panels.items():
        if not pts:
            raise InvalidParameterError(f"panel {name!r} has no points")
        missing = [k for k, *_ in PARTS if any(k not in p for p in pts)]
        if missing:
            raise InvalidParameterError(f"panel {name!r}: points lack {missing}")
    w, h = style.FIGSIZE_WIDE
    fig = new_figure((w, h + 0.4))
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    for ax, (name, pts) in zip(axes, panels.items(), strict=True):
        order = np.argsort([p["H"] for p in pts])
        x = np.arange(len(pts))
        for key, label, color, marker in PARTS:
            vals = np.array([pts[i][key] for i in order], dtype=float)
            if key == "H":  # hollow and larger: visible where it coincides with G or R
                ax.scatter(
                    x, vals, s=70, facecolors="none", edgecolors=color, linewidths=1.3,
                    marker=marker, label=label, zorder=4,
                )  # fmt: skip
            else:
                ax.scatter(x, vals, s=24, color=color, marker=marker, label=label, zorder=3)
        ax.axhline(0.0, color="black", lw=0.8, ls="--")
        ax.set_yscale("symlog", linthresh=linthresh)
        ax.set_xlabel("point (sorted by λmin(H))")
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel("smallest eigenvalue")
    axes[-1].legend(loc="upper right", fontsize=8)
    fig.suptitle("H = G + R: G is positive semi-definite, so negative curvature comes from R")
    return save_figure(fig, path)
