"""Spec parsing shared by CLI commands."""

import pytest

from descentlab.cli.common import format_table, parse_floats, parse_spec
from descentlab.errors import InvalidParameterError


def test_parse_spec():
    assert parse_spec("adam:lr=0.01,betas=0.9;0.99,amsgrad=true") == (
        "adam",
        {"lr": 0.01, "betas": (0.9, 0.99), "amsgrad": True},
    )
    assert parse_spec("gd") == ("gd", {})
    assert parse_spec("cosine:T_max=500") == ("cosine", {"T_max": 500})


@pytest.mark.parametrize("bad", [":lr=1", "adam:lr", "adam:=3"])
def test_parse_spec_errors(bad):
    with pytest.raises(InvalidParameterError):
        parse_spec(bad)


def test_parse_floats():
    assert parse_floats("1, -2.5", "start", 2) == [1.0, -2.5]
    with pytest.raises(InvalidParameterError, match="expected 2 numbers"):
        parse_floats("1", "start", 2)
    with pytest.raises(InvalidParameterError, match="finite"):
        parse_floats("nan,1", "start")
    with pytest.raises(InvalidParameterError, match="comma-separated"):
        parse_floats("a,b", "start")


def test_format_table_aligns():
    t = format_table(["a", "bb"], [[1.0, "x"], [123456.0, "yy"]]).splitlines()
    assert len({len(line) for line in t[:2]}) == 1
    assert t[2].startswith("1 ")


def test_parse_spec_refuses_a_repeated_key_and_hints_at_tuples():
    with pytest.raises(InvalidParameterError, match="'lr' is given twice"):
        parse_spec("adam:lr=0.1,lr=0.2", "optimizer")
    with pytest.raises(InvalidParameterError, match=r"written a;b, e\.g\. betas=0\.9;0\.999"):
        parse_spec("adam:betas=(0.9,0.999)", "optimizer")
    assert parse_spec("adam:betas=(0.9;0.999)")[1] == {"betas": (0.9, 0.999)}
