"""Trajectory and Race: save/load round trips, CSV and JSON exports agree with the arrays."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from descentlab.engine import run
from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.landscapes.base import Landscape
from descentlab.trajectory import Race, Trajectory, load

L = Landscape(
    lambda P: (P[:, 0] ** 2 - 1) ** 2 + P[:, 1] ** 2, dim=2, name="double_well", domain=(-2, 2)
)
STARTS = np.array([[0.5, 1.0], [-1.5, -0.5], [1.0, 0.0], [0.1, 0.1]])


@pytest.fixture(scope="module")
def traj() -> Trajectory:
    return run(L, "adam", STARTS, 30, lr=0.1, record_every=7, grad_tol=1e-6, lrs=[0.1, 2.5])


def _assert_same(a: Trajectory, b: Trajectory) -> None:
    for k in (
        "starts",
        "positions",
        "record_steps",
        "losses",
        "grad_norms",
        "lr",
        "row_group",
        "row_lr",
        "stop_step",
        "final_points",
        "final_losses",
        "final_grad_norms",
    ):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
        assert getattr(a, k).dtype == getattr(b, k).dtype, k
    assert a.stop_reason.tolist() == b.stop_reason.tolist()
    for k in ("optimizer", "landscape_name", "steps", "record_every", "grad_tol", "bound", "seed"):
        assert getattr(a, k) == getattr(b, k), k
    assert a.hyper == b.hyper


def test_shapes_and_dtypes(traj):
    B, T = 8, traj.n_records
    assert traj.positions.shape == (T, B, 2) and traj.positions.dtype == np.float64
    assert traj.losses.shape == traj.grad_norms.shape == (T, B)
    assert traj.lr.shape == (traj.n_steps, 2)
    assert traj.stop_step.shape == traj.final_losses.shape == (B,)
    assert set(traj.stop_reason) <= {"converged", "max_steps", "diverged"}
    assert traj.record_steps[0] == 0 and traj.record_steps[-1] == traj.stop_step.max()
    # start (1, 0) is the minimum itself: converged at step 0, in both lr groups
    assert traj.stop_reason[2] == traj.stop_reason[6] == "converged"
    assert traj.stop_step[2] == 0


def test_npz_round_trip(tmp_path, traj):
    p = traj.save(tmp_path / "t.npz")
    back = Trajectory.load(p)
    _assert_same(traj, back)
    assert isinstance(load(p), Trajectory)
    assert [q.name for q in tmp_path.iterdir()] == ["t.npz"]  # atomic: no temp file left


def test_infinite_bound_and_nan_survive_round_trip(tmp_path):
    tr = run(L, "gd", STARTS[:2], 3, bound=math.inf, grad_tol=0)
    tr.final_losses[0] = math.nan
    back = Trajectory.load(tr.save(tmp_path / "t.npz"))
    assert back.bound == math.inf and math.isnan(back.final_losses[0])


def test_race_round_trip(tmp_path):
    race = run(L, ["gd", ("momentum", {"lr": 0.05})], STARTS, 10)
    back = Race.load(race.save(tmp_path / "r.npz"))
    assert back.labels == race.labels
    for lab in race:
        _assert_same(race[lab], back[lab])
    assert isinstance(load(tmp_path / "r.npz"), Race)
    with pytest.raises(InvalidParameterError, match=r"Race\.load"):
        Trajectory.load(tmp_path / "r.npz")


def test_csv_matches_arrays(tmp_path, traj):
    path = traj.to_csv(tmp_path / "t.csv")
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == traj.n_records * traj.n_starts
    for r in rows[:: max(1, len(rows) // 17)]:
        t = list(traj.record_steps).index(int(r["step"]))
        i = int(r["row"])
        assert float(r["x0"]) == traj.positions[t, i, 0]
        assert float(r["x1"]) == traj.positions[t, i, 1]
        assert float(r["loss"]) == traj.losses[t, i]
        assert float(r["grad_norm"]) == traj.grad_norms[t, i]
        assert r["stop_reason"] == traj.stop_reason[i]


def test_race_csv_has_every_optimizer(tmp_path):
    race = run(L, ["gd", "adam"], STARTS, 4, grad_tol=0)
    with open(race.to_csv(tmp_path / "r.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["optimizer"] for r in rows].count("adam") == 5 * 4


def test_json_and_dicts(traj):
    d = traj.to_dicts()
    assert len(d) == traj.n_starts
    assert d[3]["end"] == traj.final_points[3].tolist()
    assert d[3]["steps"] == int(traj.stop_step[3])
    assert d[5]["lr"] == 2.5
    obj = json.loads(traj.to_json(full=True))
    assert obj["optimizer"] == traj.optimizer
    assert np.array_equal(np.array(obj["arrays"]["positions"]), traj.positions)


def test_path_ends_at_final_point(traj):
    for i in range(traj.n_starts):
        p = traj.path(i)
        np.testing.assert_array_equal(p[0], traj.starts[i])
        np.testing.assert_array_equal(p[-1], traj.final_points[i])


def test_load_errors(tmp_path):
    with pytest.raises(DescentlabError, match="no such file"):
        Trajectory.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(InvalidParameterError, match="not a descentlab trajectory"):
        load(bad)
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    with pytest.raises(InvalidParameterError):
        load(junk)
    with pytest.raises(InvalidParameterError, match=r"\.npz"):
        run(L, "gd", STARTS, 2).save(tmp_path / "t.txt")


def test_race_requires_same_starts():
    a = run(L, "gd", STARTS, 2)
    b = run(L, "gd", STARTS[:2], 2)
    with pytest.raises(InvalidParameterError, match="same starts"):
        Race({"a": a, "b": b})
