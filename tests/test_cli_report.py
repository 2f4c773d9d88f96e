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


def test_report_markdown_links_resolve_and_mode_is_stated(tmp_path):
    import re

    out = tmp_path / "rep"
    args = ["report", "--quick", "--only", "nonconvexity", "--out", str(out)]
    p = subprocess.run(
        [sys.executable, "-m", "descentlab", *args], capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) >= 3 and links[0] == "gradient_descent.png"
    assert all((out / link).is_file() for link in links), links
    assert "--quick" in md.splitlines()[2]  # the mode line under the title
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "id='run-mode'" in page and "Quick run" in page
