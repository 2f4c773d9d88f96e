"""Lanczos internals: true residuals from the kept products (no extra product), float64
recurrences for a float32 model, growing storage; each against a direct computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from descentlab.nn import HessianOperator, lanczos
from descentlab.nn.spectrum import LanczosProcess

torch.set_num_threads(1)
F64 = torch.float64


def matrix(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    lam = torch.cat([torch.tensor([-3.0, -2.5]), torch.linspace(-1, 1, n - 3), torch.tensor([5.0])])
    return Q @ torch.diag(lam.to(F64)) @ Q.T


@pytest.mark.parametrize("which", ["top", "bottom", "both"])
def test_reported_residuals_are_true_residuals_without_extra_products(which):
    A = matrix()
    r = lanczos(A, k=2, which=which, tol=1e-8)
    assert r.n_matvec == r.iterations  # residuals came from the products already taken
    for pairs in (r.top, r.bottom):
        if pairs is None:
            continue
        for c in range(pairs.values.numel()):
            y = pairs.vectors[:, c]
            direct = float(torch.linalg.vector_norm(A @ y - pairs.values[c] * y))
            assert float(pairs.residuals[c]) == pytest.approx(direct, rel=1e-6, abs=1e-13)
            assert float(torch.linalg.vector_norm(y)) == pytest.approx(1.0, abs=1e-12)


def test_dropping_products_over_budget_gives_the_same_answer(monkeypatch):
    A = matrix()
    kept = lanczos(A, k=1, tol=1e-8)
    monkeypatch.setattr(LanczosProcess, "products_budget", 0)
    dropped = lanczos(A, k=1, tol=1e-8)
    assert dropped.n_matvec == dropped.iterations + 2  # one true product per reported pair
    assert dropped.iterations == kept.iterations
    assert dropped.lambda_max == pytest.approx(kept.lambda_max, rel=1e-14)
    assert float(dropped.top.residuals[0]) == pytest.approx(
        float(kept.top.residuals[0]), rel=1e-5, abs=1e-13
    )


def test_storage_grows_past_its_first_block():
    A = matrix(n=200, seed=1)
    r = lanczos(A, k=1, tol=1e-12, max_steps=200)
    assert r.iterations > 16  # past the first 16-row block
    ev = torch.linalg.eigvalsh(A)
    assert r.lambda_max == pytest.approx(float(ev[-1]), abs=1e-10)
    assert r.lambda_min == pytest.approx(float(ev[0]), abs=1e-10)


def test_float32_model_runs_the_recurrence_in_float64():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(50, 3, generator=g), torch.randint(0, 2, (50,), generator=g)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    H32 = HessianOperator(net, nn.CrossEntropyLoss(), (X, y))
    r = lanczos(H32, k=1, tol=1e-5)
    assert r.top.vectors.dtype == F64 and H32.compute_dtype == torch.float32
    ev = torch.linalg.eigvalsh(
        HessianOperator(net.double(), nn.CrossEntropyLoss(), (X.double(), y)).dense()
    )
    assert r.lambda_max == pytest.approx(float(ev[-1]), rel=1e-5)
    assert r.lambda_min == pytest.approx(float(ev[0]), abs=1e-5 * float(ev[-1]))
    assert r.tol >= 50 * torch.finfo(torch.float32).eps  # the floor of float32 products
