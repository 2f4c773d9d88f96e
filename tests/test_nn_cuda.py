"""The nn tools on a CUDA device give the CPU float64 numbers (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from descentlab.nn import GGNOperator, HessianOperator, curvature_split, lanczos

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device on this machine (CPU-only torch or no GPU)",
)
F64 = torch.float64


def problem(device):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 4, generator=g, dtype=F64), torch.randint(0, 3, (64,), generator=g)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    return net.to(device), X.to(device), y.to(device)


@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_spectrum_and_split_on_cuda_match_cpu(dtype):
    net, X, y = problem("cpu")
    ref = lanczos(HessianOperator(net, nn.CrossEntropyLoss(), (X, y)), k=2, tol=1e-10)
    gnet, gX, gy = problem("cuda")
    H = HessianOperator(gnet.to(dtype), nn.CrossEntropyLoss(), (gX.to(dtype), gy))
    r = lanczos(H, k=2, tol=1e-10 if dtype == F64 else 1e-5)
    assert r.top.vectors.device.type == "cuda" and r.top.vectors.dtype == F64
    rel = 1e-9 if dtype == F64 else 1e-4
    assert r.lambda_max == pytest.approx(ref.lambda_max, rel=rel)
    assert r.lambda_min == pytest.approx(ref.lambda_min, abs=rel * ref.lambda_max)
    v = torch.randn(H.n, dtype=F64)
    G_cpu = GGNOperator(net, nn.CrossEntropyLoss(), (X, y)) @ v
    G_gpu = GGNOperator(gnet.double(), nn.CrossEntropyLoss(), (gX, gy)) @ v.cuda()
    assert torch.allclose(G_gpu.cpu(), G_cpu, rtol=1e-10, atol=1e-12)
    s_cpu = curvature_split(net, nn.CrossEntropyLoss(), (X, y))
    s_gpu = curvature_split(gnet.double(), nn.CrossEntropyLoss(), (gX, gy))
    assert s_gpu.residual.lambda_min == pytest.approx(s_cpu.residual.lambda_min, abs=1e-9)
