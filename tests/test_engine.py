"""The batched engine against oracles: closed forms, torch.optim on separate tensors, B runs."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from descentlab.engine import grid_starts, random_starts, run
from descentlab.errors import (
    DescentlabError,
    DimensionError,
    InvalidParameterError,
    UnknownNameError,
)
from descentlab.landscapes.base import Landscape
from descentlab.trajectory import Race, Trajectory

F64 = torch.float64


def himmelblau_fn(P):
    x, y = P[:, 0], P[:, 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


HIMMELBLAU = Landscape(himmelblau_fn, dim=2, name="himmelblau", domain=(-5, 5))

A = torch.tensor([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]], dtype=F64)
QUAD = Landscape(lambda P: 0.5 * ((P @ A) * P).sum(-1), dim=3, name="quad", domain=(-2, 2))

STARTS = np.array([[-4.0, 4.5], [0.3, -0.2], [3.5, -3.0], [-2.0, -2.0], [1.0, 1.0]])


def separate(cls, x0, steps, f=himmelblau_fn, closure_calls=False, **kw):
    """The oracle: torch.optim on one (d,) tensor, step by step; positions x_0..x_steps."""
    x = torch.tensor(x0, dtype=F64, requires_grad=True)
    opt = cls([x], **kw)
    out = [x.detach().clone()]

    def closure():
        opt.zero_grad()
        loss = f(x[None]).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        if closure_calls:
            opt.step(closure)
        else:
            closure()
            opt.step()
        out.append(x.detach().clone())
    return torch.stack(out).numpy()


# ---------------------------------------------------------------------------- closed forms
def test_gd_equals_closed_form_on_quadratic():
    lr, steps = 0.1, 40
    X0 = np.array([[1.0, -1.0, 2.0], [0.5, 0.5, 0.5], [-2.0, 1.0, 0.0]])
    tr = run(QUAD, "gd", X0, steps, lr=lr, grad_tol=0)
    M = np.eye(3) - lr * A.numpy()
    expected = np.stack([X0 @ np.linalg.matrix_power(M, k).T for k in range(steps + 1)])
    np.testing.assert_allclose(tr.positions, expected, rtol=1e-12, atol=1e-14)
    assert tr.record_steps.tolist() == list(range(steps + 1))
    np.testing.assert_allclose(
        tr.losses, 0.5 * np.einsum("tbi,ij,tbj->tb", expected, A.numpy(), expected), rtol=1e-12
    )
    grads = expected @ A.numpy()
    np.testing.assert_allclose(tr.grad_norms, np.linalg.norm(grads, axis=-1), rtol=1e-12)
    assert (tr.stop_reason == "max_steps").all() and (tr.stop_step == steps).all()
    np.testing.assert_allclose(tr.lr, np.full((steps, 1), lr))


# Every torch-backed registered optimizer, checked against the torch class on a separate tensor.
TORCH_TABLE = [
    ("gd", {"lr": 0.002}, torch.optim.SGD, {"lr": 0.002}),
    ("momentum", {"lr": 0.002, "momentum": 0.8}, torch.optim.SGD, {"lr": 0.002, "momentum": 0.8}),
    (
        "nesterov",
        {"lr": 0.002, "momentum": 0.8},
        torch.optim.SGD,
        {"lr": 0.002, "momentum": 0.8, "nesterov": True},
    ),
    ("adagrad", {"lr": 0.1}, torch.optim.Adagrad, {"lr": 0.1}),
    ("rmsprop", {"lr": 0.01}, torch.optim.RMSprop, {"lr": 0.01}),
    ("adadelta", {"lr": 1.0}, torch.optim.Adadelta, {"lr": 1.0}),
    ("adam", {"lr": 0.05}, torch.optim.Adam, {"lr": 0.05}),
    ("adamw", {"lr": 0.05}, torch.optim.AdamW, {"lr": 0.05}),
    ("nadam", {"lr": 0.05}, torch.optim.NAdam, {"lr": 0.05}),
    ("radam", {"lr": 0.05}, torch.optim.RAdam, {"lr": 0.05}),
    ("adamax", {"lr": 0.05}, torch.optim.Adamax, {"lr": 0.05}),
    ("amsgrad", {"lr": 0.05}, torch.optim.Adam, {"lr": 0.05, "amsgrad": True}),
]


@pytest.mark.parametrize(
    ("name", "hyper", "cls", "kw"), TORCH_TABLE, ids=[t[0] for t in TORCH_TABLE]
)
def test_batched_equals_torch_optim_per_start(name, hyper, cls, kw):
    steps = 30
    tr = run(HIMMELBLAU, name, STARTS, steps, grad_tol=0, bound=math.inf, **hyper)
    for i, x0 in enumerate(STARTS):
        ref = separate(cls, x0, steps, **kw)
        np.testing.assert_allclose(tr.positions[:, i], ref, rtol=1e-13, atol=1e-13)


def test_torch_class_as_callable_and_lbfgs_rows_apart():
    tr = run(HIMMELBLAU, torch.optim.Adam, STARTS, 10, lr=0.1, grad_tol=0)
    np.testing.assert_allclose(
        tr.positions[:, 2], separate(torch.optim.Adam, STARTS[2], 10, lr=0.1)
    )
    # L-BFGS couples coordinates: the engine keeps rows apart; each equals torch on its own
    tr = run(HIMMELBLAU, "lbfgs", STARTS, 4, grad_tol=0, lr=0.5, max_iter=5)
    for i, x0 in enumerate(STARTS):
        ref = separate(torch.optim.LBFGS, x0, 4, closure_calls=True, lr=0.5, max_iter=5)
        np.testing.assert_allclose(tr.positions[:, i], ref, rtol=1e-12, atol=1e-12)


class NormalizedGD(torch.optim.Optimizer):
    """x <- x - lr g / ||g|| over the whole tensor: couples rows if they share a tensor."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad / p.grad.norm().clamp_min(1e-300), alpha=-group["lr"])
        return loss


def test_unknown_elementwise_third_party_runs_rows_apart():
    steps = 12
    tr = run(HIMMELBLAU, NormalizedGD, STARTS, steps, lr=0.05, grad_tol=0)
    for i in range(len(STARTS)):
        one = run(HIMMELBLAU, NormalizedGD, STARTS[i], steps, lr=0.05, grad_tol=0)
        np.testing.assert_array_equal(tr.positions[:, i], one.positions[:, 0])
        ref = separate(NormalizedGD, STARTS[i], steps, closure_calls=True, lr=0.05)
        np.testing.assert_allclose(tr.positions[:, i], ref, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------- stop rules
def test_converged_rows_freeze_while_others_move():
    # start 1 sits on the minimum (3, 2): converged at step 0 and never moves, though momentum
    # and Adam keep moving the others
    X0 = np.array([[3.0, 2.0], [0.0, 0.0], [-1.0, 3.0]])
    for name in ("momentum", "adam"):
        tr = run(HIMMELBLAU, name, X0, 200, lr=0.01, grad_tol=1e-6)
        assert tr.stop_reason[0] == "converged" and tr.stop_step[0] == 0
        assert (tr.positions[:, 0] == X0[0]).all()
        assert (tr.losses[:, 0] == 0).all()
        # the moving rows are unaffected: equal to their own runs
        for i in (1, 2):
            one = run(HIMMELBLAU, name, X0[i], 200, lr=0.01, grad_tol=1e-6)
            np.testing.assert_array_equal(tr.final_points[i], one.final_points[0])
            assert tr.stop_step[i] == one.stop_step[0]


def test_converged_mid_run_is_frozen_at_first_small_gradient():
    lr, tol = 0.1, 1e-3
    X0 = np.array([[1.0, -1.0, 2.0], [0.01, 0.0, 0.0]])
    tr = run(QUAD, "gd", X0, 500, lr=lr, grad_tol=tol)
    M = np.eye(3) - lr * A.numpy()
    for i in range(2):
        xs = [X0[i]]
        while np.linalg.norm(A.numpy() @ xs[-1]) > tol:
            xs.append(M @ xs[-1])
        k = len(xs) - 1
        assert tr.stop_reason[i] == "converged" and tr.stop_step[i] == k
        np.testing.assert_allclose(tr.final_points[i], xs[-1], rtol=1e-12)
        after = tr.record_steps >= k
        assert (tr.positions[after, i] == tr.final_points[i]).all()
    assert tr.n_steps == max(tr.stop_step)  # stopped early once every row had converged
    assert tr.record_steps[-1] == tr.n_steps


def _nan_field(P):
    # linear descent along +x into a region where f is NaN (x > 3)
    f = -P[:, 0] + 0.5 * P[:, 1] ** 2
    return torch.where(P[:, 0] > 3, torch.full_like(f, math.nan), f)


NAN_LAND = Landscape(_nan_field, dim=2, name="nan_field", domain=(-5, 5))


@pytest.mark.parametrize("name", ["gd", "adam", "momentum"])
def test_nan_row_diverges_without_poisoning_others(name):
    X0 = np.array([[0.0, 1.0], [-1000.0, 0.5], [-500.0, -1.0]])
    tr = run(NAN_LAND, name, X0, 60, lr=0.5, grad_tol=0)
    assert tr.stop_reason.tolist() == ["diverged", "max_steps", "max_steps"]
    assert np.isfinite(tr.positions).all() and np.isfinite(tr.losses).all()
    for i in (1, 2):
        ref = run(NAN_LAND, name, X0[i], 60, lr=0.5, grad_tol=0)
        np.testing.assert_array_equal(tr.positions[:, i], ref.positions[:, 0])
    k = int(tr.stop_step[0])
    # the diverged row ends at its last finite iterate, x_{k-1}, which is <= 3
    assert tr.final_points[0, 0] <= 3 and tr.positions[k, 0, 0] == tr.final_points[0, 0]
    np.testing.assert_array_equal(tr.final_points[0], tr.positions[k - 1, 0])
    assert (tr.positions[k:, 0] == tr.final_points[0]).all()
    if name == "gd":  # x_k = 0.5 k: NaN first at x_7 = 3.5
        assert k == 7 and tr.final_points[0, 0] == 3.0


def test_too_large_lr_diverges_at_the_bound_others_equal_separate_runs():
    L = Landscape(lambda P: P[:, 0] ** 2 + 10 * P[:, 1] ** 2, dim=2, domain=(-2, 2))
    lrs = [0.01, 0.05, 0.25]
    X0 = np.array([[1.0, 1.0], [-1.5, 0.5]])
    tr = run(L, "gd", X0, 100, lrs=lrs, bound=1e3, grad_tol=0)
    assert tr.row_lr.tolist() == [0.01, 0.01, 0.05, 0.05, 0.25, 0.25]
    assert tr.row_group.tolist() == [0, 0, 1, 1, 2, 2]
    np.testing.assert_allclose(tr.lr, np.tile(lrs, (tr.n_steps, 1)))
    # lr 0.25: y_k = y_0 (1 - 5)^k first exceeds 1e3 in size at k with 4^k |y_0| > 1e3
    for i, y0 in zip((4, 5), (1.0, 0.5), strict=True):
        k = next(k for k in range(100) if 4**k * y0 > 1e3)
        assert tr.stop_reason[i] == "diverged" and tr.stop_step[i] == k
        np.testing.assert_allclose(tr.final_points[i, 1], y0 * (-4.0) ** (k - 1))
    for g, lr in enumerate(lrs[:2]):
        for i in range(2):
            one = run(L, "gd", X0[i], 100, lr=lr, bound=1e3, grad_tol=0)
            np.testing.assert_array_equal(tr.positions[:, 2 * g + i], one.positions[:, 0])
            assert tr.stop_reason[2 * g + i] == "max_steps"


def test_lr_grid_equals_separate_runs_for_adam():
    tr = run(HIMMELBLAU, "adam", STARTS[:3], 25, lrs=[0.01, 0.3], grad_tol=0)
    assert tr.n_starts == 6
    np.testing.assert_array_equal(tr.starts, np.concatenate([STARTS[:3], STARTS[:3]]))
    for r in range(6):
        lr = [0.01, 0.3][r // 3]
        ref = separate(torch.optim.Adam, STARTS[r % 3], 25, lr=lr)
        np.testing.assert_allclose(tr.positions[:, r], ref, rtol=1e-13, atol=1e-13)


def test_start_outside_bound_or_nan_value_is_diverged_at_step_zero():
    tr = run(NAN_LAND, "gd", [[4.0, 0.0], [0.0, 0.0]], 3, lr=0.1, grad_tol=0)
    assert tr.stop_reason[0] == "diverged" and tr.stop_step[0] == 0
    np.testing.assert_array_equal(tr.final_points[0], [4.0, 0.0])
    assert tr.stop_reason[1] == "max_steps"


def test_stop_rules_exact_at_their_edges():
    # the bound is on the Euclidean norm: |(7.5, 6.5)| = 9.92 runs on, |(7.1, 7.1)| = 10.04 stops
    flat = Landscape(lambda P: 0.0 * P.sum(-1), dim=2, name="flat")
    tr = run(flat, "gd", [[7.5, 6.5], [7.1, 7.1], [-7.07, 7.07]], 5, bound=10, grad_tol=0)
    assert tr.stop_reason.tolist() == ["max_steps", "diverged", "max_steps"]
    assert tr.stop_step.tolist() == [5, 0, 5]
    # an infinite value with a finite gradient diverges; f = -x below x = 1, GD: x_k = 0.3 k
    wall = Landscape(
        lambda P: torch.where(P[:, 0] > 1, torch.full_like(P[:, 0], math.inf), -P[:, 0]),
        dim=2,
        name="wall",
    )
    tr = run(wall, "gd", [[0.0, 0.0], [-10.0, 0.0]], 10, lr=0.3, grad_tol=0)
    assert tr.stop_reason.tolist() == ["diverged", "max_steps"]
    assert tr.stop_step[0] == 4 and tr.final_points[0, 0] == 0.3 + 0.3 + 0.3
    np.testing.assert_allclose(tr.final_points[1], [-7.0, 0.0])
    # a gradient exactly at the tolerance converges (<=), just above runs on
    line = Landscape(lambda P: P[:, 0] * P[:, 1], dim=2, name="line")
    tr = run(line, "gd", [[0.0, 0.5], [0.0, 0.5000001]], 0, grad_tol=0.5)
    assert tr.stop_reason.tolist() == ["converged", "max_steps"]


# ---------------------------------------------------------------------------- records, schedules
def test_record_every_keeps_subset_and_exact_final_state():
    full = run(HIMMELBLAU, "adam", STARTS, 23, lr=0.05, grad_tol=0)
    sparse = run(HIMMELBLAU, "adam", STARTS, 23, lr=0.05, grad_tol=0, record_every=5)
    assert sparse.record_steps.tolist() == [0, 5, 10, 15, 20, 23]
    np.testing.assert_array_equal(sparse.positions, full.positions[sparse.record_steps])
    np.testing.assert_array_equal(sparse.losses, full.losses[sparse.record_steps])
    np.testing.assert_array_equal(sparse.final_points, full.positions[-1])
    np.testing.assert_allclose(sparse.final_losses, himmelblau_fn(torch.tensor(full.positions[-1])))


@pytest.mark.parametrize(
    ("schedule", "torch_sched"),
    [
        (
            functools.partial(torch.optim.lr_scheduler.StepLR, step_size=5, gamma=0.5),
            lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
        ),
        (
            ("cosine", {"T_max": 10}),
            lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10),
        ),
        ("exponential:gamma=0.9", None),
    ],
    ids=["steplr-partial", "cosine-pair", "bad-spec-string"],
)
def test_schedule_matches_torch_scheduler(schedule, torch_sched):
    steps = 17
    if torch_sched is None:  # "name:params" strings are the CLI's to parse, not the engine's
        with pytest.raises(UnknownNameError):
            run(HIMMELBLAU, "gd", STARTS, steps, lr=0.004, schedule=schedule)
        return
    tr = run(HIMMELBLAU, "gd", STARTS, steps, lr=0.004, schedule=schedule, grad_tol=0)
    lrs = []
    for i, x0 in enumerate(STARTS):
        x = torch.tensor(x0, dtype=F64, requires_grad=True)
        opt = torch.optim.SGD([x], lr=0.004)
        sched = torch_sched(opt)
        lrs = []
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.zero_grad()
            himmelblau_fn(x[None]).sum().backward()
            opt.step()
            sched.step()
        np.testing.assert_allclose(tr.final_points[i], x.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(tr.lr[:, 0], lrs, rtol=1e-15)
    assert tr.schedule


def test_schedule_on_rows_apart_and_plateau_schedule_runs():
    sched = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=2, gamma=0.5)
    tr = run(HIMMELBLAU, "lbfgs", STARTS[:2], 5, lr=0.5, max_iter=3, schedule=sched, grad_tol=0)
    assert tr.lr.shape == (5, 2) and tr.row_group.tolist() == [0, 1]
    np.testing.assert_allclose(tr.lr[:, 0], [0.5, 0.5, 0.25, 0.25, 0.125])
    tr = run(HIMMELBLAU, "gd", STARTS, 40, lr=0.001, schedule=("reduce_on_plateau", {}))
    assert tr.lr.shape[0] == tr.n_steps and (tr.lr > 0).all()


def test_race_same_starts_and_labels():
    race = run(HIMMELBLAU, [("gd", {"lr": 0.01}), "adam", ("gd", {"lr": 0.01})], STARTS, 5)
    assert isinstance(race, Race)
    assert race.labels == ["gd(lr=0.01)", "adam", "gd(lr=0.01)#2"]
    for t in race.values():
        np.testing.assert_array_equal(t.starts, STARTS)
    np.testing.assert_array_equal(race["gd(lr=0.01)"].positions, race["gd(lr=0.01)#2"].positions)
    assert race["gd(lr=0.01)#2"].optimizer == "gd(lr=0.01)#2"


RACE_STARTS = np.array([[3.0, 2.0], [-4.0, 4.5], [0.3, -0.2], [3.5, -3.0], [1e3, 0.0]])


def _same(a: Trajectory, b: Trajectory) -> None:
    for k in ("positions", "record_steps", "losses", "grad_norms", "lr", "stop_step"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    np.testing.assert_array_equal(a.final_points, b.final_points)
    np.testing.assert_array_equal(a.final_losses, b.final_losses)
    assert a.stop_reason.tolist() == b.stop_reason.tolist()


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"lrs": [0.001, 0.05]},
        {"schedule": ("step", {"step_size": 7, "gamma": 0.5})},
        {"schedule": ("reduce_on_plateau", {"patience": 2}), "record_every": 4},
    ],
    ids=["plain", "lr-grid", "step-schedule", "plateau-schedule"],
)
def test_race_shares_one_pass_and_equals_separate_runs(kw):
    # one row converged at step 0, one diverging (beyond the bound at once), others running;
    # armijo_gd re-evaluates through the closure (line search) inside the shared pass
    specs = [("gd", {"lr": 0.01}), ("adam", {"lr": 0.1}), ("momentum", {"lr": 0.01}), "armijo_gd"]
    race = run(HIMMELBLAU, specs, RACE_STARTS, 40, bound=100.0, grad_tol=1e-6, **kw)
    assert race.labels == ["gd(lr=0.01)", "adam(lr=0.1)", "momentum(lr=0.01)", "armijo_gd"]
    for spec, label in zip(specs, race.labels, strict=True):
        one = run(HIMMELBLAU, spec, RACE_STARTS, 40, bound=100.0, grad_tol=1e-6, **kw)
        _same(race[label], one)
        assert race[label].stop_reason[0] == "converged"
        assert race[label].stop_reason[4] == "diverged"


def test_race_uses_the_shared_pass_and_noise_does_not_depend_on_it(monkeypatch):
    import descentlab.engine.runs as engine

    sizes = []
    real = engine._run_shared

    def spy(landscape, specs, *a, **k):
        sizes.append(len(specs))
        return real(landscape, specs, *a, **k)

    monkeypatch.setattr(engine, "_run_shared", spy)
    specs = [("noisy_gd", {"lr": 0.01}), "newton", ("perturbed_gd", {"lr": 0.01}), "lbfgs"]
    race = run(HIMMELBLAU, specs, RACE_STARTS[:4], 30, seed=5)
    assert sizes == [2]  # the two first-order element-wise rules; Newton and L-BFGS apart
    for spec, label in zip(specs, race.labels, strict=True):
        _same(race[label], run(HIMMELBLAU, spec, RACE_STARTS[:4], 30, seed=5))


def test_race_member_that_finishes_early_stops_stepping():
    L = Landscape(lambda P: 0.5 * (P**2).sum(-1), dim=2, name="bowl")
    race = run(L, [("gd", {"lr": 1.0}), ("gd", {"lr": 0.1})], [[1.0, -1.0]], 500)
    fast, slow = race.values()
    assert fast.n_steps == 1 and fast.stop_step[0] == 1 and fast.final_points.tolist() == [[0, 0]]
    assert slow.n_steps == slow.stop_step[0] > 100
    _same(slow, run(L, "gd", [[1.0, -1.0]], 500, lr=0.1))


def test_large_races_run_apart(monkeypatch):
    import descentlab.engine.runs as engine

    monkeypatch.setattr(engine, "SHARED_RACE_MAX_ROWS", 9)
    monkeypatch.setattr(engine, "_run_shared", None)  # would fail if called
    race = run(HIMMELBLAU, ["gd", "adam"], RACE_STARTS, 5)
    _same(race["adam"], run(HIMMELBLAU, "adam", RACE_STARTS, 5))


def test_starts_helpers_and_single_point():
    g = grid_starts(HIMMELBLAU, (3, 2))
    np.testing.assert_array_equal(g, [[-5, -5], [-5, 5], [0, -5], [0, 5], [5, -5], [5, 5]])
    r = random_starts(HIMMELBLAU, 50, seed=3)
    assert r.shape == (50, 2) and (np.abs(r) <= 5).all()
    np.testing.assert_array_equal(r, random_starts(HIMMELBLAU, 50, seed=3))
    tr = run(HIMMELBLAU, "gd", [1.0, 2.0], 2)
    assert isinstance(tr, Trajectory) and tr.starts.shape == (1, 2)


def test_seed_does_not_touch_global_rng():
    torch.manual_seed(123)
    a = torch.rand(1)
    torch.manual_seed(123)
    run(HIMMELBLAU, "gd", STARTS, 3, seed=7)
    assert torch.rand(1) == a


# ---------------------------------------------------------------------------- errors
def test_memory_bound_is_enforced_with_advice():
    with pytest.raises(InvalidParameterError, match=r"record_every >= \d+"):
        run(HIMMELBLAU, "gd", np.zeros((1000, 2)), 10_000, max_memory=2**20)
    tr = run(HIMMELBLAU, "gd", np.zeros((10, 2)), 100, record_every=50, max_memory=2**20)
    assert tr.n_records <= 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"optimizer": "nope"}, UnknownNameError, "valid: .*adam"),
        ({"optimizer": "adam", "lr": -1}, InvalidParameterError, "lr"),
        ({"optimizer": "adam", "momentum": 0.9}, InvalidParameterError, "accepted"),
        ({"optimizer": "gd", "steps": -1}, InvalidParameterError, "steps"),
        ({"optimizer": "gd", "record_every": 0}, InvalidParameterError, "record_every"),
        ({"optimizer": "gd", "grad_tol": -1}, InvalidParameterError, "grad_tol"),
        ({"optimizer": "gd", "bound": 0}, InvalidParameterError, "bound"),
        ({"optimizer": "gd", "lrs": []}, InvalidParameterError, "lrs"),
        ({"optimizer": "gd", "lrs": [0.1, -0.1]}, InvalidParameterError, "lrs"),
        ({"optimizer": "gd", "starts": [[1.0, 2.0, 3.0]]}, DimensionError, "shape"),
        ({"optimizer": "gd", "starts": [[math.nan, 0.0]]}, InvalidParameterError, "finite"),
        ({"optimizer": [], "steps": 3}, InvalidParameterError, "empty"),
        ({"optimizer": 3}, InvalidParameterError, "optimizer must be"),
        ({"optimizer": "gd", "schedule": 5}, InvalidParameterError, "schedule"),
        ({"optimizer": "gd", "schedule": "nope"}, UnknownNameError, "valid: .*cosine"),
        ({"optimizer": "gd", "schedule": ("cosine", {"x": 1})}, InvalidParameterError, "T_max"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, error, match):
    args = {"starts": STARTS, "steps": 5, **kwargs}
    with pytest.raises(error, match=match):
        run(HIMMELBLAU, **args)
    assert issubclass(error, DescentlabError)


def test_bad_objective_shape_is_reported():
    L = Landscape(lambda P: P.sum(), dim=2, name="scalar")
    with pytest.raises(DescentlabError, match=r"expected \(5,\)"):
        run(L, "gd", STARTS, 3)


def test_default_grad_tol_lets_saddle_escapers_leave_an_exact_saddle():
    """With the default tolerance, GD started exactly on the double well's saddle stops there at
    step 0 (its gradient is exactly zero), while perturbed GD and noisy GD, which move where the
    gradient vanishes, are not stopped by the gradient rule and leave the saddle."""
    from descentlab.landscapes import get_landscape

    L = get_landscape("double_well")
    race = run(L, ["gd", "perturbed_gd", "noisy_gd"], [[0.0, 0.0]], steps=200)
    assert race["gd"].stop_reason.tolist() == ["converged"]
    assert race["gd"].stop_step.tolist() == [0]
    for label in ("perturbed_gd", "noisy_gd"):
        end = race[label].final_points[0]
        assert abs(abs(end[0]) - 1.0) < 0.05, (label, end)  # reached a minimum x = +-1


def test_start_generators_refuse_huge_counts_quickly():
    import time

    L = Landscape(lambda P: (P**2).sum(-1), dim=2, domain=(-1, 1))
    with pytest.raises(InvalidParameterError, match=r"a grid of 10,000,000,000 starts"):
        grid_starts(L, 100_000)
    big = Landscape(lambda P: (P**2).sum(-1), dim=100_000, domain=(-1, 1))
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError, match=r"a grid of ~1e69897 starts is too large"):
        grid_starts(big, 5)  # 5^100000: never multiplied out in full
    with pytest.raises(InvalidParameterError, match=r"positive integers, got 0$"):
        grid_starts(big, 0)
    with pytest.raises(InvalidParameterError, match=r"1,000,000,000,000 random starts are too"):
        random_starts(L, 10**12)  # was a 16 TB allocation
    assert time.perf_counter() - t0 < 1.0
