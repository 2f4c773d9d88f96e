"""A missing optional dependency is named, with the command that installs it."""

from __future__ import annotations

import builtins

import pytest

import descentlab.cli as cli
import descentlab.nn.tasks as tasks
from descentlab.errors import DescentlabError


@pytest.fixture
def no_sklearn(monkeypatch):
    monkeypatch.setattr(tasks, "digits_available", lambda: False)


def test_digits_without_scikit_learn_says_so(no_sklearn) -> None:
    with pytest.raises(DescentlabError, match="needs scikit-learn"):
        tasks.get_task("digits")
    with pytest.raises(DescentlabError, match="unknown task"):  # a real typo is still unknown
        tasks.get_task("digitz")


@pytest.mark.parametrize("command", ["lr-find", "train"])
def test_cli_digits_without_scikit_learn_is_one_line(no_sklearn, command, capsys, tmp_path):
    argv = [command, "--task", "digits", "--steps", "5"] if command == "train" else [
        command, "--task", "digits"]  # fmt: skip
    if command == "train":
        argv += ["--out", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "descentlab: error: the digits task needs scikit-learn, an optional dependency "
        "(pip install scikit-learn)"
    ]


def test_play_without_the_web_extra_is_one_line(monkeypatch, capsys) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name in ("fastapi", "uvicorn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert cli.main(["play", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'descentlab[web]'" in err[0]
