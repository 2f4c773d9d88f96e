"""descentlab: run, watch and diagnose gradient descent on non-convex losses."""

from descentlab.errors import (
    DescentlabError,
    DimensionError,
    FormulaError,
    InvalidParameterError,
    UnknownNameError,
)
from descentlab.landscapes import (
    CriticalPoint,
    Landscape,
    classify_eigenvalues,
    get_landscape,
    landscape_names,
    list_landscapes,
)

__version__ = "0.1.0"

__all__ = [
    "CriticalPoint",
    "DescentlabError",
    "DimensionError",
    "FormulaError",
    "InvalidParameterError",
    "Landscape",
    "UnknownNameError",
    "__version__",
    "classify_eigenvalues",
    "get_landscape",
    "landscape_names",
    "list_landscapes",
]
