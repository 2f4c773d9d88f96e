"""Critical-point census of the six-hump camel: descentlab's batched finder vs multi-start
``scipy.optimize.root``, one start at a time, on the same starts.

What is timed, on both sides, is the whole census: solve ``grad f = 0`` from every start, keep
the roots inside the box, merge duplicates (1e-6) and classify each root by its Hessian
eigenvalues. Both sides get the same scrambled-Sobol starts (one round, no extra rounds).

scipy is given its best case: a hand-written numpy gradient and Hessian of the camel
(``root(..., jac=True, method="hybr")``, MINPACK's hybrid Powell method), and, as a second
line, the same landscape's torch autograd gradient/Hessian called one point at a time (what a
user with only a torch ``f`` would write).

Run:
    python benchmarks/bench_critical.py            # 256, 1024, 4096 starts; threads 1 and 2
    python benchmarks/bench_critical.py --starts 1024 --repeats 9 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.optimize
import torch

from descentlab.analysis import CriticalPointSet, find_critical_points
from descentlab.landscapes import classify_eigenvalues, get_landscape


# ---------------------------------------------------------------------------- hand-written camel
def camel_grad_hess(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f = 4x^2 - 2.1x^4 + x^6/3 + xy - 4y^2 + 4y^4: gradient and Hessian (numpy, by hand)."""
    x, y = p
    g = np.array([8 * x - 8.4 * x**3 + 2 * x**5 + y, x - 8 * y + 16 * y**3])
    H = np.array([[8 - 25.2 * x**2 + 10 * x**4, 1.0], [1.0, -8 + 48 * y**2]])
    return g, H


def census_scipy(starts: np.ndarray, grad_hess, box: np.ndarray) -> list[tuple]:
    """Multi-start scipy.optimize.root, one start at a time, then merge and classify."""
    roots = []
    for x0 in starts:
        sol = scipy.optimize.root(grad_hess, x0, jac=True, method="hybr")
        if not sol.success:
            continue
        x = sol.x
        if np.all(x >= box[:, 0] - 1e-9) and np.all(x <= box[:, 1] + 1e-9):
            roots.append(x)
    reps: list[np.ndarray] = []
    for x in roots:
        if not any(np.abs(x - r).max() <= 1e-6 for r in reps):
            reps.append(x)
    out = []
    for r in reps:
        lam = np.linalg.eigvalsh(grad_hess(r)[1])
        out.append((tuple(r), *classify_eigenvalues(lam)))
    return out


def torch_grad_hess(L):
    """The landscape's autograd gradient and Hessian, one numpy point at a time."""

    def gh(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P = torch.as_tensor(p, dtype=torch.float64).reshape(1, -1)
        return L.grad(P)[0].numpy(), L.hessian(P)[0].numpy()

    return gh


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def same_points(a: list[tuple], known: list, tol: float = 1e-6) -> bool:
    """Same point set (one to one within tol) with the same kinds and indices."""
    if len(a) != len(known):
        return False
    for c in known:
        hits = [r for r in a if np.abs(np.subtract(r[0], c.point)).max() <= tol]
        if len(hits) != 1 or hits[0][1:] != (c.kind, c.index):
            return False
    return True


def sobol_starts(n: int, seed: int, box: np.ndarray) -> np.ndarray:
    """The starts find_critical_points draws itself (scrambled Sobol, first round)."""
    U = torch.quasirandom.SobolEngine(2, scramble=True, seed=seed).draw(n, dtype=torch.float64)
    return box[:, 0] + U.numpy() * (box[:, 1] - box[:, 0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--starts", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--repeats", type=int, default=5, help="alternating repeats of both")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--autograd-max-starts",
        type=int,
        default=256,
        help="run the (slow) scipy + torch-autograd-per-point line only up to this many starts",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    L = get_landscape("six_hump_camel")
    known = L.critical_points
    box = np.asarray(L.domain)

    # the hand-written derivatives are the landscape's (checked, not assumed)
    for p in L.sample(16, seed=5):
        g, H = camel_grad_hess(p.numpy())
        np.testing.assert_allclose(g, L.grad(p)[0].numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(H, L.hessian(p)[0].numpy(), rtol=1e-12, atol=1e-12)

    print(f"six-hump camel on {L.domain}, {len(known)} known critical points")
    print(f"torch {torch.__version__}, scipy {scipy.__version__}; median of repeats")
    header = f"{'threads':>7s} {'starts':>6s}  {'method':46s} {'median s':>9s} {'points':>6s}"
    print(header + f" {'= known':>7s} {'vs ours':>8s}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for n in args.starts:
            starts = sobol_starts(n, args.seed, box)

            def ours(n=n):
                return find_critical_points(L, n_starts=n, seed=args.seed, max_rounds=1)

            ours()  # warm-up
            # ours and scipy alternate, so a change of load on the shared machine hits both;
            # the ratio reported is the median of the per-pair ratios
            t_o, t_s, found, sp_np = [], [], None, None
            for _ in range(args.repeats):
                t, found = median_time(ours, 1)
                t_o.append(t)
                t, sp_np = median_time(
                    lambda starts=starts: census_scipy(starts, camel_grad_hess, box), 1
                )
                t_s.append(t)
            t_ours = statistics.median(t_o)
            ratio = statistics.median(s / o for s, o in zip(t_s, t_o, strict=True))
            rows = [
                ("descentlab find_critical_points (batched)", t_ours, found, 1.0),
                ("scipy.optimize.root, numpy derivatives", statistics.median(t_s), sp_np, ratio),
            ]
            if n <= args.autograd_max_starts:
                t_tg, sp_tg = median_time(
                    lambda starts=starts: census_scipy(starts, torch_grad_hess(L), box), 1
                )
                rows.append(
                    ("scipy.optimize.root, torch autograd per point", t_tg, sp_tg, t_tg / t_ours)
                )
            for name, t, pts, r in rows:
                if isinstance(pts, CriticalPointSet):
                    pts = [(c.point, c.kind, c.index) for c in pts]
                ok = "yes" if same_points(pts, known) else "NO"
                print(f"{threads:7d} {n:6d}  {name:46s} {t:9.4f} {len(pts):6d} {ok:>7s} {r:7.1f}x")


if __name__ == "__main__":
    main()
