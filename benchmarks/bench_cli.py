"""Start-up time of the command line: ``python -m descentlab --help`` as a fresh process.

Side by side, each a fresh interpreter (median of ``--repeats`` runs): a bare ``python -c pass``
(the floor), ``descentlab --help``, an argument error (``descentlab run --steps many``), and
``python -c "import torch"`` (what ``--help`` cost while the package imported torch). With
``--source DIR`` the same runs use another checkout's ``src`` (e.g. an older commit unpacked with
``git archive``) for a before/after comparison.

Run:
    python benchmarks/bench_cli.py --repeats 11
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _median_seconds(argv: list[str], src: Path, repeats: int, cache: str) -> float:
    # Compiled bytecode cached (as for an installed package), in a scratch folder; one warm-up.
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONPYCACHEPREFIX": cache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--source", type=Path, default=SRC, help="the src folder to time")
    args = ap.parse_args()
    py = sys.executable
    cases = [
        ("python -c pass", [py, "-c", "pass"]),
        ("descentlab --help", [py, "-m", "descentlab", "--help"]),
        (
            "descentlab run --steps many (argument error)",
            [py, "-m", "descentlab", "run", "--steps", "many"],
        ),
        ('python -c "import torch"', [py, "-c", "import torch"]),
    ]
    print(f"source: {args.source}")
    print("| command | median (s) |")
    print("| --- | --- |")
    with tempfile.TemporaryDirectory() as cache:
        for name, argv in cases:
            t = _median_seconds(argv, args.source, args.repeats, cache)
            print(f"| {name} | {t:.3f} |")


if __name__ == "__main__":
    main()
