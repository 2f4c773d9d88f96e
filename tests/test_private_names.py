"""No module imports another module's private names (``from descentlab.x import _y``).

A private module of a package (``optim._rng``) may be imported inside that package; the
import-linter contracts in ``pyproject.toml`` check that part. This test checks names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import descentlab

ROOT = Path(descentlab.__file__).parent
PENDING: set[str] = set()  # modules allowed to break the rule for now (none)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_imports_another_modules_private_names():
    offences = []
    for path in sorted(ROOT.rglob("*.py")):
        mod = _module_name(path)
        if mod in PENDING:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module):
                continue
            if not node.module.startswith("descentlab") or node.module == mod:
                continue
            for alias in node.names:
                if not _is_private(alias.name):
                    continue
                # a private *module* of the importer's own package is allowed
                target = f"{node.module}.{alias.name}"
                if (ROOT.parent / Path(*target.split("."))).with_suffix(".py").exists():
                    if mod.startswith(node.module + ".") or mod == node.module:
                        continue
                offences.append(f"{mod} imports {node.module}.{alias.name}")
    assert offences == []
