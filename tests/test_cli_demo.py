"""``descentlab demo`` through a subprocess: table, files, JSON, timing and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from descentlab.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "descentlab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


@pytest.mark.slow
def test_demo_prints_the_story_and_writes_every_file(tmp_path):
    t0 = time.perf_counter()
    r = _cli("demo", "--out", str(tmp_path / "out"))
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "stalled at the saddle" in out and "drawn to the saddle" in out
    assert "Stalled at the saddle: gd from A." in out
    assert "Drawn to the saddle: newton from A." in out
    line = next(s for s in out.splitlines() if s.startswith("Reached the global minimum:"))
    assert "momentum from A" in line and "perturbed_gd from A" in line and "adam from A" in line
    assert "momentum from B" in line
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(
        [
            "gradient-descent.png",
            "critical-points.png",
            "contour.png",
            "surface.png",
            "curves.png",
            "basins.png",
            "race.gif",
        ]
        + (["race.mp4"] if any(n == "race.mp4" for n in names) else [])
    )
    for n in names:
        p = tmp_path / "out" / n
        if n.endswith(".png"):
            assert p.read_bytes()[:8] == PNG_MAGIC
            with Image.open(p) as im:
                assert min(im.size) > 300
        elif n.endswith(".gif"):
            with Image.open(p) as im:
                assert im.format == "GIF" and im.n_frames > 10
        assert str(tmp_path / "out" / n) in out  # says where
    assert elapsed < 60


def test_demo_json_svg_without_animation(tmp_path, capsys):
    rc = main(
        [
            "demo",
            "--out",
            str(tmp_path),
            "--json",
            "--no-animation",
            "--no-basins",
            "--format",
            "svg",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    data = json.loads(out)
    assert data["landscape"] == "tilted_double_well"
    kinds = {(x["optimizer"], x["start_name"]): x["outcome"] for x in data["runs"]}
    assert kinds[("gd", "A")] == "saddle" and kinds[("newton", "A")] == "saddle"
    assert kinds[("momentum", "A")] == kinds[("perturbed_gd", "A")] == "global_minimum"
    assert set(data["files"]) == {
        "gradient-descent",
        "critical-points",
        "contour",
        "surface",
        "curves",
    }
    for p in data["files"].values():
        assert p.endswith(".svg")
        assert ET.parse(p).getroot().tag.endswith("svg")


def test_demo_bad_input_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    r = _cli("demo", "--out", str(tmp_path / "f"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "is a file" in r.stderr
    assert "Traceback" not in r.stderr
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--format", "bmp"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "Examples:" in out and "descentlab demo --out" in out
