"""Every command and snippet of the README runs as written.

The README's fenced blocks are read in order and run in one fresh folder (holding a copy of the
repository's ``examples/``, as the sweep commands name it): ``bash`` blocks line
by line (``\\`` continuations joined) with ``descentlab`` on PATH as this checkout's CLI,
``python`` blocks as scripts (a block whose first line is ``# NAME.py`` is written to that file
instead, for the next blocks to import). Each command must exit 0.

Skipped, with the reason:
* the two install commands: they create a virtual environment and pip-install torch and the
  project (network, minutes); CI runs exactly them (``.ci/run``);
* ``descentlab play``: it serves the playground until stopped (the web tests cover it).

Substituted, with the reason:
* ``descentlab report --quick`` runs ``--only nonconvexity``: the whole quick report takes
  about half a minute on one core (its time is in the final report of the issue that set the
  one-minute budget); the report's rendering is tested in ``test_report.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = {
    "python3 -m venv": "creates a virtual environment and pip-installs (network, minutes)",
    "descentlab play": "serves the playground until stopped",
}
SUBSTITUTE = {"descentlab report --quick": "descentlab report --quick --only nonconvexity"}


def blocks() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```(\w+)\n(.*?)^```", text, flags=re.S | re.M)


def bash_commands(body: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", body)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def test_the_readme_has_the_blocks_this_test_reads() -> None:
    kinds = [k for k, _ in blocks()]
    assert kinds.count("bash") >= 5 and kinds.count("python") >= 4
    cmds = [c for k, b in blocks() if k == "bash" for c in bash_commands(b)]
    assert any(c.startswith("descentlab train") for c in cmds)
    assert any("--model my_net.py" in c for c in cmds)


@pytest.mark.slow
def test_every_readme_command_and_snippet_runs(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if (ROOT / "examples").is_dir():
        shutil.copytree(ROOT / "examples", work / "examples")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "descentlab"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m descentlab "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(work)]),
        "MPLBACKEND": "Agg",
    }
    env.pop("DESCENTLAB_LANG", None)
    ran, skipped = [], []
    for kind, body in blocks():
        if kind == "python":
            first = body.splitlines()[0].strip()
            m = re.fullmatch(r"#\s*(\w+\.py)", first)
            if m:
                (work / m.group(1)).write_text(body)
                continue
            script = work / f"snippet_{len(ran)}.py"
            script.write_text(body)
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, str(script)], cwd=work, env=env,
                               capture_output=True, text=True, timeout=600)  # fmt: skip
            assert p.returncode == 0, f"python snippet failed:\n{body}\n{p.stderr[-2000:]}"
            ran.append(script.name)
            print(f"{time.perf_counter() - t0:6.1f} s  python {first}")
            continue
        if kind != "bash":
            continue
        for cmd in bash_commands(body):
            if any(cmd.startswith(k) for k in SKIP):
                skipped.append(cmd)
                continue
            cmd = SUBSTITUTE.get(cmd, cmd)
            t0 = time.perf_counter()
            p = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True,
                               text=True, timeout=600)  # fmt: skip
            assert p.returncode == 0, f"{cmd!r} exited {p.returncode}:\n{p.stderr[-2000:]}"
            ran.append(cmd)
            print(f"{time.perf_counter() - t0:6.1f} s  {cmd}")
    assert len(skipped) == 3, skipped  # the two installs and play
    assert len(ran) >= 20
