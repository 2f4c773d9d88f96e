"""``descentlab figure``: every kind writes a valid file; bad input is exit 2 and one line.

Most cases call ``descentlab.cli.main`` in-process (the parser and handlers are the same code a
subprocess runs); two go through a real subprocess to check the installed entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET

import pytest
import torch
from PIL import Image

from descentlab.cli import main

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _files(out: str) -> list[str]:
    return json.loads(out)["files"]


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("gradient-descent", ["--steps", "6"]),
        ("critical-points", []),
        ("contour", ["--steps", "40", "--starts", "random:2"]),
        ("surface", ["--steps", "40", "--start", "0.5,-0.5"]),
        ("curves", ["--steps", "40", "--start", "0.5,-0.5", "--start", "-1.5,2"]),
        ("basins", ["--landscape", "double_well", "--starts", "grid:5", "--steps", "60"]),
        (
            "lr-sweep",
            [
                "--landscape",
                "quadratic_bowl",
                "--starts",
                "grid:3",
                "--lrs",
                "0.5,2.5",
                "--steps",
                "30",
            ],
        ),
    ],
)
def test_each_kind_writes_a_valid_png(tmp_path, capsys, kind, extra):
    rc, out, err = _run(capsys, "figure", kind, "--out", str(tmp_path), "--json", *extra)
    assert rc == 0, err
    (path,) = _files(out)
    assert path.startswith(str(tmp_path)) and path.endswith(".png") and kind in path
    data = open(path, "rb").read()
    assert data[:8] == PNG_MAGIC
    with Image.open(path) as im:
        assert im.size[0] > 400 and im.size[1] > 300


def test_svg_and_plain_output(tmp_path, capsys):
    rc, out, _ = _run(
        capsys, "figure", "critical-points", "--format", "svg", "--out", str(tmp_path)
    )
    assert rc == 0
    path = tmp_path / "critical-points-tilted_double_well.svg"
    assert out.strip() == f"wrote {path}"
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert 'id="critical:saddle"' in path.read_text()


def test_animation_kind_writes_a_gif(tmp_path, capsys):
    rc, out, err = _run(
        capsys, "figure", "animation", "--start", "0.19,-0.5", "--steps", "20", "--out",
        str(tmp_path), "--json",
    )  # fmt: skip
    assert rc == 0, err
    gif = next(p for p in _files(out) if p.endswith(".gif"))
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames > 5


def test_formula_landscape(tmp_path, capsys):
    rc, out, err = _run(
        capsys, "figure", "contour", "--formula", "x**4 - 2*x**2 + y**2", "--domain",
        "-2,2,-1.5,1.5", "--start", "0.1,1", "--steps", "30", "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert rc == 0, err
    assert _files(out)[0].endswith("contour-formula.png")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["contour", "--landscape", "nope"], "unknown landscape 'nope'; valid: "),
        (["contour", "--optimizer", "foo"], "unknown optimizer 'foo'; valid: "),
        (["contour", "--optimizer", "gd:lr=-1"], "lr"),
        (["surface", "--landscape", "rosenbrock", "--param", "dim=3"], "needs a 2-D landscape"),
        (["contour", "--starts", "hex:4"], "--starts must be grid:N"),
        (["basins", "--start", "0,0"], "full grid"),
        (["lr-sweep", "--lrs", "0,1"], "--lrs must be positive"),
        (["lr-sweep", "--optimizer", "gd:lr=0.1"], "give --lrs, not lr="),
        (["lr-sweep", "--optimizer", "gd", "--optimizer", "adam"], "one --optimizer"),
        (["gradient-descent", "--start", "5"], "start must lie in the domain"),
        (["gradient-descent", "--lr", "0"], "lr must be > 0"),
        (["critical-points", "--formula", "x**2 + y**2", "--domain", "-1,1,-1,1"], "no known"),
    ],
)
def test_bad_input_is_exit_2_with_one_clear_line(tmp_path, capsys, argv, message):
    rc, _, err = _run(capsys, "figure", *argv, "--out", str(tmp_path))
    assert rc == 2
    assert err.startswith("descentlab: error: ") and err.count("\n") == 1
    assert message in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "descentlab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_help_lists_kinds_and_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["figure", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and "descentlab figure gradient-descent" in out
    assert all(k in out for k in ("critical-points", "basins", "lr-sweep", "animation"))
    with pytest.raises(SystemExit) as exc:
        main(["figure", "wat"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_subprocess_success_and_error(tmp_path):
    r = _cli("figure", "gradient-descent", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    (path,) = json.loads(r.stdout)["files"]
    assert open(path, "rb").read(8) == PNG_MAGIC
    (tmp_path / "f").write_text("x")
    r = _cli("figure", "contour", "--out", str(tmp_path / "f"), "--steps", "5")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is a file" in r.stderr
    assert "Traceback" not in r.stderr
