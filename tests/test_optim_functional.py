"""The functional first-order steps equal torch.optim step by step at float64 (bit for bit)."""

from __future__ import annotations

import pytest
import torch

from descentlab.optim.functional import functional_step

CASES = [
    (torch.optim.SGD, {"lr": 0.05}),
    (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (torch.optim.SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}),
    (torch.optim.Adam, {"lr": 0.01}),
    (torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    (torch.optim.Adam, {"lr": 0.01, "amsgrad": True}),
    (torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.05}),
    (torch.optim.AdamW, {"lr": 0.01, "amsgrad": True}),
    (torch.optim.RMSprop, {"lr": 0.01}),
    (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "centered": True}),
    (torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1}),
    (torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True, "eps": 1e-4}),
]


def _loss(P: torch.Tensor) -> torch.Tensor:
    # bounded curvature, several minima: the iterates stay finite for every rule below
    x, y = P.unbind(-1)
    return (0.5 * x * x + y * y + torch.sin(3 * x) * torch.cos(2 * y)).sum()


@pytest.mark.parametrize(("cls", "kw"), CASES, ids=lambda c: getattr(c, "__name__", str(c)))
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_functional_step_is_torch_step_bit_for_bit(cls, kw):
    g0 = torch.Generator().manual_seed(0)
    X0 = 4 * torch.rand(7, 2, generator=g0, dtype=torch.float64) - 2
    a = X0.clone().requires_grad_(True)
    b = X0.clone().requires_grad_(True)
    # two groups (the engine's learning-rate grid), the second with its own rate
    opt_a = cls([{"params": [a]}], **kw)
    opt_b = cls([{"params": [b]}], **kw)
    step = functional_step(opt_b)
    assert step is not None
    sched_a = torch.optim.lr_scheduler.StepLR(opt_a, step_size=5, gamma=0.5)
    sched_b = torch.optim.lr_scheduler.StepLR(opt_b, step_size=5, gamma=0.5)
    for _ in range(40):
        for p in (a, b):
            p.grad = None
            _loss(p).backward()
        opt_a.step()
        step()
        sched_a.step()
        sched_b.step()
        assert torch.isfinite(a).all() and torch.equal(a, b)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_unsupported_optimizers_get_none():
    x = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    assert functional_step(torch.optim.Adagrad([x])) is None
    assert functional_step(torch.optim.SGD([x], lr=0.1, maximize=True)) is None
    assert functional_step(torch.optim.Adam([x], foreach=True)) is None
    used = torch.optim.Adam([x])
    x.grad = torch.ones_like(x)
    used.step()
    assert functional_step(used) is None  # state already there: keep torch's own step


def test_parameters_without_gradient_are_skipped():
    x = torch.ones(1, 2, dtype=torch.float64, requires_grad=True)
    y = torch.ones(1, 2, dtype=torch.float64, requires_grad=True)
    step = functional_step(torch.optim.Adam([x, y], lr=0.1))
    x.grad = torch.ones_like(x)
    step()
    assert torch.equal(y, torch.ones(1, 2, dtype=torch.float64))
    assert not torch.equal(x, torch.ones(1, 2, dtype=torch.float64))


def test_perturbed_gd_without_kicks_is_torch_sgd_bit_for_bit():
    # the documented property "it follows GD exactly until a kick", on vectorised lanes too
    from descentlab.optim import PerturbedGD

    X0 = torch.rand(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = X0.clone().requires_grad_(True)
    b = X0.clone().requires_grad_(True)
    sgd = torch.optim.SGD([a], lr=0.03)
    pgd = PerturbedGD([{"params": [b], "rows_independent": True}], lr=0.03, g_thres=0.0)
    for _ in range(30):
        for p, opt in ((a, sgd), (b, pgd)):
            p.grad = None
            _loss(p).backward()
            opt.step()
        assert torch.equal(a, b)
