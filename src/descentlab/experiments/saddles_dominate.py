"""Claim 3: "saddle points, not local minima, are the real obstacle" -- counted and measured.

Four parts, from exact to measured:

**(a) Exact census by dimension.** Styblinski–Tang ``1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)`` and
Rastrigin (in ``[-5.12, 5.12]^d``) are separable: each coordinate independently sits at one of
the 1-D stationary points (3 for Styblinski–Tang: two minimum-like, one maximum-like; 21 for
Rastrigin: 11 and 10), the Hessian is diagonal and the index is the number of coordinates at a
maximum-like root. With ``a`` minimum-like and ``b`` maximum-like roots per coordinate there are

    ``N_k = C(d, k) b^k a^(d-k)``  critical points of index ``k``,  ``(a + b)^d`` in all,

so the fraction of saddles (``0 < k < d``) is ``1 - (a^d + b^d) / (a + b)^d``:
``1 - (2^d + 1) / 3^d`` for Styblinski–Tang and ``1 - (11^d + 10^d) / 21^d`` for Rastrigin, which
tends to 1. The value is a sum of 1-D values, so the mean value over the points of index ``k``
is ``k mean(max-like values) + (d - k) mean(min-like values)``: it grows linearly with the index.
Both are checked against the catalogue's generated sets.

**(b) The linear autoencoder** (Baldi & Hornik 1989; :mod:`descentlab.experiments.autoencoder`):
every full-rank critical point is a choice of ``p`` eigenvectors of the data covariance, with
loss = sum of the left-out eigenvalues and index = number of (kept, left-out) pairs in the wrong
order; only the top-``p`` choice is a minimum. Enumerated and measured with exact Hessians.

**(c) Networks.** Final losses of full-batch gradient descent from many seeds on one-hidden-layer
tanh networks of growing width (two-spirals task of :mod:`descentlab.nn.tasks`, cross-entropy
plus a small weight decay so that minima exist): the spread (standard deviation, interquartile
range) of the final losses across seeds, which Choromanska et al. (2015) predict shrinks as
networks grow. The runs have a fixed step budget; their final gradient norms are reported, so a
reader can see how far from critical the end points are.

**(d) Index versus loss** (Dauphin et al. 2014): critical points of a small tanh network are
searched from points along gradient-descent trajectories by Levenberg–Marquardt on
``||grad L||^2`` with exact Hessians (``theta <- theta - (H^2 + mu I)^-1 H g``, ``mu`` adapted),
the searches that converge (``||grad L|| < 1e-8``) are kept, and for each the index fraction
``alpha`` (share of negative Hessian eigenvalues) and the loss are recorded; their correlation
is reported with a bootstrap confidence interval.

References: Y. Dauphin, R. Pascanu, C. Gulcehre, K. Cho, S. Ganguli, Y. Bengio, *Identifying and
attacking the saddle point problem in high-dimensional non-convex optimization*, NeurIPS 2014;
A. Choromanska, M. Henaff, M. Mathieu, G. Ben Arous, Y. LeCun, *The loss surfaces of multilayer
networks*, AISTATS 2015; P. Baldi and K. Hornik, Neural Networks 2 (1989).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from descentlab.engine import run as engine_run
from descentlab.experiments.autoencoder import (
    enumerate_critical_points,
    make_autoencoder,
    origin_point,
)
from descentlab.experiments.base import ExperimentResult, Table, register
from descentlab.landscapes.base import Landscape
from descentlab.landscapes.catalog import (
    iter_rastrigin_critical_points,
    iter_styblinski_tang_critical_points,
    rastrigin_roots_1d,
    styblinski_tang_roots_1d,
)
from descentlab.progress import Progress

Tensor = torch.Tensor
DTYPE = torch.float64
CLAIM = (
    "Saddle points, not local minima, are the real obstacle in high-dimensional non-convex losses."
)


# ---------------------------------------------------------------------------- (a) census
def census_counts(dim: int, n_min_like: int, n_max_like: int) -> list[int]:
    """``N_k = C(d, k) b^k a^(d-k)`` for ``k = 0..d`` (``a`` min-like, ``b`` max-like roots).

    Example:
        >>> census_counts(2, 2, 1)  # Styblinski–Tang in 2-D: 4 minima, 4 saddles, 1 maximum
        [4, 4, 1]
    """
    return [math.comb(dim, k) * n_max_like**k * n_min_like ** (dim - k) for k in range(dim + 1)]


def saddle_fraction(dim: int, n_min_like: int, n_max_like: int) -> Fraction:
    """Exact ``1 - (a^d + b^d) / (a + b)^d`` (index 0 and index ``d`` are not saddles).

    Example:
        >>> str(saddle_fraction(3, 2, 1))  # 1 - 9/27
        '2/3'
    """
    if dim == 0:
        return Fraction(0)
    return 1 - Fraction(n_min_like**dim + n_max_like**dim, (n_min_like + n_max_like) ** dim)


def _roots(name: str) -> tuple[list[float], list[float]]:
    """Min-like and max-like 1-D roots and the 1-D value function of a separable landscape."""
    if name == "styblinski_tang":
        lo, mid, hi = styblinski_tang_roots_1d()
        return [lo, hi], [mid]
    roots = rastrigin_roots_1d()
    return [x for x, m in roots if m], [x for x, m in roots if not m]


def _value_1d(name: str, x: float) -> float:
    if name == "styblinski_tang":
        return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x)
    return x * x - 10.0 * math.cos(2.0 * math.pi * x) + 10.0


def mean_value_by_index(name: str, dim: int) -> list[float]:
    """Closed form ``k mean(max-like 1-D values) + (d - k) mean(min-like 1-D values)``."""
    mins, maxs = _roots(name)
    vmin = math.fsum(_value_1d(name, x) for x in mins) / len(mins)
    vmax = math.fsum(_value_1d(name, x) for x in maxs) / len(maxs)
    return [k * vmax + (dim - k) * vmin for k in range(dim + 1)]


def generated_census(name: str, dim: int) -> tuple[list[int], list[float]]:
    """Counts by index and mean value by index over the catalogue's generated set."""
    it = (
        iter_styblinski_tang_critical_points(dim)
        if name == "styblinski_tang"
        else iter_rastrigin_critical_points(dim)
    )
    counts = [0] * (dim + 1)
    sums: list[list[float]] = [[] for _ in range(dim + 1)]
    for cp in it:
        counts[cp.index] += 1
        sums[cp.index].append(cp.value)
    return counts, [math.fsum(s) / len(s) for s in sums]


# ---------------------------------------------------------------------------- (c) widths
def _mlp_forward(X: Tensor, W1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    hid = torch.tanh(torch.matmul(X, W1.transpose(1, 2)) + b1[:, None, :])
    return (hid * w2[:, None, :]).sum(-1) + b2[:, None]


def train_width(
    X: Tensor, y: Tensor, width: int, seeds: int, steps: int, lr: float, weight_decay: float
) -> tuple[Tensor, Tensor]:
    """Full-batch GD on ``seeds`` independent one-hidden-layer tanh networks at once.

    Loss per network: mean binary cross-entropy + ``weight_decay / 2 * |theta|^2``. Weights are
    ``N(0, 1/fan_in)``, biases 0, seeded by ``width``. Returns final losses and gradient norms.
    """
    g = torch.Generator().manual_seed(10_000 + width)
    d = X.shape[1]
    W1 = torch.randn(seeds, width, d, generator=g, dtype=DTYPE) / math.sqrt(d)
    w2 = torch.randn(seeds, width, generator=g, dtype=DTYPE) / math.sqrt(width)
    zeros = torch.zeros(seeds, width, dtype=DTYPE)
    # theta = [W1 (width*d), b1 (width), w2 (width), b2]: one row per seed, one landscape
    theta0 = torch.cat([W1.reshape(seeds, -1), zeros, w2, torch.zeros(seeds, 1, dtype=DTYPE)], 1)
    wd = width * d

    def loss(P: Tensor) -> Tensor:
        n = P.shape[0]
        W = P[:, :wd].reshape(n, width, d)
        b1, a2, b2 = P[:, wd : wd + width], P[:, wd + width : wd + 2 * width], P[:, -1]
        z = _mlp_forward(X, W, b1, a2, b2)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(
            z, y.to(DTYPE).expand(n, -1), reduction="none"
        )
        return ce.mean(1) + 0.5 * weight_decay * (P * P).sum(1)

    L = Landscape(loss, theta0.shape[1], name=f"tanh_mlp_width_{width}")
    tr = engine_run(
        L, ("gd", {"lr": lr}), theta0, steps, grad_tol=0.0, bound=math.inf,
        record_every=max(steps, 1), progress=False,
    )  # fmt: skip
    return torch.from_numpy(tr.final_losses), torch.from_numpy(tr.final_grad_norms)


def spread(values: Tensor) -> dict[str, float]:
    """Mean, standard deviation, interquartile range, min and max of a 1-D tensor."""
    q = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=values.dtype))
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "iqr": float(q[2] - q[0]),
        "median": float(q[1]),
        "min": float(values.min()),
        "max": float(values.max()),
    }


# ---------------------------------------------------------------------------- (d) index vs loss
class TinyNet:
    """One hidden layer, ``f(x) = a . tanh(W x + b) + c``, MSE on a fixed regression set.

    ``theta = [W (h*din), b (h), a (h), c]``; :meth:`loss` takes ``(..., P)``.
    """

    def __init__(self, n: int = 40, width: int = 4, din: int = 2, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.X = 4.0 * torch.rand(n, din, generator=g, dtype=DTYPE) - 2.0
        self.y = torch.sin(self.X.sum(1)) + 0.1 * torch.randn(n, generator=g, dtype=DTYPE)
        self.width, self.din = width, din
        self.n_params = width * din + 2 * width + 1

    def loss(self, th: Tensor) -> Tensor:
        h, din = self.width, self.din
        W = th[..., : din * h].reshape(*th.shape[:-1], h, din)
        b = th[..., din * h : din * h + h]
        a = th[..., din * h + h : din * h + 2 * h]
        c = th[..., -1]
        hid = torch.tanh(self.X @ W.transpose(-1, -2) + b.unsqueeze(-2))
        pred = (hid @ a.unsqueeze(-1)).squeeze(-1) + c.unsqueeze(-1)
        return (pred - self.y).pow(2).mean(-1)

    def grad(self, th: Tensor) -> Tensor:
        x = th.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.loss(x).sum(), x)
        return g

    def hessians(self, th: Tensor) -> Tensor:
        return torch.func.vmap(torch.func.hessian(self.loss))(th)


def gd_snapshots(net: TinyNet, seeds: int, snaps: list[int], lr: float = 0.1) -> Tensor:
    """Points along full-batch GD from ``seeds`` ``N(0, 1)`` starts, at the listed steps."""
    g = torch.Generator().manual_seed(1)
    th = torch.randn(seeds, net.n_params, generator=g, dtype=DTYPE)
    L = Landscape(net.loss, net.n_params, name="tiny_net")
    last = max(snaps)
    tr = engine_run(
        L, ("gd", {"lr": lr}), th, last, grad_tol=0.0, bound=math.inf, progress=False
    )  # fmt: skip
    return torch.cat([torch.from_numpy(tr.positions[t]) for t in sorted(set(snaps))])


def find_critical_points(
    net: TinyNet, starts: Tensor, iters: int, tol: float = 1e-8
) -> tuple[Tensor, Tensor]:
    """Levenberg–Marquardt on ``||g||^2`` (residual ``g``, Jacobian ``H``) from every start.

    Step ``-(H^2 + mu I)^-1 H g``, accepted when ``||g||`` drops (then ``mu /= 4``), else
    ``mu *= 3``. Rows stop once ``||g|| < tol`` or ``mu > 1e10`` (stalled). Returns the final
    points and gradient norms.
    """
    x = starts.clone()
    g = net.grad(x)
    f = (g * g).sum(1)
    mu = torch.full((x.shape[0],), 1e-3, dtype=DTYPE)
    eye = torch.eye(net.n_params, dtype=DTYPE)
    for _ in range(iters):
        act = ((f.sqrt() >= tol) & (mu <= 1e10)).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        xa, ga = x[act], g[act]
        H = net.hessians(xa)
        rhs = (H @ ga.unsqueeze(-1)).squeeze(-1)
        step = torch.linalg.solve(H @ H + mu[act, None, None] * eye, rhs.unsqueeze(-1)).squeeze(-1)
        xn = xa - step
        gn = net.grad(xn)
        fn = (gn * gn).sum(1)
        ok = fn < f[act]
        x[act] = torch.where(ok[:, None], xn, xa)
        g[act] = torch.where(ok[:, None], gn, ga)
        f[act] = torch.where(ok, fn, f[act])
        mu[act] = torch.where(ok, mu[act] / 4, mu[act] * 3).clamp(min=1e-14)
    return x, f.sqrt()


def bootstrap_corr(
    a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Pearson correlation of ``a`` and ``b`` and a 95% percentile bootstrap interval."""
    r = float(np.corrcoef(a, b)[0, 1])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    A, B = a[idx], b[idx]
    A = A - A.mean(1, keepdims=True)
    B = B - B.mean(1, keepdims=True)
    den = np.sqrt((A * A).sum(1) * (B * B).sum(1))
    rs = np.where(den > 0, (A * B).sum(1) / np.where(den > 0, den, 1.0), np.nan)
    rs = rs[np.isfinite(rs)]
    lo, hi = np.percentile(rs, [2.5, 97.5])
    return r, float(lo), float(hi)


# ---------------------------------------------------------------------------- figures
def _figures(out: Path, census: dict, ae_rows: list, widths: list, crit: dict) -> dict[str, Path]:
    from descentlab.viz import new_figure, save_figure, style

    figs: dict[str, Path] = {}
    fig = new_figure(style.FIGSIZE_WIDE)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, color in (("styblinski_tang", "#0072B2"), ("rastrigin", "#D55E00")):
        rows = census[name]
        ds = [r["dim"] for r in rows]
        ax1.plot(ds, [r["saddle_fraction"] for r in rows], "o-", color=color, label=name)
        ax1.plot(ds, [r["minimum_fraction"] for r in rows], "s--", color=color, alpha=0.7)
    ax1.set_xlabel("dimension d")
    ax1.set_ylabel("fraction of critical points")
    ax1.set_title("Share of all critical points:\nsaddles (solid), minima (dashed)")
    ax1.legend(loc="center right")
    st = census["styblinski_tang_by_index"]
    ax2.plot(range(len(st)), st, "o-", color="#0072B2")
    ax2.set_xlabel("index k (number of negative eigenvalues)")
    ax2.set_ylabel("mean value of the critical points")
    ax2.set_title(f"Styblinski–Tang, d = {len(st) - 1}:\nmean value grows with the index")
    figs["census"] = save_figure(fig, out / "census.png")

    fig = new_figure(style.FIGSIZE_WIDE)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    idx = [r["index"] for r in ae_rows]
    loss = [r["loss"] for r in ae_rows]
    colors = [style.KIND_STYLES["global_minimum" if k == 0 else "saddle"].color for k in idx]
    ax1.scatter(idx, loss, c=colors, s=60, **style.MARKER_EDGE)
    groups: dict[tuple[int, float], list[str]] = {}
    for r in ae_rows:  # subsets with the same index and loss share one label
        key = (r["index"], round(r["loss"], 9))
        groups.setdefault(key, []).append("{" + ",".join(str(i + 1) for i in r["subset"]) + "}")
    for (k, v), names in groups.items():
        ax1.annotate(
            " ".join(names),
            (k, v),
            xytext=(5, -3),
            textcoords="offset points",
            fontsize=7.5,
        )
    ax1.set_xlabel("Hessian index (negative eigenvalues)")
    ax1.set_ylabel("loss = sum of left-out eigenvalues")
    ax1.set_title("Linear autoencoder: kept eigenvectors;\nonly the top-p set is a minimum")
    ws = [w["width"] for w in widths]
    data = [w["losses"] for w in widths]
    ax2.boxplot(data)
    ax2.set_xticks(range(1, len(ws) + 1), [str(w) for w in ws])
    ax2.set_xlabel("hidden width")
    ax2.set_ylabel("final training loss (per seed)")
    ax2.set_title("GD from many seeds:\nfinal losses by hidden width")
    figs["autoencoder_and_widths"] = save_figure(fig, out / "autoencoder_and_widths.png")

    fig = new_figure(style.FIGSIZE_CONTOUR)
    ax = fig.add_subplot(1, 1, 1)
    pts = crit.get("distinct_points", [])
    if pts:
        ax.scatter(
            [p["alpha"] for p in pts],
            [p["loss"] for p in pts],
            s=40,
            color="#0072B2",
            **style.MARKER_EDGE,
            label="distinct converged critical points",
        )
        ax.legend(loc="upper left")
    ax.set_xlabel("index fraction alpha (share of negative eigenvalues)")
    ax.set_ylabel("training loss at the critical point")
    r = crit.get("pearson_r")
    ax.set_title(
        f"Critical points of a {crit['n_params']}-parameter tanh network "
        f"({crit['converged']} of {crit['searches']} searches converged)"
        + (
            ""
            if r is None
            else f"\nPearson r = {r:.2f}, 95% CI [{crit['ci'][0]:.2f}, {crit['ci'][1]:.2f}]"
        )
    )
    figs["index_vs_loss"] = save_figure(fig, out / "index_vs_loss.png")
    return figs


# ---------------------------------------------------------------------------- experiment
@register("saddles-dominate")
def run(
    quick: bool = False, out: Path | None = None, progress: bool | None = None
) -> ExperimentResult:
    """Claim 3, counted and measured: census, autoencoder, width study, index versus loss.

    Args:
        quick: smaller sizes (census checked to d = 6 / 3, widths to 16, fewer searches).
        out: folder for the figures (none drawn when ``None``).
        progress: show a progress bar (``None``: when stderr is a terminal).

    Returns:
        an :class:`~descentlab.experiments.ExperimentResult`.

    Example:
        >>> r = run(quick=True)  # doctest: +SKIP
        >>> r.numbers["census"]["styblinski_tang"][2]["counts_by_index"]  # doctest: +SKIP
        [8, 12, 6, 1]
    """
    # Small tensors: one thread is faster than two, and leaves the other core free.
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(quick, out, progress)
    finally:
        torch.set_num_threads(torch_threads)


def _run(quick: bool, out: Path | None, progress: bool | None) -> ExperimentResult:
    max_dim = 10 if quick else 14
    check_st, check_ra = (6, 3) if quick else (8, 4)
    widths_list = [2, 4, 8, 16] if quick else [2, 4, 8, 16, 32, 64]
    seeds = 16 if quick else 32
    train_steps = 1500 if quick else 5000
    crit_seeds, crit_iters = (8, 120) if quick else (24, 400)
    snaps = [0, 3, 10, 30, 100, 300, 1000]
    numbers: dict[str, Any] = {}
    tables: list[Table] = []
    stages = 2 + len(widths_list) + 2
    with Progress(stages, "saddles-dominate", enabled=progress) as bar:
        # (a) census
        census: dict[str, Any] = {}
        census_ok = True
        table_rows = []
        for name, (a, b), check in (
            ("styblinski_tang", (2, 1), check_st),
            ("rastrigin", (11, 10), check_ra),
        ):
            rows = []
            for d in range(1, max_dim + 1):
                counts = census_counts(d, a, b)
                frac = saddle_fraction(d, a, b)
                means = mean_value_by_index(name, d)
                row: dict[str, Any] = {
                    "dim": d,
                    "total": (a + b) ** d,
                    "counts_by_index": counts,
                    "saddle_fraction": float(frac),
                    "saddle_fraction_exact": str(frac),
                    "minimum_fraction": a**d / (a + b) ** d,
                    "mean_value_by_index": means,
                }
                if d <= check:
                    gc, gm = generated_census(name, d)
                    gen_frac = Fraction(sum(gc[1:d]), sum(gc)) if d > 1 else Fraction(0)
                    row["checked_against_catalogue"] = gc == counts and gen_frac == frac
                    row["max_mean_value_error"] = max(
                        abs(x - y) for x, y in zip(gm, means, strict=True)
                    )
                    census_ok &= (
                        row["checked_against_catalogue"] and row["max_mean_value_error"] < 1e-9
                    )
                rows.append(row)
                if d in (1, 2, 3, 6, 10, max_dim):
                    table_rows.append(
                        [name, d, (a + b) ** d, a**d, sum(counts[1:d]) if d > 1 else 0,
                         str(frac) if d <= 6 else f"{float(frac):.6f}", means[0], means[-1]]
                    )  # fmt: skip
            census[name] = rows
        census["styblinski_tang_by_index"] = mean_value_by_index("styblinski_tang", 6)
        numbers["census"] = census
        numbers["census"]["all_checks_passed"] = census_ok
        tables.append(
            Table(
                "(a) Exact census: critical points by dimension (index 0 = minima)",
                [
                    "landscape",
                    "d",
                    "critical points",
                    "minima",
                    "saddles",
                    "saddle fraction",
                    "mean value, index 0",
                    "mean value, index d",
                ],
                table_rows,
            )
        )
        bar.update()

        # (b) linear autoencoder
        ae = make_autoencoder((5.0, 4.0, 3.0, 2.0, 1.0), p=2)
        cps = enumerate_critical_points(ae)
        gC = torch.Generator().manual_seed(3)
        C = torch.randn(2, 2, generator=gC, dtype=DTYPE) + 2 * torch.eye(2, dtype=DTYPE)
        cps_C = enumerate_critical_points(ae, C)
        org = origin_point(ae)
        ae_rows = [
            {
                "subset": list(c.subset),
                "loss": c.loss,
                "theory_loss": c.theory_loss,
                "grad_norm": c.grad_norm,
                "index": c.index,
                "theory_index": c.theory_index,
                "zero_eigenvalues": c.zero_eigenvalues,
                "max_eigenvalue_error": c.max_eigenvalue_error,
                "index_with_random_C": cc.index,
                "zero_eigenvalues_with_random_C": cc.zero_eigenvalues,
                "kind": c.kind,
            }
            for c, cc in zip(cps, cps_C, strict=True)
        ]
        ae_ok = (
            all(
                abs(r["loss"] - r["theory_loss"]) < 1e-9
                and r["index"] == r["theory_index"] == r["index_with_random_C"]
                and r["zero_eigenvalues"] == r["zero_eigenvalues_with_random_C"] == ae.p**2
                and r["grad_norm"] < 1e-9
                for r in ae_rows
            )
            and org["index"] == org["theory_index"]
        )
        n_min = sum(r["index"] == 0 for r in ae_rows)
        numbers["autoencoder"] = {
            "eigenvalues": [float(v) for v in ae.lam],
            "n": ae.n,
            "p": ae.p,
            "n_params": ae.n_params,
            "critical_points": ae_rows,
            "origin": org,
            "minima": n_min,
            "saddles": len(ae_rows) - n_min,
            "matches_theory": bool(ae_ok),
        }
        tables.append(
            Table(
                f"(b) Linear autoencoder, n = {ae.n}, p = {ae.p}, covariance eigenvalues "
                f"{[float(v) for v in ae.lam]}: every full-rank critical point",
                [
                    "kept eigenvectors",
                    "loss",
                    "theory",
                    "index",
                    "theory index",
                    "zero eigenvalues",
                    "|grad|",
                    "kind",
                ],
                [
                    [
                        "{" + ",".join(str(i + 1) for i in r["subset"]) + "}",
                        r["loss"],
                        r["theory_loss"],
                        r["index"],
                        r["theory_index"],
                        r["zero_eigenvalues"],
                        r["grad_norm"],
                        r["kind"],
                    ]
                    for r in ae_rows
                ]
                + [
                    [
                        "A = B = 0",
                        org["loss"],
                        org["theory_loss"],
                        org["index"],
                        org["theory_index"],
                        org["zero_eigenvalues"],
                        org["grad_norm"],
                        "saddle",
                    ]
                ],
            )
        )
        bar.update()

        # (c) width study
        from descentlab.nn.tasks import get_task

        task = get_task("spirals", n=100, seed=0)
        widths: list[dict[str, Any]] = []
        for w in widths_list:
            losses, gnorms = train_width(task.X, task.y, w, seeds, train_steps, 1.0, 1e-3)
            s = spread(losses)
            widths.append(
                {
                    "width": w,
                    **s,
                    "median_grad_norm": float(gnorms.median()),
                    "max_grad_norm": float(gnorms.max()),
                    "losses": losses.tolist(),
                }
            )
            bar.update()
        stds = [w["std"] for w in widths]
        iqrs = [w["iqr"] for w in widths]
        shrinks = stds[-1] < max(stds) and iqrs[-1] < max(iqrs) and stds[-1] < stds[0]
        numbers["widths"] = {
            "task": "spirals (n=100, 2 arms)",
            "seeds": seeds,
            "steps": train_steps,
            "lr": 1.0,
            "weight_decay": 1e-3,
            "runs": [{k: v for k, v in w.items() if k != "losses"} for w in widths],
            "std_shrinks_with_width": bool(shrinks),
        }
        tables.append(
            Table(
                f"(c) Final loss of GD ({train_steps} steps, lr 1, {seeds} seeds) by hidden width "
                "on two spirals",
                ["width", "mean", "std", "IQR", "min", "max", "median |grad|"],
                [
                    [
                        w["width"],
                        w["mean"],
                        w["std"],
                        w["iqr"],
                        w["min"],
                        w["max"],
                        w["median_grad_norm"],
                    ]
                    for w in widths
                ],
            )
        )

        # (d) index vs loss
        net = TinyNet()
        starts = gd_snapshots(net, crit_seeds, snaps)
        bar.update()
        pts, gn = find_critical_points(net, starts, crit_iters)
        conv = gn < 1e-8
        found = pts[conv]
        crit: dict[str, Any] = {
            "n_params": net.n_params,
            "searches": int(starts.shape[0]),
            "converged": int(conv.sum()),
            "converged_by_gd_step": dict(
                zip(map(str, snaps), conv.reshape(len(snaps), -1).sum(1).tolist(), strict=True)
            ),
            "stalled_median_grad_norm": float(gn[~conv].median()) if bool((~conv).any()) else None,
            "alpha": [],
            "loss": [],
        }
        if found.shape[0]:
            ev = torch.linalg.eigvalsh(net.hessians(found))
            tol = 1e-7 * ev.abs().amax(1, keepdim=True).clamp(min=1.0)
            neg = (ev < -tol).sum(1)
            zero = (ev.abs() <= tol).sum(1)
            crit["alpha"] = (neg.to(DTYPE) / net.n_params).tolist()
            crit["loss"] = net.loss(found).tolist()
            crit["zero_eigenvalues"] = zero.tolist()
            crit["minima"] = int((neg == 0).sum())
            # The same critical point reached from several starts counts once (by its loss and
            # index), so duplicates do not inflate the correlation.
            distinct = sorted(
                {(round(v, 8), int(k)) for v, k in zip(crit["loss"], neg.tolist(), strict=True)}
            )
            crit["distinct"] = len(distinct)
            crit["distinct_points"] = [
                {"loss": v, "alpha": k / net.n_params, "index": k} for v, k in distinct
            ]
        dl = np.array([p["loss"] for p in crit.get("distinct_points", [])])
        da = np.array([p["alpha"] for p in crit.get("distinct_points", [])])
        if len(da) >= 3 and np.std(da) > 0 and np.std(dl) > 0:
            r, lo, hi = bootstrap_corr(da, dl)
            crit["pearson_r"], crit["ci"] = r, [lo, hi]
        else:
            crit["pearson_r"], crit["ci"] = None, None
        numbers["index_vs_loss"] = crit
        bar.update()

        figures: dict[str, Path] = {}
        if out is not None:
            figures = _figures(Path(out), census, ae_rows, widths, crit)

    st6 = census["styblinski_tang"][5]
    ra10 = census["rastrigin"][9]
    r = crit["pearson_r"]
    corr_pos = r is not None and crit["ci"][0] > 0
    verdict = "supported" if census_ok and ae_ok and shrinks and corr_pos else "qualified"
    w0, w1 = widths[0], widths[-1]
    corr_text = (
        "too few converged searches for a correlation"
        if r is None
        else f"Pearson r = {r:.2f} (95% bootstrap CI [{crit['ci'][0]:.2f}, {crit['ci'][1]:.2f}])"
    )
    summary = (
        "Saddles vastly outnumber minima and sit higher: in the separable landscapes the saddle "
        f"fraction is exactly 1 - (2^d + 1)/3^d for Styblinski–Tang ({st6['saddle_fraction']:.3f} "
        f"at d = 6) and 1 - (11^d + 10^d)/21^d for Rastrigin ({ra10['saddle_fraction']:.3f} at "
        "d = 10), with mean value growing linearly in the index. The linear autoencoder has "
        f"{len(ae_rows)} full-rank critical points, exactly one a minimum (PCA, loss "
        f"{ae_rows[0]['loss']:.4g}); the other {len(ae_rows) - 1} are saddles whose loss is the "
        "sum of left-out eigenvalues and whose index counts the misordered pairs -- no bad local "
        "minima at all. Networks: the spread of GD's final losses across seeds went from std "
        f"{w0['std']:.3g} (width {w0['width']}) to {w1['std']:.3g} (width {w1['width']}); "
        f"critical points found from GD paths of a {net.n_params}-parameter network: "
        f"{crit['converged']} of {crit['searches']} searches converged, index fraction vs loss "
        f"{corr_text}. Nuance: counting saddles is not the same as saddles stopping training -- "
        "gradient descent from a random start almost never converges to a strict saddle (Lee et "
        "al. 2016); what they cost is time near them (claim 4), and the width study measures end "
        "points of a fixed step budget, not certified minima."
        + (
            " Verdict 'supported': every part agrees."
            if verdict == "supported"
            else " Verdict 'qualified' because "
            + "; ".join(
                why
                for ok, why in (
                    (census_ok, "the census did not match the catalogue"),
                    (ae_ok, "the autoencoder did not match its theory"),
                    (shrinks, "the spread of final losses did not shrink with width here"),
                    (corr_pos, "the index-loss correlation's interval does not exclude zero"),
                )
                if not ok
            )
            + "."
        )
    )
    rests_on = [
        "exact counts C(d,k) b^k a^(d-k) by index for d = 1.."
        f"{max_dim}, equal to the catalogue's generated sets for Styblinski–Tang d <= {check_st} "
        f"and Rastrigin d <= {check_ra} (counts, saddle fraction as exact fractions, and mean "
        "value by index)",
        f"linear autoencoder (n = {ae.n}, p = {ae.p}): loss of each of the {len(ae_rows)} "
        "critical points equals the sum of left-out eigenvalues (max error "
        f"{max(abs(r['loss'] - r['theory_loss']) for r in ae_rows):.1e}), gradient norm <= "
        f"{max(r['grad_norm'] for r in ae_rows):.1e}, Hessian index from torch.func.hessian "
        "equals the count of misordered pairs (also with a random GL(2) factor C), "
        f"{ae.p**2} zero eigenvalues each (the GL(p) symmetry), full spectrum matches the "
        f"closed form to {max(r['max_eigenvalue_error'] for r in ae_rows):.1e}",
        f"GD from {seeds} seeds per width on two spirals: std of final losses "
        + ", ".join(f"{w['std']:.3g} (w={w['width']})" for w in widths)
        + "; IQR "
        + ", ".join(f"{w['iqr']:.3g}" for w in widths)
        + "; median final gradient norm "
        + ", ".join(f"{w['median_grad_norm']:.1e}" for w in widths),
        f"Levenberg-Marquardt critical-point search from {crit['searches']} points on GD paths: "
        f"{crit['converged']} converged to |grad| < 1e-8 ({crit.get('distinct', 0)} distinct, "
        f"{crit.get('minima', 0)} minima); index fraction vs loss {corr_text}; converged "
        "searches by the GD step they started from: "
        + ", ".join(f"step {k}: {v}" for k, v in crit["converged_by_gd_step"].items())
        + (
            ""
            if crit["stalled_median_grad_norm"] is None
            else f"; the others stalled at a median |grad| of "
            f"{crit['stalled_median_grad_norm']:.1e} (flat, nearly singular regions), so "
            "low-loss critical points are under-sampled"
        ),
    ]
    return ExperimentResult(
        name="saddles-dominate",
        claim=CLAIM,
        verdict=verdict,
        summary=summary,
        rests_on=rests_on,
        numbers=numbers,
        tables=tables,
        figures=figures,
    )
