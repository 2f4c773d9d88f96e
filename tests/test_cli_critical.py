"""``descentlab critical`` through a real subprocess: JSON schema, table, errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from descentlab.landscapes import get_landscape

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "descentlab", "critical", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )


def test_json_schema_and_values_match_the_catalogue():
    r = run("--landscape", "himmelblau", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, list) and len(data) == 9
    for item in data:
        assert set(item) == {"point", "value", "kind", "index", "eigenvalues", "is_global"}
        assert isinstance(item["point"], list) and len(item["point"]) == 2
        assert all(isinstance(x, float) for x in item["point"] + item["eigenvalues"])
        assert isinstance(item["value"], float)
        assert item["kind"] in ("minimum", "maximum", "saddle", "degenerate")
        assert isinstance(item["index"], int) and isinstance(item["is_global"], bool)
    known = get_landscape("himmelblau").critical_points
    for c in known:
        dist = [np.abs(np.subtract(item["point"], c.point)).max() for item in data]
        item = data[int(np.argmin(dist))]
        assert min(dist) <= 1e-6
        assert (item["kind"], item["index"], item["is_global"]) == (c.kind, c.index, c.is_global)


def test_formula_table_with_negative_domain_and_params():
    r = run("--formula", "x**4 - 2*x**2 + y**2", "--domain", "-2,2,-1.5,1.5", "--starts", "64")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("formula (d=2) on [-2, 2] x [-1.5, 1.5]: 3 critical points")
    assert lines[1].split()[:4] == ["#", "point", "value", "kind"]
    assert len(lines) == 6
    for line, kind in zip(lines[3:], ["minimum", "minimum", "saddle"], strict=True):
        assert f" {kind} " in line
    assert lines[3].split()[1:3] == ["(-1,", "0)"] and lines[3].rstrip().endswith("yes")

    r = run("--landscape", "styblinski_tang", "--param", "dim=3", "--json", "--seed", "3")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data) == 27
    assert sorted(d["index"] for d in data) == [0] * 8 + [1] * 12 + [2] * 6 + [3]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--landscape", "himmelblow"], "valid: ackley, bbob_f1..bbob_f24, beale"),
        (["--formula", "x**2 + (y"], "position"),
        (["--formula", "x + y", "--domain", "2,1"], "lo < hi"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle):
    r = run(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("descentlab: error:")
    assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--formula", "x + y", "--domain", "1,2,3"], "--domain"),
        (["--formula", "x + y", "--domain", "a,b"], "comma-separated numbers"),
        (["--landscape", "booth", "--domain", "0,1,0,1,0,1"], "dimension 2"),
        (["--landscape", "rosenbrock", "--param", "depth=3"], "accepted: dim=2"),
        (["--landscape", "rosenbrock", "--param", "dim"], "key=value"),
        (["--landscape", "booth", "--starts", "0"], "--starts"),
        (["--landscape", "booth", "--seed", "-1"], "--seed"),
        (["--formula", "sin(x)", "--param", "dim=2"], "--param"),
        (["--landscape", "booth", "--dim", "2"], "--dim"),
        (["--formula", "foo(x)"], "allowed functions"),
        (["--landscape", "booth", "--formula", "x"], "not allowed with argument"),
        ([], "one of the arguments --landscape --formula is required"),
    ],
)
def test_bad_input_in_process(args, needle, capsys):
    from descentlab.cli import main

    try:
        rc = main(["critical", *args])
    except SystemExit as exc:  # argparse's own errors exit directly
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("descentlab: error:") and needle in lines[0]
