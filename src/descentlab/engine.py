"""The batched engine: run an optimizer from ``B`` starts at once, with per-row stop rules.

All ``B`` starts live in one ``(B, d)`` parameter tensor. One forward pass of ``f(P)`` and one
backward pass of ``f(P).sum()`` give every row's value and gradient, and an element-wise
``torch.optim`` rule (SGD, Adam, ...) then advances the ``B`` rows as ``B`` independent runs.
Rules that are not element-wise (L-BFGS, per-tensor norms) are run with one optimizer per row
over a ``(1, d)`` tensor, so rows never interfere.

Stop rules, checked at every iterate ``x_k`` of every running row:

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
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from descentlab.errors import DescentlabError, InvalidParameterError, check_positive
from descentlab.landscapes.base import Landscape
from descentlab.progress import Progress
from descentlab.trajectory import Race, Trajectory

DEFAULT_MAX_MEMORY = 256 * 2**20
DEFAULT_GRAD_TOL = 1e-8
DEFAULT_BOUND = 1e6
SHARED_RACE_MAX_ROWS = 16384  # rows of all racers together, for the shared pass

_RUNNING, _CONVERGED, _MAX_STEPS, _DIVERGED = 0, 1, 2, 3
_REASON_NAMES = {_CONVERGED: "converged", _MAX_STEPS: "max_steps", _DIVERGED: "diverged"}

OptimizerLike = Any  # str | Callable | OptimizerSpec | (name, dict)


def _grad_tol_for(spec: Any, grad_tol: float | None) -> float:
    """The converged rule's tolerance for one optimizer (see ``run``'s ``grad_tol``)."""
    if grad_tol is not None:
        return grad_tol
    opt = spec.factory([_probe_tensor()])
    return 0.0 if getattr(opt, "moves_at_critical_points", False) else DEFAULT_GRAD_TOL


# ---------------------------------------------------------------------------- starts
_MAX_GRID = 10_000_000


def grid_starts(landscape: Landscape, n: int | Sequence[int]) -> np.ndarray:
    """A regular grid of starts over the landscape's domain: ``prod(n)`` points, shape ``(B, d)``.

    ``n`` is the number of points per axis (one int for every axis, or one per axis); the grid
    includes the domain's corners. The first coordinate varies slowest.

    Example:
        >>> from descentlab.landscapes import Landscape
        >>> L = Landscape(lambda P: (P**2).sum(-1), dim=2, domain=(-1, 1))
        >>> grid_starts(L, 3).shape
        (9, 2)
    """
    box = landscape.require_domain()
    d = landscape.dim
    counts = [n] * d if isinstance(n, int | np.integer) else list(n)
    if len(counts) != d:
        raise InvalidParameterError(f"grid needs {d} counts (one per axis), got {len(counts)}")
    for c in counts:
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1:
            shown = counts if len(counts) <= 10 else c
            raise InvalidParameterError(f"grid counts must be positive integers, got {shown}")
    total = 1
    for c in counts:  # stop at the limit: 5 per axis in a million dimensions is a huge integer
        total *= int(c)
        if total > _MAX_GRID:
            digits = sum(math.log10(int(c)) for c in counts)
            size = f"{math.prod(int(c) for c in counts):,}" if digits < 30 else f"~1e{int(digits)}"
            raise InvalidParameterError(
                f"a grid of {size} starts is too large (at most {_MAX_GRID:,})"
            )
    axes = [
        np.linspace(lo, hi, int(c)) if c > 1 else np.array([(lo + hi) / 2])
        for (lo, hi), c in zip(box, counts, strict=True)
    ]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1).astype(np.float64)


def random_starts(landscape: Landscape, n: int, seed: int = 0) -> np.ndarray:
    """``n`` starts drawn uniformly from the landscape's domain (reproducible by ``seed``)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidParameterError(
            f"number of random starts must be a positive integer, got {n!r}"
        )
    if n > _MAX_GRID:
        raise InvalidParameterError(f"{n:,} random starts are too many (at most {_MAX_GRID:,})")
    return landscape.sample(int(n), seed=seed).detach().cpu().numpy().astype(np.float64)


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


def _elementwise(spec: Any) -> bool:
    if spec.elementwise is not None:
        return bool(spec.elementwise)
    try:
        from descentlab.optim import is_elementwise
    except ImportError:  # no probe available: keeping rows apart is always correct
        return False
    return bool(is_elementwise(spec))


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
    record_every: int = 1,
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
        record_every: record positions every this many steps (the final state is always kept).
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
    record_every = _check_int("record_every", record_every, minimum=1)
    if grad_tol is not None:
        grad_tol = check_positive("grad_tol", grad_tol, allow_zero=True)
    bound = _check_bound(bound)
    max_memory = _check_int("max_memory", max_memory, minimum=1)
    seed = _check_int("seed", seed, minimum=0)
    X0 = _check_starts(landscape, starts)
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
    apart = [not _elementwise(spec) for spec in specs]
    G = len(rates) if rates is not None else 1
    for rows_apart in apart:  # rows run apart keep one learning-rate column per row
        _check_memory(B, landscape.dim, steps, record_every, max_memory, B if rows_apart else G)

    # First-order element-wise optimizers of a race share one forward/backward pass per step
    # over all their rows while per-step overheads dominate (small batches: measured 1.5-1.8x
    # faster); for large batches separate runs are as fast and keep the working set small.
    candidates = [i for i, s in enumerate(specs) if not apart[i] and not s.second_order]
    done: dict[int, Trajectory] = {}
    for tol in sorted({tols[i] for i in candidates}):
        shared = [i for i in candidates if tols[i] == tol]  # one stop rule per shared pass
        if len(shared) < 2 or len(shared) * B > SHARED_RACE_MAX_ROWS:
            continue
        runs = _run_shared(
            landscape,
            [specs[i] for i in shared],
            X0,
            steps,
            sched_spec,
            rates,
            record_every,
            tol,
            bound,
            seed,
            progress,
        )
        done.update(zip(shared, runs, strict=True))
    for i, spec in enumerate(specs):
        if i not in done:
            done[i] = _run_spec(
                landscape,
                spec,
                X0,
                steps,
                sched_spec,
                rates,
                record_every,
                tols[i],
                bound,
                seed,
                progress,
                not apart[i],
            )
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


def _check_starts(landscape: Landscape, starts: Any) -> torch.Tensor:
    try:
        X = landscape.as_points(starts).detach().to(torch.float64).clone()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DescentlabError):
            raise
        raise InvalidParameterError(
            f"starts must be numbers of shape (B, {landscape.dim}): {exc}"
        ) from None
    if X.shape[0] == 0:
        raise InvalidParameterError("no starts given")
    if not torch.isfinite(X).all():
        raise InvalidParameterError("starts must be finite")
    return X


def _check_lrs(lrs: Sequence[float] | None) -> list[float] | None:
    if lrs is None:
        return None
    vals = list(np.atleast_1d(np.asarray(lrs, dtype=object)))
    if not vals:
        raise InvalidParameterError("lrs is empty; give at least one learning rate")
    return [check_positive("lrs entry", v) for v in vals]


def _check_memory(
    B: int, d: int, steps: int, record_every: int, max_memory: int, lr_columns: int = 1
) -> None:
    T = steps // record_every + 2
    need = 8 * T * B * (d + 2) + 8 * steps * lr_columns
    if need > max_memory:
        per_record = 8 * B * (d + 2)
        avail = max_memory - 8 * steps * lr_columns
        fit = max(1, avail // per_record - 2)
        advice = (
            f"use record_every >= {math.ceil(steps / fit)}"
            if avail >= 3 * per_record
            else "use fewer starts or fewer steps"
        )
        raise InvalidParameterError(
            f"recording {T} states of {B} starts in {d} dimensions needs {need / 2**20:.1f} MiB, "
            f"over max_memory={max_memory / 2**20:.1f} MiB; {advice}, or raise max_memory"
        )


# ---------------------------------------------------------------------------- the loops
class _Recorder:
    """Per-row stop bookkeeping and preallocated records, shared by both loops."""

    def __init__(
        self, X0: torch.Tensor, steps: int, record_every: int, grad_tol: float, bound: float
    ) -> None:
        B, d = X0.shape
        self.B, self.d = B, d
        self.record_every = record_every
        self.tol2 = grad_tol * grad_tol
        T = steps // record_every + 2
        self.pos = np.empty((T, B, d))
        self.loss = np.empty((T, B))
        self.gn = np.empty((T, B))
        self._pos_t = torch.from_numpy(self.pos)
        self._loss_t = torch.from_numpy(self.loss)
        self._gn_t = torch.from_numpy(self.gn)
        self.steps_rec: list[int] = []
        self.status = torch.zeros(B, dtype=torch.int8)
        self.running = torch.ones(B, dtype=torch.bool)
        self.n_running = B
        self.stop_step = torch.full((B,), steps, dtype=torch.int64)
        # frozen state of stopped rows, and the last finite iterate of every row
        self.fpos = X0.clone()
        self.fval = torch.full((B,), math.nan, dtype=torch.float64)
        self.fgn = torch.full((B,), math.nan, dtype=torch.float64)
        self.prev_pos = X0.clone()
        self.prev_val = torch.full((B,), math.nan, dtype=torch.float64)
        self.prev_gsq = torch.full((B,), math.nan, dtype=torch.float64)
        # row sums as a matrix-vector product: torch's CPU reduction over a short last axis is
        # ~40x slower than gemv at d = 2
        self.ones = torch.ones(d, dtype=torch.float64)
        self.bound = bound
        self.b2 = bound * bound
        # |x_ij| <= bound / sqrt(d) for every j implies |x_i| <= bound (largest finite if none)
        self.xbound = bound / math.sqrt(d) if bound != math.inf else sys.float_info.max
        self.lift = torch.zeros(B, dtype=torch.float64)

    def observe(
        self,
        k: int,
        x: torch.Tensor,
        v: torch.Tensor,
        g: torch.Tensor,
        final: bool = False,
        total: torch.Tensor | None = None,
    ) -> None:
        """Apply the stop rules at iterate ``k`` (values ``v``, gradients ``g`` at ``x``).

        ``v`` and ``g`` must be fresh tensors (they are kept, not copied); ``x`` is copied.
        ``total`` is ``v.sum()`` when the caller has it.
        """
        gsq = (g * g) @ self.ones
        if final or not self._nobody_stops(x, v, gsq, total):
            self._apply_rules(k, x, v, gsq, final)
        if final or k % self.record_every == 0:
            self._record(k, x, v, gsq.sqrt())
        if not final:
            self.prev_pos.copy_(x)
            self.prev_val = v
            self.prev_gsq = gsq

    def _nobody_stops(
        self, x: torch.Tensor, v: torch.Tensor, gsq: torch.Tensor, total: torch.Tensor | None
    ) -> bool:
        """A cheap sufficient test that no running row stops at this iterate.

        Reductions to a handful of scalars instead of per-row masks: the sum of the values is
        finite only if every value is; the smallest gradient norm of the running rows (stopped
        rows are lifted by ``1e300``) must pass the tolerance and the largest must be finite
        (nan propagates through both); ``max |x_ij| * sqrt(d) <= bound`` implies every row is
        inside the bound. Stopped rows sit at finite points inside the bound, so they never fail
        it. When the test fails, :meth:`_apply_rules` decides row by row.
        """
        gl = gsq if self.n_running == self.B else gsq + self.lift
        lo, hi = torch.aminmax(gl)
        xlo, xhi = torch.aminmax(x)
        tot = v.sum() if total is None else total.detach()
        t, lo_, hi_, xlo_, xhi_ = torch.stack([tot, lo, hi, xlo, xhi]).tolist()
        return (
            math.isfinite(t)
            and hi_ < math.inf
            and (lo_ > self.tol2 if self.tol2 > 0 else lo_ == lo_)
            and abs(xlo_) <= self.xbound
            and abs(xhi_) <= self.xbound
        )

    def _apply_rules(
        self, k: int, x: torch.Tensor, v: torch.Tensor, gsq: torch.Tensor, final: bool
    ) -> None:
        """The stop rules row by row (exact; see the module docstring)."""
        # ``gsq + 0 * v`` is nan unless both are finite (and nan compares false), so a row keeps
        # running iff its value and gradient are finite, its gradient is above the tolerance
        # and it is inside the bound.
        s = gsq + 0.0 * v
        keep = s > self.tol2 if self.tol2 > 0 else s == s
        if self.b2 != math.inf:
            keep &= (x * x) @ self.ones <= self.b2
        stop = ~keep
        if self.n_running < self.B:
            stop &= self.running
        if bool(stop.any()):
            ok = torch.isfinite(s)
            if self.b2 != math.inf:
                ok &= (x * x) @ self.ones <= self.b2
            div = stop & ~ok
            conv = stop & ok
            if bool(div.any()):
                self.fpos[div] = self.prev_pos[div]
                self.fval[div] = self.prev_val[div]
                self.fgn[div] = self.prev_gsq[div].sqrt()
                self.status[div] = _DIVERGED
            self.fpos[conv] = x[conv]
            self.fval[conv] = v[conv]
            self.fgn[conv] = gsq[conv].sqrt()
            self.status[conv] = _CONVERGED
            self.stop_step[stop] = k
            self.running &= ~stop
            self.n_running = int(self.running.sum())
        if final:
            rest = self.running
            self.fpos[rest] = x[rest]
            self.fval[rest] = v[rest]
            self.fgn[rest] = gsq[rest].sqrt()
            self.status[rest] = _MAX_STEPS
            self.stop_step[rest] = k
            self.running[:] = False
            self.n_running = 0
        self.lift = (~self.running).to(torch.float64) * 1e300

    def _record(self, k: int, x: torch.Tensor, v: torch.Tensor, gn: torch.Tensor) -> None:
        if self.steps_rec and self.steps_rec[-1] == k:
            return
        t = len(self.steps_rec)
        if self.n_running == self.B:
            self._pos_t[t].copy_(x)
            self._loss_t[t].copy_(v)
            self._gn_t[t].copy_(gn)
        else:
            r = self.running
            torch.where(r[:, None], x, self.fpos, out=self._pos_t[t])
            torch.where(r, v, self.fval, out=self._loss_t[t])
            torch.where(r, gn, self.fgn, out=self._gn_t[t])
        self.steps_rec.append(k)

    def record_final(self) -> None:
        """Record the frozen final state (after an early stop), unless already recorded."""
        k = int(self.stop_step.max())
        if self.steps_rec and self.steps_rec[-1] >= k:
            return
        self._record(k, self.fpos, self.fval, self.fgn)


def _objective(landscape: Landscape) -> Callable[[torch.Tensor], torch.Tensor]:
    fn = landscape.fn

    def f(P: torch.Tensor) -> torch.Tensor:
        v = fn(P)
        if v.shape != (P.shape[0],):
            raise DescentlabError(
                f"{landscape.name}: the objective returned shape {tuple(v.shape)} for points of "
                f"shape {tuple(P.shape)}; expected ({P.shape[0]},)"
            )
        return v

    return f


def _row_fn(landscape: Landscape) -> Callable[[torch.Tensor], torch.Tensor]:
    fn = landscape.fn

    def row_fn(P: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return fn(P)

    return row_fn


def _groups(leaves: list[torch.Tensor], rates: list[float] | None, row_fn: Callable) -> list[dict]:
    groups = []
    for j, leaf in enumerate(leaves):
        g: dict[str, Any] = {
            "params": [leaf],
            "rows_independent": True,
            "row_fn": row_fn,
            "row_offset": j * leaf.shape[0],  # global row id: noise does not depend on batching
        }
        if rates is not None:
            g["lr"] = rates[j]
        groups.append(g)
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


def _run_spec(
    landscape: Landscape,
    spec: Any,
    X0: torch.Tensor,
    steps: int,
    sched_spec: Any,
    rates: list[float] | None,
    record_every: int,
    grad_tol: float,
    bound: float,
    seed: int,
    progress: bool | None,
    elementwise: bool,
) -> Trajectory:
    B0 = X0.shape[0]
    G = 1 if rates is None else len(rates)
    X = X0.repeat(G, 1).contiguous()  # row g * B0 + i: start i, rate g
    rec = _Recorder(X, steps, record_every, grad_tol, bound)
    bar = Progress(steps, f"{spec.label}", enabled=progress)
    with torch.random.fork_rng(devices=[]), bar:
        torch.manual_seed(seed)
        if elementwise:
            lr_hist, row_group = _loop_batched(
                landscape, spec, X, B0, G, steps, sched_spec, rates, rec, bar
            )
        else:
            lr_hist, row_group = _loop_rows(
                landscape, spec, X, B0, G, steps, sched_spec, rates, rec, bar
            )
    return _trajectory(
        landscape, spec, X0, G, rec, lr_hist, row_group, rates, sched_spec, steps, seed
    )


def _trajectory(
    landscape: Landscape,
    spec: Any,
    X0: torch.Tensor,
    G: int,
    rec: _Recorder,
    lr_hist: np.ndarray,
    row_group: np.ndarray,
    rates: list[float] | None,
    sched_spec: Any,
    steps: int,
    seed: int,
) -> Trajectory:
    B0 = X0.shape[0]
    B = B0 * G
    rec.record_final()
    T = len(rec.steps_rec)
    stop_reason = np.array([_REASON_NAMES[int(s)] for s in rec.status.tolist()])
    row_lr = np.full(B, math.nan)
    if rates is not None:
        row_lr = np.repeat(np.asarray(rates, dtype=float), B0)
    elif lr_hist.shape[0] > 0:
        row_lr = lr_hist[0, row_group].astype(float)
    else:
        lr0 = spec.factory([_probe_tensor()]).defaults.get("lr", math.nan)
        row_lr = np.full(B, float(lr0) if isinstance(lr0, int | float) else math.nan)
    return Trajectory(
        starts=X0.repeat(G, 1).numpy().copy(),
        positions=rec.pos[:T].copy(),
        record_steps=np.asarray(rec.steps_rec, dtype=np.int64),
        losses=rec.loss[:T].copy(),
        grad_norms=rec.gn[:T].copy(),
        lr=lr_hist,
        row_group=row_group,
        row_lr=row_lr,
        stop_step=rec.stop_step.numpy().copy(),
        stop_reason=stop_reason,
        final_points=rec.fpos.numpy().copy(),
        final_losses=rec.fval.numpy().copy(),
        final_grad_norms=rec.fgn.numpy().copy(),
        optimizer=spec.label,
        hyper=dict(spec.hyper),
        landscape_name=landscape.name,
        landscape_params=dict(landscape.params),
        steps=steps,
        record_every=rec.record_every,
        grad_tol=math.sqrt(rec.tol2),
        bound=rec.bound,
        seed=seed,
        schedule="" if sched_spec is None else sched_spec.label,
    )


class _Member:
    """One optimizer of a shared race: its rows ``[lo, hi)`` of the common tensor."""

    def __init__(
        self,
        spec: Any,
        X: torch.Tensor,
        lo: int,
        B0: int,
        G: int,
        steps: int,
        sched_spec: Any,
        rates: list[float] | None,
        row_fn: Callable,
        rec: _Recorder,
    ) -> None:
        self.spec, self.lo, self.hi, self.B0, self.G = spec, lo, lo + B0 * G, B0, G
        self.rec = rec
        self.leaves = [
            X[lo + g * B0 : lo + (g + 1) * B0].detach().requires_grad_(True) for g in range(G)
        ]
        self.opt = _build_optimizer(spec, _groups(self.leaves, rates, row_fn))
        self.sched = sched_spec.build(self.opt, steps) if sched_spec is not None else None
        self.plateau = self.sched is not None and sched_spec.needs_loss
        self.lr_hist = np.empty((steps, G))
        self.n_steps = steps
        self.done = False
        self.cached: torch.Tensor | None = None

    def set_grads(self, g: torch.Tensor) -> None:
        """Hand the member's rows of a shared gradient to its parameters (views, no copy)."""
        if self.rec.n_running < self.rec.B:
            g.masked_fill_(~self.rec.running[:, None], 0.0)
        B0 = self.B0
        for j, leaf in enumerate(self.leaves):
            leaf.grad = g[j * B0 : (j + 1) * B0]


def _run_shared(
    landscape: Landscape,
    specs: list[Any],
    X0: torch.Tensor,
    steps: int,
    sched_spec: Any,
    rates: list[float] | None,
    record_every: int,
    grad_tol: float,
    bound: float,
    seed: int,
    progress: bool | None,
) -> list[Trajectory]:
    """Several first-order element-wise optimizers from the same starts, in one tensor.

    Member ``m`` owns rows ``[m * B0 * G, (m + 1) * B0 * G)`` of one ``(K * B0 * G, d)`` tensor.
    Each step evaluates ``f`` and its gradient once for every row of every member; each member
    then applies its own stop rules, its optimizer (whose parameters are views of its rows; the
    gradients are handed over as views too) and its schedule, exactly as if it ran alone. A
    member whose rows have all stopped is left out of the rest of the run.
    """
    B0 = X0.shape[0]
    G = 1 if rates is None else len(rates)
    Bm = B0 * G
    f = _objective(landscape)
    row_fn = _row_fn(landscape)
    X = X0.repeat(G * len(specs), 1).contiguous()
    members = []
    for m, spec in enumerate(specs):
        rec = _Recorder(X[m * Bm : (m + 1) * Bm], steps, record_every, grad_tol, bound)
        members.append(_Member(spec, X, m * Bm, B0, G, steps, sched_spec, rates, row_fn, rec))

    def evaluate(lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        P = X[lo:hi].detach().requires_grad_(True)
        with torch.enable_grad():
            v = f(P)
            v.sum().backward()
        return v.detach(), P.grad

    def make_closure(mem: _Member) -> Callable[[], torch.Tensor]:
        def closure() -> torch.Tensor:
            if mem.cached is not None:  # the evaluation made before the step
                loss, mem.cached = mem.cached, None
                return loss
            v, g = evaluate(mem.lo, mem.hi)  # a line search asks again: this member only
            mem.set_grads(g)
            return v.sum()

        return closure

    closures = [make_closure(mem) for mem in members]
    label = " vs ".join(s.label for s in specs)
    bar = Progress(steps, label, enabled=progress)
    with torch.random.fork_rng(devices=[]), bar:
        torch.manual_seed(seed)
        for k in range(steps):
            live = [j for j, mem in enumerate(members) if not mem.done]
            if not live:
                break
            lo, hi = members[live[0]].lo, members[live[-1]].hi
            v, g = evaluate(lo, hi)
            for j in live:
                mem = members[j]
                a, b = mem.lo - lo, mem.hi - lo
                mv, mg = v[a:b], g[a:b]
                total = mv.sum()
                xs = X[mem.lo : mem.hi]
                mem.rec.observe(k, xs, mv, mg, total=total)
                if mem.rec.n_running == 0:
                    mem.done, mem.n_steps = True, k
                    continue
                metric = float(mv[mem.rec.running].mean()) if mem.plateau else 0.0
                mem.set_grads(mg)
                for gi in range(G):
                    mem.lr_hist[k, gi] = _lr_of(mem.opt.param_groups[gi])
                mem.cached = total
                try:
                    mem.opt.step(closures[j])
                except DescentlabError:
                    raise
                except RuntimeError as exc:
                    raise DescentlabError(f"{mem.spec.label} failed at step {k}: {exc}") from None
                mem.cached = None
                if mem.rec.n_running < Bm:
                    with torch.no_grad():
                        xs.copy_(torch.where(mem.rec.running[:, None], xs, mem.rec.fpos))
                for leaf in mem.leaves:
                    leaf.grad = None
                if mem.sched is not None:
                    sched_spec.step(mem.sched, metric if mem.plateau else None)
            bar.update(1)
        live = [j for j, mem in enumerate(members) if not mem.done]
        if live:
            lo, hi = members[live[0]].lo, members[live[-1]].hi
            v, g = evaluate(lo, hi)
            for j in live:
                mem = members[j]
                a, b = mem.lo - lo, mem.hi - lo
                mem.rec.observe(steps, X[mem.lo : mem.hi], v[a:b], g[a:b], final=True)
    out = []
    for mem in members:
        out.append(
            _trajectory(
                landscape,
                mem.spec,
                X0,
                G,
                mem.rec,
                mem.lr_hist[: mem.n_steps].copy(),
                np.repeat(np.arange(G), B0),
                rates,
                sched_spec,
                steps,
                seed,
            )
        )
    return out


def _lr_of(group: dict) -> float:
    lr = group.get("lr", math.nan)
    return float(lr) if isinstance(lr, int | float | torch.Tensor) else math.nan


def _loop_batched(
    landscape: Landscape,
    spec: Any,
    X: torch.Tensor,
    B0: int,
    G: int,
    steps: int,
    sched_spec: Any,
    rates: list[float] | None,
    rec: _Recorder,
    bar: Progress,
) -> tuple[np.ndarray, np.ndarray]:
    """All rows in one optimizer: one leaf per rate group, each a view of ``X``'s storage."""
    f = _objective(landscape)
    leaves = [X[g * B0 : (g + 1) * B0].detach().requires_grad_(True) for g in range(G)]
    opt = _build_optimizer(spec, _groups(leaves, rates, _row_fn(landscape)))
    sched = sched_spec.build(opt, steps) if sched_spec is not None else None
    plateau = sched is not None and sched_spec.needs_loss
    second = bool(spec.second_order)
    lr_hist = np.empty((steps, G))
    state: dict[str, Any] = {"cached": None}
    metric = 0.0

    def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
        for p in leaves:
            p.grad = None
        P = leaves[0] if G == 1 else torch.cat(leaves)
        v = f(P)
        loss = v.sum()
        if second:
            with warnings.catch_warnings():
                # the parameter <-> gradient cycle it warns about is broken after every step
                warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")
                loss.backward(create_graph=True)
        else:
            loss.backward()
        return v, loss

    def grads() -> torch.Tensor:
        return leaves[0].grad if G == 1 else torch.cat([p.grad for p in leaves])

    def zero_frozen_grads() -> None:
        keep = rec.running[:, None]
        for g, p in enumerate(leaves):
            sl = keep[g * B0 : (g + 1) * B0]
            if second:  # out of place: p.grad carries the graph for Hessian-vector products
                p.grad = torch.where(sl, p.grad, torch.zeros((), dtype=p.dtype))
            else:
                p.grad.masked_fill_(~sl, 0.0)

    def closure() -> torch.Tensor:
        # The first call of each step returns the evaluation made before the step (so the stop
        # rules always see x_k, even for optimizers that ignore the closure); later calls (line
        # searches) evaluate afresh.
        if state["cached"] is not None:
            loss, state["cached"] = state["cached"], None
            return loss
        with torch.enable_grad():
            _, loss = evaluate()
        if rec.n_running < rec.B:
            zero_frozen_grads()
        return loss

    k = 0
    for k in range(steps):
        with torch.enable_grad():
            v, loss = evaluate()
        vd = v.detach()
        rec.observe(k, X, vd, grads().detach(), total=loss)
        if rec.n_running == 0:
            break
        if rec.n_running < rec.B:
            zero_frozen_grads()
        if plateau:
            metric = float(vd[rec.running].mean())
        for g in range(G):
            lr_hist[k, g] = _lr_of(opt.param_groups[g])
        state["cached"] = loss
        try:
            opt.step(closure)
        except DescentlabError:
            raise
        except RuntimeError as exc:
            raise DescentlabError(f"{spec.label} failed at step {k}: {exc}") from None
        state["cached"] = None
        if rec.n_running < rec.B:
            with torch.no_grad():
                X.copy_(torch.where(rec.running[:, None], X, rec.fpos))
        if second:
            for p in leaves:
                p.grad = None  # break the parameter <-> graph cycle of create_graph
        bar.update(1)
        if sched is not None:
            sched.step(metric) if plateau else sched.step()
    else:
        k = steps
    if rec.n_running:
        with torch.enable_grad():
            v, _ = evaluate()
        rec.observe(steps, X, v.detach(), grads().detach(), final=True)
        for p in leaves:
            p.grad = None
    return lr_hist[:k].copy(), np.repeat(np.arange(G), B0)


def _loop_rows(
    landscape: Landscape,
    spec: Any,
    X: torch.Tensor,
    B0: int,
    G: int,
    steps: int,
    sched_spec: Any,
    rates: list[float] | None,
    rec: _Recorder,
    bar: Progress,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept apart: one optimizer (and schedule) per row over a ``(1, d)`` view of ``X``.

    Each step first evaluates every row in one batch for the stop rules and the records, then
    steps each running row's own optimizer with its own closure: exactly ``B`` separate runs.
    """
    f = _objective(landscape)
    B = X.shape[0]
    row_fn = _row_fn(landscape)
    leaves = [X[i : i + 1].detach().requires_grad_(True) for i in range(B)]
    opts = []
    for i, leaf in enumerate(leaves):
        g: dict[str, Any] = {
            "params": [leaf],
            "rows_independent": True,
            "row_fn": row_fn,
            "row_offset": i,
        }
        if rates is not None:
            g["lr"] = rates[i // B0]
        opts.append(_build_optimizer(spec, [g]))
    scheds = [sched_spec.build(o, steps) for o in opts] if sched_spec is not None else None
    plateau = scheds is not None and sched_spec.needs_loss
    second = bool(spec.second_order)
    lr_hist = np.empty((steps, B))

    def evaluate_all() -> tuple[torch.Tensor, torch.Tensor]:
        P = X.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            v = f(P)
            (g,) = torch.autograd.grad(v.sum(), P)
        return v.detach(), g

    def make_closure(leaf: torch.Tensor) -> Callable[[], torch.Tensor]:
        def closure() -> torch.Tensor:
            with torch.enable_grad(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")
                leaf.grad = None
                loss = f(leaf).sum()
                loss.backward(create_graph=second)
            return loss

        return closure

    closures = [make_closure(leaf) for leaf in leaves]
    k = 0
    for k in range(steps):
        v, g = evaluate_all()
        rec.observe(k, X, v, g)
        if rec.n_running == 0:
            break
        running = rec.running.nonzero().flatten().tolist()
        for i in range(B):
            lr_hist[k, i] = _lr_of(opts[i].param_groups[0])
        for i in running:
            try:
                opts[i].step(closures[i])
            except DescentlabError:
                raise
            except RuntimeError as exc:
                raise DescentlabError(f"{spec.label} failed at step {k} (row {i}): {exc}") from None
            if second:
                leaves[i].grad = None
            if scheds is not None:
                scheds[i].step(float(v[i])) if plateau else scheds[i].step()
        bar.update(1)
    else:
        k = steps
        v, g = evaluate_all()
        rec.observe(steps, X, v, g, final=True)
    return lr_hist[:k].copy(), np.arange(B)
