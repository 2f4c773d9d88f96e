"""Executors: run a sweep's unfinished cells and write each one as it finishes.

* ``local`` (default): cells one after another in this process.
* ``ray``: every cell is a Ray task (one CPU each) on a local Ray instance or a cluster
  (``address``: ``"auto"`` for the cluster this machine belongs to, or ``"ray://HOST:10001"``);
  the nodes need ``descentlab`` installed (``pip install "descentlab[ray]"``). Results come back
  to the driver, which alone writes the store (single writer). A task whose worker process or
  node dies is re-run by Ray (``max_retries``); a cell that raises is reported, not retried.

Both executors run the same pure :func:`~descentlab.sweeps.cells.run_cell` on the same plain
inputs with torch pinned to one thread, so the stored results are identical bit for bit.
Interrupting (Ctrl-C) stops after the current write: a cell is either fully in the store or not
at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.sweeps.cells import CellTask, run_cell
from descentlab.sweeps.spec import SweepSpec
from descentlab.sweeps.store import SweepStore

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class SweepReport:
    """What one call of :func:`run_sweep` did."""

    total: int
    skipped: int
    ran: int
    wall_s: float
    executor: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_cells": self.total,
            "already_finished": self.skipped,
            "ran": self.ran,
            "wall_s": self.wall_s,
            "executor": self.executor,
        }


class _Reporter:
    """One line per finished cell on ``stream`` (stderr by default)."""

    def __init__(self, total: int, stream: TextIO | None, quiet: bool) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.t0 = time.monotonic()

    def cell(self, result: dict[str, Any]) -> None:
        self.done += 1
        if self.quiet:
            return
        c = result["cell"]
        counts: dict[str, int] = {}
        for r in result["runs"]:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        cfg = ",".join(f"{k}={v}" for k, v in c["config"].items())
        self.stream.write(
            f"[{self.done}/{self.total} {time.monotonic() - self.t0:6.1f}s] {c['landscape']} | "
            f"{c['optimizer']}({cfg}) | seed {c['seed']}: {kinds} ({c['wall_s']:.2f}s)\n"
        )
        self.stream.flush()


def run_sweep(
    spec: SweepSpec,
    store: SweepStore,
    *,
    executor: str = "local",
    address: str | None = None,
    resume: bool = False,
    num_cpus: int | None = None,
    stream: TextIO | None = None,
    quiet: bool = False,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
    cell_fn: Callable[[CellTask], dict[str, Any]] = run_cell,
) -> SweepReport:
    """Run every cell of ``spec`` not yet in ``store`` and write each as it finishes.

    Args:
        spec: the sweep.
        store: an open :class:`~descentlab.sweeps.store.SweepStore`.
        executor: ``"local"`` or ``"ray"``.
        address: the Ray cluster (``None``: start a local instance).
        resume: go on with a store that already holds finished cells of a compatible spec.
        num_cpus: CPUs of a local Ray instance (``None``: Ray's default).
        stream: where progress lines go (default stderr); ``quiet`` silences them.
        on_cell: called after each cell is written (tests, progress hooks).
        cell_fn: what runs a cell (default :func:`~descentlab.sweeps.cells.run_cell`; tests
            substitute a faulty one to check that a lost worker's cell re-runs).
    """
    if executor not in EXECUTORS:
        raise InvalidParameterError(
            f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}"
        )
    if address is not None and executor != "ray":
        raise InvalidParameterError("--address is for the ray executor")
    store.attach_spec(spec, resume=resume)
    cells = spec.cells()
    done = store.finished_ids()
    todo = [CellTask.from_cell(c, spec) for c in cells if c.cell_id not in done]
    report = _Reporter(len(cells), stream, quiet)
    report.done = len(cells) - len(todo)
    t0 = time.monotonic()

    def write(result: dict[str, Any]) -> None:
        store.write_cell(result)
        report.cell(result)
        if on_cell is not None:
            on_cell(result)

    if executor == "local":
        for task in todo:
            write(cell_fn(task))
    else:
        _run_ray(todo, write, address, num_cpus, cell_fn)
    return SweepReport(
        total=len(cells),
        skipped=len(cells) - len(todo),
        ran=len(todo),
        wall_s=time.monotonic() - t0,
        executor=executor,
    )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidParameterError(
            'the ray executor needs Ray: pip install "descentlab[ray]"'
        ) from None
    return ray


def _run_ray(
    todo: list[CellTask],
    write: Callable[[dict[str, Any]], None],
    address: str | None,
    num_cpus: int | None,
    cell_fn: Callable[[CellTask], dict[str, Any]],
) -> None:
    ray = _import_ray()
    if not todo:
        return
    started_here = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is not None:
            kw["address"] = address
        elif num_cpus is not None:
            kw["num_cpus"] = num_cpus
        try:
            ray.init(**kw)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InvalidParameterError(
                f"cannot start or reach Ray{f' at {address}' if address else ''}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        started_here = True
    remote = ray.remote(num_cpus=1, max_retries=3, retry_exceptions=False)(cell_fn)
    window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending: dict[Any, CellTask] = {}
    queue = list(todo)
    try:
        while queue or pending:
            while queue and len(pending) < window:
                task = queue.pop(0)
                pending[remote.remote(task)] = task
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                task = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, DescentlabError) else exc
                    raise InvalidParameterError(
                        f"cell {task.landscape_label} | {task.optimizer_label} | seed "
                        f"{task.seed} failed: {str(cause).splitlines()[0]}"
                    ) from None
                write(result)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
