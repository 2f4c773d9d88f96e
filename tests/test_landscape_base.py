"""Landscape base class: batched value/grad/Hessian against torch.func oracles."""

import numpy as np
import pytest
import torch

from descentlab.errors import DimensionError, InvalidParameterError
from descentlab.landscapes.base import CriticalPoint, Landscape, classify_eigenvalues


def _f(P):
    x, y, z = P[:, 0], P[:, 1], P[:, 2]
    return torch.sin(x) * y**2 + torch.exp(0.3 * z) * x - x * y * z**3


def _scalar(p):
    return _f(p.unsqueeze(0))[0]


@pytest.fixture
def land():
    return Landscape(_f, 3, name="test", domain=(-2, 2))


def test_grad_and_hessian_match_torch_func(land):
    P = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    v, g = land.value_and_grad(P)
    H = land.hessian(P)
    for i in range(7):
        assert torch.allclose(v[i], _scalar(P[i]))
        assert torch.allclose(g[i], torch.func.grad(_scalar)(P[i]), atol=1e-12)
        assert torch.allclose(H[i], torch.func.hessian(_scalar)(P[i]), atol=1e-12)


def test_hvp_matches_hessian_product(land):
    gen = torch.Generator().manual_seed(2)
    P = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    V = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    expected = torch.einsum("bij,bj->bi", land.hessian(P), V)
    assert torch.allclose(land.hvp(P, V), expected, atol=1e-12)


def test_affine_landscape_has_zero_hessian():
    lin = Landscape(lambda P: 2 * P[:, 0] - P[:, 1], 2)
    assert torch.equal(lin.hessian(torch.ones(3, 2)), torch.zeros(3, 2, 2, dtype=torch.float64))
    assert torch.equal(
        lin.hvp(torch.ones(3, 2), torch.ones(3, 2)), torch.zeros(3, 2, dtype=torch.float64)
    )


def test_single_point_and_dtype(land):
    v = land.value([0.5, 1.0, -1.0])
    assert v.shape == (1,) and v.dtype == torch.float64
    with pytest.raises(DimensionError, match=r"\(B, 3\)"):
        land.value(np.zeros((4, 2)))


def test_domain_forms():
    a = Landscape(lambda P: P.sum(-1), 2, domain=[-1, 1, -2, 3])
    assert a.domain == ((-1.0, 1.0), (-2.0, 3.0))
    b = Landscape(lambda P: P.sum(-1), 2, domain=(-1, 1))
    assert b.domain == ((-1.0, 1.0), (-1.0, 1.0))
    for bad in ([1, -1], [0, 1, 2], [[0, 1]] * 3, [0, float("inf")]):
        with pytest.raises(InvalidParameterError):
            Landscape(lambda P: P.sum(-1), 2, domain=bad)
    with pytest.raises(InvalidParameterError, match="dim"):
        Landscape(lambda P: P.sum(-1), 0)


def test_sample_stays_in_domain_and_is_seeded():
    L = Landscape(lambda P: P.sum(-1), 2, domain=[-1, 1, 10, 11])
    S = L.sample(1000, seed=3)
    assert S.shape == (1000, 2)
    assert (S[:, 0] >= -1).all() and (S[:, 0] <= 1).all()
    assert (S[:, 1] >= 10).all() and (S[:, 1] <= 11).all()
    assert torch.equal(S, L.sample(1000, seed=3))


def test_grid_layout():
    L = Landscape(lambda P: P[:, 0] + 10 * P[:, 1], 2, domain=[0, 1, 0, 2])
    X, Y, Z = L.grid((3, 5))
    assert X.shape == (5, 3)
    assert torch.allclose(Z, X + 10 * Y)
    assert X[0, -1] == 1 and Y[-1, 0] == 2


@pytest.mark.parametrize(
    ("eigs", "expected"),
    [
        ([1.0, 2.0], ("minimum", 0)),
        ([-1.0, -2.0], ("maximum", 2)),
        ([-1.0, 2.0, 3.0], ("saddle", 1)),
        ([-1.0, -2.0, 3.0], ("saddle", 2)),
        ([0.0, 0.0], ("degenerate", 0)),
        ([1.0, 1e-12], ("degenerate", 0)),
        ([-1.0, 1e-12], ("degenerate", 1)),
        ([-1.0, 0.0, 1.0], ("saddle", 1)),  # both signs: a saddle whatever the zero does
        ([1e-3, 2e-3], ("minimum", 0)),  # small but well-conditioned is not degenerate
    ],
)
def test_classify_eigenvalues(eigs, expected):
    assert classify_eigenvalues(eigs) == expected


def test_critical_points_lazy_and_counts():
    calls = []

    def make():
        calls.append(1)
        return [
            {"point": (0.0, 0.0), "value": 0.0, "kind": "saddle", "index": 1},
            CriticalPoint((1.0, 0.0), -1.0, "minimum", 0, is_global=True),
        ]

    L = Landscape(lambda P: P.sum(-1), 2, critical_points=make, complete=True)
    assert not calls
    assert L.count_kinds() == {"minimum": 1, "maximum": 0, "saddle": 1, "degenerate": 0}
    assert [c.point for c in L.global_minima] == [(1.0, 0.0)]
    assert L.critical_points[0].to_dict()["kind"] == "saddle"
    assert len(calls) == 1
    with pytest.raises(InvalidParameterError, match="kind"):
        CriticalPoint((0.0,), 0.0, "valley", 0)


def test_absurd_dimension_is_refused_quickly():
    import time

    from descentlab.landscapes.base import MAX_DIM

    t0 = time.perf_counter()
    with pytest.raises(
        InvalidParameterError, match="dim must be at most 1,000,000, got 100,000,000"
    ):
        Landscape(lambda P: (P**2).sum(-1), dim=100_000_000, domain=(-1, 1))
    assert time.perf_counter() - t0 < 1.0
    assert Landscape(lambda P: (P**2).sum(-1), dim=MAX_DIM).dim == MAX_DIM
