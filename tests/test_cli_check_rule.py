"""``descentlab check`` prints the decision rule's numbers, agrees with check_point, and does not
depend on --batch-size."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from descentlab.cli import main
from descentlab.nn import check_point
from descentlab.nn.tasks import build_model, get_task

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("check") / "run"
    args = ["train", "--task", "xor:n=60", "--model", "mlp:hidden=3", "--optimizer", "adam:lr=0.05"]
    args += ["--steps", "30", "--out", str(out), "--json", "--no-slices"]
    assert main(args) == 0
    return out


def test_check_prints_the_rule_and_is_batch_invariant(run_dir, capsys):
    capsys.readouterr()
    assert main(["check", "--run", str(run_dir)]) == 0
    text = capsys.readouterr().out
    for piece in ("g* = max(grad_tol 0.001, 2·SE", "per-sample gradients", "tau = sqrt(2·rho·|g|)"):
        assert piece in text
    assert "Confidence:" in text and "lambda_min" in text
    results = []
    for bs in (None, 7, 25):
        argv = ["check", "--run", str(run_dir), "--json"]
        argv += [] if bs is None else ["--batch-size", str(bs)]
        assert main(argv) == 0
        results.append(json.loads(capsys.readouterr().out))
    first = results[0]
    for r in results[1:]:
        assert r["verdict"] == first["verdict"]
        for key in ("grad_norm", "grad_stderr", "lambda_min", "lambda_max"):
            assert r[key] == pytest.approx(first[key], rel=1e-9)
        assert r["thresholds"]["grad_threshold"] == pytest.approx(
            first["thresholds"]["grad_threshold"], rel=1e-9
        )
    assert set(first["evidence"]) >= {"grad_stderr", "lambda_min", "lambda_max", "lanczos"}
    assert first["confidence"] and first["rule"].startswith("stationary iff")
    # the same numbers as the API on the saved weights
    summary = json.loads((run_dir / "summary.json").read_text())
    task = get_task("xor", n=60)
    net = build_model("mlp", task, seed=int(summary.get("seed", 0)), hidden=3)
    net.load_state_dict(torch.load(run_dir / "model.pt"))
    c = check_point(net, nn.CrossEntropyLoss(), (task.X, task.y), weight_decay=summary["l2"])
    assert c.verdict == first["verdict"]
    assert c.grad_stderr == pytest.approx(first["grad_stderr"], rel=1e-9)


def test_check_options_are_validated(run_dir, capsys):
    assert main(["check", "--run", str(run_dir), "--lanczos-max-steps", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lanczos_max_steps" in err[0]
    assert main(["check", "--run", str(run_dir), "--noise-z", "-1"]) == 2
    assert "noise_z" in capsys.readouterr().err
