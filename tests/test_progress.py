"""Progress: a bar on a terminal, plain lines when piped (inside the CLI), quiet otherwise."""

from __future__ import annotations

import io

import pytest

import descentlab.cli as cli
from descentlab.progress import Progress, reporting, stage


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream: io.StringIO, enabled: bool | None = None) -> str:
    with Progress(4, "racing", enabled=enabled, delay=0.0, stream=stream, line_every=0.0) as bar:
        for _ in range(4):
            bar.update()
    return stream.getvalue()


def test_plain_lines_when_not_a_terminal_inside_reporting() -> None:
    with reporting():
        text = _run(io.StringIO())
    lines = text.splitlines()
    assert "\r" not in text
    assert lines[0].startswith("racing: 1/4 (25%)")
    assert lines[3].startswith("racing: 4/4 (100%)")
    assert lines[-1].startswith("racing: done, 4/4 in ")


def test_quiet_when_not_a_terminal_outside_the_cli_or_disabled() -> None:
    assert _run(io.StringIO()) == ""
    with reporting():
        assert _run(io.StringIO(), enabled=False) == ""


def test_bar_on_a_terminal() -> None:
    text = _run(_Tty())
    assert text.startswith("\rracing [")
    assert "4/4" in text and text.endswith("\n")


def test_plain_lines_are_rate_limited() -> None:
    s = io.StringIO()
    with reporting(), Progress(1000, "x", delay=0.0, stream=s, line_every=60.0) as bar:
        for _ in range(1000):
            bar.update()
    assert len(s.getvalue().splitlines()) == 2  # the first line and the closing line


def test_stage_lines() -> None:
    s = io.StringIO()
    stage("report: 1/4 saddles-dominate", stream=s)
    assert s.getvalue() == ""
    with reporting():
        stage("report: 1/4 saddles-dominate", stream=s)
    assert s.getvalue() == "report: 1/4 saddles-dominate\n"


def test_the_cli_reports_progress_when_piped(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    real = cli.build_parser

    def long_job(args) -> int:
        with Progress(3, "long job", delay=0.0, line_every=0.0) as bar:
            for _ in range(3):
                bar.update()
        return 0

    def parser_with_long_job():
        p = real()
        sub = next(a for a in p._actions if a.dest == "command")
        sub.choices["landscapes"].set_defaults(func=long_job)
        return p

    monkeypatch.setattr(cli, "build_parser", parser_with_long_job)
    assert cli.main(["landscapes"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("long job: 1/3")
    assert err[-1].startswith("long job: done, 3/3")


def test_stage_after_speaks_only_when_the_block_is_slow() -> None:
    import time

    from descentlab.progress import stage_after

    s = io.StringIO()
    with reporting():
        with stage_after("quick step", 0.5, stream=s):
            pass
        assert s.getvalue() == ""
        with stage_after("slow step", 0.05, stream=s):
            time.sleep(0.3)
    assert s.getvalue() == "slow step\n"
    s = io.StringIO()
    with stage_after("outside the CLI", 0.01, stream=s):
        time.sleep(0.1)
    assert s.getvalue() == ""
