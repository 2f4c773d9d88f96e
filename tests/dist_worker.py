"""One rank of the data-parallel tests (launched by tests/test_nn_distributed.py, or torchrun).

Usage: ``python tests/dist_worker.py SCENARIO OUT_DIR`` with the torchrun environment
(``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``). Writes ``rank<r>.json``.
Scenario functions compute the same quantities as :func:`compute` does in one process on the
full data, so the parent test can compare them.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import torch
from torch import nn

torch.set_num_threads(1)
F64 = torch.float64
N_SAMPLES = 37
SPLIT = (13, 24)  # uneven: rank 0 holds 13 samples, rank 1 holds 24


def problem(dtype: torch.dtype = F64) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N_SAMPLES, 3, generator=g, dtype=F64)
    y = torch.randint(0, 3, (N_SAMPLES,), generator=g)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 3)).to(dtype)
    return net, X.to(dtype), y


def shard(X: torch.Tensor, y: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    start = sum(SPLIT[:r])
    return X[start : start + SPLIT[r]], y[start : start + SPLIT[r]]


def compute(model: nn.Module, data: object, batch_size: int | None) -> dict:
    """Everything compared between the runs (JSON-able)."""
    from descentlab.nn import HessianOperator, hutchinson, hutchpp, lanczos, slq_density
    from descentlab.nn.ggn import FisherOperator, GGNOperator

    H = HessianOperator(model, nn.CrossEntropyLoss(), data, batch_size=batch_size)
    loss, grad = H.gradient()
    r = lanczos(H, k=3, which="both", tol=1e-10, seed=3)
    dense = torch.linalg.eigvalsh(H.dense().double())
    neg_tol = 1e-2 * float(dense.abs().max())
    G = GGNOperator(model, nn.CrossEntropyLoss(), data, batch_size=batch_size)
    F = FisherOperator(model, nn.CrossEntropyLoss(), data, kind="empirical", batch_size=batch_size)
    v = torch.randn(H.n, generator=torch.Generator().manual_seed(11), dtype=F64)
    return {
        "n_samples": H.n_samples,
        "loss": float(loss),
        "grad": grad.tolist(),
        "top": r.top.values.tolist(),
        "bottom": r.bottom.values.tolist(),
        "top_vector": r.top.vectors[:, 0].tolist(),
        "eigenvalues": dense.tolist(),
        "index": int((dense < -neg_tol).sum()),
        "hutchinson": hutchinson(H, 20, seed=5).value,
        "hutchpp": hutchpp(H, 21, seed=5).value,
        "slq_moment2": slq_density(H, 2, 12, seed=1).moment(2),
        "ggn_v": (G @ v).tolist(),
        "fisher_v": (F @ v).tolist(),
    }


def train_monitored(model: nn.Module, train: tuple, probe: tuple, writer: object = None) -> dict:
    """Six SGD steps on ``train`` with a TrainingMonitor probing ``probe`` every two steps."""
    from descentlab.nn import TrainingMonitor

    loss_fn = nn.CrossEntropyLoss()
    mon = TrainingMonitor(
        model, loss_fn, probe, every=2, window=4, probe_tol=1e-10, probe_iter=60, writer=writer
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    X, y = train
    for _ in range(6):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        mon(loss)
        opt.step()
    d = mon.to_dict()
    return {
        "losses": d["losses"],
        "grad_norms": d["grad_norms"],
        "lambda_max": [p["lambda_max"] for p in d["probes"]],
        "lambda_min": [p["lambda_min"] for p in d["probes"]],
    }


class RecordingWriter:
    """A stand-in SummaryWriter that records what it is given."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, float(value), int(step)))

    def add_text(self, tag: str, text: str, step: int) -> None:
        pass


def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    r = torch.distributed.get_rank()
    net, X, y = problem()
    Xr, yr = shard(X, y, r)
    if scenario == "plain":
        res = compute(net, (Xr, yr), batch_size=5)
    elif scenario == "ddp":
        ddp = nn.parallel.DistributedDataParallel(net)
        res = compute(ddp, (Xr, yr), batch_size=None)
        res["ddp_grads_untouched"] = all(p.grad is None for p in ddp.parameters())
    elif scenario == "loader":  # a DistributedSampler over the full data
        from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

        ds = TensorDataset(X, y)
        sampler = DistributedSampler(ds, shuffle=False, drop_last=False)
        res = compute(net, DataLoader(ds, batch_size=4, sampler=sampler), batch_size=None)
    elif scenario == "monitor":  # a DDP training loop: equal training shards, uneven probe shards
        train = (X[:24][r * 12 : (r + 1) * 12], y[:24][r * 12 : (r + 1) * 12])
        writer = RecordingWriter()
        res = train_monitored(nn.parallel.DistributedDataParallel(net), train, (Xr, yr), writer)
        res["n_logged"] = len(writer.scalars)
    elif scenario == "empty":  # rank 1 holds no data: an error on both ranks, not a hang
        try:
            compute(net, (Xr[: 0 if r == 1 else None], yr[: 0 if r == 1 else None]), None)
            res = {"error": None}
        except Exception as exc:
            res = {"error": type(exc).__name__, "message": str(exc)}
    elif scenario == "mismatch":  # different parameters on the two ranks: a clear error
        if r == 1:
            with torch.no_grad():
                net[0].weight.add_(1.0)
        try:
            compute(net, (Xr, yr), batch_size=None)
            res = {"error": None}
        except Exception as exc:  # the error type and message are what is compared
            res = {"error": type(exc).__name__, "message": str(exc)}
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    tmp = out / f"rank{r}.json.tmp"
    tmp.write_text(json.dumps(res))
    tmp.replace(out / f"rank{r}.json")
    # Both ranks are done talking before either tears gloo down; then leave without running
    # C++ static destructors, where gloo's threads can abort ("terminate called without an
    # active exception") after the results are safely written.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
