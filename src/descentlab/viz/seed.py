"""The two pictures that explain gradient descent.

* :func:`gradient_descent_figure`: a 1-D non-convex curve ``J(w)`` with the steps of
  ``w <- w - lr * dJ/dw`` drawn as arrows, the update rule in the title.
* :func:`critical_points_figure`: a 2-D surface with exactly one global minimum, one local
  minimum and one saddle, each marked and labelled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from descentlab.errors import DimensionError, InvalidParameterError
from descentlab.landscapes.base import Landscape
from descentlab.landscapes.registry import get_landscape
from descentlab.validate import check_int, check_positive
from descentlab.viz import style
from descentlab.viz._common import critical_points_in_domain, new_figure, place_labels
from descentlab.viz.landscape import critical_point_label, plot_surface

GD_CURVE = "nonconvex_curve"
CRITICAL_SURFACE = "tilted_double_well"
# (start, lr) that tell the story on the catalogue curve: from just left of the maximum, steps
# large on the steep slope and shrinking as the gradient vanishes at the global minimum
GD_DEFAULTS: dict[str, tuple[float, float]] = {"nonconvex_curve": (-0.1, 0.05)}


def gradient_descent_steps(landscape: Landscape, start: float, lr: float, steps: int) -> np.ndarray:
    """The iterates ``w_0 .. w_steps`` of plain gradient descent on a 1-D landscape.

    Runs the lab's engine (``"gd"``, i.e. ``torch.optim.SGD``) with the convergence rule off, so
    every step is drawn: ``w_{k+1} = w_k - lr * J'(w_k)``. A run that leaves the domain bound or
    blows up stops there (the engine's divergence rule).
    """
    from descentlab.engine import run

    tr = run(landscape, "gd", [[float(start)]], steps=steps, lr=lr, grad_tol=0.0)
    return np.asarray(tr.path(0))[:, 0]


def gradient_descent_figure(
    landscape: Landscape | str | None = None,
    *,
    start: float | None = None,
    lr: float | None = None,
    steps: int = 10,
    title: str | None = None,
) -> Figure:
    """The first teaching picture: ``J(w)`` with the gradient-descent steps drawn as arrows.

    Each arrow goes from ``(w_k, J(w_k))`` to ``(w_{k+1}, J(w_{k+1}))`` with
    ``w_{k+1} = w_k - lr * dJ/dw(w_k)``; the critical points of the curve (known ones) are
    marked with their kind. The title states the rule.

    Args:
        landscape: a 1-D landscape or catalogue name (default ``nonconvex_curve``).
        start: the start ``w_0`` (default: ``-0.1`` on ``nonconvex_curve``, else 15% of the way
            across the domain).
        lr: the learning rate (default: 0.05).
        steps: the number of steps drawn (1..200).
        title: the title (default: the update rule with ``lr``).

    Example:
        >>> fig = gradient_descent_figure(steps=5)
        >>> sum(str(t.get_gid()).startswith("gd-step:") for t in fig.axes[0].texts)
        5
    """
    L = get_landscape(GD_CURVE if landscape is None else landscape)
    if L.dim != 1:
        raise DimensionError(
            f"the gradient-descent figure needs a 1-D landscape; {L.name} has d={L.dim}"
        )
    check_int("steps", steps, lo=1, hi=200)
    (lo, hi) = L.require_domain()[0]
    d_start, d_lr = GD_DEFAULTS.get(L.name, (lo + 0.15 * (hi - lo), 0.05))
    w0 = float(d_start if start is None else start)
    if not lo <= w0 <= hi:
        raise InvalidParameterError(f"start must lie in the domain [{lo:g}, {hi:g}], got {w0:g}")
    eta = check_positive("lr", d_lr if lr is None else lr)
    ws = gradient_descent_steps(L, w0, eta, steps)
    js = L.value(ws[:, None]).detach().numpy()
    with style.context():
        fig = new_figure((7.6, 5.0))
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.11, top=0.88)
        ax = fig.add_subplot()
        grid = np.linspace(lo, hi, 600)
        jg = L.value(grid[:, None]).detach().numpy()
        (curve,) = ax.plot(grid, jg, color="0.2", lw=2.0, zorder=2, label="J(w)")
        curve.set_gid("curve")
        color = style.optimizer_colors(["gd"])["gd"]
        inside = (ws >= lo) & (ws <= hi)
        for k in range(len(ws) - 1):
            if not (inside[k] and inside[k + 1]):
                break
            arr = ax.annotate(
                "",
                xy=(ws[k + 1], js[k + 1]),
                xytext=(ws[k], js[k]),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": color,
                    "lw": 1.6,
                    "shrinkA": 3,
                    "shrinkB": 3,
                    "mutation_scale": 13,
                },
                zorder=5,
            )
            arr.set_gid(f"gd-step:{k}")
        pts = ax.scatter(
            ws[inside], js[inside], s=26, color=color, zorder=6, label="w_k (GD iterates)"
        )
        pts.set_gid("gd-points")
        ax.scatter([ws[0]], [js[0]], **{**style.START_MARKER, "s": 70}, edgecolors=color).set_gid(
            "gd-start"
        )
        cps = critical_points_in_domain(L)
        for key, ks in style.KIND_STYLES.items():
            sel = [c for c in cps if style.critical_kind_key(c.kind, c.is_global) == key]
            if sel:
                sc = ax.scatter(
                    [c.point[0] for c in sel],
                    [c.value for c in sel],
                    marker=ks.marker,
                    s=ks.size * 0.8,
                    c=ks.color,
                    label=ks.label,
                    zorder=4,
                    **style.MARKER_EDGE,
                )
                sc.set_gid(f"critical:{key}")
        pad = 0.08 * (float(np.nanmax(jg)) - float(np.nanmin(jg)))
        ax.set_xlim(lo, hi)
        ax.set_ylim(float(np.nanmin(jg)) - pad, float(np.nanmax(jg)) + pad)
        labels = place_labels(
            ax,
            [(ws[0], js[0])] + [(c.point[0], c.value) for c in cps],
            [f"start w₀ = {w0:.3g}"] + [critical_point_label(c) for c in cps],
            gids=["gd-start-label"] + [f"critical-label:{i}" for i in range(len(cps))],
            obstacles=[(float(w), float(j)) for w, j in zip(ws[inside], js[inside], strict=True)]
            + [(float(x), float(y)) for x, y in zip(grid[::20], jg[::20], strict=True)],
            fontsize=style.LABEL_FONTSIZE,
            zorder=9,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "lw": 0.6},
        )
        labels[0].get_bbox_patch().set_edgecolor(color)
        ax.set_xlabel("w")
        ax.set_ylabel("J(w)")
        rule = r"$w \leftarrow w - \eta\,\frac{dJ}{dw}$"
        ax.set_title(
            title
            if title is not None
            else f"Gradient descent: {rule}   ($\\eta$ = {eta:g}, {len(ws) - 1} steps)"
        )
        ax.legend(loc="upper center", ncol=3, fontsize=8.5)
        ax.grid(True, alpha=0.25)
    return fig


def critical_points_figure(
    landscape: Landscape | str | None = None, *, title: str | None = None, **surface_kw: Any
) -> Figure:
    """The second teaching picture: a surface with its critical points marked and labelled.

    The default landscape, ``tilted_double_well``, has exactly one global minimum, one local
    minimum and one saddle. Any 2-D landscape with known critical points works.

    Example:
        >>> fig = critical_points_figure()
        >>> gids = [str(c.get_gid()) for c in fig.axes[0].collections]
        >>> sorted(g for g in gids if g.startswith("critical:"))
        ['critical:global_minimum', 'critical:local_minimum', 'critical:saddle']
    """
    L = get_landscape(CRITICAL_SURFACE if landscape is None else landscape)
    if not L.critical_points:
        raise InvalidParameterError(
            f"{L.name} has no known critical points to label; pick a catalogue landscape"
        )
    if title is None:
        counts = L.count_kinds() or {}
        n_glob = len(L.global_minima)
        n_loc = counts.get("minimum", 0) - n_glob
        parts = [_count(n_glob, "global minimum", "global minima")]
        if n_loc:
            parts.append(_count(n_loc, "local minimum", "local minima"))
        for k, plural in (
            ("saddle", "saddles"),
            ("maximum", "maxima"),
            ("degenerate", "degenerate points"),
        ):
            if counts.get(k):
                parts.append(_count(counts[k], k, plural))
        title = f"{L.name}: " + ", ".join(parts)
    if L.dim == 2 and "domain" not in surface_kw:
        surface_kw["domain"] = zoom_box(L)
    surface_kw.setdefault("resolution", 90)
    surface_kw.setdefault("elev", 40.0)
    surface_kw.setdefault("azim", -60.0)
    return plot_surface(L, None, title=title, **surface_kw)


def zoom_box(
    landscape: Landscape, pad: float = 0.2, minimum: float = 0.35
) -> tuple[tuple[float, float], ...]:
    """The box around a landscape's known critical points, padded by ``pad`` of its span (at
    least ``minimum``) and kept inside the landscape's domain: where the picture is."""
    pts = np.asarray([c.point for c in critical_points_in_domain(landscape)], dtype=float)
    dom = landscape.require_domain()
    if pts.size == 0:
        return dom
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    margin = np.maximum(pad * (hi - lo), minimum)
    return tuple(
        (max(d0, float(a - m)), min(d1, float(b + m)))
        for (d0, d1), a, b, m in zip(dom, lo, hi, margin, strict=True)
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
