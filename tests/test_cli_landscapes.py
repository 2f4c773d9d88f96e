"""``descentlab landscapes``: table and JSON match the catalogue; bad input: one line, exit 2."""

from __future__ import annotations

import json

from descentlab.cli import main
from descentlab.landscapes import get_landscape, landscape_names


def test_table_lists_every_landscape_with_counts(capsys):
    assert main(["landscapes"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:7] == [
        "name",
        "dim",
        "minima",
        "saddles",
        "maxima",
        "degenerate",
        "complete",
    ]
    rows = {ln.split()[0]: ln.split() for ln in lines[2:] if ln.strip() and not ln.startswith(" ")}
    for name in landscape_names():
        assert name in rows, name
    # himmelblau: 4 minima, 4 saddles, 1 maximum, 0 degenerate, complete
    assert rows["himmelblau"][1:7] == ["2", "4", "4", "1", "0", "yes"]
    assert rows["rastrigin"][1:3] == ["2", "(any)"]
    assert rows["monkey_saddle"][2:7] == ["0", "0", "0", "1", "yes"]
    assert rows["ackley"][7] == "no"


def test_json_is_the_list_of_info(capsys):
    assert main(["landscapes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == landscape_names()
    by_name = {d["name"]: d for d in data}
    for name in ("himmelblau", "styblinski_tang", "easom", "plateau"):
        assert by_name[name] == json.loads(json.dumps(get_landscape(name).info()))
    assert by_name["himmelblau"]["counts"] == {
        "minimum": 4,
        "maximum": 1,
        "saddle": 4,
        "degenerate": 0,
    }
    assert by_name["simple_saddle"]["global_min_value"] is None


def test_one_landscape_with_parameters(capsys):
    assert main(["landscapes", "--landscape", "styblinski_tang:dim=4", "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["dim"] == 4 and info["params"] == {"dim": 4}
    assert info["counts"] == {"minimum": 16, "maximum": 1, "saddle": 64, "degenerate": 0}
    assert main(["landscapes", "--landscape", "rosenbrock:dim=5"]) == 0
    out = capsys.readouterr().out
    assert "rosenbrock" in out and "5 (any)" in out


def test_bad_input_is_one_line_and_exit_2(capsys):
    for argv, needle in [
        (["landscapes", "--landscape", "himmelbau"], "valid: ackley"),
        (["landscapes", "--landscape", "rosenbrock:dim=1"], "dim must be an integer >= 2"),
        (["landscapes", "--landscape", "rosenbrock:size=3"], "accepted: dim=2"),
        (["landscapes", "--landscape", "rosenbrock:dim"], "expected key=value"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("descentlab: error:") and needle in err, err
        assert len(err.strip().splitlines()) == 1


def test_help_has_examples(capsys):
    try:
        main(["landscapes", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and "descentlab landscapes --json" in out


def test_too_large_a_set_is_reported_not_failed(capsys):
    assert main(["landscapes", "--landscape", "styblinski_tang:dim=20", "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["counts"] is None and "3^20 = 3486784401" in info["note"]
    assert set(info) == set(get_landscape("himmelblau").info()) | {"note"}
    assert info["global_min_value"] == get_landscape("styblinski_tang", dim=20).global_min_value
    assert main(["landscapes", "--landscape", "styblinski_tang:dim=20"]) == 0
    out = capsys.readouterr().out
    assert "too many to list" in out and "20 (any)" in out
