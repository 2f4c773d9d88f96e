"""Sweeps: landscapes x optimizers (equal tuning budget) x seeds, stored in DuckDB, run locally
or on Ray, analysed as COCO does (ECDFs, ERT) and by where each run ended.

Example:
    >>> from descentlab.sweeps import SweepSpec
    >>> spec = SweepSpec.from_dict({
    ...     "steps": 200, "starts": 8,
    ...     "landscapes": [{"name": "double_well"}],
    ...     "optimizers": [{"name": "gd", "search": {"lr": [0.01, 0.1]}},
    ...                    {"name": "adam", "search": {"lr": [0.01, 0.1]}}],
    ... })
    >>> len(spec.cells())
    4
"""

from descentlab.sweeps.analysis import SweepData, ecdf, ert, summarize, tuned_best, write_summary
from descentlab.sweeps.cells import CellTask, run_cell, steps_to_targets
from descentlab.sweeps.executors import SweepReport, run_sweep
from descentlab.sweeps.spec import (
    Cell,
    LandscapeEntry,
    OptimizerEntry,
    SpecError,
    SweepSpec,
    Tuning,
    load_spec,
)
from descentlab.sweeps.store import StoreError, SweepStore

__all__ = [
    "Cell",
    "CellTask",
    "LandscapeEntry",
    "OptimizerEntry",
    "SpecError",
    "StoreError",
    "SweepData",
    "SweepReport",
    "SweepSpec",
    "SweepStore",
    "Tuning",
    "ecdf",
    "ert",
    "load_spec",
    "run_cell",
    "run_sweep",
    "steps_to_targets",
    "summarize",
    "tuned_best",
    "write_summary",
]
