"""Functional steps of torch's first-order rules: the same arithmetic without the step wrapper.

``torch.optim.Optimizer.step`` costs tens of microseconds a call before any arithmetic (profiler
hooks, grad-mode switching, per-group argument gathering, lazy state checks): at a batch of one
row that is most of a step. :func:`functional_step` returns, for a freshly built
``torch.optim.SGD``, ``Adam``, ``AdamW`` or ``RMSprop`` on CPU, a function that applies one
step with the exact operations of torch's single-tensor path (the path torch itself takes on
CPU), in the same order and with the same scalar arithmetic, so the iterates are bit-identical
(``tests/test_optim_functional.py`` checks every option step by step at float64 against
``torch.optim``). Anything else (other rules, ``maximize``, ``foreach``/``fused``/
``capturable``/``differentiable``, complex or sparse parameters, an optimizer with state
already) gets ``None``: keep calling ``optimizer.step``.

The rules, for gradient ``g`` (plus ``wd * x`` when ``weight_decay = wd``; AdamW instead
multiplies ``x`` by ``1 - lr wd``):

* SGD: ``b <- mu b + (1 - tau) g`` (``b_1 = g``), ``d = g + mu b`` (Nesterov) or ``b``;
  ``x <- x - lr d``.
* Adam: ``m <- m + (1 - b1)(g - m)``, ``v <- b2 v + (1 - b2) g^2`` (AMSGrad: ``vmax <-
  max(vmax, v)``), ``x <- x - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
* RMSprop: ``s <- a s + (1 - a) g^2``; centered: ``c <- c + (1 - a)(g - c)``, ``r =
  sqrt(s - c^2)``, else ``r = sqrt(s)``; ``r += eps``; momentum: ``b <- mu b + g / r``,
  ``x <- x - lr b``, else ``x <- x - lr g / r``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

_OFF = ("maximize", "foreach", "fused", "capturable", "differentiable")


def functional_step(optimizer: torch.optim.Optimizer) -> Callable[..., None] | None:
    """A function stepping ``optimizer``'s parameters like ``optimizer.step()``, or ``None``.

    Called without arguments it reads the parameters' ``.grad``; ``step(grads)`` takes the
    gradients of every parameter (in ``param_groups`` order) from the list instead.

    The returned function keeps its own state (momentum buffers, moments, step counts); the
    optimizer's ``param_groups`` stay the source of the hyper-parameters, so schedules that
    change ``lr`` between steps act on it as on the optimizer.

    Example:
        >>> x = torch.tensor([[1.0, -2.0]], dtype=torch.float64, requires_grad=True)
        >>> opt = torch.optim.SGD([x], lr=0.1)
        >>> step = functional_step(opt)
        >>> x.grad = 2 * x.detach()
        >>> step()
        >>> x.detach().tolist()
        [[0.8, -1.6]]
    """
    own = getattr(optimizer, "functional_step", None)
    if callable(own):  # a descentlab rule with its own (e.g. Newton with closed-form Hessians)
        return None if optimizer.state else own()
    kind = type(optimizer)
    kernel = _KERNELS.get(kind)
    if kernel is None or optimizer.state:
        return None
    for group in optimizer.param_groups:
        if any(group.get(k) for k in _OFF):
            return None
        for p in group["params"]:
            if p.is_complex() or p.is_sparse or p.device.type != "cpu":
                return None
    groups = optimizer.param_groups
    states: dict[int, dict[str, Any]] = {}
    # detached views share the parameters' storage: in-place updates need no grad-mode switch
    plain: dict[int, Tensor] = {}

    def step(grads: list[Tensor] | None = None) -> None:
        # ``grads``: the gradients of the parameters in order (instead of their ``.grad``)
        i = 0
        for group in groups:
            for p in group["params"]:
                if grads is None:
                    g = p.grad
                else:
                    g = grads[i]
                    i += 1
                if g is None:
                    continue
                key = id(p)
                st = states.get(key)
                if st is None:
                    st = states[key] = {}
                    plain[key] = p.detach()
                kernel(plain[key], g.detach() if g.requires_grad else g, st, group)

    return step


def _lr(group: dict[str, Any]) -> float:
    lr = group["lr"]
    return float(lr) if isinstance(lr, Tensor) else lr


def _sgd(p: Tensor, g: Tensor, st: dict[str, Any], group: dict[str, Any]) -> None:
    lr = _lr(group)
    wd, mu = group["weight_decay"], group["momentum"]
    if wd != 0:
        g = g.add(p, alpha=wd)
    if mu != 0:
        buf = st.get("momentum_buffer")
        if buf is None:
            buf = st["momentum_buffer"] = g.detach().clone()
        else:
            buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
        g = g.add(buf, alpha=mu) if group["nesterov"] else buf
    p.add_(g, alpha=-lr)


def _adam(p: Tensor, g: Tensor, st: dict[str, Any], group: dict[str, Any]) -> None:
    lr = _lr(group)
    beta1, beta2 = group["betas"]
    beta1, beta2 = float(beta1), float(beta2)
    wd, eps = group["weight_decay"], group["eps"]
    if not st:
        st["step"] = 0.0
        st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    st["step"] += 1.0
    step = st["step"]
    if wd != 0:
        if group.get("decoupled_weight_decay", False):
            p.mul_(1 - lr * wd)
        else:
            g = g.add(p, alpha=wd)
    m, v = st["exp_avg"], st["exp_avg_sq"]
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    if group["amsgrad"]:
        vmax = st["max_exp_avg_sq"]
        torch.maximum(vmax, v, out=vmax)
        denom = vmax.sqrt().div_(bias_correction2_sqrt).add_(eps)
    else:  # in place: the same operations as torch's, one temporary fewer
        denom = v.sqrt().div_(bias_correction2_sqrt).add_(eps)
    p.addcdiv_(m, denom, value=-step_size)


def _rmsprop(p: Tensor, g: Tensor, st: dict[str, Any], group: dict[str, Any]) -> None:
    lr = _lr(group)
    alpha, eps, wd, mu = group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
    if not st:
        st["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if mu > 0:
            st["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"]:
            st["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    if wd != 0:
        g = g.add(p, alpha=wd)
    s = st["square_avg"]
    s.mul_(alpha).addcmul_(g, g, value=1 - alpha)
    if group["centered"]:
        c = st["grad_avg"]
        c.lerp_(g, 1 - alpha)
        avg = s.addcmul(c, c, value=-1).sqrt_()
    else:
        avg = s.sqrt()
    avg = avg.add_(eps)
    if mu > 0:
        buf = st["momentum_buffer"]
        buf.mul_(mu).addcdiv_(g, avg)
        p.add_(buf, alpha=-lr)
    else:
        p.addcdiv_(g, avg, value=-lr)


_KERNELS: dict[type, Callable[[Tensor, Tensor, dict[str, Any], dict[str, Any]], None]] = {
    torch.optim.SGD: _sgd,
    torch.optim.Adam: _adam,
    torch.optim.AdamW: _adam,
    torch.optim.RMSprop: _rmsprop,
}

__all__ = ["functional_step"]
