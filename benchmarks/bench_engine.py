"""Point-steps per second of the batched engine, side by side with the two references.

For GD, Adam and Newton on Himmelblau (float64, CPU) at B starts:

* ``engine``: ``descentlab.engine.run`` with every stop rule on (gradient tolerance 0 so no row
  stops, bound 1e6) and recording only the start and the end (``record_every = steps``);
* ``loop``: how visualisation scripts run today: one ``(2,)`` tensor and one optimizer per start,
  ``loss.backward(); opt.step()`` in a Python loop (torch.optim's SGD/Adam, descentlab's Newton in
  full mode). Its cost per point-step does not depend on B, so it is timed on a few starts and
  reported per point-step;
* ``bare``: the same torch optimizer on one ``(B, 2)`` leaf stepped with a closure, with no stop
  rules and no records: what any autograd-based batched loop pays; ``engine / bare`` is the
  engine's own overhead;
* ``kernel``: the floor: Himmelblau's analytic gradient (and 2x2 Hessian for Newton) written out
  in plain batched torch with the update rule inlined, no autograd, no checks.

Every cell is the median of ``--repeats`` timings. Run:

    python benchmarks/bench_engine.py                # threads 1 and 2, B = 1, 1e3, 1e4, 1e5
    python benchmarks/bench_engine.py --quick        # a smoke run (small sizes)
    python benchmarks/bench_engine.py --threads 2 --sizes 10000 --optimizers gd,adam

A last table races gd, momentum, adam and rmsprop from the same starts: one shared
forward/backward per step (what ``run`` does for a race) against four separate runs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch

from descentlab.engine import run
from descentlab.landscapes import get_landscape
from descentlab.optim import resolve_optimizer

F64 = torch.float64
LR = {"gd": 1e-3, "adam": 1e-2, "newton": 0.5}


def himmelblau(P: torch.Tensor) -> torch.Tensor:
    x, y = P[..., 0], P[..., 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


# ---------------------------------------------------------------------------- the floor
def kernel(name: str, X0: torch.Tensor, steps: int) -> torch.Tensor:
    """Hand-written batched update with the closed-form gradient/Hessian of Himmelblau."""
    x = X0[:, 0].clone()
    y = X0[:, 1].clone()
    lr = LR[name]
    if name == "adam":
        b1, b2, eps = 0.9, 0.999, 1e-8
        mx, my = torch.zeros_like(x), torch.zeros_like(y)
        vx, vy = torch.zeros_like(x), torch.zeros_like(y)
    for k in range(steps):
        a = x * x + y - 11
        b = x + y * y - 7
        gx = 4 * x * a + 2 * b
        gy = 2 * a + 4 * y * b
        if name == "gd":
            x.sub_(lr * gx)
            y.sub_(lr * gy)
        elif name == "adam":
            mx.mul_(b1).add_(gx, alpha=1 - b1)
            my.mul_(b1).add_(gy, alpha=1 - b1)
            vx.mul_(b2).addcmul_(gx, gx, value=1 - b2)
            vy.mul_(b2).addcmul_(gy, gy, value=1 - b2)
            c1 = 1 - b1 ** (k + 1)
            c2 = math.sqrt(1 - b2 ** (k + 1))
            x.sub_(lr / c1 * mx / (vx.sqrt() / c2 + eps))
            y.sub_(lr / c1 * my / (vy.sqrt() / c2 + eps))
        else:  # Newton: solve the 2x2 system in closed form
            hxx = 4 * a + 8 * x * x + 2
            hxy = 4 * (x + y)
            hyy = 4 * b + 8 * y * y + 2
            det = hxx * hyy - hxy * hxy
            x.sub_(lr * (hyy * gx - hxy * gy) / det)
            y.sub_(lr * (hxx * gy - hxy * gx) / det)
    return torch.stack([x, y], 1)


# ---------------------------------------------------------------------------- per-start loop
def loop(name: str, X0: torch.Tensor, steps: int) -> torch.Tensor:
    """One tensor and one optimizer per start, stepped in Python."""
    out = []
    for x0 in X0:
        x = x0.clone().requires_grad_(True)
        if name == "gd":
            opt = torch.optim.SGD([x], lr=LR[name])
        elif name == "adam":
            opt = torch.optim.Adam([x], lr=LR[name])
        else:
            opt = resolve_optimizer("newton", lr=LR[name]).factory([x])
        second = name == "newton"

        def closure(x=x, opt=opt, second=second):
            opt.zero_grad()
            loss = himmelblau(x)
            loss.backward(create_graph=second)
            return loss

        for _ in range(steps):
            opt.step(closure)
            if second:
                x.grad = None
        out.append(x.detach())
    return torch.stack(out)


def bare(name: str, X0: torch.Tensor, steps: int) -> torch.Tensor:
    """The same optimizer on one ``(B, 2)`` leaf, no stop rules, no records: autograd's floor."""
    spec = resolve_optimizer(name, lr=LR[name])
    P = X0.clone().requires_grad_(True)
    opt = spec.factory([{"params": [P], "rows_independent": True}])

    def closure():
        P.grad = None
        loss = himmelblau(P).sum()
        loss.backward(create_graph=spec.second_order)
        return loss

    for _ in range(steps):
        opt.step(closure)
        P.grad = None
    return P.detach()


def engine(name: str, X0: torch.Tensor, steps: int) -> torch.Tensor:
    L = get_landscape("himmelblau")
    tr = run(L, name, X0, steps, lr=LR[name], grad_tol=0.0, record_every=steps, progress=False)
    return torch.as_tensor(tr.final_points)


RACE = [
    ("gd", {"lr": 1e-3}),
    ("momentum", {"lr": 1e-3}),
    ("adam", {"lr": 1e-2}),
    ("rmsprop", {"lr": 1e-2}),
]


def race_table(sizes: list[int], repeats: int, work: float) -> None:
    """A race of 4 first-order optimizers: one shared pass per step vs 4 separate runs."""
    L = get_landscape("himmelblau")
    print("\n| threads | race | B | steps | shared ms | separate ms | separate / shared |")
    print("|---|---|---|---|---|---|---|")
    for B in sizes:
        X0 = L.sample(B, seed=0)
        steps = int(min(500, max(10, work // (4 * B))))
        kw = {"grad_tol": 0.0, "record_every": steps, "progress": False}
        ts = timed(lambda X=X0, s=steps, kw=kw: run(L, RACE, X, s, **kw), repeats)
        tp = timed(lambda X=X0, s=steps, kw=kw: [run(L, sp, X, s, **kw) for sp in RACE], repeats)
        print(
            f"| {torch.get_num_threads()} | gd, momentum, adam, rmsprop | {B:g} | {steps} "
            f"| {ts * 1e3:.0f} | {tp * 1e3:.0f} | {tp / ts:.2f}x |",
            flush=True,
        )


def timed(fn: Callable[[], object], repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1,1000,10000,100000")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=float, default=2e6, help="point-steps per timing (engine)")
    ap.add_argument("--loop-starts", type=int, default=10)
    ap.add_argument("--loop-steps", type=int, default=100)
    ap.add_argument("--optimizers", default="gd,adam,newton")
    ap.add_argument("--no-race", action="store_true", help="skip the shared-race table")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.work, args.repeats, args.loop_steps = [1, 1000], 2e4, 1, 10
    L = get_landscape("himmelblau")
    # sanity: the three implementations agree (same iterates up to rounding)
    Xs = L.sample(4, seed=1)
    for name in LR:
        a = engine(name, Xs, 5)
        for other in (loop, bare, kernel):
            b = other(name, Xs, 5)
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), (name, other.__name__, a, b)

    print(
        f"torch {torch.__version__}, float64, Himmelblau, point-steps per second, "
        f"median of {args.repeats}"
    )
    print(
        "| threads | optimizer | B | engine | bare | loop | kernel "
        "| engine / loop | bare / engine | kernel / engine |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    names = [n for n in args.optimizers.split(",") if n]
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name in names:
            Xl = L.sample(args.loop_starts, seed=2)
            engine(name, Xl, 3)  # warm-up
            t_loop = timed(lambda n=name, X=Xl: loop(n, X, args.loop_steps), args.repeats)
            loop_rate = args.loop_starts * args.loop_steps / t_loop
            for B in sizes:
                X0 = L.sample(B, seed=0)
                steps = int(min(2000, max(10, args.work // B)))
                te = timed(lambda n=name, X=X0, s=steps: engine(n, X, s), args.repeats)
                tb = timed(lambda n=name, X=X0, s=steps: bare(n, X, s), args.repeats)
                tk = timed(lambda n=name, X=X0, s=steps: kernel(n, X, s), args.repeats)
                er, br, kr = B * steps / te, B * steps / tb, B * steps / tk
                print(
                    f"| {threads} | {name} | {B:g} | {er:.3g} | {br:.3g} | {loop_rate:.3g} "
                    f"| {kr:.3g} | {er / loop_rate:.0f}x | {br / er:.2f}x | {kr / er:.2f}x |",
                    flush=True,
                )
    if not args.no_race:
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            race_table(sizes[:3], args.repeats, args.work)


if __name__ == "__main__":
    main()
