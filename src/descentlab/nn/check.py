"""Is this network at a minimum, a saddle, a degenerate point, a plateau, or still descending?

:func:`check_point` measures, on the full (fixed) data, the loss, the gradient and both ends of
the Hessian spectrum, each with its uncertainty, and applies one stated rule.

**Evidence.**

* ``g``, the full-data gradient, and ``SE``, its sampling noise: the standard error of the mean
  of the per-sample gradients (:mod:`descentlab.nn.noise`). Per-sample gradients do not depend
  on how the caller batched or shuffled the data, so neither does ``SE``; when they are not
  available (train mode, a loss that couples samples) ``SE`` is not used and a note says why.
* ``λmin``, ``λmax`` with half-widths ``δ``: from the dense Hessian when ``n ≤ exact_below``
  (``δ`` = its asymmetry ``‖(D - Dᵀ)/2‖₂`` plus ``n·ε·‖D‖₂``, the eigensolver's backward error), or
  from Lanczos (``δ`` = the residual ``‖Hy - θy‖``: an eigenvalue lies within it). A Ritz value is
  the Rayleigh quotient of an explicit vector, so ``λmin ≤ θmin`` up to rounding ``δ₀`` whether or
  not Lanczos converged; the lower bound ``θmin - δ`` needs convergence.
* ``ρ``, how fast the curvature changes: central differences of Hessian-vector products along
  the gradient and the bottom eigenvector, ``ρ ≈ max_d ‖(H(θ+hd) - H(θ-hd)) u‖ / 2h``.

**Rule.** Stationary when ``‖g‖ ≤ g* = max(grad_tol, noise_z·SE)``. The curvature the gradient
can hide is ``τ = sqrt(2ρ‖g‖)``: along an eigen-direction with curvature ``λ`` the gradient and
curvature terms of the loss balance at distance ``s = 2‖g‖/|λ|``, over which the curvature
changes by ``ρs``; ``λ`` keeps its sign there exactly when ``|λ| > sqrt(2ρ‖g‖)``. Then

* ``descending``: ``‖g‖ > g*``;
* ``saddle``: stationary and ``θmin + δ₀ < -τ`` (negative beyond its own uncertainty and beyond
  the gradient's scale), whatever its ratio to ``λmax``; when ``|λmin| < weak_rel·λmax`` it is
  reported as a *weak negative curvature* saddle, never as a minimum;
* ``plateau``: stationary and every curvature within ``flat_tol`` of zero (both ends converged);
* ``unresolved``: stationary, no certain negative direction, and ``λmin`` not converged within
  the Lanczos step budget (raise ``lanczos_max_steps``);
* ``minimum`` (strict): stationary and ``θmin - δ > τ``;
* ``degenerate``: stationary and ``λmin`` within ``τ + δ`` of zero: flat directions at the
  resolution the gradient allows; second order cannot decide (a non-strict minimum, or a
  saddle of higher order).

The index (number of negative eigenvalues) counts eigenvalues with ``λ + δ < -τ``: exact from
the dense Hessian, or by successive deflated Lanczos runs (exact only when every counted pair
converged and the last run's converged bottom lies above ``-τ``); otherwise a lower bound, with
an estimate ``n · negative mass`` from stochastic Lanczos quadrature.

The spread of loss, gradient norm, ``λmax`` and ``λmin`` over (up to ``max_batch_checks``) of
the caller's batches is reported for information; it depends on the batching and the rule does
not use it.

References: Dauphin et al., NeurIPS 2014 (saddles in deep learning); Nesterov & Polyak, Math.
Program. 2006, and Jin et al., ICML 2017 (approximate second-order stationarity,
``λmin ≥ -sqrt(ρ ε)``); Parlett, *The Symmetric Eigenvalue Problem*, ch. 11 (residual bounds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import InvalidParameterError
from descentlab.io import to_jsonable
from descentlab.nn.density import slq_density
from descentlab.nn.distributed import Reducer, unwrap_model
from descentlab.nn.hessian import HessianOperator
from descentlab.nn.noise import GradientNoise, gradient_noise
from descentlab.nn.objective import ModelLoss
from descentlab.nn.spectrum import lanczos
from descentlab.validate import check_positive

VERDICTS = ("minimum", "saddle", "degenerate", "plateau", "unresolved", "descending")

RULE = (
    "stationary iff |g| <= g* = max(grad_tol, noise_z*SE) (SE: standard error of the full "
    "gradient from per-sample gradients); tau = sqrt(2*rho*|g|) is the curvature the gradient "
    "can hide; saddle iff stationary and lambda_min + delta0 < -tau (Rayleigh bound); "
    "plateau iff every |lambda| + delta <= flat_tol; unresolved iff lambda_min is not "
    "converged; minimum iff lambda_min - delta > tau; degenerate otherwise; descending iff "
    "|g| > g*"
)


@dataclass
class PointCheck:
    """The verdict, the numbers behind it, the rule's thresholds and a confidence statement.

    ``summary`` states all of it in one paragraph; ``evidence`` holds the measured quantities
    with their uncertainties, ``thresholds`` the numbers they were compared with.
    """

    verdict: str
    summary: str
    loss: float
    grad_norm: float
    grad_stderr: float | None
    lambda_max: float
    lambda_min: float
    residual_max: float
    residual_min: float
    converged: bool
    ratio: float
    negative_fraction: float | None
    index: int | None
    index_lower_bound: int | None
    index_estimate: int | None
    top_eigenvalues: list[float]
    bottom_eigenvalues: list[float]
    eigenvalues: list[float] | None
    batch_spread: dict[str, dict[str, float]]
    thresholds: dict[str, float]
    setup: dict[str, Any]
    n_hvp: int
    n_batch_hvp: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    index_exact: bool = False
    weak_negative: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)
    confidence: str = ""
    rule: str = RULE
    negative_from_residual: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (non-finite numbers become ``None``)."""
        return to_jsonable(asdict(self))

    def __str__(self) -> str:
        ev = self.evidence
        lines = [f"verdict: {self.verdict}", f"  {self.summary}"]
        lines.append(f"  loss           {self.loss:.6g}")
        se = "n/a" if self.grad_stderr is None else f"{self.grad_stderr:.2e}"
        lines.append(
            f"  |grad|         {self.grad_norm:.3e}  (sampling SE {se}; threshold "
            f"{self.thresholds['grad_threshold']:.2e})"
        )
        for end in ("lambda_max", "lambda_min"):
            e = ev[end]
            state = "converged" if e["converged"] else "NOT converged"
            lines.append(
                f"  {end:<14} {e['value']:.6g} ± {e['uncertainty']:.1e}  ({e['source']}, {state})"
            )
        lines.append(
            f"  tau            {self.thresholds['curvature_scale']:.2e}  "
            f"(= sqrt(2 rho |g|), rho ≈ {ev['hessian_lipschitz']:.3g})"
        )
        lines.append(f"  |lmin|/lmax    {self.ratio:.3g}")
        if self.negative_fraction is not None:
            lines.append(f"  negative frac  {self.negative_fraction:.3g}")
        if self.index is not None:
            how = "dense Hessian" if self.eigenvalues is not None else "deflated Lanczos"
            lines.append(f"  index          {self.index} (exact, {how})")
        elif self.index_lower_bound is not None:
            est = "" if self.index_estimate is None else f", SLQ estimate {self.index_estimate}"
            lines.append(f"  index          >= {self.index_lower_bound}{est}")
        sp = ev.get("curvature_split_along_min")
        if sp is not None:
            src = "R (the network's nonlinearity)" if sp["from_residual"] else "G as well"
            lines.append(
                f"  lmin = u'Gu + u'Ru = {sp['G']:.3g} + {sp['R']:.3g}: negative curvature "
                f"from {src}"
            )
        for name, s in self.batch_spread.items():
            lines.append(
                f"  {name:<14} over {int(s['n'])} of your batches: mean {s['mean']:.4g}, "
                f"sd {s['sd']:.2g} (information; not used by the rule)"
            )
        lines.append(
            f"  n={self.setup['n_params']} params, {self.setup['n_samples']} samples in "
            f"{self.setup['n_batches']} batches, mode={self.setup['mode']}, "
            f"method={self.setup['method']}, {self.n_hvp} full + {self.n_batch_hvp} batch HVPs, "
            f"{self.seconds:.2f}s"
        )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _count_negative(
    H: HessianOperator,
    r: Any,
    neg_tol: float,
    k: int,
    max_index: int,
    tol: float,
    seed: int,
    max_steps: int | None,
    floor: float,
) -> tuple[int, bool]:
    """Converged eigenvalues with ``θ + floor < -neg_tol`` (``θ`` a Rayleigh quotient, ``floor``
    its rounding: the verdict's own test), found by successive deflated Lanczos runs.

    Returns the count and whether it is exact: every counted pair converged, and the last
    run's bottom pair converged without being certainly below ``-neg_tol`` (the same reading
    as the dense path, where eigenvalues within the uncertainty of ``-neg_tol`` are flat).
    """

    def certain(b: Any) -> list[int]:
        return [
            c
            for c in range(b.values.numel())
            if bool(b.converged[c]) and float(b.values[c]) + floor < -neg_tol
        ]

    def clear(b: Any) -> bool:
        return bool(b.converged[0]) and 0 not in certain(b)

    b = r.bottom
    keep = certain(b)
    if not keep:
        return 0, clear(b)
    Q, _ = torch.linalg.qr(b.vectors[:, keep])
    rounds = 0
    while Q.shape[1] < max_index and rounds < max_index:
        free = H.n - Q.shape[1]
        if free == 0:  # every eigenvalue is negative and found
            return Q.shape[1], True
        rounds += 1
        r2 = lanczos(
            H,
            k=min(k, free),
            which="bottom",
            tol=tol,
            seed=seed + rounds,
            deflate=Q,
            max_steps=max_steps,
        )
        new = certain(r2.bottom)
        if not new:
            return Q.shape[1], clear(r2.bottom)
        Q, _ = torch.linalg.qr(torch.cat([Q, r2.bottom.vectors[:, new]], dim=1))
    return Q.shape[1], False


def _spread(values: list[float]) -> dict[str, float]:
    t = torch.tensor(values, dtype=torch.float64)
    sd = float(t.std(unbiased=True)) if t.numel() > 1 else 0.0
    return {"mean": float(t.mean()), "sd": sd, "n": float(t.numel())}


def _noise_over_ranks(
    reducer: Reducer, noise: GradientNoise | None, g_local: Tensor, g: Tensor
) -> GradientNoise | None:
    """The sampling noise of the all-ranks gradient ``g``: the spread of the per-sample
    gradients about ``g`` is, summed over ranks, ``Σ_r (n_r·rms_r² + n_r·‖g_r - g‖²)``."""
    n_r = reducer.local_count
    if noise is None:
        local = [0.0, 0.0]
    else:
        local = [1.0, n_r * noise.sample_rms**2 + n_r * float((g_local - g).double().norm()) ** 2]
    tot = reducer.all_gather_float(local).sum(0)
    n = reducer.total
    if int(tot[0]) < reducer.size or n < 2:
        return None
    spread = float(tot[1])
    return GradientNoise(math.sqrt(spread / (n * (n - 1))), math.sqrt(spread / n), n)


def _split_along(H: HessianOperator, u: Tensor, lam: float, delta: float) -> dict[str, Any] | None:
    """``λ = uᵀHu = uᵀGu + uᵀRu`` along the unit bottom eigenvector ``u`` (one GGN product):
    with ``uᵀGu ≥ 0`` the negative curvature is ``R``'s (``H = G + R``, ``G`` the Gauss-Newton
    part; see :mod:`descentlab.nn.curvature`). ``None`` when the GGN cannot be formed."""
    from descentlab.errors import DescentlabError
    from descentlab.nn.ggn import GGNOperator

    try:
        G = GGNOperator(objective=H.objective, theta=H.theta, distributed=H.distributed)
        u = u / torch.linalg.vector_norm(u)
        uGu = float(torch.dot(u.double(), G.matvec(u.to(G.dtype)).double()))
    except DescentlabError:
        return None
    return {"G": uGu, "R": lam - uGu, "from_residual": uGu >= -delta}


def _hessian_lipschitz(
    f: ModelLoss, directions: list[Tensor], u: Tensor, reducer: Reducer | None = None
) -> float:
    """``max_d ‖(H(θ + hd) - H(θ - hd)) u‖ / 2h`` for unit ``d``: the rate at which the
    curvature seen by ``u`` changes along ``d`` (a central difference, step ``h = ε^(1/3)·s``
    with ``s = max(1, max|θ|)``)."""
    eps = torch.finfo(f.dtype).eps
    h = eps ** (1 / 3) * max(1.0, float(f.theta0.abs().max()))
    rate = 0.0
    for d in directions:
        plus = f.hvp(u, theta=f.theta0 + h * d)
        minus = f.hvp(u, theta=f.theta0 - h * d)
        if reducer is not None:
            plus, minus = reducer.weighted_mean(plus), reducer.weighted_mean(minus)
        rate = max(rate, float(torch.linalg.vector_norm(plus - minus)) / (2 * h))
    return rate


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def check_point(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    *,
    grad_tol: float = 1e-3,
    noise_z: float = 2.0,
    neg_rel_tol: float = 1e-2,
    neg_abs_tol: float = 0.0,
    flat_tol: float = 1e-6,
    k: int = 5,
    exact_below: int = 400,
    density_vectors: int = 2,
    density_iter: int = 60,
    max_batch_checks: int = 8,
    lanczos_tol: float = 1e-6,
    lanczos_max_steps: int | None = None,
    max_index: int = 20,
    seed: int = 0,
    **options: Any,
) -> PointCheck:
    """Classify the model's current parameters by the rule in the module docstring.

    Args:
        model, loss_fn, data: the network, ``loss_fn(outputs, targets)`` (batch mean) and the
            data (``(X, y)`` or an iterable of batches, e.g. a DataLoader).
        grad_tol: absolute floor of the stationarity threshold ``g* = max(grad_tol,
            noise_z·SE)``.
        noise_z: how many standard errors of sampling noise a gradient may be and still count
            as zero (0: the training-loss question alone, ``g* = grad_tol``).
        neg_rel_tol: a saddle whose ``|λmin|`` is below this fraction of ``λmax`` is labelled
            *weak negative curvature* (it is still a saddle).
        neg_abs_tol: an optional absolute floor added to ``τ`` (default 0).
        flat_tol: a stationary point whose curvatures are all within this of zero is a plateau.
        k: bottom/top eigenpairs computed by Lanczos.
        exact_below: form the dense Hessian (``n`` products) when ``n`` is at most this.
        density_vectors, density_iter: SLQ settings for the negative fraction (0 vectors: skip).
        max_batch_checks: how many of the caller's batches get their own ``λmax``/``λmin``
            (information only).
        lanczos_tol: relative residual tolerance of the full-data Lanczos.
        lanczos_max_steps: its step budget (default: :func:`~descentlab.nn.spectrum.lanczos`'s);
            an unconverged ``λmin`` gives ``unresolved``, never ``minimum``.
        max_index: on the Lanczos path, negative eigenvalues are counted one deflated run after
            another until a run finds none (then the index is exact) or this many are found.
        **options: passed to :class:`~descentlab.nn.objective.ModelLoss` (``mode``,
            ``batch_size``, ``params``, ``dtype``, ``method``, ``weight_decay``...).

    Example:
        >>> net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False))
        >>> net = net.double()
        >>> with torch.no_grad():
        ...     _ = net[0].weight.zero_(), net[1].weight.zero_()
        >>> X = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
        >>> check_point(net, nn.MSELoss(), (X, 2 * X)).verdict  # the origin of w2·w1·x
        'saddle'
    """
    for name, v in (("grad_tol", grad_tol), ("neg_rel_tol", neg_rel_tol)):
        check_positive(name, v)
    for name, v in (("noise_z", noise_z), ("neg_abs_tol", neg_abs_tol), ("flat_tol", flat_tol)):
        check_positive(name, v, allow_zero=True)
    for name, v in (("k", k), ("max_batch_checks", max_batch_checks), ("max_index", max_index)):
        if not isinstance(v, int) or v < 1:
            raise InvalidParameterError(f"{name} must be a positive integer, got {v!r}")
    if not isinstance(exact_below, int) or exact_below < 0:
        raise InvalidParameterError(f"exact_below must be an integer >= 0, got {exact_below!r}")
    if not isinstance(density_vectors, int) or density_vectors < 0:
        raise InvalidParameterError(
            f"density_vectors must be an integer >= 0, got {density_vectors!r}"
        )
    if lanczos_max_steps is not None and (
        isinstance(lanczos_max_steps, bool)
        or not isinstance(lanczos_max_steps, int)
        or lanczos_max_steps < 1
    ):
        raise InvalidParameterError(
            f"lanczos_max_steps must be a positive integer, got {lanczos_max_steps!r}"
        )
    t0 = time.perf_counter()
    dist_opts = {k: options.pop(k) for k in ("distributed", "group") if k in options}
    f = ModelLoss(unwrap_model(model), loss_fn, data, seed=seed, **options)
    H = HessianOperator(objective=f, **dist_opts)  # averages over ranks when distributed
    notes: list[str] = []
    eps = torch.finfo(f.dtype).eps

    # -- gradient and its sampling noise (independent of the batching) -------------------------
    loss_t, g = H.gradient()
    loss, gnorm = float(loss_t), float(torch.linalg.vector_norm(g))
    if not (math.isfinite(loss) and math.isfinite(gnorm)):
        raise InvalidParameterError(f"the loss or its gradient is not finite here (loss={loss})")
    if H.reducer is None:
        noise, why = gradient_noise(f, g) if noise_z > 0 else (None, "noise_z = 0")
    else:  # each rank's spread about its own mean, combined about the all-ranks mean
        g_local = f.loss_and_grad()[1]
        noise, why = gradient_noise(f, g_local) if noise_z > 0 else (None, "noise_z = 0")
        if noise_z > 0:
            noise = _noise_over_ranks(H.reducer, noise, g_local, g)
            why = why or "a rank could not estimate its spread"
    grad_se = None if noise is None else noise.stderr
    if noise is None and noise_z > 0:
        notes.append(f"no sampling-noise estimate ({why}): threshold is grad_tol alone")
    g_star = max(grad_tol, noise_z * (grad_se or 0.0))
    stationary = gnorm <= g_star

    nb = len(f.batches)
    spread: dict[str, dict[str, float]] = {}
    if nb > 1:
        losses, gnorms = [], []
        for i in range(nb):
            li, gi = f.loss_and_grad(batch=i)
            losses.append(float(li))
            gnorms.append(float(torch.linalg.vector_norm(gi)))
        spread["loss"] = _spread(losses)
        spread["grad_norm"] = _spread(gnorms)

    # -- both ends of the spectrum, with uncertainties ------------------------------------------
    k_eff = min(k, f.n)
    eigenvalues = None
    r = None
    lanczos_info: dict[str, Any] = {}
    if f.n <= exact_below:
        D = H.dense(max_n=max(exact_below, 1)).double().cpu()
        asym = float(torch.linalg.matrix_norm((D - D.T) / 2, ord=2)) if f.n > 1 else 0.0
        ev, U = torch.linalg.eigh((D + D.T) / 2)
        d_norm = float(ev.abs().max()) if f.n else 0.0
        delta = asym + f.n * eps * d_norm  # asymmetry + eigensolver backward error
        eigenvalues = ev.tolist()
        lmax, lmin = float(ev[-1]), float(ev[0])
        top, bottom = ev.flip(0)[:k_eff].tolist(), ev[:k_eff].tolist()
        res_max = res_min = delta
        delta0 = delta
        conv_max = conv_min = True
        source = "dense Hessian"
        u_min = U[:, 0].to(dtype=f.dtype, device=f.device)
    else:
        r = lanczos(
            H, k=k_eff, which="both", tol=lanczos_tol, seed=seed, max_steps=lanczos_max_steps
        )
        assert r.top is not None and r.bottom is not None
        lmax, lmin = r.lambda_max, r.lambda_min
        top, bottom = r.top.values.tolist(), r.bottom.values.tolist()
        res_max, res_min = float(r.top.residuals[0]), float(r.bottom.residuals[0])
        conv_max, conv_min = bool(r.top.converged[0]), bool(r.bottom.converged[0])
        delta0 = 10 * math.sqrt(f.n) * eps * r.scale  # rounding of a Rayleigh quotient
        res_max, res_min = max(res_max, delta0), max(res_min, delta0)
        source = "Lanczos"
        u_min = r.bottom.vectors[:, 0]
        lanczos_info = {
            "steps": r.iterations,
            "max_steps": r.max_steps,
            "budget_exhausted": r.budget_exhausted,
            "tol": r.tol,
        }
        if not r.converged:
            notes.append(
                f"Lanczos stopped after {r.iterations} of {r.max_steps} steps before every pair "
                "converged: raise lanczos_max_steps for converged ends"
            )
    converged = conv_max and conv_min
    scale = max(abs(lmax), abs(lmin))

    # -- the curvature the gradient can hide -------------------------------------------------------
    rho = 0.0
    if gnorm > 0:
        rho = _hessian_lipschitz(
            f, [g / gnorm, u_min / torch.linalg.vector_norm(u_min)], u_min, H.reducer
        )
    tau = math.sqrt(2 * rho * gnorm) + neg_abs_tol
    neg_tol = tau

    # -- index --------------------------------------------------------------------------------
    index: int | None = None
    index_lb = index_est = None
    neg_frac: float | None = None
    index_exact = False
    if eigenvalues is not None:
        index = int(sum(1 for e in eigenvalues if e + delta < -tau))
        index_exact = True
        neg_frac = index / f.n
        n_flat = int(sum(1 for e in eigenvalues if abs(e) <= tau + delta))
        if n_flat:
            notes.append(
                f"{n_flat} eigenvalue(s) within tau + delta = {tau + delta:.1e} of zero: flat "
                "directions at this resolution (e.g. a symmetry such as the softmax shift)"
            )
    else:
        assert r is not None
        index_lb, index_exact = _count_negative(
            H, r, tau, k_eff, max_index, lanczos_tol, seed, lanczos_max_steps, delta0
        )
        if index_exact:
            index = index_lb
        if density_vectors > 0:
            dens = slq_density(H, density_vectors, min(density_iter, f.n), seed=seed)
            neg_frac = dens.negative_mass(abs_tol=tau + res_min, rel_tol=0.0)
            index_est = max(round(neg_frac * f.n), index_lb)
    ratio = abs(lmin) / lmax if lmax > 0 else math.inf

    if nb > 1:
        m = min(nb, max_batch_checks)
        picks = sorted({round(i * (nb - 1) / max(m - 1, 1)) for i in range(m)})
        bmax, bmin = [], []
        for i in picks:
            rb = lanczos(
                H.batch_operator(i),
                k=1,
                which="both",
                tol=1e-4,
                seed=seed + 1 + i,
                max_steps=min(f.n, 60),
            )
            bmax.append(rb.lambda_max)
            bmin.append(rb.lambda_min)
        spread["lambda_max"] = _spread(bmax)
        spread["lambda_min"] = _spread(bmin)

    # -- the rule ----------------------------------------------------------------------------
    upper_min = lmin + delta0  # Rayleigh quotient: lambda_min is at most this
    lower_min = lmin - res_min  # needs convergence
    certain_negative = upper_min < -tau
    if certain_negative and index_lb == 0:  # the Rayleigh quotient proves one, converged or not
        index_lb = 1
    split = _split_along(H, u_min, lmin, delta0) if certain_negative else None
    weak = certain_negative and lmax > 0 and abs(lmin) < neg_rel_tol * lmax
    flat = conv_max and conv_min and max(abs(lmax) + res_max, abs(lmin) + res_min) <= flat_tol
    g_txt = (
        f"|g| = {gnorm:.2e} vs g* = max(grad_tol {grad_tol:g}, {noise_z:g}·SE "
        + ("n/a" if grad_se is None else f"{noise_z * grad_se:.2e}")
        + f") = {g_star:.2e}"
    )
    lmin_txt = f"lambda_min = {_fmt(lmin)} ± {res_min:.1e}" + ("" if conv_min else " (unconverged)")
    lmax_txt = f"lambda_max = {_fmt(lmax)} ± {res_max:.1e}" + ("" if conv_max else " (unconverged)")
    tau_txt = f"tau = sqrt(2·rho·|g|) = {tau:.1e} (rho ≈ {rho:.2g})"
    if eigenvalues is not None or index is not None:
        idx_txt = f"index {index}"
    else:
        idx_txt = f"index >= {index_lb}" + (
            "" if index_est is None else f" (SLQ estimate {index_est})"
        )
    if not stationary:
        verdict = "descending"
        head = "descending: the gradient is above the stationarity threshold"
        confidence = (
            f"{'clear' if gnorm > 2 * g_star else 'marginal'}: |g| is {gnorm / g_star:.3g}× g*"
        )
        if certain_negative:
            notes.append(f"negative curvature present (lambda_min <= {_fmt(upper_min)})")
    elif certain_negative:
        verdict = "saddle"
        if weak:
            head = (
                f"saddle, weak negative curvature: lambda_min = {_fmt(lmin)} is "
                f"{100 * abs(lmin) / lmax:.2g}% of lambda_max = {_fmt(lmax)}, yet certain"
            )
        else:
            head = f"saddle, {idx_txt}"
        confidence = (
            f"certain: lambda_min <= {_fmt(upper_min)} (Rayleigh quotient of an explicit "
            f"direction, rounding {delta0:.1e}) is below -tau = {-tau:.1e}"
            + ("" if gnorm <= 0.5 * g_star else "; stationarity is marginal")
        )
    elif flat:
        verdict = "plateau"
        head = f"plateau: every curvature within flat_tol = {flat_tol:g} of zero"
        confidence = f"both ends converged; max |lambda| = {scale:.1e}"
    elif not conv_min:
        verdict = "unresolved"
        head = "unresolved: lambda_min did not converge and no negative direction was found"
        confidence = (
            f"low: lambda_min <= {_fmt(upper_min)} is all that is known (residual {res_min:.1e}); "
            "raise lanczos_max_steps"
        )
    elif lower_min > tau:
        verdict = "minimum"
        head = "minimum (strict): every curvature is positive beyond the gradient's scale"
        confidence = f"lambda_min >= {_fmt(lower_min)} > tau = {tau:.1e}" + (
            " (dense Hessian)" if eigenvalues is not None else " (converged Lanczos residual)"
        )
    else:
        verdict = "degenerate"
        head = (
            "degenerate: stationary, no certain negative curvature, but lambda_min is within "
            "tau + delta of zero: flat at the resolution the gradient allows (a flat direction, "
            "or a point to converge further); second order cannot decide"
        )
        confidence = (
            f"inconclusive at second order: lambda_min in [{_fmt(lower_min)}, {_fmt(upper_min)}] "
            f"meets [-tau, tau] = ±{tau:.1e}"
        )
    se_src = (
        f"SE = {grad_se:.2e} from {noise.n_samples} per-sample gradients"
        if noise is not None
        else "no SE"
    )
    state = "stationary" if stationary else "not stationary"
    summary = (
        f"{head}. Gradient: {g_txt} ({se_src}) → {state}. "
        f"Curvature ({source}): {lmin_txt}, {lmax_txt}; {tau_txt}; {idx_txt}"
        + ("" if index_exact or eigenvalues is not None else " (not exact)")
        + f". Confidence: {confidence}."
    )
    evidence = {
        "grad_norm": gnorm,
        "grad_stderr": grad_se,
        "grad_noise_method": None if noise is None else noise.method,
        "grad_noise_samples": None if noise is None else noise.n_samples,
        "hessian_lipschitz": rho,
        "lambda_min": {
            "value": lmin,
            "uncertainty": res_min,
            "upper": upper_min,
            "lower": lower_min,
            "converged": conv_min,
            "source": source,
        },
        "lambda_max": {
            "value": lmax,
            "uncertainty": res_max,
            "converged": conv_max,
            "source": source,
        },
        "lanczos": lanczos_info,
        "curvature_split_along_min": split,
    }
    return PointCheck(
        verdict=verdict,
        summary=summary,
        loss=loss,
        grad_norm=gnorm,
        grad_stderr=grad_se,
        lambda_max=lmax,
        lambda_min=lmin,
        residual_max=res_max,
        residual_min=res_min,
        converged=converged,
        ratio=ratio,
        negative_fraction=neg_frac,
        index=index,
        index_lower_bound=index_lb,
        index_estimate=index_est,
        top_eigenvalues=top,
        bottom_eigenvalues=bottom,
        eigenvalues=eigenvalues,
        batch_spread=spread,
        thresholds={
            "grad_tol": grad_tol,
            "noise_z": noise_z,
            "grad_threshold": g_star,
            "curvature_scale": tau,
            "neg_tol": neg_tol,
            "weak_rel": neg_rel_tol,
            "flat_tol": flat_tol,
        },
        setup=H.info(),
        negative_from_residual=None if split is None else split["from_residual"],
        n_hvp=f.n_hvp,
        n_batch_hvp=f.n_batch_hvp,
        seconds=time.perf_counter() - t0,
        notes=notes,
        index_exact=index_exact,
        weak_negative=weak,
        evidence=evidence,
        confidence=confidence,
    )
