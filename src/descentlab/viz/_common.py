"""Helpers shared by the figure modules: saving, run normalisation, label placement."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from descentlab.analysis.outcomes import OUTCOME_SHORT_LABELS
from descentlab.errors import DimensionError, InvalidParameterError
from descentlab.io import atomic_path
from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.validate import check_choice
from descentlab.viz import style

FORMATS = ("png", "svg")


def save_figure(fig: Figure, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``fig`` atomically to ``path`` (format from ``fmt`` or the suffix: png or svg).

    PNG metadata is pinned so the same figure gives the same bytes. Returns the written path
    (``.png``/``.svg`` appended when ``path`` lacks it).

    Example:
        >>> from descentlab.landscapes import get_landscape
        >>> from descentlab.viz import plot_contour
        >>> fig = plot_contour(get_landscape("double_well"), resolution=30)
        >>> save_figure(fig, "double_well", fmt="svg").name  # doctest: +SKIP
        'double_well.svg'
    """
    target = Path(path)
    fmt = (fmt or target.suffix.lstrip(".") or "png").lower()
    check_choice("format", fmt, FORMATS)
    if target.suffix.lower() != f".{fmt}":
        target = target.with_name(target.name + f".{fmt}")
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    ensure_folder(target.parent)
    with style.context(), atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, metadata=metadata)
    return target


def ensure_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and its parents) or say clearly why it cannot be."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidParameterError(f"cannot write into {str(path)!r}: it is a file") from None
    except OSError as exc:
        raise InvalidParameterError(
            f"cannot create the folder {str(path)!r}: {exc.strerror or exc}"
        ) from None
    if not path.is_dir():
        raise InvalidParameterError(f"cannot write into {str(path)!r}: not a folder")
    return path


def as_runs(runs: Any) -> dict[str, Any]:
    """A ``Race`` / mapping ``label -> Trajectory`` / one ``Trajectory`` / ``None`` -> a dict."""
    if runs is None:
        return {}
    if isinstance(runs, Mapping):
        return {str(k): v for k, v in runs.items()}
    if hasattr(runs, "positions"):
        return {str(getattr(runs, "optimizer", None) or "run"): runs}
    if isinstance(runs, Sequence):
        out: dict[str, Any] = {}
        for i, t in enumerate(runs):
            label = str(getattr(t, "optimizer", None) or f"run {i}")
            out[label if label not in out else f"{label} #{i}"] = t
        return out
    raise InvalidParameterError(
        f"expected a Trajectory, a Race or a mapping label -> Trajectory, got {type(runs).__name__}"
    )


def row_path(traj: Any, row: int) -> np.ndarray:
    """Recorded positions of one row up to its stop, ending at its final point, finite points
    only: ``(k, d)`` (``Trajectory.path`` when the trajectory has it)."""
    if hasattr(traj, "path"):
        pos = np.asarray(traj.path(row), dtype=float)
    else:
        pos = np.asarray(traj.positions)[:, row, :]
        steps = np.asarray(traj.record_steps)
        stop = getattr(traj, "stop_step", None)
        if stop is not None:
            keep = steps <= np.asarray(stop)[row]
            pos = pos[keep] if keep.any() else pos[:1]
    finite = np.all(np.isfinite(pos), axis=1)
    if not finite.all():
        pos = pos[: int(np.argmin(finite))]  # up to the first non-finite record
    return pos


def pick_rows(n_rows: int, max_rows: int | None) -> list[int]:
    """At most ``max_rows`` row indices spread evenly over ``range(n_rows)``."""
    if max_rows is None or n_rows <= max_rows:
        return list(range(n_rows))
    return sorted({int(x) for x in np.rint(np.linspace(0, n_rows - 1, max_rows))})


def require_2d(landscape: Landscape, what: str) -> None:
    if landscape.dim != 2:
        raise DimensionError(
            f"{what} needs a 2-D landscape; {landscape.name} has dimension {landscape.dim}"
        )


def plot_box(landscape: Landscape, domain: Any = None) -> tuple[tuple[float, float], ...]:
    """The plotting box: ``domain`` (one ``(lo, hi)`` per axis, validated) or the landscape's."""
    if domain is None:
        return landscape.require_domain()
    arr = np.asarray(domain, dtype=float)
    if (
        arr.shape != (landscape.dim, 2)
        or not np.all(np.isfinite(arr))
        or np.any(arr[:, 0] >= arr[:, 1])
    ):
        raise InvalidParameterError(
            f"domain must be {landscape.dim} finite (lo, hi) pairs with lo < hi, got {domain!r}"
        )
    return tuple((float(lo), float(hi)) for lo, hi in arr)


def grid_values(
    landscape: Landscape, resolution: int, box: tuple[tuple[float, float], ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, Y, Z)`` on a ``resolution x resolution`` grid of a 2-D box (``Z[i, j] = f(X, Y)``)."""
    (x0, x1), (y0, y1) = box
    xs = np.linspace(x0, x1, resolution)
    ys = np.linspace(y0, y1, resolution)
    X, Y = np.meshgrid(xs, ys)
    Z = landscape.value(np.stack([X.ravel(), Y.ravel()], axis=1)).detach().numpy()
    return X, Y, Z.reshape(X.shape)


def critical_points_in_domain(landscape: Landscape, box: Any = None) -> list[CriticalPoint]:
    """The landscape's known critical points inside ``box`` (default: its plotting domain)."""
    cps = landscape.critical_points or []
    dom = landscape.domain if box is None else box
    if dom is None:
        return list(cps)
    out = []
    for c in cps:
        if all(lo - 1e-9 <= x <= hi + 1e-9 for x, (lo, hi) in zip(c.point, dom, strict=False)):
            out.append(c)
    return out


def short_kind_label(c: CriticalPoint) -> str:
    """``"global min"``, ``"local min"``, ``"saddle"``, ``"max"``, ``"degenerate"``."""
    return OUTCOME_SHORT_LABELS[style.critical_kind_key(c.kind, c.is_global)]


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


# Candidate label offsets (points), nearest first: right, left, up, down, then the diagonals.
_OFFSETS = [
    (9, -4),
    (-9, -4),
    (0, 9),
    (0, -15),
    (8, 7),
    (-8, 7),
    (8, -14),
    (-8, -14),
    (16, -4),
    (-16, -4),
    (0, 18),
    (0, -24),
]


def place_labels(
    ax: Axes,
    xy: Sequence[tuple[float, float]],
    texts: Sequence[str],
    *,
    gids: Sequence[str] | None = None,
    obstacles: Sequence[tuple[float, float]] = (),
    marker_radius_px: float = 9.0,
    avoid_ticks: bool = False,
    **text_kw: Any,
) -> list[Any]:
    """Annotate ``xy`` with ``texts`` so labels overlap neither each other nor the markers.

    Greedy: each label tries a ring of offsets around its point (nearest first) and takes the
    one with the least overlap (in display pixels) with labels already placed, with every
    marker (``xy`` and ``obstacles``), with the outside of the axes and, with
    ``avoid_ticks``, with the tick labels (for 3-D axes, whose ticks sit inside the axes box).
    """
    fig = ax.figure
    canvas = fig.canvas
    renderer = canvas.get_renderer() if hasattr(canvas, "get_renderer") else fig._get_renderer()
    pts = [*xy, *obstacles]
    disp = ax.transData.transform(np.asarray(pts, dtype=float)) if pts else np.zeros((0, 2))
    r = marker_radius_px
    marker_boxes = [Bbox([[x - r, y - r], [x + r, y + r]]) for x, y in disp]
    axes_box = ax.get_window_extent(renderer)
    placed: list[Bbox] = []
    if avoid_ticks:  # tick labels are obstacles too (a draw lays them out first)
        fig.draw_without_rendering()
        for get in ("get_xticklabels", "get_yticklabels", "get_zticklabels"):
            for t in getattr(ax, get, list)():
                if t.get_visible() and t.get_text():
                    placed.append(t.get_window_extent(renderer))
    artists = []
    for i, ((x, y), text) in enumerate(zip(xy, texts, strict=True)):
        best = None
        for j, (dx, dy) in enumerate(_OFFSETS):
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            ann = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va="bottom",
                **text_kw,
            )
            bb = ann.get_window_extent(renderer).padded(2)
            cost = sum(_overlap(bb, p) for p in placed)
            cost += sum(_overlap(bb, m) for k, m in enumerate(marker_boxes) if k != i)
            inside = _overlap(bb, axes_box)
            cost += 4.0 * (bb.width * bb.height - inside)
            cost += 0.01 * j  # prefer the nearer offsets on ties
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, bb)
            else:
                ann.remove()
            if cost < 0.05:
                break
        assert best is not None
        ann = best[1]
        if gids is not None:
            ann.set_gid(gids[i])
        placed.append(best[2])
        artists.append(ann)
    return artists


def new_figure(figsize: tuple[float, float] = style.FIGSIZE) -> Figure:
    """A pyplot-free ``Figure`` (no global state, freed when dropped) with descentlab's rc."""
    with style.context():
        fig = Figure(figsize=figsize, dpi=style.DPI)
    FigureCanvasAgg(fig)
    return fig
