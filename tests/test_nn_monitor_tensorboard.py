"""TrainingMonitor -> TensorBoard: the event file holds exactly the recorded series."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from descentlab.errors import InvalidParameterError
from descentlab.nn import TrainingMonitor

torch.set_num_threads(1)
F64 = torch.float64

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed"
)


def test_series_written_to_tensorboard_equal_the_records(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from descentlab.nn import HessianOperator

    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(30, 2, generator=g, dtype=F64), torch.randint(0, 2, (30,), generator=g)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    loss_fn = nn.CrossEntropyLoss()
    writer = SummaryWriter(str(tmp_path))
    mon = TrainingMonitor(net, loss_fn, (X, y), every=3, window=4, probe_tol=1e-10, writer=writer)
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    lam_ref = []
    for step in range(7):
        opt.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        if step % 3 == 0:  # oracle for the probe: the dense Hessian's extreme eigenvalues
            ev = torch.linalg.eigvalsh(HessianOperator(net, loss_fn, (X, y)).dense())
            lam_ref.append((float(ev[-1]), float(ev[0])))
        mon(loss)
        opt.step()
    writer.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()

    def series(name):
        return [(e.step, e.value) for e in acc.Scalars(f"descentlab/{name}")]

    assert [s for s, _ in series("loss")] == list(range(7))
    assert [v for _, v in series("loss")] == pytest.approx(mon.losses, rel=1e-6)  # float32
    assert [v for _, v in series("grad_norm")] == pytest.approx(mon.grad_norms, rel=1e-6)
    assert [s for s, _ in series("lambda_max")] == [0, 3, 6]
    assert [v for _, v in series("lambda_max")] == pytest.approx([a for a, _ in lam_ref], 1e-6)
    assert [v for _, v in series("lambda_min")] == pytest.approx([b for _, b in lam_ref], 1e-6)


def test_writer_must_have_add_scalar():
    net = nn.Linear(2, 1).double()
    with pytest.raises(InvalidParameterError, match="writer must be a SummaryWriter"):
        TrainingMonitor(net, writer="runs/a")
