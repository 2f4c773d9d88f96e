"""BBOB in torch against the reference implementation (``cocoex``), value by value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from descentlab.errors import InvalidParameterError
from descentlab.landscapes import get_landscape
from descentlab.landscapes.bbob import bbob

cocoex = pytest.importorskip("cocoex", reason="the BBOB oracle needs coco-experiment (cocoex)")

DIMS = (2, 3, 5, 10, 20, 40)
INSTANCES = (1, 2, 7, 80)
EPS = np.finfo(float).eps


@pytest.fixture(scope="module")
def suite():
    return cocoex.Suite("bbob", "instances: " + ",".join(map(str, INSTANCES)), "")


def _f19_tolerance(L, X):
    """f19 evaluates cos(s) at s ~ 100 z^4 up to ~1e7: rounding of the input alone moves the value
    by up to eps * sum |d f / d s_i| * |s_i| (the condition of the sum); allow 64 times that."""
    d = L.dim
    R = torch.as_tensor(X)
    c = max(1.0, math.sqrt(d) / 8.0)
    # rebuild s from the definition to bound the condition (same seed as the landscape)
    from descentlab.landscapes.bbob import _rotation

    z = R @ torch.as_tensor(c * _rotation(19 + 10000 * L.params["instance"], d).T) + 0.5
    a, b = z[:, :-1], z[:, 1:]
    s = 100.0 * (a * a - b) ** 2 + (1.0 - a) ** 2
    cond = (10.0 / (d - 1)) * ((1 / 4000 + torch.sin(s)).abs() * s).sum(-1)
    return 64 * EPS * cond.numpy()


@pytest.mark.parametrize("f", range(1, 25))
def test_values_equal_cocoex(suite, f):
    """At 6 random points (some outside the [-5, 5] box, where the penalties act) for every
    dimension of the suite and four instances: relative difference <= 1e-10 (f19: within the
    conditioning of its cosines, see _f19_tolerance)."""
    rng = np.random.default_rng(f)
    for d in DIMS:
        for inst in INSTANCES:
            p = suite.get_problem_by_function_dimension_instance(f, d, inst)
            L = bbob(f, dim=d, instance=inst)
            X = rng.uniform(-5.5, 5.5, size=(6, d))
            ref = np.array([p(x) for x in X])
            ours = L.value(X).numpy()
            err = np.abs(ours - ref)
            tol = 1e-10 * np.maximum(1.0, np.abs(ref))
            if f == 19:
                tol = np.maximum(tol, _f19_tolerance(L, X))
            assert np.all(err <= tol), (f, d, inst, err.max(), ref)


@pytest.mark.parametrize("f", range(1, 25))
def test_global_minimum_is_cocoex_best_value(suite, f):
    """cocoex's value at the listed minimiser is the landscape's global value f_opt (a multiple
    of 0.01 by construction, except f20 whose COCO minimiser is accurate to ~1e-9), and nothing
    sampled is lower."""
    for d in (2, 10):
        p = suite.get_problem_by_function_dimension_instance(f, d, 1)
        L = bbob(f, dim=d, instance=1)
        (cp,) = L.critical_points
        assert cp.is_global and cp.kind == "minimum"
        assert p(np.array(cp.point)) == pytest.approx(L.global_min_value, abs=1e-10)
        if f != 20:
            assert round(100 * L.global_min_value) == pytest.approx(100 * L.global_min_value)
        sample = L.value(L.sample(2000, seed=f)).numpy()
        assert sample.min() >= L.global_min_value - 1e-9
        assert not L.complete


def test_registry_names_and_parameters():
    L = get_landscape("bbob_f15", dim=5, instance=3)
    assert (L.name, L.dim, L.params) == ("bbob_f15", 5, {"dim": 5, "instance": 3})
    assert "not known" in L.description.lower() or "Not known" in L.description
    ref = bbob(15, dim=5, instance=3)
    X = np.random.default_rng(0).uniform(-5, 5, (4, 5))
    assert torch.equal(L.value(X), ref.value(X))


def test_step_ellipsoid_gradient_is_zero_almost_everywhere():
    """f7 is piecewise constant apart from a 1e-5 |z_1| floor that rarely wins: at random points
    autograd's gradient is exactly zero, and the description says gradient methods cannot move."""
    L = bbob(7, dim=5, instance=1)
    g = L.grad(L.sample(200, seed=1))
    zero = (g.abs().amax(-1) == 0).float().mean().item()
    assert zero >= 0.95
    assert "zero almost everywhere" in L.description


def test_smooth_function_gradient_matches_finite_differences():
    """Autograd through the transformations (T_osz, T_asy, rotations) equals central differences."""
    L = bbob(15, dim=4, instance=2)
    X = L.sample(5, seed=3)
    g = L.grad(X)
    h = 1e-6
    for j in range(4):
        e = torch.zeros(4, dtype=torch.float64)
        e[j] = h
        fd = (L.value(X + e) - L.value(X - e)) / (2 * h)
        assert torch.allclose(g[:, j], fd, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "kw",
    [{"dim": 1}, {"dim": 41}, {"instance": 0}, {"instance": 1.5}, {"dim": True}],
)
def test_bad_parameters_are_refused(kw):
    with pytest.raises(InvalidParameterError):
        get_landscape("bbob_f3", **kw)
    with pytest.raises(InvalidParameterError):
        bbob(25)
