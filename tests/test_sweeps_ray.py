"""The Ray executor on a local 2-CPU instance: the same store as the local executor, bit for bit,
and a cell whose worker dies is re-run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from descentlab.sweeps import SweepSpec, SweepStore, run_sweep
from descentlab.sweeps.store import TIMING_COLUMNS

ray = pytest.importorskip("ray", reason="the Ray executor needs ray (pip install descentlab[ray])")

SPEC = {
    "steps": 150,
    "starts": 6,
    "seeds": 2,
    "landscapes": [{"name": "himmelblau"}, {"name": "bbob_f8", "params": {"dim": 3}}],
    "optimizers": [
        {"name": "gd", "search": {"lr": [0.002, 0.01]}},
        {"name": "perturbed_gd", "search": {"lr": [0.002, 0.01]}},
    ],
}


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    crash_dir = tmp_path_factory.mktemp("crash")
    os.environ["DESCENTLAB_TEST_CRASH_DIR"] = str(crash_dir)
    src = str(Path(__file__).resolve().parents[1] / "src")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": src, "DESCENTLAB_TEST_CRASH_DIR": str(crash_dir)}},
    )
    yield crash_dir
    ray.shutdown()


def _tables(path):
    with SweepStore(path, read_only=True) as st:
        cells = [{k: v for k, v in c.items() if k not in TIMING_COLUMNS} for c in st.cells_table()]
        return cells, st.runs_table()


@pytest.mark.slow
def test_ray_equals_local_bit_for_bit_and_reruns_lost_cells(local_ray, tmp_path):
    from ray import cloudpickle

    sys.path.insert(0, str(Path(__file__).parent))
    import sweep_faults

    cloudpickle.register_pickle_by_value(sweep_faults)
    spec = SweepSpec.from_dict(SPEC)
    with SweepStore(tmp_path / "local.duckdb") as st:
        run_sweep(spec, st, quiet=True)
    with SweepStore(tmp_path / "ray.duckdb") as st:
        rep = run_sweep(spec, st, executor="ray", quiet=True, cell_fn=sweep_faults.crash_once)
    assert rep.ran == len(spec.cells()) == 16
    crashed = list(local_ray.glob("*.crashed"))
    assert len(crashed) == 4  # config 0, seed 0: one cell per (landscape, optimizer)
    local, remote = _tables(tmp_path / "local.duckdb"), _tables(tmp_path / "ray.duckdb")
    assert remote == local  # every column but the timings, floats compared exactly
