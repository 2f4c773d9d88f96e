"""Per-row Hessians: ``d`` backward passes vs one vmapped (``is_grads_batched``) pass.

Both sides compute the same ``(B, d, d)`` stack from the gradient of the summed objective
(``descentlab.linalg.hessian_from_grad`` with ``batched=False`` / ``True``; they are tested equal
to ``torch.func.hessian`` in ``tests/test_linalg.py``). The ratio ``seq / batched`` above 1 means
the batched pass wins; ``linalg.BATCHED_HVP_MIN_DIM`` and ``BATCHED_HVP_MAX_ENTRIES`` encode the
crossover.

Run:
    python benchmarks/bench_linalg.py --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from descentlab.landscapes import get_landscape
from descentlab.linalg import dense_hessian, hessian_from_grad

CASES = [
    ("rosenbrock", 2),
    ("rosenbrock", 5),
    ("rosenbrock", 8),
    ("rosenbrock", 16),
    ("styblinski_tang", 8),
    ("styblinski_tang", 32),
    ("rastrigin", 16),
    ("rastrigin", 64),
]


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 16, 1024])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| landscape | d | B | d passes (ms) | one batched pass (ms) | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, d in CASES:
        L = get_landscape(name, dim=d)
        for B in args.rows:
            X = L.sample(B, seed=0).requires_grad_(True)

            def hessians(batched: bool, L=L, X=X) -> torch.Tensor:
                with torch.enable_grad():
                    (g,) = torch.autograd.grad(L.fn(X).sum(), X, create_graph=True)
                    return hessian_from_grad(g, X, batched=batched)

            ts = _median_time(lambda h=hessians: h(False), args.repeats)
            tb = _median_time(lambda h=hessians: h(True), args.repeats)
            print(f"| {name} | {d} | {B} | {ts * 1e3:.3f} | {tb * 1e3:.3f} | {ts / tb:.2f} |")

    print()
    print(
        "| dense Hessian of an MLP loss, n parameters | n passes (ms) | chunks of 64 (ms) | ratio |"
    )
    print("| --- | --- | --- | --- |")
    for width in (8, 32):
        gen = torch.Generator().manual_seed(0)
        X = torch.randn(64, 2, generator=gen, dtype=torch.float64)
        y = torch.sin(X[:, :1])
        n = 2 * width + width + width + 1

        def loss(theta: torch.Tensor, X=X, y=y, width=width) -> torch.Tensor:
            W1 = theta[: 2 * width].reshape(width, 2)
            b1 = theta[2 * width : 3 * width]
            w2 = theta[3 * width : 4 * width]
            return ((torch.tanh(X @ W1.T + b1) @ w2 + theta[-1] - y[:, 0]) ** 2).mean()

        theta = 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)
        ts = _median_time(lambda f=loss, t=theta: dense_hessian(f, t, chunk=None), args.repeats)
        tb = _median_time(lambda f=loss, t=theta: dense_hessian(f, t, chunk=64), args.repeats)
        print(f"| {n} | {ts * 1e3:.2f} | {tb * 1e3:.2f} | {ts / tb:.1f} |")


if __name__ == "__main__":
    main()
