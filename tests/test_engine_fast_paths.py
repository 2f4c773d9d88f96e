"""Each fast path of the engine equals its reference path (closed forms vs autograd, the
functional step vs torch.optim, batched vs sequential Hessian-vector products, one loop vs a
hand-written loop)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descentlab.engine import run
from descentlab.landscapes import Landscape, get_landscape


def _autograd_twin(L: Landscape) -> Landscape:
    """The same surface without closed forms: the engine falls back to autograd."""
    return Landscape(L.fn, L.dim, name=L.name, domain=L.domain)


@pytest.mark.parametrize("name", ["himmelblau", "tilted_double_well", "six_hump_camel"])
@pytest.mark.parametrize(
    "opt", ["gd", ("adam", {"lr": 0.05}), ("momentum", {"lr": 0.005}), "newton", "armijo_gd"]
)
def test_closed_forms_in_the_engine_equal_autograd(name, opt):
    L = get_landscape(name)
    starts = L.sample(16, seed=4).numpy()
    # No converged rule: a row at the tolerance's edge may stop one step apart on rounding.
    # Armijo's acceptance test compares f(x - t g) with f(x) - c t |g|^2: at a minimum both
    # sides agree to rounding and a last-bit change of g flips it, so it runs until near one.
    steps = 8 if opt == "armijo_gd" else 60
    a = run(L, opt, starts, steps, grad_tol=0.0)
    b = run(_autograd_twin(L), opt, starts, steps, grad_tol=0.0)
    np.testing.assert_allclose(a.positions, b.positions, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-9, atol=1e-9)
    assert a.stop_reason.tolist() == b.stop_reason.tolist()


@pytest.mark.parametrize(
    ("name", "cls", "kw"),
    [
        ("gd", torch.optim.SGD, {"lr": 0.001}),
        ("momentum", torch.optim.SGD, {"lr": 0.001, "momentum": 0.9}),
        ("adam", torch.optim.Adam, {"lr": 0.01}),
        ("rmsprop", torch.optim.RMSprop, {"lr": 0.01}),
    ],
)
def test_engine_equals_a_plain_torch_optim_loop_step_by_step(name, cls, kw):
    # the functional step and the closed-form gradient against the textbook loop on autograd
    L = get_landscape("himmelblau")
    starts = L.sample(5, seed=1)
    tr = run(L, (name, kw), starts, 50, grad_tol=0.0)
    x = starts.clone().requires_grad_(True)
    opt = cls([x], **kw)
    ref = [x.detach().clone()]
    for _ in range(50):
        opt.zero_grad()
        L.fn(x).sum().backward()
        opt.step()
        ref.append(x.detach().clone())
    np.testing.assert_allclose(tr.positions, torch.stack(ref).numpy(), rtol=1e-12, atol=1e-12)


def test_closed_form_hessian_group_key_equals_autograd_newton():
    L = get_landscape("himmelblau")
    starts = L.sample(32, seed=9).numpy()
    for opt in ("newton", "saddle_free_newton", ("damped_newton", {"adaptive": True})):
        a = run(L, opt, starts, 20, grad_tol=1e-10)
        b = run(_autograd_twin(L), opt, starts, 20, grad_tol=1e-10)
        np.testing.assert_allclose(a.final_points, b.final_points, rtol=1e-9, atol=1e-9)
        assert a.stop_reason.tolist() == b.stop_reason.tolist()


def test_record_every_auto_keeps_small_runs_whole_and_thins_large_ones():
    L = get_landscape("himmelblau")
    small = run(L, "gd", L.sample(3, seed=0), 40, record_every="auto", grad_tol=0.0)
    assert small.record_every == 1 and small.n_records == 41
    from descentlab.loop.recorder import AUTO_RECORD_BYTES, auto_record_every

    B, steps = 200_000, 100
    every = auto_record_every(B, 2, steps)
    assert every > 1 and 8 * (steps // every + 2) * B * 4 <= AUTO_RECORD_BYTES
    assert 8 * (steps // (every - 1) + 2) * B * 4 > AUTO_RECORD_BYTES  # the smallest that fits


def test_newton_direction_2x2_equals_the_eigh_path():
    from descentlab.linalg import pinv_solve
    from descentlab.optim import newton as nw

    gen = torch.Generator().manual_seed(5)
    A = torch.randn(500, 2, 2, generator=gen, dtype=torch.float64)
    H = A + A.mT
    H[0] = 0.0  # zero Hessian: zero step
    H[1] = torch.tensor([[1.0, 0.0], [0.0, 1e-14]])  # a cut eigenvalue: pseudo-inverse
    H[2] = torch.tensor([[2.0, 3.0], [3.0, 2.0]])  # indefinite
    H[3, 0, 0] = float("nan")  # non-finite: NaN step
    g = torch.randn(500, 2, generator=gen, dtype=torch.float64)
    got = nw.newton_direction(H, g, 1e-10)
    ref = pinv_solve(H, g, 1e-10)  # the general path: eigh, then V^T g, then V c
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12, equal_nan=True)
    torch.testing.assert_close(got[4:], torch.linalg.solve(H[4:], g[4:]), rtol=1e-9, atol=1e-9)
    assert got[0].tolist() == [0.0, 0.0] and torch.isnan(got[3]).all()


@pytest.mark.parametrize("name", ["himmelblau", "six_hump_camel", "monkey_saddle"])
@pytest.mark.parametrize(
    "opt",
    [
        ("newton", {"lr": 0.7}),
        ("saddle_free_newton", {"lr": 0.7}),
        ("damped_newton", {"damping": 0.1}),
        ("damped_newton", {"adaptive": True}),
        ("cubic_newton", {}),
    ],
)
def test_curvature_functional_step_is_bit_identical_to_its_optimizer_step(name, opt, monkeypatch):
    # the closed-form-Hessian fast path skips the closure and the step wrapper, nothing else;
    # "lr" < 1 and rows near singular Hessians (the monkey saddle's origin) take every branch
    from descentlab.optim.newton import _CurvatureOptimizer

    L = get_landscape(name)
    starts = torch.cat([L.sample(40, seed=3), torch.tensor([[0.0, 0.0], [1e-9, -1e-9]])])
    taken = []
    own = _CurvatureOptimizer.functional_step

    def counted(self):
        step = own(self)
        taken.append(step is not None)
        return step

    monkeypatch.setattr(_CurvatureOptimizer, "functional_step", counted)
    fast = run(L, opt, starts, 30, grad_tol=1e-12)
    assert taken == [True]
    monkeypatch.setattr(_CurvatureOptimizer, "functional_step", lambda self: None)
    slow = run(L, opt, starts, 30, grad_tol=1e-12)
    assert np.array_equal(fast.positions, slow.positions, equal_nan=True)
    assert fast.stop_reason.tolist() == slow.stop_reason.tolist()
    assert np.array_equal(fast.stop_step, slow.stop_step)


def test_curvature_functional_step_is_taken_only_on_closed_form_rows():
    from descentlab.optim import resolve_optimizer

    x = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    spec = resolve_optimizer("newton")
    with_h = spec.factory([{"params": [x], "rows_independent": True, "row_hessian": torch.eye}])
    assert callable(with_h.functional_step())
    assert spec.factory([{"params": [x], "rows_independent": True}]).functional_step() is None
    assert spec.factory([x]).functional_step() is None
    adaptive = resolve_optimizer("damped_newton", adaptive=True)  # evaluates trial points
    group = {"params": [x], "rows_independent": True, "row_hessian": torch.eye}
    assert adaptive.factory([group]).functional_step() is None  # no row_fn: needs the closure
    group = {**group, "row_fn": lambda P: (P * P).sum(-1)}
    assert callable(adaptive.factory([group]).functional_step())


@pytest.mark.parametrize("opt", ["gd", ("adam", {"lr": 0.05}), "newton", "saddle_free_newton"])
def test_column_major_rows_equal_row_major_rows(opt):
    # a catalogue surface runs on column-major rows; the same surface declared layout-bound
    # runs on row-major rows: same iterates, same verdicts
    L = get_landscape("six_hump_camel")
    assert L.any_layout
    twin = Landscape(
        L.fn,
        L.dim,
        name=L.name,
        domain=L.domain,
        analytic_grad=L.analytic_grad,
        analytic_hessian=L.analytic_hessian,
    )
    starts = L.sample(64, seed=2).numpy()
    a = run(L, opt, starts, 40, grad_tol=1e-9)
    b = run(twin, opt, starts, 40, grad_tol=1e-9)
    np.testing.assert_allclose(a.positions, b.positions, rtol=1e-12, atol=1e-12)
    assert a.stop_reason.tolist() == b.stop_reason.tolist()
    assert np.array_equal(a.stop_step, b.stop_step)


def test_a_user_function_that_views_its_rows_runs():
    # functions not declared layout-free get row-major rows: P.view works on them
    L = Landscape(lambda P: (P.view(-1) ** 2).view(-1, 2).sum(-1), 2, name="viewer")
    tr = run(L, "gd", [[1.0, 2.0], [0.5, 0.5]], 5, lr=0.1)
    np.testing.assert_allclose(tr.final_points, np.array([[1.0, 2.0], [0.5, 0.5]]) * 0.8**5)
