"""Name -> optimizer registry: torch.optim's rules and ours, with validated hyper-parameters.

``resolve_optimizer("adam", lr=0.01)`` returns an :class:`OptimizerSpec`: a factory that turns a
parameter list (or a param-group list) into a ready ``torch.optim.Optimizer`` with the
hyper-parameters bound, plus what the batched engine needs to know about the rule:

* ``elementwise``: ``True`` when every coordinate of a parameter evolves from its own gradient
  history only, so the rows of one ``(B, d)`` parameter are ``B`` independent runs (SGD, Adam and
  the rest of torch's first-order rules). ``False`` when rows must be kept apart (L-BFGS couples
  every coordinate through its dot products). ``None`` when unknown (third-party optimizers; the
  engine can decide with :func:`descentlab.optim.is_elementwise`).
* ``second_order``: the closure must call ``loss.backward(create_graph=True)`` so the optimizer can
  take Hessian-vector products of ``p.grad``.
* ``needs_closure``: ``step()`` requires a closure.

Hyper-parameters are checked eagerly: unknown keys list the accepted ones with their defaults,
bad values say which parameter and why, and the optimizer is built once on a dummy tensor so any
remaining complaint from torch surfaces here as an ``InvalidParameterError``.

Example:
    >>> import torch
    >>> from descentlab.optim import resolve_optimizer
    >>> spec = resolve_optimizer("momentum", lr=0.1)
    >>> spec.label
    'momentum(lr=0.1)'
    >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    >>> opt = spec.factory([x])
    >>> (x**2).sum().backward(); _ = opt.step()
    >>> x.detach().tolist()
    [[0.8, 1.6]]
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from descentlab.errors import (
    DescentlabError,
    InvalidParameterError,
    UnknownNameError,
    normalize_name,
)
from descentlab.formatting import format_param as _fmt
from descentlab.validate import check_bool, check_number


@dataclass(frozen=True)
class OptimizerSpec:
    """A resolved optimizer: a factory with the hyper-parameters bound, and its properties.

    Attributes:
        name: the registry name, or the callable's ``__name__``.
        factory: ``params -> torch.optim.Optimizer``; ``params`` is a list of tensors or of
            param-group dicts (extra group keys such as ``rows_independent`` are kept).
        hyper: the hyper-parameters as given (validated).
        elementwise: ``True`` rows of one ``(B, d)`` parameter evolve independently; ``False``
            rows must be run apart; ``None`` unknown. Our own optimizers are row-aware: they are
            ``True`` given the param-group key ``rows_independent=True`` (which tells them that
            the rows are separate problems; see :mod:`descentlab.optim._base`).
        second_order: the closure must backward with ``create_graph=True``.
        needs_closure: ``step()`` requires a closure.
        label: a short human-readable label, e.g. ``"adam(lr=0.01)"``.
    """

    name: str
    factory: Callable[[list], torch.optim.Optimizer]
    hyper: dict[str, Any]
    elementwise: bool | None
    second_order: bool
    needs_closure: bool
    label: str


# Keyword arguments of torch's optimizers that select an implementation, not a rule.
_IMPLEMENTATION_KEYS = frozenset({"foreach", "fused", "capturable", "differentiable"})


@dataclass(frozen=True)
class _Entry:
    name: str
    cls: type[torch.optim.Optimizer]
    summary: str
    defaults: dict[str, Any]  # accepted hyper-parameters and their defaults
    fixed: dict[str, Any]  # passed to the class but not user-settable
    elementwise: bool
    second_order: bool
    needs_closure: bool
    torch_backed: bool

    def build(self, params: list, hyper: dict[str, Any]) -> torch.optim.Optimizer:
        return self.cls(params, **{**self.defaults, **hyper, **self.fixed})


_REGISTRY: dict[str, _Entry] = {}


def _signature_defaults(cls: type) -> dict[str, Any]:
    return {
        p.name: p.default
        for p in inspect.signature(cls).parameters.values()
        if p.name != "params"
        and p.name not in _IMPLEMENTATION_KEYS
        and p.default is not inspect.Parameter.empty
    }


def register_optimizer(
    name: str,
    cls: type[torch.optim.Optimizer],
    summary: str,
    *,
    defaults: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
    exclude: tuple[str, ...] = (),
    elementwise: bool,
    second_order: bool = False,
    needs_closure: bool = False,
    torch_backed: bool = False,
) -> None:
    """Register ``cls`` under ``name``.

    The accepted hyper-parameters are ``cls``'s keyword arguments (less implementation switches
    such as ``foreach``, the ``fixed`` ones and ``exclude``), with ``defaults`` overriding the
    class's own defaults. Entries that are not ``torch_backed`` must validate their own
    hyper-parameters in ``__init__`` (raising ``InvalidParameterError``); any other exception
    raised while building on a dummy tensor is turned into one.
    """
    name = normalize_name(name)
    fixed = dict(fixed or {})
    accepted = _signature_defaults(cls)
    for k in (*fixed, *exclude):
        accepted.pop(k, None)
    for k, v in (defaults or {}).items():
        if k not in accepted:
            raise ValueError(f"{name}: default for unknown hyper-parameter {k!r}")
        accepted[k] = v
    _REGISTRY[name] = _Entry(
        name=name,
        cls=cls,
        summary=summary,
        defaults=accepted,
        fixed=fixed,
        elementwise=elementwise,
        second_order=second_order,
        needs_closure=needs_closure,
        torch_backed=torch_backed,
    )


def _register_torch() -> None:
    O = torch.optim
    sgd_rule = ("momentum", "dampening", "nesterov")
    register_optimizer(
        "gd",
        O.SGD,
        "plain gradient descent x <- x - lr g (torch.optim.SGD)",
        defaults={"lr": 0.01},
        exclude=sgd_rule,
        elementwise=True,
        torch_backed=True,
    )
    register_optimizer(
        "sgd",
        O.SGD,
        "torch.optim.SGD with all its options (momentum, dampening, nesterov, weight_decay)",
        defaults={"lr": 0.01},
        elementwise=True,
        torch_backed=True,
    )
    register_optimizer(
        "momentum",
        O.SGD,
        "heavy-ball momentum (torch.optim.SGD, momentum=0.9)",
        defaults={"lr": 0.01, "momentum": 0.9},
        exclude=("nesterov",),
        elementwise=True,
        torch_backed=True,
    )
    register_optimizer(
        "nesterov",
        O.SGD,
        "Nesterov momentum (torch.optim.SGD, nesterov=True, momentum=0.9)",
        defaults={"lr": 0.01, "momentum": 0.9},
        fixed={"nesterov": True, "dampening": 0.0},
        elementwise=True,
        torch_backed=True,
    )
    for name, cls, summary in (
        ("adagrad", O.Adagrad, "Adagrad (torch.optim.Adagrad)"),
        ("rmsprop", O.RMSprop, "RMSprop (torch.optim.RMSprop)"),
        ("adadelta", O.Adadelta, "Adadelta (torch.optim.Adadelta)"),
        ("adam", O.Adam, "Adam (torch.optim.Adam)"),
        ("adamw", O.AdamW, "AdamW, decoupled weight decay (torch.optim.AdamW)"),
        ("nadam", O.NAdam, "NAdam, Nesterov-accelerated Adam (torch.optim.NAdam)"),
        ("radam", O.RAdam, "RAdam, rectified Adam (torch.optim.RAdam)"),
        ("adamax", O.Adamax, "Adamax, infinity-norm Adam (torch.optim.Adamax)"),
    ):
        register_optimizer(name, cls, summary, elementwise=True, torch_backed=True)
    register_optimizer(
        "amsgrad",
        O.Adam,
        "AMSGrad (torch.optim.Adam, amsgrad=True)",
        fixed={"amsgrad": True},
        elementwise=True,
        torch_backed=True,
    )
    register_optimizer(
        "lbfgs",
        O.LBFGS,
        "L-BFGS quasi-Newton (torch.optim.LBFGS); couples coordinates, needs a closure",
        elementwise=False,
        needs_closure=True,
        torch_backed=True,
    )


_register_torch()


_OURS_LOADED = False


def _ensure_loaded() -> None:
    """Register our own optimizers (imported lazily to keep this module light)."""
    global _OURS_LOADED
    if _OURS_LOADED:
        return
    _OURS_LOADED = True
    from descentlab.optim.line_search import ArmijoGD
    from descentlab.optim.newton import CubicNewton, DampedNewton, Newton, SaddleFreeNewton
    from descentlab.optim.perturbed import NoisyGD, PerturbedGD

    second = {"second_order": True, "needs_closure": True, "elementwise": True}
    register_optimizer("newton", Newton, "Newton's method x <- x - lr H^-1 g", **second)
    register_optimizer(
        "damped_newton", DampedNewton, "Levenberg damped Newton (H + mu I)^-1 g", **second
    )
    register_optimizer(
        "saddle_free_newton",
        SaddleFreeNewton,
        "saddle-free Newton (|H| + mu I)^-1 g (Dauphin et al. 2014)",
        **second,
    )
    register_optimizer(
        "cubic_newton",
        CubicNewton,
        "cubic-regularised Newton (Nesterov & Polyak 2006)",
        **second,
    )
    register_optimizer(
        "perturbed_gd",
        PerturbedGD,
        "GD with a ball perturbation when the gradient is small (Jin et al. 2017)",
        elementwise=True,
    )
    register_optimizer(
        "noisy_gd",
        NoisyGD,
        "GD with isotropic Gaussian gradient noise (Ge et al. 2015)",
        elementwise=True,
    )
    register_optimizer(
        "armijo_gd",
        ArmijoGD,
        "GD with a per-row backtracking (Armijo) line search",
        elementwise=True,
        needs_closure=True,
    )


def optimizer_names() -> list[str]:
    """Every registered optimizer name, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def optimizer_info(name: str) -> dict[str, Any]:
    """A JSON-friendly description of one registered optimizer (summary, defaults, properties)."""
    e = _entry(name)
    return {
        "name": e.name,
        "summary": e.summary,
        "defaults": dict(e.defaults),
        "elementwise": e.elementwise,
        "second_order": e.second_order,
        "needs_closure": e.needs_closure,
        "torch_backed": e.torch_backed,
    }


def _entry(name: str) -> _Entry:
    _ensure_loaded()
    key = normalize_name(name)
    if key not in _REGISTRY:
        raise UnknownNameError("optimizer", str(name), _REGISTRY)
    return _REGISTRY[key]


# ---------------------------------------------------------------------------- validation
def _accepted_text(defaults: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in defaults.items()) or "none"


def _number(owner: str, key: str, value: Any) -> float:
    return check_number(key, value, owner=owner)


# Range rules for hyper-parameters shared by many optimizers: key -> (lo, lo_open, hi, hi_open).
_RANGES: dict[str, tuple[float, bool, float, bool]] = {
    "lr": (0.0, True, math.inf, True),
    "eps": (0.0, False, math.inf, True),
    "weight_decay": (0.0, False, math.inf, True),
    "momentum": (0.0, False, 1.0, True),
    "dampening": (0.0, False, 1.0, False),
    "alpha": (0.0, False, 1.0, False),
    "rho": (0.0, False, 1.0, False),
    "lr_decay": (0.0, False, math.inf, True),
    "initial_accumulator_value": (0.0, False, math.inf, True),
    "momentum_decay": (0.0, False, math.inf, True),
    "tolerance_grad": (0.0, False, math.inf, True),
    "tolerance_change": (0.0, False, math.inf, True),
}


def _check_value(owner: str, key: str, value: Any, default: Any) -> Any:
    """Coerce and check one hyper-parameter by its default's type and the shared range rules."""
    if key == "line_search_fn":
        if value not in (None, "strong_wolfe"):
            raise InvalidParameterError(
                f"{owner}: line_search_fn must be none or 'strong_wolfe', got {value!r}"
            )
        return value
    if key == "max_eval":
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidParameterError(
                f"{owner}: max_eval must be a positive integer, got {value!r}"
            )
        return value
    if key == "betas":
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise InvalidParameterError(
                f"{owner}: betas must be a pair (beta1, beta2), got {value!r}"
            )
        b = tuple(_number(owner, "betas", x) for x in value)
        for i, x in enumerate(b):
            if not 0.0 <= x < 1.0:
                raise InvalidParameterError(f"{owner}: betas[{i}] must be in [0, 1), got {x:g}")
        return b
    if isinstance(default, bool):
        return check_bool(key, value, owner=owner)
    if (isinstance(default, (int, float)) and not isinstance(default, bool)) or key in _RANGES:
        if isinstance(default, int) and not isinstance(default, bool) and key not in _RANGES:
            # integer counts (max_iter, history_size, ...)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"{owner}: {key} must be a positive integer, got {value!r}"
                )
            return value
        if key in _RANGES:
            lo, lo_open, hi, hi_open = _RANGES[key]
            return check_number(
                key, value, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, owner=owner
            )
        return _number(owner, key, value)
    return value


# Fragments of torch's ValueError messages -> the hyper-parameter they are about.
_TORCH_MESSAGE_KEYS = (
    ("learning rate", "lr"),
    ("epsilon", "eps"),
    ("eps", "eps"),
    ("beta", "betas"),
    ("weight_decay", "weight_decay"),
    ("nesterov", "momentum"),
    ("momentum_decay", "momentum_decay"),
    ("momentum", "momentum"),
    ("rho", "rho"),
    ("alpha", "alpha"),
    ("lr_decay", "lr_decay"),
    ("initial_accumulator_value", "initial_accumulator_value"),
    ("line search", "line_search_fn"),
)


def _guess_key(message: str) -> str | None:
    low = message.lower()
    for frag, key in _TORCH_MESSAGE_KEYS:
        if frag in low:
            return key
    return None


def _dummy_params() -> list[torch.Tensor]:
    return [torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)]


def _probe_build(owner: str, build: Callable[[list], torch.optim.Optimizer]) -> None:
    """Build the optimizer once on a dummy tensor; turn any complaint into our error."""
    try:
        opt = build(_dummy_params())
    except DescentlabError:
        raise
    except (ValueError, TypeError, RuntimeError) as exc:
        msg = str(exc)
        key = _guess_key(msg)
        which = f" ({key})" if key else ""
        raise InvalidParameterError(f"{owner}: invalid hyper-parameter{which}: {msg}") from None
    if not isinstance(opt, torch.optim.Optimizer):
        raise InvalidParameterError(
            f"{owner}: the factory must return a torch.optim.Optimizer, got {type(opt).__name__}"
        )


def _label(name: str, hyper: dict[str, Any]) -> str:
    if not hyper:
        return name
    return f"{name}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in hyper.items()) + ")"


# Properties of torch's own classes when they are passed as callables.
_KNOWN_CLASSES: dict[type, tuple[bool, bool]] = {  # cls -> (elementwise, needs_closure)
    torch.optim.SGD: (True, False),
    torch.optim.Adagrad: (True, False),
    torch.optim.RMSprop: (True, False),
    torch.optim.Adadelta: (True, False),
    torch.optim.Adam: (True, False),
    torch.optim.AdamW: (True, False),
    torch.optim.NAdam: (True, False),
    torch.optim.RAdam: (True, False),
    torch.optim.Adamax: (True, False),
    torch.optim.LBFGS: (False, True),
}


# ---------------------------------------------------------------------------- resolve
def class_needs(cls: type) -> tuple[bool, bool]:
    """``(needs_closure, second_order)`` of an optimizer class, from the registry.

    A class the registry does not know gets a closure (re-evaluating the same batch is always
    correct) and first-order treatment.
    """
    _ensure_loaded()
    needs_closure = _KNOWN_CLASSES.get(cls, (None, True))[1]
    second = False
    for e in _REGISTRY.values():
        if e.cls is cls and not e.torch_backed:
            needs_closure, second = e.needs_closure, e.second_order
    return needs_closure, second


def resolve_optimizer(spec: str | Callable | OptimizerSpec, **hyper: Any) -> OptimizerSpec:
    """Turn a registered name, a callable or a spec into a validated :class:`OptimizerSpec`.

    Args:
        spec: a registry name (see :func:`optimizer_names`), any callable ``params -> Optimizer``
            (a ``torch.optim.Optimizer`` subclass or a third-party one; ``hyper`` is passed to it
            as keyword arguments), or an existing ``OptimizerSpec`` (``hyper`` then overrides its
            hyper-parameters; only for registered names).
        **hyper: hyper-parameters. ``"name:lr=0.1"`` strings are not parsed here (the CLI does).

    Raises:
        UnknownNameError: the name is not registered (the message lists the valid names).
        InvalidParameterError: an unknown hyper-parameter (the message lists the accepted ones
            with their defaults) or a value that cannot work (the message names it and says why).

    Example:
        >>> from descentlab.optim import resolve_optimizer
        >>> resolve_optimizer("adam", lr=0.01).label
        'adam(lr=0.01)'
        >>> resolve_optimizer("lbfgs").needs_closure
        True
    """
    if isinstance(spec, OptimizerSpec):
        if not hyper:
            return spec
        _ensure_loaded()
        if normalize_name(spec.name) not in _REGISTRY:
            raise InvalidParameterError(
                f"cannot override hyper-parameters of {spec.label}: "
                "it is not a registered optimizer"
            )
        return resolve_optimizer(spec.name, **{**spec.hyper, **hyper})
    if isinstance(spec, str):
        return _resolve_name(spec, hyper)
    if callable(spec):
        return _resolve_callable(spec, hyper)
    raise InvalidParameterError(
        f"optimizer must be a name, a callable or an OptimizerSpec, got {type(spec).__name__}; "
        f"valid names: {', '.join(optimizer_names())}"
    )


def _resolve_name(name: str, hyper: dict[str, Any]) -> OptimizerSpec:
    e = _entry(name)
    unknown = [k for k in hyper if k not in e.defaults]
    if unknown:
        raise InvalidParameterError(
            f"optimizer {e.name!r} has no hyper-parameter {', '.join(map(repr, unknown))}; "
            f"accepted: {_accepted_text(e.defaults)}"
        )
    if e.torch_backed:
        checked = {k: _check_value(e.name, k, v, e.defaults[k]) for k, v in hyper.items()}
    else:  # our optimizers validate every hyper-parameter themselves (in __init__)
        checked = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}

    def factory(
        params: list, _e: _Entry = e, _h: dict[str, Any] = checked
    ) -> torch.optim.Optimizer:
        return _e.build(params, _h)

    _probe_build(e.name, factory)
    return OptimizerSpec(
        name=e.name,
        factory=factory,
        hyper=dict(checked),
        elementwise=e.elementwise,
        second_order=e.second_order,
        needs_closure=e.needs_closure,
        label=_label(e.name, checked),
    )


def _resolve_callable(fn: Callable, hyper: dict[str, Any]) -> OptimizerSpec:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    elementwise: bool | None = None
    needs_closure = False
    second_order = False
    if isinstance(fn, type):
        if fn in _KNOWN_CLASSES:
            elementwise, needs_closure = _KNOWN_CLASSES[fn]
        _ensure_loaded()
        for e in _REGISTRY.values():
            if fn is e.cls and not e.torch_backed:
                elementwise, needs_closure, second_order = (
                    e.elementwise,
                    e.needs_closure,
                    e.second_order,
                )
    bound = dict(hyper)

    def factory(
        params: list, _fn: Callable = fn, _h: dict[str, Any] = bound
    ) -> torch.optim.Optimizer:
        return _fn(params, **_h)

    _probe_build(name, factory)
    return OptimizerSpec(
        name=name,
        factory=factory,
        hyper=bound,
        elementwise=elementwise,
        second_order=second_order,
        needs_closure=needs_closure,
        label=_label(name, bound),
    )
