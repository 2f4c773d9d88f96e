"""Claim 4: "learning-rate control and optimizers get training past saddle points" -- timed.

What is exact, and what is measured:

* **Escape time** of a run from a saddle at the origin: the first step ``k`` with
  ``|x_k| > rho`` (the engine's ``bound`` rule with ``bound = rho`` stops the row exactly
  there). On the quadratic saddle ``1/2 x^2 - 1/2 y^2`` gradient descent gives
  ``y_k = (1 + lr)^k y_0`` exactly, so from ``(0, y_0)`` the escape step is the smallest ``k``
  with ``(1 + lr)^k |y_0| > rho``: ``floor(log(rho / |y_0|) / log(1 + lr)) + 1``. From
  ``y_0 = 0`` the gradient ``(x, -y)`` never has a ``y`` component: GD converges to the saddle.
* **Lee et al. (2016)'s example** ``f = 1/2 x^2 + 1/4 y^4 - 1/2 y^2`` (saddle at the origin with
  Hessian ``diag(1, -1)``, minima ``(0, +-1)`` with value ``-1/4``): GD from the stable manifold
  ``y = 0`` converges to the saddle (``x_k = (1 - lr)^k x_0``); from ``y_0 != 0`` it escapes in
  about ``log(rho / |y_0|) / log(1 + lr)`` steps (the linearisation), i.e. in a time
  logarithmic in the distance to the stable manifold. The ``y^3`` term only slows the last
  steps, by a delay independent of ``y_0``: about ``1/2 log(1 / (1 - rho^2)) / log(1 + lr)``
  steps (from the flow ``y' = y (1 - y^2)``).
* **Nine optimizers** (gd, momentum, nesterov, rmsprop, adam from ``torch.optim``; perturbed and
  noisy GD; saddle-free and cubic-regularised Newton) on Lee's function, against the learning
  rate and the starting distance ``delta`` (start ``delta (1, 1) / sqrt 2``), including
  ``delta = 0``: exactly at the saddle every gradient is zero, so every method whose step is a
  function of the gradient alone (GD, momentum, Nesterov, RMSprop, Adam, and saddle-free Newton,
  whose step is ``-|H|^-1 g``) never moves; noise (perturbed, noisy GD) or a step built from the
  curvature itself (cubic-regularised Newton minimises ``g.s + 1/2 s.H.s + M/6 |s|^3``, whose
  minimiser at ``g = 0`` points along the negative-curvature direction) escapes.
* **Matrix factorisation** ``1/2 ||U U^T - M||_F^2`` (``U`` is ``n x r``, ``M`` symmetric): at
  ``U = 0`` the gradient ``2 (U U^T - M) U`` is exactly zero, so GD never moves; perturbed GD
  escapes and reaches the optimum ``1/2 sum_{i > r} mu_i^2`` (Eckart–Young, ``mu`` the
  eigenvalues of ``M`` by decreasing value, here all positive).
* **Du et al. (2017)'s chain of saddles** (:mod:`descentlab.experiments.octopus`): GD's time in
  each successive saddle's cell grows geometrically with the predicted ratio
  ``rho = 1 + log(1 / (1 - 2 lr L)) / log(1 + 2 lr gamma)``, while perturbed GD passes each cell
  in a bounded number of steps.

References: J. D. Lee, M. Simchowitz, M. I. Jordan, B. Recht, *Gradient descent only converges to
minimizers*, COLT 2016; C. Jin, R. Ge, P. Netrapalli, S. Kakade, M. I. Jordan, *How to escape
saddle points efficiently*, ICML 2017; R. Ge, F. Huang, C. Jin, Y. Yuan, COLT 2015; S. S. Du et
al., *Gradient descent can take exponential time to escape saddle points*, NeurIPS 2017;
Y. Nesterov, B. Polyak, *Cubic regularization of Newton method*, Math. Prog. 108 (2006);
Y. Dauphin et al., NeurIPS 2014 (saddle-free Newton).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from descentlab.analysis import diagnose
from descentlab.engine import run as engine_run
from descentlab.experiments.base import ExperimentResult, Table, register
from descentlab.experiments.octopus import Octopus
from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.progress import Progress
from descentlab.validate import check_positive

Tensor = torch.Tensor
DTYPE = torch.float64
CLAIM = "Learning-rate control and the choice of optimizer get gradient descent past saddle points."
ESCAPE_RADIUS = 0.5

# Methods whose step depends on the gradient only (they cannot leave a point where it is zero).
GRADIENT_ONLY = ("gd", "momentum", "nesterov", "rmsprop", "adam", "saddle_free_newton")
OPTIMIZERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("gd", {}),
    ("momentum", {"momentum": 0.9}),
    ("nesterov", {"momentum": 0.9}),
    ("rmsprop", {}),
    ("adam", {}),
    ("perturbed_gd", {"g_thres": 1e-3, "radius": 1e-2, "t_thres": 20, "seed": 0}),
    ("noisy_gd", {"sigma": 1e-2, "seed": 0}),
    ("saddle_free_newton", {}),
    ("cubic_newton", {"M": 1.0}),
)


# ---------------------------------------------------------------------------- landscapes
def quadratic_saddle() -> Landscape:
    """``f = 1/2 x^2 - 1/2 y^2``: Hessian ``diag(1, -1)``, GD has ``y_k = (1 + lr)^k y_0``."""

    def f(P: Tensor) -> Tensor:
        x, y = P.unbind(-1)
        return 0.5 * x**2 - 0.5 * y**2

    return Landscape(
        f,
        2,
        any_layout=True,
        name="quadratic_saddle",
        domain=(-1.0, 1.0),
        critical_points=[CriticalPoint((0.0, 0.0), 0.0, "saddle", 1, eigenvalues=(-1.0, 1.0))],
        complete=True,
    )


def lee_landscape() -> Landscape:
    """Lee et al. (2016): ``f = 1/2 x^2 + 1/4 y^4 - 1/2 y^2``; saddle at 0, minima ``(0, +-1)``.

    Example:
        >>> [c.kind for c in lee_landscape().critical_points]
        ['saddle', 'minimum', 'minimum']
    """

    def f(P: Tensor) -> Tensor:
        x, y = P.unbind(-1)
        return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2

    return Landscape(
        f,
        2,
        any_layout=True,
        name="lee2016",
        domain=(-1.5, 1.5),
        critical_points=[
            CriticalPoint((0.0, 0.0), 0.0, "saddle", 1, eigenvalues=(-1.0, 1.0)),
            CriticalPoint((0.0, -1.0), -0.25, "minimum", 0, True, eigenvalues=(1.0, 2.0)),
            CriticalPoint((0.0, 1.0), -0.25, "minimum", 0, True, eigenvalues=(1.0, 2.0)),
        ],
        complete=True,
        global_min_value=-0.25,
    )


def gd_escape_step_quadratic(y0: float, lr: float, rho: float = ESCAPE_RADIUS) -> int | None:
    """Exact escape step of GD on :func:`quadratic_saddle` from ``(0, y0)``: the smallest ``k``
    with ``(1 + lr)^k |y0| > rho`` (``None`` for ``y0 = 0``: it never escapes).

    Example:
        >>> gd_escape_step_quadratic(1e-3, 0.1)  # 1.1^65 * 1e-3 = 0.490, 1.1^66 * 1e-3 = 0.539
        66
    """
    check_positive("lr", lr)
    if y0 == 0:
        return None
    if abs(y0) > rho:
        return 0
    return math.floor(math.log(rho / abs(y0)) / math.log1p(lr)) + 1


def lee_prediction(y0: float, lr: float, rho: float = ESCAPE_RADIUS) -> float:
    """``log(rho / |y0|) / log(1 + lr)``: the linearised escape time on Lee's function."""
    return math.log(rho / abs(y0)) / math.log1p(lr)


def matrix_factorisation(M: np.ndarray, r: int) -> Landscape:
    """``f(U) = 1/2 ||U U^T - M||_F^2`` over ``U`` (``n x r``, flattened row-major)."""
    Mt = torch.as_tensor(M, dtype=DTYPE)
    n = Mt.shape[0]

    def fn(P: Tensor) -> Tensor:
        U = P.reshape(P.shape[0], n, r)
        R = U @ U.transpose(1, 2) - Mt
        return 0.5 * (R * R).sum((1, 2))

    return Landscape(fn, n * r, name="matrix_factorisation", domain=(-2.0, 2.0))


def mf_optimum(M: np.ndarray, r: int) -> float:
    """``1/2 sum_{i > r} mu_i^2`` for ``M`` positive semi-definite (``mu`` decreasing)."""
    mu = np.sort(np.linalg.eigvalsh(M))[::-1]
    return 0.5 * float(np.sum(mu[r:] ** 2))


def escape_steps(traj: Any) -> list[int | None]:
    """Per row: the step at which a run with ``bound = rho`` left the ball (``None``: never)."""
    return [
        int(s) if r == "diverged" else None
        for s, r in zip(traj.stop_step, traj.stop_reason, strict=True)
    ]


def _spec(name: str, hyper: dict[str, Any]) -> Any:
    return (name, dict(hyper)) if hyper else name


# ---------------------------------------------------------------------------- figures
def _figures(out: Path, sweep: dict, lee: dict, octo: dict, mf: dict) -> dict[str, Path]:
    from descentlab.viz import new_figure, save_figure, style

    figs: dict[str, Path] = {}
    # escape time against the starting distance, one line per optimizer (lr = main rate)
    fig = new_figure(style.FIGSIZE_WIDE)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    deltas = [d for d in sweep["deltas"] if d > 0]
    lr = sweep["main_lr"]
    top = sweep["steps"] * 1.6
    colors = style.optimizer_colors([n for n, _ in OPTIMIZERS])
    colors["cubic_newton"] = "#999933"  # the shared palette repeats after 8 names
    markers = dict(zip([n for n, _ in OPTIMIZERS], "os^vDPX*h", strict=True))
    for name, _ in OPTIMIZERS:
        color = colors[name]
        row = sweep["escape"][name][str(lr)]
        ys = [row[str(d)] for d in deltas]
        ax1.plot(
            deltas,
            [y if y is not None else np.nan for y in ys],
            "-",
            marker=markers[name],
            color=color,
            label=name,
            ms=4.5,
        )
        at0 = row["0.0"]
        ax1.scatter(
            [deltas[0] / 30], [at0 if at0 is not None else top], color=color, marker=markers[name]
        )
    ax1.axhline(top, color="grey", ls=":", lw=0.8)
    ax1.text(deltas[0] / 10, top, "never moved (exactly at the saddle)", fontsize=7.5, va="center")
    ax1.axvline(deltas[0] / 10, color="grey", lw=0.6)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("starting distance from the saddle (left of the line: exactly at it)")
    ax1.set_ylabel(f"steps to leave radius {ESCAPE_RADIUS}")
    ax1.set_title(f"Escape from Lee's saddle, lr = {lr}")
    ax1.legend(fontsize=6.5, loc="lower left", ncol=2)
    # Lee: measured vs closed form
    y0 = lee["y0"]
    for lr_, rows in lee["measured"].items():
        ax2.plot([math.log(1 / y) for y in y0], rows, "o", label=f"GD measured, lr = {lr_}", ms=5)
        ax2.plot(
            [math.log(1 / y) for y in y0],
            lee["predicted"][lr_],
            "-",
            color="black",
            lw=0.8,
        )
    ax2.set_xlabel("log(1 / |y0|)")
    ax2.set_ylabel("escape step")
    ax2.set_title("Lee et al.: escape time vs log(rho/|y0|)/log(1+lr) (lines)")
    ax2.legend(fontsize=7.5)
    figs["escape_times"] = save_figure(fig, out / "escape_times.png")

    # the octopus: objective vs iterations, as in Du et al. (2017) Fig. 3
    fig = new_figure(style.FIGSIZE_WIDE)
    ax = fig.add_subplot(1, 1, 1)
    for label, curve, color in (
        ("GD", octo["curve_gd"], "#0072B2"),
        ("perturbed GD", octo["curve_pgd"], "#009E73"),
    ):
        ax.plot(np.arange(len(curve)), curve, color=color, lw=style.LINEWIDTH, label=label)
    for i, v in enumerate(octo["saddle_values"], start=1):
        ax.axhline(v, color="grey", ls=":", lw=0.7)
        if i <= octo["d"]:
            ax.annotate(
                f"saddle {i}",
                (1.0, v),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                fontsize=7,
                va="center",
            )
    arrive = [
        next((k for k, v in enumerate(c) if v <= octo["saddle_values"][-1] + 1e-3), len(c))
        for c in (octo["curve_gd"], octo["curve_pgd"])
    ]
    ax.set_xlim(-10, min(len(octo["curve_gd"]), int(1.15 * max(arrive)) + 10))
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    ax.set_title(
        f"Chain of {octo['d']} saddles (Du et al. 2017; L = {octo['L']}, gamma = "
        f"{octo['gamma']}, lr = {octo['lr']}): GD's plateaus grow, perturbed GD's do not"
    )
    ax.legend(loc="lower left")
    figs["octopus"] = save_figure(fig, out / "octopus.png")

    fig = new_figure(style.FIGSIZE_WIDE)
    ax = fig.add_subplot(1, 1, 1)
    for label, curve in mf["curves"].items():
        ax.semilogy(np.arange(len(curve)), np.maximum(np.array(curve) - mf["optimum"], 1e-16),
                    label=label)  # fmt: skip
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss - optimum")
    ax.set_title("Matrix factorisation 1/2 ||U U^T - M||^2 from U = 0")
    ax.legend()
    figs["matrix_factorisation"] = save_figure(fig, out / "matrix_factorisation.png")
    return figs


# ---------------------------------------------------------------------------- experiment
@register("escape")
def run(
    quick: bool = False, out: Path | None = None, progress: bool | None = None
) -> ExperimentResult:
    """Claim 4, timed: escape times by optimizer, learning rate and distance; Lee's example;
    matrix factorisation from zero; Du et al.'s chain of saddles.

    Args:
        quick: fewer learning rates and distances, shorter runs, a 5-saddle chain (7 in full).
        out: folder for the figures (none drawn when ``None``).
        progress: show a progress bar (``None``: when stderr is a terminal).

    Returns:
        an :class:`~descentlab.experiments.ExperimentResult`.

    Example:
        >>> r = run(quick=True)  # doctest: +SKIP
        >>> r.numbers["sweep"]["escape"]["gd"]["0.1"]["0.0"] is None  # doctest: +SKIP
        True
    """
    # Small tensors: one thread is faster than two, and leaves the other core free.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(quick, out, progress)
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool, out: Path | None, progress: bool | None) -> ExperimentResult:
    lrs = [0.03, 0.1, 0.3] if quick else [0.01, 0.03, 0.1, 0.3]
    deltas = [0.0, 1e-8, 1e-4, 1e-2] if quick else [0.0, 1e-12, 1e-8, 1e-4, 1e-2]
    steps = 2000 if quick else 5000
    main_lr = 0.1
    octo_d, octo_steps, octo_starts = (5, 1500, 3) if quick else (7, 6000, 5)
    numbers: dict[str, Any] = {}
    tables: list[Table] = []
    with Progress(len(OPTIMIZERS) + 4, "escape", enabled=progress) as bar:
        # 1. optimizers x learning rate x distance on Lee's function
        lee = lee_landscape()
        starts = np.array([[d / math.sqrt(2), d / math.sqrt(2)] for d in deltas])
        escape: dict[str, dict[str, dict[str, int | None]]] = {}
        for name, hyper in OPTIMIZERS:
            tr = engine_run(
                lee,
                _spec(name, hyper),
                starts,
                steps,
                lrs=lrs,
                grad_tol=0.0,
                bound=ESCAPE_RADIUS,
                record_every=steps,
            )
            esc = escape_steps(tr)
            B0 = len(deltas)
            escape[name] = {
                str(lr): {str(d): esc[g * B0 + i] for i, d in enumerate(deltas)}
                for g, lr in enumerate(lrs)
            }
            bar.update()
        never_at_saddle = {
            n: all(escape[n][str(lr)]["0.0"] is None for lr in lrs) for n, _ in OPTIMIZERS
        }
        grad_only_never = all(never_at_saddle[n] for n in GRADIENT_ONLY)
        escapers = [n for n, _ in OPTIMIZERS if not never_at_saddle[n]]
        gd_off = [escape["gd"][str(lr)][str(deltas[1])] for lr in lrs]
        lr_helps = all(
            a is not None and b is not None and b < a for a, b in itertools.pairwise(gd_off)
        )
        numbers["sweep"] = {
            "landscape": "Lee et al. 2016: 1/2 x^2 + 1/4 y^4 - 1/2 y^2",
            "escape_radius": ESCAPE_RADIUS,
            "steps": steps,
            "lrs": lrs,
            "deltas": deltas,
            "main_lr": main_lr,
            "hyper": {n: h for n, h in OPTIMIZERS},
            "escape": escape,
            "never_move_from_exact_saddle": [n for n in never_at_saddle if never_at_saddle[n]],
            "escape_from_exact_saddle": escapers,
            "gd_escape_shortens_with_lr": bool(lr_helps),
        }

        def cell(v: int | None) -> str | int:
            return "never" if v is None else v

        tables.append(
            Table(
                f"Steps to leave radius {ESCAPE_RADIUS} around Lee's saddle, by starting "
                f"distance (budget {steps} steps; 'never' = still inside)",
                ["optimizer", "lr", *[f"delta={d:g}" for d in deltas]],
                [
                    [name, lr, *[cell(escape[name][str(lr)][str(d)]) for d in deltas]]
                    for name, _ in OPTIMIZERS
                    for lr in lrs
                ],
            )
        )

        # 2. Lee's example: stable manifold, and escape time vs closed form
        tr_sm = engine_run(lee, "gd", [[1.0, 0.0]], 4000, lr=main_lr, grad_tol=1e-8)
        diag = diagnose(tr_sm, lee)
        out_sm = diag[0]
        y0s = [1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12]
        lee_meas: dict[str, list[int | None]] = {}
        lee_pred: dict[str, list[float]] = {}
        quad_meas: dict[str, list[int | None]] = {}
        quad_exact: dict[str, list[int | None]] = {}
        quad = quadratic_saddle()
        for lr in (0.05, main_lr, 0.3):
            st = np.array([[0.0, y] for y in y0s])
            t_lee = engine_run(lee, "gd", st, 3000, lr=lr, grad_tol=0.0, bound=ESCAPE_RADIUS,
                               record_every=3000)  # fmt: skip
            t_q = engine_run(quad, "gd", st, 3000, lr=lr, grad_tol=0.0, bound=ESCAPE_RADIUS,
                             record_every=3000)  # fmt: skip
            lee_meas[str(lr)] = escape_steps(t_lee)
            lee_pred[str(lr)] = [lee_prediction(y, lr) for y in y0s]
            quad_meas[str(lr)] = escape_steps(t_q)
            quad_exact[str(lr)] = [gd_escape_step_quadratic(y, lr) for y in y0s]
        quad_ok = quad_meas == quad_exact
        excess = {
            lr: [m - p for m, p in zip(lee_meas[lr], lee_pred[lr], strict=True) if m is not None]
            for lr in lee_meas
        }
        slopes = {
            lr: float(np.polyfit([math.log(1 / y) for y in y0s], lee_meas[lr], 1)[0])
            for lr in lee_meas
        }
        t_zero = engine_run(quad, "gd", [[0.3, 0.0]], 2000, lr=main_lr)
        numbers["lee"] = {
            "stable_manifold": {
                "start": [1.0, 0.0],
                "final_point": tr_sm.final_points[0].tolist(),
                "distance_to_saddle": float(np.linalg.norm(tr_sm.final_points[0])),
                "stop": str(tr_sm.stop_reason[0]),
                "steps": int(tr_sm.stop_step[0]),
                "closed_form_steps": math.ceil(math.log(1e-8) / math.log(1 - main_lr)),
                "diagnosis": out_sm.kind,
            },
            "y0": y0s,
            "measured": lee_meas,
            "predicted": lee_pred,
            "measured_minus_predicted": excess,
            "cubic_term_delay_from_flow": {
                lr: 0.5 * math.log(1 / (1 - ESCAPE_RADIUS**2)) / math.log1p(float(lr))
                for lr in lee_meas
            },
            "slope_vs_log_1_over_y0": slopes,
            "predicted_slope": {lr: 1 / math.log1p(float(lr)) for lr in lee_meas},
            "quadratic_saddle_measured": quad_meas,
            "quadratic_saddle_closed_form": quad_exact,
            "quadratic_saddle_exact_match": bool(quad_ok),
            "quadratic_saddle_from_y0_0_final_y": float(t_zero.final_points[0, 1]),
        }
        bar.update()

        # 3. matrix factorisation from U = 0
        gM = np.random.default_rng(5)
        Q, _ = np.linalg.qr(gM.standard_normal((4, 4)))
        mu = np.array([4.0, 2.0, 1.0, 0.5])
        M = Q @ np.diag(mu) @ Q.T
        r = 2
        mfL = matrix_factorisation(M, r)
        opt = mf_optimum(M, r)
        zero = np.zeros((1, 4 * r))
        mf_runs = {
            "gd": ("gd", {}),
            "perturbed_gd": ("perturbed_gd", {"g_thres": 1e-4, "radius": 1e-3, "t_thres": 50,
                                              "seed": 1}),
            "noisy_gd": ("noisy_gd", {"sigma": 1e-3, "seed": 1}),
        }  # fmt: skip
        mf: dict[str, Any] = {"eigenvalues_of_M": mu.tolist(), "r": r, "optimum": opt,
                              "start_loss": float(mfL(torch.zeros(1, 4 * r, dtype=DTYPE))[0]),
                              "runs": {}, "curves": {}}  # fmt: skip
        mf_steps = 1000
        for label, (name, hyper) in mf_runs.items():
            tr = engine_run(mfL, _spec(name, hyper), zero, mf_steps, lr=0.05, grad_tol=0.0)
            # Perturbed GD also perturbs at the minimum (small gradient there too) at most once
            # per t_thres steps; the best loss of the last 100 steps is the point before a kick
            # (what the paper's termination rule would return).
            best = float(tr.losses[-100:, 0].min())
            mf["runs"][label] = {
                "final_loss": float(tr.final_losses[0]),
                "best_loss_last_100_steps": best,
                "gap_to_optimum": best - opt,
                "moved": float(np.abs(tr.positions[:, 0]).max()),
            }
            mf["curves"][label] = tr.losses[:, 0].tolist()
        numbers["matrix_factorisation"] = {k: v for k, v in mf.items() if k != "curves"}
        gd_stays = mf["runs"]["gd"]["moved"] == 0.0
        pgd_gap = mf["runs"]["perturbed_gd"]["gap_to_optimum"]
        pgd_ok = abs(pgd_gap) < 1e-4
        bar.update()

        # 4. Du et al.'s chain of saddles
        octopus = Octopus(octo_d, L=1.0, gamma=1.0, tau=math.e)
        olr = 0.1
        rng = np.random.default_rng(0)
        ostarts = rng.uniform(-1.0, 1.0, size=(octo_starts, octo_d))
        oL = octopus.landscape()
        pgd_h = {"g_thres": 0.05, "radius": 0.3, "t_thres": 10, "seed": 0}
        dwell: dict[str, list[list[int]]] = {}
        curves: dict[str, list[float]] = {}
        for label, spec in (("gd", "gd"), ("perturbed_gd", ("perturbed_gd", pgd_h))):
            tr = engine_run(oL, spec, ostarts, octo_steps, lr=olr, grad_tol=0.0)
            P = torch.as_tensor(tr.positions)
            T, B, _ = P.shape
            cells = octopus.cell(P.reshape(-1, octo_d)).reshape(T, B).numpy()
            dwell[label] = [
                [int((cells[:, b] == i).sum()) for i in range(octo_d)] for b in range(B)
            ]
            curves[label] = tr.losses[:, 0].tolist()
            if label == "gd":
                reached_gd = bool((cells[-1] == octo_d).all())
            else:
                reached_pgd = bool((cells[-1] == octo_d).all())
        gd_med = np.median(np.array(dwell["gd"]), axis=0)
        pgd_med = np.median(np.array(dwell["perturbed_gd"]), axis=0)
        ratios = (gd_med[1:] / gd_med[:-1]).tolist()
        rho = octopus.growth_ratio(olr)
        late = ratios[len(ratios) // 2 :]
        octo_ok = (
            reached_gd
            and reached_pgd
            and all(abs(x - rho) / rho < 0.25 for x in late)
            and float(pgd_med[2:].max()) < 0.25 * float(gd_med[-1])
        )
        octo = {
            "d": octo_d,
            "L": 1.0,
            "gamma": 1.0,
            "tau": math.e,
            "lr": olr,
            "nu": octopus.nu,
            "perturbed_gd": pgd_h,
            "saddle_values": [octopus.saddle_value(i) for i in range(1, octo_d + 2)],
            "gd_dwell_per_saddle": dwell["gd"],
            "pgd_dwell_per_saddle": dwell["perturbed_gd"],
            "gd_median_dwell": gd_med.tolist(),
            "pgd_median_dwell": pgd_med.tolist(),
            "gd_successive_ratios": ratios,
            "predicted_ratio": rho,
            "gd_reached_minimum": reached_gd,
            "pgd_reached_minimum": reached_pgd,
        }
        numbers["octopus"] = octo
        tables.append(
            Table(
                f"Chain of {octo_d} saddles: median steps spent in each saddle's cell "
                f"({octo_starts} starts in [-1, 1]^{octo_d}, lr {olr})",
                [
                    "saddle",
                    "value",
                    "GD",
                    "GD ratio to previous",
                    "predicted ratio",
                    "perturbed GD",
                ],
                [
                    [
                        i + 1,
                        octo["saddle_values"][i],
                        gd_med[i],
                        "" if i == 0 else ratios[i - 1],
                        "" if i == 0 else rho,
                        pgd_med[i],
                    ]
                    for i in range(octo_d)
                ],
            )
        )
        bar.update()

        figures: dict[str, Path] = {}
        if out is not None:
            octo_fig = {**octo, "curve_gd": curves["gd"], "curve_pgd": curves["perturbed_gd"]}
            figures = _figures(Path(out), numbers["sweep"], numbers["lee"], octo_fig, mf)
        bar.update()

    checks = {
        "gradient_only_methods_never_move_from_exact_saddle": bool(grad_only_never),
        "noise_or_curvature_escape_from_exact_saddle": sorted(escapers)
        == sorted(["perturbed_gd", "noisy_gd", "cubic_newton"]),
        "gd_escape_shortens_with_lr": bool(lr_helps),
        "quadratic_saddle_closed_form_exact": bool(quad_ok),
        "lee_stable_manifold_converges_to_saddle": out_sm.kind == "saddle",
        "matrix_factorisation_gd_stays_at_zero": bool(gd_stays),
        "matrix_factorisation_pgd_reaches_optimum": bool(pgd_ok),
        "octopus_gd_geometric_pgd_bounded": bool(octo_ok),
    }
    numbers["checks"] = checks
    # The claim's positive half (the learning rate and the method change escape) must hold for
    # "qualified"; the literature's nuance (exact saddles) is what keeps it from "supported".
    verdict = "qualified" if lr_helps and escapers else "refuted"
    e = escape
    d1 = str(deltas[1])
    lee_ex = excess[str(main_lr)]
    summary = (
        "Saddles slow gradient descent down, and the learning rate and the optimizer decide by "
        f"how much: from {deltas[1]:g} off Lee's saddle GD needs "
        + ", ".join(f"{cell(e['gd'][str(lr)][d1])} (lr {lr})" for lr in lrs)
        + f" steps to leave radius {ESCAPE_RADIUS}, momentum "
        f"{cell(e['momentum'][str(main_lr)][d1])}"
        f", Adam {cell(e['adam'][str(main_lr)][d1])} and RMSprop "
        f"{cell(e['rmsprop'][str(main_lr)][d1])} at lr {main_lr} (the adaptive methods divide "
        "by the gradient's running size, so even a tiny unstable component gets an lr-sized "
        "step); GD's escape time is "
        f"logarithmic in the distance (Lee's example: measured minus log(rho/|y0|)/log(1+lr) "
        f"stays between {min(lee_ex):.2f} and {max(lee_ex):.2f} steps for |y0| from 1e-2 to "
        "1e-12, the delay of the y^3 term; exact on the quadratic saddle). But started exactly "
        "at a saddle, "
        + ", ".join(n for n in never_at_saddle if never_at_saddle[n])
        + " never move: their step is a function of the gradient, which is zero there; GD "
        "from Lee's stable manifold converges to the saddle (diagnosed "
        f"'{out_sm.kind}'); matrix factorisation from U = 0 does not move under GD, while "
        f"perturbed GD reaches the optimum {opt:.4g} (gap {pgd_gap:.1e}). What escapes from the "
        "exact saddle is noise (perturbed GD, noisy GD) or curvature (cubic-regularised Newton). "
        f"On Du et al.'s chain of {octo_d} saddles GD's time per saddle grows geometrically "
        f"(median dwell {', '.join(f'{v:g}' for v in gd_med)}; ratio -> {rho:.3f} predicted) while "
        f"perturbed GD spends {', '.join(f'{v:g}' for v in pgd_med)}."
    )
    rests_on = [
        f"escape step (first |x_k| > {ESCAPE_RADIUS}) of 9 optimizers x {len(lrs)} learning "
        f"rates x {len(deltas)} starting distances on Lee's function; from the exact saddle: "
        f"never for {', '.join(n for n in never_at_saddle if never_at_saddle[n])}; escaped for "
        f"{', '.join(escapers)}",
        "GD on 1/2 x^2 - 1/2 y^2: escape step equal to floor(log(rho/|y0|)/log(1+lr)) + 1 for "
        f"every y0 and lr tried: {quad_ok}; y stays exactly "
        f"{numbers['lee']['quadratic_saddle_from_y0_0_final_y']} from y0 = 0",
        "Lee's example, GD from (1, 0): ends at distance "
        f"{numbers['lee']['stable_manifold']['distance_to_saddle']:.1e} from the saddle, "
        f"diagnosed '{out_sm.kind}'; off the manifold the fitted slope of escape step against "
        "log(1/|y0|) is "
        + ", ".join(
            f"{slopes[lr]:.3f} (predicted {1 / math.log1p(float(lr)):.3f}, lr {lr})"
            for lr in slopes
        ),
        f"matrix factorisation (n = 4, r = {r}, eigenvalues of M {mu.tolist()}): GD from U = 0 "
        f"moved {mf['runs']['gd']['moved']:g} (gradient exactly 0); perturbed GD best loss of "
        f"the last 100 steps {mf['runs']['perturbed_gd']['best_loss_last_100_steps']:.9g} vs "
        f"optimum 1/2 (1^2 + 0.5^2) = {opt:.6g}; noisy GD "
        f"{mf['runs']['noisy_gd']['best_loss_last_100_steps']:.6g}",
        f"chain of {octo_d} saddles (values and Hessians exact by construction, tested): GD "
        f"successive dwell ratios {', '.join(f'{x:.2f}' for x in ratios)} vs predicted "
        f"{rho:.3f}; perturbed GD per-saddle dwell at most {float(pgd_med.max()):g} steps",
    ]
    return ExperimentResult(
        name="escape",
        claim=CLAIM,
        verdict=verdict,
        summary=summary,
        rests_on=rests_on,
        numbers=numbers,
        tables=tables,
        figures=figures,
    )
