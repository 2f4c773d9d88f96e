"""Global CLI options: --threads (one torch thread by default), --lang, train's default --out."""

from __future__ import annotations

import pytest
import torch

import descentlab.cli as cli
from descentlab.i18n import current_lang


def _probe_main(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict:
    """Run ``cli.main(argv)`` with the ``landscapes`` command replaced by a probe that records the
    torch thread count and the message language the command sees."""
    seen: dict = {}
    real = cli.build_parser

    def parser_with_probe():
        p = real()
        sub = next(a for a in p._actions if a.dest == "command")
        sub.choices["landscapes"].set_defaults(
            func=lambda args: seen.update(threads=torch.get_num_threads(), lang=current_lang())
        )
        return p

    monkeypatch.setattr(cli, "build_parser", parser_with_probe)
    seen["rc"] = cli.main(argv)
    return seen


def test_one_thread_by_default_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESCENTLAB_THREADS", raising=False)
    before = torch.get_num_threads()
    assert _probe_main(monkeypatch, ["landscapes"])["threads"] == 1
    assert torch.get_num_threads() == before


def test_threads_option_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _probe_main(monkeypatch, ["--threads", "2", "landscapes"])["threads"] == 2
    monkeypatch.setenv("DESCENTLAB_THREADS", "2")
    assert _probe_main(monkeypatch, ["landscapes"])["threads"] == 2


def test_bad_threads_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert _probe_main(monkeypatch, ["--threads", "0", "landscapes"])["rc"] == 2
    monkeypatch.setenv("DESCENTLAB_THREADS", "many")
    assert _probe_main(monkeypatch, ["landscapes"])["rc"] == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "descentlab: error: DESCENTLAB_THREADS must be an integer, got 'many'"


def test_lang_option_beats_environment(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("DESCENTLAB_LANG", "en")
    assert _probe_main(monkeypatch, ["--lang", "ko", "landscapes"])["lang"] == "ko"
    assert current_lang() == "en"  # restored after the command
    monkeypatch.setenv("DESCENTLAB_LANG", "ko")
    assert _probe_main(monkeypatch, ["landscapes"])["lang"] == "ko"
    assert _probe_main(monkeypatch, ["--lang", "fr", "landscapes"])["rc"] == 2
    assert "unknown language 'fr'" in capsys.readouterr().err


def test_train_defaults_to_descentlab_out_like_the_other_commands() -> None:
    parser = cli.build_parser()
    train = parser.parse_args(["train"])
    demo = parser.parse_args(["demo"])
    assert train.out == demo.out == "descentlab-out"
