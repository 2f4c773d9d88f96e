"""One visual language for every descentlab figure.

Critical points always get the same colour *and* marker per kind (so the figures read in grey
too): global minimum, local minimum, saddle, maximum, degenerate. Run outcomes (from
``analysis.diagnose``) reuse those colours, plus their own for plateau, diverged and still
moving. Optimizers get stable colours from the Okabe–Ito palette (readable by colour-blind
viewers) keyed by name, so ``adam`` is the same colour in every figure of a session.

Use it like this::

    from descentlab.viz import style
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE)
        s = style.kind_style("saddle")
        ax.scatter([0], [0], marker=s.marker, c=s.color, s=s.size, **style.MARKER_EDGE)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt

from descentlab.analysis import outcomes


@dataclass(frozen=True)
class KindStyle:
    """How one kind of point is drawn: legend label, face colour, marker, marker area (pt^2)."""

    label: str
    color: str
    marker: str
    size: float


# Critical points, keyed by "global_minimum", "local_minimum", "saddle", "maximum", "degenerate":
# the outcome vocabulary's labels and colours, with a marker and size of their own.
_MARKERS = {
    "global_minimum": ("*", 260.0),
    "local_minimum": ("o", 120.0),
    "saddle": ("X", 150.0),
    "maximum": ("^", 130.0),
    "degenerate": ("D", 100.0),
}
KIND_STYLES: dict[str, KindStyle] = {
    k: KindStyle(outcomes.OUTCOME_LABELS[k], outcomes.OUTCOME_COLORS[k], *_MARKERS[k])
    for k in outcomes.CRITICAL_POINT_KINDS
}

# Run outcomes (``Outcome.kind``): read from the one vocabulary, never spelled here.
OUTCOME_COLORS: dict[str, str] = dict(outcomes.OUTCOME_COLORS)
OUTCOME_LABELS: dict[str, str] = dict(outcomes.OUTCOME_LABELS)

# Okabe–Ito, minus the yellow (invisible on light contours); fixed names first.
OPTIMIZER_PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#8C564B",  # brown
)
FIXED_OPTIMIZER_COLORS: dict[str, str] = {
    "gd": "#0072B2",
    "sgd": "#0072B2",
    "momentum": "#E69F00",
    "nesterov": "#8C564B",
    "adam": "#CC79A7",
    "newton": "#D55E00",
    "perturbed_gd": "#009E73",
    "saddle_free_newton": "#56B4E9",
    "noisy_gd": "#000000",
}

# Sizes (inches) and fonts.
FIGSIZE = (7.0, 5.6)  # one surface panel
FIGSIZE_CONTOUR = (8.4, 5.6)  # one contour panel plus its legend on the right
FIGSIZE_WIDE = (10.0, 4.2)  # curves side by side
PANEL_SIZE = (3.6, 3.5)  # one panel of a side-by-side grid (basin maps)
DPI = 130
LINEWIDTH = 1.9
START_MARKER = {"marker": "o", "s": 46.0, "facecolors": "white", "linewidths": 1.6, "zorder": 6}
END_MARKER = {"marker": "s", "s": 46.0, "edgecolors": "white", "linewidths": 0.9, "zorder": 6}
MARKER_EDGE = {"edgecolors": "black", "linewidths": 0.9}
CONTOUR_CMAP = "Greys_r"
SURFACE_CMAP = "viridis"
LABEL_FONTSIZE = 8.5

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10.0,
    "axes.titlesize": 11.5,
    "axes.labelsize": 10.5,
    "legend.fontsize": 8.5,
    "legend.framealpha": 0.92,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "figure.dpi": DPI,
    "svg.fonttype": "none",  # SVG text stays text (searchable, small)
    "svg.hashsalt": "descentlab",  # deterministic SVG ids
}


def context() -> contextlib.AbstractContextManager[None]:
    """A ``matplotlib.rc_context`` with descentlab's fonts and sizes."""
    return plt.rc_context(RC)


def critical_kind_key(kind: str, is_global: bool = False) -> str:
    """The style key of a critical point: ``minimum`` splits into global and local."""
    return outcomes.critical_point_kind(kind, is_global)


def kind_style(kind: str, is_global: bool = False) -> KindStyle:
    """The ``KindStyle`` for a critical-point kind (``minimum`` + ``is_global`` or a style key).

    Example:
        >>> kind_style("minimum", is_global=True).label
        'global minimum'
        >>> kind_style("saddle").marker
        'X'
    """
    return KIND_STYLES[critical_kind_key(kind, is_global)]


def outcome_color(kind: str) -> str:
    """The colour of a run outcome kind (``global_minimum``, ``saddle``, ``diverged``...)."""
    return outcomes.outcome_kind(kind).color


def optimizer_base_name(label: str) -> str:
    """``"adam(lr=0.01)"`` or ``"adam:lr=0.01"`` -> ``"adam"``."""
    base = str(label).strip().lower()
    for sep in ("(", ":", " ", "[", "#"):
        base = base.split(sep)[0]
    return base.replace("-", "_")


def optimizer_colors(labels: Sequence[str]) -> dict[str, str]:
    """A colour per optimizer label: fixed for known names, then the palette in order.

    Labels sharing a known base name (``adam(lr=0.1)``, ``adam(lr=0.01)``) get distinct colours.

    Example:
        >>> optimizer_colors(["gd", "adam"])["gd"]
        '#0072B2'
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for lab in labels:
        c = FIXED_OPTIMIZER_COLORS.get(optimizer_base_name(lab))
        if c is not None and c not in used:
            out[lab] = c
            used.add(c)
    free = [c for c in OPTIMIZER_PALETTE if c not in used]
    extra = iter(free + list(plt.get_cmap("tab20").colors))  # type: ignore[attr-defined]
    for lab in labels:
        if lab not in out:
            c = next(extra)
            out[lab] = c if isinstance(c, str) else matplotlib.colors.to_hex(c)
    return out
