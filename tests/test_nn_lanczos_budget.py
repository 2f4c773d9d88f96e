"""Lanczos step budget, tolerances, per-pair convergence flags and error bounds vs eigvalsh."""

from __future__ import annotations

import pytest
import torch

from descentlab.errors import InvalidParameterError
from descentlab.nn import lanczos

torch.set_num_threads(1)
F64 = torch.float64


def with_spectrum(lam, seed=0):
    lam = torch.as_tensor(lam, dtype=F64)
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(lam.numel(), lam.numel(), generator=g, dtype=F64))
    return Q @ torch.diag(lam) @ Q.T


def ill_conditioned(n=400):
    # a tight cluster at the bottom: lambda_min converges slowly (ill-conditioned minimum)
    lam = torch.cat(
        [1e-4 * torch.arange(1.0, 6.0), torch.linspace(1e-3, 1.0, n - 6), torch.tensor([50.0])]
    )
    return with_spectrum(lam, seed=1), lam


def test_default_budget_can_be_raised_and_flags_are_per_pair():
    A, lam = ill_conditioned()
    short = lanczos(A, k=1, tol=1e-10)
    assert short.max_steps == 100 and short.iterations == 100
    assert not short.converged and short.budget_exhausted
    assert bool(short.top.converged[0]) and not bool(short.bottom.converged[0])
    long = lanczos(A, k=1, tol=1e-10, max_steps=400)
    assert long.converged and not long.budget_exhausted and long.max_steps == 400
    assert long.lambda_min == pytest.approx(float(lam.min()), abs=1e-9)
    with pytest.raises(InvalidParameterError, match="max_steps must be a positive integer"):
        lanczos(A, max_steps=0)
    with pytest.raises(InvalidParameterError, match="not both"):
        lanczos(A, max_steps=10, max_iter=20)
    with pytest.raises(InvalidParameterError, match="atol"):
        lanczos(A, atol=-1.0)
    assert lanczos(A, max_iter=15).max_steps == 15  # the former name still works


def test_bounds_contain_an_eigenvalue_converged_or_not():
    A, _ = ill_conditioned()
    ev = torch.linalg.eigvalsh(A)
    for steps in (20, 60, 150):
        r = lanczos(A, k=3, tol=1e-12, max_steps=steps)
        for pairs in (r.top, r.bottom):
            for theta, res, b in zip(pairs.values, pairs.residuals, pairs.bounds, strict=True):
                assert float(b) <= float(res) + 1e-300
                assert float((ev - theta).abs().min()) <= float(res) * (1 + 1e-9) + 1e-12
        # Rayleigh quotients: the extreme Ritz values bracket the spectrum from inside
        assert r.lambda_min >= float(ev[0]) - 1e-12 and r.lambda_max <= float(ev[-1]) + 1e-12


def test_atol_stops_earlier_than_the_relative_tolerance():
    A = with_spectrum(torch.linspace(-1.0, 1.0, 300), seed=2)
    strict = lanczos(A, k=1, tol=1e-12, max_steps=300)
    loose = lanczos(A, k=1, tol=1e-12, atol=1e-3, max_steps=300)
    assert loose.converged and loose.iterations < strict.iterations
    assert float(loose.bottom.residuals[0]) <= 1e-3 * (1 + 1e-9)
    assert loose.to_dict()["atol"] == 1e-3 and "bounds" in loose.to_dict()["bottom"]
