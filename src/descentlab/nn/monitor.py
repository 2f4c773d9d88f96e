"""A training-loop callback that records loss, gradient norm and curvature, and flags stalls.

Call it once per step, after ``loss.backward()`` and before ``optimizer.step()``::

    monitor = TrainingMonitor(model, loss_fn, probe_data, every=50)
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        monitor(loss)            # reads the gradients already in .grad: no extra pass
        opt.step()
    monitor.save("monitor.json")

It records the loss and the gradient norm at every step and, every ``every`` steps, ``λmax``
and ``λmin`` of the Hessian of the loss on ``probe_data`` (a fixed batch list; Lanczos with a
loose tolerance, on a private copy of the model). It flags episodes as they happen:

* **stalled**: the mean loss over the last quarter of a ``window`` of steps is not lower than
  the mean over its first quarter by more than ``stall_tol`` (relative);
* a stall during which a curvature probe finds ``λmin < -neg_rel_tol · max|λ|`` is a
  **saddle** episode (negative curvature while the loss does not move: the signature of a
  saddle); a stall without it is a **stall** episode, relabelled **plateau** when the loss
  starts descending again (a plateau is left by descent; a stall that lasts to the end may be a
  minimum — ask :func:`~descentlab.nn.check.check_point`).

``on_event(event)`` is called when an episode opens, changes kind, or closes.

**TensorBoard** (optional dependency ``tensorboard``): pass ``writer=SummaryWriter(logdir)`` and
the monitor logs ``<tag>/loss`` and ``<tag>/grad_norm`` every step, ``<tag>/lambda_max``,
``<tag>/lambda_min`` and ``<tag>/probe_hvps`` at every probe, and each episode as text::

    from torch.utils.tensorboard import SummaryWriter
    monitor = TrainingMonitor(model, loss_fn, probe_data, every=50, writer=SummaryWriter("runs/a"))

**Data parallel (DDP)**: build the monitor on every rank with the DDP-wrapped model and that
rank's shard of the probe data, and call it on every rank at every step (its probes are
collective: each Hessian product is averaged over the ranks). The recorded loss is the mean of
the ranks' losses (the gradient in ``.grad`` is already DDP's average), so every rank records
the same series and flags the same episodes; only rank 0 writes to the ``SummaryWriter`` and
``save``::

    torch.distributed.init_process_group("gloo")      # launched by torchrun
    ddp = DistributedDataParallel(model)
    monitor = TrainingMonitor(ddp, loss_fn, (X_shard, y_shard), every=50, writer=writer)
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(ddp(x), y)
        loss.backward()                                 # DDP averages .grad over ranks
        monitor(loss)
        opt.step()
    monitor.save("monitor.json")                        # rank 0 writes
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import InvalidParameterError
from descentlab.io import to_jsonable, write_json
from descentlab.nn import distributed as dist_helpers
from descentlab.nn._summary import summary
from descentlab.nn.hessian import HessianOperator
from descentlab.nn.spectrum import lanczos
from descentlab.validate import check_positive


@dataclass
class Episode:
    """A stall of the loss: ``kind`` is ``"stall"``, ``"plateau"`` or ``"saddle"``."""

    kind: str
    start: int
    end: int | None = None
    loss_at_start: float = math.nan
    lambda_min: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self.__dict__)


@dataclass
class Probe:
    step: int
    lambda_max: float
    lambda_min: float
    converged: bool
    n_hvp: int

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self.__dict__)


@dataclass
class TrainingMonitor:
    """Records loss, gradient norm and (every ``every`` steps) ``λmax``/``λmin`` during training.

    Args:
        model: the network being trained (read only).
        loss_fn, probe_data: for the curvature probes (``None``: no probes).
        every: steps between probes (the first call probes too).
        window: steps over which a stall is judged.
        stall_tol: relative loss decrease over the window below which the loss has stalled.
        neg_rel_tol: ``λmin < -neg_rel_tol · max|λ|`` counts as negative curvature.
        probe_iter, probe_tol: Lanczos budget and tolerance of each probe.
        path_every: also keep the parameters every so many steps (for :func:`pca_path`).
        on_event: called with the :class:`Episode` when one opens, changes or closes.
        options: passed to :class:`~descentlab.nn.objective.ModelLoss` (``mode``, ...).
        writer: a ``torch.utils.tensorboard.SummaryWriter`` (or anything with ``add_scalar``
            and ``add_text``) to log the series to; rank 0 only.
        tag: the prefix of the TensorBoard tags.
        distributed: ``"auto"`` (average the loss and the probes over ranks when
            torch.distributed runs with several), ``True`` or ``False`` (this rank alone).

    Example:
        >>> net = nn.Linear(2, 1).double()
        >>> X, y = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
        >>> mon = TrainingMonitor(net, nn.MSELoss(), (X, y), every=5)
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> for _ in range(10):
        ...     opt.zero_grad()
        ...     loss = nn.MSELoss()(net(X), y)
        ...     loss.backward()
        ...     mon(loss)
        ...     opt.step()
        >>> len(mon.losses), [p.step for p in mon.probes]
        (10, [0, 5])
    """

    model: nn.Module
    loss_fn: Callable[[Any, Any], Tensor] | None = None
    probe_data: Any = None
    every: int = 50
    window: int = 50
    stall_tol: float = 1e-2
    neg_rel_tol: float = 1e-2
    probe_iter: int = 40
    probe_tol: float = 1e-4
    path_every: int | None = None
    on_event: Callable[[Episode], None] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    writer: Any = None
    tag: str = "descentlab"
    distributed: bool | str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.model, nn.Module):
            raise InvalidParameterError("model must be an nn.Module")
        if self.writer is not None and not callable(getattr(self.writer, "add_scalar", None)):
            raise InvalidParameterError(
                "writer must be a SummaryWriter (an object with add_scalar), got "
                f"{type(self.writer).__name__}"
            )
        self._dist = dist_helpers.resolve(self.distributed)
        for name in ("every", "window", "probe_iter"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be a positive integer, got {v!r}")
        if self.window < 4:
            raise InvalidParameterError(f"window must be >= 4 steps, got {self.window}")
        if self.path_every is not None and (
            not isinstance(self.path_every, int) or self.path_every < 1
        ):
            raise InvalidParameterError(
                f"path_every must be a positive integer, got {self.path_every!r}"
            )
        check_positive("stall_tol", self.stall_tol)
        check_positive("neg_rel_tol", self.neg_rel_tol)
        check_positive("probe_tol", self.probe_tol)
        if (self.loss_fn is None) != (self.probe_data is None):
            raise InvalidParameterError(
                "give both loss_fn and probe_data for curvature probes, or neither"
            )
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.probes: list[Probe] = []
        self.episodes: list[Episode] = []
        self.path: list[Tensor] = []
        self.path_steps: list[int] = []
        self._next_step = 0
        self._method: str | None = None

    def __repr__(self) -> str:
        return summary(
            "TrainingMonitor",
            steps=len(self.steps),
            last_loss=self.losses[-1] if self.losses else None,
            probes=len(self.probes),
            episodes=[e.kind for e in self.episodes],
            state=self.state if self.steps else "empty",
        )

    # -- recording ------------------------------------------------------------------------------
    def __call__(self, loss: Tensor | float, step: int | None = None) -> None:
        """Record one step (after ``backward``): the loss and the norm of the current ``.grad``."""
        step = self._next_step if step is None else int(step)
        self._next_step = step + 1
        value = float(loss.detach() if isinstance(loss, Tensor) else loss)
        if self._dist:  # the same series on every rank: the mean of the ranks' losses
            value = dist_helpers.mean_over_ranks(value)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if not grads:
            raise InvalidParameterError(
                "no gradients found: call the monitor after loss.backward()"
            )
        gnorm = float(torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads)))
        self.steps.append(step)
        self.losses.append(value)
        self.grad_norms.append(gnorm)
        self._log("loss", value, step)
        self._log("grad_norm", gnorm, step)
        if self.path_every is not None and (len(self.steps) - 1) % self.path_every == 0:
            self.path.append(
                torch.cat([p.detach().reshape(-1).double().cpu() for p in self.model.parameters()])
            )
            self.path_steps.append(step)
        probe_due = (len(self.steps) - 1) % self.every == 0
        if self.loss_fn is not None and probe_due and math.isfinite(value + gnorm):
            self._probe(step)  # no probe at a non-finite point (a diverged run)
        self._update_episodes(step)

    def _probe(self, step: int) -> None:
        opts = dict(self.options)
        if "method" not in opts and self._method is not None:
            opts["method"] = self._method  # chosen (timed) at the first probe
        H = HessianOperator(
            self.model, self.loss_fn, self.probe_data, distributed=self._dist, **opts
        )
        r = lanczos(H, k=1, which="both", tol=self.probe_tol, max_iter=min(H.n, self.probe_iter))
        self._method = H.objective.method
        self.probes.append(Probe(step, r.lambda_max, r.lambda_min, r.converged, r.n_matvec))
        self._log("lambda_max", r.lambda_max, step)
        self._log("lambda_min", r.lambda_min, step)
        self._log("probe_hvps", r.n_matvec, step)

    def _log(self, name: str, value: float, step: int) -> None:
        if self.writer is not None and dist_helpers.is_main_process():
            self.writer.add_scalar(f"{self.tag}/{name}", value, step)

    def _negative_curvature(self, since: int) -> float | None:
        """The most negative significant ``λmin`` among probes at or after ``since``."""
        worst = None
        for p in self.probes:
            if p.step >= since and p.lambda_min < -self.neg_rel_tol * max(
                abs(p.lambda_max), abs(p.lambda_min)
            ):
                worst = p.lambda_min if worst is None else min(worst, p.lambda_min)
        return worst

    @property
    def stalled(self) -> bool:
        """Whether the loss has stalled over the last ``window`` steps."""
        if len(self.losses) < self.window:
            return False
        w = self.losses[-self.window :]
        q = max(self.window // 4, 1)
        first, last = sum(w[:q]) / q, sum(w[-q:]) / q
        return (first - last) <= self.stall_tol * max(abs(first), 1e-12)

    @property
    def state(self) -> str:
        """``"descending"``, ``"stalled"`` or ``"saddle"`` (the open episode's kind)."""
        ep = self.open_episode
        if ep is None:
            return "descending"
        return "saddle" if ep.kind == "saddle" else "stalled"

    @property
    def open_episode(self) -> Episode | None:
        return self.episodes[-1] if self.episodes and self.episodes[-1].end is None else None

    def _emit(self, ep: Episode) -> None:
        if self.writer is not None and dist_helpers.is_main_process():
            add_text = getattr(self.writer, "add_text", None)
            if callable(add_text):
                end = "open" if ep.end is None else f"ended at step {ep.end}"
                lam = "" if ep.lambda_min is None else f", lambda_min {ep.lambda_min:.4g}"
                add_text(
                    f"{self.tag}/episodes",
                    f"{ep.kind} from step {ep.start} ({end}{lam})",
                    self.steps[-1] if self.steps else 0,
                )
        if self.on_event is not None:
            self.on_event(ep)

    def _update_episodes(self, step: int) -> None:
        ep = self.open_episode
        if self.stalled:
            start = self.steps[-self.window]
            if ep is None:
                ep = Episode("stall", start, None, self.losses[-self.window])
                self.episodes.append(ep)
                self._emit(ep)
            neg = self._negative_curvature(ep.start)
            if neg is not None and ep.kind != "saddle":
                ep.kind, ep.lambda_min = "saddle", neg
                self._emit(ep)
            elif neg is not None:
                ep.lambda_min = neg
        elif ep is not None:
            ep.end = step
            if ep.kind == "stall":
                ep.kind = "plateau"
            self._emit(ep)

    # -- output ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything recorded (JSON-able)."""
        return to_jsonable(
            {
                "steps": self.steps,
                "losses": self.losses,
                "grad_norms": self.grad_norms,
                "probes": [p.to_dict() for p in self.probes],
                "episodes": [e.to_dict() for e in self.episodes],
                "state": self.state,
                "settings": {
                    "every": self.every,
                    "window": self.window,
                    "stall_tol": self.stall_tol,
                    "neg_rel_tol": self.neg_rel_tol,
                    "probe_iter": self.probe_iter,
                    "probe_tol": self.probe_tol,
                },
            }
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON atomically (rank 0 only; other ranks write nothing)."""
        if not dist_helpers.is_main_process():
            return Path(path)
        return write_json(path, self.to_dict())
