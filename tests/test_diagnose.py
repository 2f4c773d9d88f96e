"""diagnose() against exact ground truth: known critical points, closed-form iterates."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from descentlab.analysis import Diagnosis, Outcome, diagnose
from descentlab.analysis.diagnose import OUTCOME_KINDS, escape_times
from descentlab.engine import run
from descentlab.errors import InvalidParameterError
from descentlab.landscapes import Landscape, get_landscape

DW = get_landscape("double_well")  # minima (+-1, 0) global, saddle (0, 0) index 1
SADDLE = get_landscape("simple_saddle")
TILTED = get_landscape("tilted_double_well")


def test_gd_started_on_the_saddle_stays_and_is_a_saddle():
    for L, start in ((SADDLE, [0.0, 0.0]), (DW, [0.0, 0.0])):
        tr = run(L, "gd", [start], 100, lr=0.05)
        assert tr.stop_reason[0] == "converged" and tr.stop_step[0] == 0
        assert (tr.positions[:, 0] == 0).all()
        o = diagnose(tr, L)[0]
        assert (o.kind, o.index, o.step) == ("saddle", 1, 0)
        assert o.critical_point.point == (0.0, 0.0)
        assert o.distance == 0.0
        assert "saddle (0, 0), index 1" in o.text


def test_gd_on_the_stable_manifold_converges_to_the_saddle_at_the_closed_form_step():
    # x = 0 exactly: y_k = y0 (1 - 2 lr)^k and |grad| = 2 |y_k|; it stops when that is <= tol
    lr, y0, tol = 0.05, 0.7, 1e-8
    tr = run(DW, "gd", [[0.0, y0]], 1000, lr=lr, grad_tol=tol)
    k = next(k for k in range(1000) if 2 * y0 * (1 - 2 * lr) ** k <= tol)
    o = diagnose(tr, DW)[0]
    assert (o.kind, o.index, o.step) == ("saddle", 1, k)


def test_too_large_lr_is_diverged_with_its_step_others_finish():
    # at the minima f_xx = 8: GD with lr = 0.6 has |1 - 8 lr| = 3.8 > 1 and diverges
    starts = [[0.5, 0.5], [-1.5, -1.0]]
    tr = run(DW, "gd", starts, 2000, lrs=[0.01, 0.6])
    d = diagnose(tr, DW)
    assert d.kinds.tolist() == ["global_minimum"] * 2 + ["diverged"] * 2
    for o in d[2:]:
        assert o.step == tr.stop_step[o.row] > 0 and o.critical_point is None
        assert f"diverged at step {o.step}" in o.text
    assert d[0].critical_point.point == (1.0, 0.0) and d[1].critical_point.point == (-1.0, 0.0)
    assert d.counts() == {**dict.fromkeys(OUTCOME_KINDS, 0), "global_minimum": 2, "diverged": 2}


def test_newton_from_negative_curvature_finds_the_saddle_gd_the_minimum():
    # f_xx = 12 x^2 - 4 < 0 for |x| < 1/sqrt(3): Newton's step points uphill in x, to the saddle
    starts = [[0.3, 0.5], [-0.4, -0.2], [0.1, 1.0]]
    newton = diagnose(run(DW, "newton", starts, 100), DW)
    assert [(o.kind, o.index) for o in newton] == [("saddle", 1)] * 3
    gd = diagnose(run(DW, "gd", starts, 5000, lr=0.05), DW)
    assert gd.kinds.tolist() == ["global_minimum"] * 3
    assert [o.critical_point.point[0] for o in gd] == [1.0, -1.0, 1.0]


def test_saddle_free_newton_and_perturbed_gd_escape_the_saddle():
    sfn = diagnose(run(DW, "saddle_free_newton", [[0.3, 0.5], [-0.4, -0.2]], 100), DW)
    assert sfn.kinds.tolist() == ["global_minimum"] * 2
    # started exactly on the saddle: plain GD never moves, perturbed GD escapes (with the
    # engine's gradient rule off: the gradient there is exactly zero)
    assert run(DW, "gd", [[0.0, 0.0]], 3000, lr=0.05, grad_tol=0).final_points.tolist() == [[0, 0]]
    tr = run(DW, "perturbed_gd", [[0.0, 0.0]], 3000, lr=0.05, radius=1e-3, grad_tol=0, seed=1)
    o = diagnose(tr, DW)[0]
    assert o.kind == "global_minimum"
    assert [c.point for c, _ in o.saddle_visits] == [(0.0, 0.0)]
    assert o.text.startswith("stalled") and "then escaped; ended" in o.text


def test_local_minimum_gap_is_exact():
    cps = TILTED.critical_points
    local = next(c for c in cps if c.kind == "minimum" and not c.is_global)
    glob = next(c for c in cps if c.is_global)
    tr = run(TILTED, "gd", [[1.5, 2.0], [-1.5, 2.0]], 5000, lr=0.01)
    d = diagnose(tr, TILTED)
    assert d[0].kind == "local_minimum" and d[0].critical_point == local
    assert d[0].gap == local.value - glob.value == pytest.approx(0.998, abs=1e-3)
    assert d[1].kind == "global_minimum" and d[1].gap == 0.0


def test_degenerate_and_maximum():
    M = get_landscape("monkey_saddle")
    o = diagnose(run(M, "gd", [[0.0, 0.0]], 10, lr=0.01), M)[0]
    assert o.kind == "degenerate" and o.eigenvalues == (0.0, 0.0)
    C = get_landscape("nonconvex_curve")
    top = next(c for c in C.critical_points if c.kind == "maximum")
    o = diagnose(run(C, "gd", [top.point], 10, lr=0.01), C)[0]
    assert (o.kind, o.index) == ("maximum", 1)
    assert o.eigenvalues[0] < 0


def test_plateau_is_told_from_converged_and_from_still_moving():
    P = get_landscape("plateau")
    starts = [[2.9, 2.9], [2.0, 0.5], [0.5, 0.2]]
    tr = run(P, "gd", starts, 300, lr=0.1)
    # the corner's gradient (~1e-26) passes grad_tol: the engine calls it converged at step 0
    assert tr.stop_reason[0] == "converged" and tr.stop_step[0] == 0
    d = diagnose(tr, P)
    assert d.kinds.tolist()[:2] == ["plateau", "plateau"]
    assert d[2].kind == "global_minimum"
    # Rosenbrock with a tiny step: far from (1, 1) and a large gradient -> still moving
    R = get_landscape("rosenbrock")
    o = diagnose(run(R, "gd", [[-1.5, 2.0]], 200, lr=1e-4), R)[0]
    assert o.kind == "max_steps" and o.grad_norm > 1
    assert o.text.startswith("still moving after 200 steps")


def test_unknown_critical_points_are_found_or_polished():
    starts = [[0.0, 0.0], [0.5, 0.5], [0.0, 0.3]]
    ref = diagnose(run(DW, "gd", starts, 3000, lr=0.05), DW)
    # same function, nothing known: critical points found in the domain
    F = Landscape(DW.fn, 2, name="dw_unknown", domain=DW.domain)
    d = diagnose(run(F, "gd", starts, 3000, lr=0.05), F)
    assert d.kinds.tolist() == ref.kinds.tolist() == ["saddle", "global_minimum", "saddle"]
    assert "found numerically" in d.notes[0]
    # no domain either: the end points are polished by Newton and classified there; with no
    # global value known a minimum is reported as such, without a gap
    N = Landscape(DW.fn, 2, name="dw_bare")
    d = diagnose(run(N, "gd", starts, 3000, lr=0.05), N)
    assert [o.kind for o in d] == ["saddle", "local_minimum", "saddle"]
    assert d[1].gap is None and d[1].critical_point.point == pytest.approx((1.0, 0.0))
    assert "global value unknown" in d[1].text


def test_escape_times_match_closed_form_iterates():
    # simple saddle x^2 - y^2, GD: x_k = x0 (1 - 2 lr)^k, y_k = y0 (1 + 2 lr)^k
    lr, x0, y0, r, steps = 0.1, 1.0, 1e-6, 0.01, 100
    tr = run(SADDLE, "gd", [[x0, y0], [x0, 0.5]], steps, lr=lr, grad_tol=0)
    k = np.arange(steps)
    inside = np.hypot(x0 * (1 - 2 * lr) ** k, y0 * (1 + 2 * lr) ** k) <= r
    visits = escape_times(tr, SADDLE, r)
    assert visits[0][0][1] == int(inside.sum()) > 0
    assert visits[1] == []  # (1, 0.5) never comes within 0.01 of the origin
    d = diagnose(tr, SADDLE, radius=r)
    assert d[0].saddle_visits[0][1] == int(inside.sum())
    assert d[0].text.startswith(f"stalled {int(inside.sum())} steps at the saddle (0, 0)")
    # sparse records: each record inside the radius counts until the next record
    sparse = run(SADDLE, "gd", [[x0, y0]], steps, lr=lr, grad_tol=0, record_every=5)
    n = escape_times(sparse, SADDLE, r)[0][0][1]
    assert abs(n - inside.sum()) <= 5


def test_diagnosis_exports_and_race():
    race = run(DW, [("gd", {"lr": 0.05}), "newton"], [[0.3, 0.5], [1.5, 1.0]], 300)
    ds = diagnose(race, DW)
    assert list(ds) == race.labels == ["gd(lr=0.05)", "newton"]
    d = ds["newton"]
    assert isinstance(d, Diagnosis) and isinstance(d[0], Outcome)
    rows = d.to_dicts()
    json.dumps(rows, allow_nan=False)
    assert (
        rows[0]["kind"] == "saddle" and rows[0]["index"] == 1 and rows[0]["optimizer"] == "newton"
    )
    table = d.table()
    assert "saddle" in table and "newton: global_minimum: 1, saddle: 1" in table
    assert len(d.table(max_rows=1).splitlines()) == 5


def test_diverged_row_outcome_and_bad_input():
    tr = run(DW, "gd", [[0.5, 0.5]], 50, lr=1.0)
    o = diagnose(tr, DW)[0]
    assert o.kind == "diverged" and o.step == tr.stop_step[0] and math.isfinite(o.value)
    with pytest.raises(InvalidParameterError, match="d=1"):
        diagnose(tr, get_landscape("nonconvex_curve"))
    with pytest.raises(InvalidParameterError, match="tol"):
        diagnose(tr, DW, tol=-1)
    with pytest.raises(InvalidParameterError, match="Trajectory"):
        diagnose("x", DW)


def test_a_valley_of_global_minima_is_diagnosed_global():
    """On 1/2 (1 - w1 w2)^2 every point of the hyperbola w1 w2 = 1 is a global minimum (value 0)
    with a singular Hessian. GD from (0.5, 0.3) ends on the hyperbola: a global minimum, not an
    unclassifiable degenerate point; from the origin (exact saddle) it never moves."""
    import torch

    L = Landscape(
        lambda P: 0.5 * (1 - P[:, 0] * P[:, 1]) ** 2,
        dim=2,
        name="product",
        domain=(-2, 2),
        critical_points=[{"point": (0.0, 0.0), "value": 0.5, "kind": "saddle", "index": 1}],
        global_min_value=0.0,
    )
    tr = run(L, "gd", [[0.5, 0.3], [0.0, 0.0]], steps=3000, lr=0.1)
    d = diagnose(tr, L)
    end = tr.final_points[0]
    assert abs(end[0] * end[1] - 1) < 1e-6
    assert d[0].kind == "global_minimum" and d[0].gap == 0.0
    assert d[1].kind == "saddle" and d[1].index == 1
    # the Hessian at the end point is singular: the label rests on the value, not on curvature
    lam = torch.linalg.eigvalsh(L.hessian(end[None])[0])
    assert abs(float(lam[0])) < 1e-6


def test_out_of_steps_row_is_at_the_minimum_exactly_within_tol_closed_form():
    # f = 1/2 (x^2 + 100 y^2): GD from (x0, 0) gives x_k = (1 - lr)^k x0 exactly, so the end
    # point's distance to the minimum is known; "at" the minimum means within tol = 1e-3 * width
    # (width 4 here), and a slowly converging row just outside it is honestly still moving.
    L = get_landscape("ill_conditioned_quadratic")
    lr, steps = 0.01, 300
    rate = (1 - lr) ** steps
    tol = 1e-3 * 4.0
    starts = [[0.9 * tol / rate, 0.0], [1.1 * tol / rate, 0.0]]
    tr = run(L, "gd", starts, steps=steps, lr=lr, grad_tol=0)
    d = diagnose(tr, L)
    assert d.tol == pytest.approx(tol)
    inside, outside = d.outcomes
    assert inside.stop_reason == outside.stop_reason == "max_steps"
    assert inside.distance == pytest.approx(0.9 * tol, rel=1e-12)
    assert outside.distance == pytest.approx(1.1 * tol, rel=1e-12)
    assert inside.kind == "global_minimum" and "still moving" in inside.text
    assert (
        outside.kind == "max_steps" and "nearest critical point: the global minimum" in outside.text
    )


def test_tilted_double_well_gd_rows_out_of_steps_are_still_moving_into_their_basin():
    # The web basin map's report (lr 0.01, 300 steps: most rows "still moving") is honest: the
    # minima's smallest Hessian eigenvalues are ~0.9, so GD contracts the slow direction by only
    # (1 - 0.01 * 0.9)^300 ~ 0.07 in 300 steps. Every such row is further than tol from every
    # critical point, and continuing the same rows ends each at the minimum it was nearest to.
    starts = [[-1.6, 2.5], [-0.5, 0.5], [0.5, 0.1], [1.5, 2.0], [1.8, 3.0]]
    short = run(TILTED, "gd", starts, steps=300, lr=0.01, grad_tol=0)
    d = diagnose(short, TILTED)
    assert [o.kind for o in d] == ["max_steps"] * len(starts)
    assert all(o.distance > d.tol for o in d)
    mins = np.array([c.point for c in TILTED.critical_points if c.kind == "minimum"])
    heading = [np.linalg.norm(mins - p, axis=1).argmin() for p in short.final_points]
    long = run(TILTED, "gd", starts, steps=20000, lr=0.01)
    ends = [np.linalg.norm(mins - p, axis=1).argmin() for p in long.final_points]
    assert ends == heading
    assert {o.kind for o in diagnose(long, TILTED)} <= {"global_minimum", "local_minimum"}


def test_high_dimensional_formula_is_diagnosed_by_polishing_end_points():
    """Above the finder's box-search limit the end point itself is polished by Newton: a bowl
    in 300 dimensions run to its centre is found to end at the minimum 0 (its global value is
    not declared, so it is reported as a minimum with no gap), and the text stays short."""
    from descentlab.analysis.critical import MAX_SEARCH_DIM

    d = MAX_SEARCH_DIM + 100
    L = Landscape(lambda P: 0.5 * (P**2).sum(-1), dim=d, name="bowl", domain=(-1, 1))
    tr = run(L, "gd", np.full((2, d), 0.5), steps=200, lr=0.5)
    out = diagnose(tr, L)
    assert [o.kind for o in out] == ["local_minimum"] * 2 and out[0].gap is None
    assert "(0, 0, 0, ..., 0) in 300-D" in out[0].text
    assert out[0].critical_point is not None
    assert np.allclose(out[0].critical_point.point, 0.0)
    assert any("end points polished" in n for n in out.notes)
