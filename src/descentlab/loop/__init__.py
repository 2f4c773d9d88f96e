"""The one step loop of the project and its pieces (torch, numpy and the errors only).

* :mod:`descentlab.loop.stepper`: :class:`Stepper` (one optimizer, its schedule and closure),
  the tracks (:class:`RowTrack` for rows of a landscape run, :class:`ModuleTrack` for a network)
  and :func:`step_loop`;
* :mod:`descentlab.loop.watches`: the vectorised stop rules and the range test's watch;
* :mod:`descentlab.loop.recorder`: records and ``record_every="auto"``.

It sits in the bottom layer so that the engine (:func:`descentlab.engine.run`), the optimizers'
range test and network training all descend through the same loop without importing each
other.
"""

from descentlab.loop.recorder import Recorder, auto_record_every, check_memory
from descentlab.loop.stepper import (
    ModuleTrack,
    RowTrack,
    Stepper,
    WatchGroup,
    build_steppers,
    step_loop,
)
from descentlab.loop.watches import RangeTestRows, RangeTestWatch, StopRules

__all__ = [
    "ModuleTrack",
    "RangeTestRows",
    "RangeTestWatch",
    "Recorder",
    "RowTrack",
    "Stepper",
    "StopRules",
    "WatchGroup",
    "auto_record_every",
    "build_steppers",
    "check_memory",
    "step_loop",
]
