"""Schedules by name equal torch's own schedulers step by step (and closed forms)."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch.optim import lr_scheduler as S

from descentlab.errors import InvalidParameterError, UnknownNameError
from descentlab.optim import resolve_optimizer
from descentlab.optim.schedules import (
    ScheduleSpec,
    log_lr_grid,
    lr_grid_groups,
    resolve_schedule,
    schedule_names,
)

STEPS = 60


def make_opt(lr=0.5, groups=1):
    ps = [torch.zeros(2, dtype=torch.float64, requires_grad=True) for _ in range(groups)]
    return torch.optim.SGD(
        [{"params": [p], "lr": lr * (k + 1)} for k, p in enumerate(ps)], lr=lr, momentum=0.9
    )


def losses(t):
    # plateaus for reduce_on_plateau: improves for 10 steps, then flat
    return 1.0 / (1 + min(t, 10))


def lr_trace(sched_step, opt, steps=STEPS):
    out = []
    for t in range(steps):
        opt.step()
        sched_step(t)
        out.append([g["lr"] for g in opt.param_groups])
    return out


# name -> (params, torch class, torch kwargs, total_steps given to build)
TABLE = {
    "step": ({"step_size": 7, "gamma": 0.5}, S.StepLR, {"step_size": 7, "gamma": 0.5}, None),
    "multistep": ({"milestones": [5, 20, 33]}, S.MultiStepLR, {"milestones": [5, 20, 33]}, None),
    "exponential": ({"gamma": 0.95}, S.ExponentialLR, {"gamma": 0.95}, None),
    "cosine": ({"eta_min": 0.01}, S.CosineAnnealingLR, {"T_max": 40, "eta_min": 0.01}, 40),
    "cosine_warm_restarts": (
        {"T_0": 8, "T_mult": 2},
        S.CosineAnnealingWarmRestarts,
        {"T_0": 8, "T_mult": 2},
        None,
    ),
    "linear": (
        {"start_factor": 0.1, "total_iters": 20},
        S.LinearLR,
        {"start_factor": 0.1, "total_iters": 20},
        None,
    ),
    "constant": (
        {"factor": 0.5, "total_iters": 9},
        S.ConstantLR,
        {"factor": 0.5, "total_iters": 9},
        None,
    ),
    "polynomial": ({"power": 2.0}, S.PolynomialLR, {"total_iters": STEPS, "power": 2.0}, STEPS),
    "cyclic": (
        {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 6, "mode": "triangular2"},
        S.CyclicLR,
        {
            "base_lr": 0.01,
            "max_lr": 0.2,
            "step_size_up": 6,
            "mode": "triangular2",
            "cycle_momentum": False,
        },
        None,
    ),
    "one_cycle": (
        {"max_lr": 1.0},
        S.OneCycleLR,
        {"max_lr": 1.0, "total_steps": STEPS, "cycle_momentum": False},
        STEPS,
    ),
    "reduce_on_plateau": (
        {"patience": 3, "factor": 0.5},
        S.ReduceLROnPlateau,
        {"patience": 3, "factor": 0.5},
        None,
    ),
}


def test_table_covers_every_schedule():
    assert set(TABLE) | {"warmup_cosine"} == set(schedule_names())


@pytest.mark.parametrize("name", sorted(TABLE))
@pytest.mark.parametrize("groups", [1, 2])
def test_named_schedule_equals_torch_step_by_step(name, groups):
    params, cls, kwargs, total = TABLE[name]
    spec = resolve_schedule(name, **params)
    assert spec.needs_loss == (name == "reduce_on_plateau")
    opt = make_opt(groups=groups)
    sched = spec.build(opt, total_steps=total)
    ours = lr_trace(lambda t: spec.step(sched, losses(t)), opt)
    ref_opt = make_opt(groups=groups)
    ref = cls(ref_opt, **kwargs)
    if spec.needs_loss:
        theirs = lr_trace(lambda t: ref.step(losses(t)), ref_opt)
    else:
        theirs = lr_trace(lambda t: ref.step(), ref_opt)
    assert ours == theirs
    assert len({tuple(x) for x in ours}) > 1  # the schedule really changes the rate


def test_warmup_cosine_closed_form():
    W, T, lr0, sf, eta = 10, 50, 0.5, 0.01, 0.02
    spec = resolve_schedule("warmup_cosine", warmup_steps=W, start_factor=sf, eta_min=eta)
    opt = make_opt(lr=lr0)
    sched = spec.build(opt, total_steps=T)
    got = [opt.param_groups[0]["lr"]]
    for _ in range(T):
        opt.step()
        spec.step(sched)
        got.append(opt.param_groups[0]["lr"])
    want = [
        lr0 * (sf + (1 - sf) * t / W)
        if t < W
        else eta + (lr0 - eta) * (1 + math.cos(math.pi * (t - W) / (T - W))) / 2
        for t in range(T + 1)
    ]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_run_length_fills_t_max_and_explicit_wins():
    spec = resolve_schedule("cosine")
    with pytest.raises(InvalidParameterError, match="needs T_max"):
        spec.build(make_opt())
    opt = make_opt()
    sched = spec.build(opt, total_steps=10)
    assert sched.T_max == 10
    sched = resolve_schedule("cosine", T_max=4).build(make_opt(), total_steps=10)
    assert sched.T_max == 4


def test_class_partial_and_function_specs():
    spec = resolve_schedule(S.StepLR, step_size=3, gamma=0.5)
    assert spec.name == "StepLR" and spec.label == "StepLR(step_size=3, gamma=0.5)"
    opt = make_opt()
    sched = spec.build(opt)
    ours = lr_trace(lambda t: spec.step(sched), opt, 10)
    ref_opt = make_opt()
    ref = S.StepLR(ref_opt, step_size=3, gamma=0.5)
    assert ours == lr_trace(lambda t: ref.step(), ref_opt, 10)

    spec = resolve_schedule(functools.partial(S.ReduceLROnPlateau, patience=1))
    assert spec.needs_loss
    with pytest.raises(InvalidParameterError, match="needs the loss"):
        spec.step(spec.build(make_opt()))

    def halve_every_4(t):
        return 0.5 ** (t // 4)

    spec = resolve_schedule(halve_every_4)
    opt = make_opt(lr=1.0)
    sched = spec.build(opt)
    got = lr_trace(lambda t: spec.step(sched), opt, 9)
    assert [g[0] for g in got] == [0.5 ** ((t + 1) // 4) for t in range(9)]


def test_bad_schedules_say_which_and_why():
    with pytest.raises(UnknownNameError, match="valid: constant, cosine"):
        resolve_schedule("cosin")
    with pytest.raises(InvalidParameterError, match=r"accepted: step_size=<required>, gamma=0\.1"):
        resolve_schedule("step", stepsize=3)
    with pytest.raises(InvalidParameterError, match="needs step_size"):
        resolve_schedule("step")
    with pytest.raises(InvalidParameterError, match="step_size must be an integer >= 1"):
        resolve_schedule("step", step_size=0)
    with pytest.raises(InvalidParameterError, match="milestones must be increasing"):
        resolve_schedule("multistep", milestones=[5, 3])
    with pytest.raises(InvalidParameterError, match="gamma must be finite and > 0"):
        resolve_schedule("exponential", gamma=-1)
    with pytest.raises(InvalidParameterError, match="mode must be one of"):
        resolve_schedule("reduce_on_plateau", mode="up")
    with pytest.raises(InvalidParameterError, match="must be smaller than total_steps"):
        resolve_schedule("warmup_cosine", warmup_steps=10, total_steps=5)
    with pytest.raises(InvalidParameterError, match="needs max_lr"):
        resolve_schedule("cyclic", base_lr=0.1)
    with pytest.raises(InvalidParameterError, match="not a scheduler already attached"):
        resolve_schedule(S.StepLR(make_opt(), step_size=2))
    with pytest.raises(InvalidParameterError, match="takes no parameters"):
        resolve_schedule(lambda t: 1.0, gamma=2)
    with pytest.raises(InvalidParameterError, match="StepLR"):
        resolve_schedule(S.StepLR, step_size=2, gama=0.1)


def test_spec_passthrough_and_override():
    spec = resolve_schedule("step", step_size=3)
    assert resolve_schedule(spec) is spec
    assert isinstance(spec, ScheduleSpec)
    spec2 = resolve_schedule(spec, gamma=0.5)
    assert (
        spec2.params == {"step_size": 3, "gamma": 0.5}
        and spec2.label == "step(step_size=3, gamma=0.5)"
    )


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_schedules_drive_our_optimizers():
    P = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    opt = resolve_optimizer("newton", lr=1.0).factory([{"params": [P], "rows_independent": True}])
    spec = resolve_schedule("exponential", gamma=0.5)
    sched = spec.build(opt)
    for _ in range(3):
        spec.step(sched)
    assert opt.param_groups[0]["lr"] == 0.125


# ---------------------------------------------------------------------------- lr grids
def test_log_lr_grid():
    assert log_lr_grid(1e-4, 1e-1, 4) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1], rel=1e-12)
    assert log_lr_grid(0.1, 0.1, 1) == [0.1]
    with pytest.raises(InvalidParameterError, match="must exceed lo"):
        log_lr_grid(1.0, 0.1, 3)
    with pytest.raises(InvalidParameterError, match="lo must be finite and > 0"):
        log_lr_grid(0.0, 0.1, 3)


def test_lr_grid_groups_equal_separate_runs_per_rate():
    f = lambda P: ((P**2 - 1) ** 2).sum(-1)  # noqa: E731
    starts = torch.tensor([[0.3, -0.2], [1.7, 0.4]], dtype=torch.float64)
    rates = [0.01, 0.05, 0.1]
    groups = lr_grid_groups(starts, rates, row_fn=f)
    opt = torch.optim.Adam(groups)
    for _ in range(15):
        opt.zero_grad()
        sum(f(g["params"][0]).sum() for g in groups).backward()
        opt.step()
    for g, lr in zip(groups, rates, strict=True):
        p = starts.clone().requires_grad_(True)
        ref = torch.optim.Adam([p], lr=lr)
        for _ in range(15):
            ref.zero_grad()
            f(p).sum().backward()
            ref.step()
        assert torch.equal(g["params"][0].detach(), p.detach())
        assert g["rows_independent"] and g["row_offset"] == 0 and g["row_fn"] is f
    with pytest.raises(InvalidParameterError, match="lr must be finite and > 0"):
        lr_grid_groups(starts, [0.1, -1.0])
