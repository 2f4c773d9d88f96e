"""Optimizers for the lab: torch.optim's rules by name, and the ones torch lacks.

Public names:

* :func:`resolve_optimizer`, :func:`optimizer_names`, :func:`optimizer_info`,
  :class:`OptimizerSpec`, :func:`register_optimizer` (the registry).
"""

from descentlab.optim.registry import (
    OptimizerSpec,
    optimizer_info,
    optimizer_names,
    register_optimizer,
    resolve_optimizer,
)

__all__ = [
    "OptimizerSpec",
    "optimizer_info",
    "optimizer_names",
    "register_optimizer",
    "resolve_optimizer",
]
