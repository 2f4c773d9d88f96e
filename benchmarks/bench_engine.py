"""The engine against its references: the issue-10 target table, then point-steps per second.

All on Himmelblau (float64, CPU), timings are medians of ``--repeats``; ratios are taken in one
process so machine load affects both sides alike. The references:

* ``kernel``: Himmelblau's analytic gradient (and 2x2 Hessian for Newton) with the update rule
  written out in plain batched torch, no autograd, no checks: the floor;
* ``compiled``: the same Adam kernel as one ``torch.compile``-d step (a fused loop that reaches
  memory bandwidth at B = 1e6); compile time is excluded;
* ``loop``: one ``(2,)`` tensor and one ``torch.optim`` optimizer per start, stepped in Python
  (how visualisation scripts run); its cost per point-step does not depend on B;
* ``bare``: the same torch optimizer on one ``(B, 2)`` leaf with a closure, no stop rules, no
  records: what any autograd-based batched loop pays.

``engine`` is ``descentlab.engine.run`` with every stop rule on (gradient tolerance 0 so no row
stops, bound 1e6) and recording only the start and the end, except the B = 1 per-step cost,
which uses ``run``'s defaults (every step recorded) as a user gets them.

Run:

    python benchmarks/bench_engine.py --threads 1             # the target table + rate table
    python benchmarks/bench_engine.py --targets-only --repeats 7
    python benchmarks/bench_engine.py --quick                 # a smoke run (small sizes)
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from descentlab.engine import run
from descentlab.landscapes import get_landscape
from descentlab.optim import resolve_optimizer

F64 = torch.float64
LR = {"gd": 1e-3, "adam": 1e-2, "newton": 0.5}


def himmelblau(P: torch.Tensor) -> torch.Tensor:
    x, y = P.unbind(-1)
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


def _adam_step(x, y, mx, my, vx, vy, lr_c1, c2):
    b1, b2, eps = 0.9, 0.999, 1e-8
    a = x * x + y - 11
    b = x + y * y - 7
    gx = 4 * x * a + 2 * b
    gy = 2 * a + 4 * y * b
    mx = b1 * mx + (1 - b1) * gx
    my = b1 * my + (1 - b1) * gy
    vx = b2 * vx + (1 - b2) * gx * gx
    vy = b2 * vy + (1 - b2) * gy * gy
    x = x - lr_c1 * mx / (vx.sqrt() / c2 + eps)
    y = y - lr_c1 * my / (vy.sqrt() / c2 + eps)
    return x, y, mx, my, vx, vy


_COMPILED: list[Callable] = []


def compiled_adam(X0: torch.Tensor, steps: int) -> torch.Tensor:
    """Adam with the analytic gradient, one fused ``torch.compile``-d step per iteration."""
    if not _COMPILED:
        _COMPILED.append(torch.compile(_adam_step, dynamic=False))
    step = _COMPILED[0]
    x, y = X0[:, 0].clone(), X0[:, 1].clone()
    mx, my, vx, vy = (torch.zeros_like(x) for _ in range(4))
    lr = LR["adam"]
    for k in range(steps):
        c1 = 1 - 0.9 ** (k + 1)
        c2 = math.sqrt(1 - 0.999 ** (k + 1))
        lr_c1 = torch.tensor(lr / c1, dtype=F64)
        x, y, mx, my, vx, vy = step(x, y, mx, my, vx, vy, lr_c1, torch.tensor(c2, dtype=F64))
    return torch.stack([x, y], 1)


# ---------------------------------------------------------------------------- references
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


def timed(fn: Callable[[], object], repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def paired_ratio(a: Callable[[], object], b: Callable[[], object], repeats: int) -> float:
    """Median over alternating pairs of time(a) / time(b)."""
    rs = []
    for _ in range(repeats):
        ta = timed(a, 1)
        tb = timed(b, 1)
        rs.append(ta / tb)
    return statistics.median(rs)


def sanity() -> None:
    """The implementations agree (same iterates up to rounding) before anything is timed."""
    L = get_landscape("himmelblau")
    Xs = L.sample(4, seed=1)
    for name in LR:
        a = engine(name, Xs, 5)
        for other in (loop, bare, kernel):
            b = other(name, Xs, 5)
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), (name, other.__name__, a, b)


# ---------------------------------------------------------------------------- target table
def race_service_ms(repeats: int) -> tuple[float, float]:
    """The playground's race (service call, ms) and a plain 500-step SGD loop on one (1, 2)."""
    from descentlab.web import service
    from descentlab.web.limits import Limits
    from descentlab.web.models import RunRequest

    req = RunRequest.model_validate(
        {
            "landscape": {"name": "tilted_double_well"},
            "optimizers": [
                {"name": "gd", "hyper": {"lr": 0.01}},
                {"name": "momentum", "hyper": {"lr": 0.01}},
                {"name": "adam", "hyper": {"lr": 0.05}},
                {"name": "rmsprop", "hyper": {"lr": 0.01}},
            ],
            "starts": [[0.2, -0.5]],
            "steps": 500,
        }
    )
    limits = Limits()
    L = service.build_landscape(req.landscape, limits)
    service.run_race(req, limits)  # warm-up

    def sgd_loop() -> None:
        x = torch.tensor([[0.2, -0.5]], dtype=F64, requires_grad=True)
        opt = torch.optim.SGD([x], lr=0.01)
        for _ in range(500):
            opt.zero_grad()
            L.fn(x).sum().backward()
            opt.step()

    t_race = timed(lambda: service.run_race(req, limits), repeats)
    t_sgd = timed(sgd_loop, repeats)
    return t_race * 1e3, t_sgd * 1e3


def targets(repeats: int, quick: bool) -> None:
    L = get_landscape("himmelblau")
    rows: list[tuple[str, str, str]] = []
    B = 1000 if quick else 10_000
    X0 = L.sample(B, seed=0)
    for name, steps, target in (("gd", 200, 2), ("adam", 200, 2), ("newton", 50, 4)):
        steps = 20 if quick else steps
        r = paired_ratio(
            lambda n=name, s=steps: engine(n, X0, s),
            lambda n=name, s=steps: kernel(n, X0, s),
            repeats,
        )
        rows.append((f"engine / hand kernel, B={B:g}, {name}", f"{r:.2f}x", f"<= {target}x"))
    Bbig = 10_000 if quick else 1_000_000
    Xb = L.sample(Bbig, seed=0)
    sb = 5 if quick else 20
    compiled_adam(Xb, 2)  # compile outside the timing
    np.testing.assert_allclose(compiled_adam(Xb[:64], 5), kernel("adam", Xb[:64], 5), rtol=1e-9)
    r = paired_ratio(lambda: engine("adam", Xb, sb), lambda: compiled_adam(Xb, sb), repeats)
    rows.append((f"engine / compiled fused kernel, B={Bbig:g}, adam", f"{r:.2f}x", "<= 5x"))
    X1 = L.sample(1, seed=0)
    n1 = 200 if quick else 2000
    for name in ("gd", "adam"):
        t = timed(lambda n=name: run(L, n, X1, n1, lr=LR[n], grad_tol=0.0, progress=False), repeats)
        tk = timed(lambda n=name: kernel(n, X1, n1), repeats)
        rows.append(
            (
                f"per-step cost at B=1, {name} (defaults; / hand kernel at B=1 in brackets)",
                f"{t / n1 * 1e6:.0f} us ({t / tk:.2f}x)",
                "<= 60 us",
            )
        )
    race_ms, sgd_ms = race_service_ms(repeats)
    rows.append(
        (
            "playground race 4 opt x 1 start x 500 steps (service call)",
            f"{race_ms:.0f} ms",
            "<= 50 ms",
        )
    )
    rows.append(
        (
            "... / plain 500-step torch.optim.SGD loop on one (1, 2)",
            f"{race_ms / sgd_ms:.2f}x",
            "<= 0.5x",
        )
    )
    Xl = L.sample(10, seed=2)
    t_loop = timed(lambda: loop("adam", Xl, 100), repeats) / (10 * 100)
    t_eng = timed(lambda: engine("adam", X0, 200), repeats) / (B * 200)
    rows.append(
        (
            f"engine / per-start torch.optim loop, B={B:g}, adam (speed-up)",
            f"{t_loop / t_eng:,.0f}x",
            "no regression",
        )
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), medians of {repeats}")
    print("| job | now | target |\n|---|---|---|")
    for job, now, target in rows:
        print(f"| {job} | {now} | {target} |", flush=True)


# ---------------------------------------------------------------------------- rate table
def rates(sizes: list[int], names: list[str], repeats: int, work: float) -> None:
    L = get_landscape("himmelblau")
    print("\n| optimizer | B | engine | bare | loop | kernel | engine / loop | kernel / engine |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        Xl = L.sample(10, seed=2)
        engine(name, Xl, 3)  # warm-up
        loop_rate = 10 * 100 / timed(lambda n=name, X=Xl: loop(n, X, 100), repeats)
        for B in sizes:
            X0 = L.sample(B, seed=0)
            steps = int(min(2000, max(10, work // B)))
            te = timed(lambda n=name, X=X0, s=steps: engine(n, X, s), repeats)
            tb = timed(lambda n=name, X=X0, s=steps: bare(n, X, s), repeats)
            tk = timed(lambda n=name, X=X0, s=steps: kernel(n, X, s), repeats)
            er, br, kr = B * steps / te, B * steps / tb, B * steps / tk
            print(
                f"| {name} | {B:g} | {er:.3g} | {br:.3g} | {loop_rate:.3g} | {kr:.3g} "
                f"| {er / loop_rate:.0f}x | {kr / er:.2f}x |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1,1000,10000,100000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=float, default=2e6, help="point-steps per timing (rates)")
    ap.add_argument("--optimizers", default="gd,adam,newton")
    ap.add_argument("--targets-only", action="store_true")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.work, args.repeats = [1, 1000], 2e4, 1
    sanity()
    targets(args.repeats, args.quick)
    if not args.targets_only:
        rates(sizes, [n for n in args.optimizers.split(",") if n], args.repeats, args.work)


if __name__ == "__main__":
    main()
