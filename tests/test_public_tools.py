"""descentlab.nn and descentlab.viz show their tools; result objects print short summaries;
the monitor's bands have a legend; plot_interpolation marks its ends on a float32 grid."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch
from torch import nn

import descentlab.nn as dnn
import descentlab.viz as viz

torch.set_num_threads(1)
F64 = torch.float64


def test_dir_of_nn_lists_its_tools() -> None:
    listed = set(dir(dnn))
    for name in ("HessianOperator", "lanczos", "check_point", "slice_2d", "TrainingMonitor"):
        assert name in listed
    assert set(dnn.__all__) <= listed


def test_every_figure_helper_is_reachable_from_viz() -> None:
    """Every public plot_*/animate_*/*_figure function of every viz module, found by walking the
    package (so a new module or helper cannot be forgotten)."""
    import importlib
    import pkgutil

    import descentlab.viz.slices as slices_mod

    helpers = set()
    for mod in pkgutil.iter_modules(viz.__path__):
        m = importlib.import_module(f"descentlab.viz.{mod.name}")
        helpers |= {
            n
            for n, f in inspect.getmembers(m, inspect.isfunction)
            if f.__module__ == m.__name__
            and (n.startswith(("plot_", "animate_")) or n.endswith("_figure"))
        }
    helpers.discard("plot_box")  # a private helper's name in _common (the plotting box)
    assert {"plot_monitor", "plot_contour", "animate_race"} <= helpers
    for name in helpers:
        assert name in dir(viz), name
        assert callable(getattr(viz, name)), name
    # the defect: viz.plot_monitor raised AttributeError
    assert viz.plot_monitor is slices_mod.plot_monitor


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    X = torch.randn(40, 2, dtype=F64)
    y = (X[:, 0] * X[:, 1] > 0).long()
    return net, nn.CrossEntropyLoss(), (X, y)


def test_result_objects_print_short_summaries(small) -> None:
    net, loss_fn, data = small
    H = dnn.HessianOperator(net, loss_fn, data)
    res = dnn.lanczos(H, k=2, which="both")
    text = repr(res)
    assert len(text) < 300 and text.startswith("LanczosResult(")
    assert f"lambda_max={res.lambda_max:.4g}" in text and f"lambda_min={res.lambda_min:.4g}" in text
    assert len(repr(res.top)) < 300
    d1, d2 = dnn.random_directions(net, 2, seed=0)
    s = dnn.slice_2d(
        net, loss_fn, data, d1, d2, torch.linspace(-1, 1, 21), torch.linspace(-1, 1, 21)
    )
    text = repr(s)
    assert len(text) < 300 and "grid='21x21'" in text
    assert f"loss_min={float(s.losses.min()):.4g}" in text
    dens = dnn.slq_density(H, n_vectors=2, n_iter=10, seed=0)
    assert len(repr(dens)) < 300 and f"lambda_max={dens.lambda_max:.4g}" in repr(dens)
    e = dnn.eigen_directions(net, loss_fn, data, k=1)
    assert repr(e).startswith("EigenDirections(") and len(repr(e)) < 200
    task = dnn.get_task("xor")
    assert repr(task).startswith("Task(name='xor'") and len(repr(task)) < 200
    mon = dnn.TrainingMonitor(net, loss_fn, data, every=5, window=8)
    assert len(repr(mon)) < 300
    path = [torch.tensor([t, t * t, 0.0], dtype=F64) for t in np.linspace(0, 1, 6)]
    assert repr(dnn.pca_path(path)).startswith("PCAPath(points=6, n=3")


def test_monitor_bands_have_a_legend() -> None:
    record = {
        "steps": list(range(40)),
        "losses": [1.0 / (1 + k) for k in range(40)],
        "grad_norms": [1.0] * 40,
        "probes": [],
        "episodes": [
            {"kind": "saddle", "start": 5, "end": 12},
            {"kind": "plateau", "start": 20, "end": None},
        ],
    }
    fig = viz.plot_monitor(record)
    assert len(fig.legends) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["saddle episode", "plateau / stall"]
    # no legend when nothing is shaded
    fig = viz.plot_monitor({**record, "episodes": []})
    assert fig.legends == []


def test_interpolation_marks_the_start_on_a_float32_grid(small) -> None:
    net, loss_fn, (X, y) = small
    net32 = copy.deepcopy(net).float()
    end = copy.deepcopy(net32)
    with torch.no_grad():
        for p in end.parameters():
            p.add_(0.3)
    res = dnn.interpolate(net32, loss_fn, (X.float(), y), net32, end)
    a = res.alphas.numpy()
    assert np.abs(a).min() > 1e-9  # the float32 grid holds 0 as 7.5e-9 (the old test missed it)
    fig = viz.plot_interpolation(res)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "start" in labels and "end" in labels
    offsets = [c.get_offsets()[0] for c in fig.axes[0].collections]
    xs = sorted(float(o[0]) for o in offsets)
    assert xs == pytest.approx([0.0, 1.0], abs=1e-8)
