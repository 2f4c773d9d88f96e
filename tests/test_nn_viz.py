"""Figures for networks: each draws the data it is given (checked on the artists) and writes
PNG/SVG atomically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from descentlab.errors import InvalidParameterError
from descentlab.nn import TrainingMonitor, pca_path, random_directions, slice_1d, slice_2d
from descentlab.nn.density import slq_density
from descentlab.viz import slices as figs

torch.set_num_threads(1)
F64 = torch.float64


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    X = torch.randn(30, 2, dtype=F64)
    y = (X[:, 0] > 0).long()
    return net, nn.CrossEntropyLoss(), X, y


def test_slice_figures_draw_the_losses(setup, tmp_path):
    net, loss_fn, X, y = setup
    d1, d2 = random_directions(net, 2)
    s1 = slice_1d(net, loss_fn, (X, y), d1, torch.linspace(-1, 1, 9), label="random")
    fig = figs.plot_slice_1d(s1, path=tmp_path / "s1.png")
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), s1.losses.numpy())
    assert (tmp_path / "s1.png").read_bytes()[:4] == b"\x89PNG"
    s2 = slice_2d(net, loss_fn, (X, y), d1, d2, [-1, 0, 1], [-1, 0, 1])
    figs.plot_slice_2d(s2, path=tmp_path / "s2.svg")
    assert (tmp_path / "s2.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(InvalidParameterError, match="2-D slice"):
        figs.plot_slice_2d(s1)


def test_density_monitor_pca_and_boundary_figures(setup, tmp_path):
    net, loss_fn, X, y = setup
    A = torch.diag(torch.tensor([-1.0, 0.5, 1.0, 2.0, 3.0], dtype=F64))
    d = slq_density(A, 2, 5)
    fig = figs.plot_spectrum_density(d, path=tmp_path / "density.png")
    assert "negative mass 0.200" in fig.axes[0].get_title()
    mon = TrainingMonitor(net, loss_fn, (X, y), every=5, window=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(12):
        opt.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        mon(loss)
        opt.step()
    fig = figs.plot_monitor(mon, path=tmp_path / "monitor.png")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), mon.losses)
    assert len(fig.axes[2].lines[0].get_xdata()) == len(mon.probes) == 3
    path = [torch.tensor([t, t * t, 0.0], dtype=F64) for t in np.linspace(0, 1, 6)]
    p = pca_path(path)
    fig = figs.plot_pca_path(p, path=tmp_path / "pca.png")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), p.coords[:, 0].numpy())
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    figs.plot_decision_boundary(net, X, y, resolution=20, path=tmp_path / "boundary.png")
    assert net.training and all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    for name in ("density", "monitor", "pca", "boundary"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    with pytest.raises(InvalidParameterError, match="2-D inputs"):
        figs.plot_decision_boundary(net, torch.zeros(3, 3), torch.zeros(3))
