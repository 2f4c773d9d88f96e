"""The top-level package: main entry points re-exported lazily, and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import descentlab as dl

ENTRY_POINTS = {
    "run": "descentlab.engine",
    "grid_starts": "descentlab.engine",
    "random_starts": "descentlab.engine",
    "Trajectory": "descentlab.trajectory",
    "Race": "descentlab.trajectory",
    "diagnose": "descentlab.analysis.diagnose",
    "find_critical_points": "descentlab.analysis.critical",
    "resolve_optimizer": "descentlab.optim.registry",
    "optimizer_names": "descentlab.optim.registry",
    "resolve_schedule": "descentlab.optim.schedules",
    "check_point": "descentlab.nn.check",
    "HessianOperator": "descentlab.nn.hessian",
    "lanczos": "descentlab.nn.spectrum",
}


@pytest.mark.parametrize(("name", "module"), sorted(ENTRY_POINTS.items()))
def test_entry_point_is_the_library_object(name, module):
    import importlib

    assert getattr(dl, name) is getattr(importlib.import_module(module), name)
    assert name in dl.__all__ and name in dir(dl)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dl.nope  # noqa: B018
    assert not hasattr(dl, "nope")


def test_import_loads_no_plotting_compiler_or_scipy_and_no_entry_point_module():
    code = (
        "import sys, json, descentlab; print(json.dumps(sorted(m for m in sys.modules if "
        "m.split('.')[0] in ('matplotlib', 'scipy', 'fastapi') or m.startswith('torch._dynamo') "
        "or m.startswith('torch._inductor') or m in ('descentlab.engine', "
        "'descentlab.analysis.critical', 'descentlab.nn.hessian', 'descentlab.optim'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_docstring_example_through_the_top_level():
    L = dl.get_landscape("double_well")
    traj = dl.run(L, "gd", [[0.3, 0.5]], steps=500, lr=0.05)
    outcome = dl.diagnose(traj, L).outcomes[0]
    assert outcome.kind == "global_minimum"
    assert abs(traj.final_points[0, 0] - 1.0) < 1e-6  # double_well's minimum (1, 0)


def test_package_docstring_example_runs():
    import doctest

    result = doctest.testmod(dl)
    assert result.attempted >= 4 and result.failed == 0
