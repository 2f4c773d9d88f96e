"""Sweep throughput and Ray overhead.

1. Throughput (state row-steps per second on one core, torch pinned to 1 thread): a sweep cell
   runs all its ``B`` starts as one batched engine run; the reference runs the same cell one
   start at a time (``B`` engine runs of one row each). Gradient tolerance 0 so no row stops
   early: both do exactly ``B * steps`` row-steps. Engine time only (the diagnosis is the same
   for both and is timed separately).
2. Ray overhead: the same cells (each >= 1 s) through the local executor and through the Ray
   executor on a local instance with ``--ray-cpus`` CPUs (default 1, so both use one core; the
   Ray instance is started before timing, its start-up is reported apart). Results are checked
   identical.

Run:

    python benchmarks/bench_sweep.py               # both parts
    python benchmarks/bench_sweep.py --quick       # small sizes
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from descentlab.analysis.diagnose import diagnose
from descentlab.engine import run
from descentlab.sweeps import SweepSpec, SweepStore, run_sweep
from descentlab.sweeps.store import TIMING_COLUMNS

CASES = [
    ("himmelblau", {}, "gd", {"lr": 0.005}),
    ("styblinski_tang", {"dim": 3}, "adam", {"lr": 0.01}),
    ("bbob_f15", {"dim": 10, "instance": 1}, "momentum", {"lr": 0.0005}),
]


def _time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def throughput(B: int, steps: int, repeats: int) -> None:
    from descentlab.landscapes import get_landscape

    torch.set_num_threads(1)
    print(f"\n## Throughput: B = {B} starts x {steps} steps, 1 thread, median of {repeats}\n")
    print("| cell | batched row-steps/s | one start at a time | ratio | diagnosis of B rows |")
    print("| --- | --- | --- | --- | --- |")
    for name, params, opt, hyper in CASES:
        L = get_landscape(name, **params)
        X0 = L.sample(B, seed=0)

        def batched(L=L, X0=X0, opt=opt, hyper=hyper):
            return run(L, opt, X0, steps, grad_tol=0.0, record_every=1, progress=False, **hyper)

        n_one = min(B, 16)  # the per-start cost does not depend on B: time a few, scale

        def one_at_a_time(L=L, X0=X0, opt=opt, hyper=hyper, n_one=n_one):
            for i in range(n_one):
                run(L, opt, X0[i : i + 1], steps, grad_tol=0.0, progress=False, **hyper)

        tb = _time(batched, repeats)
        t1 = _time(one_at_a_time, repeats) * B / n_one
        tr = batched()
        td = _time(lambda L=L, tr=tr: diagnose(tr, L), 1)
        label = f"{name}{params or ''} {opt}"
        print(
            f"| {label} | {B * steps / tb:,.0f} | {B * steps / t1:,.0f} | {t1 / tb:.0f}x "
            f"| {td:.2f} s |"
        )


def ray_overhead(cells: int, B: int, steps: int, ray_cpus: int) -> None:
    import ray

    spec = SweepSpec.from_dict(
        {
            "steps": steps,
            "starts": B,
            "seeds": cells,
            "grad_tol": 0.0,
            "landscapes": [{"name": "styblinski_tang", "params": {"dim": 3}}],
            "optimizers": [{"name": "gd", "search": {"lr": [0.005]}}],
        }
    )
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    ray.init(num_cpus=ray_cpus, include_dashboard=False, log_to_driver=False)
    t_start = time.perf_counter() - t0
    ray.get(ray.remote(lambda: 0).remote())  # a warm worker pool, as in a long sweep
    with SweepStore(tmp / "local.duckdb") as st:
        t0 = time.perf_counter()
        run_sweep(spec, st, quiet=True)
        t_local = time.perf_counter() - t0
        per_cell = [c["wall_s"] for c in st.cells_table()]
    with SweepStore(tmp / "ray.duckdb") as st:
        t0 = time.perf_counter()
        run_sweep(spec, st, executor="ray", quiet=True)
        t_ray = time.perf_counter() - t0
    ray.shutdown()

    def tables(p):
        with SweepStore(p, read_only=True) as st:
            c = [{k: v for k, v in x.items() if k not in TIMING_COLUMNS} for x in st.cells_table()]
            return c, st.runs_table()

    same = tables(tmp / "local.duckdb") == tables(tmp / "ray.duckdb")
    print(
        f"\n## Ray overhead: {cells} cells of {B} starts x {steps} steps, Ray with {ray_cpus} CPU\n"
    )
    print(f"cell wall time: median {statistics.median(per_cell):.2f} s")
    print(
        f"local executor: {t_local:.1f} s; ray executor: {t_ray:.1f} s "
        f"(overhead {100 * (t_ray / t_local - 1):+.0f}%); ray.init {t_start:.1f} s apart"
    )
    print(f"results identical: {same}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ray-cpus", type=int, default=1)
    ap.add_argument("--skip-ray", action="store_true")
    a = ap.parse_args()
    B, steps = (64, 200) if a.quick else (256, 500)
    throughput(B, steps, a.repeats)
    if not a.skip_ray:
        ray_overhead(
            3 if a.quick else 6, 256 if a.quick else 1024, 300 if a.quick else 1000, a.ray_cpus
        )


if __name__ == "__main__":
    main()
