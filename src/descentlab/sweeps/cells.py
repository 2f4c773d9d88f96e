"""One cell of a sweep: all its starts as ONE batched engine run, then one outcome per start.

For a cell (landscape ``L``, optimizer configuration ``h``, seed ``s``) with ``n`` starts and
targets ``t_1 > t_2 > ...``:

* the starts are ``n`` points uniform in ``L``'s domain box from a generator seeded with ``s``
  (so every optimizer on the same landscape and seed starts from the same points: paired
  comparisons);
* the run is :func:`descentlab.engine.run` (the one stepper loop) with ``seed = s``;
* each start's outcome (global / local minimum, saddle, maximum, degenerate, plateau,
  diverged, still moving) is :func:`descentlab.diagnose`'s;
* start ``i`` reaches target ``t`` at step ``k_i(t) = min{k : f(x_k) - f* <= t}`` (the first
  recorded iterate, exact when ``record_every = 1``; ``None`` if never, and for landscapes
  whose global value ``f*`` is unknown).

The work is pure: :func:`run_cell` takes and returns plain data (picklable, for Ray), pins
torch to one thread while it runs (so results do not depend on the executor or the machine's
thread count) and never touches the store.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from descentlab.sweeps.spec import Cell, LandscapeEntry, SweepSpec

RUN_COLUMNS = (
    "start",
    "outcome",
    "saddle_index",
    "gap",
    "final_value",
    "grad_norm",
    "stop_reason",
    "stop_step",
    "saddle_visits",
    "steps_to_target",
    "x0",
    "x_final",
)


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell (plain data)."""

    cell_id: str
    landscape: dict[str, Any]
    landscape_label: str
    optimizer: str
    optimizer_label: str
    config: dict[str, Any]
    config_index: int
    seed: int
    settings: dict[str, Any]

    @classmethod
    def from_cell(cls, cell: Cell, spec: SweepSpec) -> CellTask:
        return cls(
            cell_id=cell.cell_id,
            landscape=cell.landscape.to_dict(),
            landscape_label=cell.landscape.label,
            optimizer=cell.optimizer.name,
            optimizer_label=cell.optimizer.label,
            config={k: list(v) if isinstance(v, tuple) else v for k, v in cell.config},
            config_index=cell.config_index,
            seed=cell.seed,
            settings=spec.settings(),
        )


def steps_to_targets(
    losses: np.ndarray, record_steps: np.ndarray, f_star: float | None, targets: list[float]
) -> list[list[int | None]]:
    """``out[i][j]``: the first recorded step at which row ``i`` has ``f - f* <= targets[j]``
    (``None`` if never, or when ``f*`` is unknown)."""
    B = losses.shape[1]
    if f_star is None or not math.isfinite(f_star):
        return [[None] * len(targets) for _ in range(B)]
    prec = losses - f_star
    out: list[list[int | None]] = [[] for _ in range(B)]
    for t in targets:
        hit = np.isfinite(prec) & (prec <= t)
        first = np.argmax(hit, axis=0)
        any_hit = hit.any(axis=0)
        for i in range(B):
            out[i].append(int(record_steps[first[i]]) if any_hit[i] else None)
    return out


def run_cell(task: CellTask) -> dict[str, Any]:
    """Run one cell and return ``{"cell": {...}, "runs": [{...} per start]}`` (plain data)."""
    from descentlab.analysis.diagnose import diagnose
    from descentlab.engine import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        L = LandscapeEntry.from_dict(task.landscape, task.landscape_label).build()
        s = task.settings
        X0 = L.sample(s["starts"], seed=task.seed)
        hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in task.config.items()}
        t0 = time.perf_counter()
        tr = run(
            L,
            task.optimizer,
            X0,
            s["steps"],
            record_every=s["record_every"],
            grad_tol=s["grad_tol"],
            bound=math.inf if s["bound"] is None else s["bound"],
            seed=task.seed,
            progress=False,
            **hyper,
        )
        t_run = time.perf_counter() - t0
        dg = diagnose(tr, L)
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    f_star = L.global_min_value
    hits = steps_to_targets(
        np.asarray(tr.losses), np.asarray(tr.record_steps), f_star, list(s["targets"])
    )
    n_exec = int(np.asarray(tr.lr).shape[0])
    runs = []
    for i, o in enumerate(dg):
        runs.append(
            {
                "start": i,
                "outcome": o.kind,
                "saddle_index": o.index,
                "gap": _finite(o.gap),
                "final_value": _finite(float(tr.final_losses[i])),
                "grad_norm": _finite(float(tr.final_grad_norms[i])),
                "stop_reason": str(tr.stop_reason[i]),
                "stop_step": int(tr.stop_step[i]),
                "saddle_visits": len(o.saddle_visits),
                "steps_to_target": hits[i],
                "x0": [float(v) for v in np.asarray(X0[i])],
                "x_final": [_finite(float(v)) for v in np.asarray(tr.final_points[i])],
            }
        )
    lr = task.config.get("lr")
    cell = {
        "cell_id": task.cell_id,
        "landscape": task.landscape_label,
        "optimizer": task.optimizer_label,
        "optimizer_name": task.optimizer,
        "config": task.config,
        "config_index": task.config_index,
        "lr": float(lr) if isinstance(lr, int | float) and not isinstance(lr, bool) else None,
        "seed": task.seed,
        "dim": L.dim,
        "n_starts": len(runs),
        "f_star": f_star,
        "steps_executed": n_exec,
        "row_steps": n_exec * len(runs),
        "run_s": t_run,
        "wall_s": wall,
    }
    return {"cell": cell, "runs": runs}


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)
