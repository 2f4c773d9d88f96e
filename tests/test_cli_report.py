"""``descentlab report --json``: stdout is the JSON document alone (status lines on stderr)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_report_json_stdout_is_only_json(tmp_path):
    args = ["report", "--quick", "--only", "nonconvexity", "--out", str(tmp_path), "--json"]
    p = subprocess.run(
        [sys.executable, "-m", "descentlab", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # the whole of stdout
    assert [e["name"] for e in doc["experiments"]] == ["nonconvexity"]
    assert (tmp_path / "report.html").is_file() and doc["report"]["html"].endswith("report.html")
    assert "running nonconvexity (quick) ..." in p.stderr
