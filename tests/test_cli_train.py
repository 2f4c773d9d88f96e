"""``descentlab train``: files, JSON summary, a verdict proven by an independent Hessian."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.func import functional_call

from descentlab.cli import main
from descentlab.nn.tasks import build_model, get_task

torch.set_num_threads(1)


def test_train_lbfgs_xor_reaches_a_minimum_proven_by_the_full_hessian(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--task",
            "xor:n=80",
            "--model",
            "mlp:hidden=4",
            "--optimizer",
            # converged tightly: with |g| = 4e-6 (torch's default tolerance_grad) the curvature
            # the gradient can hide, sqrt(2 rho |g|) = 3.9e-4, exceeds lambda_min = 2.8e-4
            "lbfgs:line_search_fn=strong_wolfe,max_iter=50,tolerance_grad=1e-12,"
            "tolerance_change=1e-15",
            "--steps",
            "20",
            "--l2",
            "0.001",
            "--out",
            str(out),
            "--json",
            "--no-slices",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("loss_curve", "decision_boundary", "monitor", "monitor_figure", "check", "model"):
        assert (out / summary["files"][key].split("/")[-1]).exists(), key
    assert summary["verdict"] == "minimum" and summary["accuracy"] == 1.0
    assert summary["optimizer"].startswith("lbfgs(")
    saved = json.loads((out / "summary.json").read_text())
    assert saved["verdict"] == "minimum"
    check = json.loads((out / "check.json").read_text())
    # oracle: rebuild the model from the saved weights, full Hessian by torch.func.hessian
    task = get_task("xor", n=80)
    net = build_model("mlp", task, hidden=4)
    net.load_state_dict(torch.load(out / "model.pt"))
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(t):
        p, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            p[n] = t[i : i + s.numel()].view(s)
            i += s.numel()
        ce = nn.CrossEntropyLoss()(functional_call(net, p, (task.X,)), task.y)
        return ce + 0.5 * 0.001 * (t * t).sum()

    ev = torch.linalg.eigvalsh(torch.func.hessian(loss)(theta))
    assert float(ev[0]) > 0
    assert check["lambda_min"] == pytest.approx(float(ev[0]), rel=1e-6)
    assert check["lambda_max"] == pytest.approx(float(ev[-1]), rel=1e-6)
    g = torch.func.grad(loss)(theta)
    assert check["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-6)
    monitor = json.loads((out / "monitor.json").read_text())
    assert len(monitor["losses"]) == 20 and monitor["probes"][0]["step"] == 0
    # descentlab check on the saved run gives the same verdict and numbers (Lanczos path too)
    assert main(["check", "--run", str(out), "--json", "--exact-below", "0", "--k", "2"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["verdict"] == "minimum"
    assert again["lambda_min"] == pytest.approx(float(ev[0]), rel=1e-6)
    assert again["lambda_max"] == pytest.approx(float(ev[-1]), rel=1e-6)
    assert main(["check", "--run", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_train_adam_writes_slices_and_text(tmp_path, capsys):
    out = tmp_path / "moons"
    rc = main(
        [
            "train",
            "--task",
            "moons:n=60",
            "--model",
            "mlp:hidden=3",
            "--optimizer",
            "adam:lr=0.05",
            "--steps",
            "30",
            "--monitor-every",
            "10",
            "--out",
            str(out),
            "--format",
            "svg",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "verdict:" in text and "wrote" in text
    for name in ("slice_random_plane", "slice_eigenvectors", "pca_path", "loss_curve", "spectrum"):
        assert (out / f"{name}.svg").read_text().lstrip().startswith("<?xml"), name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "nope"], "unknown task 'nope'; valid: blobs, moons, spirals, xor"),
        (["--optimizer", "adamm"], "unknown optimizer 'adamm'"),
        (["--model", "mlp:width=3"], "model 'mlp' has no option 'width'; valid: hidden"),
        (["--model", "cnn"], "a cnn needs image inputs"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--task", "moons:noise=-1"], "noise must be a finite number >= 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    rc = main(["train", *argv, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1
