"""Time of ``descentlab report --quick`` (the one-minute budget), at 1 thread and at 2.

Side by side, each a fresh process writing to a scratch folder: ``descentlab --threads 1 report
--quick`` (the CLI's default) and ``descentlab --threads 2 report --quick`` (torch's default on a
2-core machine, what the CLI used before). Prints wall and CPU seconds (user + system, the
children's rusage) of each run, their medians over ``--repeats`` runs, the ratio, and the load
average before each run (the machine is shared: a busy machine inflates the wall time, not much
the CPU time of a one-thread run).

Run:
    python benchmarks/bench_report.py --repeats 1
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def one_run(threads: int) -> tuple[float, float, float]:
    """(wall s, cpu s, 1-minute load average before) of one ``report --quick``."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("DESCENTLAB_THREADS", None)
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, "-m", "descentlab", "--threads", str(threads), "report",
                "--quick", "--out", out]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    rows = {}
    for threads in (1, 2):
        runs = [one_run(threads) for _ in range(args.repeats)]
        for wall, cpu, load in runs:
            print(f"threads={threads}: wall {wall:6.1f} s  cpu {cpu:6.1f} s  (load {load:.1f})")
        rows[threads] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
    (w1, c1), (w2, c2) = rows[1], rows[2]
    print(f"median wall: 1 thread {w1:.1f} s, 2 threads {w2:.1f} s, ratio {w2 / w1:.2f}")
    print(f"median cpu:  1 thread {c1:.1f} s, 2 threads {c2:.1f} s, ratio {c2 / c1:.2f}")


if __name__ == "__main__":
    main()
