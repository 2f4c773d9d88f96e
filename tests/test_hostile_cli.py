"""A table of bad CLI invocations: each exits 2 with one line on stderr, no traceback, at once.

Run in-process (``descentlab.cli.main``) to stay fast; two of them also through a real
``python -m descentlab`` process, to prove the entry point itself prints no traceback. Every
CLI case listed in issue 13 is a row here: huge seeds, one_cycle shorter than the run, sizes
checked after allocation, ``critical`` on Rastrigin in 12 dimensions, unwritable output
folders (refused before any compute), a spec with an empty item, a repeated option.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from descentlab.cli import main

BIG = str(2**70)
RUN = ["run", "--landscape", "double_well", "--optimizer", "gd", "--steps", "5"]

CASES: list[tuple[list[str], str]] = [
    # a spec with an empty item, a repeated option
    (["run", "--landscape", "double_well", "--optimizer", "gd:lr=0.1,,"], "empty item"),
    (["run", "--landscape", "double_well", "--optimizer", "gd:"], "nothing after ':'"),
    (["run", "--landscape", "double_well:", "--optimizer", "gd"], "nothing after ':'"),
    ([*RUN, "--landscape", "himmelblau"], "--landscape is given twice"),
    ([*RUN, "--steps", "6"], "--steps is given twice"),
    (["critical", "--landscape", "himmelblau", "--seed", "1", "--seed", "2"], "given twice"),
    (["critical", "--formula", "x**2", "--formula", "y**2"], "--formula is given twice"),
    # seeds and integers beyond 64 bits
    ([*RUN, "--seed", BIG], "2^63 - 1"),
    ([*RUN, "--seed", "-1"], "2^63 - 1"),
    (["critical", "--landscape", "himmelblau", "--seed", BIG], "2^63 - 1"),
    (["run", "--landscape", f"random_quadratic_saddle:seed={BIG}", "--optimizer", "gd"], "64 bits"),
    (["run", "--landscape", f"gaussian_wells:seed={2**63}", "--optimizer", "gd"], "2^63 - 1"),
    (["critical", "--landscape", "random_quadratic_saddle", "--param", f"seed={BIG}"], "64 bits"),
    (["run", "--landscape", "double_well", "--optimizer", f"gd:lr={BIG}"], "64 bits"),
    # schedules
    (
        [*RUN[:-1], "20", "--schedule", "one_cycle:max_lr=0.1,total_steps=10"],
        "shorter than the run's 20 steps",
    ),
    ([*RUN, "--schedule", "nope"], "unknown schedule"),
    ([*RUN, "--schedule", "cosine:T_max=-3"], "T_max"),
    # sizes refused before allocation
    (["run", "--landscape", "quadratic_bowl:dim=1000000000000", "--optimizer", "gd"], "limit dim"),
    (
        ["run", "--landscape", "rosenbrock", "--param", "dim=1000000000000", "--optimizer", "gd"],
        "limit dim",
    ),
    (["critical", "--formula", "x1", "--dim", "100000000000"], "limit dim"),
    (["critical", "--landscape", "rastrigin:dim=12"], "limit critical_work"),
    (["critical", "--landscape", "random_fourier_field:n_features=10000000"], "limit n_features"),
    (
        ["run", "--landscape", "random_fourier_field:n_features=100000", "--optimizer", "gd"],
        "limit",
    ),
    (["run", "--landscape", "gaussian_wells:n_wells=3000", "--optimizer", "gd"], "limit n_wells"),
    (["run", "--landscape", "gaussian_wells:dim=3000", "--optimizer", "gd"], "limit dense_dim"),
    (["run", "--landscape", "random_quadratic_saddle:dim=6000", "--optimizer", "gd"], "dense_dim"),
    ([*RUN[:-1], "1000000000"], "limit steps"),
    ([*RUN, "--starts", "random:5000000"], "limit rows"),
    ([*RUN, "--starts", "random:1000000000"], "too many"),
    (["figure", "contour", "--formula", "x**2", "--dim", "1000000000000"], "limit dim"),
    # output folders and files: refused before any compute
    (["experiment", "escape", "--quick", "--out", "/proc/nope"], "cannot write"),
    (["report", "--quick", "--out", "/proc/nope"], "cannot write"),
    (["train", "--out", "/proc/nope"], "cannot write"),
    (["figure", "contour", "--out", "/proc/nope"], "cannot write"),
    (["demo", "--out", "/proc/nope"], "cannot write"),
    ([*RUN, "--save", "/proc/nope/runs.npz"], "cannot write"),
    ([*RUN, "--csv", "/proc/nope/runs.csv"], "cannot write"),
    # plain mistakes
    (["run", "--landscape", "nope", "--optimizer", "gd"], "unknown landscape"),
    (["run", "--landscape", "double_well", "--optimizer", "nope"], "unknown optimizer"),
    ([*RUN, "--start", "1,2,3"], "expected 2 numbers"),
    ([*RUN, "--lrs", "a,b"], "comma-separated"),
    (["critical", "--landscape", "himmelblau", "--domain", "1,2,3"], "pairs"),
    (["critical", "--formula", "__import__('os')"], "unknown function '__import__'"),
    (["run", "--formula", "x**", "--optimizer", "gd"], "syntax error"),
    (["train", "--seed", BIG, "--out", "unused"], "2^63 - 1"),
]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "words"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_invocation_is_exit_2_one_line(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written where the tests run
    t0 = time.perf_counter()
    rc, err = _run(argv, capsys)
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and err.startswith("descentlab: error:"), err
    assert words in err, err
    assert time.perf_counter() - t0 < 10.0  # refused up front (the machine may be busy)


def test_unwritable_output_is_refused_before_compute(capsys, tmp_path, monkeypatch):
    """The refusal comes before the experiment runs (41 s of compute in issue 13)."""
    import descentlab.experiments as experiments

    calls = []
    monkeypatch.setattr(experiments, "run_experiment", lambda *a, **k: calls.append(a))
    rc, err = _run(["experiment", "escape", "--quick", "--out", "/proc/nope"], capsys)
    assert rc == 2 and calls == [] and "cannot write '/proc/nope'" in err


def test_a_file_in_the_way_of_an_output_folder(capsys, tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    rc, err = _run(["figure", "contour", "--out", str(blocker / "sub")], capsys)
    assert rc == 2 and "is a file, not a folder" in err
    assert blocker.read_text() == "x"


def test_help_shows_the_limits_table(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Limits" in out
    for name in ("dim", "dense_dim", "n_features", "n_wells", "critical_work", "seed"):
        assert f"  {name} " in out


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--landscape", "double_well", "--optimizer", "gd:lr=0.1,,"],
        ["experiment", "escape", "--quick", "--out", "/proc/nope"],
    ],
)
def test_real_process_prints_one_line(argv):
    r = subprocess.run(
        [sys.executable, "-m", "descentlab", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
