"""The demo's story is true: the diagnosis says who stalled at the saddle, who was drawn to it,
and who reached the global minimum, checked against the landscape's closed-form points."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from descentlab.viz.demo import DEMO_STARTS, demo_race, demo_rows, verdict

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")


@pytest.fixture(scope="module")
def demo():
    return demo_race(progress=False)


def _outcomes(demo, start: int) -> dict[str, object]:
    _, race, diags = demo
    return {label: diags[label][start] for label in race}


def test_start_a_gd_stalls_at_the_saddle_newton_is_drawn_to_it(demo):
    L, race, _ = demo
    (saddle,) = [c for c in L.critical_points if c.kind == "saddle"]
    out = _outcomes(demo, 0)
    gd, newton = out["gd"], out["newton"]
    assert gd.kind == "saddle" and gd.stop_reason == "max_steps"
    assert gd.critical_point.point == saddle.point
    assert verdict(gd) == "stalled at the saddle"
    assert newton.kind == "saddle" and newton.stop_reason == "converged"
    assert newton.critical_point.point == saddle.point and newton.step < 10
    assert verdict(newton) == "drawn to the saddle"
    # the end points really are at the saddle (closed form), not merely "small gradient"
    ends = {lab: t.final_points[0] for lab, t in race.items()}
    assert np.linalg.norm(ends["gd"] - saddle.point) < 1e-4
    assert np.linalg.norm(ends["newton"] - saddle.point) < 1e-8


def test_start_a_momentum_adam_perturbed_gd_reach_the_global_minimum(demo):
    L, race, _ = demo
    (gmin,) = L.global_minima
    out = _outcomes(demo, 0)
    for name in ("momentum", "adam", "perturbed_gd"):
        assert out[name].kind == "global_minimum", name
        assert out[name].critical_point.point == gmin.point
        assert np.linalg.norm(race[name].final_points[0] - np.array(gmin.point)) < 4e-3


def test_perturbed_gd_is_gd_plus_one_kick_near_the_saddle(demo):
    """Same lr as GD: until its gradient norm drops below g_thres = 0.1 it follows GD exactly,
    then one kick (t_thres = 1000 > steps) moves it at most radius = 0.1 off GD's path."""
    L, race, _ = demo
    gd, pgd = race["gd"], race["perturbed_gd"]
    gn = gd.grad_norms[:, 0]
    k = int(np.argmax(gn <= 0.1))  # first step GD's gradient is below g_thres
    assert k > 10
    np.testing.assert_array_equal(pgd.positions[: k + 1, 0], gd.positions[: k + 1, 0])
    jump = np.linalg.norm(pgd.positions[k + 1, 0] - gd.positions[k, 0])
    assert 0 < jump <= 0.1 + 1e-12
    (saddle,) = [c for c in L.critical_points if c.kind == "saddle"]
    assert np.linalg.norm(gd.positions[k, 0] - saddle.point) < 0.1


def test_start_b_momentum_crosses_the_saddle_the_others_settle(demo):
    out = _outcomes(demo, 1)
    assert {k: o.kind for k, o in out.items()} == {
        "gd": "local_minimum",
        "momentum": "global_minimum",
        "adam": "local_minimum",
        "newton": "local_minimum",
        "perturbed_gd": "local_minimum",
    }
    assert out["gd"].gap == pytest.approx(0.4832514917147508 + 0.5147536412757056, rel=1e-9)


def test_demo_rows_table_the_story(demo):
    _, race, diags = demo
    rows = demo_rows(race, diags)
    assert len(rows) == 2 * len(race)
    assert [r["start"] for r in rows[:: len(race)]] == [list(s) for s in DEMO_STARTS]
    verdicts = {(r["optimizer"], r["start_name"]): r["verdict"] for r in rows}
    assert verdicts[("gd", "A")] == "stalled at the saddle"
    assert verdicts[("newton", "A")] == "drawn to the saddle"
    assert verdicts[("momentum", "A")] == "reached the global minimum"
    assert verdicts[("perturbed_gd", "A")] == "reached the global minimum"
