"""Optimizers for the lab: torch.optim's rules by name, and the ones torch lacks.

* Registry: :func:`resolve_optimizer`, :func:`optimizer_names`, :func:`optimizer_info`,
  :class:`OptimizerSpec`, :func:`register_optimizer`.
* Ours (``torch.optim.Optimizer`` subclasses, batched ``(B, d)`` rows or a small model):
  :class:`Newton`, :class:`DampedNewton`, :class:`SaddleFreeNewton`, :class:`CubicNewton`,
  :class:`PerturbedGD`, :class:`NoisyGD`, :class:`ArmijoGD`.
* :func:`is_elementwise`: probe whether an optimizer keeps a batch's rows independent.
* Schedules: :func:`resolve_schedule`, :func:`schedule_names`, :class:`ScheduleSpec`;
  learning-rate grids: :func:`lr_grid_groups`, :func:`log_lr_grid`.
* Learning-rate range test (Smith 2017): :func:`lr_find` (an ``nn.Module``),
  :func:`lr_find_landscape` (a landscape from many starts), :func:`lr_sequence`,
  :func:`smooth_losses`, :func:`suggest_lr`, :class:`LRFinderResult`,
  :class:`LRFinderBatchResult`.

Param-group keys the lab engine sets (ignored by torch's own optimizers): ``rows_independent``
(the rows of each ``(B, d)`` parameter are separate problems), ``row_fn`` (``(B, d) -> (B,)``
losses without autograd) and ``row_offset`` (global id of row 0, for per-row noise).
"""

from descentlab.optim._base import MAX_FULL_HESSIAN
from descentlab.optim.line_search import ArmijoGD
from descentlab.optim.lr_finder import (
    LRFinderBatchResult,
    LRFinderResult,
    lr_find,
    lr_find_landscape,
    lr_sequence,
    smooth_losses,
    suggest_lr,
)
from descentlab.optim.newton import (
    CubicNewton,
    DampedNewton,
    Newton,
    SaddleFreeNewton,
    cubic_model,
    cubic_step,
)
from descentlab.optim.perturbed import NoisyGD, PerturbedGD
from descentlab.optim.probe import is_elementwise
from descentlab.optim.registry import (
    OptimizerSpec,
    optimizer_info,
    optimizer_names,
    register_optimizer,
    resolve_optimizer,
)
from descentlab.optim.schedules import (
    ScheduleSpec,
    log_lr_grid,
    lr_grid_groups,
    resolve_schedule,
    schedule_info,
    schedule_names,
)

__all__ = [
    "MAX_FULL_HESSIAN",
    "ArmijoGD",
    "CubicNewton",
    "DampedNewton",
    "LRFinderBatchResult",
    "LRFinderResult",
    "Newton",
    "NoisyGD",
    "OptimizerSpec",
    "PerturbedGD",
    "SaddleFreeNewton",
    "ScheduleSpec",
    "cubic_model",
    "cubic_step",
    "is_elementwise",
    "log_lr_grid",
    "lr_find",
    "lr_find_landscape",
    "lr_grid_groups",
    "lr_sequence",
    "optimizer_info",
    "optimizer_names",
    "register_optimizer",
    "resolve_optimizer",
    "resolve_schedule",
    "schedule_info",
    "schedule_names",
    "smooth_losses",
    "suggest_lr",
]
