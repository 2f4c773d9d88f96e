"""Trace intervals: the t quantile against closed forms (and scipy when present), and coverage
over many seeds at the stated 95%."""

from __future__ import annotations

import math

import pytest
import torch

from descentlab.errors import InvalidParameterError
from descentlab.nn import hutchinson, hutchpp
from descentlab.nn.trace import t_cdf_central, t_quantile

torch.set_num_threads(1)
F64 = torch.float64


def with_spectrum(lam, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(lam.numel(), lam.numel(), generator=g, dtype=F64))
    return Q @ torch.diag(lam) @ Q.T


@pytest.mark.parametrize("c", [0.5, 0.9, 0.95, 0.99])
def test_t_quantile_closed_forms(c):
    # df = 1 (Cauchy): tan(pi c / 2); df = 2: c sqrt(2 / (1 - c^2))
    assert t_quantile(c, 1) == pytest.approx(math.tan(math.pi * c / 2), rel=1e-10)
    assert t_quantile(c, 2) == pytest.approx(c * math.sqrt(2 / (1 - c * c)), rel=1e-10)
    # large df: the normal quantile
    z = {0.5: 0.6744897501960817, 0.9: 1.6448536269514722, 0.95: 1.959963984540054}
    if c in z:
        assert t_quantile(c, 100000) == pytest.approx(z[c], rel=1e-4)
    assert t_cdf_central(t_quantile(c, 9), 9) == pytest.approx(c, abs=1e-11)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (3, 4, 9, 10, 29, 299):
        for c in (0.8, 0.95, 0.99):
            assert t_quantile(c, df) == pytest.approx(stats.t.ppf(0.5 + c / 2, df), rel=1e-9)
    with pytest.raises(InvalidParameterError, match="df must be a positive integer"):
        t_quantile(0.95, 0)


def test_intervals_reach_their_stated_coverage_over_many_seeds():
    A = with_spectrum(torch.linspace(-2, 6, 30, dtype=F64), seed=3)
    true = float(torch.trace(A))
    seeds = 2000  # binomial sd of a 95% coverage: 0.5%
    for m in (5, 10):
        est = [hutchinson(A, m, seed=s) for s in range(seeds)]
        t_cov = sum(e.ci[0] <= true <= e.ci[1] for e in est) / seeds
        z_cov = sum(abs(e.value - true) <= 1.959964 * e.stderr for e in est) / seeds
        assert 0.935 <= t_cov <= 0.965, (m, t_cov)
        assert z_cov < 0.93  # the former normal interval under-covers with few samples
    est = [hutchpp(A, 15, seed=s) for s in range(1000)]  # 5 residual samples
    cov = sum(e.ci[0] <= true <= e.ci[1] for e in est) / 1000
    assert 0.93 <= cov <= 0.97
