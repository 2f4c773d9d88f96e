"""CLI and API agree on the gradient stop: an optimizer that moves at critical points, started
exactly at a saddle, escapes in both unless a --grad-tol is asked for."""

from __future__ import annotations

import json

import numpy as np

from descentlab.cli import main
from descentlab.engine import run
from descentlab.landscapes import get_landscape

DW = get_landscape("double_well")  # saddle at the origin, minima at (±1, 0)


def cli_json(capsys, *extra):
    capsys.readouterr()
    argv = ["run", "--landscape", "double_well", "--optimizer", "perturbed_gd", "--start", "0,0"]
    assert main([*argv, "--steps", "200", "--seed", "0", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)[0]


def test_perturbed_gd_at_a_saddle_escapes_from_the_cli_as_from_the_api(capsys):
    api = run(DW, "perturbed_gd", [[0.0, 0.0]], 200, seed=0)
    assert int(api.stop_step[0]) == 200  # ran: the gradient stop is off for this optimizer
    assert abs(abs(float(api.final_points[0, 0])) - 1) < 1e-2  # reached a minimum
    out = cli_json(capsys)
    assert out["steps"] == int(api.stop_step[0])
    np.testing.assert_array_equal(out["end"], api.final_points[0])
    assert out["outcome"]["kind"] == "global_minimum"
    # asking for a gradient stop stops it at step 0, in both
    stopped = run(DW, "perturbed_gd", [[0.0, 0.0]], 200, seed=0, grad_tol=1e-8)
    assert int(stopped.stop_step[0]) == 0
    out = cli_json(capsys, "--grad-tol", "1e-8")
    assert out["steps"] == 0 and out["outcome"]["kind"] == "saddle"
    # and plain gradient descent keeps the 1e-8 default: stops at once at the saddle
    capsys.readouterr()
    argv = ["run", "--landscape", "double_well", "--optimizer", "gd", "--start", "0,0"]
    assert main([*argv, "--steps", "50", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["steps"] == 0
