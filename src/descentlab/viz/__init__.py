"""Figures and animations (matplotlib, Agg backend): every figure uses ``viz.style``."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "save_figure": "descentlab.viz._common",
    "new_figure": "descentlab.viz._common",
    "plot_contour": "descentlab.viz.landscape",
    "plot_surface": "descentlab.viz.landscape",
    "draw_critical_points": "descentlab.viz.landscape",
    "plot_curves": "descentlab.viz.curves",
    "plot_basins": "descentlab.viz.basins",
    "plot_lr_sweep": "descentlab.viz.sweep",
    "plot_outcome_bars": "descentlab.viz.sweep",
    "plot_success_heatmap": "descentlab.viz.sweep",
    "plot_ecdf": "descentlab.viz.sweep",
    "plot_lr_finder": "descentlab.viz.lr_finder",
    "plot_curvature_split": "descentlab.viz.curvature",
    "animate_race": "descentlab.viz.animate",
    "ffmpeg_available": "descentlab.viz.animate",
    "gradient_descent_figure": "descentlab.viz.seed",
    "critical_points_figure": "descentlab.viz.seed",
    "run_demo": "descentlab.viz.demo",
    "plot_slice_1d": "descentlab.viz.slices",
    "plot_interpolation": "descentlab.viz.slices",
    "plot_slice_2d": "descentlab.viz.slices",
    "plot_pca_path": "descentlab.viz.slices",
    "plot_spectrum_density": "descentlab.viz.slices",
    "plot_monitor": "descentlab.viz.slices",
    "plot_decision_boundary": "descentlab.viz.slices",
    "plot_loss_curves": "descentlab.viz.slices",
    "KIND_STYLES": "descentlab.viz.style",
    "OUTCOME_COLORS": "descentlab.viz.style",
    "kind_style": "descentlab.viz.style",
    "optimizer_colors": "descentlab.viz.style",
    "outcome_color": "descentlab.viz.style",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing descentlab.viz does not import pyplot
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'descentlab.viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
