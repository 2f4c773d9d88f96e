"""Learning-rate range test: closed forms on a quadratic, torch step by step, no mutation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from descentlab.cli import main
from descentlab.errors import DescentlabError, DimensionError, InvalidParameterError
from descentlab.landscapes import Landscape
from descentlab.optim import (
    LRFinderBatchResult,
    LRFinderResult,
    lr_find,
    lr_find_landscape,
    lr_sequence,
    smooth_losses,
    suggest_lr,
)

A = 4.0  # curvature of the test quadratic f = A/2 x^2: GD diverges for lr > 2/A = 0.5


def quadratic(dim: int = 1) -> Landscape:
    return Landscape(lambda P: 0.5 * A * (P**2).sum(-1), dim=dim, name="quad", domain=(-2, 2))


def closed_form_losses(x0: float, lrs: np.ndarray) -> np.ndarray:
    """Loss after step k of GD on A/2 x^2: x_{k+1} = (1 - lr_k A) x_k."""
    factors = np.cumprod(1.0 - lrs * A)
    return 0.5 * A * (factors * x0) ** 2


def himmelblau_like() -> Landscape:
    return Landscape(
        lambda P: (P[:, 0] ** 2 + P[:, 1] - 11) ** 2 + (P[:, 0] + P[:, 1] ** 2 - 7) ** 2,
        dim=2,
        name="himmelblau_like",
        domain=(-5, 5),
        global_min_value=0.0,
    )


# ---------------------------------------------------------------------------- pure pieces
def test_exponential_sequence_is_the_closed_form():
    start, end, n = 1e-5, 10.0, 37
    got = lr_sequence(start, end, n, "exp")
    want = np.array([start * (end / start) ** (k / (n - 1)) for k in range(n)])
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert got[0] == start
    assert got[-1] == pytest.approx(end, rel=1e-14)
    ratios = got[1:] / got[:-1]
    np.testing.assert_allclose(ratios, (end / start) ** (1 / (n - 1)), rtol=1e-12)


def test_linear_sequence_is_the_closed_form():
    got = lr_sequence(0.5, 2.5, 5, "linear")
    np.testing.assert_allclose(got, [0.5, 1.0, 1.5, 2.0, 2.5], rtol=0, atol=1e-15)


def test_smoothing_is_the_bias_corrected_ema():
    rng = np.random.default_rng(0)
    L = rng.uniform(0.5, 2.0, size=30)
    for beta in (0.0, 0.5, 0.98):
        got = smooth_losses(L, beta)
        # closed form of the recursion: weights (1 - beta) beta^(k-j), normalised by 1 - beta^(k+1)
        want = np.array(
            [
                sum((1 - beta) * beta ** (k - j) * L[j] for j in range(k + 1))
                / (1 - beta ** (k + 1))
                for k in range(L.size)
            ]
        )
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(smooth_losses(L, 0.0), L)
    # columns are smoothed independently
    M = rng.uniform(size=(10, 3))
    np.testing.assert_array_equal(smooth_losses(M, 0.9)[:, 1], smooth_losses(M[:, 1], 0.9))


def test_suggest_lr_steepest_and_minimum():
    lrs = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
    s = np.array([1.0, 0.95, 0.5, 0.3, 4.0])
    steep, i_min = suggest_lr(lrs, s)
    slope = np.gradient(s, np.log(lrs))
    assert steep == int(np.argmin(slope)) == 2
    assert i_min == 3
    # a curve that never falls has no steepest suggestion; non-finite tail is ignored
    assert suggest_lr(lrs, np.array([1.0, 2.0, 3.0, 4.0, np.nan])) == (None, 0)
    assert suggest_lr(lrs[:1], np.array([1.0])) == (None, 0)
    # the window leaves out both ends (indices still refer to the full curve)
    s2 = np.array([3.0, 1.0, 0.9, 0.5, 0.1, 0.05, 5.0])
    lr2 = np.logspace(-3, 3, 7)
    assert suggest_lr(lr2, s2) == (0, 5)  # the first point falls faster than anything after
    i, j = suggest_lr(lr2, s2, skip_start=1, skip_end=1)
    w = np.gradient(s2[1:6], np.log(lr2[1:6]))
    assert (i, j) == (1 + int(np.argmin(w)), 5)
    # a fall after a blow-up is not a suggestion: the steepest point is searched up to the min
    s3 = np.array([1.0, 0.8, 0.3, 0.2, 6.0, 1.0])
    lr3 = np.logspace(-3, 2, 6)
    slope = np.gradient(s3, np.log(lr3))
    assert int(np.argmin(slope)) == 5
    assert suggest_lr(lr3, s3) == (int(np.argmin(slope[:4])), 3)
    # a window of fewer than two points falls back to the whole finite curve
    assert suggest_lr(lr2, s2, skip_start=4, skip_end=4) == suggest_lr(lr2, s2)
    with pytest.raises(InvalidParameterError, match="skip_end"):
        suggest_lr(lr2, s2, skip_end=-1)


# ---------------------------------------------------------------------------- the quadratic
def test_recorded_curve_is_the_closed_form_and_divergence_starts_at_two_over_a():
    L = quadratic()
    x0 = 1.5
    r = lr_find_landscape(
        L, [[x0]], "gd", start_lr=1e-3, end_lr=10, num_iter=60, beta=0.0, diverge_th=None
    ).rows[0]
    assert r.stop_reason == "completed" and r.stop_step is None
    np.testing.assert_array_equal(r.lrs, lr_sequence(1e-3, 10, 60))
    want = closed_form_losses(x0, r.lrs)
    np.testing.assert_allclose(r.losses, want, rtol=1e-12, atol=0)
    assert r.initial_loss == 0.5 * A * x0**2
    # the loss rises at step k exactly when lr_k > 2/A (|1 - lr_k A| > 1)
    prev = np.concatenate([[r.initial_loss], r.losses[:-1]])
    np.testing.assert_array_equal(r.losses > prev, r.lrs > 2 / A)
    np.testing.assert_array_equal(r.smoothed, r.losses)  # beta = 0


def test_stop_rule_matches_the_offline_smoothed_curve():
    L = quadratic()
    x0 = 1.0
    beta, th = 0.9, 5.0
    r = lr_find_landscape(
        L, [[x0]], "gd", start_lr=1e-3, end_lr=10, num_iter=80, beta=beta, diverge_th=th
    ).rows[0]
    lrs = lr_sequence(1e-3, 10, 80)
    s = smooth_losses(closed_form_losses(x0, lrs), beta)
    best = np.minimum.accumulate(s)
    k_stop = int(np.argmax(s > th * best))
    assert s[k_stop] > th * best[k_stop]
    assert r.stop_reason == "diverged" and r.stop_step == k_stop
    assert r.lrs.size == k_stop + 1
    assert r.lrs[-1] > 2 / A  # it only stops once the rate is past the stability limit
    np.testing.assert_allclose(r.smoothed, s[: k_stop + 1], rtol=1e-12)
    np.testing.assert_allclose(r.smoothed, smooth_losses(r.losses, beta), rtol=0, atol=0)


def test_suggestions_on_the_quadratic_lie_below_two_over_a():
    L = quadratic()
    for opt, th in (("gd", 5.0), ("gd", 4.0), (("momentum", {"momentum": 0.5}), 5.0)):
        r = lr_find_landscape(L, [[1.0], [-0.3]], opt, start_lr=1e-4, end_lr=10, diverge_th=th)
        for row in r.rows:
            assert row.stop_reason == "diverged"
            assert row.suggested_lr is not None and 0 < row.suggested_lr < 2 / A
            assert row.min_lr_over_10 is not None and row.min_lr_over_10 < 2 / A
            assert row.min_lr_over_10 == pytest.approx(row.min_loss_lr / 10, rel=1e-15)
            i, j = suggest_lr(row.lrs, row.smoothed, row.skip_start, row.skip_end)
            assert (row.skip_start, row.skip_end) == (10, 5)  # num_iter // 10 and 5 (fastai)
            assert row.suggested_lr == row.lrs[i] and row.min_loss_lr == row.lrs[j]
        assert r.median_suggested_lr == pytest.approx(
            float(np.median([row.suggested_lr for row in r.rows]))
        )


def test_loss_floor_is_the_known_global_minimum():
    shifted = Landscape(
        lambda P: 0.5 * A * (P**2).sum(-1) - 3.0, dim=1, domain=(-2, 2), global_min_value=-3.0
    )
    plain = lr_find_landscape(quadratic(), [[1.0]], "gd", num_iter=80).rows[0]
    moved = lr_find_landscape(shifted, [[1.0]], "gd", num_iter=80).rows[0]
    assert moved.loss_floor == -3.0
    assert moved.stop_step == plain.stop_step  # the divergence rule measures above the floor
    np.testing.assert_allclose(moved.losses, plain.losses - 3.0, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- batched lab
@pytest.mark.parametrize(
    "opt, mixed",
    [("gd", True), (("momentum", {"momentum": 0.9}), True), ("adam", False), ("newton", False)],
)
def test_batched_rows_equal_separate_single_row_runs(opt, mixed):
    L = himmelblau_like()
    starts = np.array([[0.0, 0.0], [1.0, 1.0], [-3.0, 3.0], [4.5, -4.5], [3.0, 2.0]])
    batch = lr_find_landscape(L, starts, opt, start_lr=1e-5, end_lr=1.0, num_iter=60)
    assert isinstance(batch, LRFinderBatchResult) and len(batch) == len(starts)
    stops = set()
    for i, row in enumerate(batch.rows):
        alone = lr_find_landscape(L, starts[i], opt, start_lr=1e-5, end_lr=1.0, num_iter=60)
        one = alone.rows[0]
        np.testing.assert_array_equal(row.losses, one.losses)
        np.testing.assert_array_equal(row.smoothed, one.smoothed)
        assert (row.stop_step, row.stop_reason, row.suggested_lr, row.min_lr_over_10) == (
            one.stop_step,
            one.stop_reason,
            one.suggested_lr,
            one.min_lr_over_10,
        )
        stops.add(row.stop_step)
    if mixed:  # rows stopped at different steps (one never): freezing left the others alone
        assert len(stops) > 1 and None in stops
    grid = batch.losses()
    assert grid.shape == (60, len(starts))


def test_rows_apart_for_a_coupling_optimizer():
    L = himmelblau_like()
    starts = np.array([[1.0, 1.0], [-2.0, 2.0]])
    batch = lr_find_landscape(L, starts, "lbfgs", start_lr=1e-4, end_lr=1.0, num_iter=20)
    for i, row in enumerate(batch.rows):
        one = lr_find_landscape(L, starts[i], "lbfgs", start_lr=1e-4, end_lr=1.0, num_iter=20)
        np.testing.assert_array_equal(row.losses, one.rows[0].losses)


def test_lab_leaves_the_global_random_state_alone():
    before = torch.get_rng_state()
    lr_find_landscape(himmelblau_like(), [[1.0, 1.0]], "noisy_gd", num_iter=20)
    assert torch.equal(before, torch.get_rng_state())


# ---------------------------------------------------------------------------- nn front
def _regression(n: int = 24):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    return net, X, y


def test_nn_curve_matches_torch_step_by_step():
    import copy

    net, X, y = _regression()
    bs = 8
    r = lr_find(
        net, nn.MSELoss(), (X, y), ("momentum", {"momentum": 0.9}),
        start_lr=1e-4, end_lr=1.0, num_iter=30, batch_size=bs, diverge_th=None,
    )  # fmt: skip
    ref = copy.deepcopy(net)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    batches = [(X[i : i + bs], y[i : i + bs]) for i in range(0, len(X), bs)]
    want = []
    for k, lr in enumerate(lr_sequence(1e-4, 1.0, 30)):
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        xb, yb = batches[k % 3]
        nn.functional.mse_loss(ref(xb), yb).backward()
        opt.step()
        xn, yn = batches[(k + 1) % 3]  # the loss after the step, on the next batch
        with torch.no_grad():
            want.append(float(nn.functional.mse_loss(ref(xn), yn)))
    np.testing.assert_allclose(r.losses, want, rtol=1e-12)
    with torch.no_grad():
        assert r.initial_loss == pytest.approx(float(nn.functional.mse_loss(net(X[:8]), y[:8])))


def test_nn_caller_state_is_untouched_and_optimizer_state_carries_over():
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Linear(3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.2), nn.Linear(6, 1)
    ).double()
    X = torch.randn(32, 3, dtype=torch.float64)
    y = torch.randn(32, 1, dtype=torch.float64)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    nn.functional.mse_loss(net(X), y).backward()
    opt.step()
    net.eval()
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    osd = {k: {n: t.clone() for n, t in s.items()} for k, s in opt.state_dict()["state"].items()}
    groups = [dict(g) for g in opt.state_dict()["param_groups"]]
    grads = [p.grad.clone() for p in net.parameters()]
    rng = torch.get_rng_state()

    r1 = lr_find(net, nn.MSELoss(), (X, y), opt, num_iter=25, batch_size=16)
    r2 = lr_find(net, nn.MSELoss(), (X, y), "adam", num_iter=25, batch_size=16)

    for k, v in net.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert not net.training
    for k, s in opt.state_dict()["state"].items():
        for n, t in s.items():
            assert torch.equal(t, osd[k][n])
    assert [dict(g) for g in opt.state_dict()["param_groups"]] == groups
    assert all(torch.equal(p.grad, g) for p, g in zip(net.parameters(), grads, strict=True))
    assert torch.equal(rng, torch.get_rng_state())
    # the instance's Adam moments were carried into the copy: a fresh Adam gives another curve
    assert r1.optimizer == "Adam" and r2.optimizer == "adam"
    assert not np.array_equal(r1.losses[:5], r2.losses[:5])


def test_nn_fresh_optimizer_instance_equals_the_named_spec():
    net, X, y = _regression()
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    a = lr_find(net, nn.MSELoss(), (X, y), opt, num_iter=20, end_lr=1.0)
    b = lr_find(net, nn.MSELoss(), (X, y), ("momentum", {"momentum": 0.9}), num_iter=20, end_lr=1.0)
    np.testing.assert_array_equal(a.losses, b.losses)


def test_nn_non_finite_loss_stops_and_suggestions_use_the_finite_part():
    torch.manual_seed(0)
    net = nn.Linear(1, 1, bias=False).double()
    X = torch.linspace(-1, 1, 16, dtype=torch.float64)[:, None]
    y = 3 * X
    r = lr_find(
        net, nn.MSELoss(), (X, y), "gd", start_lr=1e-2, end_lr=1e12, num_iter=200,
        diverge_th=None, beta=0.5,
    )  # fmt: skip
    assert r.stop_reason == "non_finite"
    assert not math.isfinite(r.losses[-1]) and np.isfinite(r.losses[:-1]).all()
    assert r.suggested_lr is not None and r.suggested_lr < r.lrs[-1]
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["losses"][-1] is None


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kw, words",
    [
        ({"start_lr": 0.0}, "start_lr"),
        ({"start_lr": 1.0, "end_lr": 0.5}, "end_lr must be larger"),
        ({"num_iter": 1}, "num_iter"),
        ({"mode": "cosine"}, "mode must be one of exp, linear"),
        ({"beta": 1.0}, "beta must be in [0, 1)"),
        ({"diverge_th": 0.5}, "diverge_th must be > 1"),
        ({"start_lr": float("nan")}, "start_lr must be finite"),
    ],
)
def test_bad_settings(kw, words):
    with pytest.raises(InvalidParameterError, match=words.replace("[", r"\[").replace(")", r"\)")):
        lr_find_landscape(quadratic(), [[1.0]], "gd", **kw)


def test_bad_inputs():
    L = quadratic()
    with pytest.raises(DescentlabError, match=r"unknown optimizer 'sgdx'; valid: .*adam"):
        lr_find_landscape(L, [[1.0]], "sgdx")
    with pytest.raises(DimensionError):
        lr_find_landscape(L, [[1.0, 2.0]], "gd")
    with pytest.raises(InvalidParameterError, match="landscape must be a Landscape"):
        lr_find_landscape("quad", [[1.0]], "gd")

    class NoLR(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"step_size": 0.1})

        def step(self, closure=None):
            return None

    with pytest.raises(InvalidParameterError, match="no learning rate"):
        lr_find_landscape(L, [[1.0]], NoLR)
    net, X, y = _regression()
    with pytest.raises(InvalidParameterError, match=r"model must be an nn\.Module"):
        lr_find("net", nn.MSELoss(), (X, y))
    with pytest.raises(InvalidParameterError, match="loss_fn must return a scalar"):
        lr_find(net, lambda out, t: (out - t) ** 2, (X, y), num_iter=5)
    with pytest.raises(DescentlabError, match="failed on batch 0"):
        lr_find(net, nn.MSELoss(), (torch.zeros(4, 5, dtype=torch.float64), y[:4]))
    other = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(InvalidParameterError, match="not the model's"):
        lr_find(net, nn.MSELoss(), (X, y), other)


# ---------------------------------------------------------------------------- figure and CLI
def test_figure_marks_the_suggestion():
    from descentlab.viz.lr_finder import plot_lr_finder

    r = lr_find_landscape(quadratic(), [[1.0], [0.5]], "gd", start_lr=1e-4, end_lr=10)
    fig = plot_lr_finder(r.rows[0])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "suggested-lr"]
    assert line.get_xdata()[0] == r.rows[0].suggested_lr
    fig = plot_lr_finder(r)
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "median-suggested-lr"]
    assert line.get_xdata()[0] == r.median_suggested_lr
    with pytest.raises(InvalidParameterError, match="LRFinderResult"):
        plot_lr_finder({"lrs": []})


def test_cli_json_and_files(tmp_path, capsys):
    rc = main(
        ["lr-find", "--formula", "2*x**2", "--start", "1", "--start", "-0.5", "--optimizer",
         "gd", "--start-lr", "1e-4", "--iters", "80", "--out", str(tmp_path), "--json"]
    )  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    direct = lr_find_landscape(quadratic(), [[1.0], [-0.5]], "gd", start_lr=1e-4, num_iter=80)
    assert out["median_suggested_lr"] == direct.median_suggested_lr
    assert [r["stop_step"] for r in out["rows"]] == [r.stop_step for r in direct.rows]
    assert (tmp_path / "lr_find.png").stat().st_size > 0
    saved = json.loads((tmp_path / "lr_find.json").read_text())
    assert saved["median_suggested_lr"] == out["median_suggested_lr"]


def test_cli_task_text(capsys):
    rc = main(["lr-find", "--task", "xor:n=40", "--model", "mlp:hidden=4", "--iters", "30"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "suggested lr (steepest descent of the smoothed loss)" in text
    assert "minimum / 10" in text


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--formula", "x**2", "--start", "1", "--optimizer", "sgdx"], "unknown optimizer 'sgdx'"),
        (["--formula", "x**2", "--start", "1", "--iters", "1"], "--iters must be >= 2"),
        (["--formula", "x**2", "--start", "1", "--end-lr", "1e-6"], "end_lr must be larger"),
        (["--task", "moons", "--starts", "grid:3"], "--starts applies to a landscape"),
        (["--formula", "x**2", "--start", "1", "--model", "mlp"], "--model applies to --task"),
        (["--task", "xor", "--loss-floor", "0"], "--loss-floor applies to a landscape"),
        (["--formula", "__import__('os')", "--start", "1"], ""),
    ],
)
def test_cli_bad_input_exit_2_one_line(argv, words, capsys):
    assert main(["lr-find", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("descentlab: error:")
    assert words in err


def test_result_types():
    r = lr_find_landscape(quadratic(), [[1.0]], "gd", num_iter=10)
    assert isinstance(r.rows[0], LRFinderResult)
    assert "suggested lr" in str(r.rows[0]) and "median suggested lr" in str(r)
    json.dumps(r.to_dict(), allow_nan=False)


def test_a_start_at_the_minimum_gives_no_suggestion():
    L = Landscape(lambda P: (P**2 - 1).pow(2).sum(-1), dim=1, domain=(-2, 2), global_min_value=0)
    r = lr_find_landscape(L, [[1.0], [-1.0], [1.5]], "momentum", num_iter=50)
    for row in r.rows[:2]:  # exact minima: the gradient is 0, the loss never moves
        np.testing.assert_array_equal(row.losses, np.zeros(50))
        assert row.suggested_lr is None and row.min_lr_over_10 is None
    assert r.rows[2].suggested_lr is not None
    assert r.median_suggested_lr == r.rows[2].suggested_lr  # rows without one are left out


def test_memory_guard_names_what_fits():
    with pytest.raises(InvalidParameterError, match="use at most 4 starts"):
        lr_find_landscape(quadratic(), np.ones((10, 1)), "gd", num_iter=100, max_memory=24 * 450)


def test_lab_non_finite_rows_stop_and_leave_the_others_alone():
    L = Landscape(lambda P: (P**4).sum(-1), dim=1, domain=(-2, 2), global_min_value=0.0)
    starts = [[3.0], [0.0], [-0.2]]
    kw = {"start_lr": 0.1, "end_lr": 1e6, "num_iter": 60, "diverge_th": None}
    b = lr_find_landscape(L, starts, "gd", **kw)
    assert b.rows[0].stop_reason == "non_finite" and not math.isfinite(b.rows[0].losses[-1])
    assert b.rows[1].stop_reason == "completed" and b.rows[1].suggested_lr is None
    for i, row in enumerate(b.rows):
        one = lr_find_landscape(L, starts[i], "gd", **kw).rows[0]
        np.testing.assert_array_equal(row.losses, one.losses)
        assert row.stop_step == one.stop_step
