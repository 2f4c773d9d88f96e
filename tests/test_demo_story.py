"""The demo's printed story in English and Korean (the same facts, a teacher's words)."""

from __future__ import annotations

import pytest

import descentlab.cli as cli
from descentlab.i18n import catalogue
from descentlab.viz.demo import DemoResult, outcome_words

ROWS = [
    {"optimizer": "gd", "start_name": "A", "end": [0.127, 0.016], "loss": 1.03,
     "grad_norm": 2.7e-4, "steps": 280, "verdict": "stalled at the saddle"},
    {"optimizer": "newton", "start_name": "A", "end": [0.127, 0.016], "loss": 1.03,
     "grad_norm": 3e-10, "steps": 4, "verdict": "drawn to the saddle"},
    {"optimizer": "adam", "start_name": "A", "end": [-1.06, 1.12], "loss": -0.51,
     "grad_norm": 3e-6, "steps": 280, "verdict": "reached the global minimum"},
    {"optimizer": "momentum", "start_name": "B", "end": [-1.06, 1.12], "loss": -0.51,
     "grad_norm": 6e-6, "steps": 280, "verdict": "reached the global minimum"},
]  # fmt: skip


def _res() -> DemoResult:
    return DemoResult(landscape=None, race=None, diagnoses={}, rows=ROWS)


def test_english_story() -> None:
    assert _res().story("en") == [
        "Reached the global minimum: adam from A, momentum from B.",
        "Stalled at the saddle: gd from A.",
        "Drawn to the saddle: newton from A.",
    ]


def test_korean_story_and_table() -> None:
    ko = catalogue("ko", "demo")
    story = _res().story("ko")
    assert story == [
        f"{ko['outcome_global']}: A에서 출발한 adam, B에서 출발한 momentum.",
        f"{ko['outcome_stalled']}: A에서 출발한 gd.",
        f"{ko['outcome_drawn']}: A에서 출발한 newton.",
    ]
    table = _res().table("ko").splitlines()
    assert table[0].split()[:3] == [ko["col_optimizer"], ko["col_start"], ko["col_end"]]
    assert outcome_words("stalled at the saddle", "ko") in table[2]
    # columns line up in a terminal: Korean characters take two columns each
    from descentlab.viz.demo import _width

    head_col = _width(table[0][: table[0].index(ko["col_end"])])
    assert {_width(line[: line.index("(")]) for line in table[2:]} == {head_col}
    assert _width("안장") == 4


def test_demo_prints_korean_with_lang(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path) -> None:
    import descentlab.viz.demo as demo_mod

    res = _res()
    res.seconds, res.files = 1.0, {}
    monkeypatch.setattr(demo_mod, "run_demo", lambda *a, **k: res)
    assert cli.main(["--lang", "ko", "demo", "--out", str(tmp_path), "--no-animation"]) == 0
    out = capsys.readouterr().out
    ko = catalogue("ko", "demo")
    assert ko["lesson"] in out and ko["note"] in out
    assert "tilted_double_well 위에서 경주합니다" in out
    monkeypatch.setenv("DESCENTLAB_LANG", "ko")
    assert cli.main(["demo", "--out", str(tmp_path), "--no-animation"]) == 0
    assert ko["lesson"] in capsys.readouterr().out
    monkeypatch.setenv("DESCENTLAB_LANG", "en")
    assert cli.main(["demo", "--out", str(tmp_path), "--no-animation"]) == 0
    assert catalogue("en", "demo")["lesson"] in capsys.readouterr().out
