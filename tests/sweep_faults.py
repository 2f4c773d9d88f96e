"""A cell function that kills its worker process the first time it runs a given cell (for the
Ray executor's lost-worker test); shipped to Ray workers by value."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def crash_once(task: Any) -> dict[str, Any]:
    from descentlab.sweeps.cells import run_cell

    marker = Path(os.environ["DESCENTLAB_TEST_CRASH_DIR"]) / f"{task.cell_id}.crashed"
    if task.config_index == 0 and task.seed == 0 and not marker.exists():
        marker.write_text("crashed")
        os._exit(1)  # the worker process dies: Ray must re-run this cell elsewhere
    return run_cell(task)
