"""Landscapes: batched objectives with their critical points labelled."""

from descentlab.landscapes.base import CriticalPoint, Landscape, classify_eigenvalues
from descentlab.landscapes.registry import get_landscape, landscape_names, list_landscapes, register

__all__ = [
    "CriticalPoint",
    "Landscape",
    "classify_eigenvalues",
    "get_landscape",
    "landscape_names",
    "list_landscapes",
    "register",
]
