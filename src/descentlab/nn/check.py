"""Is this network at a minimum, near a saddle, on a plateau, or still descending?

:func:`check_point` measures, on the full (fixed) data, the loss, the gradient norm and both ends
of the Hessian spectrum, and turns them into a verdict:

* ``stationary``: ``‖∇L‖ ≤ max(grad_tol, 2·SE)``, where ``SE`` is the standard error of the full
  gradient estimated from its spread over batches (a gradient indistinguishable from batch noise
  counts as zero; used only with at least 4 batches, fewer cannot estimate a spread);
* an eigenvalue is *negative* when ``λ < -max(neg_abs_tol, neg_rel_tol · max|λ|)``; by default
  negative curvature must reach 1% of the largest curvature: the tiny negative eigenvalues left
  at the end of training (Sagun et al. 2017; Ghorbani et al., ICML 2019) are reported but do not
  make a saddle;
* verdict ``plateau`` if stationary and every curvature is below ``flat_tol`` in modulus;
  ``descending`` if not stationary; ``saddle`` if stationary with ``λmin`` negative (the index is
  the number of negative eigenvalues: exact from the dense Hessian when ``n ≤ exact_below``,
  otherwise a lower bound from converged bottom Ritz values and an estimate ``n · negative mass``
  from stochastic Lanczos quadrature); ``minimum`` otherwise.

The spread of loss, gradient norm, ``λmax`` and ``λmin`` over (up to ``max_batch_checks``)
individual batches is reported as their uncertainty.

Reference for the saddle question in deep learning: Dauphin et al., "Identifying and attacking
the saddle point problem in high-dimensional non-convex optimization", NeurIPS 2014.
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
from descentlab.nn.hessian import HessianOperator
from descentlab.nn.objective import ModelLoss
from descentlab.nn.spectrum import lanczos
from descentlab.validate import check_positive

VERDICTS = ("minimum", "saddle", "plateau", "descending")


@dataclass
class PointCheck:
    """The verdict and the numbers behind it (see :func:`check_point`)."""

    verdict: str
    summary: str
    loss: float
    grad_norm: float
    grad_stderr: float
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (non-finite numbers become ``None``)."""
        return to_jsonable(asdict(self))

    def __str__(self) -> str:
        lines = [f"verdict: {self.verdict} — {self.summary}"]
        lines.append(f"  loss           {self.loss:.6g}")
        lines.append(
            f"  |grad|         {self.grad_norm:.3e}  (batch-noise SE {self.grad_stderr:.1e})"
        )
        lines.append(f"  lambda_max     {self.lambda_max:.6g}  (residual {self.residual_max:.1e})")
        lines.append(f"  lambda_min     {self.lambda_min:.6g}  (residual {self.residual_min:.1e})")
        lines.append(f"  |lmin|/lmax    {self.ratio:.3g}")
        if self.negative_fraction is not None:
            lines.append(f"  negative frac  {self.negative_fraction:.3g}")
        if self.index is not None:
            how = "dense Hessian" if self.eigenvalues is not None else "deflated Lanczos"
            lines.append(f"  index          {self.index} (exact, {how})")
        elif self.index_lower_bound is not None:
            est = "" if self.index_estimate is None else f", SLQ estimate {self.index_estimate}"
            lines.append(f"  index          >= {self.index_lower_bound}{est}")
        for name, s in self.batch_spread.items():
            lines.append(
                f"  {name:<14} over {int(s['n'])} batches: mean {s['mean']:.4g}, sd {s['sd']:.2g}"
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
    H: HessianOperator, r: Any, neg_tol: float, k: int, max_index: int, tol: float, seed: int
) -> tuple[int, bool]:
    """Converged eigenvalues below ``-neg_tol``, found by successive deflated Lanczos runs.

    Returns the count and whether it is complete (the last run, converged, found the bottom of
    the remaining spectrum at or above ``-neg_tol``).
    """
    b = r.bottom
    keep = [c for c in range(b.values.numel()) if b.values[c] < -neg_tol and bool(b.converged[c])]
    if not keep:
        return 0, bool(b.converged[0])
    Q, _ = torch.linalg.qr(b.vectors[:, keep])
    rounds = 0
    while Q.shape[1] < max_index and rounds < max_index:
        free = H.n - Q.shape[1]
        if free == 0:  # every eigenvalue is negative and found
            return Q.shape[1], True
        rounds += 1
        r2 = lanczos(H, k=min(k, free), which="bottom", tol=tol, seed=seed + rounds, deflate=Q)
        b2 = r2.bottom
        new = [
            c for c in range(b2.values.numel()) if b2.values[c] < -neg_tol and bool(b2.converged[c])
        ]
        if not new:
            return Q.shape[1], bool(b2.converged[0]) and float(b2.values[0]) >= -neg_tol
        Q, _ = torch.linalg.qr(torch.cat([Q, b2.vectors[:, new]], dim=1))
    return Q.shape[1], False


def _spread(values: list[float]) -> dict[str, float]:
    t = torch.tensor(values, dtype=torch.float64)
    sd = float(t.std(unbiased=True)) if t.numel() > 1 else 0.0
    return {"mean": float(t.mean()), "sd": sd, "n": float(t.numel())}


def check_point(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    *,
    grad_tol: float = 1e-3,
    neg_rel_tol: float = 1e-2,
    neg_abs_tol: float = 1e-8,
    flat_tol: float = 1e-6,
    k: int = 5,
    exact_below: int = 400,
    density_vectors: int = 2,
    density_iter: int = 60,
    max_batch_checks: int = 8,
    lanczos_tol: float = 1e-6,
    max_index: int = 20,
    seed: int = 0,
    **options: Any,
) -> PointCheck:
    """Classify the model's current parameters as a minimum, saddle, plateau or descending point.

    Args:
        model, loss_fn, data: the network, ``loss_fn(outputs, targets)`` (batch mean) and the
            data (``(X, y)`` or an iterable of batches, e.g. a DataLoader).
        grad_tol: gradient norm below which the point counts as stationary.
        neg_rel_tol, neg_abs_tol: an eigenvalue is negative below
            ``-max(neg_abs_tol, neg_rel_tol · max|λ|)``.
        flat_tol: a stationary point whose curvatures are all below this is a plateau.
        k: bottom/top eigenpairs computed by Lanczos (index lower bound up to ``k``).
        exact_below: form the dense Hessian (``n`` products) when ``n`` is at most this, and
            give the exact eigenvalues and index.
        density_vectors, density_iter: SLQ settings for the negative fraction (0 vectors: skip).
        max_batch_checks: how many batches (evenly spaced) get their own ``λmax``/``λmin``.
        lanczos_tol: residual tolerance of the full-data Lanczos.
        max_index: on the Lanczos path, negative eigenvalues are counted one deflated Lanczos
            run after another (which also finds repeated ones, e.g. from identical hidden
            units) until a run finds none — then the index is exact — or this many are found.
        **options: passed to :class:`~descentlab.nn.objective.ModelLoss` (``mode``,
            ``batch_size``, ``params``, ``dtype``, ``method``...).

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
    check_positive("neg_abs_tol", neg_abs_tol, allow_zero=True)
    check_positive("flat_tol", flat_tol, allow_zero=True)
    for name, v in (("k", k), ("max_batch_checks", max_batch_checks), ("max_index", max_index)):
        if not isinstance(v, int) or v < 1:
            raise InvalidParameterError(f"{name} must be a positive integer, got {v!r}")
    if not isinstance(exact_below, int) or exact_below < 0:
        raise InvalidParameterError(f"exact_below must be an integer >= 0, got {exact_below!r}")
    if not isinstance(density_vectors, int) or density_vectors < 0:
        raise InvalidParameterError(
            f"density_vectors must be an integer >= 0, got {density_vectors!r}"
        )
    t0 = time.perf_counter()
    f = ModelLoss(model, loss_fn, data, seed=seed, **options)
    H = HessianOperator(objective=f)
    notes: list[str] = []

    loss_t, g = f.loss_and_grad()
    loss, gnorm = float(loss_t), float(torch.linalg.vector_norm(g))
    if not (math.isfinite(loss) and math.isfinite(gnorm)):
        raise InvalidParameterError(f"the loss or its gradient is not finite here (loss={loss})")
    nb = len(f.batches)
    spread: dict[str, dict[str, float]] = {}
    grad_se = 0.0
    if nb > 1:
        sq, losses, gnorms = 0.0, [], []
        for i in range(nb):
            li, gi = f.loss_and_grad(batch=i)
            losses.append(float(li))
            gnorms.append(float(torch.linalg.vector_norm(gi)))
            sq += f.counts[i] / f.n_samples * float(torch.linalg.vector_norm(gi - g) ** 2)
        grad_se = math.sqrt(sq * nb / (nb - 1) / nb)
        spread["loss"] = _spread(losses)
        spread["grad_norm"] = _spread(gnorms)

    k_eff = min(k, f.n)
    eigenvalues = None
    index = None
    if f.n <= exact_below:
        D = H.dense(max_n=max(exact_below, 1))
        ev = torch.linalg.eigvalsh(D.double().cpu())
        eigenvalues = ev.tolist()
        lmax, lmin = float(ev[-1]), float(ev[0])
        top = ev.flip(0)[:k_eff].tolist()
        bottom = ev[:k_eff].tolist()
        res_max = res_min = 0.0
        converged = True
    else:
        r = lanczos(H, k=k_eff, which="both", tol=lanczos_tol, seed=seed)
        assert r.top is not None and r.bottom is not None
        lmax, lmin = r.lambda_max, r.lambda_min
        top, bottom = r.top.values.tolist(), r.bottom.values.tolist()
        res_max, res_min = float(r.top.residuals[0]), float(r.bottom.residuals[0])
        converged = r.converged
        if not converged:
            notes.append("Lanczos did not reach its tolerance: extreme eigenvalues are estimates")
    scale = max(abs(lmax), abs(lmin))
    neg_tol = max(neg_abs_tol, neg_rel_tol * scale)
    if eigenvalues is not None:
        index = int(sum(1 for e in eigenvalues if e < -neg_tol))
        neg_frac: float | None = index / f.n
        index_lb = index_est = None
        n_flat = int(sum(1 for e in eigenvalues if abs(e) <= neg_tol))
        if n_flat:
            notes.append(
                f"{n_flat} eigenvalue(s) within {neg_tol:.1e} of zero: flat directions "
                "(e.g. a symmetry of the model such as the softmax shift)"
            )
    else:
        index_lb, complete = _count_negative(H, r, neg_tol, k_eff, max_index, lanczos_tol, seed)
        if complete:
            index = index_lb  # the deflated bottom is >= -neg_tol: no negative eigenvalue left
        neg_frac, index_est = None, None
        if density_vectors > 0:
            dens = slq_density(H, density_vectors, min(density_iter, f.n), seed=seed)
            neg_frac = dens.negative_mass(abs_tol=neg_tol, rel_tol=0.0)
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
                max_iter=min(f.n, 60),
            )
            bmax.append(rb.lambda_max)
            bmin.append(rb.lambda_min)
        spread["lambda_max"] = _spread(bmax)
        spread["lambda_min"] = _spread(bmin)

    noise = 2 * grad_se if nb >= 4 else 0.0
    stationary = gnorm <= max(grad_tol, noise)
    if stationary and scale <= flat_tol:
        verdict = "plateau"
        summary = f"gradient {gnorm:.1e} and every curvature below {flat_tol:g}: a flat region"
    elif not stationary:
        verdict = "descending"
        threshold = max(grad_tol, noise)
        summary = f"gradient norm {gnorm:.2e} above the stationarity threshold {threshold:.1e}"
        if lmin < -neg_tol:
            summary += f"; negative curvature present (lambda_min = {lmin:.3g})"
    elif lmin < -neg_tol:
        verdict = "saddle"
        if index is not None:
            idx_txt = f"index {index}"
        else:
            idx_txt = f"index >= {index_lb}" + (
                f" (estimate {index_est})" if index_est is not None else ""
            )
        summary = (
            f"near a saddle, {idx_txt}: lambda_min = {lmin:.4g} < 0 < lambda_max = {lmax:.4g}, "
            f"|grad| = {gnorm:.1e}"
        )
    else:
        verdict = "minimum"
        summary = (
            f"near a minimum: lambda_min = {lmin:.3g} >= -{neg_tol:.1e}, lambda_max = {lmax:.4g}, "
            f"|grad| = {gnorm:.1e}"
        )
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
            "grad_threshold": max(grad_tol, noise),
            "neg_tol": neg_tol,
            "flat_tol": flat_tol,
        },
        setup=f.info(),
        n_hvp=f.n_hvp,
        n_batch_hvp=f.n_batch_hvp,
        seconds=time.perf_counter() - t0,
        notes=notes,
    )
