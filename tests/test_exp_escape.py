"""escape: closed-form GD on a quadratic saddle, Lee's stable manifold, matrix factorisation at
U = 0, the chain of saddles' exact values and Hessians, and the quick run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from descentlab.analysis import diagnose
from descentlab.engine import run as engine_run
from descentlab.errors import InvalidParameterError
from descentlab.experiments import run_experiment
from descentlab.experiments.escape import (
    ESCAPE_RADIUS,
    escape_steps,
    gd_escape_step_quadratic,
    lee_landscape,
    lee_prediction,
    matrix_factorisation,
    mf_optimum,
    quadratic_saddle,
)
from descentlab.experiments.octopus import Octopus

torch.set_num_threads(1)


def _first_exit(y0: float, lr: float, rho: float) -> int:
    # the oracle by direct iteration of y <- (1 + lr) y in float64 (the closed form of GD here)
    y, k = y0, 0
    while abs(y) <= rho:
        y = y + lr * y
        k += 1
    return k


@pytest.mark.parametrize("lr", [0.05, 0.1, 0.3])
def test_gd_escape_step_on_quadratic_saddle_is_exact(lr: float) -> None:
    y0s = [1e-2, 3e-5, 1e-8, 1e-12]
    tr = engine_run(
        quadratic_saddle(),
        "gd",
        np.array([[0.0, y] for y in y0s]),
        2000,
        lr=lr,
        grad_tol=0.0,
        bound=ESCAPE_RADIUS,
    )
    measured = escape_steps(tr)
    for y, m in zip(y0s, measured, strict=True):
        assert m == gd_escape_step_quadratic(y, lr) == _first_exit(y, lr, ESCAPE_RADIUS)
        # the recorded iterates are (1 + lr)^k y0 exactly up to rounding
        row = y0s.index(y)
        np.testing.assert_allclose(
            tr.positions[:m, row, 1], y * (1 + lr) ** np.arange(m), rtol=1e-12
        )


def test_gd_from_stable_axis_of_quadratic_saddle_never_escapes() -> None:
    tr = engine_run(quadratic_saddle(), "gd", [[0.3, 0.0]], 500, lr=0.1, grad_tol=0.0)
    assert np.all(tr.positions[:, 0, 1] == 0.0)
    np.testing.assert_allclose(tr.positions[:, 0, 0], 0.3 * 0.9 ** np.arange(501), rtol=1e-12)
    assert gd_escape_step_quadratic(0.0, 0.1) is None


def test_lee_stable_manifold_converges_to_saddle() -> None:
    lee = lee_landscape()
    lr = 0.1
    tr = engine_run(lee, "gd", [[1.0, 0.0]], 400, lr=lr, grad_tol=0.0)
    np.testing.assert_allclose(tr.positions[:, 0, 0], (1 - lr) ** np.arange(401), rtol=1e-12)
    assert np.all(tr.positions[:, 0, 1] == 0.0)
    tr2 = engine_run(lee, "gd", [[1.0, 0.0]], 4000, lr=lr, grad_tol=1e-8)  # gradient rule
    assert tr2.stop_reason[0] == "converged"
    assert np.linalg.norm(tr2.final_points[0]) < 1e-7
    out = diagnose(tr2, lee)[0]
    assert out.kind == "saddle" and out.index == 1


@pytest.mark.parametrize("lr", [0.05, 0.2])
def test_lee_escape_time_logarithmic(lr: float) -> None:
    y0s = [1e-3, 1e-6, 1e-9, 1e-12]
    tr = engine_run(
        lee_landscape(),
        "gd",
        np.array([[0.0, y] for y in y0s]),
        3000,
        lr=lr,
        grad_tol=0.0,
        bound=ESCAPE_RADIUS,
    )
    diffs = [m - lee_prediction(y, lr) for m, y in zip(escape_steps(tr), y0s, strict=True)]
    # The cubic term only slows the exit: measured >= linearised, by a delay that does not grow
    # as y0 -> 0. The flow y' = y (1 - y^2) puts it at 1/2 log(1 / (1 - rho^2)) / log(1 + lr)
    # steps, plus under one step of rounding up.
    delay = 0.5 * math.log(1 / (1 - ESCAPE_RADIUS**2)) / math.log1p(lr)
    assert all(0.0 <= d <= delay + 1.0 for d in diffs)
    assert max(diffs) - min(diffs) <= 1.0
    # so the slope against log(1/y0) is 1/log(1 + lr)
    slope = (escape_steps(tr)[-1] - escape_steps(tr)[0]) / math.log(y0s[0] / y0s[-1])
    assert slope == pytest.approx(1 / math.log1p(lr), abs=3.0 / math.log(1e9))


def test_matrix_factorisation_gd_stays_at_zero_pgd_reaches_optimum() -> None:
    rng = np.random.default_rng(2)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    M = Q @ np.diag([3.0, 1.0, 0.25]) @ Q.T
    L = matrix_factorisation(M, 1)
    # gradient at U = 0 is exactly zero
    P = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(L(P).sum(), P)
    assert torch.equal(g, torch.zeros_like(g))
    tr = engine_run(L, "gd", np.zeros((1, 3)), 300, lr=0.05, grad_tol=0.0)
    assert np.all(tr.positions == 0.0)
    assert tr.final_losses[0] == pytest.approx(0.5 * np.sum(M * M), rel=1e-14)
    pgd = engine_run(
        L,
        ("perturbed_gd", {"g_thres": 1e-4, "radius": 1e-3, "t_thres": 50, "seed": 3}),
        np.zeros((1, 3)),
        800,
        lr=0.05,
        grad_tol=0.0,
    )
    best = float(pgd.losses[-100:, 0].min())
    optimum = 0.5 * (1.0**2 + 0.25**2)  # Eckart-Young: the left-out eigenvalues
    assert mf_optimum(M, 1) == pytest.approx(optimum, rel=1e-12)
    assert best == pytest.approx(optimum, abs=1e-8)


@pytest.mark.parametrize("d", [1, 3, 4])
def test_octopus_saddles_exact(d: int) -> None:
    o = Octopus(d, L=1.5, gamma=0.7, tau=2.0)
    f = lambda x: o(x.unsqueeze(0))[0]  # noqa: E731
    assert o.nu == pytest.approx(
        -float(o.g1(torch.tensor(4.0, dtype=torch.float64))) + 4 * 1.5 * 4.0, rel=1e-14
    )
    for i in range(1, d + 2):
        z = torch.tensor(o.saddle(i), dtype=torch.float64)
        assert float(f(z)) == pytest.approx(-(i - 1) * o.nu, abs=1e-12)
        g = torch.func.grad(f)(z)
        assert float(g.abs().max()) == 0.0
        ev = torch.linalg.eigvalsh(torch.func.hessian(f)(z))
        expect = sorted([3.0] * (d - 1) + ([-1.4] if i <= d else [3.0]))
        np.testing.assert_allclose(ev.numpy(), expect, atol=1e-12)
        assert o.saddle_eigenvalues(i) == pytest.approx(expect)
    lst = o.landscape().critical_points
    assert [c.index for c in lst] == [1] * d + [0]


def test_octopus_twice_differentiable_across_pieces() -> None:
    o = Octopus(3, L=1.0, gamma=1.0, tau=math.e)
    t = o.tau
    f = lambda x: o(x.unsqueeze(0))[0]  # noqa: E731
    grad, hess = torch.func.grad(f), torch.func.hessian(f)
    eps = 1e-7
    for base, k in (([t, 0.3, 0.2], 0), ([2 * t, 0.3, 0.2], 0), ([4 * t, t, 0.4], 1),
                    ([4 * t, 2 * t, 0.4], 1), ([-t, -0.3, 0.2], 0)):  # fmt: skip
        x = torch.tensor(base, dtype=torch.float64)
        e = torch.zeros(3, dtype=torch.float64)
        e[k] = math.copysign(eps, base[k])
        assert float(f(x + e) - f(x - e)) == pytest.approx(float(2 * grad(x) @ e), abs=1e-12)
        assert float((grad(x + e) - grad(x - e)).abs().max()) < 1e-5
        assert float((hess(x + e) - hess(x - e)).abs().max()) < 1e-5


def test_octopus_growth_ratio_and_errors() -> None:
    o = Octopus(2, L=1.0, gamma=1.0)
    assert o.growth_ratio(0.1) == pytest.approx(1 + math.log(1 / 0.8) / math.log(1.2))
    with pytest.raises(InvalidParameterError):
        Octopus(0)
    with pytest.raises(InvalidParameterError):
        Octopus(2, L=-1.0)
    with pytest.raises(InvalidParameterError):
        o.saddle(4)
    with pytest.raises(InvalidParameterError):
        o.growth_ratio(0.6)
    with pytest.raises(InvalidParameterError):
        o(torch.zeros(1, 3, dtype=torch.float64))


def test_quick_run(tmp_path) -> None:
    r = run_experiment("escape", quick=True, out=tmp_path)
    assert r.verdict == "qualified"
    n = r.numbers
    assert all(n["checks"].values()), n["checks"]
    esc = n["sweep"]["escape"]
    for name in ("gd", "momentum", "nesterov", "rmsprop", "adam", "saddle_free_newton"):
        assert all(esc[name][lr]["0.0"] is None for lr in esc[name])
    for name in ("perturbed_gd", "noisy_gd", "cubic_newton"):
        assert all(esc[name][lr]["0.0"] is not None for lr in esc[name])
    assert n["lee"]["quadratic_saddle_exact_match"]
    oc = n["octopus"]
    assert oc["gd_median_dwell"][-1] > 10 * oc["pgd_median_dwell"][-1] / 2
    for path in r.figures.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
