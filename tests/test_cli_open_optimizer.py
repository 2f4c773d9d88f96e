"""--optimizer package.module.Class: any importable torch.optim.Optimizer races from the CLI;
a row-coupling rule gets a notice (and still gives each start the result it gets alone)."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch

import descentlab.cli as cli
from descentlab.cli.common import import_optimizer_class, parse_optimizer
from descentlab.errors import InvalidParameterError
from descentlab.landscapes import get_landscape

torch.set_num_threads(1)

MODULE = textwrap.dedent(
    '''
    import torch

    class NormalizedGD(torch.optim.Optimizer):
        """p <- p - lr * g / ||g|| with the norm over the whole tensor: couples rows."""

        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        @torch.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad / p.grad.norm().clamp_min(1e-12), alpha=-group["lr"])
            return loss

    NOT_AN_OPTIMIZER = 3
    '''
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_optims.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_optims"
    sys.modules.pop("my_optims", None)


def _alone(cls, start, steps, lr):
    """Oracle: the optimizer on one start, a plain torch loop on the landscape."""
    L = get_landscape("double_well")
    P = torch.tensor([start], dtype=torch.float64, requires_grad=True)
    opt = cls([P], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        L.value(P).sum().backward()
        opt.step()
    return P.detach()[0].tolist()


def test_a_coupling_user_optimizer_races_with_a_notice(user_module, capsys) -> None:
    starts = [[0.5, 0.5], [-0.3, 0.2], [1.5, -0.4]]
    spec = f"{user_module}.NormalizedGD:lr=0.05"
    argv = ["run", "--landscape", "double_well", "--optimizer", spec,
            "--steps", "15", "--grad-tol", "0", "--json"]  # fmt: skip
    for s in starts:
        argv += ["--start", f"{s[0]},{s[1]}"]
    assert cli.main(argv) == 0
    out = capsys.readouterr()
    runs = json.loads(out.out)
    if isinstance(runs, dict):
        runs = runs.get("runs", runs)
    assert "couples the rows" in out.err and "3 starts run one at a time" in out.err
    assert "roughly 3x" in out.err
    cls = import_optimizer_class(f"{user_module}.NormalizedGD")
    for s, r in zip(starts, runs, strict=True):
        assert r["end"] == pytest.approx(_alone(cls, s, 15, 0.05), abs=1e-12)


def test_an_elementwise_torch_class_gets_no_notice(capsys) -> None:
    argv = ["run", "--landscape", "double_well", "--optimizer", "torch.optim.Rprop:lr=0.01",
            "--start", "0.5,0.5", "--start", "-0.3,0.2", "--steps", "5"]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr()
    assert "couples" not in out.err and "Rprop(lr=0.01)" in out.out


def test_parse_optimizer() -> None:
    assert parse_optimizer("adam:lr=0.1") == ("adam", {"lr": 0.1})
    cls, hyper = parse_optimizer("torch.optim.SGD:lr=0.1,momentum=0.9")
    assert cls is torch.optim.SGD and hyper == {"lr": 0.1, "momentum": 0.9}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_pkg_xyz.Yogi", "cannot import 'no_such_pkg_xyz'; is the package installed"),
        ("torch.optim.NoSuch", "'torch.optim' has no 'NoSuch'"),
        ("torch.nn.Linear", "is not a torch.optim.Optimizer subclass"),
        ("os.system('x').y", "expected a registered name or package.module.Class"),
    ],
)
def test_bad_optimizer_paths_are_one_line_exit_2(spec, message, capsys) -> None:
    with pytest.raises(InvalidParameterError, match=message.replace("(", r"\(")):
        parse_optimizer(spec)
    rc = cli.main(["run", "--landscape", "double_well", "--optimizer", spec, "--start", "0,0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0]


def test_train_takes_an_optimizer_class_too(tmp_path, capsys) -> None:
    """Oracle: the same steps of torch.optim.Rprop in a plain loop on the same model and data."""
    from descentlab.nn.tasks import build_model, get_task

    argv = ["train", "--task", "xor", "--model", "mlp:hidden=2", "--optimizer",
            "torch.optim.Rprop:lr=0.01", "--steps", "15", "--no-slices", "--out", str(tmp_path),
            "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["optimizer"] == "Rprop(lr=0.01)"
    task = get_task("xor")
    model = build_model("mlp", task, seed=0, hidden=2)
    opt = torch.optim.Rprop(model.parameters(), lr=0.01)
    for _ in range(15):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(task.X), task.y).backward()
        opt.step()
    loss = torch.nn.functional.cross_entropy(model(task.X), task.y).item()
    assert res["final_loss"] == pytest.approx(loss, rel=1e-9)
