"""Train a small network on a task with any registered optimizer, watched by the monitor.

Training runs through the engine's one step loop (:func:`descentlab.loop.stepper.step_loop`)
with one :class:`~descentlab.loop.stepper.ModuleTrack`: each step evaluates the objective on
its mini-batch (zero_grad, forward, backward), shows it to the monitor, and steps; the
mini-batches follow a deterministic sequence (reshuffled each epoch from ``seed``; full batch
by default). The
objective is ``mean cross-entropy + (l2/2)·‖θ‖²``, the same function that
:func:`~descentlab.nn.check.check_point` is then asked about (pass it ``weight_decay=l2``).
Every step passes a closure over its mini-batch (L-BFGS and Newton-type rules call it; its
first call returns the evaluation already made); second-order rules get ``create_graph=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from descentlab.errors import InvalidParameterError
from descentlab.loop.stepper import ModuleTrack, step_loop
from descentlab.nn._summary import summary
from descentlab.nn.monitor import TrainingMonitor
from descentlab.nn.tasks import Task
from descentlab.progress import Progress


@dataclass
class TrainResult:
    """Per-step losses (the mini-batch objective), final full-data loss and accuracy."""

    losses: list[float]
    final_loss: float
    accuracy: float
    steps: int
    diverged_at: int | None
    monitor: TrainingMonitor

    def __repr__(self) -> str:
        return summary(
            "TrainResult",
            steps=self.steps,
            final_loss=self.final_loss,
            accuracy=self.accuracy,
            diverged_at=self.diverged_at,
            episodes=len(self.monitor.episodes),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "final_loss": self.final_loss,
            "accuracy": self.accuracy,
            "steps": self.steps,
            "diverged_at": self.diverged_at,
        }


MAX_STEPS = 10_000_000
"""The most optimizer steps :func:`train` accepts (its record keeps every step's loss)."""


def train(
    model: nn.Module,
    task: Task,
    optimizer: Any,
    steps: int,
    *,
    batch_size: int | None = None,
    l2: float = 0.0,
    seed: int = 0,
    monitor_every: int = 50,
    monitor_window: int = 50,
    probe_size: int = 512,
    path_every: int | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``task`` for ``steps`` steps.

    Args:
        model: the network (its parameters are updated: that is the point of training).
        task: inputs ``X`` and class labels ``y``.
        optimizer: an ``OptimizerSpec`` from :func:`descentlab.optim.resolve_optimizer`, or a
            callable ``params -> torch.optim.Optimizer``.
        steps: optimizer steps.
        batch_size: mini-batch size (``None``: full batch).
        l2: L2 penalty ``(l2/2)·‖θ‖²`` added to the loss.
        seed: order of the mini-batches.
        monitor_every, monitor_window: curvature-probe period and stall window of the monitor.
        probe_size: the monitor's curvature probes use the first ``probe_size`` samples.
        path_every: keep the parameters every so many steps in ``monitor.path`` (for PCA).

    Example:
        >>> from descentlab.nn.tasks import build_model, make_xor
        >>> t = make_xor(40)
        >>> net = build_model("mlp", t, hidden=4)
        >>> r = train(net, t, lambda p: torch.optim.Adam(p, lr=0.05), 100, monitor_every=50)
        >>> r.accuracy > 0.9
        True
    """
    if not isinstance(steps, int) or steps < 1:
        raise InvalidParameterError(f"steps must be a positive integer, got {steps!r}")
    if steps > MAX_STEPS:  # the record keeps a loss per step; 1e12 steps would never end
        raise InvalidParameterError(f"steps must be at most {MAX_STEPS:,}, got {steps:,}")
    n = len(task)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise InvalidParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    bs = n if batch_size is None else min(batch_size, n)
    if not (isinstance(l2, int | float) and math.isfinite(l2) and l2 >= 0):
        raise InvalidParameterError(f"l2 must be a finite number >= 0, got {l2!r}")
    factory = getattr(optimizer, "factory", optimizer)
    if not callable(factory):
        raise InvalidParameterError("optimizer must be an OptimizerSpec or a callable")
    needs_closure = bool(getattr(optimizer, "needs_closure", False))
    second_order = bool(getattr(optimizer, "second_order", False))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = factory(params)
    ce = nn.CrossEntropyLoss()
    param = params[0]
    X = task.X.to(device=param.device, dtype=param.dtype)
    y = task.y.to(device=param.device)
    probe = (X[:probe_size], y[:probe_size])
    mon = TrainingMonitor(
        model,
        ce,
        probe,
        every=monitor_every,
        window=monitor_window,
        path_every=path_every,
        options={"weight_decay": l2},
    )
    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(n, generator=gen) if bs < n else torch.arange(n)
    state: dict[str, Any] = {"pos": 0, "order": order, "k": -1, "batch": None}

    def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``k``'s mini-batch: the next slice of the epoch's order (drawn once per step)."""
        if state["k"] != k:
            if state["pos"] + bs > n:
                if bs < n:
                    state["order"] = torch.randperm(n, generator=gen)
                state["pos"] = 0
            idx = state["order"][state["pos"] : state["pos"] + bs].to(X.device)
            state["pos"] += bs
            state["k"], state["batch"] = k, (X[idx], y[idx])
        return state["batch"]

    def objective(k: int) -> torch.Tensor:
        xb, yb = batch(k)
        loss = ce(model(xb), yb)
        if l2:
            loss = loss + 0.5 * l2 * sum((p * p).sum() for p in params)
        return loss

    losses: list[float] = []
    diverged = None

    def watch(k: int, loss: torch.Tensor, final: bool) -> bool:
        nonlocal diverged
        value = float(loss)
        losses.append(value)
        if not math.isfinite(value):
            diverged = k
            return False
        mon(loss, k)
        return True

    track = ModuleTrack(params, objective, watch, steps)
    track.set_stepper(opt, second_order=second_order, label="the optimizer")
    del needs_closure  # every step gets a closure over its mini-batch; most optimizers ignore it
    model.train()
    with Progress(steps, "training", enabled=progress) as bar:
        step_loop([track], steps, on_step=lambda k: bar.update())
    track.release()
    model.eval()
    with torch.no_grad():
        out = model(X)
        final = float(ce(out, y)) + (0.5 * l2 * float(sum((p * p).sum() for p in params)))
        acc = float((out.argmax(1) == y).double().mean())
    return TrainResult(losses, final, acc, len(losses), diverged, mon)
