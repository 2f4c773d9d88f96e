"""The batched engine: run an optimizer from ``B`` starts at once, with per-row stop rules.

All ``B`` starts live in one ``(B, d)`` parameter tensor. One forward pass of ``f(P)`` and one
backward pass of ``f(P).sum()`` give every row's value and gradient, and an element-wise
``torch.optim`` rule (SGD, Adam, ...) then advances the ``B`` rows as ``B`` independent runs.
Rules that are not element-wise (L-BFGS, per-tensor norms) are run with one optimizer per row
over a ``(1, d)`` tensor, so rows never interfere.

Each optimizer of a call becomes a track of the one step loop
(:mod:`descentlab.loop.stepper`): element-wise rules one stepper over all their rows, rules
kept apart one stepper per row, and the first-order racers of a small race share one tensor
and one forward/backward pass per step.

Stop rules (:class:`~descentlab.loop.watches.StopRules`), checked at every iterate ``x_k`` of
every running row:

* ``diverged``: the value or the gradient norm is not finite, or ``|x_k| > bound`` (Euclidean
  norm). The row is frozen at its last finite iterate ``x_{k-1}``; its stop step is ``k``.
* ``converged``: ``|grad f(x_k)| <= grad_tol``. The row is frozen at ``x_k``.
* ``max_steps``: the row is still running after ``steps`` steps.

A frozen row has its gradient zeroed before every optimizer step and its position restored
after it, so the rest of the batch goes on untouched; the run ends early once every row has
stopped.

Memory: the recorded positions, losses and gradient norms take
``8 * T * B * (d + 2)`` bytes with ``T = steps // record_every + 2`` records, plus ``8 * steps``
bytes per learning-rate column (one per rate, or one per row when rows run apart); a run that
would need more than ``max_memory`` (default 256 MiB) is refused with the ``record_every`` that
fits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from descentlab.engine.batch import as_starts, objective, row_function, value_and_grad
from descentlab.errors import InvalidParameterError, check_positive
from descentlab.landscapes.base import Landscape
from descentlab.loop.layout import column_major_repeat
from descentlab.loop.recorder import Recorder, auto_record_every, check_memory
from descentlab.loop.stepper import RowTrack, WatchGroup, build_steppers, step_loop
from descentlab.loop.watches import StopRules
from descentlab.optim.functional import functional_step
from descentlab.progress import Progress
from descentlab.trajectory import Race, Trajectory

DEFAULT_MAX_MEMORY = 256 * 2**20
DEFAULT_GRAD_TOL = 1e-8
DEFAULT_BOUND = 1e6
SHARED_RACE_MAX_ROWS = 16384  # rows of all racers together, for the shared pass

OptimizerLike = Any  # str | Callable | OptimizerSpec | (name, dict)


def _grad_tol_for(spec: Any, grad_tol: float | None) -> float:
    """The converged rule's tolerance for one optimizer (see ``run``'s ``grad_tol``)."""
    if grad_tol is not None:
        return grad_tol
    opt = spec.factory([_probe_tensor()])
    return 0.0 if getattr(opt, "moves_at_critical_points", False) else DEFAULT_GRAD_TOL


# ---------------------------------------------------------------------------- resolution
def resolve(optimizer: OptimizerLike, **hyper: Any) -> Any:
    """An ``OptimizerSpec`` from a name, a callable, a spec or a ``(name, dict)`` pair."""
    from descentlab.optim import OptimizerSpec, resolve_optimizer

    if isinstance(optimizer, tuple) and len(optimizer) == 2 and isinstance(optimizer[1], Mapping):
        name, own = optimizer
        return resolve_optimizer(name, **{**hyper, **dict(own)})
    if isinstance(optimizer, OptimizerSpec | str) or callable(optimizer):
        return resolve_optimizer(optimizer, **hyper)
    raise InvalidParameterError(
        "optimizer must be a name, a callable returning a torch.optim.Optimizer, an "
        f"OptimizerSpec or a (name, hyper-parameters) pair; got {type(optimizer).__name__}"
    )


def is_elementwise(spec: Any) -> bool:
    """Whether ``spec`` keeps the rows of one ``(B, d)`` tensor independent (probed if unknown)."""
    if spec.elementwise is not None:
        return bool(spec.elementwise)
    from descentlab.optim import is_elementwise as probe

    return bool(probe(spec))


def _make_schedule(schedule: Any) -> Any:
    """A validated ``ScheduleSpec`` (or ``None``) from what ``run(schedule=...)`` accepts."""
    if schedule is None:
        return None
    from descentlab.optim.schedules import resolve_schedule

    if isinstance(schedule, tuple) and len(schedule) == 2 and isinstance(schedule[1], Mapping):
        return resolve_schedule(schedule[0], **dict(schedule[1]))
    return resolve_schedule(schedule)


# ---------------------------------------------------------------------------- public entry
def run(
    landscape: Landscape,
    optimizer: OptimizerLike | list[OptimizerLike],
    starts: Any,
    steps: int,
    *,
    schedule: Any = None,
    lrs: Sequence[float] | None = None,
    record_every: int | str = 1,
    grad_tol: float | None = None,
    bound: float = DEFAULT_BOUND,
    max_memory: int = DEFAULT_MAX_MEMORY,
    seed: int = 0,
    progress: bool | None = None,
    **hyper: Any,
) -> Trajectory | Race:
    """Run ``optimizer`` from every start at once; a list of optimizers gives a :class:`Race`.

    Each row follows the optimizer's rule on ``f`` independently, e.g. for ``"gd"``
    ``x_{k+1} = x_k - lr * grad f(x_k)``, and stops when converged
    (``|grad f(x_k)| <= grad_tol``), diverged (non-finite value or gradient, or
    ``|x_k| > bound``) or after ``steps`` steps (see the module docstring).

    Args:
        landscape: the objective (:class:`~descentlab.landscapes.Landscape`).
        optimizer: a registered name (``"adam"``), any callable ``params -> torch.optim.Optimizer``,
            an ``OptimizerSpec`` or a ``(name, {hyper})`` pair; a list of these runs a race on the
            same starts.
        starts: a ``(B, d)`` array, one point ``(d,)``, or :func:`grid_starts` /
            :func:`random_starts`.
        steps: the step budget per row.
        schedule: a learning-rate schedule: anything
            :func:`descentlab.optim.schedules.resolve_schedule` takes (a name, a
            ``torch.optim.lr_scheduler`` class or ``functools.partial`` of one, a function
            ``step -> factor``, a ``ScheduleSpec``) or a ``(name, params)`` pair. It is built with
            the run length (``steps``) and stepped after every step. Reduce-on-plateau sees the
            mean loss of the running rows (each row's own loss when rows run apart).
        lrs: a grid of learning rates run in one go: one parameter group per rate; row
            ``g * B0 + i`` is start ``i`` with rate ``lrs[g]`` (``Trajectory.row_lr``).
        record_every: record positions every this many steps (the final state is always kept);
            ``"auto"``: every step while the records stay under 32 MiB, else the fewest steps
            apart that fit (:func:`~descentlab.loop.recorder.auto_record_every`).
        grad_tol: gradient-norm tolerance of the ``converged`` rule (``0`` disables it). A
            point with a tiny gradient may be a saddle or a plateau, not a minimum: the rule
            only stops the row, :func:`descentlab.analysis.diagnose` says what it stopped at.
            ``None`` (default) means ``1e-8``, except for optimizers that move where the
            gradient vanishes (their class sets ``moves_at_critical_points = True``:
            ``perturbed_gd``, ``noisy_gd``, ``cubic_newton``), for which the rule is off so
            they can escape a saddle they start on.
        bound: the ``diverged`` rule's bound on the Euclidean norm ``|x_k|`` (``inf`` disables
            it).
        max_memory: bytes the records may take; larger runs are refused with advice.
        seed: seeds torch's generator inside the run (noisy optimizers), without touching the
            global one.
        progress: show a progress bar (``None``: when stderr is a terminal).
        **hyper: hyper-parameters for the optimizer(s), e.g. ``lr=0.01``.

    Returns:
        a :class:`~descentlab.trajectory.Trajectory` or, for a list, a
        :class:`~descentlab.trajectory.Race`.

    Example:
        >>> from descentlab.engine import grid_starts
        >>> from descentlab.landscapes import Landscape
        >>> L = Landscape(lambda P: P[:, 0] ** 2 + 10 * P[:, 1] ** 2, dim=2, domain=(-2, 2))
        >>> tr = run(L, "gd", grid_starts(L, 5), steps=500, lr=0.05, grad_tol=1e-10)
        >>> sorted(set(tr.stop_reason.tolist()))
        ['converged']
    """
    if not isinstance(landscape, Landscape):
        raise InvalidParameterError(
            f"landscape must be a Landscape, got {type(landscape).__name__}"
        )
    steps = _check_int("steps", steps, minimum=0)
    if record_every != "auto":
        record_every = _check_int("record_every", record_every, minimum=1)
    if grad_tol is not None:
        grad_tol = check_positive("grad_tol", grad_tol, allow_zero=True)
    bound = _check_bound(bound)
    max_memory = _check_int("max_memory", max_memory, minimum=1)
    seed = _check_int("seed", seed, minimum=0)
    X0 = as_starts(landscape, starts)
    rates = _check_lrs(lrs)
    sched_spec = _make_schedule(schedule)

    if isinstance(optimizer, list):
        if not optimizer:
            raise InvalidParameterError("the list of optimizers is empty")
        specs = [resolve(o, **hyper) for o in optimizer]
    else:
        specs = [resolve(optimizer, **hyper)]
    for spec in specs:
        if rates is not None and "lr" not in spec.factory([_probe_tensor()]).defaults:
            raise InvalidParameterError(f"{spec.label} has no learning rate; lrs cannot be used")

    tols = [_grad_tol_for(spec, grad_tol) for spec in specs]

    B = X0.shape[0] * (1 if rates is None else len(rates))
    apart = [not is_elementwise(spec) for spec in specs]
    G = len(rates) if rates is not None else 1
    if record_every == "auto":
        record_every = auto_record_every(B, landscape.dim, steps)
    for rows_apart in apart:  # rows run apart keep one learning-rate column per row
        check_memory(B, landscape.dim, steps, record_every, max_memory, B if rows_apart else G)
    cfg = RunConfig(steps, sched_spec, rates, record_every, bound, seed, progress)

    # First-order element-wise optimizers of a race share one forward/backward pass per step
    # over all their rows while per-step overheads dominate (small batches: measured 1.5-1.8x
    # faster); for large batches separate runs are as fast and keep the working set small.
    candidates = [i for i, s in enumerate(specs) if not apart[i] and not s.second_order]
    done: dict[int, Trajectory] = {}
    for tol in sorted({tols[i] for i in candidates}):
        shared = [i for i in candidates if tols[i] == tol]  # one stop rule per shared pass
        if len(shared) < 2 or len(shared) * B > SHARED_RACE_MAX_ROWS:
            continue
        runs = _run_shared(landscape, [specs[i] for i in shared], X0, cfg, tol)
        done.update(zip(shared, runs, strict=True))
    for i, spec in enumerate(specs):
        if i not in done:
            done[i] = _run_tracks(landscape, [spec], X0, cfg, tols[i], apart=apart[i])[0]
    results: dict[str, Trajectory] = {}
    for i, spec in enumerate(specs):
        label = spec.label
        for j in itertools.count(2):
            if label not in results:
                break
            label = f"{spec.label}#{j}"
        done[i].optimizer = label
        results[label] = done[i]
    if isinstance(optimizer, list):
        return Race(results)
    return next(iter(results.values()))


# ---------------------------------------------------------------------------- checks
def _probe_tensor() -> torch.Tensor:
    return torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_bound(bound: Any) -> float:
    try:
        b = float(bound)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"bound must be a number, got {bound!r}") from None
    if not b > 0:
        raise InvalidParameterError(f"bound must be > 0 (or inf to disable), got {bound!r}")
    return b


def _check_lrs(lrs: Sequence[float] | None) -> list[float] | None:
    if lrs is None:
        return None
    vals = list(np.atleast_1d(np.asarray(lrs, dtype=object)))
    if not vals:
        raise InvalidParameterError("lrs is empty; give at least one learning rate")
    return [check_positive("lrs entry", v) for v in vals]


# ---------------------------------------------------------------------------- building the list
@dataclass(frozen=True)
class RunConfig:
    """What every trajectory of one :func:`run` call shares (checked values)."""

    steps: int
    schedule: Any  # ScheduleSpec | None
    rates: list[float] | None  # the lrs grid: one parameter group per rate
    record_every: int
    bound: float
    seed: int
    progress: bool | None

    @property
    def groups(self) -> int:
        return 1 if self.rates is None else len(self.rates)


def _run_shared(
    landscape: Landscape, specs: list[Any], X0: torch.Tensor, cfg: RunConfig, grad_tol: float
) -> list[Trajectory]:
    """Several first-order element-wise optimizers from the same starts, in one tensor.

    Member ``m`` owns rows ``[m * B0 * G, (m + 1) * B0 * G)`` of one ``(K * B0 * G, d)``
    tensor. Each step evaluates ``f`` and its gradient once for every row of every member;
    each member then applies its own stop rules, its optimizer (whose parameters are views of
    its rows; the gradients are handed over as views too) and its schedule, exactly as if it
    ran alone. A member whose rows have all stopped is left out of the rest of the run.
    """
    return _run_tracks(landscape, specs, X0, cfg, grad_tol, apart=False)


def _run_tracks(
    landscape: Landscape,
    specs: list[Any],
    X0: torch.Tensor,
    cfg: RunConfig,
    grad_tol: float,
    *,
    apart: bool,
) -> list[Trajectory]:
    """One track per spec over consecutive rows of one tensor, advanced by the one loop."""
    B0, d = X0.shape
    G = cfg.groups
    Bm = B0 * G
    f = objective(landscape)
    row_fn = row_function(landscape)
    # row g * B0 + i of a member: start i, rate g. Stored column-major (coordinate j of every
    # row contiguous, strides (1, N)) when the landscape accepts any layout: formulas read
    # coordinates as contiguous vectors, and element-wise rules and whole-batch reductions see
    # dense memory either way. Other functions get row-major rows (``P.view`` works on them).
    X = (
        column_major_repeat(X0, G * len(specs))
        if landscape.any_layout
        else X0.repeat(G * len(specs), 1)
    )
    # one watch and one recorder over every member's rows: observed once per step
    rules = StopRules(X, cfg.steps, grad_tol, cfg.bound)
    rec = Recorder(X.shape[0], d, cfg.steps, cfg.record_every)
    group = WatchGroup(rules, rec, 0, Bm, len(specs), d)
    tracks = []
    for m, spec in enumerate(specs):
        lo = m * Bm
        track = RowTrack(X, lo, lo + Bm, f, rules, rec, cfg.steps, group=group, segment=m)
        build_steppers(
            track,
            spec,
            steps=cfg.steps,
            groups=G,
            rates=cfg.rates,
            schedule=cfg.schedule,
            apart=apart,
            row_fn=row_fn,
            fast_path=functional_step,
            row_hessian=landscape.analytic_hessian,
        )
        tracks.append(track)
    label = " vs ".join(s.label for s in specs)
    bar = Progress(cfg.steps, label, enabled=cfg.progress)
    with torch.random.fork_rng(devices=[]), bar:
        torch.manual_seed(cfg.seed)
        step_loop(
            tracks,
            cfg.steps,
            value_and_grad=value_and_grad(landscape),
            on_step=lambda k: bar.update(1),
        )
    return [_trajectory(landscape, spec, X0, t, cfg) for spec, t in zip(specs, tracks, strict=True)]


def _trajectory(
    landscape: Landscape, spec: Any, X0: torch.Tensor, track: RowTrack, cfg: RunConfig
) -> Trajectory:
    """The trajectory of one track: its rows of the group's watch and records."""
    B0 = X0.shape[0]
    G = cfg.groups
    B = B0 * G
    rules: StopRules = track.group.watch
    rec: Recorder = track.group.recorder
    a, b = track.lo - track.group.lo, track.hi - track.group.lo
    # A track alone in its group owns the watch's and the recorder's arrays (the run drops
    # them after this): it takes them without copying; tracks sharing a group take copies.
    alone = (a, b) == (0, rules.B)

    def own(arr: np.ndarray) -> np.ndarray:  # C order either way
        return np.ascontiguousarray(arr) if alone else np.array(arr)

    stop_step = own(rules.stop_step[a:b].numpy())
    fpos, fval, fgn = rules.fpos[a:b], rules.fval[a:b], rules.fgn[a:b]
    # records up to the track's last stop (the group may have gone on), then its frozen end
    last = int(stop_step.max())
    steps_rec = [s for s in rec.steps_rec if s <= last]
    T = len(steps_rec)
    positions, losses, gnorms = rec.pos[:T, a:b], rec.loss[:T, a:b], rec.gn[:T, a:b]
    if not steps_rec or steps_rec[-1] < last:
        steps_rec.append(last)
        positions = np.concatenate([positions, fpos.numpy()[None]])
        losses = np.concatenate([losses, fval.numpy()[None]])
        gnorms = np.concatenate([gnorms, fgn.numpy()[None]])
    else:
        positions, losses, gnorms = own(positions), own(losses), own(gnorms)
    lr_hist = track.lr_hist[: track.n_steps].copy()
    row_group = np.arange(B) if track.apart else np.repeat(np.arange(G), B0)
    if cfg.rates is not None:
        row_lr = np.repeat(np.asarray(cfg.rates, dtype=float), B0)
    elif lr_hist.shape[0] > 0:
        row_lr = lr_hist[0, row_group].astype(float)
    else:
        lr0 = spec.factory([_probe_tensor()]).defaults.get("lr", math.nan)
        row_lr = np.full(B, float(lr0) if isinstance(lr0, int | float) else math.nan)
    return Trajectory(
        starts=np.tile(X0.numpy(), (G, 1)),
        positions=positions,
        record_steps=np.asarray(steps_rec, dtype=np.int64),
        losses=losses,
        grad_norms=gnorms,
        lr=lr_hist,
        row_group=row_group,
        row_lr=row_lr,
        stop_step=stop_step,
        stop_reason=own(rules.reasons[a:b]),
        final_points=own(fpos.numpy()),
        final_losses=own(fval.numpy()),
        final_grad_norms=own(fgn.numpy()),
        optimizer=spec.label,
        hyper=dict(spec.hyper),
        landscape_name=landscape.name,
        landscape_params=dict(landscape.params),
        steps=cfg.steps,
        record_every=rec.record_every,
        grad_tol=math.sqrt(rules.tol2),
        bound=rules.bound,
        seed=cfg.seed,
        schedule="" if cfg.schedule is None else cfg.schedule.label,
    )
