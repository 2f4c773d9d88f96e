"""Basin maps: a grid of starts coloured by where each optimizer took them, side by side.

The answer to "from where does this optimizer reach the global minimum?". Each cell of a panel
is one start; its colour says the row's outcome (``analysis.diagnose``): which minimum (shades
of green for global minima, of blue for local ones), which saddle (red), a maximum, a
degenerate point, a plateau, diverged (black) or still moving (yellow). Critical points are
drawn on top with their usual markers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap, to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import Landscape
from descentlab.viz import style
from descentlab.viz._common import as_runs, critical_points_in_domain, new_figure, require_2d


@dataclass(frozen=True)
class BasinCategory:
    """One colour of a basin map: an outcome kind, and the critical point when there is one."""

    kind: str
    point: tuple[float, ...] | None
    label: str
    color: str


def _shade(color: str, i: int, n: int) -> str:
    """The ``i``-th of ``n`` shades of ``color`` (from the colour itself towards white/black)."""
    if n <= 1:
        return color
    rgb = np.array(to_rgb(color))
    t = i / (n - 1)
    # alternate lighter and darker so neighbours in the list stay apart
    mixed = rgb + (1 - rgb) * 0.55 * t if i % 2 == 0 else rgb * (1 - 0.45 * t)
    return to_hex(np.clip(mixed, 0, 1))


def _fmt_pt(p: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{x:.3g}" for x in p) + ")"


def outcome_categories(diagnoses: Mapping[str, Any]) -> tuple[list[BasinCategory], dict]:
    """The categories present in some diagnoses, in a stable order, and a lookup
    ``(kind, point) -> category index``."""
    seen: dict[str, list[tuple[float, ...] | None]] = {}
    for diag in diagnoses.values():
        for o in diag:
            cp = getattr(o, "critical_point", None)
            pt = None if cp is None else tuple(round(float(x), 9) for x in cp.point)
            lst = seen.setdefault(o.kind, [])
            if pt not in lst:
                lst.append(pt)
    cats: list[BasinCategory] = []
    lookup: dict[tuple[str, Any], int] = {}
    for kind in style.OUTCOME_COLORS:
        pts = sorted(seen.get(kind, []), key=lambda p: (p is None, p or ()))
        for i, pt in enumerate(pts):
            base = style.OUTCOME_LABELS[kind]
            label = base if pt is None else f"{base} {_fmt_pt(pt)}"
            lookup[(kind, pt)] = len(cats)
            cats.append(
                BasinCategory(kind, pt, label, _shade(style.outcome_color(kind), i, len(pts)))
            )
    return cats, lookup


def grid_shape(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For starts on a regular 2-D grid: ``(xs, ys, iy, ix)`` with row ``r`` at cell
    ``(iy[r], ix[r])``. Raises when the starts are not a full grid."""
    S = np.asarray(starts, dtype=float)
    if S.ndim != 2 or S.shape[1] != 2:
        raise InvalidParameterError("a basin map needs 2-D starts")
    xs = np.unique(S[:, 0])
    ys = np.unique(S[:, 1])
    if xs.size * ys.size != S.shape[0] or xs.size < 2 or ys.size < 2:
        raise InvalidParameterError(
            "a basin map needs the starts of a full grid (e.g. engine.grid_starts(landscape, 41)); "
            f"got {S.shape[0]} starts on {xs.size} x {ys.size} distinct coordinates"
        )
    ix = np.searchsorted(xs, S[:, 0])
    iy = np.searchsorted(ys, S[:, 1])
    if len(set(zip(ix.tolist(), iy.tolist(), strict=True))) != S.shape[0]:
        raise InvalidParameterError("a basin map needs each grid cell started exactly once")
    return xs, ys, iy, ix


def plot_basins(
    landscape: Landscape,
    runs: Any,
    diagnoses: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    ncols: int | None = None,
) -> Figure:
    """Side-by-side basin maps: one panel per optimizer, one cell per start of a grid.

    Args:
        landscape: the 2-D landscape the runs ran on.
        runs: a ``Race`` / mapping ``label -> Trajectory`` (or one ``Trajectory``) whose starts
            form a full grid (``engine.grid_starts``).
        diagnoses: ``label -> Diagnosis``; computed with ``analysis.diagnose`` when omitted.
        title: the figure title.
        ncols: panels per row (default: all in one row up to 5).

    The panels' images carry gids ``basin:<label>`` and their arrays hold category indices
    (``fig.basin_categories`` lists the categories, in order).

    Example:
        >>> from descentlab.landscapes import get_landscape
        >>> from descentlab.engine import run, grid_starts
        >>> L = get_landscape("double_well")
        >>> race = run(L, ["gd"], grid_starts(L, 5), steps=300, lr=0.05)
        >>> fig = plot_basins(L, race)
        >>> [c.label for c in fig.basin_categories]  # doctest: +NORMALIZE_WHITESPACE
        ['global minimum (-1, 0)', 'global minimum (1, 0)', 'saddle (0, 0)']
    """
    require_2d(landscape, "a basin map")
    runs = as_runs(runs)
    if not runs:
        raise InvalidParameterError("plot_basins needs at least one run")
    if diagnoses is None:
        from descentlab.analysis.diagnose import diagnose

        diagnoses = {lab: diagnose(t, landscape) for lab, t in runs.items()}
    missing = [lab for lab in runs if lab not in diagnoses]
    if missing:
        raise InvalidParameterError(f"no diagnosis for {', '.join(missing)}")
    cats, lookup = outcome_categories({lab: diagnoses[lab] for lab in runs})
    cmap = ListedColormap([c.color for c in cats]) if cats else ListedColormap(["white"])
    n = len(runs)
    ncols = min(n, 5) if ncols is None else max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    cps = critical_points_in_domain(landscape)
    (x0, x1), (y0, y1) = landscape.require_domain()
    with style.context():
        fig = new_figure((style.PANEL_SIZE[0] * ncols + 0.3, style.PANEL_SIZE[1] * nrows + 0.9))
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, (label, traj) in zip(axes, runs.items(), strict=False):
            xs, ys, iy, ix = grid_shape(np.asarray(traj.starts))
            img = np.full((ys.size, xs.size), -1, dtype=int)
            for r, o in enumerate(diagnoses[label]):
                cp = getattr(o, "critical_point", None)
                pt = None if cp is None else tuple(round(float(x), 9) for x in cp.point)
                img[iy[r], ix[r]] = lookup[(o.kind, pt)]
            dx = (xs[-1] - xs[0]) / (xs.size - 1) / 2
            dy = (ys[-1] - ys[0]) / (ys.size - 1) / 2
            im = ax.imshow(
                np.ma.masked_less(img, 0),
                origin="lower",
                extent=(xs[0] - dx, xs[-1] + dx, ys[0] - dy, ys[-1] + dy),
                cmap=cmap,
                vmin=-0.5,
                vmax=max(len(cats), 1) - 0.5,
                interpolation="nearest",
                aspect="auto",
            )
            im.set_gid(f"basin:{label}")
            for key, ks in style.KIND_STYLES.items():
                sel = [c for c in cps if style.critical_kind_key(c.kind, c.is_global) == key]
                if sel:
                    ax.scatter(
                        [c.point[0] for c in sel],
                        [c.point[1] for c in sel],
                        marker=ks.marker,
                        s=ks.size * 0.6,
                        c="white",
                        edgecolors="black",
                        linewidths=1.0,
                        zorder=5,
                    ).set_gid(f"critical:{key}")
            share = _global_share(diagnoses[label])
            ax.set_title(f"{label}\n{share:.0%} of starts reach a global minimum", fontsize=9.5)
            ax.set_xlim(min(x0, xs[0] - dx), max(x1, xs[-1] + dx))
            ax.set_ylim(min(y0, ys[0] - dy), max(y1, ys[-1] + dy))
            ax.set_xlabel("start x")
            ax.set_ylabel("start y")
        for ax in axes[n:]:
            ax.set_visible(False)
        handles = [Patch(facecolor=c.color, edgecolor="0.3", label=c.label) for c in cats]
        fig.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(len(handles), 4) or 1,
            frameon=False,
            title="where the run ended (white markers: critical points)",
        )
        fig.suptitle(title or f"Basins on {landscape.name}: where each start ends")
        fig.tight_layout()
    fig.basin_categories = cats  # type: ignore[attr-defined]
    return fig


def _global_share(diag: Any) -> float:
    kinds = [o.kind for o in diag]
    return (sum(k == "global_minimum" for k in kinds) / len(kinds)) if kinds else 0.0
