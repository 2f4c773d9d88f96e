"""network_landscape: vmap over functional_call vs the hand-batched (bmm) MLP forward.

For an MLP on a 2-D task, times one value-and-gradient of ``B`` parameter vectors at once (what
one engine step costs: ``f(P).sum()`` forward, one backward) with each method, for several
``B``. The two methods are timed alternately (so load drifts hit both) and the report gives the
median time of each and the median of the per-pair ratios ``vmap / bmm``. The two are also
checked equal (values and gradients) before timing.

Run from the repository root::

    python benchmarks/bench_network_landscape.py --threads 1 --repeats 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch
from torch import nn

from descentlab.landscapes.neural import network_landscape
from descentlab.nn.tasks import build_model, get_task


def _value_and_grad(L, P: torch.Tensor) -> float:
    X = P.detach().requires_grad_(True)
    t0 = time.perf_counter()
    L.fn(X).sum().backward()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--hidden", default="16,16")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--batches", default="1,10,100,1000")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    task = get_task("moons", n=args.samples, seed=0)
    net = build_model("mlp", task, hidden=hidden, act="tanh")
    loss = nn.CrossEntropyLoss()
    L = {m: network_landscape(net, loss, (task.X, task.y), method=m) for m in ("vmap", "bmm")}
    rows = []
    for B in (int(b) for b in args.batches.split(",")):
        P = L["bmm"].sample(B, seed=1)
        # the two methods compute the same function and gradient
        v1, g1 = L["vmap"].value_and_grad(P)
        v2, g2 = L["bmm"].value_and_grad(P)
        torch.testing.assert_close(v1, v2, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)
        for m in L:  # warm-up
            _value_and_grad(L[m], P)
        times: dict[str, list[float]] = {"vmap": [], "bmm": []}
        for _ in range(args.repeats):
            for m in ("vmap", "bmm"):
                times[m].append(_value_and_grad(L[m], P))
        ratio = statistics.median(a / b for a, b in zip(times["vmap"], times["bmm"], strict=True))
        rows.append(
            {
                "B": B,
                "vmap_ms": 1e3 * statistics.median(times["vmap"]),
                "bmm_ms": 1e3 * statistics.median(times["bmm"]),
                "vmap_over_bmm": ratio,
            }
        )
    info = {
        "model": f"mlp 2-{'-'.join(map(str, hidden))}-2 tanh, {L['bmm'].dim} parameters",
        "samples": args.samples,
        "threads": args.threads,
        "repeats": args.repeats,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"{info['model']}, {args.samples} samples, {args.threads} thread(s), medians")
    print(f"{'B':>6} {'vmap ms':>10} {'bmm ms':>10} {'vmap/bmm':>9}")
    for r in rows:
        print(f"{r['B']:>6} {r['vmap_ms']:>10.2f} {r['bmm_ms']:>10.2f} {r['vmap_over_bmm']:>9.2f}")


if __name__ == "__main__":
    main()
