"""The one step loop: evaluate, let the watches decide, advance every stepper, repeat.

Every descent in the project runs through :func:`step_loop`: batched runs, runs whose rows are
kept apart, shared races, learning-rate range tests and network training. They differ only in
the list they hand it:

* a :class:`Stepper` is one ``torch.optim.Optimizer`` over its leaves, with its schedule (or a
  fixed sequence of rates), its closure and its error reporting;
* a track is what the loop evaluates and watches: :class:`RowTrack` holds rows ``[lo, hi)`` of
  one ``(N, d)`` tensor ``X`` of a landscape run (one stepper over all of them when the rule is
  element-wise, one stepper per row when rows are kept apart) with its watch (stop rules or the
  range test's rule) and its :class:`~descentlab.loop.recorder.Recorder`; an ``nn`` training
  supplies its own track (one mini-batch per step) with the same three methods.

Each step the loop evaluates every live track once (the row tracks of one tensor share a single
forward and backward pass over the rows they span, unless their rule needs the graph of the
gradient), hands each its values and gradients, lets its watch stop rows, and advances the
steppers of the tracks that still run. A stopped row is frozen: its gradient is zeroed before
the step and its position restored after it, so the rest of the batch goes on untouched.

This module imports only torch, numpy and :mod:`descentlab.errors`: the optimizers' range test
and the network trainer build on it without importing the landscape engine above it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.loop.layout import row_sq_norms

_CREATE_GRAPH_WARNING = "Using backward\\(\\) with create_graph"


def backward(loss: torch.Tensor, create_graph: bool) -> None:
    """``loss.backward()``, with ``create_graph`` for Newton-type rules (warning silenced: the
    parameter <-> gradient cycle it warns about is broken after every step)."""
    if create_graph:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_CREATE_GRAPH_WARNING)
            loss.backward(create_graph=True)
    else:
        loss.backward()


def lr_of(group: dict) -> float:
    """A param group's learning rate as a float (``nan`` when it has none)."""
    lr = group.get("lr", math.nan)
    return float(lr) if isinstance(lr, int | float | torch.Tensor) else math.nan


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's rate (in place when the rate is a tensor)."""
    for g in optimizer.param_groups:
        if isinstance(g.get("lr"), torch.Tensor):
            g["lr"].fill_(lr)
        else:
            g["lr"] = lr


class Stepper:
    """One optimizer advancing its leaves: the unit the loop steps.

    Args:
        leaves: the tensors the optimizer updates (views of the run's rows, or a model's
            parameters).
        optimizer: built on ``leaves``.
        evaluate: ``() -> loss`` evaluating the objective at the leaves and setting their
            ``.grad`` (with ``create_graph`` for second-order rules); the closure a line search
            or L-BFGS calls. Its first call in a step returns the loss the loop already has.
        schedule, schedule_spec: a built scheduler and its spec (stepped after every step;
            reduce-on-plateau is given the step's metric).
        rates: a fixed rate per step (the range test) set before each step instead.
        second_order: drop the leaves' gradients after each step (they carry a graph).
        label: names the optimizer in errors.
        fast: a function applying one step of the same rule without ``optimizer.step``, from
            the leaves' ``.grad`` or from ``fast(grads)`` (e.g.
            :func:`descentlab.optim.functional.functional_step`, tested equal to it); used
            whenever the loop has already evaluated the step's point.
    """

    __slots__ = (
        "_closure",
        "cached",
        "evaluate",
        "fast",
        "label",
        "leaves",
        "optimizer",
        "plateau",
        "rates",
        "schedule",
        "schedule_spec",
        "second_order",
    )

    def __init__(
        self,
        leaves: Sequence[torch.Tensor],
        optimizer: torch.optim.Optimizer,
        evaluate: Callable[[], torch.Tensor],
        *,
        schedule: Any = None,
        schedule_spec: Any = None,
        rates: np.ndarray | None = None,
        second_order: bool = False,
        label: str = "optimizer",
        fast: Callable[..., None] | None = None,
    ) -> None:
        self.leaves = list(leaves)
        self.fast = fast
        if fast is not None:  # what optimizer.step's scheduler hook records: a step was taken
            optimizer._opt_called = True  # type: ignore[attr-defined]
        self.optimizer = optimizer
        self.evaluate = evaluate
        self.schedule = schedule
        self.schedule_spec = schedule_spec
        self.plateau = schedule is not None and bool(getattr(schedule_spec, "needs_loss", False))
        self.rates = rates
        self.second_order = second_order
        self.label = label
        self.cached: torch.Tensor | None = None

        def closure() -> torch.Tensor:
            # The first call of each step returns the evaluation made before the step (so the
            # watches always see x_k, even for optimizers that ignore the closure); later calls
            # (line searches, L-BFGS iterations) evaluate afresh.
            if self.cached is not None:
                loss, self.cached = self.cached, None
                return loss
            with torch.enable_grad():
                return self.evaluate()

        self._closure = closure

    def step(
        self,
        k: int,
        loss: torch.Tensor | None,
        metric: float | None = None,
        where: str = "",
        grads: list[torch.Tensor] | None = None,
    ) -> None:
        """Step ``k``: set the rate (fixed sequence), step the optimizer, step the schedule.

        ``loss`` is the evaluation at the current point with the leaves' gradients already set
        (``None``: the closure evaluates it), or given as ``grads`` (one per leaf; only with a
        ``fast`` step). ``metric`` feeds reduce-on-plateau.
        """
        if self.rates is not None:
            set_lr(self.optimizer, float(self.rates[k]))
        if loss is not None and self.fast is not None:
            try:
                self.fast() if grads is None else self.fast(grads)
            except RuntimeError as exc:
                raise DescentlabError(f"{self.label} failed at step {k}{where}: {exc}") from None
            if self.schedule is not None:
                self.schedule_spec.step(self.schedule, metric if self.plateau else None)
            return
        self.cached = loss
        try:
            self.optimizer.step(self._closure)
        except DescentlabError:
            raise
        except (RuntimeError, TypeError) as exc:
            raise DescentlabError(f"{self.label} failed at step {k}{where}: {exc}") from None
        finally:
            self.cached = None
        if self.second_order:
            for p in self.leaves:
                p.grad = None  # break the parameter <-> graph cycle of create_graph
        if self.schedule is not None:
            self.schedule_spec.step(self.schedule, metric if self.plateau else None)


class Track(Protocol):
    """What the loop advances: it evaluates and watches itself, then steps its steppers.

    Row tracks of one tensor are evaluated together instead (one pass; see :class:`RowTrack`).
    ``observe_own`` sets ``done`` (and ``n_steps = k``) when nothing of the track runs any more.
    """

    done: bool
    n_steps: int

    def observe_own(self, k: int, final: bool = False) -> None: ...

    def advance(self, k: int) -> None: ...


class RowWatch(Protocol):
    """A per-row rule set over ``B`` rows: the stop rules or the range test's watch."""

    B: int
    n_running: int
    running: torch.Tensor
    fpos: torch.Tensor

    def observe(
        self, k: int, x: torch.Tensor, v: torch.Tensor, gsq: torch.Tensor,
        total: torch.Tensor | None = None, final: bool = False,
    ) -> None: ...  # fmt: skip


class WatchGroup:
    """One watch and one recorder over the rows of consecutive tracks, observed once per step.

    The tracks of a shared race are ``n`` equal segments of these rows: one evaluation, one
    application of the stop rules and one record serve them all (the rules are per row, so
    this is exactly what each track would do alone). Each track sees its segment through
    :class:`Segment`, a view with the same fields as the watch.
    """

    def __init__(
        self, watch: Any, recorder: Any, lo: int, seg_len: int, n_seg: int, d: int
    ) -> None:
        self.watch, self.recorder = watch, recorder
        self.lo, self.hi = lo, lo + seg_len * n_seg
        self.seg_len, self.n_seg = seg_len, n_seg
        self.counts = [seg_len] * n_seg
        self.ones = torch.ones(d, dtype=torch.float64)
        self.ones_np = self.ones.numpy()
        self.segments = [Segment(self, i) for i in range(n_seg)]

    def observe(
        self,
        k: int,
        x: torch.Tensor,
        v: torch.Tensor,
        g: torch.Tensor,
        total: torch.Tensor | None,
        final: bool = False,
    ) -> None:
        """The watch and the records at iterate ``k`` of every row of the group."""
        w, rec = self.watch, self.recorder
        before = w.n_running
        if getattr(w, "small", False):  # numpy views: torch's per-op overhead dominates here
            gn = g.numpy()
            gsq_np = np.dot(gn * gn, self.ones_np)
            gsq = torch.from_numpy(gsq_np)
        else:
            gsq = row_sq_norms(g)
            gsq_np = None
        w.observe(k, x, v, gsq, total=total, final=final)
        if rec is not None and (final or rec.due(k)):
            if w.n_running == w.B:
                if gsq_np is not None:
                    rec.record_numpy(k, x.numpy(), v.numpy(), np.sqrt(gsq_np))
                else:
                    rec.record(k, x, v, gsq.sqrt())
            elif gsq_np is not None:
                frozen = (w.fpos.numpy(), w.fval.numpy(), w.fgn.numpy())
                rec.record_numpy(
                    k, x.numpy(), v.numpy(), np.sqrt(gsq_np), w.running.numpy(), frozen
                )
            else:
                rec.record(k, x, v, gsq.sqrt(), w.running, (w.fpos, w.fval, w.fgn))
        if w.n_running != before:
            if self.n_seg == 1:
                self.counts = [w.n_running]
            else:
                self.counts = w.running.view(self.n_seg, self.seg_len).sum(1).tolist()


class Segment:
    """Rows ``[i * len, (i + 1) * len)`` of a :class:`WatchGroup`'s watch, as a watch."""

    def __init__(self, group: WatchGroup, i: int) -> None:
        self.group, self.i = group, i
        self.a, self.b = i * group.seg_len, (i + 1) * group.seg_len
        self.B = group.seg_len

    @property
    def n_running(self) -> int:
        return self.group.counts[self.i]

    @property
    def running(self) -> torch.Tensor:
        return self.group.watch.running[self.a : self.b]

    @property
    def fpos(self) -> torch.Tensor:
        return self.group.watch.fpos[self.a : self.b]

    @property
    def fval(self) -> torch.Tensor:
        return self.group.watch.fval[self.a : self.b]

    @property
    def fgn(self) -> torch.Tensor:
        return self.group.watch.fgn[self.a : self.b]


class RowTrack:
    """Rows ``[lo, hi)`` of the loop tensor ``X``: one trajectory's watch, records and steppers.

    ``steppers`` is either one stepper whose leaves are views of these rows (taking the shared
    pass's gradients) or one stepper per row (``apart``: each evaluates its own row through its
    closure, as ``B`` separate runs would). ``lr_hist[k]`` gets the rate of every param group
    of every stepper before step ``k``.
    """

    def __init__(
        self,
        X: torch.Tensor,
        lo: int,
        hi: int,
        f: Callable[[torch.Tensor], torch.Tensor],
        watch: Any,
        recorder: Any,
        steps: int,
        *,
        graph: bool = False,
        group: WatchGroup | None = None,
        segment: int = 0,
    ) -> None:
        self.X, self.lo, self.hi, self.f = X, lo, hi, f
        self.rows = X[lo:hi]
        if group is None:
            group = WatchGroup(watch, recorder, lo, hi - lo, 1, X.shape[1])
        self.group = group
        self.watch = group.segments[segment]
        self.recorder = group.recorder
        self.graph = graph
        self.steppers: list[Stepper] = []
        self._lr_groups: list[dict] = []
        self.apart = False
        self.lr_hist = np.empty((steps, 0))
        self.n_steps = steps
        self.done = False
        self._loss: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._g: torch.Tensor | None = None
        self._pass: tuple[torch.Tensor, torch.Tensor] | None = None
        self._offset, self._whole = 0, True

    # ------------------------------------------------------------------ building
    def leaves(self, groups: int) -> list[torch.Tensor]:
        """``groups`` leaves, equal consecutive blocks of the rows (views of ``X``'s storage)."""
        n = (self.hi - self.lo) // groups
        return [self.rows[g * n : (g + 1) * n].detach().requires_grad_(True) for g in range(groups)]

    def row_leaves(self) -> list[torch.Tensor]:
        """One ``(1, d)`` leaf per row (rows kept apart)."""
        return [
            self.rows[i : i + 1].detach().requires_grad_(True) for i in range(self.hi - self.lo)
        ]

    def evaluator(
        self, leaves: list[torch.Tensor], create_graph: bool
    ) -> Callable[[], torch.Tensor]:
        """The closure's evaluation through ``leaves``: grads set, frozen rows' grads zeroed."""
        f = self.f
        one = len(leaves) == 1
        sizes = [p.shape[0] for p in leaves]

        def evaluate(zero_frozen: bool = True) -> torch.Tensor:
            for p in leaves:
                p.grad = None
            P = leaves[0] if one else torch.cat(leaves)
            v = f(P)
            loss = v.sum()
            backward(loss, create_graph)
            if zero_frozen and (not one or sizes[0] > 1):
                self._zero_frozen(leaves)
            self._v = v
            return loss

        return evaluate

    def set_steppers(self, steppers: list[Stepper], apart: bool, lr_columns: int) -> None:
        self.steppers = steppers
        self.apart = apart
        self.lr_hist = np.empty((self.n_steps, lr_columns))
        # the param groups whose rates ``lr_hist`` records, in column order
        self._lr_groups = [grp for s in steppers for grp in s.optimizer.param_groups]

    # ------------------------------------------------------------------ the loop's calls
    def evaluate_own(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Values, gradients and their sum through the single stepper's leaves (graph kept)."""
        s = self.steppers[0]
        loss = s.evaluate(False)  # type: ignore[call-arg]  # the watch decides first
        grads = s.leaves[0].grad if len(s.leaves) == 1 else torch.cat([p.grad for p in s.leaves])
        assert self._v is not None
        return self._v.detach(), grads.detach(), loss

    def observe_own(self, k: int, final: bool = False) -> None:
        """Evaluate through the stepper's graph (second-order rules), then observe."""
        with torch.enable_grad():
            v, g, loss = self.evaluate_own()
        if not self.observe(k, v, g, loss, final) and not final:
            self.done, self.n_steps = True, k

    def observe(
        self,
        k: int,
        v: torch.Tensor,
        g: torch.Tensor,
        total: torch.Tensor | None,
        final: bool = False,
    ) -> bool:
        """The watch and the records at iterate ``k`` (a track alone in its group); whether
        any of its rows still runs."""
        self.group.observe(k, self.rows, v, g, total, final)
        self._v, self._g, self._loss = v, g, total
        return self.watch.n_running > 0

    def advance(self, k: int) -> None:
        """Step every stepper whose rows still run, then restore the frozen rows."""
        w = self.watch
        hist = self.lr_hist
        for j, grp in enumerate(self._lr_groups):
            lr = grp.get("lr")
            hist[k, j] = lr if type(lr) is float else lr_of(grp)
        v, g = self._v, self._g
        if v is None or g is None:  # slices of the shared pass, taken now
            pv, pg = self._pass
            if self._whole:
                v, g = pv, pg
            else:
                a, b = self._offset, self._offset + (self.hi - self.lo)
                v, g = pv[a:b], pg[a:b]
        if self.apart:
            idx = range(w.B) if w.n_running == w.B else w.running.nonzero().flatten().tolist()
            for i in idx:
                s = self.steppers[i]
                s.step(k, None, float(v[i]) if s.plateau else None, f" (row {i})")
            return
        s = self.steppers[0]
        partial = w.n_running < w.B
        loss = self._loss
        if loss is None:  # the functional step needs only "the gradients are set"
            loss = v if s.fast is not None else v.sum()
        grads = None
        if not self.graph:  # hand the shared pass's gradients over as views (no copy)
            if partial:
                g = torch.where(w.running[:, None], g, torch.zeros((), dtype=g.dtype))
            if len(s.leaves) == 1:
                grads = [g]
            else:
                grads, n = [], 0
                for p in s.leaves:
                    grads.append(g[n : n + p.shape[0]])
                    n += p.shape[0]
            if s.fast is None:  # torch.optim reads .grad
                for p, gp in zip(s.leaves, grads, strict=True):
                    p.grad = gp
        elif partial:
            self._zero_frozen(s.leaves)
        metric = float(v[w.running].mean()) if s.plateau else None
        s.step(k, loss, metric, grads=grads if s.fast is not None else None)
        if partial:
            with torch.no_grad():
                self.rows.copy_(torch.where(w.running[:, None], self.rows, w.fpos))
        if not self.graph and s.fast is None:
            for p in s.leaves:
                p.grad = None

    def _zero_frozen(self, leaves: list[torch.Tensor]) -> None:
        w = self.watch
        if w.n_running == w.B:
            return
        keep = w.running.clone()[:, None]  # the graph must not see later in-place updates
        n = 0
        for p in leaves:
            m = p.shape[0]
            sl = keep[n : n + m]
            n += m
            if p.grad is None:
                continue
            if p.grad.requires_grad:  # out of place: the gradient carries the graph for HVPs
                p.grad = torch.where(sl, p.grad, torch.zeros((), dtype=p.dtype))
            else:
                p.grad.masked_fill_(~sl, 0.0)


class ModuleTrack:
    """A model's parameters under one stepper: the loop's track for network training.

    Step ``k`` evaluates ``loss_at(k)`` (the objective on step ``k``'s mini-batch) with one
    backward pass (``create_graph`` for second-order rules), hands the value to
    ``watch(k, loss, final)`` (which returns whether to go on) and steps the optimizer with a
    closure over the same mini-batch. With ``final_eval`` the loop's final observation
    evaluates ``loss_at(steps)`` without gradients (the range test's last loss); otherwise it
    is skipped (training reports its own final loss).
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        loss_at: Callable[[int], torch.Tensor],
        watch: Callable[[int, torch.Tensor, bool], bool],
        steps: int,
        *,
        final_eval: bool = False,
    ) -> None:
        self.params = list(params)
        self.loss_at, self.watch = loss_at, watch
        self.final_eval = final_eval
        self.stepper: Stepper | None = None
        self.second_order = False
        self.done = False
        self.n_steps = steps
        self._k = 0
        self._loss: torch.Tensor | None = None

    def set_stepper(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        second_order: bool = False,
        rates: np.ndarray | None = None,
        label: str = "optimizer",
    ) -> Stepper:
        """Build the track's stepper (its closure re-evaluates the current mini-batch)."""
        self.second_order = second_order
        self.stepper = Stepper(
            self.params,
            optimizer,
            lambda: self._evaluate(self._k),
            rates=rates,
            second_order=second_order,
            label=label,
        )
        return self.stepper

    def _evaluate(self, k: int) -> torch.Tensor:
        for p in self.params:
            p.grad = None
        loss = self.loss_at(k)
        backward(loss, self.second_order)
        return loss

    def observe_own(self, k: int, final: bool = False) -> None:
        if final:
            if self.final_eval:
                with torch.no_grad():
                    self.watch(k, self.loss_at(k).detach(), True)
            return
        self._k = k
        with torch.enable_grad():
            loss = self._evaluate(k)
        self._loss = loss
        if not self.watch(k, loss.detach(), False):
            self.done, self.n_steps = True, k

    def advance(self, k: int) -> None:
        assert self.stepper is not None
        self.stepper.step(k, self._loss)
        self._loss = None

    def release(self) -> None:
        """Drop the parameters' gradients (a graph, for second-order rules)."""
        for p in self.params:
            p.grad = None


def _row_groups(
    leaves: list[torch.Tensor],
    rates: list[float] | None,
    row_fn: Callable,
    first_row: int = 0,
    rate_of: Callable[[int], float] | None = None,
) -> list[dict]:
    """Param groups for ``leaves`` (row ids from ``first_row``: noise does not depend on
    batching); group ``j`` gets rate ``rates[j]`` (or ``rate_of(j)``)."""
    groups = []
    row = first_row
    for j, leaf in enumerate(leaves):
        g: dict[str, Any] = {
            "params": [leaf],
            "rows_independent": True,
            "row_fn": row_fn,
            "row_offset": row,
        }
        if rate_of is not None:
            g["lr"] = rate_of(j)
        elif rates is not None:
            g["lr"] = rates[j]
        groups.append(g)
        row += leaf.shape[0]
    return groups


def _build_optimizer(spec: Any, groups: list[dict]) -> torch.optim.Optimizer:
    try:
        return spec.factory(groups)
    except DescentlabError:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{spec.label}: could not be built on the batch: {exc}"
        ) from None


def build_steppers(
    track: RowTrack,
    spec: Any,
    *,
    steps: int,
    groups: int = 1,
    rates: list[float] | None = None,
    schedule: Any = None,
    apart: bool = False,
    row_fn: Callable | None = None,
    fixed_rates: np.ndarray | None = None,
    first_row: int = 0,
    fast_path: Callable[[torch.optim.Optimizer], Callable[..., None] | None] | None = None,
    row_hessian: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Give ``track`` its steppers: one optimizer over ``groups`` leaves, or one per row.

    ``rates`` (one per group, the lrs grid) become the groups' learning rates; rows kept apart
    take ``rates[i // (B / groups)]``. ``fixed_rates`` is a rate per step (the range test).
    ``fast_path(optimizer)`` may return a function stepping the rule without
    ``optimizer.step`` (see :class:`Stepper`): first-order rules, and second-order ones that
    take closed-form Hessians and need no gradient graph. ``row_hessian`` (closed-form per-row
    Hessians) goes to second-order rules as the ``row_hessian`` group key; those that accept it
    then evaluate without the gradient's graph.
    """
    second = bool(spec.second_order)
    B = track.hi - track.lo
    extra = {} if row_hessian is None or not second else {"row_hessian": row_hessian}

    def build(leaves: list[torch.Tensor], groups_: list[dict]) -> tuple[Any, bool]:
        for g in groups_:
            g.update(extra)
        opt = _build_optimizer(spec, groups_)
        # a rule that takes the closed-form Hessians needs no graph of the gradient
        graph = second and not (extra and getattr(opt, "accepts_row_hessian", False))
        return opt, graph

    if not apart:
        leaves = track.leaves(groups)
        opt, graph = build(leaves, _row_groups(leaves, rates, row_fn, first_row))
        track.graph = graph
        sched = schedule.build(opt, steps) if schedule is not None else None
        fast = None
        if fast_path is not None and not graph and (second or not spec.needs_closure):
            fast = fast_path(opt)  # first-order rules, and second-order ones on closed forms
        stepper = Stepper(
            leaves,
            opt,
            track.evaluator(leaves, graph),
            schedule=sched,
            schedule_spec=schedule,
            rates=fixed_rates,
            second_order=graph,
            label=spec.label,
            fast=fast,
        )
        track.set_steppers([stepper], apart=False, lr_columns=groups)
        return
    track.graph = False
    B0 = B // groups
    steppers = []
    for i, leaf in enumerate(track.row_leaves()):
        rate = None if rates is None else (lambda _j, i=i: rates[i // B0])
        opt, graph = build([leaf], _row_groups([leaf], None, row_fn, first_row + i, rate))
        sched = schedule.build(opt, steps) if schedule is not None else None
        steppers.append(
            Stepper(
                [leaf],
                opt,
                track.evaluator([leaf], graph),
                schedule=sched,
                schedule_spec=schedule,
                rates=fixed_rates,
                second_order=graph,
                label=spec.label,
            )
        )
    track.set_steppers(steppers, apart=True, lr_columns=B)


def evaluate_rows(
    f: Callable[[torch.Tensor], torch.Tensor], P: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and gradients of ``f`` at the rows of ``P`` from one backward pass of the sum."""
    X = P.detach().requires_grad_(True)
    with torch.enable_grad():
        v = f(X)
        (g,) = torch.autograd.grad(v.sum(), X)
    return v.detach(), g


def step_loop(
    tracks: Sequence[Any],
    steps: int,
    *,
    value_and_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> int:
    """Advance ``tracks`` for at most ``steps`` steps: THE loop of the project.

    Each step ``k``: every live track observes iterate ``k`` (row tracks of one tensor that do
    not need the gradient's graph share one pass of ``value_and_grad`` over the rows they span,
    in row order; every other track evaluates itself), its watch stops rows, and each track
    with a running row advances its steppers. A track with nothing running is left out from
    then on; the loop ends early when none is left. After the last step every live track
    observes its final iterate (``final=True``).

    Returns the number of steps taken (``steps`` unless every track stopped earlier).
    """
    if not tracks:
        return 0
    rows = [t for t in tracks if isinstance(t, RowTrack)]
    vg = value_and_grad
    if vg is None and rows:
        f = rows[0].f
        vg = lambda P: evaluate_rows(f, P)  # noqa: E731
    # non-finite values are outcomes of a run (the watches stop those rows), not numpy warnings
    # from the small-batch paths; one error state for the whole loop (per step it costs ~2 us)
    with np.errstate(all="ignore"):
        return _run_loop(tracks, steps, vg, on_step)


def _run_loop(tracks: Sequence[Any], steps: int, vg: Any, on_step: Any) -> int:
    k = 0
    plans: dict = {}
    for k in range(steps):
        live = [t for t in tracks if not t.done]
        if not live:
            break
        _observe_all(live, k, vg, False, plans)
        for t in live:
            if not t.done:
                t.advance(k)
        if on_step is not None:
            on_step(k)
    else:
        k = steps
    live = [t for t in tracks if not t.done]
    if live:
        with torch.no_grad():
            _observe_all(live, steps, vg, True, plans)
    return k


def _observe_all(live: list[Any], k: int, vg: Any, final: bool, plans: dict) -> None:
    shared = []
    for t in live:
        if isinstance(t, RowTrack) and (final or not t.graph):
            shared.append(t)
        else:
            t.observe_own(k, final)
    if not shared:
        return
    key = tuple(map(id, shared))
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _shared_plan(shared)
    P, parts, whole, offsets = plan
    v, g = vg(P)
    for gr, x, a, b in parts:
        gv, gg = (v, g) if a is None else (v[a:b], g[a:b])
        gr.observe(k, x, gv, gg, None, final)
    for t, offset in zip(shared, offsets, strict=True):
        t._pass, t._offset, t._whole = (v, g), offset, whole
        t._v = t._g = None
        t._loss = None
        if t.watch.n_running == 0 and not final:
            t.done, t.n_steps = True, k


def _shared_plan(shared: list[RowTrack]) -> tuple[torch.Tensor, list, bool, list[int]]:
    """What one shared pass over ``shared`` evaluates: the span of rows ``P`` of ``X``, each
    watch group with its rows and its slice of the pass (``None``: all of it), whether the
    pass is exactly the one track's rows, and where each track's rows start in it."""
    X = shared[0].X
    groups: dict[int, WatchGroup] = {}
    for t in shared:
        groups.setdefault(id(t.group), t.group)
    lo = min(gr.lo for gr in groups.values())
    hi = max(gr.hi for gr in groups.values())
    parts = []
    for gr in groups.values():
        a, b = gr.lo - lo, gr.hi - lo
        whole_group = (a, b) == (0, hi - lo)
        parts.append((gr, X[gr.lo : gr.hi], None if whole_group else a, b))
    whole = len(shared) == 1 and (shared[0].lo, shared[0].hi) == (lo, hi)
    return X[lo:hi], parts, whole, [t.lo - lo for t in shared]


__all__ = [
    "ModuleTrack",
    "RowTrack",
    "Segment",
    "Stepper",
    "Track",
    "WatchGroup",
    "backward",
    "build_steppers",
    "evaluate_rows",
    "lr_of",
    "set_lr",
    "step_loop",
]
