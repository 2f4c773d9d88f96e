"""Data-parallel Hessian spectra: 2 gloo ranks vs 1 process, same model, same data, same answer.

Model: an MLP 64-1000-1000-10 (tanh; 1,076,010 parameters) on 4,000 synthetic samples,
float32. Work timed: building the operator (the gradient graph) plus ``lanczos(H, k=1,
which="top", tol=1e-3)`` with a fixed seed, so every configuration takes the same Lanczos steps;
the eigenvalues are printed to show they agree.

Configurations (all CPU):

* ``1 proc, 1 thread``: the full data in one process, ``torch.set_num_threads(1)``;
* ``1 proc, 2 threads``: the same with two intra-op threads (the single-process way to use
  both cores);
* ``2 ranks (gloo), 1 thread each``: each rank holds half the data; every product is
  all-reduced (``descentlab.nn.distributed``). The ranks are launched by this script with
  torchrun's environment variables (``--ranks 2``); under ``torchrun`` use ``--worker``.

Times are medians over ``--repeats`` runs, measured between barriers (imports and process
start-up excluded). Run from the repository root::

    python benchmarks/bench_distributed.py --repeats 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch
from torch import nn

from descentlab.nn import HessianOperator, lanczos
from descentlab.nn.distributed import Reducer

WIDTH = 1000
N_SAMPLES = 4000


def problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N_SAMPLES, 64, generator=g)
    y = torch.randint(0, 10, (N_SAMPLES,), generator=g)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(64, WIDTH), nn.Tanh(), nn.Linear(WIDTH, WIDTH), nn.Tanh(), nn.Linear(WIDTH, 10)
    )
    return net, X, y


def solve(net: nn.Module, data: Any) -> tuple[float, int, float]:
    """(lambda_max, products, seconds) for one run."""
    t0 = time.perf_counter()
    H = HessianOperator(net, nn.CrossEntropyLoss(), data)
    r = lanczos(H, k=1, which="top", tol=1e-3, seed=0)
    return r.lambda_max, r.n_matvec, time.perf_counter() - t0


def single(threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    net, X, y = problem()
    runs = [solve(net, (X, y)) for _ in range(repeats)]
    return {
        "lambda_max": runs[0][0],
        "hvp": runs[0][1],
        "seconds": statistics.median(r[2] for r in runs),
        "all_seconds": [r[2] for r in runs],
    }


def worker(repeats: int, out: Path | None) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(seconds=600))
    rank, size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    net, X, y = problem()
    shard = (X[rank::size], y[rank::size])
    times, lam, hvp = [], 0.0, 0
    comm = [0.0]  # seconds inside the all-reduces (rank 0)
    original = Reducer.weighted_mean

    def timed(self: Reducer, local: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        out = original(self, local)
        comm[0] += time.perf_counter() - t0
        return out

    Reducer.weighted_mean = timed  # type: ignore[method-assign]
    for _ in range(repeats):
        torch.distributed.barrier()
        t0 = time.perf_counter()
        lam, hvp, _ = solve(net, shard)
        torch.distributed.barrier()
        times.append(time.perf_counter() - t0)
    if rank == 0 and out is not None:
        res = {
            "lambda_max": lam,
            "hvp": hvp,
            "seconds": statistics.median(times),
            "all_seconds": times,
            "comm_seconds_per_run": comm[0] / repeats,
        }
        out.write_text(json.dumps(res))
    torch.distributed.destroy_process_group()


def launch(ranks: int, repeats: int) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = Path(f"bench_distributed_rank0_{os.getpid()}.json").resolve()
    procs = []
    for r in range(ranks):
        env = dict(
            os.environ,
            RANK=str(r),
            LOCAL_RANK=str(r),
            WORLD_SIZE=str(ranks),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            OMP_NUM_THREADS="1",
        )
        cmd = [sys.executable, __file__, "--worker", "--repeats", str(repeats)]
        if r == 0:
            cmd += ["--out", str(out)]
        procs.append(subprocess.Popen(cmd, env=env))
    for p in procs:
        if p.wait(timeout=3600) != 0:
            sys.exit("a rank failed")
    try:
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--worker", action="store_true", help="run as one rank (under torchrun)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.repeats, Path(args.out) if args.out else None)
        return
    net, _, _ = problem()
    n = sum(p.numel() for p in net.parameters())
    print("load average before (1, 5, 15 min):", *(f"{x:.1f}" for x in os.getloadavg()))
    print(
        f"torch {torch.__version__}; MLP 64-{WIDTH}-{WIDTH}-10 tanh, {n:,} parameters, "
        f"{N_SAMPLES} samples, float32; lanczos top, tol 1e-3; {args.repeats} repeats"
    )
    rows = {
        "1 proc, 1 thread": single(1, args.repeats),
        "1 proc, 2 threads": single(2, args.repeats),
        f"{args.ranks} ranks (gloo), 1 thread each": launch(args.ranks, args.repeats),
    }
    print("load average after the runs (1, 5, 15 min):", *(f"{x:.1f}" for x in os.getloadavg()))
    base = rows["1 proc, 1 thread"]["seconds"]
    two = rows["1 proc, 2 threads"]["seconds"]
    print(
        f"{'configuration':<32} {'lambda_max':>12} {'HVPs':>5} {'median s':>9} "
        f"{'vs 1 thread':>11} {'vs 2 threads':>12}"
    )
    for name, r in rows.items():
        print(
            f"{name:<32} {r['lambda_max']:>12.7g} {r['hvp']:>5} {r['seconds']:>9.2f} "
            f"{r['seconds'] / base:>10.2f}x {r['seconds'] / two:>11.2f}x"
        )
    dist = rows[f"{args.ranks} ranks (gloo), 1 thread each"]
    print(
        f"time inside the all-reduces (rank 0, per run): {dist['comm_seconds_per_run']:.2f} s "
        f"of {dist['seconds']:.2f} s"
    )
    lams = [r["lambda_max"] for r in rows.values()]
    print(f"largest relative difference of lambda_max: {(max(lams) - min(lams)) / max(lams):.1e}")


if __name__ == "__main__":
    main()
