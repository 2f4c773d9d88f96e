"""Landscapes: batched objectives with their critical points labelled."""

# Importing the catalogue fills the registry (it calls registry.register for each entry).
# ... and the BBOB suite its entries bbob_f1 ... bbob_f24.
import descentlab.landscapes.bbob
import descentlab.landscapes.catalog  # noqa: F401
from descentlab.landscapes.base import CriticalPoint, Landscape, classify_eigenvalues
from descentlab.landscapes.neural import NetworkLandscape, network_landscape
from descentlab.landscapes.random import (
    FourierFeatureField,
    GaussianWells,
    RandomQuadratic,
    gaussian_wells,
    random_fourier_field,
    random_quadratic_saddle,
)
from descentlab.landscapes.registry import get_landscape, landscape_names, list_landscapes, register

__all__ = [
    "CriticalPoint",
    "FourierFeatureField",
    "GaussianWells",
    "Landscape",
    "NetworkLandscape",
    "RandomQuadratic",
    "classify_eigenvalues",
    "gaussian_wells",
    "get_landscape",
    "landscape_names",
    "list_landscapes",
    "network_landscape",
    "random_fourier_field",
    "random_quadratic_saddle",
    "register",
]
