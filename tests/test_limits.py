"""The limits table and the typed errors: sizes refused before allocation, errors name their
parameter, seeds range-checked, one_cycle's length checked against the run."""

from __future__ import annotations

import time

import pytest
import torch

from descentlab.errors import InvalidParameterError, LimitError, UnknownNameError
from descentlab.landscapes import get_landscape
from descentlab.limits import (
    LIMITS,
    check_critical_search,
    check_run,
    check_schedule_length,
    check_size,
    check_spec_integers,
    critical_work,
    help_text,
    run_bytes,
    table,
)


def test_table_rows_and_help_text_agree():
    rows = table()
    assert [r["name"] for r in rows] == list(LIMITS)
    text = help_text()
    for r in rows:
        assert f"  {r['name']} " in text
    assert LIMITS["seed"].value == 2**63 - 1


def test_check_size_names_parameter_limit_and_size():
    assert check_size("n_wells", 200, param="n_wells") == 200
    with pytest.raises(LimitError) as info:
        check_size("n_wells", 201, param="n_wells")
    e = info.value
    assert (e.param, e.limit, e.asked, e.bound) == ("n_wells", "n_wells", 201, 200)
    assert "n_wells=201" in str(e) and "limit n_wells = 200" in str(e)


@pytest.mark.parametrize(
    ("name", "params", "param", "limit"),
    [
        ("quadratic_bowl", {"dim": 10**12}, "dim", "dim"),
        ("rosenbrock", {"dim": 10**12}, "dim", "dim"),
        ("rastrigin", {"dim": 100_001}, "dim", "dim"),
        ("random_quadratic_saddle", {"dim": 6000}, "dim", "dense_dim"),
        ("gaussian_wells", {"dim": 3000}, "dim", "dense_dim"),
        ("gaussian_wells", {"n_wells": 3000}, "n_wells", "n_wells"),
        ("gaussian_wells", {"n_wells": 200, "dim": 300}, "n_wells", "wells_work"),
        ("random_fourier_field", {"n_features": 10**7}, "n_features", "n_features"),
        (
            "random_fourier_field",
            {"n_features": 4096, "dim": 1000},
            "n_features",
            "feature_entries",
        ),
    ],
)
def test_landscape_sizes_are_refused_before_allocation(name, params, param, limit):
    t0 = time.perf_counter()
    with pytest.raises(LimitError) as info:
        get_landscape(name, **params)
    assert (info.value.param, info.value.limit) == (param, limit)
    assert time.perf_counter() - t0 < 1.0  # nothing was built


@pytest.mark.parametrize("seed", [2**63, 2**70, -1, True, 1.5])
@pytest.mark.parametrize(
    "name", ["random_quadratic_saddle", "random_fourier_field", "gaussian_wells"]
)
def test_seeds_are_range_checked_not_hashed(name, seed):
    with pytest.raises(InvalidParameterError) as info:
        get_landscape(name, seed=seed)
    assert info.value.param == "seed"


def test_largest_seed_is_accepted_and_is_torchs_seed():
    L = get_landscape("random_quadratic_saddle", dim=3, seed=2**63 - 1)
    g = torch.Generator().manual_seed(2**63 - 1)
    from descentlab.landscapes.random import random_orthogonal

    assert torch.equal(L.Q, random_orthogonal(3, g))


def _reference_centres(d: int, K: int, seed: int, s: float, spread: float, sep: float):
    """The well placement as first written (one Python norm per placed centre)."""
    g = torch.Generator().manual_seed(seed)
    centres: list[torch.Tensor] = []
    while len(centres) < K:
        c = (2.0 * torch.rand(d, generator=g, dtype=torch.float64) - 1.0) * spread
        if all(float((c - o).norm()) >= sep * s for o in centres):
            centres.append(c)
    return torch.stack(centres)


@pytest.mark.parametrize(("d", "K", "seed"), [(2, 4, 0), (2, 12, 3), (3, 20, 7)])
def test_vectorised_well_placement_equals_the_reference(d, K, seed):
    L = get_landscape("gaussian_wells", dim=d, n_wells=K, seed=seed, spread=4.0)
    want = _reference_centres(d, K, seed, 0.5, 4.0, 4.0)
    assert torch.equal(L.centers, want)


def test_impossible_well_placement_is_refused_quickly():
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError, match="cannot place 200 wells") as info:
        get_landscape("gaussian_wells", n_wells=200, spread=0.5)
    assert info.value.param == "n_wells" and time.perf_counter() - t0 < 20.0


def test_errors_carry_their_parameter():
    with pytest.raises(UnknownNameError) as info:
        get_landscape("nope")
    assert info.value.param == "landscape"
    with pytest.raises(InvalidParameterError) as info:
        get_landscape("booth", k=1)
    assert info.value.param == "k"
    with pytest.raises(InvalidParameterError) as info:
        get_landscape("gaussian_wells", width=-1.0)
    assert info.value.param == "width"
    from descentlab.validate import check_choice, check_int, check_number

    for call, name in (
        (lambda: check_int("n", -1, lo=0), "n"),
        (lambda: check_number("lr", float("nan")), "lr"),
        (lambda: check_choice("mode", "x", ("a",)), "mode"),
    ):
        with pytest.raises(InvalidParameterError) as info:
            call()
        assert info.value.param == name


def test_spec_integers_beyond_64_bits_are_named():
    assert check_spec_integers({"a": 2**63 - 1, "b": (1, -(2**63 - 1))}, "x") is not None
    with pytest.raises(InvalidParameterError, match="64 bits") as info:
        check_spec_integers({"lr": 0.1, "betas": (0.9, 2**70)}, "adam")
    assert info.value.param == "betas"


def test_one_cycle_length_against_the_run():
    check_schedule_length("one_cycle", {"max_lr": 0.1, "total_steps": 20}, 20)
    check_schedule_length("one_cycle", {"max_lr": 0.1}, 10**6)  # the run length is used
    check_schedule_length("cosine", {"T_max": 5}, 100)  # cosine repeats: no end
    with pytest.raises(InvalidParameterError, match="shorter than the run's 11 steps") as info:
        check_schedule_length("One-Cycle", {"max_lr": 0.1, "total_steps": 10}, 11)
    assert info.value.param == "total_steps"


def test_one_cycle_check_matches_torchs_own_end():
    """The refusal is exactly where torch's OneCycleLR fails: step total_steps + 1."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    for _ in range(10):  # a 10-step run steps its schedule 10 times: fine
        opt.step()
        sched.step()
    check_schedule_length("one_cycle", {"max_lr": 0.1, "total_steps": 10}, 10)
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        sched.step()  # an 11-step run fails here: refused up front
    with pytest.raises(InvalidParameterError):
        check_schedule_length("one_cycle", {"max_lr": 0.1, "total_steps": 10}, 11)


def test_run_and_critical_estimates():
    assert run_bytes(10, 2, 100) == 8 * (8 * 10 * 2 + 100 * 10) + 256 * 1024 * 1024
    check_run(1000, 2, 1000)
    with pytest.raises(LimitError, match="limit rows"):
        check_run(2_000_000, 2, 10)
    with pytest.raises(LimitError, match="limit run_memory"):
        check_run(1_000_000, 100, 1000)
    assert critical_work(131_072, 2) == 131_072 * 19
    check_critical_search(131_072, 7)  # the defaults pass up to d = 7
    with pytest.raises(LimitError, match="--max-starts 62893") as info:
        check_critical_search(131_072, 12)
    assert info.value.param == "max_starts"
