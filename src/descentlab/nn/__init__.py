"""Hessian tools for any ``nn.Module``: spectra, saddle-or-minimum checks, landscape slices.

* :class:`ModelLoss` — the loss over a fixed batch list as a function of the parameters
  (private copy of the model, explicit eval/train mode);
* :class:`HessianOperator` — ``H @ v`` by ``torch.func`` (double-backward fallback), averaged
  over ``torch.distributed`` ranks when each holds a shard of the data;
* :class:`GGNOperator`, :class:`FisherOperator` — the generalized Gauss-Newton matrix and the
  empirical/true Fisher as operators; :func:`curvature_split` — ``λmin`` of ``H``, ``G`` and
  ``R = H - G`` (where negative curvature comes from);
* :func:`lanczos` — top-k/bottom-k eigenpairs with residuals; :func:`hutchinson`,
  :func:`hutchpp` — traces with intervals; :func:`slq_density` — spectral density;
* :func:`check_point` — minimum / saddle (with index) / degenerate / plateau / unresolved /
  descending, by one stated rule, with its thresholds, evidence and confidence;
* :class:`TrainingMonitor` — a callback that records and flags plateaus and saddle episodes;
* landscape views: :func:`interpolate`, :func:`random_directions`, :func:`eigen_directions`,
  :func:`slice_1d`, :func:`slice_2d`, :func:`pca_path`;
* tasks and models: :func:`get_task`, :func:`build_model`; :func:`train` (a plain loop with
  the monitor attached).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelLoss": "descentlab.nn.objective",
    "as_batches": "descentlab.nn.objective",
    "HessianOperator": "descentlab.nn.hessian",
    "GGNOperator": "descentlab.nn.ggn",
    "FisherOperator": "descentlab.nn.ggn",
    "ResidualOperator": "descentlab.nn.ggn",
    "curvature_split": "descentlab.nn.curvature",
    "CurvatureSplit": "descentlab.nn.curvature",
    "is_main_process": "descentlab.nn.distributed",
    "lanczos": "descentlab.nn.spectrum",
    "LanczosResult": "descentlab.nn.spectrum",
    "Eigenpairs": "descentlab.nn.spectrum",
    "hutchinson": "descentlab.nn.trace",
    "hutchpp": "descentlab.nn.trace",
    "TraceEstimate": "descentlab.nn.trace",
    "slq_density": "descentlab.nn.density",
    "SpectralDensity": "descentlab.nn.density",
    "check_point": "descentlab.nn.check",
    "PointCheck": "descentlab.nn.check",
    "TrainingMonitor": "descentlab.nn.monitor",
    "interpolate": "descentlab.nn.slices",
    "slice_1d": "descentlab.nn.slices",
    "slice_2d": "descentlab.nn.slices",
    "pca_path": "descentlab.nn.slices",
    "Slice": "descentlab.nn.slices",
    "PCAPath": "descentlab.nn.slices",
    "random_directions": "descentlab.nn.directions",
    "direction_cosines": "descentlab.nn.directions",
    "EigenDirections": "descentlab.nn.directions",
    "Episode": "descentlab.nn.monitor",
    "train": "descentlab.nn.training",
    "TrainResult": "descentlab.nn.training",
    "eigen_directions": "descentlab.nn.directions",
    "Task": "descentlab.nn.tasks",
    "get_task": "descentlab.nn.tasks",
    "task_names": "descentlab.nn.tasks",
    "build_model": "descentlab.nn.tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing descentlab.nn stays cheap
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'descentlab.nn' has no attribute {name!r}")


def __dir__() -> list[str]:  # dir(descentlab.nn) lists the tools, not only the loaded ones
    return sorted(set(globals()) | set(_EXPORTS))
