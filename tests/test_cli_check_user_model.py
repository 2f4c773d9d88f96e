"""descentlab check --model FILE.py[:FUNCTION] --weights --data: a user's own network.

Oracle: least squares. For f(x) = w.x + b with the mean squared error, the closed-form solution
(lstsq on [X, 1]) is the exact minimum, and the Hessian is 2/N [X 1]^T [X 1]: its extreme
eigenvalues are known. Moving the weights along the Hessian's top eigenvector leaves a
gradient, so the verdict there is not a minimum."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import descentlab.cli as cli

torch.set_num_threads(1)
MODEL_FILE = """
import torch

def build_model():
    return torch.nn.Linear(3, 1).double()

def make_wide():
    return torch.nn.Linear(5, 1).double()
"""


@pytest.fixture
def files(tmp_path):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 3, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.1 * torch.randn(
        64, 1, generator=g, dtype=torch.float64
    )
    A = torch.cat([X, torch.ones(64, 1, dtype=torch.float64)], 1)
    sol = torch.linalg.lstsq(A, y).solution
    (tmp_path / "net.py").write_text(MODEL_FILE)
    state = {"weight": sol[:3].T.clone(), "bias": sol[3].clone()}
    torch.save({"epoch": 3, "model_state_dict": state}, tmp_path / "ckpt.pt")
    torch.save((X, y), tmp_path / "data.pt")
    np.savez(tmp_path / "data.npz", X=X.numpy(), y=y.numpy())
    H = 2 / 64 * A.T @ A
    return tmp_path, torch.linalg.eigvalsh(H), state


@pytest.mark.parametrize("data", ["data.pt", "data.npz"])
def test_least_squares_solution_is_a_minimum_with_the_known_curvature(files, data, capsys):
    d, ev, _ = files
    argv = ["check", "--model", f"{d / 'net.py'}", "--weights", str(d / "ckpt.pt"),
            "--data", str(d / data), "--loss", "mse", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["verdict"] == "minimum"
    assert res["lambda_min"] == pytest.approx(float(ev[0]), rel=1e-8)
    assert res["lambda_max"] == pytest.approx(float(ev[-1]), rel=1e-8)
    assert res["grad_norm"] < 1e-10


def test_away_from_the_solution_is_not_a_minimum(files, capsys):
    d, _, state = files
    moved = {k: v + 0.5 for k, v in state.items()}
    torch.save(moved, d / "moved.pt")  # a bare state_dict this time
    argv = ["check", "--model", f"{d / 'net.py'}:build_model", "--weights", str(d / "moved.pt"),
            "--data", str(d / "data.pt"), "--loss", "mse", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["verdict"] != "minimum" and res["grad_norm"] > 1e-2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "{d}/net.py:nope", "--weights", "{d}/ckpt.pt", "--data", "{d}/data.pt"],
         "has no function 'nope'"),
        (["--model", "{d}/net.py:make_wide", "--weights", "{d}/ckpt.pt", "--data", "{d}/data.pt"],
         "does not fit the model"),
        (["--model", "{d}/net.py", "--data", "{d}/data.pt"], "--model needs --weights"),
        (["--model", "{d}/data.pt", "--weights", "{d}/ckpt.pt", "--data", "{d}/data.pt"],
         "is not a Python file"),
        (["--model", "{d}/net.py", "--weights", "{d}/ckpt.pt", "--data", "{d}/ckpt.pt"],
         "must hold (X, y)"),
    ],
)  # fmt: skip
def test_bad_user_model_input_is_one_line_exit_2(files, extra, message, capsys):
    d, _, _ = files
    argv = ["check", *[a.format(d=d) for a in extra], "--loss", "mse"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
