"""Data parallel: 2 gloo processes on CPU give the single-process numbers to 1e-6 relative.

Each scenario launches ``tests/dist_worker.py`` twice with torchrun's environment variables
(localhost only, bounded by a timeout) and compares every rank's results with the same
computation done here in one process on the full data (the oracle), and the ranks with each
other (they must agree exactly: every rank gets the same all-reduced vectors).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dist_worker as W

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)

REL = 1e-6
WORKER = Path(__file__).with_name("dist_worker.py")
SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(scenario: str, out: Path, world: int = 2, timeout: float = 180) -> list[dict]:
    port = free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ)
        env.update(
            RANK=str(r),
            LOCAL_RANK=str(r),
            WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            OMP_NUM_THREADS="1",
            PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), scenario, str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=timeout)[0].decode(errors="replace"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]


def close(a, b, rel=REL):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    scale = max(float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) <= rel * scale


def assert_matches(res: dict, ref: dict) -> None:
    assert res["n_samples"] == ref["n_samples"]
    for key in (
        "loss",
        "grad",
        "top",
        "bottom",
        "eigenvalues",
        "hutchinson",
        "hutchpp",
        "slq_moment2",
        "ggn_v",
        "fisher_v",
    ):
        assert close(res[key], ref[key]), (key, res[key], ref[key])
    assert res["index"] == ref["index"] and ref["index"] > 0  # a point with negative curvature
    cos = abs(float(torch.dot(torch.tensor(res["top_vector"]), torch.tensor(ref["top_vector"]))))
    assert cos > 1 - 1e-8


@pytest.fixture(scope="module")
def reference() -> dict:
    net, X, y = W.problem()
    return W.compute(net, (X, y), batch_size=None)


@pytest.mark.slow
def test_uneven_split_matches_single_process(tmp_path, reference):
    r0, r1 = launch("plain", tmp_path)
    assert W.SPLIT[0] != W.SPLIT[1]
    for res in (r0, r1):
        assert_matches(res, reference)
    assert r0 == r1  # every rank: the same eigenvalues, vectors and estimates, bit for bit


@pytest.mark.slow
def test_ddp_wrapped_model_is_not_reduced_twice(tmp_path, reference):
    r0, r1 = launch("ddp", tmp_path)
    for res in (r0, r1):
        assert res.pop("ddp_grads_untouched") is True
        assert_matches(res, reference)


@pytest.mark.slow
def test_distributed_sampler_shards(tmp_path):
    """DistributedSampler pads the data to a multiple of the world size by repeating the first
    samples; the oracle is the single-process loss on that padded set."""
    r0, r1 = launch("loader", tmp_path)
    net, X, y = W.problem()
    idx = torch.cat([torch.arange(W.N_SAMPLES), torch.arange(1)])  # 37 -> 38: sample 0 twice
    ref = W.compute(net, (X[idx], y[idx]), batch_size=None)
    for res in (r0, r1):
        assert_matches(res, ref)


@pytest.mark.slow
def test_parameters_differing_between_ranks_is_a_clear_error(tmp_path):
    r0, r1 = launch("mismatch", tmp_path)
    for res in (r0, r1):
        assert res["error"] == "InvalidParameterError"
        assert "differ between ranks" in res["message"]


@pytest.mark.slow
def test_monitor_in_a_ddp_loop_matches_single_process(tmp_path):
    """DDP on two equal training shards takes the full-batch steps; the monitor records the
    mean loss and probes the Hessian of the (uneven) probe shards' union."""
    r0, r1 = launch("monitor", tmp_path)
    net, X, y = W.problem()
    ref = W.train_monitored(net, (X[:24], y[:24]), (X, y))
    for res in (r0, r1):
        for key in ("losses", "grad_norms", "lambda_max", "lambda_min"):
            assert close(res[key], ref[key]), (key, res[key], ref[key])
    assert r0["n_logged"] == 6 * 2 + 3 * 3  # rank 0 logs: loss, grad_norm; 3 probes x 3
    assert r1["n_logged"] == 0  # only rank 0 writes
    assert {k: v for k, v in r0.items() if k != "n_logged"} == {
        k: v for k, v in r1.items() if k != "n_logged"
    }


@pytest.mark.slow
def test_a_rank_without_data_is_an_error_on_every_rank(tmp_path):
    r0, r1 = launch("empty", tmp_path, timeout=120)
    assert r1["error"] == "InvalidParameterError" and "no batches" in r1["message"]
    assert r0["error"] == "InvalidParameterError" and "rank(s) [1]" in r0["message"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from descentlab.cli import main

    out = tmp_path_factory.mktemp("dcheck") / "run"
    args = ["train", "--task", "xor:n=61", "--model", "mlp:hidden=3", "--optimizer", "adam:lr=0.05"]
    args += ["--steps", "30", "--out", str(out), "--json", "--no-slices"]
    assert main(args) == 0
    return out


@pytest.mark.slow
def test_cli_check_under_torchrun_matches_one_process(run_dir, capsys):
    """``torchrun --nproc-per-node 2 -m descentlab check --run-dir``: 31 + 30 samples on two
    ranks give the one-process verdict and numbers; only rank 0 prints."""
    from descentlab.cli import main

    capsys.readouterr()
    assert main(["check", "--run", str(run_dir), "--json"]) == 0
    ref = json.loads(capsys.readouterr().out)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    cmd += ["--master-addr", "127.0.0.1", "--master-port", str(free_port())]
    cmd += ["-m", "descentlab", "check", "--run-dir", str(run_dir), "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(done.stdout)  # one JSON document: rank 1 printed nothing
    assert res["setup"]["world_size"] == 2 and res["setup"]["n_samples_per_rank"] == [31, 30]
    assert res["verdict"] == ref["verdict"]
    for key in ("loss", "grad_norm", "grad_stderr", "lambda_min", "lambda_max"):
        assert close(res[key], ref[key]), (key, res[key], ref[key])
    assert res["index"] == ref["index"]
    assert res["negative_from_residual"] == ref["negative_from_residual"]
