"""The loss of a small network as a landscape over its flattened parameter vector.

:func:`network_landscape` turns ``(model, loss_fn, data)`` into a
:class:`~descentlab.landscapes.base.Landscape` of dimension ``d`` = the number of (selected)
parameters: row ``i`` of a ``(B, d)`` batch is one parameter vector ``theta_i``, and
``f(theta_i)`` is the model's loss over the fixed data with those parameters loaded. The
engine, the critical-point finder and the diagnosis then work on networks unchanged, e.g.
``descentlab.engine.run(network_landscape(net, loss, (X, y)), "adam", starts, 200)``.

The ``B`` rows are evaluated at once, two ways:

* ``"vmap"`` — ``torch.func.functional_call`` under ``torch.func.vmap`` over the rows: any
  module ``torch.func`` can trace;
* ``"bmm"`` — a hand-batched forward for MLPs (an ``nn.Sequential`` of ``nn.Linear`` layers and
  element-wise activations): each layer is one batched matrix product ``(B, N, k) @ (B, k, m)``
  and only the loss is vmapped.

``"auto"`` (default) uses ``"bmm"`` where it applies and ``"vmap"`` otherwise. Measured on a
2-16-16-2 tanh MLP, 200 samples, one value-and-gradient of ``B`` rows, one thread
(``benchmarks/bench_network_landscape.py``): ``"bmm"`` is 1.1-1.5x faster for ``B <= 30``
(less per-call overhead) and on par at ``B = 100..1000`` (ratios 0.8-1.1 from run to run: both
do the same batched products and element-wise work, which dominates there). Both are tested
equal to the model's own loss. Memory: both keep every layer's activations for all rows, about
``8 B N width`` bytes per layer (``N`` samples, float64) for the backward pass.

The model is never modified: the landscape works on a private deep copy
(:class:`descentlab.nn.objective.ModelLoss`), in an explicit mode (``"eval"`` by default).

Registered entries: ``xor_net`` (a 2-2-1 tanh network on the four XOR points, ``d = 9``) and
``product_model`` (``1/2 (1 - w1 w2)^2``, the two-weight linear network).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.landscapes.registry import register
from descentlab.nn.objective import ModelLoss, ParamSelector
from descentlab.validate import check_choice, check_positive, check_seed

METHODS = ("auto", "vmap", "bmm")

# Element-wise modules the hand-batched MLP forward may apply to a (B, N, k) tensor as is.
_ELEMENTWISE = (
    nn.Tanh,
    nn.ReLU,
    nn.Sigmoid,
    nn.GELU,
    nn.Softplus,
    nn.LeakyReLU,
    nn.ELU,
    nn.SiLU,
    nn.Identity,
)


def _mlp_plan(obj: ModelLoss) -> list[tuple[str, Any]] | None:
    """The layer list of a plain MLP whose parameters are all selected, else ``None``.

    Accepted: an ``nn.Sequential`` (nested ones are flattened) of ``nn.Linear`` and element-wise
    activations, optionally starting with ``nn.Flatten``; no buffers.
    """
    net = obj.model
    if not isinstance(net, nn.Sequential) or any(True for _ in net.buffers()):
        return None

    def leaves(seq: nn.Sequential, prefix: str) -> list[tuple[str, nn.Module]]:
        out = []
        for name, m in seq.named_children():
            if isinstance(m, nn.Sequential):
                out += leaves(m, f"{prefix}{name}.")
            else:
                out.append((f"{prefix}{name}", m))
        return out

    plan: list[tuple[str, Any]] = []
    names: list[str] = []
    for i, (name, m) in enumerate(leaves(net, "")):
        if isinstance(m, nn.Linear):
            w, b = f"{name}.weight", f"{name}.bias" if m.bias is not None else None
            plan.append(("linear", (w, b)))
            names += [w] + ([b] if b else [])
        elif isinstance(m, _ELEMENTWISE):
            plan.append(("act", m))
        elif isinstance(m, nn.Flatten) and i == 0 and m.start_dim == 1 and m.end_dim == -1:
            plan.append(("flatten", None))
        else:
            return None
    if names != list(obj.param_names) or not plan or plan[-1][0] != "linear":
        return None
    return plan


class NetworkLandscape(Landscape):
    """A network's loss over its flattened parameters (see :func:`network_landscape`).

    Attributes:
        objective: the :class:`~descentlab.nn.objective.ModelLoss` (private model copy, fixed
            batches and their weights, parameter names and shapes).
        theta0: the model's parameters when the landscape was built, flattened ``(d,)``.
        method: ``"vmap"`` or ``"bmm"``, the batched forward in use.
    """

    def __init__(self, objective: ModelLoss, method: str, **kwargs: Any) -> None:
        self.objective = objective
        self.theta0 = objective.theta0
        plan = _mlp_plan(objective)
        if method == "bmm" and plan is None:
            raise InvalidParameterError(
                "method='bmm' needs an nn.Sequential of nn.Linear layers and element-wise "
                "activations (optionally after nn.Flatten) with every parameter selected and "
                "no buffers; use method='vmap'"
            )
        self.method = ("bmm" if plan is not None else "vmap") if method == "auto" else method
        self._plan = plan
        self._offsets = [0]
        for k in objective.numels:
            self._offsets.append(self._offsets[-1] + k)
        super().__init__(self._f, objective.n, **kwargs)

    # -- parameter vectors -> tensors ----------------------------------------------------------
    def _split(self, theta: Tensor) -> dict[str, Tensor]:
        """``{name: tensor}`` from a flat vector (or the batch ``(B, d)`` -> ``(B, *shape)``)."""
        lead = theta.shape[:-1]
        o = self._offsets
        return {
            n: theta[..., o[i] : o[i + 1]].reshape(*lead, *s)
            for i, (n, s) in enumerate(
                zip(self.objective.param_names, self.objective.shapes, strict=True)
            )
        }

    def module_at(self, theta: Any) -> nn.Module:
        """A new copy of the model with the parameter vector ``theta`` (shape ``(d,)``) loaded.

        Example:
            >>> L = product_model()
            >>> net = L.module_at([2.0, 3.0])
            >>> float(net(torch.ones(1, 1, dtype=torch.float64)))
            6.0
        """
        vec = self.as_points(theta)
        if vec.shape[0] != 1:
            raise InvalidParameterError(f"module_at takes one vector of {self.dim} parameters")
        net = copy.deepcopy(self.objective.model)
        named = dict(net.named_parameters())
        with torch.no_grad():
            for n, t in self._split(vec[0]).items():
                named[n].copy_(t)
        return net

    # -- evaluation ----------------------------------------------------------------------------
    def _f(self, P: Tensor) -> Tensor:
        obj = self.objective
        P = P.to(obj.dtype)
        try:
            out = self._bmm_losses(P) if self.method == "bmm" else self._vmap_losses(P)
        except DescentlabError:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            # shapes of model, data and loss that do not fit, or a module torch.func cannot
            # batch: say so in one line instead of a traceback from deep inside torch
            first = str(exc).strip().split("\n")[0]
            raise DescentlabError(
                f"{self.name}: cannot evaluate the loss of the network ({self.method} "
                f"forward): {type(exc).__name__}: {first}"
            ) from exc
        if obj.weight_decay:
            out = out + 0.5 * obj.weight_decay * (P * P).sum(-1)
        return out

    def _batch_scalar(self, loss: Tensor) -> Tensor:
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise InvalidParameterError(
                "loss_fn must return a scalar tensor (the batch loss), got "
                + (
                    f"shape {tuple(loss.shape)}"
                    if isinstance(loss, Tensor)
                    else type(loss).__name__
                )
            )
        return loss.reshape(())

    def _vmap_losses(self, P: Tensor) -> Tensor:
        obj = self.objective

        def row(theta: Tensor) -> Tensor:
            p = self._split(theta)
            total = theta.new_zeros(())
            for i, (x, y) in enumerate(obj.batches):
                with obj._rng(i):
                    out = functional_call(obj.model, p, (x,))
                total = total + obj.weights[i] * self._batch_scalar(obj.loss_fn(out, y))
            return total

        # train mode: the seeded per-batch dropout masks are shared by every row
        randomness = "same" if obj.mode == "train" else "error"
        return torch.func.vmap(row, randomness=randomness)(P)

    def _bmm_losses(self, P: Tensor) -> Tensor:
        obj = self.objective
        p = self._split(P)
        assert self._plan is not None
        total = P.new_zeros(P.shape[0])
        for i, (x, y) in enumerate(obj.batches):
            h = x
            for op, arg in self._plan:
                if op == "flatten":
                    h = h.reshape(h.shape[0], -1)
                elif op == "act":
                    h = arg(h)
                else:
                    w, b = arg
                    if h.dim() == 2:  # the shared input (N, k), seen as (B, N, k) without a copy
                        h = h.expand(P.shape[0], *h.shape)
                    # (B, N, k) x (B, k, m) + bias: one batched matrix product per layer
                    if b is not None:
                        h = torch.baddbmm(p[b].unsqueeze(-2), h, p[w].transpose(-1, -2))
                    else:
                        h = torch.bmm(h, p[w].transpose(-1, -2))
            losses = torch.func.vmap(
                lambda o, t=y: self._batch_scalar(obj.loss_fn(o, t)), randomness="error"
            )(h)
            total = total + obj.weights[i] * losses
        return total


def network_landscape(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    *,
    params: ParamSelector = None,
    radius: float = 1.0,
    domain: Any = None,
    method: str = "auto",
    mode: str = "eval",
    batch_size: int | None = None,
    reduction: str = "mean",
    weight_decay: float = 0.0,
    name: str = "network",
) -> NetworkLandscape:
    """The loss of ``model`` on ``data`` as a landscape over its flattened parameter vector.

    ``f(theta) = sum_b (n_b / N) loss_fn(model(x_b; theta), y_b) + (weight_decay/2) |theta|^2``
    over the fixed batches ``(x_b, y_b)`` (for ``reduction="sum"``, ``sum_b loss_b / N``), with
    ``theta`` the selected parameters concatenated in ``model.named_parameters()`` order (each
    flattened row-major, as ``torch.nn.utils.parameters_to_vector``). Rows of a ``(B, d)``
    batch are evaluated at once (``method``, see the module docstring) and differentiated by
    autograd like any landscape (one backward pass gives every row's gradient).

    The domain (for plotting and sampling starts) is the box ``theta0 +- radius`` around the
    model's current parameters ``theta0``, unless ``domain`` is given. The model is deep-copied
    and never modified; dtype float64 (the copy and floating data are cast).

    Args:
        model: a small ``nn.Module``.
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` (e.g. ``nn.MSELoss()``).
        data: an ``(X, y)`` pair of tensors or an iterable of ``(inputs, targets)`` batches.
        params: which parameters form ``theta`` (names or a predicate); all trainable ones by
            default. The others stay at their current values.
        radius: half-width of the default domain box, ``> 0``.
        domain: an explicit domain instead (``(lo, hi)`` or one pair per parameter).
        method: ``"auto"``, ``"vmap"`` or ``"bmm"`` (MLPs only).
        mode: ``"eval"`` (default) or ``"train"`` (batch-norm batch statistics; dropout masks
            fixed per batch and shared by all rows).
        batch_size: split an ``(X, y)`` pair into batches of this many rows.
        reduction: ``"mean"`` (``loss_fn`` averages over a batch) or ``"sum"``.
        weight_decay: ``>= 0``, adds ``(weight_decay/2) |theta|^2``.
        name: the landscape's name.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
        >>> X, y = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
        >>> L = network_landscape(net, nn.MSELoss(), (X, y))
        >>> L.dim, L.value(torch.zeros(5, 13)).shape
        (13, torch.Size([5]))
        >>> from descentlab.engine import run
        >>> traj = run(L, "adam", L.sample(8, seed=0), 50, lr=0.01)
    """
    return _build(
        model,
        loss_fn,
        data,
        params=params,
        radius=radius,
        domain=domain,
        method=method,
        mode=mode,
        batch_size=batch_size,
        reduction=reduction,
        weight_decay=weight_decay,
        name=name,
    )


def _build(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    *,
    params: ParamSelector = None,
    radius: float = 1.0,
    domain: Any = None,
    method: str = "auto",
    mode: str = "eval",
    batch_size: int | None = None,
    reduction: str = "mean",
    weight_decay: float = 0.0,
    name: str = "network",
    landscape_params: dict[str, Any] | None = None,
    **landscape_kw: Any,
) -> NetworkLandscape:
    """:func:`network_landscape` with ground truth passed on to the ``Landscape`` (the named
    entries use it). The loss is evaluated once at ``theta0`` so that a model, loss or data
    that do not fit together fail here, with a clear error, rather than in the first step."""
    if method not in METHODS:
        check_choice("method", method, METHODS)
    r = check_positive("radius", radius)
    obj = ModelLoss(
        model,
        loss_fn,
        data,
        params=params,
        mode=mode,
        batch_size=batch_size,
        reduction=reduction,
        dtype=torch.float64,
        weight_decay=weight_decay,
    )
    if domain is None:
        domain = [(v - r, v + r) for v in obj.theta0.tolist()]
    n_params = obj.n
    kw: dict[str, Any] = {
        "critical_points": None,
        "complete": False,
        "global_min_value": None,
        "description": (
            f"The loss of a {type(model).__name__} over its {n_params} parameters on "
            f"{obj.n_samples} samples ({len(obj.batches)} batch(es), {mode} mode). Its critical "
            "points are not known."
        ),
        "formula": "loss_fn(model(X; theta), y)",
        "params": {"n_params": n_params, "radius": r, "method": method, "mode": mode},
    }
    kw.update(landscape_kw)
    if landscape_params is not None:
        kw["params"] = dict(landscape_params)
    L = NetworkLandscape(obj, method, name=name, domain=domain, **kw)
    L.value(obj.theta0)
    return L


# ---------------------------------------------------------------------------------- named entries
def _half_squared_error(out: Tensor, target: Tensor) -> Tensor:
    return 0.5 * ((out - target) ** 2).mean()


XOR_X = ((1.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (-1.0, -1.0))
XOR_Y = (0.0, 1.0, 1.0, 0.0)


def xor_data() -> tuple[Tensor, Tensor]:
    """The four XOR points ``(±1, ±1)`` and targets ``1`` where the signs differ (float64)."""
    X = torch.tensor(XOR_X, dtype=torch.float64)
    y = torch.tensor(XOR_Y, dtype=torch.float64).unsqueeze(1)
    return X, y


@register("xor_net")
def xor_net(seed: int = 0) -> NetworkLandscape:
    """The mean squared error of a 2-2-1 tanh network on the four XOR points: ``d = 9``.

    ``out(x) = b2 + sum_j v_j tanh(W1_j . x + b1_j)``, ``f = 1/4 sum_x (out(x) - y(x))^2`` over
    ``x in {±1}^2``, ``y = 1`` where the signs differ. Parameter order: ``W1`` (row-major, 4),
    ``b1`` (2), ``v`` (2), ``b2`` (1). ``theta0`` (PyTorch's default initialisation from
    ``seed``) is where the landscape was built; the domain is ``[-3, 3]^9``.

    Known exactly: ``theta* = (0, ..., 0, b2 = 1/2)`` is a critical point with ``f = 1/4``: every
    hidden unit outputs ``tanh(0) = 0`` and the XOR targets have mean 1/2 and are uncorrelated
    with ``x_1``, ``x_2`` and 1 (so every first derivative vanishes). Its Hessian is
    ``diag(0, ..., 0, 2)`` (second order: degenerate), and it is not a minimum: along
    ``W1_0 = (2t, 2t), b1_0 = 2t, v_0 = t`` the loss is ``1/4 - 4 t^4 + O(t^6)``. Indeed
    ``theta*`` lies on a continuum of critical points (``v = 0``, ``b2 = 1/2``, each ``W1_j`` with
    at most one non-zero entry, any ``b1``): the set is not complete. The global minimum value
    is 0, attained on a continuum (e.g. ``v_0 = -v_1``, ``W1_0 = W1_1 = (s, s)``,
    ``b1 = (c, -c)`` with ``b2, v_0`` solving two linear equations).

    Example:
        >>> L = xor_net()
        >>> L.dim, L.critical_points[0].value
        (9, 0.25)
    """
    seed = check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)).double()
    star = (0.0,) * 8 + (0.5,)
    point = CriticalPoint(
        point=star,
        value=0.25,
        kind="degenerate",
        index=0,
        eigenvalues=(0.0,) * 8 + (2.0,),
        note=(
            "all weights 0, output bias 1/2: Hessian diag(0,...,0,2); not a minimum "
            "(f = 1/4 - 4 t^4 + O(t^6) along W1_0 = (2t, 2t), b1_0 = 2t, v_0 = t); on a "
            "continuum of critical points"
        ),
    )
    return _build(
        net,
        nn.MSELoss(),
        xor_data(),
        domain=(-3.0, 3.0),
        name="xor_net",
        critical_points=[point],
        global_min_value=0.0,
        landscape_params={"seed": seed},
        formula="1/4 sum_x (b2 + sum_j v_j tanh(W1_j . x + b1_j) - xor(x))^2",
        description=(
            "The XOR loss of a 2-2-1 tanh network (9 parameters, mean squared error on the "
            "four points (±1, ±1)). Listed: the all-zero-weights point with output bias 1/2 "
            "(loss 1/4), a degenerate critical point that is not a minimum, part of a continuum "
            "of critical points. The global minimum 0 is attained on a continuum; the critical "
            "set is not known in full."
        ),
    )


@register("product_model")
def product_model() -> NetworkLandscape:
    """``f(w1, w2) = 1/2 (1 - w1 w2)^2``: the two-weight linear network ``x -> w2 w1 x`` fitting
    ``1 -> 1`` with half the squared error.

    ``grad f = -(1 - w1 w2) (w2, w1)``, so the critical set is the origin and the hyperbola
    ``w1 w2 = 1``. The origin (value 1/2) is a saddle: Hessian ``[[0, -1], [-1, 0]]``,
    eigenvalues ``±1``, index 1. Every point of the hyperbola is a global minimum (value 0) with
    Hessian ``[[w2^2, 1], [1, w1^2]]``: eigenvalues 0 (along the hyperbola) and
    ``w1^2 + w2^2``. That continuum cannot be listed: only the origin is, and ``complete`` is
    False.

    Example:
        >>> L = product_model()
        >>> float(L.value([2.0, 0.25]))
        0.125
    """
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.fill_(0.5)
        net[1].weight.fill_(0.5)
    X = torch.ones(1, 1, dtype=torch.float64)
    origin = CriticalPoint(
        point=(0.0, 0.0),
        value=0.5,
        kind="saddle",
        index=1,
        eigenvalues=(-1.0, 1.0),
        note="the origin; the minima form the hyperbola w1 w2 = 1 (not listed)",
    )
    return _build(
        net,
        _half_squared_error,
        (X, X.clone()),
        domain=(-2.0, 2.0),
        name="product_model",
        critical_points=[origin],
        global_min_value=0.0,
        landscape_params={},
        formula="1/2 (1 - w1*w2)^2",
        description=(
            "The loss 1/2 (1 - w1 w2)^2 of the two-weight linear network: a saddle at the origin "
            "(value 1/2, Hessian eigenvalues ±1) and a continuum of global minima on the "
            "hyperbola w1 w2 = 1 (value 0, one zero Hessian eigenvalue each). Gradient descent "
            "near the origin leaves along w1 = w2 (the eigenvector of -1) toward (1, 1) or "
            "(-1, -1); gradient flow conserves w1^2 - w2^2, which picks the point of the "
            "hyperbola it reaches."
        ),
    )
