"""``descentlab --help`` and argument errors answer without importing torch (or numpy,
matplotlib, FastAPI): the command line imports its libraries only inside the command that runs.
Timings live in ``benchmarks/bench_cli.py``, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import descentlab

HEAVY = ("torch", "numpy", "matplotlib", "scipy", "fastapi", "pydantic")
SRC = str(Path(descentlab.__file__).parents[1])
COMMANDS = [
    "check",
    "critical",
    "demo",
    "experiment",
    "figure",
    "landscapes",
    "lr-find",
    "play",
    "report",
    "run",
    "train",
]

_PROBE = """
import json, sys
from descentlab.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as e:
    rc = e.code
print(json.dumps({"rc": rc, "heavy": sorted(m for m in HEAVY if m in sys.modules)}))
""".replace("HEAVY", repr(HEAVY))


def _probe(*argv: str) -> tuple[dict, str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def test_top_level_help_imports_nothing_heavy():
    out, _ = _probe("--help")
    assert out == {"rc": 0, "heavy": []}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_imports_nothing_heavy(command):
    out, _ = _probe(command, "--help")
    assert out == {"rc": 0, "heavy": []}


@pytest.mark.parametrize(
    "argv",
    [
        ("run", "--landscape", "himmelblau", "--steps", "many"),
        ("critical",),
        ("nosuchcommand",),
        ("lr-find", "--landscape", "himmelblau", "--steps", "-3"),
    ],
)
def test_argument_errors_exit_2_with_one_line_and_import_nothing_heavy(argv):
    out, err = _probe(*argv)
    assert out == {"rc": 2, "heavy": []}
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("descentlab: error:")


def test_python_m_descentlab_help_does_not_import_torch():
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "descentlab", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0 and "usage: descentlab" in p.stdout
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert "descentlab.cli" in imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


def test_the_public_api_still_resolves_lazily():
    code = (
        "import sys, descentlab as dl; assert 'torch' not in sys.modules; "
        "L = dl.get_landscape('himmelblau'); assert isinstance(L, dl.Landscape); "
        "assert 'torch' in sys.modules and dl.CriticalPoint is type(L.critical_points[0])"
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
