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


def test_argparse_types_and_key_values():
    import argparse

    from descentlab.cli.common import key_values, nonneg_int, number, positive_int

    assert positive_int("3") == 3 and nonneg_int("0") == 0 and number("-1e-3") == -1e-3
    for f, bad in ((positive_int, "0"), (positive_int, "x"), (nonneg_int, "-1"), (number, "a")):
        with pytest.raises(argparse.ArgumentTypeError):
            f(bad)
    assert key_values(["dim=3", "seed=1"]) == {"dim": 3, "seed": 1}
    with pytest.raises(InvalidParameterError, match="given twice"):
        key_values(["dim=3", "dim=4"])
    with pytest.raises(InvalidParameterError, match="key=value"):
        key_values(["dim"])


def test_negative_values_pass_as_option_values():
    import argparse

    from descentlab.cli.common import allow_negative_values

    p = argparse.ArgumentParser()
    p.add_argument("--domain")
    allow_negative_values(p)
    assert p.parse_args(["--domain", "-2,2,-1e-1,1"]).domain == "-2,2,-1e-1,1"
