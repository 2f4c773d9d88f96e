"""Figures and animations (matplotlib, Agg backend): every figure uses ``viz.style``."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
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
