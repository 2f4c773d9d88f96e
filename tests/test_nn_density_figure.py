"""The density figure agrees with the numbers: negative mass from the Ritz weights, no smoothed
mass below the smallest Ritz value, lambda_min and the verdict stated (read back from the
artists)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.collections import PolyCollection

from descentlab.nn import HessianOperator, check_point
from descentlab.nn.density import slq_density
from descentlab.viz import slices as figs

sys.path.insert(0, str(Path(__file__).parent))
from test_nn_check import WD, trained_mlp

torch.set_num_threads(1)
F64 = torch.float64


def with_spectrum(lam, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(lam.numel(), lam.numel(), generator=g, dtype=F64))
    return Q @ torch.diag(lam) @ Q.T


def shaded(fig):
    """{label: area} of the filled regions, by the shoelace formula on their vertices."""
    out = {}
    for coll in fig.axes[0].collections:
        if isinstance(coll, PolyCollection) and coll.get_label():
            area = 0.0
            for path in coll.get_paths():
                x, y = path.vertices[:, 0], path.vertices[:, 1]
                area += 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
            out[coll.get_label()] = area
    return out


def test_minimum_figure_shows_no_negative_mass_and_states_the_verdict(tmp_path):
    net, loss_fn, X, y = trained_mlp()
    c = check_point(net, loss_fn, (X, y), weight_decay=WD)
    assert c.verdict == "minimum" and c.lambda_min > 0
    H = HessianOperator(net, loss_fn, (X, y), weight_decay=WD)
    d = slq_density(H, n_vectors=4, n_iter=H.n, seed=1)
    # what a Gaussian smoothing of 1% of the range puts below zero: an artefact
    grid = torch.linspace(d.lambda_min - 1, d.lambda_max + 1, 20001, dtype=F64)
    phi = d.density(grid)
    artefact = float(torch.trapezoid(phi[grid < 0], grid[grid < 0]))
    assert artefact > 0.05
    fig = figs.plot_spectrum_density(d, check=c, path=tmp_path / "spectrum.png")
    title = fig.axes[0].get_title()
    assert "negative mass 0.000" in title and "verdict: minimum" in title
    assert f"λmin = {c.lambda_min:.3g}" in title
    areas = shaded(fig)
    assert "negative curvature" not in areas
    assert areas["positive or flat"] == pytest.approx(1.0, abs=2e-3)
    curve = fig.axes[0].lines[0]
    assert curve.get_xdata().min() >= d.lambda_min >= c.lambda_min - 1e-9
    assert (tmp_path / "spectrum.png").read_bytes()[:4] == b"\x89PNG"


def test_shaded_negative_area_is_the_negative_ritz_weight():
    lam = torch.cat([torch.tensor([-2.0, -0.5]), torch.linspace(0.01, 4.0, 38)]).to(F64)
    d = slq_density(with_spectrum(lam, 2), n_vectors=3, n_iter=12, seed=0)
    nodes, weights = d.flat()
    tol = 1e-3 * float(nodes.abs().max())
    mass = float(weights[nodes < -tol].sum())
    assert 0.01 < mass < 0.2
    fig = figs.plot_spectrum_density(d, log=False)
    areas = shaded(fig)
    assert areas["negative curvature"] == pytest.approx(mass, abs=2e-3)
    assert areas["positive or flat"] == pytest.approx(1 - mass, abs=2e-3)
    title = fig.axes[0].get_title()
    assert f"negative mass {mass:.3f}" in title and "verdict: not checked" in title
    assert f"λmin ≤ {d.lambda_min:.3g}" in title
    assert fig.axes[0].lines[0].get_xdata().min() >= d.lambda_min
