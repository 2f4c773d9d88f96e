"""A 2-D landscape as a contour map or a 3-D surface, with runs and labelled critical points.

Every drawn element carries a ``gid`` so tests (and the SVG's readers) can find it:
``critical:<kind>`` for the critical-point markers of one kind (``global_minimum``,
``local_minimum``, ``saddle``, ``maximum``, ``degenerate``), ``critical-label:<i>`` for the label of
the ``i``-th drawn critical point, ``path:<optimizer>:<row>`` for a trajectory,
``start:<optimizer>`` / ``end:<optimizer>`` for its start and end markers.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.viz import style
from descentlab.viz._common import (
    as_runs,
    critical_points_in_domain,
    grid_values,
    new_figure,
    pick_rows,
    place_labels,
    plot_box,
    require_2d,
    row_path,
    short_kind_label,
)

MAX_LABELLED = 12  # above this many critical points only the global minima get a text label


def contour_levels(Z: np.ndarray, n: int) -> np.ndarray:
    """``n`` contour levels at quantiles of ``Z``: evenly spread lines whatever the scaling
    (Rosenbrock's banana and a quadratic bowl both get readable maps)."""
    z = Z[np.isfinite(Z)]
    if z.size == 0:
        raise InvalidParameterError("the landscape is not finite anywhere on the plotting grid")
    q = np.unique(np.quantile(z, np.linspace(0.0, 1.0, n)))
    if q.size < 2:  # flat
        q = np.array([z.min() - 0.5, z.min() + 0.5])
    return q


def _labelled(cps: list[CriticalPoint], label: bool | None) -> list[bool]:
    if label is False:
        return [False] * len(cps)
    if label is None and len(cps) > MAX_LABELLED:
        return [c.is_global for c in cps]
    return [True] * len(cps)


def critical_point_label(c: CriticalPoint) -> str:
    """The text drawn beside a critical point, e.g. ``"saddle (index 1)  f=0.98"``."""
    name = short_kind_label(c)
    if c.kind == "saddle" and c.index != 1:
        name += f" (index {c.index})"
    return f"{name}  f={c.value:.3g}"


def draw_critical_points(
    ax: Axes,
    landscape: Landscape,
    *,
    label: bool | None = None,
    obstacles: list[tuple[float, float]] | None = None,
    box: Any = None,
) -> list[CriticalPoint]:
    """Draw the landscape's known critical points on a 2-D axes: one marker per kind, labelled.

    ``label=None`` labels every point when there are at most ``MAX_LABELLED`` of them, else only
    the global minima (the legend still names every kind). Returns the drawn points in the order
    their labels' gids count them (``critical-label:<i>``).
    """
    cps = critical_points_in_domain(landscape, box)
    if not cps:
        return []
    order = sorted(range(len(cps)), key=lambda i: (not cps[i].is_global, cps[i].kind, cps[i].point))
    cps = [cps[i] for i in order]
    for key, ks in style.KIND_STYLES.items():
        pts = [c.point for c in cps if style.critical_kind_key(c.kind, c.is_global) == key]
        if not pts:
            continue
        arr = np.asarray(pts, dtype=float)
        sc = ax.scatter(
            arr[:, 0],
            arr[:, 1],
            marker=ks.marker,
            s=ks.size,
            c=ks.color,
            label=ks.label,
            zorder=8,
            **style.MARKER_EDGE,
        )
        sc.set_gid(f"critical:{key}")
    flags = _labelled(cps, label)
    idx = [i for i, f in enumerate(flags) if f]
    place_labels(
        ax,
        [(cps[i].point[0], cps[i].point[1]) for i in idx],
        [critical_point_label(cps[i]) for i in idx],
        gids=[f"critical-label:{i}" for i in idx],
        obstacles=[(c.point[0], c.point[1]) for i, c in enumerate(cps) if not flags[i]]
        + list(obstacles or []),
        fontsize=style.LABEL_FONTSIZE,
        zorder=9,
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "lw": 0.6, "alpha": 0.9},
    )
    return cps


def path_widths(n: int) -> list[float]:
    """Line widths for ``n`` optimizers' paths in drawing order: the first drawn (lowest) is the
    widest, so a path that runs under a later one (same start, same first steps) still shows at
    its edges."""
    if n <= 1:
        return [style.LINEWIDTH] * n
    return [style.LINEWIDTH * (1.0 + 0.8 * (n - 1 - i) / (n - 1)) for i in range(n)]


def path_length(path: np.ndarray, box: Any) -> float:
    """Arc length of a 2-D path in units of the plotting box (each axis scaled to [0, 1])."""
    if len(path) < 2:
        return 0.0
    (x0, x1), (y0, y1) = box
    scale = np.array([max(x1 - x0, 1e-300), max(y1 - y0, 1e-300)])
    steps = np.diff(np.asarray(path, dtype=float) / scale, axis=0)
    steps = steps[np.isfinite(steps).all(axis=1)]
    return float(np.sqrt((steps**2).sum(axis=1)).sum())


def drawing_order(runs: dict[str, Any], max_paths: int | None, box: Any) -> list[str]:
    """Optimizer labels from the longest typical path to the shortest.

    Drawn in this order, a run that stopped early (gradient descent stalled at a saddle) lies on
    top of a longer one that passed the same way (perturbed GD kicked off that saddle), instead
    of being hidden under it. Ties keep the given order.
    """
    med: dict[str, float] = {}
    for label, traj in runs.items():
        B = np.asarray(traj.positions).shape[1]
        lens = [path_length(row_path(traj, r), box) for r in pick_rows(B, max_paths)]
        med[label] = float(np.median(lens)) if lens else 0.0
    labels = list(runs)
    return sorted(labels, key=lambda lab: (-med[lab], labels.index(lab)))


# a stop counts as "at a saddle" where the gradient is this small (relative to the landscape's
# typical gradient over the box) and the Hessian has a clearly negative eigenvalue
STALL_GRAD_REL = 1e-3
STALL_NEG_REL = 1e-6


def _dwell_points(path: np.ndarray, box: Any, min_steps: int) -> list[tuple[np.ndarray, int]]:
    """Places the path sat still: maximal runs of at least ``min_steps`` consecutive points within
    0.2% of the box diagonal of the run's first point, as ``(point, steps)``; the final point is
    always a candidate (a run that converged stops there)."""
    (x0, x1), (y0, y1) = box
    radius = 2e-3 * float(np.hypot(x1 - x0, y1 - y0))
    out: list[tuple[np.ndarray, int]] = []
    i, n = 0, len(path)
    while i < n:
        j = i + 1
        while j < n and np.hypot(*(path[j] - path[i])) <= radius:
            j += 1
        if j - i >= min_steps and j < n:
            out.append((path[i], j - i))
        i = j
    if n:
        k = n - 1
        while k > 0 and np.hypot(*(path[k - 1] - path[-1])) <= radius:
            k -= 1
        out.append((path[-1], n - k))
    return out


def saddle_stalls(
    landscape: Landscape, path: np.ndarray, box: Any, grad_scale: float
) -> list[tuple[np.ndarray, int]]:
    """Where a 2-D path stopped or sat still at a saddle (or maximum): ``(point, steps there)``.

    A candidate (the end, or a stretch of at least max(10, 10% of the path) points that stay
    within 0.2% of the box diagonal) counts when ``|∇f| <= 1e-3 · grad_scale`` there and the
    Hessian's smallest eigenvalue is below ``-1e-6 · max|λ|``: a point of zero gradient that is
    not a minimum.
    """
    import torch

    path = np.asarray(path, dtype=float)
    path = path[np.isfinite(path).all(axis=1)]
    if len(path) == 0:
        return []
    cands = _dwell_points(path, box, max(10, len(path) // 10))
    P = torch.as_tensor(np.array([c[0] for c in cands]), dtype=torch.float64)
    g = landscape.grad(P).norm(dim=-1)
    ev = torch.linalg.eigvalsh(landscape.hessian(P))
    out = []
    for (pt, n), gn, e in zip(cands, g.tolist(), ev, strict=True):
        lam = e.abs().max().item()
        if gn <= STALL_GRAD_REL * grad_scale and e[0].item() < -STALL_NEG_REL * max(lam, 1e-300):
            out.append((pt, n))
    return out


def _grad_scale(landscape: Landscape, box: Any) -> float:
    """The median gradient norm on a 16 x 16 grid over the box (a scale for 'small gradient')."""
    import torch

    (x0, x1), (y0, y1) = box
    xs = torch.linspace(x0, x1, 16, dtype=torch.float64)
    ys = torch.linspace(y0, y1, 16, dtype=torch.float64)
    P = torch.cartesian_prod(xs, ys)
    g = landscape.grad(P).norm(dim=-1)
    g = g[torch.isfinite(g)]
    return float(g.median()) if g.numel() else 1.0


def _exit_point(path: np.ndarray, box: Any) -> np.ndarray | None:
    """Where the path first leaves the box, on the box's edge (``None`` if it stays inside)."""
    (x0, x1), (y0, y1) = box
    inside = (path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1)
    if inside.all() or not inside[0]:
        return None
    k = int(np.argmin(inside))  # first point outside
    a, b = path[k - 1], path[k]
    if not np.isfinite(b).all():
        return np.clip(a, [x0, y0], [x1, y1])
    t = 1.0
    for dim, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
        d = b[dim] - a[dim]
        if d > 0 and b[dim] > hi:
            t = min(t, (hi - a[dim]) / d)
        elif d < 0 and b[dim] < lo:
            t = min(t, (lo - a[dim]) / d)
    return a + t * (b - a)


def _draw_runs_2d(
    ax: Axes,
    runs: dict[str, Any],
    max_paths: int | None,
    landscape: Landscape | None = None,
    box: Any = None,
) -> list[Any]:
    """Paths (longest underneath), start/end markers, rings where a run stalled at a saddle and
    a marker where a path left the frame. Returns the legend handles."""
    colors = style.optimizer_colors(list(runs))
    handles: dict[str, Any] = {}
    if box is None:
        box = (ax.get_xlim(), ax.get_ylim())
    order = drawing_order(runs, max_paths, box)
    widths = dict(zip(order, path_widths(len(order)), strict=True))
    grad_scale = _grad_scale(landscape, box) if landscape is not None else 0.0
    n_stall, n_exit = 0, 0
    stall_notes: dict[tuple[float, float], list[str]] = {}
    for rank, label in enumerate(order):
        traj = runs[label]
        color, lw = colors[label], widths[label]
        B = np.asarray(traj.positions).shape[1]
        starts, ends = [], []
        first = True
        for row in pick_rows(B, max_paths):
            path = row_path(traj, row)
            if len(path) == 0:
                continue
            shown = _mask_outside(path, box)  # gaps where it left the frame, no tangle at edges
            (ln,) = ax.plot(
                shown[:, 0],
                shown[:, 1],
                "-",
                color=color,
                lw=lw,
                alpha=0.95,
                zorder=5 + 0.01 * rank,
                label=label if first else "_nolegend_",
                solid_capstyle="round",
                # a white casing: a path drawn over another (same start, same first steps)
                # stays a separate line instead of merging into the one below
                path_effects=[
                    patheffects.Stroke(linewidth=lw + 1.6, foreground="white", alpha=0.85),
                    patheffects.Normal(),
                ],
            )
            ln.set_gid(f"path:{label}:{row}")
            if first:
                handles[label] = ln
            first = False
            starts.append(path[0])
            ends.append(path[-1])
            exit_at = _exit_point(path, box)
            if exit_at is not None:
                ax.scatter(
                    [exit_at[0]], [exit_at[1]], marker="D", s=40, c=color, edgecolors="black",
                    linewidths=0.8, zorder=8.5, clip_on=False,
                ).set_gid(f"exit:{label}:{row}")  # fmt: skip
                n_exit += 1
            if landscape is not None:
                for pt, n in saddle_stalls(landscape, path, box, grad_scale):
                    stall_notes.setdefault((round(pt[0], 3), round(pt[1], 3)), []).append(
                        f"{label} ({n} step{'s' if n != 1 else ''})"
                    )
                    ax.scatter(
                        [pt[0]], [pt[1]], marker="o", s=330 + 170 * n_stall, facecolors="none",
                        edgecolors=color, linewidths=2.4, zorder=8.6,
                    ).set_gid(f"stall:{label}:{row}:{n}")  # fmt: skip
                    n_stall += 1
        if starts:
            s = np.asarray(starts)
            e = np.asarray(ends)
            ax.scatter(s[:, 0], s[:, 1], edgecolors=color, **style.START_MARKER).set_gid(
                f"start:{label}"
            )
            ax.scatter(e[:, 0], e[:, 1], c=color, **style.END_MARKER).set_gid(f"end:{label}")
    for (x, y), who in stall_notes.items():  # say who stopped there, under the rings
        ax.annotate(
            "stopped here: " + ", ".join(who),
            (x, y),
            xytext=(-18, -18 - 4 * len(who)),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=style.LABEL_FONTSIZE - 0.5,
            zorder=9,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "lw": 0.6, "alpha": 0.9},
        ).set_gid("stall-label")
    out = [handles[lab] for lab in runs if lab in handles]
    if out:
        out.append(
            Line2D([], [], ls="none", marker="o", mfc="white", mec="0.25", mew=1.6, label="start")
        )
        out.append(Line2D([], [], ls="none", marker="s", mfc="0.25", mec="white", label="end"))
    if n_stall:
        out.append(
            Line2D(
                [], [], ls="none", marker="o", ms=13, mfc="none", mec="0.25", mew=2.0,
                label="stopped at a saddle",
            )
        )  # fmt: skip
    if n_exit:
        out.append(
            Line2D(
                [], [], ls="none", marker="D", ms=6, mfc="0.5", mec="black", label="left the frame"
            )
        )
    return out


def plot_contour(
    landscape: Landscape,
    runs: Any = None,
    *,
    ax: Axes | None = None,
    levels: int = 28,
    resolution: int = 220,
    label_critical_points: bool | None = None,
    show_critical_points: bool = True,
    max_paths: int | None = 12,
    title: str | None = None,
    domain: Any = None,
) -> Figure:
    """Contour map of a 2-D landscape with runs and its critical points labelled.

    Args:
        landscape: a 2-D ``Landscape`` with a domain.
        runs: a ``Trajectory``, a ``Race`` or a mapping ``label -> Trajectory`` (or ``None``).
            Each optimizer gets one colour; every drawn row is a line from a start marker (open
            circle) to an end marker (square), cut at the row's stop step.
        ax: draw into this axes instead of a new figure.
        levels: number of contour levels (placed at quantiles of the values on the grid).
        resolution: grid points per axis.
        label_critical_points: ``None`` labels all points when there are at most 12, else only
            the global minima; ``True``/``False`` force it.
        show_critical_points: draw the known critical points (one marker per kind).
        max_paths: at most this many rows per optimizer (spread evenly); ``None`` for all.
        title: the axes title (default: the landscape's name).
        domain: the plotting box ``((x0, x1), (y0, y1))`` (default: the landscape's domain).

    Returns:
        The ``Figure`` (save it with :func:`descentlab.viz.save_figure`).

    Example:
        >>> from descentlab.landscapes.base import Landscape
        >>> bowl = Landscape(lambda P: (P**2).sum(-1), 2, name="bowl", domain=(-1, 1))
        >>> fig = plot_contour(bowl)
        >>> fig.axes[0].get_title()
        'bowl'
    """
    require_2d(landscape, "a contour map")
    if resolution < 8:
        raise InvalidParameterError(f"resolution must be >= 8, got {resolution}")
    runs = as_runs(runs)
    box = plot_box(landscape, domain)
    with style.context():
        if ax is None:
            fig = new_figure(style.FIGSIZE_CONTOUR)
            # final geometry before labels are placed (they are placed in display pixels);
            # the right margin holds the legend
            fig.subplots_adjust(left=0.09, right=0.73, bottom=0.1, top=0.93)
            ax = fig.add_subplot()
        else:
            fig = ax.figure  # type: ignore[assignment]
        X, Y, Z = grid_values(landscape, resolution, box)
        lv = contour_levels(Z, levels)
        ax.contourf(X, Y, Z, levels=lv, cmap=style.CONTOUR_CMAP, alpha=0.3, extend="both")
        ax.contour(X, Y, Z, levels=lv, colors="0.4", linewidths=0.45, alpha=0.7, linestyles="solid")
        (x0, x1), (y0, y1) = box
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(landscape.name if title is None else title)
        ax.set_aspect("auto")
        handles = _draw_runs_2d(ax, runs, max_paths, landscape, box)
        if show_critical_points:
            ends = []
            for traj in runs.values():
                B = np.asarray(traj.positions).shape[1]
                for row in pick_rows(B, max_paths):
                    p = row_path(traj, row)
                    if len(p):
                        ends += [tuple(p[0]), tuple(p[-1])]
            draw_critical_points(
                ax, landscape, label=label_critical_points, obstacles=ends, box=box
            )
        kind_handles = [h for h in ax.collections if str(h.get_gid()).startswith("critical:")]
        all_handles = handles + kind_handles
        if all_handles:
            leg = ax.legend(
                handles=all_handles,
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                borderaxespad=0.0,
                scatterpoints=1,
            )
            fit_legend(fig, leg)
    return fig  # type: ignore[return-value]


def fit_legend(fig: Figure, legend: Any, pad_px: float = 8.0) -> None:
    """Widen ``fig`` so an outside legend is not cut off, keeping every axes' size in inches.

    A saved figure with ``bbox_inches='tight'`` would show it anyway, but animation frames are
    the canvas as it is: there a long label (``momentum(lr=0.05, momentum=0.9)``) was cut.
    """
    fig.canvas.draw()
    right = legend.get_window_extent().x1
    width_px = fig.get_figwidth() * fig.dpi
    over = right + pad_px - width_px
    if over <= 0:
        return
    old_w = fig.get_figwidth()
    new_w = old_w + over / fig.dpi
    boxes = [a.get_position() for a in fig.axes]
    fig.set_figwidth(new_w)
    for a, b in zip(fig.axes, boxes, strict=True):  # same inches from the left edge
        a.set_position((b.x0 * old_w / new_w, b.y0, b.width * old_w / new_w, b.height))


def _mask_outside(path: np.ndarray, box: Any) -> np.ndarray:
    """The path with points outside the plotting box set to NaN (3-D lines are not clipped)."""
    (x0, x1), (y0, y1) = box
    inside = (path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1)
    out = path.astype(float).copy()
    out[~inside] = np.nan
    return out


def densify_path(path: np.ndarray, box: Any, n: int = 160) -> np.ndarray:
    """The path with points added along each step, at most ``1/n`` of the box diagonal apart.

    On a 3-D surface a step is drawn as a chord from ``(p_k, f(p_k))`` to ``(p_{k+1},
    f(p_{k+1}))``; over a valley a long step's chord floats far above the surface (momentum's
    jumps did). Lifting the intermediate points to ``f`` keeps the drawn path on the surface.
    Rows of NaN (points outside the box) stay gaps.
    """
    path = np.asarray(path, dtype=float)
    if len(path) < 2:
        return path
    (x0, x1), (y0, y1) = box
    gap = float(np.hypot(x1 - x0, y1 - y0)) / n
    out = [path[:1]]
    for a, b in itertools.pairwise(path):
        if np.isfinite(a).all() and np.isfinite(b).all():
            k = max(1, int(np.ceil(np.hypot(*(b - a)) / gap)))
            t = np.linspace(0.0, 1.0, k + 1)[1:, None]
            out.append(a + t * (b - a))
        else:
            out.append(b[None, :])
    return np.concatenate(out)


def plot_surface(
    landscape: Landscape,
    runs: Any = None,
    *,
    resolution: int = 70,
    label_critical_points: bool | None = None,
    show_critical_points: bool = True,
    max_paths: int | None = 12,
    elev: float = 34.0,
    azim: float = -58.0,
    title: str | None = None,
    figsize: tuple[float, float] = style.FIGSIZE,
    domain: Any = None,
    zmax: float | None = None,
) -> Figure:
    """The 3-D surface ``z = f(x, y)`` with the runs' paths on it and critical points labelled.

    Paths are drawn on the surface, at height ``f`` at every drawn point (the recorded positions,
    cut at each row's stop, masked where they leave the plotting box, with points added along
    long steps so a step follows the surface instead of a chord through the air; see
    :func:`densify_path`); critical points are drawn at ``(x, y, f)``.
    Labels are placed in the projected view so they do not overlap. ``domain`` overrides the
    plotting box ``((x0, x1), (y0, y1))``; the other arguments are as for
    :func:`plot_contour`, plus the view angles ``elev``/``azim`` (degrees) and ``zmax``, a cap
    on the drawn height (the surface is flattened above it, so deep, narrow wells stay visible
    next to steep walls).

    Example:
        >>> from descentlab.landscapes.base import Landscape
        >>> bowl = Landscape(lambda P: (P**2).sum(-1), 2, name="bowl", domain=(-1, 1))
        >>> fig = plot_surface(bowl)
        >>> fig.axes[0].name
        '3d'
    """
    from mpl_toolkits.mplot3d import proj3d

    require_2d(landscape, "a surface plot")
    if resolution < 8:
        raise InvalidParameterError(f"resolution must be >= 8, got {resolution}")
    runs = as_runs(runs)
    box = plot_box(landscape, domain)
    with style.context():
        fig = new_figure(figsize)
        ax = fig.add_subplot(projection="3d", computed_zorder=False)
        X, Y, Z = grid_values(landscape, resolution, box)
        if zmax is not None:
            Z = np.minimum(Z, float(zmax))
        zmin, ztop = float(np.nanmin(Z)), float(np.nanmax(Z))
        lift = 0.01 * (ztop - zmin if ztop > zmin else 1.0)
        ax.plot_surface(
            X,
            Y,
            Z,
            cmap=style.SURFACE_CMAP,
            alpha=0.78,
            linewidth=0.15,
            edgecolor="0.3",
            antialiased=True,
            zorder=1,
        )
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_zlabel("f(x, y)")
        ax.set_title(landscape.name if title is None else title)
        colors = style.optimizer_colors(list(runs))
        handle_of: dict[str, Any] = {}
        order = drawing_order(runs, max_paths, box)  # short paths over long ones, as on contours
        widths = dict(zip(order, path_widths(len(order)), strict=True))
        for rank, label in enumerate(order):
            traj, lw = runs[label], widths[label]
            B = np.asarray(traj.positions).shape[1]
            first = True
            for row in pick_rows(B, max_paths):
                p = densify_path(_mask_outside(row_path(traj, row), box), box)
                ok = np.all(np.isfinite(p), axis=1)
                if not ok.any():
                    continue
                z = np.full(len(p), np.nan)
                z[ok] = np.minimum(landscape.value(p[ok]).detach().numpy(), Z.max()) + lift
                (ln,) = ax.plot(
                    p[:, 0],
                    p[:, 1],
                    z,
                    "-",
                    color=colors[label],
                    lw=lw,
                    zorder=5 + 0.01 * rank,
                    label=label if first else "_nolegend_",
                    path_effects=[
                        patheffects.Stroke(linewidth=lw + 1.4, foreground="white", alpha=0.8),
                        patheffects.Normal(),
                    ],
                )
                ln.set_gid(f"path:{label}:{row}")
                if ok[0]:
                    ax.scatter(
                        [p[0, 0]], [p[0, 1]], [z[0]], edgecolors=colors[label], **style.START_MARKER
                    )
                if ok[-1]:
                    ax.scatter([p[-1, 0]], [p[-1, 1]], [z[-1]], c=colors[label], **style.END_MARKER)
                if first:
                    handle_of[label] = ln
                first = False
        handles: list[Any] = [handle_of[lab] for lab in runs if lab in handle_of]
        ax.set_xlim(*box[0])
        ax.set_ylim(*box[1])
        ax.set_zlim(zmin, ztop + 2 * lift)
        kind_handles = []
        if show_critical_points:
            cps = critical_points_in_domain(landscape, box)
            cps = sorted(cps, key=lambda c: (not c.is_global, c.kind, c.point))
            for key, ks in style.KIND_STYLES.items():
                sel = [c for c in cps if style.critical_kind_key(c.kind, c.is_global) == key]
                if not sel:
                    continue
                arr = np.asarray([[*c.point, c.value + lift] for c in sel], dtype=float)
                sc = ax.scatter(
                    arr[:, 0],
                    arr[:, 1],
                    arr[:, 2],
                    marker=ks.marker,
                    s=ks.size,
                    c=ks.color,
                    label=ks.label,
                    zorder=8,
                    depthshade=False,
                    **style.MARKER_EDGE,
                )
                sc.set_gid(f"critical:{key}")
                kind_handles.append(sc)
            flags = _labelled(cps, label_critical_points)
            M = ax.get_proj()
            proj = [
                proj3d.proj_transform(c.point[0], c.point[1], c.value + lift, M)[:2] for c in cps
            ]
            idx = [i for i, f in enumerate(flags) if f]
            place_labels(
                ax,
                [(float(proj[i][0]), float(proj[i][1])) for i in idx],
                [critical_point_label(cps[i]) for i in idx],
                gids=[f"critical-label:{i}" for i in idx],
                obstacles=[(float(p[0]), float(p[1])) for i, p in enumerate(proj) if not flags[i]],
                avoid_ticks=True,
                fontsize=style.LABEL_FONTSIZE,
                zorder=9,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "lw": 0.6},
            )
        if handles:
            handles += [
                Line2D(
                    [], [], ls="none", marker="o", mfc="white", mec="0.25", mew=1.6, label="start"
                ),
                Line2D([], [], ls="none", marker="s", mfc="0.25", mec="white", label="end"),
            ]
        if handles or kind_handles:
            ax.legend(
                handles=handles + kind_handles,
                loc="upper left",
                bbox_to_anchor=(1.12, 0.92),
                scatterpoints=1,
            )
    return fig
