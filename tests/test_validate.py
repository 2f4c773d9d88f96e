"""descentlab.validate: the one set of argument checks (value, coercion, message naming the
parameter and the rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from descentlab.errors import DescentlabError, InvalidParameterError, check_positive
from descentlab.validate import (
    MAX_SEED,
    check_at_most,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_seed,
    range_text,
)
from descentlab.validate import check_positive as v_check_positive


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"lo": 0.0, "lo_open": True}, "> 0"),
        ({"lo": 0.0}, ">= 0"),
        ({"hi": 1.0, "hi_open": True}, "< 1"),
        ({"lo": 0.0, "hi": 1.0, "hi_open": True}, "in [0, 1)"),
        ({"lo": 0.0, "hi": 1.0, "lo_open": True}, "in (0, 1]"),
    ],
)
def test_range_text(kwargs, text):
    lo, hi = kwargs.pop("lo", -math.inf), kwargs.pop("hi", math.inf)
    assert range_text(lo, hi, **kwargs) == text


def test_check_number_accepts_reals_and_scalar_tensors():
    assert check_number("x", 2) == 2.0 and isinstance(check_number("x", 2), float)
    assert check_number("x", np.float32(0.5)) == 0.5
    assert check_number("x", torch.tensor(0.25, dtype=torch.float64)) == 0.25
    assert check_number("m", 0.0, lo=0.0, hi=1.0, hi_open=True) == 0.0


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("fast", {}, "lr must be a number, got 'fast'"),
        (True, {}, "lr must be a number, got True"),
        (math.nan, {}, "lr must be finite, got nan"),
        (math.inf, {}, "lr must be finite, got inf"),
        (0.0, {"lo": 0.0, "lo_open": True}, "lr must be > 0, got 0.0"),
        (1.0, {"lo": 0.0, "hi": 1.0, "hi_open": True}, "lr must be in [0, 1), got 1.0"),
        (-1, {"lo": 0.0, "owner": "adam"}, "adam: lr must be >= 0, got -1"),
    ],
)
def test_check_number_messages(value, kwargs, message):
    with pytest.raises(InvalidParameterError) as e:
        check_number("lr", value, **kwargs)
    assert str(e.value) == message
    assert e.value.param == "lr"


def test_every_check_names_the_parameter():
    cases = [
        lambda: check_int("steps", 0, lo=1),
        lambda: check_at_most("steps", 10, 5),
        lambda: check_bool("steps", 1),
        lambda: check_choice("steps", "x", ("a",)),
        lambda: check_seed(-1, name="steps"),
        lambda: v_check_positive("steps", 0),
    ]
    for case in cases:
        with pytest.raises(InvalidParameterError) as e:
            case()
        assert e.value.param == "steps"


def test_check_positive_and_its_alias_in_errors():
    for check in (v_check_positive, check_positive):
        assert check("lr", "0.5") == 0.5
        assert check("eps", 0, allow_zero=True) == 0.0
        for bad, why in [(0, "> 0"), (-1, "> 0"), ("x", "a number"), (math.inf, "finite")]:
            with pytest.raises(InvalidParameterError, match=f"lr must be {why}"):
                check("lr", bad)
        with pytest.raises(InvalidParameterError, match=r"eps must be >= 0, got -0\.1"):
            check("eps", -0.1, allow_zero=True)


def test_check_int():
    assert check_int("n", 3, lo=1) == 3
    assert check_int("n", np.int64(3), lo=1) == 3 and type(check_int("n", np.int64(3))) is int
    assert check_int("n", 4.0, lo=1, integral_float=True) == 4
    for bad in (0, 2.5, 4.0, True, "3", None):
        with pytest.raises(InvalidParameterError, match=r"^n must be an integer >= 1, got "):
            check_int("n", bad, lo=1)
    with pytest.raises(InvalidParameterError, match=r"^arms must be an integer in \[2, 1000\]"):
        check_int("arms", 1001, lo=2, hi=1000)
    with pytest.raises(InvalidParameterError, match=r"^sgd: k must be an integer >= 0, got -1$"):
        check_int("k", -1, owner="sgd")


def test_check_at_most_uses_thousands_separators():
    assert check_at_most("n", 10, 10) == 10
    with pytest.raises(InvalidParameterError, match=r"^n must be at most 1,000,000, got 1,000,001"):
        check_at_most("n", 1_000_001, 1_000_000)


def test_check_bool_choice_seed():
    assert check_bool("flag", False) is False
    with pytest.raises(InvalidParameterError, match="flag must be true or false, got 1"):
        check_bool("flag", 1)
    assert check_choice("mode", "exp", ("exp", "linear")) == "exp"
    with pytest.raises(InvalidParameterError, match=r"^mode must be one of exp, linear, got .log"):
        check_choice("mode", "log", ("exp", "linear"))
    with pytest.raises(InvalidParameterError, match="mode must be one of exp, linear, got"):
        check_choice("mode", ["unhashable"], ("exp", "linear"))
    assert check_seed(0) == 0 and check_seed(MAX_SEED) == MAX_SEED
    for bad in (-1, 1.5, True):
        with pytest.raises(InvalidParameterError, match="seed must be an integer >= 0"):
            check_seed(bad)
    with pytest.raises(InvalidParameterError, match="seed must be at most"):
        check_seed(MAX_SEED + 1)


def test_errors_are_the_family():
    assert issubclass(InvalidParameterError, DescentlabError)
    assert issubclass(InvalidParameterError, ValueError)


def test_unknown_name_lists_numbered_families_as_ranges():
    from descentlab.errors import UnknownNameError

    names = ["ackley", *(f"bbob_f{i}" for i in range(1, 25)), "levi13", "f2", "f3"]
    msg = str(UnknownNameError("landscape", "x", names))
    assert msg == "unknown landscape 'x'; valid: ackley, bbob_f1..bbob_f24, f2, f3, levi13"
