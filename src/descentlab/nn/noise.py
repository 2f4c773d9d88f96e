"""Sampling noise of the full-data gradient, from per-sample gradients (independent of batching).

For a loss that averages per-sample losses, ``L(θ) = (1/N) Σᵢ ℓᵢ(θ)`` (plus an optional
``(wd/2)‖θ‖²``, identical for every sample), the full-data gradient is the mean of the
per-sample gradients ``gᵢ = ∇ℓᵢ``. Read as an estimate of the population gradient from ``N``
samples, its standard error is

    ``SE = sqrt( Σᵢ ‖gᵢ - ḡ‖² / (N (N - 1)) )``,

the square root of the unbiased estimate of ``E‖ḡ - E g‖² = tr Σ / N`` (``Σ`` the covariance
of one sample's gradient). Per-sample gradients (``torch.func.vmap`` of ``torch.func.grad`` over
single samples) do not depend on how the data were split into batches, or in what order: the
estimate is the same for an ``(X, y)`` pair and for any DataLoader over the same samples, up to
rounding. They are computed in chunks (at most ``max_elements`` gradient entries at a time) and
never all kept.

Not available — ``None`` is returned with the reason — when the loss is not a per-sample
average: ``train`` mode (BatchNorm batch statistics and per-batch dropout masks define the loss
per batch), a ``loss_fn`` with class weights or other batch coupling (detected: the mean of the
per-sample gradients must reproduce the full gradient), or a model ``vmap`` cannot trace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.func import functional_call

from descentlab.nn.objective import ModelLoss


@dataclass
class GradientNoise:
    """``stderr`` of the full-data gradient (norm), from ``n_samples`` per-sample gradients;
    ``sample_rms`` is ``sqrt(mean ‖gᵢ - ḡ‖²)``, the typical size of one sample's deviation."""

    stderr: float
    sample_rms: float
    n_samples: int
    method: str = "per-sample gradients (torch.func.vmap)"


def _one(obj: Any) -> Any:
    """Give a single sample (leading dimension removed by ``vmap``) its batch dimension back."""
    if isinstance(obj, Tensor):
        return obj.unsqueeze(0)
    if isinstance(obj, tuple | list):
        return type(obj)(_one(o) for o in obj)
    if isinstance(obj, Mapping):
        return {k: _one(v) for k, v in obj.items()}
    return obj


def _chunks(obj: Any, start: int, stop: int) -> Any:
    if isinstance(obj, Tensor):
        return obj[start:stop]
    if isinstance(obj, tuple | list):
        return type(obj)(_chunks(o, start, stop) for o in obj)
    if isinstance(obj, Mapping):
        return {k: _chunks(v, start, stop) for k, v in obj.items()}
    return obj


def gradient_noise(
    f: ModelLoss, grad: Tensor, *, max_elements: int = 1 << 24
) -> tuple[GradientNoise | None, str]:
    """Standard error of ``f``'s full-data gradient ``grad`` at ``f.theta0`` (see the module
    docstring). Returns ``(noise, "")`` or ``(None, reason)``."""
    if f.mode == "train":
        return None, "train mode defines the loss per batch (BatchNorm statistics, dropout masks)"
    n = f.n_samples
    if n < 2:
        return None, "one sample: no spread to estimate"
    p = {k: v.detach() for k, v in f.unflatten(f.theta0).items()}
    names = f.param_names
    data_grad = grad - f.weight_decay * f.theta0
    chunk = max(1, max_elements // max(f.n, 1))

    def sample_loss(q: dict[str, Tensor], x: Any, y: Any) -> Tensor:
        return f.loss_fn(functional_call(f.model, q, (_one(x),)), _one(y)).reshape(())

    per_sample = torch.func.vmap(torch.func.grad(sample_loss), in_dims=(None, 0, 0))
    total = torch.zeros_like(data_grad)
    sq = 0.0
    try:
        with torch.no_grad():
            for (x, y), count in zip(f.batches, f.counts, strict=True):
                for s in range(0, count, chunk):
                    G = per_sample(p, _chunks(x, s, s + chunk), _chunks(y, s, s + chunk))
                    flat = torch.cat([G[k].reshape(G[k].shape[0], -1) for k in names], dim=1)
                    total += flat.sum(0)
                    sq += float(((flat - data_grad) ** 2).sum())
    except Exception as exc:  # a model vmap cannot trace (in-place ops, data-dependent flow)
        return None, f"per-sample gradients unavailable ({type(exc).__name__})"
    mean = total / n
    err = float(torch.linalg.vector_norm(mean - data_grad))
    spread = max(sq - n * err**2, 0.0)  # Σ‖gᵢ - ḡ‖² = Σ‖gᵢ - g‖² - N‖ḡ - g‖²
    rms = math.sqrt(spread / n)
    tol = 10 * math.sqrt(torch.finfo(f.dtype).eps) * (rms + float(data_grad.norm()) + 1e-300)
    if not err <= tol:
        return None, (
            "loss_fn is not an average of per-sample losses (the mean per-sample gradient "
            f"differs from the full gradient by {err:.1e}; class weights or batch coupling?)"
        )
    return GradientNoise(math.sqrt(spread / (n * (n - 1))), rms, n), ""
