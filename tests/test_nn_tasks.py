"""Tasks generated in code (exact geometry at zero noise) and the model builders."""

from __future__ import annotations

import math

import pytest
import torch

from descentlab.errors import DescentlabError, InvalidParameterError, UnknownNameError
from descentlab.nn import tasks
from descentlab.nn.tasks import (
    Task,
    build_model,
    digits_available,
    get_task,
    load_digits,
    task_names,
)

torch.set_num_threads(1)


def test_noise_free_geometry_and_labels():
    t = get_task("xor", n=40, noise=0.0)
    assert torch.equal(t.y, (t.X[:, 0] * t.X[:, 1] < 0).long()) and t.X.abs().eq(1).all()
    m = get_task("moons", n=50, noise=0.0)
    up, lo = m.X[m.y == 0], m.X[m.y == 1]
    torch.testing.assert_close(up.norm(dim=1), torch.ones(len(up), dtype=torch.float64))
    shifted = lo - torch.tensor([1.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(shifted.norm(dim=1), torch.ones(len(lo), dtype=torch.float64))
    assert (up[:, 1] >= -1e-12).all() and (shifted[:, 1] <= 1e-12).all()
    s = get_task("spirals", n=60, noise=0.0, arms=3)
    r = s.X.norm(dim=1) / 2  # r = t, angle = 3*pi*t + 2*pi*k/arms
    ang = torch.atan2(s.X[:, 1], s.X[:, 0])
    want = 3 * math.pi * r + 2 * math.pi * s.y.double() / 3
    torch.testing.assert_close(
        torch.remainder(ang - want + math.pi, 2 * math.pi) - math.pi,
        torch.zeros(60, dtype=torch.float64),
        atol=1e-9,
        rtol=0,
    )
    b = get_task("blobs", n=30, centers=3, std=0.0)
    for k in range(3):
        c = 3 * torch.tensor(
            [math.cos(2 * math.pi * k / 3), math.sin(2 * math.pi * k / 3)], dtype=torch.float64
        )
        torch.testing.assert_close(b.X[b.y == k], c.expand(10, 2))
    # deterministic from the seed, different across seeds
    assert torch.equal(get_task("moons", seed=3).X, get_task("moons", seed=3).X)
    assert not torch.equal(get_task("moons", seed=3).X, get_task("moons", seed=4).X)
    assert {"xor", "moons", "spirals", "blobs"} <= set(task_names())


def test_task_errors():
    with pytest.raises(UnknownNameError, match="valid: blobs, moons, spirals, xor"):
        get_task("mnist")
    with pytest.raises(InvalidParameterError, match="no option 'width'"):
        get_task("moons", width=3)
    with pytest.raises(InvalidParameterError, match="n must be an integer >= 4"):
        get_task("xor", n=2)


@pytest.mark.skipif(not digits_available(), reason="scikit-learn not installed (optional)")
def test_digits_when_scikit_learn_is_installed():
    d = load_digits(100)
    assert d.X.shape == (100, 1, 8, 8) and d.n_classes == 10 and 0 <= d.X.min() <= d.X.max() <= 1


@pytest.mark.skipif(digits_available(), reason="scikit-learn installed")
def test_digits_without_scikit_learn_is_a_clear_error():
    with pytest.raises(DescentlabError, match="needs scikit-learn"):
        load_digits()


def test_models_have_the_stated_shapes():
    t = get_task("spirals", n=20, arms=3)
    net = build_model("mlp", t, hidden=(5, 6), act="relu")
    assert net(t.X).shape == (20, 3)
    assert sum(p.numel() for p in net.parameters()) == (2 * 5 + 5) + (5 * 6 + 6) + (6 * 3 + 3)
    assert all(p.dtype == torch.float64 for p in net.parameters())
    a, b = build_model("mlp", t, seed=1), build_model("mlp", t, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    state = torch.random.get_rng_state()
    build_model("linear", t, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    img = Task("img", torch.rand(7, 1, 6, 6, dtype=torch.float64), torch.arange(7) % 4, 4, "images")
    cnn = build_model("cnn", img, channels=(3, 2), kernel=3, batchnorm=True)
    assert cnn(img.X).shape == (7, 4)
    assert build_model("mlp", img, hidden=4)(img.X).shape == (7, 4)  # flattens images
    with pytest.raises(InvalidParameterError, match="a cnn needs image inputs"):
        build_model("cnn", t)
    with pytest.raises(UnknownNameError, match="valid: cnn, linear, mlp"):
        build_model("resnet", t)
    with pytest.raises(UnknownNameError, match="valid: gelu, relu, sigmoid, softplus, tanh"):
        build_model("mlp", t, act="swish")
    with pytest.raises(InvalidParameterError, match="hidden must be positive integers"):
        build_model("mlp", t, hidden=0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: tasks.mlp(2, 3, hidden=(8, 5)),
        lambda: tasks.mlp(64, 10, hidden=7, batchnorm=False),
        lambda: tasks.cnn((1, 8, 8), 10, channels=(4, 6), kernel=3),
        lambda: tasks.cnn((3, 5, 7), 2, channels=2, kernel=5),
    ],
)
def test_size_limit_counts_exactly_the_parameters_it_will_build(build, monkeypatch):
    n = sum(p.numel() for p in build().parameters())
    monkeypatch.setattr(tasks, "MAX_PARAMS", n)
    build()  # exactly at the limit: allowed
    monkeypatch.setattr(tasks, "MAX_PARAMS", n - 1)
    with pytest.raises(InvalidParameterError, match=f"would have {n:,} parameters"):
        build()


def test_absurd_sizes_are_refused_before_allocating():
    with pytest.raises(InvalidParameterError, match="n must be at most 1,000,000"):
        tasks.get_task("moons", n=1_000_000_000)
    with pytest.raises(InvalidParameterError, match="centers must be an integer in"):
        tasks.get_task("blobs", centers=10**9)
    with pytest.raises(InvalidParameterError, match="arms must be an integer in"):
        tasks.get_task("spirals", arms=1)
    with pytest.raises(InvalidParameterError, match="500,000,002 parameters"):
        tasks.build_model("mlp", tasks.make_moons(10), hidden=100_000_000)


def test_train_refuses_absurd_step_counts_at_once():
    from descentlab.nn.training import MAX_STEPS, train

    net = build_model("linear", get_task("xor", n=8))
    with pytest.raises(InvalidParameterError, match=f"steps must be at most {MAX_STEPS:,}"):
        train(net, get_task("xor", n=8), lambda p: torch.optim.SGD(p, lr=0.1), 10**12)
