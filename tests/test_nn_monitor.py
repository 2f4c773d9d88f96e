"""TrainingMonitor: exact records, curvature probes, saddle and plateau episodes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from descentlab.errors import InvalidParameterError
from descentlab.nn import TrainingMonitor

torch.set_num_threads(1)
F64 = torch.float64


def product_model(w1, w2):
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.fill_(w1)
        net[1].weight.fill_(w2)
    return net


def test_escape_from_the_origin_saddle_is_flagged(tmp_path):
    # L = mean((w2 w1 x - 2x)^2): saddle at the origin, minima on w1 w2 = 2
    X = torch.linspace(-1, 1, 20, dtype=F64).unsqueeze(1)
    y = 2 * X
    net = product_model(1e-4, 1e-4)
    events = []
    mon = TrainingMonitor(
        net,
        nn.MSELoss(),
        (X, y),
        every=10,
        window=20,
        path_every=10,
        on_event=lambda e: events.append((e.kind, e.start, e.end)),
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    grads = []
    for _ in range(400):
        opt.zero_grad()
        loss = nn.MSELoss()(net(X), y)
        loss.backward()
        grads.append(float(torch.cat([p.grad.reshape(-1) for p in net.parameters()]).norm()))
        mon(loss)
        opt.step()
    assert mon.grad_norms == pytest.approx(grads, rel=1e-12)
    # probes against the closed-form Hessian at the recorded parameters
    exx, exy = float((X * X).mean()), float((X * y).mean())
    for probe, theta, step in zip(mon.probes, mon.path, mon.path_steps, strict=True):
        assert probe.step == step
        w1, w2 = theta.tolist()
        H = torch.tensor(
            [
                [2 * w2 * w2 * exx, 4 * w1 * w2 * exx - 2 * exy],
                [4 * w1 * w2 * exx - 2 * exy, 2 * w1 * w1 * exx],
            ],
            dtype=F64,
        )
        ev = torch.linalg.eigvalsh(H)
        assert probe.lambda_min == pytest.approx(float(ev[0]), rel=1e-8, abs=1e-12)
        assert probe.lambda_max == pytest.approx(float(ev[1]), rel=1e-8, abs=1e-12)
    saddle = mon.episodes[0]
    assert saddle.kind == "saddle" and saddle.start == 0 and saddle.end is not None
    assert saddle.lambda_min == pytest.approx(-2 * exy, rel=1e-3)
    assert 40 < saddle.end < 200  # escaped, then descended
    assert events[:2] == [("stall", 0, None), ("saddle", 0, None)]
    assert ("saddle", 0, saddle.end) in events
    assert mon.losses[-1] < 1e-20 and mon.state == "stalled"  # converged: an open stall
    assert mon.episodes[-1].kind == "stall" and mon.episodes[-1].end is None
    out = mon.save(tmp_path / "monitor.json")
    d = json.loads(out.read_text())
    assert d["episodes"][0]["kind"] == "saddle" and len(d["losses"]) == 400


def test_plateau_is_confirmed_when_descent_resumes():
    mon = TrainingMonitor(nn.Linear(1, 1), window=8)
    mon.model.weight.grad = torch.zeros_like(mon.model.weight)
    losses = [10.0 - i for i in range(5)] + [5.0] * 10 + [4.0 - 0.5 * i for i in range(6)]
    for v in losses:
        mon(v)
    ep = mon.episodes[0]
    assert ep.kind == "plateau" and ep.end is not None and mon.state == "descending"
    assert not mon.probes  # no loss_fn/probe_data: no curvature probes


def test_validation():
    net = nn.Linear(1, 1)
    with pytest.raises(InvalidParameterError, match="every must be a positive integer"):
        TrainingMonitor(net, every=0)
    with pytest.raises(InvalidParameterError, match="give both"):
        TrainingMonitor(net, nn.MSELoss())
    with pytest.raises(InvalidParameterError, match=r"after loss\.backward"):
        TrainingMonitor(net)(1.0)
