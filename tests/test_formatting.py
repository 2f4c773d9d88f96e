"""descentlab.formatting: the one number/table formatter (CLI, experiments, reports)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

import descentlab
from descentlab.formatting import format_cell, format_number, format_table, markdown_table


@pytest.mark.parametrize(
    ("x", "digits", "text"),
    [
        (0.0, 6, "0"),
        (-0.0, 6, "0"),
        (1.0, 6, "1"),
        (123456.0, 6, "123456"),
        (1e6, 6, "1.000e+06"),
        (1e-4, 6, "0.0001"),
        (9.99e-5, 6, "9.990e-05"),
        (-2.5e-9, 4, "-2.5e-09"),
        (math.pi, 4, "3.142"),
        (math.inf, 6, "inf"),
    ],
)
def test_format_number(x, digits, text):
    assert format_number(x, digits) == text
    # the rule stated in the docstring
    if x and math.isfinite(x) and 1e-4 <= abs(x) < 1e6:
        assert float(text) == float(f"{x:.{digits}g}")


def test_format_cell_and_tables():
    assert format_cell([1.0, (2.0, "a")]) == "(1, (2, a))"
    assert format_cell(3) == "3" and format_cell(None) == "None"
    t = format_table(["a", "bb"], [[1.0, "x"], [123456.0, "yy"]]).splitlines()
    assert t == ["a       bb", "------  --", "1       x", "123456  yy"]
    r = format_table(["n", "v"], [[1, 2.5], [10, 0.125]], right={0, 1}).splitlines()
    assert r == [" n      v", "--  -----", " 1    2.5", "10  0.125"]
    assert markdown_table(["a"], [[1e-9]]) == "| a |\n|---|\n| 1.000e-09 |"


def test_the_cli_and_the_experiments_share_it_and_no_library_module_imports_the_cli():
    from descentlab.cli import common
    from descentlab.experiments.base import Table

    assert common.format_table is format_table
    assert Table("t", ["x"], [[0.5]]).to_markdown() == "**t**\n\n| x |\n|---|\n| 0.5 |"
    root = Path(descentlab.__file__).parent
    for path in root.rglob("*.py"):
        if path.parts[-2] == "cli" or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            assert not any(n.startswith("descentlab.cli") for n in names), path
