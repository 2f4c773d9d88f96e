"""Closed-form gradients and Hessians of catalogue landscapes equal autograd at float64."""

from __future__ import annotations

import pytest
import torch

from descentlab.landscapes import get_landscape, landscape_names

WITH_GRAD = [n for n in landscape_names() if get_landscape(n).analytic_grad is not None]
WITH_HESSIAN = [n for n in landscape_names() if get_landscape(n).analytic_hessian is not None]


def _points(L, n: int = 64) -> torch.Tensor:
    P = L.sample(n, seed=3)
    return torch.cat([P, torch.zeros(1, L.dim, dtype=P.dtype), 3.0 * P[:4]])


def test_the_common_landscapes_have_closed_forms():
    for name in ("himmelblau", "tilted_double_well", "double_well", "six_hump_camel"):
        assert name in WITH_GRAD and name in WITH_HESSIAN


@pytest.mark.parametrize("name", WITH_GRAD)
def test_analytic_gradient_equals_autograd(name):
    L = get_landscape(name)
    P = _points(L)
    v, g = L.analytic_grad(P)
    X = P.clone().requires_grad_(True)
    ref_v = L.fn(X)
    (ref_g,) = torch.autograd.grad(ref_v.sum(), X)
    scale = 1.0 + ref_v.abs()
    torch.testing.assert_close(v / scale, ref_v.detach() / scale, rtol=0, atol=1e-13)
    gscale = 1.0 + ref_g.abs()
    torch.testing.assert_close(g / gscale, ref_g / gscale, rtol=0, atol=1e-12)
    assert v.shape == (P.shape[0],) and g.shape == P.shape and not g.requires_grad


@pytest.mark.parametrize("name", WITH_HESSIAN)
def test_analytic_hessian_equals_autograd(name):
    L = get_landscape(name)
    P = _points(L)
    H = L.analytic_hessian(P)
    ref = torch.func.vmap(torch.func.hessian(lambda p: L.fn(p[None])[0]))(P)
    hscale = 1.0 + ref.abs()
    torch.testing.assert_close(H / hscale, ref / hscale, rtol=0, atol=1e-12)
    assert H.shape == (P.shape[0], L.dim, L.dim)


@pytest.mark.parametrize("name", ["himmelblau", "tilted_double_well", "six_hump_camel"])
def test_values_are_unchanged_by_unbinding(name):
    # the value expressions were rewritten with unbind: same numbers as the column-select form
    L = get_landscape(name)
    P = _points(L)
    x, y = P[:, 0], P[:, 1]
    ref = {
        "himmelblau": (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2,
        "tilted_double_well": (x**2 - 1.0) ** 2 + 0.5 * x + (y - x**2) ** 2,
        "six_hump_camel": (4.0 - 2.1 * x**2 + x**4 / 3.0) * x**2
        + x * y
        + (-4.0 + 4.0 * y**2) * y**2,
    }[name]
    assert torch.equal(L.fn(P), ref)
