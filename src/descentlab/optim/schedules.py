"""Learning-rate schedules by name: torch.optim.lr_scheduler with validated parameters.

``resolve_schedule("cosine")`` returns a :class:`ScheduleSpec`; the engine attaches it to its
optimizer with ``scheduler = spec.build(optimizer, total_steps=steps)`` and advances it after
every optimizer step with ``spec.step(scheduler, loss)``:

* every schedule except ``reduce_on_plateau`` ignores ``loss`` (``scheduler.step()``);
* ``reduce_on_plateau`` (``spec.needs_loss`` is True) is stepped with the scalar it watches:
  the lab engine passes the mean loss over the rows still running. One scheduler acts on all
  param groups at once, so a plateau is judged on that one number.

``total_steps`` fills in the length of schedules that need one when it is not given:
``cosine`` (``T_max``), ``one_cycle`` (``total_steps``), ``polynomial`` (``total_iters``) and
``warmup_cosine`` (``total_steps``); a value given explicitly wins. Schedules act per param
group relative to each group's own initial learning rate (so a learning-rate grid, one group per
rate, is scheduled group by group), except ``cyclic`` and ``one_cycle``, whose
``base_lr``/``max_lr`` set absolute rates.

Example:
    >>> import torch
    >>> from descentlab.optim.schedules import resolve_schedule
    >>> p = torch.zeros(1, requires_grad=True)
    >>> opt = torch.optim.SGD([p], lr=1.0)
    >>> spec = resolve_schedule("step", step_size=2, gamma=0.5)
    >>> sched = spec.build(opt)
    >>> lrs = []
    >>> for _ in range(5):
    ...     opt.step(); spec.step(sched); lrs.append(opt.param_groups[0]["lr"])
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim import lr_scheduler as S

from descentlab.errors import (
    DescentlabError,
    InvalidParameterError,
    UnknownNameError,
    normalize_name,
)
from descentlab.formatting import format_param as _fmt

Tensor = torch.Tensor
Scheduler = Any  # LRScheduler or ReduceLROnPlateau


@dataclass(frozen=True)
class ScheduleSpec:
    """A resolved schedule.

    Attributes:
        name: registry name, or the scheduler class / function name.
        factory: ``(optimizer, total_steps) -> scheduler`` with the parameters bound.
        params: the parameters as given (validated).
        needs_loss: ``step`` must be given the watched loss (``reduce_on_plateau``).
        label: e.g. ``"cosine(T_max=500)"``.
    """

    name: str
    factory: Callable[[torch.optim.Optimizer, int | None], Scheduler]
    params: dict[str, Any] = field(default_factory=dict)
    needs_loss: bool = False
    label: str = ""

    def build(self, optimizer: torch.optim.Optimizer, total_steps: int | None = None) -> Scheduler:
        """Attach the schedule to ``optimizer``; ``total_steps`` is the run length, if known."""
        try:
            return self.factory(optimizer, total_steps)
        except DescentlabError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidParameterError(f"schedule {self.label}: {exc}") from None

    def step(self, scheduler: Scheduler, loss: float | Tensor | None = None) -> None:
        """Advance ``scheduler`` by one optimizer step (passing ``loss`` when it needs one)."""
        if self.needs_loss:
            if loss is None:
                raise InvalidParameterError(f"schedule {self.label} needs the loss at every step")
            scheduler.step(float(loss.detach() if isinstance(loss, Tensor) else loss))
        else:
            scheduler.step()


# ---------------------------------------------------------------------------- checks
def _num(key: str, v: Any, *, lo: float = -math.inf, lo_open: bool = False, hi: float = math.inf,
         hi_open: bool = False) -> float:  # fmt: skip
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidParameterError(f"schedule parameter {key} must be a number, got {v!r}")
    x = float(v)
    bad_lo = x <= lo if lo_open else x < lo
    bad_hi = x >= hi if hi_open else x > hi
    if not math.isfinite(x) or bad_lo or bad_hi:
        if math.isinf(hi):
            need = f"{'>' if lo_open else '>='} {lo:g}"
        else:
            need = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise InvalidParameterError(
            f"schedule parameter {key} must be finite and {need}, got {v!r}"
        )
    return x


def _int(key: str, v: Any, lo: int = 1) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise InvalidParameterError(
            f"schedule parameter {key} must be an integer >= {lo}, got {v!r}"
        )
    return v


def _choice(key: str, v: Any, options: Sequence[str]) -> str:
    if v not in options:
        raise InvalidParameterError(
            f"schedule parameter {key} must be one of {', '.join(options)}; got {v!r}"
        )
    return v


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise InvalidParameterError(f"schedule parameter {key} must be true or false, got {v!r}")
    return v


def _milestones(key: str, v: Any) -> tuple[int, ...]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = (v,)
    if not isinstance(v, (list, tuple)) or not v:
        raise InvalidParameterError(
            f"schedule parameter {key} must be a non-empty list of step numbers, got {v!r}"
        )
    out = tuple(_int(key, x, lo=1) for x in v)
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise InvalidParameterError(f"schedule parameter {key} must be increasing, got {list(out)}")
    return out


_POS = functools.partial(_num, lo=0.0, lo_open=True)
_NONNEG = functools.partial(_num, lo=0.0)
_UNIT = functools.partial(_num, lo=0.0, lo_open=True, hi=1.0)

_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "step_size": _int,
    "gamma": _POS,
    "milestones": _milestones,
    "T_max": _int,
    "T_0": _int,
    "T_mult": _int,
    "eta_min": _NONNEG,
    "start_factor": _UNIT,
    "end_factor": functools.partial(_num, lo=0.0, hi=1.0),
    "total_iters": _int,
    "factor": functools.partial(_num, lo=0.0, hi=1.0),
    "power": _NONNEG,
    "base_lr": _POS,
    "max_lr": _POS,
    "step_size_up": _int,
    "step_size_down": lambda k, v: None if v is None else _int(k, v),
    "mode": lambda k, v: _choice(k, v, ("triangular", "triangular2", "exp_range", "min", "max")),
    "cycle_momentum": _bool,
    "base_momentum": _UNIT,
    "max_momentum": _UNIT,
    "total_steps": _int,
    "pct_start": functools.partial(_num, lo=0.0, lo_open=True, hi=1.0, hi_open=True),
    "anneal_strategy": lambda k, v: _choice(k, v, ("cos", "linear")),
    "div_factor": _POS,
    "final_div_factor": _POS,
    "three_phase": _bool,
    "patience": lambda k, v: _int(k, v, lo=0),
    "threshold": _NONNEG,
    "threshold_mode": lambda k, v: _choice(k, v, ("rel", "abs")),
    "cooldown": lambda k, v: _int(k, v, lo=0),
    "min_lr": _NONNEG,
    "eps": _NONNEG,
    "warmup_steps": _int,
}


@dataclass(frozen=True)
class _Entry:
    name: str
    summary: str
    defaults: dict[str, Any]  # accepted parameters; _REQUIRED marks the required ones
    build: Callable[[torch.optim.Optimizer, dict[str, Any]], Scheduler]
    from_total: str | None = None  # the parameter filled from the run length
    needs_loss: bool = False


_REQUIRED = object()


def _sig_defaults(cls: type, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in inspect.signature(cls).parameters.values():
        if p.name in ("optimizer", "last_epoch", "verbose", *drop):
            continue
        out[p.name] = _REQUIRED if p.default is inspect.Parameter.empty else p.default
    return out


def _warmup_cosine(opt: torch.optim.Optimizer, p: dict[str, Any]) -> Scheduler:
    warm, total = p["warmup_steps"], p["total_steps"]
    if warm >= total:
        raise InvalidParameterError(
            f"warmup_cosine: warmup_steps ({warm}) must be smaller than total_steps ({total})"
        )
    return S.SequentialLR(
        opt,
        [
            S.LinearLR(opt, start_factor=p["start_factor"], end_factor=1.0, total_iters=warm),
            S.CosineAnnealingLR(opt, T_max=total - warm, eta_min=p["eta_min"]),
        ],
        milestones=[warm],
    )


def _entries() -> dict[str, _Entry]:
    def plain(cls: type) -> Callable[[torch.optim.Optimizer, dict], Scheduler]:
        return lambda opt, p: cls(opt, **p)

    e: dict[str, _Entry] = {}

    def add(name: str, cls: type, summary: str, **kw: Any) -> None:
        defaults = _sig_defaults(cls, drop=kw.pop("drop", ()))
        defaults.update(kw.pop("defaults", {}))
        e[name] = _Entry(name, summary, defaults, plain(cls), **kw)

    add("step", S.StepLR, "lr * gamma every step_size steps (StepLR)")
    add("multistep", S.MultiStepLR, "lr * gamma at each milestone (MultiStepLR)")
    add("exponential", S.ExponentialLR, "lr * gamma every step (ExponentialLR)")
    add(
        "cosine",
        S.CosineAnnealingLR,
        "cosine from lr to eta_min over T_max steps (CosineAnnealingLR)",
        from_total="T_max",
    )
    add(
        "cosine_warm_restarts",
        S.CosineAnnealingWarmRestarts,
        "cosine with restarts every T_0 * T_mult^k steps (CosineAnnealingWarmRestarts)",
    )
    add(
        "linear", S.LinearLR, "linear factor start_factor -> end_factor over total_iters (LinearLR)"
    )
    add("constant", S.ConstantLR, "lr * factor for total_iters steps, then lr (ConstantLR)")
    add(
        "polynomial",
        S.PolynomialLR,
        "polynomial decay to 0 over total_iters (PolynomialLR)",
        from_total="total_iters",
    )
    add(
        "cyclic",
        S.CyclicLR,
        "triangular cycles between base_lr and max_lr (CyclicLR)",
        drop=("scale_fn", "scale_mode"),
        defaults={"cycle_momentum": False},
    )
    add(
        "one_cycle",
        S.OneCycleLR,
        "one warm-up/anneal cycle peaking at max_lr (OneCycleLR)",
        drop=("epochs", "steps_per_epoch"),
        defaults={"cycle_momentum": False, "total_steps": _REQUIRED},
        from_total="total_steps",
    )
    add(
        "reduce_on_plateau",
        S.ReduceLROnPlateau,
        "lr * factor when the loss stops improving (ReduceLROnPlateau; needs the loss)",
        needs_loss=True,
    )
    e["warmup_cosine"] = _Entry(
        "warmup_cosine",
        "linear warm-up over warmup_steps, then cosine to eta_min (LinearLR + CosineAnnealingLR)",
        {"warmup_steps": _REQUIRED, "total_steps": _REQUIRED, "start_factor": 1e-3, "eta_min": 0.0},
        _warmup_cosine,
        from_total="total_steps",
    )
    return e


_REGISTRY = _entries()


def schedule_names() -> list[str]:
    """Every schedule name, sorted."""
    return sorted(_REGISTRY)


def schedule_info(name: str) -> dict[str, Any]:
    """Summary, parameters (``"required"`` for required ones) and run-length parameter."""
    e = _entry(name)
    return {
        "name": e.name,
        "summary": e.summary,
        "params": {k: ("required" if v is _REQUIRED else v) for k, v in e.defaults.items()},
        "from_total": e.from_total,
        "needs_loss": e.needs_loss,
    }


def _entry(name: str) -> _Entry:
    key = normalize_name(name)
    if key not in _REGISTRY:
        raise UnknownNameError("schedule", str(name), _REGISTRY)
    return _REGISTRY[key]


def _label(name: str, params: dict[str, Any]) -> str:
    if not params:
        return name
    return f"{name}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in params.items()) + ")"


def _dummy_optimizer() -> torch.optim.Optimizer:
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    return torch.optim.SGD([p], lr=0.1, momentum=0.9)


_TORCH_KEYS = tuple(sorted(_CHECKS, key=len, reverse=True))


def _torch_error(label: str, exc: Exception) -> InvalidParameterError:
    msg = str(exc)
    key = next((k for k in _TORCH_KEYS if k in msg), None)
    which = f" ({key})" if key else ""
    return InvalidParameterError(f"schedule {label}: invalid parameter{which}: {msg}")


def resolve_schedule(
    spec: str | type | Callable[[int], float] | ScheduleSpec, **params: Any
) -> ScheduleSpec:
    """A validated :class:`ScheduleSpec` from a name, a scheduler class or a factor function.

    Args:
        spec: a name (see :func:`schedule_names`); a ``torch.optim.lr_scheduler`` class (or a
            ``functools.partial`` of one) built as ``cls(optimizer, **params)``; a plain function
            ``step -> factor`` (used as ``LambdaLR``: ``lr_t = lr_0 * f(t)``); or a spec.
        **params: the schedule's parameters (``"cosine:T_max=500"`` strings are parsed by the CLI).

    Raises:
        UnknownNameError: unknown name (lists the valid ones).
        InvalidParameterError: unknown parameter (lists the accepted ones with defaults), missing
            required parameter, or a value that cannot work (says which and why).

    Example:
        >>> from descentlab.optim.schedules import resolve_schedule
        >>> resolve_schedule("cosine", T_max=100).label
        'cosine(T_max=100)'
        >>> resolve_schedule("reduce_on_plateau", patience=5).needs_loss
        True
    """
    if isinstance(spec, ScheduleSpec):
        if params:
            if spec.name not in _REGISTRY:
                raise InvalidParameterError(
                    f"cannot override parameters of {spec.label}: it is not a named schedule"
                )
            return resolve_schedule(spec.name, **{**spec.params, **params})
        return spec
    if isinstance(spec, str):
        return _resolve_name(spec, params)
    if isinstance(spec, (S.LRScheduler, S.ReduceLROnPlateau)):
        raise InvalidParameterError(
            "pass the scheduler class and its parameters (or a name), not a scheduler already "
            "attached to an optimizer"
        )
    target = spec.func if isinstance(spec, functools.partial) else spec
    if isinstance(target, type) and issubclass(target, (S.LRScheduler, S.ReduceLROnPlateau)):
        return _resolve_class(spec, target, params)
    if callable(spec):
        return _resolve_lambda(spec, params)
    raise InvalidParameterError(
        f"schedule must be a name, a scheduler class or a function step -> factor, got "
        f"{type(spec).__name__}; valid names: {', '.join(schedule_names())}"
    )


def _resolve_name(name: str, params: dict[str, Any]) -> ScheduleSpec:
    e = _entry(name)
    unknown = [k for k in params if k not in e.defaults]
    if unknown:
        accepted = ", ".join(
            f"{k}=<required>" if v is _REQUIRED else f"{k}={_fmt(v)}" for k, v in e.defaults.items()
        )
        raise InvalidParameterError(
            f"schedule {e.name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"accepted: {accepted}"
        )
    checked = {k: (_CHECKS[k](k, v) if k in _CHECKS else v) for k, v in params.items()}
    missing = [
        k
        for k, v in e.defaults.items()
        if v is _REQUIRED and k not in checked and k != e.from_total
    ]
    if missing:
        raise InvalidParameterError(
            f"schedule {e.name!r} needs {', '.join(missing)} (e.g. {e.name}:{missing[0]}=...)"
        )
    label = _label(e.name, checked)

    def factory(opt: torch.optim.Optimizer, total_steps: int | None, _e: _Entry = e) -> Scheduler:
        p = {k: v for k, v in _e.defaults.items() if v is not _REQUIRED}
        p.update(checked)
        if _e.from_total and _e.from_total not in checked and total_steps is not None:
            p[_e.from_total] = _int("total_steps", total_steps)
        elif _e.from_total and _e.from_total not in p:
            if total_steps is None:
                raise InvalidParameterError(
                    f"schedule {label} needs {_e.from_total} (or the run length)"
                )
            p[_e.from_total] = _int("total_steps", total_steps)
        if "milestones" in p:
            p["milestones"] = list(p["milestones"])
        try:
            return _e.build(opt, p)
        except DescentlabError:
            raise
        except (ValueError, TypeError, KeyError, ZeroDivisionError) as exc:
            raise _torch_error(label, exc) from None

    factory(_dummy_optimizer(), 100)  # eager validation
    return ScheduleSpec(e.name, factory, dict(checked), e.needs_loss, label)


def _resolve_class(spec: Any, cls: type, params: dict[str, Any]) -> ScheduleSpec:
    name = cls.__name__
    label = _label(name, params)
    bound = dict(params)

    def factory(opt: torch.optim.Optimizer, total_steps: int | None) -> Scheduler:
        try:
            return spec(opt, **bound)
        except (ValueError, TypeError, KeyError, ZeroDivisionError) as exc:
            raise _torch_error(label, exc) from None

    factory(_dummy_optimizer(), None)
    return ScheduleSpec(name, factory, bound, issubclass(cls, S.ReduceLROnPlateau), label)


def _resolve_lambda(fn: Callable[[int], float], params: dict[str, Any]) -> ScheduleSpec:
    name = getattr(fn, "__name__", type(fn).__name__)
    if params:
        raise InvalidParameterError(
            f"a schedule function ({name}) takes no parameters; got {', '.join(params)}"
        )
    try:
        v = float(fn(0))
    except Exception as exc:
        raise InvalidParameterError(
            f"schedule function {name} must map a step number to a factor: {exc}"
        ) from None
    if not math.isfinite(v):
        raise InvalidParameterError(f"schedule function {name} gave a non-finite factor {v!r} at 0")

    def factory(opt: torch.optim.Optimizer, total_steps: int | None) -> Scheduler:
        return S.LambdaLR(opt, lr_lambda=fn)

    return ScheduleSpec(name, factory, {}, False, name)


# ---------------------------------------------------------------------------- lr grids
def log_lr_grid(lo: float, hi: float, n: int) -> list[float]:
    """``n`` learning rates spaced evenly in log between ``lo`` and ``hi`` (both included).

    Example:
        >>> from descentlab.optim.schedules import log_lr_grid
        >>> [round(x, 12) for x in log_lr_grid(1e-3, 1e-1, 3)]
        [0.001, 0.01, 0.1]
    """
    lo = _num("lo", lo, lo=0.0, lo_open=True)
    hi = _num("hi", hi, lo=0.0, lo_open=True)
    n = _int("n", n)
    if n == 1:
        if lo != hi:
            raise InvalidParameterError("a grid of n=1 learning rate needs lo == hi")
        return [lo]
    if hi <= lo:
        raise InvalidParameterError(f"hi ({hi:g}) must exceed lo ({lo:g})")
    a, b = math.log(lo), math.log(hi)
    return [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]


def lr_grid_groups(
    starts: Tensor, lrs: Sequence[float], *, row_offset: int = 0, **group_keys: Any
) -> list[dict[str, Any]]:
    """Param groups for a learning-rate sweep: the same starts once per rate.

    One param group per learning rate is the natural batched form: group ``k`` holds its own
    leaf copy of ``starts`` (shape ``(B, d)``) with ``lr = lrs[k]``; the optimizer's per-group
    state and any schedule then act rate by rate, and the ``G`` groups advance together in one
    ``step()``. Every group gets ``rows_independent=True``, ``row_offset`` (the same for all
    groups by default, so a stochastic optimizer draws the *same* noise for a start at every
    rate: common random numbers) and any extra ``group_keys`` (e.g. ``row_fn``).

    Example:
        >>> import torch
        >>> from descentlab.optim import resolve_optimizer
        >>> from descentlab.optim.schedules import lr_grid_groups
        >>> groups = lr_grid_groups(torch.ones(2, 1, dtype=torch.float64), [0.1, 0.5])
        >>> opt = resolve_optimizer("gd").factory(groups)
        >>> sum(((g["params"][0]) ** 2).sum() for g in groups).backward(); _ = opt.step()
        >>> [g["params"][0].detach().flatten().tolist() for g in groups]
        [[0.8, 0.8], [0.0, 0.0]]
    """
    if not isinstance(starts, Tensor) or starts.ndim != 2:
        raise InvalidParameterError("starts must be a (B, d) tensor")
    rates = [_num("lr", x, lo=0.0, lo_open=True) for x in lrs]
    if not rates:
        raise InvalidParameterError("need at least one learning rate")
    return [
        {
            "params": [starts.detach().clone().requires_grad_(True)],
            "lr": lr,
            "rows_independent": True,
            "row_offset": row_offset,
            **group_keys,
        }
        for lr in rates
    ]
