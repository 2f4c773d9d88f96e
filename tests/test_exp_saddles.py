"""saddles-dominate: census counts and fractions, autoencoder critical values and indices."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from descentlab.errors import InvalidParameterError
from descentlab.experiments import run_experiment
from descentlab.experiments.autoencoder import (
    enumerate_critical_points,
    make_autoencoder,
    origin_point,
    theory_index,
)
from descentlab.experiments.saddles_dominate import (
    TinyNet,
    bootstrap_corr,
    census_counts,
    find_critical_points,
    generated_census,
    mean_value_by_index,
    saddle_fraction,
)
from descentlab.landscapes import get_landscape


@pytest.mark.parametrize("d", range(1, 7))
def test_styblinski_tang_census_exact(d: int) -> None:
    counts = census_counts(d, 2, 1)
    # by hand: index k <-> k coordinates at the middle root, C(d,k) choices, 2 options elsewhere
    assert counts == [math.comb(d, k) * 2 ** (d - k) for k in range(d + 1)]
    assert sum(counts) == 3**d and counts[0] == 2**d and counts[d] == 1
    frac = saddle_fraction(d, 2, 1)
    assert frac == 1 - Fraction(2**d + 1, 3**d)
    # against the catalogue's own generated set (kinds and indices)
    L = get_landscape("styblinski_tang", dim=d)
    by_index = [0] * (d + 1)
    for cp in L.critical_points:
        by_index[cp.index] += 1
    assert by_index == counts
    n_saddle = sum(cp.kind == "saddle" for cp in L.critical_points)
    assert Fraction(n_saddle, len(L.critical_points)) == frac
    gc, gm = generated_census("styblinski_tang", d)
    assert gc == counts
    np.testing.assert_allclose(gm, mean_value_by_index("styblinski_tang", d), atol=1e-9)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_rastrigin_census_exact(d: int) -> None:
    counts = census_counts(d, 11, 10)
    gc, gm = generated_census("rastrigin", d)
    assert gc == counts and sum(counts) == 21**d
    assert saddle_fraction(d, 11, 10) == 1 - Fraction(11**d + 10**d, 21**d)
    np.testing.assert_allclose(gm, mean_value_by_index("rastrigin", d), atol=1e-9)


def test_saddle_fraction_grows_to_one() -> None:
    fr = [saddle_fraction(d, 2, 1) for d in range(1, 30)]
    assert fr[0] == 0 and all(b > a for a, b in itertools.pairwise(fr))
    assert float(fr[-1]) > 0.999


@pytest.mark.parametrize(("lam", "p"), [((5.0, 4.0, 3.0, 2.0, 1.0), 2), ((3.0, 2.5, 1.0, 0.5), 1)])
def test_autoencoder_critical_points_match_theory(lam: tuple[float, ...], p: int) -> None:
    ae = make_autoencoder(lam, p=p)
    cps = enumerate_critical_points(ae)
    assert len(cps) == math.comb(len(lam), p)
    for c in cps:
        left_out = sum(v for j, v in enumerate(lam) if j not in c.subset)
        assert c.loss == pytest.approx(left_out, abs=1e-10)
        assert c.grad_norm < 1e-10
        # index by hand: pairs (kept i, left-out j) with lam_j > lam_i
        by_hand = sum(
            1 for i in c.subset for j in range(len(lam)) if j not in c.subset and lam[j] > lam[i]
        )
        assert c.index == c.theory_index == by_hand
        assert c.zero_eigenvalues == p * p
        assert c.max_eigenvalue_error < 1e-10
    minima = [c for c in cps if c.index == 0]
    assert [m.subset for m in minima] == [tuple(range(p))]


def test_autoencoder_index_invariant_under_gl_p() -> None:
    ae = make_autoencoder((4.0, 3.0, 2.0, 1.0), p=2)
    C = torch.tensor([[2.0, 0.7], [-0.4, 0.5]], dtype=torch.float64)
    a, b = enumerate_critical_points(ae), enumerate_critical_points(ae, C)
    assert [c.index for c in a] == [c.index for c in b]
    assert all(c.zero_eigenvalues == 4 for c in b)
    assert all(abs(x.loss - y.loss) < 1e-10 for x, y in zip(a, b, strict=True))


def test_autoencoder_origin() -> None:
    ae = make_autoencoder((3.0, 2.0, 1.0), p=1)
    o = origin_point(ae)
    assert o["index"] == 3 and o["zero_eigenvalues"] == 0
    assert o["loss"] == pytest.approx(6.0, abs=1e-12)
    assert o["max_eigenvalue_error"] < 1e-12


def test_autoencoder_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="strictly decreasing"):
        make_autoencoder((1.0, 2.0))
    with pytest.raises(InvalidParameterError, match="p must be"):
        make_autoencoder((2.0, 1.0), p=2)
    assert theory_index(torch.tensor([3.0, 2.0, 1.0]), (1, 2)) == 2


def test_critical_point_search_converges_to_true_critical_points() -> None:
    net = TinyNet(n=20, width=2, din=1)
    g = torch.Generator().manual_seed(0)
    starts = torch.randn(6, net.n_params, generator=g, dtype=torch.float64)
    pts, gn = find_critical_points(net, starts, 150)
    ok = gn < 1e-8
    assert ok.any()
    # the reported gradient norm is the true one (recomputed independently with torch.func)
    for p, n in zip(pts[ok], gn[ok], strict=True):
        assert float(torch.func.grad(net.loss)(p).norm()) == pytest.approx(float(n), abs=1e-12)


def test_bootstrap_corr() -> None:
    a = np.arange(10.0)
    r, lo, hi = bootstrap_corr(a, 2 * a + 1)
    assert r == pytest.approx(1.0) and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)


def test_quick_run(tmp_path) -> None:
    r = run_experiment("saddles-dominate", quick=True, out=tmp_path)
    assert r.verdict in ("supported", "qualified")
    n = r.numbers
    assert n["census"]["all_checks_passed"] and n["autoencoder"]["matches_theory"]
    assert n["autoencoder"]["minima"] == 1 and n["autoencoder"]["saddles"] == 9
    st = n["census"]["styblinski_tang"]
    for row in st:
        assert Fraction(row["saddle_fraction_exact"]) == saddle_fraction(row["dim"], 2, 1)
    crit = n["index_vs_loss"]
    assert 0 <= crit["converged"] <= crit["searches"]
    for path in r.figures.values():
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    d = r.to_dict()
    assert d["name"] == "saddles-dominate" and d["rests_on"]
