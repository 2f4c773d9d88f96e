"""Claim 2 experiment: costs counted exactly, Newton's iterates against closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from descentlab.engine import run as run_engine
from descentlab.errors import InvalidParameterError
from descentlab.experiments import newton_vs_gd as nvg
from descentlab.experiments.base import VERDICTS
from descentlab.landscapes import get_landscape

torch.set_num_threads(1)
DT = torch.float64


@pytest.mark.parametrize(
    ("A", "c"),
    [
        ([[2.0, 0.0], [0.0, -2.0]], [0.0, 0.0]),
        ([[1.0, 2.0, 0.0], [2.0, -1.0, 0.5], [0.0, 0.5, -3.0]], [1.0, -2.0, 0.5]),
    ],
)
def test_newton_jumps_to_quadratic_saddle_in_one_step(A, c) -> None:
    A, c = torch.tensor(A, dtype=DT), torch.tensor(c, dtype=DT)
    assert torch.linalg.eigvalsh(A).min() < 0 < torch.linalg.eigvalsh(A).max()  # a saddle
    starts = 4 * torch.rand(40, c.numel(), generator=torch.Generator().manual_seed(0), dtype=DT)
    assert nvg.newton_one_step_error(A, c, starts - 2) < 1e-12


def test_newton_step_on_model_quadratic_is_exact() -> None:
    A = torch.tensor([[3.0, 1.0], [1.0, -2.0]], dtype=DT)
    c = torch.tensor([0.5, -1.5], dtype=DT)
    step, H = nvg.newton_step(lambda w: 0.5 * (w - c) @ A @ (w - c), torch.zeros(2, dtype=DT))
    torch.testing.assert_close(step, c, rtol=0, atol=1e-14)
    torch.testing.assert_close(H, A, rtol=0, atol=1e-14)


def test_newton_iterate_on_double_well_closed_form() -> None:
    L = get_landscape("double_well")
    S = nvg.double_well_strip_starts(30, seed=1)
    tr = run_engine(L, "newton", S, 1, grad_tol=0.0, progress=False)
    x0 = S[:, 0]
    np.testing.assert_allclose(tr.final_points[:, 0], 2 * x0**3 / (3 * x0**2 - 1), atol=1e-14)
    np.testing.assert_allclose(tr.final_points[:, 1], 0.0, atol=1e-14)
    assert np.all(np.abs(tr.final_points[:, 0]) < np.abs(x0))  # |x| < 1/sqrt(5): shrinks


def test_double_well_strip_newton_to_saddle_gd_to_minimum() -> None:
    L = get_landscape("double_well")
    s = nvg.optimizer_settings(L)
    fr = nvg.outcome_fractions(
        L, nvg.double_well_strip_starts(40, seed=2), {"gd": s["gd"], "newton": s["newton"]}
    )
    assert fr["newton"]["saddle"] == 1.0
    assert fr["gd"]["minimum"] == 1.0 and fr["gd"]["saddle"] == 0.0
    assert fr["newton"]["saddle"] > fr["gd"]["saddle"]


def test_fractions_sum_to_one_and_match_diagnosis() -> None:
    from descentlab.analysis import diagnose

    L = get_landscape("himmelblau")
    S = L.sample(30, seed=4).numpy()
    settings = nvg.optimizer_settings(L)
    fr = nvg.outcome_fractions(L, S, settings, gd_steps=1500, second_order_steps=100)
    assert set(fr) == set(nvg.OPTIMIZERS)
    for per in fr.values():
        assert set(per) == set(nvg.CATEGORIES)
        assert sum(per.values()) == pytest.approx(1.0, abs=1e-12)
        assert all(v * 30 == pytest.approx(round(v * 30), abs=1e-9) for v in per.values())
    tr = run_engine(L, ("newton", settings["newton"]), S, 100, progress=False)
    counts = diagnose(tr, L).counts()
    assert fr["newton"]["saddle"] == counts["saddle"] / 30
    assert fr["newton"]["maximum"] == counts["maximum"] / 30


def test_full_hessian_equals_torch_func_hessian() -> None:
    prob = nvg.mlp_problem(3, samples=20, inputs=4, seed=1)
    theta = torch.randn(prob.n_params, generator=torch.Generator().manual_seed(2), dtype=DT)
    H = nvg.full_hessian(prob.loss, theta, chunk=5)
    torch.testing.assert_close(H, torch.func.hessian(prob.loss)(theta), rtol=1e-12, atol=1e-12)
    assert prob.n_params == 3 * (4 + 2) + 1


def test_cost_memory_exponent_is_exactly_two() -> None:
    rows = nvg.measure_cost([1, 2, 4, 8], samples=16, repeats=1, progress=False)
    n = [r["n_params"] for r in rows]
    assert n == [11, 21, 41, 81]
    assert [r["hessian_bytes"] for r in rows] == [8 * k * k for k in n]
    assert [r["gradient_bytes"] for r in rows] == [8 * k for k in n]
    p, a = nvg.fit_power_law(n, [r["hessian_bytes"] for r in rows])
    assert p == pytest.approx(2.0, abs=1e-12) and a == pytest.approx(8.0, rel=1e-12)
    # matmul flops of a gradient step are exactly proportional to the hidden width
    per_width = {r["gd_matmul_flops"] / r["width"] for r in rows}
    assert len(per_width) == 1
    assert [r["lu_flops"] for r in rows] == [2 * k**3 // 3 for k in n]


def test_fit_power_law_exact_and_refusals() -> None:
    p, a = nvg.fit_power_law([3, 30, 300], [5 * 3**2.5, 5 * 30**2.5, 5 * 300**2.5])
    assert p == pytest.approx(2.5, abs=1e-12) and a == pytest.approx(5.0, rel=1e-10)
    with pytest.raises(InvalidParameterError, match="two different sizes"):
        nvg.fit_power_law([10, 10], [1, 2])
    with pytest.raises(InvalidParameterError, match="width"):
        nvg.mlp_problem(0)


def test_curvature_constants_double_well_bounds() -> None:
    # H = diag(12 x^2 - 4, 2): max ||H|| = 44 at |x| = 2; f_xxx = 24 x: at most 48, times sqrt(2)
    L, M = nvg.curvature_constants(get_landscape("double_well"))
    assert 42.0 < L <= 44.0 + 1e-9
    assert 46.0 * math.sqrt(2) < M <= 48.0 * math.sqrt(2) + 1e-6


def test_experiment_small(tmp_path) -> None:
    r = nvg.experiment(
        widths=(2, 4, 8),
        n_starts=20,
        gd_steps=1500,
        second_order_steps=60,
        repeats=1,
        landscapes=(("double_well", {}), ("styblinski_tang", {"dim": 2})),
        fit_min_n=1,
        out=tmp_path,
        progress=False,
    )
    assert r.verdict in VERDICTS and r.name == "newton-vs-gd"
    n = r.numbers
    assert n["fits"]["hessian_bytes"]["exponent"] == pytest.approx(2.0, abs=1e-12)
    assert n["fits"]["gradient_bytes"]["exponent"] == pytest.approx(1.0, abs=1e-12)
    assert n["extrapolation"]["1e+06"]["hessian_bytes"] == 8 * 10**12
    assert n["extrapolation"]["1e+08"]["hessian_bytes"] == 8 * 10**16
    assert n["extrapolation"]["1e+06"]["hessian"] == "8 TB"
    assert n["extrapolation"]["1e+08"]["hessian"] == "80 PB"
    assert n["newton_one_step_to_quadratic_saddle_max_error"] < 1e-12
    assert n["double_well_strip"]["newton_saddle_fraction"] == 1.0
    assert n["double_well_strip"]["gd_minimum_fraction"] == 1.0
    for per in n["fractions"].values():
        for fr in per.values():
            assert sum(fr.values()) == pytest.approx(1.0, abs=1e-12)
    assert set(r.figures) == {"cost", "outcomes"}
    for p in r.figures.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(r.to_dict(), allow_nan=False)
    assert "extrapolated" in [row[1] for row in r.tables[0].rows]


def test_registered() -> None:
    from descentlab.experiments import experiment_names

    assert "newton-vs-gd" in experiment_names()
