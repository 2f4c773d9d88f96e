"""Eigenvalue density by stochastic Lanczos quadrature (SLQ).

The spectral density ``φ(t) = (1/n) Σᵢ δ(t - λᵢ)`` satisfies ``∫ f dφ = tr f(H) / n``. For a
Rademacher vector ``v`` (``‖v‖² = n``), ``vᵀ f(H) v / n`` is an unbiased estimate of it, and
``m`` Lanczos steps from ``v/‖v‖`` give a Gauss quadrature rule for it: nodes ``θⱼ`` (Ritz values)
and weights ``τⱼ = s₁ⱼ²`` (squared first components of the eigenvectors of ``T_m``), exact for
polynomials of degree ``≤ 2m - 1``. Averaging the rules of ``n_vectors`` independent vectors
gives a discrete density whose weights sum to 1 and whose ``k``-th moment equals the
Hutchinson estimate of ``tr(Hᵏ)/n`` with the same vectors. A Gaussian kernel of width ``σ``
turns it into a curve for plotting.

From it: the negative mass (fraction of eigenvalues below ``-tol``, the share of descent
directions — near 0 at a minimum, the index over ``n`` at a saddle) and ``|λmin| / λmax``.

References: Lin, Saad & Yang, SIAM Review 2016; Ubaru, Chen & Saad, SIMAX 2017; Ghorbani,
Krishnan & Xiao, ICML 2019 (Hessian densities of networks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from descentlab.errors import InvalidParameterError
from descentlab.nn._summary import summary
from descentlab.nn.hessian import as_matvec
from descentlab.nn.spectrum import LanczosProcess


@dataclass
class SpectralDensity:
    """A discrete spectral density: ``nodes[i]``/``weights[i]`` are vector ``i``'s quadrature."""

    nodes: list[Tensor]
    weights: list[Tensor]
    n: int
    n_matvec: int

    def __repr__(self) -> str:
        return summary(
            "SpectralDensity",
            n=self.n,
            n_vectors=len(self.nodes),
            lambda_min=self.lambda_min,
            lambda_max=self.lambda_max,
            n_matvec=self.n_matvec,
        )

    def flat(self) -> tuple[Tensor, Tensor]:
        """All nodes and their weights (each vector's rule weighted ``1/n_vectors``)."""
        k = len(self.nodes)
        return torch.cat(self.nodes), torch.cat([w / k for w in self.weights])

    @property
    def lambda_min(self) -> float:
        return float(min(t.min() for t in self.nodes))

    @property
    def lambda_max(self) -> float:
        return float(max(t.max() for t in self.nodes))

    @property
    def ratio(self) -> float:
        """``|λmin| / λmax`` from the extreme nodes (``inf`` when ``λmax ≤ 0``)."""
        lmax = self.lambda_max
        return abs(self.lambda_min) / lmax if lmax > 0 else math.inf

    def moment(self, k: int) -> float:
        """``∫ tᵏ dφ(t)``, an estimate of ``tr(Hᵏ)/n`` (exact per vector for ``k ≤ 2m-1``)."""
        t, w = self.flat()
        return float((w * t**k).sum())

    def negative_mass(self, rel_tol: float = 1e-3, abs_tol: float = 0.0) -> float:
        """Mass below ``-max(abs_tol, rel_tol · max|λ|)``: the estimated fraction of negative
        eigenvalues."""
        t, w = self.flat()
        tol = max(abs_tol, rel_tol * float(t.abs().max()))
        return float(w[t < -tol].sum())

    def density(self, grid: Any, sigma: float | None = None) -> Tensor:
        """The density smoothed by a Gaussian of width ``σ`` on ``grid`` (default ``σ``:
        1% of the spectral range)."""
        g = torch.as_tensor(grid, dtype=torch.float64)
        t, w = self.flat()
        if sigma is None:
            sigma = 0.01 * max(self.lambda_max - self.lambda_min, 1e-12)
        if not sigma > 0:
            raise InvalidParameterError(f"sigma must be > 0, got {sigma!r}")
        z = (g[:, None] - t[None, :]) / sigma
        return (w[None, :] * torch.exp(-0.5 * z**2)).sum(1) / (sigma * math.sqrt(2 * math.pi))

    def smoothed(
        self,
        grid: Any,
        sigma: float,
        *,
        select: Tensor | None = None,
        support: tuple[float, float] | None = None,
    ) -> Tensor:
        """The density of the selected nodes smoothed by Gaussians truncated to ``support``.

        Each node ``θᵢ`` in ``[a, b] = support`` (default: ``[λmin, λmax]`` of the nodes, so no
        mass appears below the smallest Ritz value or above the largest) is spread by the
        Gaussian of width ``σ`` restricted to ``[a, b]`` and renormalised there:
        ``φ(x) = Σᵢ wᵢ N(x; θᵢ, σ) / (Φ((b-θᵢ)/σ) - Φ((a-θᵢ)/σ))`` on ``[a, b]``, 0 outside.
        Every node keeps its weight: the curve integrates to the selected nodes' total weight.
        ``select`` is a boolean mask over :meth:`flat`'s nodes.
        """
        if not sigma > 0:
            raise InvalidParameterError(f"sigma must be > 0, got {sigma!r}")
        g = torch.as_tensor(grid, dtype=torch.float64)
        t, w = self.flat()
        a, b = support if support is not None else (self.lambda_min, self.lambda_max)
        if select is not None:
            t, w = t[select], w[select]
        if t.numel() == 0:
            return torch.zeros_like(g)
        if (t < a - 1e-12 * max(1.0, abs(a))).any() or (t > b + 1e-12 * max(1.0, abs(b))).any():
            raise InvalidParameterError("every selected node must lie inside the support")
        mass = torch.special.ndtr((b - t) / sigma) - torch.special.ndtr((a - t) / sigma)
        z = (g[:, None] - t[None, :]) / sigma
        k = torch.exp(-0.5 * z**2) / (sigma * math.sqrt(2 * math.pi))
        inside = ((g >= a) & (g <= b)).to(torch.float64)[:, None]
        return (inside * k * (w / mass.clamp_min(1e-300))[None, :]).sum(1)

    def to_dict(self, rel_tol: float = 1e-3) -> dict[str, Any]:
        t, w = self.flat()
        return {
            "nodes": t.tolist(),
            "weights": w.tolist(),
            "n": self.n,
            "n_vectors": len(self.nodes),
            "n_matvec": self.n_matvec,
            "lambda_min": self.lambda_min,
            "lambda_max": self.lambda_max,
            "ratio_abs_min_to_max": self.ratio,
            "negative_mass": self.negative_mass(rel_tol),
        }


def slq_density(A: Any, n_vectors: int = 4, n_iter: int = 80, *, seed: int = 0) -> SpectralDensity:
    """Stochastic Lanczos quadrature with ``n_vectors`` Rademacher starts of ``n_iter`` steps.

    Lanczos uses full reorthogonalisation; if a Krylov space becomes invariant early, that
    vector's rule is already exact and stops there.

    Example:
        >>> H = torch.diag(torch.tensor([-1.0, 1.0, 2.0, 4.0], dtype=torch.float64))
        >>> d = slq_density(H, n_vectors=2, n_iter=4)
        >>> round(d.moment(1), 10), round(d.negative_mass(), 10)  # tr(H)/n and 1/4 exactly
        (1.5, 0.25)
    """
    matvec, n, dtype, device = as_matvec(A)
    if not isinstance(n_vectors, int) or n_vectors < 1:
        raise InvalidParameterError(f"n_vectors must be a positive integer, got {n_vectors!r}")
    if not isinstance(n_iter, int) or n_iter < 1:
        raise InvalidParameterError(f"n_iter must be a positive integer, got {n_iter!r}")
    gen = torch.Generator().manual_seed(int(seed))
    nodes, weights, cost = [], [], 0
    for _ in range(n_vectors):
        z = (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).to(torch.float64)
        proc = LanczosProcess(matvec, n, z.to(dtype=dtype, device=device), n_iter, restart=False)
        while not proc.finished:
            proc.step()
        theta, S = torch.linalg.eigh(proc.tridiagonal())
        nodes.append(theta)
        weights.append(S[0, :] ** 2)
        cost += proc.n_matvec
    return SpectralDensity(nodes, weights, n, cost)
