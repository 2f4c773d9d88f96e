"""``descentlab run``: output agrees with the library; every bad input is exit 2 and one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from descentlab.analysis import diagnose
from descentlab.cli import main
from descentlab.engine import grid_starts, run
from descentlab.landscapes import get_landscape
from descentlab.trajectory import Race, Trajectory, load

DW = get_landscape("double_well")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "descentlab", "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_subprocess_json_matches_library_and_tells_saddle_from_minimum():
    p = cli(
        "--landscape",
        "double_well",
        "--optimizer",
        "newton",
        "--optimizer",
        "gd:lr=0.05",
        "--start",
        "0.3,0.5",
        "--start",
        "-0.4,-0.2",
        "--steps",
        "500",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    runs = json.loads(p.stdout)
    assert [r["optimizer"] for r in runs] == ["newton"] * 2 + ["gd(lr=0.05)"] * 2
    assert [r["outcome"]["kind"] for r in runs] == ["saddle"] * 2 + ["global_minimum"] * 2
    assert [r["outcome"]["index"] for r in runs] == [1, 1, 0, 0]
    for r in runs:
        assert set(r) >= {"optimizer", "start", "end", "loss", "steps", "outcome"}
        assert set(r["outcome"]) >= {"kind", "index", "gap", "step"}
    ref = run(DW, "gd", [[0.3, 0.5], [-0.4, -0.2]], 500, lr=0.05)
    np.testing.assert_array_equal([r["end"] for r in runs[2:]], ref.final_points)
    assert [r["steps"] for r in runs[2:]] == ref.stop_step.tolist()
    assert [r["loss"] for r in runs[2:]] == ref.final_losses.tolist()


def test_subprocess_error_is_exit_2_one_line():
    p = cli("--landscape", "nope", "--optimizer", "gd")
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown landscape 'nope'; valid: " in lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--landscape", "double_well", "--optimizer", "adam:lr=-1"], "lr must be > 0"),
        (["--landscape", "double_well", "--optimizer", "gd", "--start", "1,2,3"], "2 numbers"),
        (["--landscape", "double_well", "--optimizer", "nope"], "valid: "),
        (["--formula", "x**2 + __import__('os')", "--optimizer", "gd"], "error"),
    ],
)
def test_errors_are_exit_2_one_line(args, words, capsys):
    rc = main(["run", *args])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_optimizer_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--landscape", "double_well"])
    assert exc.value.code == 2 and "--optimizer" in capsys.readouterr().err


def test_table_lists_every_run_and_counts(capsys):
    rc = main(
        [
            "run",
            "--landscape",
            "tilted_double_well",
            "--optimizer",
            "gd:lr=0.01",
            "--starts",
            "grid:3x3",
            "--steps",
            "3000",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["optimizer", "start", "end", "loss", "steps", "outcome"]
    L = get_landscape("tilted_double_well")
    d = diagnose(run(L, "gd", grid_starts(L, 3), 3000, lr=0.01), L)
    assert sum("local minimum" in line for line in lines[2:11]) == d.counts()["local_minimum"] > 0
    assert sum("global minimum" in line for line in lines[2:11]) == d.counts()["global_minimum"]
    assert "gd(lr=0.01): global minimum 6, local minimum 3" in out


def test_formula_random_starts_schedule_and_lr_grid(capsys):
    rc = main(
        [
            "run",
            "--formula",
            "(x**2 - 1)**2 + y**2",
            "--domain",
            "-2,2,-1.5,1.5",
            "--optimizer",
            "momentum:lr=0.01,momentum=0.9",
            "--starts",
            "random:4",
            "--lrs",
            "0.01,0.9",
            "--schedule",
            "cosine:T_max=300",
            "--steps",
            "300",
            "--seed",
            "3",
            "--json",
        ]
    )
    assert rc == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["lr"] for r in runs] == [0.01] * 4 + [0.9] * 4
    kinds = [r["outcome"]["kind"] for r in runs]
    assert set(kinds[4:]) == {"diverged"}
    assert all(r["outcome"]["step"] == r["steps"] for r in runs)
    starts = np.array([r["start"] for r in runs[:4]])
    np.testing.assert_array_equal(starts, DW.sample(4, seed=3).numpy())


def test_save_and_csv(tmp_path, capsys):
    args = ["run", "--landscape", "double_well", "--start", "0.5,0.5", "--steps", "20"]
    assert main([*args, "--optimizer", "gd", "--save", str(tmp_path / "one.npz")]) == 0
    assert isinstance(load(tmp_path / "one.npz"), Trajectory)
    rc = main(
        [
            *args,
            "--optimizer",
            "gd",
            "--optimizer",
            "adam",
            "--save",
            str(tmp_path / "two.npz"),
            "--csv",
            str(tmp_path / "two.csv"),
            "--record-every",
            "5",
        ]
    )
    assert rc == 0
    race = Race.load(tmp_path / "two.npz")
    assert race.labels == ["gd", "adam"] and race["gd"].record_steps.tolist() == [0, 5, 10, 15, 20]
    lines = (tmp_path / "two.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 5


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--starts", "grid:axb"], "grid:N"),
        (["--starts", "random:x"], "random:N"),
        (["--starts", "sobol:4"], "grid:N"),
        (["--lrs", "0.1,-1"], "lrs"),
        (["--schedule", "nope"], "valid: "),
        (["--param", "dim=3"], "no parameter"),
        (["--domain", "-1,1"], "--domain applies to --formula"),
    ],
)
def test_bad_options(args, words, capsys):
    rc = main(["run", "--landscape", "double_well", "--optimizer", "gd", "--steps", "2", *args])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("option", "name"), [("--csv", "runs.csv"), ("--save", "runs.npz")])
def test_unwritable_output_is_exit_2_one_line(option, name, tmp_path, capsys):
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    target = str(blocker / name)
    rc = main(
        ["run", "--landscape", "double_well", "--optimizer", "gd", "--steps", "2", option, target]
    )
    err = capsys.readouterr().err
    assert rc == 2 and f"cannot write {target!r}" in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "x"
