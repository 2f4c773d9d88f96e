"""Perturbed and noisy GD: the counter-based noise, row independence, reference loops, escapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from descentlab.optim import NoisyGD, PerturbedGD, _rng, resolve_optimizer

F64 = torch.float64


def double_well(P):
    return (P[:, 0] ** 2 - 1.0) ** 2 + P[:, 1] ** 2


def run(opt_cls, P0, f, steps, row_offset=0, **hyper):
    P = P0.clone().requires_grad_(True)
    opt = opt_cls([{"params": [P], "rows_independent": True, "row_offset": row_offset}], **hyper)
    out = [P.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(P).sum().backward()
        opt.step()
        out.append(P.detach().clone())
    return torch.stack(out), opt.state[P]


# ---------------------------------------------------------------------------- the generator
def test_uniform_and_normal_have_the_right_distribution():
    rows = torch.arange(4000)
    u = _rng.uniform(5, rows, 3, 5, 0, F64).flatten().numpy()
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    z = _rng.normal(5, rows, 3, 5, 0, F64).numpy()
    assert stats.kstest(z.flatten(), "norm").pvalue > 1e-3
    # coordinates uncorrelated
    c = np.corrcoef(z.T)
    assert np.abs(c - np.eye(5)).max() < 0.06
    # different steps and seeds give different (uncorrelated) numbers
    z2 = _rng.normal(5, rows, 4, 5, 0, F64).numpy()
    z3 = _rng.normal(6, rows, 3, 5, 0, F64).numpy()
    assert abs(np.corrcoef(z.flatten(), z2.flatten())[0, 1]) < 0.03
    assert abs(np.corrcoef(z.flatten(), z3.flatten())[0, 1]) < 0.03


def test_ball_is_uniform_in_volume():
    n = 3
    xi = _rng.ball(1, torch.arange(6000), 0, n, 0, F64).numpy()
    r = np.linalg.norm(xi, axis=1)
    assert r.max() <= 1.0
    assert stats.kstest(r**n, "uniform").pvalue > 1e-3  # P(|xi| <= s) = s^n
    assert np.abs(xi.mean(0)).max() < 0.03  # isotropic: no preferred direction
    cov = np.cov(xi.T)  # E[xi xi^T] = I / (n + 2) for the unit ball
    assert np.abs(cov - np.eye(n) / (n + 2)).max() < 0.02


def test_a_rows_draws_do_not_depend_on_the_batch():
    many = _rng.normal(9, torch.arange(100, 164), 17, 4, 0, F64)
    for i in (0, 13, 63):
        one = _rng.normal(9, torch.tensor([100 + i]), 17, 4, 0, F64)
        assert torch.equal(one[0], many[i])


# ---------------------------------------------------------------------------- noisy GD
def test_noisy_gd_with_zero_sigma_is_gd():
    P0 = torch.tensor([[0.3, 0.2], [1.5, -0.4]], dtype=F64)
    ours, _ = run(NoisyGD, P0, double_well, 10, lr=0.05, sigma=0.0)
    ref, _ = run(lambda params, lr: torch.optim.SGD(params, lr=lr), P0, double_well, 10, lr=0.05)
    torch.testing.assert_close(ours, ref, rtol=1e-14, atol=1e-15)


def test_noisy_gd_increments_are_gradient_plus_gaussian_noise():
    # On a flat loss the increments are exactly -lr * sigma * xi: they must be N(0, (lr sigma)^2).
    lr, sigma = 0.1, 2.0
    P0 = torch.zeros(300, 2, dtype=F64)
    traj, _ = run(NoisyGD, P0, lambda P: 0.0 * P.sum(-1), 20, lr=lr, sigma=sigma, seed=4)
    inc = (traj[1:] - traj[:-1]).flatten().numpy() / (lr * sigma)
    assert stats.kstest(inc, "norm").pvalue > 1e-3
    # and with a gradient: x_{t+1} - x_t + lr g(x_t) is the same noise as on the flat loss
    traj2, _ = run(NoisyGD, P0 + 0.5, lambda P: (P**2).sum(-1), 20, lr=lr, sigma=sigma, seed=4)
    resid = traj2[1:] - traj2[:-1] + lr * 2 * traj2[:-1]
    torch.testing.assert_close(resid, traj[1:] - traj[:-1], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- perturbed GD
def reference_perturbed_gd(x0, grad, steps, lr, g_thres, t_thres, radius, seed, row):
    """Jin et al.'s rule for one row, written as a plain loop."""
    x = x0.clone()
    t_noise = -t_thres - 1
    out = [x.clone()]
    for t in range(steps):
        g = grad(x)
        if float(g.norm()) <= g_thres and t - t_noise > t_thres:
            t_noise = t
            x = x + radius * _rng.ball(seed, torch.tensor([row]), t, len(x), 0, F64)[0]
        else:
            x = x - lr * g
        out.append(x.clone())
    return torch.stack(out)


def test_perturbed_gd_equals_the_reference_loop():
    hyper = {"lr": 0.05, "g_thres": 0.3, "t_thres": 4, "radius": 0.2, "seed": 8}
    P0 = torch.tensor([[0.0, 0.0], [0.05, 0.1], [1.0, 0.0], [2.0, 1.0]], dtype=F64)
    traj, state = run(PerturbedGD, P0, double_well, 40, row_offset=10, **hyper)

    def grad(x):
        return torch.stack([4 * x[0] * (x[0] ** 2 - 1), 2 * x[1]])

    for i in range(4):
        ref = reference_perturbed_gd(P0[i], grad, 40, row=10 + i, **hyper)
        torch.testing.assert_close(traj[:, i], ref, rtol=1e-13, atol=1e-14)
    assert (state["perturbations"] > 0).all()


@pytest.mark.parametrize("name", ["perturbed_gd", "noisy_gd"])
def test_changing_one_row_leaves_the_others_bit_identical(name):
    spec = resolve_optimizer(name, lr=0.05, seed=2)
    P0 = torch.tensor([[0.0, 0.0], [0.1, -0.2], [1.3, 0.7]], dtype=F64)
    P1 = P0.clone()
    P1[1] = torch.tensor([5.0, 5.0])
    a, _ = run(spec.factory, P0, double_well, 30)
    b, _ = run(spec.factory, P1, double_well, 30)
    assert torch.equal(a[:, [0, 2]], b[:, [0, 2]])
    assert not torch.equal(a[:, 1], b[:, 1])


@pytest.mark.parametrize(
    ("cls", "hyper"), [(PerturbedGD, {"radius": 0.05}), (NoisyGD, {"sigma": 0.05})]
)
def test_escape_from_the_exact_saddle_where_gd_stays(cls, hyper):
    P0 = torch.zeros(8, 2, dtype=F64)  # exactly on the saddle of the double well
    traj, _ = run(cls, P0, double_well, 400, lr=0.05, seed=1, **hyper)
    end = traj[-1]
    assert (end[:, 0].abs() - 1).abs().max() < 0.05  # every row reached a minimum (+-1, 0)
    assert end[:, 1].abs().max() < 0.05
    assert (end[:, 0] > 0).any() and (end[:, 0] < 0).any()  # both minima, by the noise
    gd, _ = run(lambda p, lr: torch.optim.SGD(p, lr=lr), P0, double_well, 400, lr=0.05)
    assert torch.equal(gd[-1], P0)


def test_full_mode_on_a_module_uses_one_ball_over_all_parameters():
    model = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    opt = PerturbedGD(model.parameters(), radius=0.5, g_thres=1.0, seed=3)
    opt.zero_grad()
    model(torch.zeros(1, 3, dtype=F64)).sum().mul(0.0).backward()  # zero gradient
    opt.step()
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    expected = 0.5 * _rng.ball(3, torch.tensor([0]), 0, 4, 0, F64)[0]
    torch.testing.assert_close(after - before, expected, rtol=0, atol=0)
    assert math.isclose(float(opt.state[next(model.parameters())]["perturbations"][0]), 1.0)
