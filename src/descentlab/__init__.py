"""descentlab: run, watch and diagnose gradient descent on non-convex losses.

The main entry points are available from the top level (loaded on first use, so that
``import descentlab`` stays cheap: it imports neither torch nor numpy, and ``descentlab --help``
answers without them):

* landscapes: :class:`Landscape`, :func:`get_landscape`, :func:`landscape_names`;
* running: :func:`run` (many starts and optimizers at once), :func:`grid_starts`,
  :func:`random_starts`, :class:`Trajectory`, :class:`Race`;
* optimizers and schedules: :func:`resolve_optimizer`, :func:`optimizer_names`,
  :func:`resolve_schedule`, :func:`schedule_names`;
* analysis: :func:`diagnose` (why each run ended), :func:`find_critical_points`;
* networks: :func:`check_point`, :class:`HessianOperator`, :func:`lanczos`
  (more in :mod:`descentlab.nn`).

Example:
    >>> import descentlab as dl
    >>> L = dl.get_landscape("double_well")
    >>> traj = dl.run(L, "gd", [[0.3, 0.5]], steps=500, lr=0.05)
    >>> dl.diagnose(traj, L).outcomes[0].kind
    'global_minimum'
"""

import importlib
from typing import Any

from descentlab.errors import (
    DescentlabError,
    DimensionError,
    FormulaError,
    InvalidParameterError,
    UnknownNameError,
)

__version__ = "0.1.0"

_LAZY = {
    "CriticalPoint": "descentlab.landscapes",
    "Landscape": "descentlab.landscapes",
    "classify_eigenvalues": "descentlab.landscapes",
    "get_landscape": "descentlab.landscapes",
    "landscape_names": "descentlab.landscapes",
    "list_landscapes": "descentlab.landscapes",
    "run": "descentlab.engine",
    "grid_starts": "descentlab.engine",
    "random_starts": "descentlab.engine",
    "Trajectory": "descentlab.trajectory",
    "Race": "descentlab.trajectory",
    "diagnose": "descentlab.analysis.diagnose",
    "Diagnosis": "descentlab.analysis.diagnose",
    "find_critical_points": "descentlab.analysis.critical",
    "CriticalPointSet": "descentlab.analysis.critical",
    "resolve_optimizer": "descentlab.optim.registry",
    "optimizer_names": "descentlab.optim.registry",
    "resolve_schedule": "descentlab.optim.schedules",
    "schedule_names": "descentlab.optim.schedules",
    "check_point": "descentlab.nn.check",
    "HessianOperator": "descentlab.nn.hessian",
    "lanczos": "descentlab.nn.spectrum",
}


def __getattr__(name: str) -> Any:  # lazy: each entry point imports its module on first use
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'descentlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    *sorted(_LAZY),
    "DescentlabError",
    "DimensionError",
    "FormulaError",
    "InvalidParameterError",
    "UnknownNameError",
    "__version__",
]
