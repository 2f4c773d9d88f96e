"""Random landscapes in any dimension, each saying exactly what is known about its critical points.

Three families, all seeded (the same parameters give the same function), float64 and batched
over rows of ``(B, d)``:

* :func:`random_quadratic_saddle` — ``f(x) = 1/2 x^T Q diag(lam) Q^T x`` with a random
  orthogonal ``Q`` and a chosen number of negative eigenvalues: exact ground truth in any
  dimension (one critical point, the origin, with its index and eigenvalues).
* :func:`random_fourier_field` — a random smooth field from random Fourier features
  (Rahimi & Recht, 2007) with the squared-exponential covariance, plus a confining quartic so
  that minima exist. Its critical points are *not* known in closed form; a proven bound puts
  all of them inside the domain, so :func:`descentlab.analysis.find_critical_points` on the
  landscape's own domain searches everywhere they can be (feasible for small ``d``).
* :func:`gaussian_wells` — a weak quadratic bowl with Gaussian wells planted at random centres.
  For every well a strong-convexity certificate proves one minimum (and no other critical point)
  within a stated radius of its centre; the minimum is then located by Newton to float64
  precision. Saddles between wells, any minima the certificate does not cover, and the global
  minimum are not known.

Example:
    >>> from descentlab.landscapes import get_landscape
    >>> L = get_landscape("random_quadratic_saddle", dim=6, index=2, seed=1)
    >>> [(c.kind, c.index, c.value) for c in L.critical_points]
    [('saddle', 2, 0.0)]
"""

from __future__ import annotations

import math
from typing import Any

import torch

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.landscapes.registry import register
from descentlab.limits import check_size
from descentlab.validate import check_int, check_positive, check_seed

Tensor = torch.Tensor
_F64 = torch.float64


def _check_int(name: str, value: Any, minimum: int, limit_name: str | None = None) -> int:
    v = check_int(name, value, lo=minimum)
    return v if limit_name is None else check_size(limit_name, v, param=name)


def _generator(seed: Any) -> torch.Generator:
    """torch's generator seeded with ``seed``, an integer in ``[0, 2^63 - 1]`` (range-checked)."""
    return torch.Generator().manual_seed(check_seed(seed))


def random_orthogonal(dim: int, generator: torch.Generator) -> Tensor:
    """A Haar-distributed random orthogonal ``(dim, dim)`` matrix (float64).

    QR of a standard Gaussian matrix, with the signs of ``R``'s diagonal moved into ``Q`` so the
    distribution is uniform on the orthogonal group (Mezzadri, Notices AMS 54, 2007).

    Example:
        >>> Q = random_orthogonal(4, torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(Q.T @ Q, torch.eye(4, dtype=torch.float64), atol=1e-14))
        True
    """
    A = torch.randn(dim, dim, generator=generator, dtype=_F64)
    Q, R = torch.linalg.qr(A)
    s = torch.sign(torch.diagonal(R))
    s[s == 0] = 1.0
    return Q * s


# ---------------------------------------------------------------------------------- quadratic
class RandomQuadratic(Landscape):
    """``f(x) = 1/2 x^T A x`` with ``A = Q diag(lam) Q^T`` (see :func:`random_quadratic_saddle`).

    Attributes:
        Q: the orthogonal ``(d, d)`` eigenvector matrix (columns).
        lam: the eigenvalues ``(d,)`` in the order of ``Q``'s columns.
        matrix: ``A``, the (constant) Hessian.
    """

    def __init__(self, Q: Tensor, lam: Tensor, **kwargs: Any) -> None:
        self.Q = Q
        self.lam = lam
        self.matrix = (Q * lam) @ Q.T
        super().__init__(self._f, int(lam.numel()), any_layout=True, **kwargs)

    def _f(self, P: Tensor) -> Tensor:
        Y = P @ self.Q.to(P.dtype)
        return 0.5 * (Y * Y * self.lam.to(P.dtype)).sum(-1)


@register("random_quadratic_saddle")
def random_quadratic_saddle(
    dim: int = 3,
    index: int = 1,
    seed: int = 0,
    min_eig: float = 0.5,
    max_eig: float = 2.0,
) -> RandomQuadratic:
    """A random quadratic ``f(x) = 1/2 x^T Q diag(lam) Q^T x`` with exactly ``index`` negative
    eigenvalues: one critical point (the origin), known exactly in any dimension.

    ``Q`` is a Haar-random orthogonal matrix; the magnitudes ``|lam_i|`` are log-uniform in
    ``[min_eig, max_eig]``, and ``index`` of them, chosen at random, are negated. The gradient
    is ``A x`` and the Hessian ``A = Q diag(lam) Q^T`` everywhere, so the origin is the only
    critical point (``A`` is invertible), with value 0 and index ``index``: a minimum for
    ``index = 0``, a maximum for ``index = dim``, a saddle otherwise.

    Exactness: ``f`` is evaluated as ``1/2 sum_i lam_i (Q^T x)_i^2``. The float64 ``Q`` is
    orthogonal up to ``||Q^T Q - I|| = eps ~ 1e-15``, so the Hessian actually computed,
    ``Q diag(lam) Q^T``, has eigenvalues within ``max_eig * eps`` of ``lam`` (its spectrum is
    that of ``diag(lam) Q^T Q``); with ``min_eig / max_eig >= 1e-8`` (enforced) no sign can
    change, so the index is exact. The listed eigenvalues are ``lam`` themselves.

    Args:
        dim: dimension ``d >= 1``.
        index: number of negative eigenvalues, ``0 <= index <= dim``.
        seed: seed of ``Q`` and of the eigenvalues.
        min_eig, max_eig: range of the eigenvalue magnitudes, ``0 < min_eig <= max_eig``.

    Example:
        >>> L = random_quadratic_saddle(dim=5, index=2, seed=3)
        >>> sum(1 for v in L.lam.tolist() if v < 0)
        2
        >>> float(L.grad(torch.zeros(1, 5)).abs().max())
        0.0
    """
    d = _check_int("dim", dim, 1, "dense_dim")
    k = _check_int("index", index, 0)
    if k > d:
        raise InvalidParameterError(
            f"index must be between 0 and dim={d}, got {index!r}", param="index"
        )
    lo = check_positive("min_eig", min_eig)
    hi = check_positive("max_eig", max_eig)
    if lo > hi:
        raise InvalidParameterError(f"min_eig ({lo}) must be <= max_eig ({hi})", param="min_eig")
    if lo / hi < 1e-8:
        raise InvalidParameterError(
            f"min_eig / max_eig = {lo / hi:.1e} is below 1e-8: the index could not be exact",
            param="min_eig",
        )
    g = _generator(seed)
    Q = random_orthogonal(d, g)
    u = torch.rand(d, generator=g, dtype=_F64)
    mags = lo * (hi / lo) ** u if hi > lo else torch.full((d,), lo, dtype=_F64)
    neg = torch.randperm(d, generator=g)[:k]
    sign = torch.ones(d, dtype=_F64)
    sign[neg] = -1.0
    lam = sign * mags
    kind = "minimum" if k == 0 else ("maximum" if k == d else "saddle")
    cp = CriticalPoint(
        point=(0.0,) * d,
        value=0.0,
        kind=kind,
        index=k,
        is_global=k == 0,
        eigenvalues=tuple(sorted(float(v) for v in lam)),
    )
    return RandomQuadratic(
        Q,
        lam,
        name="random_quadratic_saddle",
        domain=(-1.0, 1.0),
        critical_points=[cp],
        complete=True,
        global_min_value=0.0 if k == 0 else None,
        description=(
            f"A random quadratic in {d} dimensions with {k} negative Hessian eigenvalue(s) "
            f"(magnitudes in [{lo:g}, {hi:g}], random orthogonal eigenvectors). The origin is the "
            "only critical point, known exactly: "
            + (
                "the global minimum."
                if k == 0
                else "a maximum; f is unbounded below."
                if k == d
                else f"a saddle of index {k}; f is unbounded below along the "
                f"{k} descent direction(s), the columns of Q with negative eigenvalues."
            )
        ),
        formula="1/2 x^T Q diag(lam) Q^T x",
        params={"dim": d, "index": k, "seed": seed, "min_eig": lo, "max_eig": hi},
    )


# ---------------------------------------------------------------------------------- Fourier field
class FourierFeatureField(Landscape):
    """``f(x) = g(x) + c (|x|^2 / R^2)^2`` with ``g`` a random-Fourier-feature field.

    ``g(x) = sigma sqrt(2/m) sum_k a_k cos(w_k . x + b_k)`` (see :func:`random_fourier_field`).

    Attributes:
        W: the frequencies ``(m, d)``; ``b``: the phases ``(m,)``; ``a``: the weights ``(m,)``.
        amplitude, confinement, radius: ``sigma``, ``c`` and ``R``.
        critical_radius: every critical point satisfies ``|x| <= critical_radius`` (proven).
    """

    def __init__(
        self,
        W: Tensor,
        b: Tensor,
        a: Tensor,
        amplitude: float,
        confinement: float,
        radius: float,
        **kwargs: Any,
    ) -> None:
        self.W, self.b, self.a = W, b, a
        self.amplitude = float(amplitude)
        self.confinement = float(confinement)
        self.radius = float(radius)
        self._coef = _rff_coefficients(a, amplitude)
        self.grad_bound, self.critical_radius = _critical_radius(W, self._coef, confinement, radius)
        super().__init__(self._f, int(W.shape[1]), any_layout=True, **kwargs)

    def field(self, P: Any) -> Tensor:
        """The random part ``g`` at every row of ``P``: shape ``(B,)``."""
        return self._field(self.as_points(P))

    def _field(self, P: Tensor) -> Tensor:
        return torch.cos(P @ self.W.T.to(P.dtype) + self.b.to(P.dtype)) @ self._coef.to(P.dtype)

    def _f(self, P: Tensor) -> Tensor:
        r2 = (P * P).sum(-1) / self.radius**2
        return self._field(P) + self.confinement * r2 * r2


def _rff_coefficients(a: Tensor, amplitude: float) -> Tensor:
    return float(amplitude) * math.sqrt(2.0 / int(a.numel())) * a


def _critical_radius(
    W: Tensor, coef: Tensor, confinement: float, radius: float
) -> tuple[float, float]:
    """``(G, r*)``: ``G = sum_k |coef_k| |w_k|`` bounds ``|grad g|`` everywhere; the quartic's
    gradient is radial with norm ``4 c |x|^3 / R^4``, so ``grad f = 0`` needs
    ``4 c |x|^3 / R^4 <= G``, i.e. ``|x| <= r* = (G R^4 / (4 c))^(1/3)``."""
    g1 = float((coef.abs() * W.norm(dim=1)).sum())
    return g1, (g1 * float(radius) ** 4 / (4.0 * float(confinement))) ** (1.0 / 3.0)


@register("random_fourier_field")
def random_fourier_field(
    dim: int = 2,
    seed: int = 0,
    n_features: int = 64,
    length_scale: float = 1.0,
    amplitude: float = 1.0,
    confinement: float = 1.0,
    radius: float = 3.0,
) -> FourierFeatureField:
    """A random smooth field with squared-exponential covariance, confined by a quartic so that
    minima exist; its critical points are not known in closed form.

    ``f(x) = g(x) + c (|x|^2 / R^2)^2`` with the random-Fourier-feature field (Rahimi & Recht,
    "Random features for large-scale kernel machines", NIPS 2007)

        g(x) = sigma sqrt(2/m) sum_{k=1}^m a_k cos(w_k . x + b_k),
        w_k ~ N(0, I / ell^2),  b_k ~ U[0, 2 pi),  a_k ~ N(0, 1), all independent.

    Covariance (over the draw): ``E[g(x) g(y)] = sigma^2 exp(-|x - y|^2 / (2 ell^2))`` exactly,
    for every ``m`` (``E[cos(w.x + b) cos(w.y + b)] = 1/2 E[cos(w.(x - y))]`` and the
    characteristic function of ``N(0, I/ell^2)``), with ``E[g] = 0``. Given the features,
    ``g`` is a Gaussian process in ``a``; over all draws it tends to the Gaussian field of that
    covariance as ``m -> infinity``.

    What is known: ``f`` is smooth and coercive, so its global minimum exists. Every critical
    point lies in the ball ``|x| <= r* = (G R^4 / (4 c))^(1/3)`` with
    ``G = sigma sqrt(2/m) sum_k |a_k| |w_k|`` (a bound on ``|grad g|``; outside the ball the
    quartic's outward gradient ``4 c |x|^3 / R^4`` exceeds it): the domain is the cube
    ``[-r*, r*]^d``, which contains that ball. Where they are, how many, and their kinds are not
    known: ``critical_points`` is ``None`` and ``complete`` False. For small ``d`` (2-3) find
    them with ``descentlab.analysis.find_critical_points(L)`` (its default box is this domain,
    so it searches everywhere they can be); in higher dimension the number of critical points
    grows exponentially and only a sample can be found.

    Args:
        dim: dimension ``d >= 1``.
        seed: seed of ``w``, ``b`` and ``a``.
        n_features: ``m``, the number of random features.
        length_scale: ``ell``, the covariance length.
        amplitude: ``sigma``, the field's standard deviation.
        confinement: ``c``, the quartic's value at ``|x| = R``.
        radius: ``R``, the quartic's scale.

    Example:
        >>> L = random_fourier_field(dim=2, seed=0)
        >>> L.critical_points is None, L.complete
        (True, False)
        >>> bool(L.domain[0][1] == L.critical_radius)
        True
    """
    d = _check_int("dim", dim, 1, "dim")
    m = _check_int("n_features", n_features, 1, "n_features")
    check_size(
        "feature_entries",
        m * d,
        param="n_features",
        label=f"n_features x dim = {m:,} x {d:,}",
        advice="use fewer features",
    )
    ell = check_positive("length_scale", length_scale)
    sigma = check_positive("amplitude", amplitude)
    c = check_positive("confinement", confinement)
    R = check_positive("radius", radius)
    g = _generator(seed)
    W = torch.randn(m, d, generator=g, dtype=_F64) / ell
    b = 2.0 * math.pi * torch.rand(m, generator=g, dtype=_F64)
    a = torch.randn(m, generator=g, dtype=_F64)
    params = {
        "dim": d,
        "seed": seed,
        "n_features": m,
        "length_scale": ell,
        "amplitude": sigma,
        "confinement": c,
        "radius": R,
    }
    _, r_star = _critical_radius(W, _rff_coefficients(a, sigma), c, R)
    if not math.isfinite(r_star) or r_star <= 0:
        raise InvalidParameterError(
            f"the parameters give no usable domain (critical radius {r_star!r})",
            param="confinement",
        )
    return FourierFeatureField(
        W,
        b,
        a,
        sigma,
        c,
        R,
        name="random_fourier_field",
        domain=(-r_star, r_star),
        critical_points=None,
        complete=False,
        global_min_value=None,
        description=(
            f"A random smooth field in {d} dimensions ({m} random Fourier features, "
            f"squared-exponential covariance sigma^2 exp(-|x-y|^2 / (2 ell^2)) with sigma = "
            f"{sigma:g}, ell = {ell:g}) plus the confining quartic {c:g} (|x|^2/{R:g}^2)^2. "
            "Its critical points are not known in closed form; all of them provably lie in the "
            f"ball |x| <= {r_star:.4g}, inside the domain: find_critical_points(L) on the "
            "domain finds them for small d."
        ),
        formula="sigma sqrt(2/m) sum_k a_k cos(w_k . x + b_k) + c (|x|^2/R^2)^2",
        params=params,
    )


# ---------------------------------------------------------------------------------- Gaussian wells
def _psi_sup(t0: float) -> float:
    """``sup_{t >= t0} e^{-t^2/2} max(1, |t^2 - 1|)``: bounds ``s^2/h`` times the Hessian norm of a
    Gaussian well at distance ``>= t0 s`` from its centre.

    ``psi(t) = e^{-t^2/2}`` falls on ``[0, sqrt 2]``; ``e^{-t^2/2}(t^2 - 1)`` rises on
    ``[sqrt 2, sqrt 3]`` (derivative ``t e^{-t^2/2}(3 - t^2)``) to ``2 e^{-3/2}`` and falls after.
    """
    t0 = max(0.0, t0)
    psi = math.exp(-0.5 * t0 * t0) * max(1.0, abs(t0 * t0 - 1.0))
    return psi if t0 >= math.sqrt(3.0) else max(psi, 2.0 * math.exp(-1.5))


class GaussianWells(Landscape):
    """``f(x) = beta/2 |x|^2 - sum_k h_k exp(-|x - mu_k|^2 / (2 s^2))`` (see
    :func:`gaussian_wells`).

    Attributes:
        centers: the planted centres ``mu`` ``(K, d)``; ``depths``: ``h`` ``(K,)``;
        width: ``s``; curvature: ``beta``;
        certified_radii: per well, the radius of the ball around its centre in which one
            minimum and no other critical point is proven (``nan`` where no certificate holds).
    """

    def __init__(
        self,
        centers: Tensor,
        depths: Tensor,
        width: float,
        curvature: float,
        certified_radii: list[float] | None = None,
        **kwargs: Any,
    ) -> None:
        self.centers = centers
        self.depths = depths
        self.width = float(width)
        self.curvature = float(curvature)
        self.certified_radii: list[float] = list(certified_radii or [])
        super().__init__(self._f, int(centers.shape[1]), any_layout=True, **kwargs)

    def _f(self, P: Tensor) -> Tensor:
        M = self.centers.to(P.dtype)
        D2 = ((P[:, None, :] - M[None, :, :]) ** 2).sum(-1)  # (B, K), no cancellation
        wells = torch.exp(-D2 / (2.0 * self.width**2)) @ self.depths.to(P.dtype)
        return 0.5 * self.curvature * (P * P).sum(-1) - wells

    def grad_and_hessian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Closed-form gradient ``(d,)`` and Hessian ``(d, d)`` at one point ``x``.

        ``grad = beta x + sum_k (h_k/s^2) e_k (x - mu_k)``,
        ``H = beta I + sum_k (h_k/s^2) e_k (I - (x - mu_k)(x - mu_k)^T / s^2)``,
        ``e_k = exp(-|x - mu_k|^2 / (2 s^2))``.
        """
        s2 = self.width**2
        Y = x[None, :] - self.centers  # (K, d)
        e = torch.exp(-(Y * Y).sum(-1) / (2.0 * s2)) * self.depths / s2  # (K,)
        g = self.curvature * x + (e[:, None] * Y).sum(0)
        d = x.numel()
        H = (self.curvature + float(e.sum())) * torch.eye(d, dtype=_F64)
        H = H - (Y.T * (e / s2)) @ Y
        return g, H

    def hessian_lower_bound(self, k: int, r: float) -> float:
        """A lower bound on the smallest Hessian eigenvalue over the ball ``|x - mu_k| <= r``
        (``r < s``).

        Own well: ``(h_k/s^2) e^{-rho^2/2} (1 - rho^2)``, ``rho = r/s`` (its eigenvalues are
        ``(h_k/s^2) e^{-t^2/2}`` and ``(h_k/s^2) e^{-t^2/2}(1 - t^2)`` at ``t = |x - mu_k|/s``);
        the bowl adds ``beta``; every other well ``j`` subtracts at most its Hessian norm
        ``(h_j/s^2) psi_sup((|mu_j - mu_k| - r)/s)``.
        """
        s = self.width
        rho = r / s
        h = self.depths.tolist()
        bound = self.curvature + h[k] / s**2 * math.exp(-0.5 * rho * rho) * (1.0 - rho * rho)
        dist = (self.centers - self.centers[k]).norm(dim=1).tolist()
        for j, dj in enumerate(dist):
            if j != k:
                bound -= h[j] / s**2 * _psi_sup((dj - r) / s)
        return bound


def _certify(L: GaussianWells, k: int) -> float:
    """The smallest radius ``r = rho s`` (``rho`` on a grid of ``1/64`` up to ``0.95``) at which
    ``|grad f(mu_k)| < m(r) r`` with ``m(r)`` the Hessian lower bound on the ball; ``nan`` if none.

    Why it suffices: ``m(r) > 0`` makes ``f`` strongly convex on the ball ``B``, so
    ``(grad f(x) - grad f(mu_k)) . (x - mu_k) >= m r^2`` on its sphere and
    ``grad f(x) . (x - mu_k) >= m r^2 - |grad f(mu_k)| r > 0``: the gradient points outward on
    the whole sphere. The minimiser of ``f`` over the closed ball therefore is not on the sphere
    (there ``grad f`` would point inward), so it is an interior critical point, a minimum, and
    strict convexity makes it the only critical point in ``B``. A 1e-6 relative margin covers
    the rounding of the float64 bound.
    """
    g, _ = L.grad_and_hessian(L.centers[k])
    gnorm = float(g.norm())
    for i in range(1, 61):
        rho = i / 64.0
        r = rho * L.width
        m = L.hessian_lower_bound(k, r)
        if m > 0 and gnorm < (1.0 - 1e-6) * m * r:
            return r
    return float("nan")


def _newton_in_ball(L: GaussianWells, k: int, r: float) -> Tensor:
    """Newton's method for ``grad f = 0`` from ``mu_k``, kept inside the certified ball.

    The Newton step ``s = H^{-1} g`` is a descent direction of ``|g|^2 / 2`` (its derivative
    along ``-s`` is ``-|g|^2``), so halving ``t`` until ``x - t s`` stays in the ball and
    ``|g|^2`` falls by the Armijo fraction always succeeds until rounding; in the ball the root
    is unique, so the iteration converges to it (quadratically at the end).
    """
    mu = L.centers[k]
    x = mu.clone()
    g, H = L.grad_and_hessian(x)
    g2 = float(g @ g)
    for _ in range(200):
        if g2 == 0.0:
            break
        step = torch.linalg.solve(H, g)
        t = 1.0
        while t > 1e-12:
            y = x - t * step
            if float((y - mu).norm()) <= r:
                gy, Hy = L.grad_and_hessian(y)
                gy2 = float(gy @ gy)
                if gy2 <= (1.0 - 1e-4 * t) * g2:
                    break
            t *= 0.5
        else:  # no decrease possible at float64 resolution: converged
            break
        x, g, H, g2 = y, gy, Hy, gy2
    return x


@register("gaussian_wells")
def gaussian_wells(
    dim: int = 2,
    n_wells: int = 4,
    seed: int = 0,
    width: float = 0.5,
    depth: float = 1.0,
    curvature: float = 0.1,
    spread: float = 2.0,
    separation: float = 4.0,
) -> GaussianWells:
    """A weak quadratic bowl with ``n_wells`` Gaussian wells planted at random centres; each
    certified well holds exactly one minimum near its centre.

    ``f(x) = beta/2 |x|^2 - sum_k h_k exp(-|x - mu_k|^2 / (2 s^2))`` with centres ``mu_k``
    uniform in ``[-spread, spread]^d`` at mutual distance ``>= separation * s`` (drawn in turn,
    rejecting candidates too close to earlier ones), depths ``h_k`` uniform in
    ``[depth/2, 3 depth/2]``, common width ``s`` and bowl curvature ``beta``.

    What is known, exactly: for each well whose certificate holds (see ``_certify``), ``f`` is
    strongly convex on the ball of radius ``r_k`` (``certified_radii``) around ``mu_k`` and its
    gradient points outward on the ball's sphere, so that ball holds exactly one critical point,
    a minimum. What is known approximately: its location, found by Newton from ``mu_k`` inside
    the ball to float64 precision (listed in ``critical_points`` with its value and Hessian
    eigenvalues; the note gives ``r_k``). What is not known: the saddles between wells, any
    other minima (the bowl's own, near the origin, where no well covers it; those of wells
    whose certificate fails), and which minimum is global (``global_min_value`` is ``None``,
    no point is marked global). ``complete`` is False.

    Args:
        dim: dimension ``d >= 1``.
        n_wells: number of wells ``K >= 1``.
        seed: seed of the centres and depths.
        width: ``s``, the wells' width.
        depth: the mean well depth.
        curvature: ``beta > 0``, the bowl's curvature (it makes ``f`` coercive).
        spread: centres lie in ``[-spread, spread]^d``.
        separation: minimum distance between centres, in units of ``s`` (``>= 0``).

    Example:
        >>> L = gaussian_wells(dim=2, n_wells=3, seed=0)
        >>> [c.kind for c in L.critical_points]
        ['minimum', 'minimum', 'minimum']
    """
    d = _check_int("dim", dim, 1, "dense_dim")
    K = _check_int("n_wells", n_wells, 1, "n_wells")
    check_size(
        "wells_work",
        K * d**3,
        param="n_wells",
        label=f"n_wells x dim^3 = {K:,} x {d:,}^3",
        advice="use fewer wells or dimensions",
    )
    s = check_positive("width", width)
    h = check_positive("depth", depth)
    beta = check_positive("curvature", curvature)
    spread_ = check_positive("spread", spread)
    sep = check_positive("separation", separation, allow_zero=True)
    g = _generator(seed)
    # Rejection sampling, one candidate per draw; the distance test against every placed centre
    # is one vectorised norm, so even the refused case (1000 K draws) stays around a second.
    placed = torch.empty(K, d, dtype=_F64)
    n_placed = 0
    tries = 0
    while n_placed < K:
        tries += 1
        if tries > 1000 * K:
            raise InvalidParameterError(
                f"cannot place {K} wells at distance >= {sep:g} * width = {sep * s:g} inside "
                f"[-{spread_:g}, {spread_:g}]^{d}; lower n_wells, width or separation, or raise "
                "spread",
                param="n_wells",
            )
        c = (2.0 * torch.rand(d, generator=g, dtype=_F64) - 1.0) * spread_
        if n_placed == 0 or bool(((placed[:n_placed] - c).norm(dim=1) >= sep * s).all()):
            placed[n_placed] = c
            n_placed += 1
    M = placed
    depths = h * (0.5 + torch.rand(K, generator=g, dtype=_F64))
    probe = GaussianWells(M, depths, s, beta)
    radii = [_certify(probe, k) for k in range(K)]
    cps = []
    for k, r in enumerate(radii):
        if math.isnan(r):
            continue
        x = _newton_in_ball(probe, k, r)
        _, H = probe.grad_and_hessian(x)
        eig = torch.linalg.eigvalsh(0.5 * (H + H.T))
        cps.append(
            CriticalPoint(
                point=tuple(x.tolist()),
                value=float(probe.fn(x[None])[0]),
                kind="minimum",
                index=0,
                eigenvalues=tuple(eig.tolist()),
                note=(
                    f"well {k}: the only critical point within {r:.4g} of its centre "
                    "(certified); located by Newton to float64 precision"
                ),
            )
        )
    failed = [k for k, r in enumerate(radii) if math.isnan(r)]
    half = spread_ + 3.0 * s
    return GaussianWells(
        M,
        depths,
        s,
        beta,
        certified_radii=radii,
        name="gaussian_wells",
        domain=(-half, half),
        critical_points=cps,
        complete=False,
        global_min_value=None,
        formula="beta/2 |x|^2 - sum_k h_k exp(-|x - mu_k|^2 / (2 s^2))",
        description=(
            f"{K} Gaussian wells (width {s:g}, depths {depth / 2:g}..{1.5 * depth:g}) planted "
            f"in a weak bowl (curvature {beta:g}) in {d} dimensions. Each of the {len(cps)} "
            "listed minima is certified to be the only critical point within the stated radius "
            "of its well's centre; its location is Newton's to float64 precision. Not known: the "
            "saddles between wells, other minima, and which minimum is global."
            + (
                f" No minimum is certified near well(s) {', '.join(map(str, failed))} "
                "(overlapping or too shallow for the certificate)."
                if failed
                else ""
            )
        ),
        params={
            "dim": d,
            "n_wells": K,
            "seed": seed,
            "width": s,
            "depth": h,
            "curvature": beta,
            "spread": spread_,
            "separation": sep,
        },
    )
