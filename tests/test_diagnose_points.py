"""``diagnose(critical_points=...)`` takes any sequence of CriticalPoint, typed, without magic
tuples; anything else is refused with a clear message."""

from __future__ import annotations

import pytest
import torch

import descentlab as dl
from descentlab.analysis import find_critical_points
from descentlab.analysis.diagnose import escape_times
from descentlab.errors import InvalidParameterError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def himmelblau_run():
    L = dl.get_landscape("himmelblau")
    tr = dl.run(L, "gd", dl.grid_starts(L, 4), steps=300, lr=0.01)
    return L, tr


def test_three_critical_points_as_a_tuple_are_points_not_a_resolved_triple(himmelblau_run):
    L, tr = himmelblau_run
    three = tuple(L.critical_points[:3])
    d = dl.diagnose(tr, L, critical_points=three)  # raised TypeError before
    assert list(d.critical_points) == list(three)
    # every end point is matched against those three only
    for o in d:
        assert o.critical_point is None or o.critical_point in three
    assert list(d.notes) == ["compared with the critical points given"]


@pytest.mark.parametrize("wrap", [list, tuple, iter, lambda cps: (c for c in cps)])
def test_any_iterable_gives_the_same_diagnosis(himmelblau_run, wrap):
    L, tr = himmelblau_run
    ref = [o.kind for o in dl.diagnose(tr, L, critical_points=list(L.critical_points))]
    got = [o.kind for o in dl.diagnose(tr, L, critical_points=wrap(L.critical_points))]
    assert got == ref == [o.kind for o in dl.diagnose(tr, L)]


def test_a_critical_point_set_and_a_race(himmelblau_run):
    L, tr = himmelblau_run
    found = find_critical_points(L, n_starts=64, seed=0)
    kinds = [o.kind for o in dl.diagnose(tr, L, critical_points=found)]
    assert kinds == [o.kind for o in dl.diagnose(tr, L)]
    race = dl.run(L, ["gd", "adam"], dl.grid_starts(L, 2), steps=50, lr=0.01)
    out = dl.diagnose(race, L, critical_points=tuple(L.critical_points[:3]))
    assert set(out) == set(race.keys())
    visits = escape_times(tr, L, 0.5, critical_points=tuple(L.critical_points[:3]))
    assert len(visits) == tr.n_starts


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (5, "critical_points must be a sequence of CriticalPoint"),
        ("saddle", "critical_points must be a sequence of CriticalPoint"),
        ([(0.0, 0.0)], r"critical_points\[0\] must be a CriticalPoint, got tuple"),
    ],
)
def test_bad_critical_points_are_refused_clearly(himmelblau_run, bad, message):
    L, tr = himmelblau_run
    with pytest.raises(InvalidParameterError, match=message):
        dl.diagnose(tr, L, critical_points=bad)


def test_a_single_point_or_wrong_dimension_is_refused(himmelblau_run):
    L, tr = himmelblau_run
    with pytest.raises(InvalidParameterError, match="sequence of CriticalPoint"):
        dl.diagnose(tr, L, critical_points=L.critical_points[0])
    other = dl.get_landscape("styblinski_tang", dim=3).critical_points[:1]
    with pytest.raises(InvalidParameterError, match=r"critical_points\[0\] is 3-dimensional"):
        dl.diagnose(tr, L, critical_points=other)
