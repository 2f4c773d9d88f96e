"""The engine: batched descent from many starts through one step loop.

* :func:`run`: an optimizer (or a race of several) from ``B`` starts at once, with per-row stop
  rules, records and schedules (:mod:`descentlab.engine.runs`);
* :mod:`descentlab.loop.stepper`: the one loop (steppers and tracks);
* :mod:`descentlab.loop.watches`: the stop rules and the range test's watch;
* :mod:`descentlab.loop.recorder`: records, ``record_every="auto"``, the memory check;
* :mod:`descentlab.engine.batch`: starts (:func:`grid_starts`, :func:`random_starts`), the
  checked objective, value-and-gradient of every row, the per-row function.
"""

from descentlab.engine.batch import (
    as_starts,
    grid_starts,
    objective,
    random_starts,
    row_function,
    value_and_grad,
)
from descentlab.engine.runs import (
    DEFAULT_BOUND,
    DEFAULT_GRAD_TOL,
    DEFAULT_MAX_MEMORY,
    SHARED_RACE_MAX_ROWS,
    RunConfig,
    is_elementwise,
    resolve,
    run,
)
from descentlab.loop.recorder import auto_record_every
from descentlab.loop.stepper import RowTrack, Stepper, build_steppers, step_loop
from descentlab.loop.watches import RangeTestWatch, StopRules

__all__ = [
    "DEFAULT_BOUND",
    "DEFAULT_GRAD_TOL",
    "DEFAULT_MAX_MEMORY",
    "SHARED_RACE_MAX_ROWS",
    "RangeTestWatch",
    "RowTrack",
    "RunConfig",
    "Stepper",
    "StopRules",
    "as_starts",
    "auto_record_every",
    "build_steppers",
    "grid_starts",
    "is_elementwise",
    "objective",
    "random_starts",
    "resolve",
    "row_function",
    "run",
    "step_loop",
    "value_and_grad",
]
