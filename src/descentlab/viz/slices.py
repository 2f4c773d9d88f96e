"""Figures for networks: landscape slices, interpolation, PCA path, spectral density, monitor.

Each function returns a matplotlib ``Figure`` (drawn with :mod:`descentlab.viz.style`); write it
with :func:`descentlab.viz._common.save_figure` (atomic, PNG or SVG) or pass ``path=``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from descentlab.nn import random_directions, slice_1d
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    >>> X = torch.randn(16, 2, dtype=torch.float64)
    >>> s = slice_1d(net, nn.MSELoss(), (X, X[:, :1]), random_directions(net, 1)[0])
    >>> fig = plot_slice_1d(s)
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from descentlab.errors import InvalidParameterError
from descentlab.viz import style
from descentlab.viz._common import save_figure

_NEG = style.KIND_STYLES["saddle"].color
_POS = style.KIND_STYLES["local_minimum"].color


def _finish(fig: Figure, path: str | os.PathLike[str] | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _as_mapping(slices: Any) -> dict[str, Any]:
    if isinstance(slices, Mapping):
        return {str(k): v for k, v in slices.items()}
    if isinstance(slices, Sequence) and not hasattr(slices, "losses"):
        return {getattr(s, "labels", (f"slice {i}",))[0]: s for i, s in enumerate(slices)}
    return {slices.labels[0]: slices}


def plot_slice_1d(
    slices: Any,
    *,
    title: str = "Loss along directions",
    xlabel: str = "step along direction (α)",
    log: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Loss curves of one or more 1-D slices (``Slice`` or a mapping label -> ``Slice``)."""
    items = _as_mapping(slices)
    if not items:
        raise InvalidParameterError("no slice to plot")
    colors = style.optimizer_colors(list(items))
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE_WIDE)
        for label, s in items.items():
            if s.betas is not None:
                raise InvalidParameterError(f"slice {label!r} is 2-D; use plot_slice_2d")
            ax.plot(
                s.alphas.numpy(),
                s.losses.numpy(),
                color=colors[label],
                lw=style.LINEWIDTH,
                label=label,
            )
        ax.axvline(0.0, color="0.6", lw=0.8, ls=":")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
    return _finish(fig, path)


def plot_interpolation(
    result: Any,
    *,
    title: str = "Linear interpolation θ(α) = (1-α)θ₀ + αθ₁",
    labels: tuple[str, str] = ("start", "end"),
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """The interpolation curve with the two end points marked (Goodfellow et al. 2015)."""
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE_WIDE)
        a, loss = result.alphas.numpy(), result.losses.numpy()
        tag = " (BatchNorm statistics recomputed)" if result.setup.get("recompute_bn") else ""
        ax.plot(a, loss, color=style.OPTIMIZER_PALETTE[0], lw=style.LINEWIDTH, label="loss" + tag)
        # a float32 grid holds 0 as e.g. -1.5e-8: match the end points to the grid's resolution
        tol = 1e-4 * max(float(np.ptp(a)) if a.size > 1 else 1.0, 1e-12)
        for x, lab, color in ((0.0, labels[0], "white"), (1.0, labels[1], "black")):
            i = int(np.argmin(np.abs(a - x)))
            if abs(float(a[i]) - x) <= tol:
                ax.scatter(
                    [x], [loss[i]], s=60, zorder=5, facecolors=color, edgecolors="black", label=lab
                )
        ax.set_xlabel("α")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
    return _finish(fig, path)


def _contour(ax: Any, s: Any, log: bool, levels: int) -> Any:
    A, B = np.meshgrid(s.alphas.numpy(), s.betas.numpy())
    Z = s.losses.numpy()
    if log:
        Z = np.log10(np.maximum(Z, 1e-300))
    cf = ax.contourf(A, B, Z, levels=levels, cmap=style.CONTOUR_CMAP)
    ax.contour(A, B, Z, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
    return cf


def plot_slice_2d(
    s: Any,
    *,
    title: str = "Loss surface",
    log: bool = False,
    levels: int = 30,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Filled contours of a 2-D slice, the centre point marked."""
    if s.betas is None:
        raise InvalidParameterError("plot_slice_2d needs a 2-D slice (slice_2d)")
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE)
        cf = _contour(ax, s, log, levels)
        fig.colorbar(cf, ax=ax, label="log10 loss" if log else "loss")
        ax.scatter([0], [0], marker="*", s=200, c="white", edgecolors="black", zorder=5, label="θ")
        ax.set_xlabel(f"α along {s.labels[0]}")
        ax.set_ylabel(f"β along {s.labels[1]}")
        ax.set_title(title)
        ax.legend(loc="upper right")
        fig.tight_layout()
    return _finish(fig, path)


def plot_pca_path(
    pca: Any,
    surface: Any = None,
    *,
    title: str = "Training path in its PCA plane",
    log: bool = True,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """The path's coordinates in its principal plane, over the loss surface of that plane
    (``surface``: a ``slice_2d`` along the PCA directions centred at the path's origin)."""
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE)
        if surface is not None:
            cf = _contour(ax, surface, log, 30)
            fig.colorbar(cf, ax=ax, label="log10 loss" if log else "loss")
        c = pca.coords.numpy()
        ax.plot(c[:, 0], c[:, 1], "-", color="#E69F00", lw=style.LINEWIDTH, label="path")
        ax.scatter(c[:1, 0], c[:1, 1], **style.START_MARKER, edgecolors="#E69F00", label="start")
        ax.scatter(c[-1:, 0], c[-1:, 1], **style.END_MARKER, c="#E69F00", label="end")
        ev = pca.explained.numpy()
        ax.set_xlabel(f"PC1 ({100 * ev[0]:.1f}% of variance)")
        ax.set_ylabel(f"PC2 ({100 * ev[1]:.1f}% of variance)")
        ax.set_title(title)
        ax.legend(loc="upper right")
        fig.tight_layout()
    return _finish(fig, path)


def plot_spectrum_density(
    density: Any,
    *,
    check: Any = None,
    neg_tol: float | None = None,
    sigma: float | None = None,
    n_grid: int = 800,
    log: bool = True,
    title: str = "Hessian eigenvalue density (SLQ)",
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """The SLQ density as the numbers say it: negative mass from the Ritz weights, no smoothing
    below the smallest Ritz value, ``λmin`` and the verdict in the title.

    Ritz nodes below ``-neg_tol`` are *negative*: their weights sum to the stated negative mass,
    and they are drawn (shaded) by Gaussians truncated to ``[θmin, -neg_tol]``; the other nodes
    by Gaussians truncated to ``[max(θmin, -neg_tol), θmax]`` (see
    :meth:`~descentlab.nn.density.SpectralDensity.smoothed`), so the shaded area equals the
    negative mass and no curve extends below the smallest Ritz value. Ticks at the bottom mark
    the nodes.

    Args:
        density: a :class:`~descentlab.nn.density.SpectralDensity`.
        check: a :class:`~descentlab.nn.check.PointCheck` of the same point: its verdict and
            ``λmin ± δ`` are stated, and ``neg_tol`` defaults to its ``τ + δ`` (the check's
            threshold for a negative eigenvalue). Without it, ``neg_tol`` defaults to
            ``10⁻³ · max|θ|`` and the title says no verdict was computed.
        neg_tol: the threshold below which a node counts as negative.
        sigma: kernel width (default 1% of the Ritz range).
    """
    nodes, weights = density.flat()
    lo, hi = density.lambda_min, density.lambda_max
    if neg_tol is None:
        if check is not None:
            neg_tol = float(check.thresholds["curvature_scale"]) + float(check.residual_min)
        else:
            neg_tol = 1e-3 * float(nodes.abs().max())
    if not (math.isfinite(neg_tol) and neg_tol >= 0):
        raise InvalidParameterError(f"neg_tol must be a finite number >= 0, got {neg_tol!r}")
    negative = nodes < -neg_tol
    neg_mass = float(weights[negative].sum())
    span = hi - lo
    sig = sigma if sigma is not None else 0.01 * max(span, 1e-12)
    grid = torch.linspace(lo, hi, n_grid, dtype=torch.float64)
    cut = max(lo, -neg_tol)
    if negative.any():  # both sides of the cut, so the drawn step is vertical
        edges = torch.tensor([cut, -neg_tol], dtype=torch.float64)
        below = torch.nextafter(edges, torch.full_like(edges, -math.inf))
        above = torch.nextafter(edges, torch.full_like(edges, math.inf))
        extra = torch.cat([edges, below, above])
        grid = torch.unique(torch.cat([grid, extra[(extra >= lo) & (extra <= hi)]]))
    g = grid.numpy()
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE_WIDE)
        if span > 0:
            phi = np.zeros_like(g)
            parts = []
            for mask, support, color, label in (
                (negative, (lo, min(-neg_tol, hi)), _NEG, "negative curvature"),
                (~negative, (cut, hi), _POS, "positive or flat"),
            ):
                if not mask.any():
                    continue
                if support[1] - support[0] <= 1e-12 * max(abs(lo), abs(hi)):
                    ax.vlines(nodes[mask].numpy(), 0, 1, color=color, lw=3, label=label)
                    continue
                part = density.smoothed(grid, sig, select=mask, support=support).numpy()
                parts.append((part, color, label))
                phi = phi + part
            ax.plot(g, phi, color="black", lw=1.4)
            for part, color, label in parts:
                ax.fill_between(g, part, color=color, alpha=0.45, label=label)
            if log and phi.max() > 0:
                ax.set_yscale("log")
                ax.set_ylim(max(phi.max() * 1e-7, 1e-12), phi.max() * 2)
        else:  # every node at one value: the density is a point mass
            ax.vlines([lo], 0, 1, color=_NEG if neg_mass > 0 else _POS, lw=3)
        ax.plot(
            nodes.numpy(),
            np.zeros(nodes.numel()),
            "|",
            color="black",
            ms=8,
            transform=ax.get_xaxis_transform(),
            label="Ritz values",
        )
        if check is not None:
            lmin_txt = f"λmin = {check.lambda_min:.3g} ± {check.residual_min:.1g}"
            verdict_txt = f"verdict: {check.verdict}"
        else:
            lmin_txt = f"λmin ≤ {lo:.3g} (smallest Ritz value)"
            verdict_txt = "verdict: not checked"
        ratio = density.ratio
        ratio_txt = f", |λmin|/λmax = {ratio:.3g}" if math.isfinite(ratio) else ""
        ax.set_title(
            f"{title}\nnegative mass {neg_mass:.3f} (Ritz weights below {-neg_tol:.2g}); "
            f"{lmin_txt}{ratio_txt}; {verdict_txt}",
            fontsize="medium",
        )
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("density")
        ax.legend()
        fig.tight_layout()
    return _finish(fig, path)


def plot_monitor(
    record: Any, *, title: str = "Training monitor", path: str | os.PathLike[str] | None = None
) -> Figure:
    """Loss, gradient norm and probed ``λmax``/``λmin`` against step; episodes shaded
    (saddle: red, plateau/stall: grey). ``record``: a ``TrainingMonitor`` or its ``to_dict()``."""
    d = record.to_dict() if hasattr(record, "to_dict") else dict(record)
    steps = np.asarray(d["steps"], dtype=float)
    if steps.size == 0:
        raise InvalidParameterError("the monitor recorded no steps")
    probes = d.get("probes") or []
    n_panels = 3 if probes else 2
    with style.context():
        fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.8))
        loss = np.asarray([np.nan if v is None else v for v in d["losses"]], dtype=float)
        gn = np.asarray([np.nan if v is None else v for v in d["grad_norms"]], dtype=float)
        axes[0].plot(steps, loss, color=style.OPTIMIZER_PALETTE[0], lw=1.5)
        axes[0].set_ylabel("loss")
        axes[1].plot(steps, gn, color=style.OPTIMIZER_PALETTE[1], lw=1.2)
        axes[1].set_ylabel("‖∇L‖")
        for ax, vals in ((axes[0], loss), (axes[1], gn)):
            if np.nanmin(vals) > 0:
                ax.set_yscale("log")
        if probes:
            ps = np.asarray([p["step"] for p in probes], dtype=float)
            lmax = np.asarray([p["lambda_max"] for p in probes], dtype=float)
            lmin = np.asarray([p["lambda_min"] for p in probes], dtype=float)
            axes[2].plot(ps, lmax, "o-", color=_POS, ms=3, label="λmax")
            axes[2].plot(ps, lmin, "o-", color=_NEG, ms=3, label="λmin")
            axes[2].axhline(0, color="0.5", lw=0.8)
            axes[2].set_yscale("symlog", linthresh=max(1e-6, 1e-3 * np.nanmax(np.abs(lmax))))
            axes[2].set_ylabel("Hessian eigenvalue")
            axes[2].legend()
        last = float(steps[-1])
        band_kinds: dict[str, str] = {}
        for ep in d.get("episodes") or []:
            color = _NEG if ep["kind"] == "saddle" else "0.6"
            name = "saddle episode" if ep["kind"] == "saddle" else "plateau / stall"
            band_kinds.setdefault(name, color)
            end = last if ep.get("end") is None else ep["end"]
            for ax in axes:
                ax.axvspan(ep["start"], end, color=color, alpha=0.15, lw=0)
        for ax in axes:
            ax.set_xlabel("step")
        fig.suptitle(title)
        if band_kinds:  # one legend for the shaded bands, under the panels
            from matplotlib.patches import Patch

            handles = [Patch(color=c, alpha=0.25, label=n) for n, c in band_kinds.items()]
            fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
            fig.tight_layout(rect=(0, 0.08, 1, 1))
        else:
            fig.tight_layout()
    return _finish(fig, path)


def plot_decision_boundary(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    resolution: int = 200,
    title: str = "Decision regions",
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Predicted class over the plane (2-D inputs) with the data points. ``model`` is only read:
    a copy is evaluated in eval mode."""
    Xn = torch.as_tensor(X)
    if Xn.dim() != 2 or Xn.shape[1] != 2:
        raise InvalidParameterError(
            f"a decision boundary needs 2-D inputs, got shape {tuple(Xn.shape)}"
        )
    yn = torch.as_tensor(y).reshape(-1).numpy()
    lo = Xn.min(0).values.numpy() - 0.5
    hi = Xn.max(0).values.numpy() + 0.5
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    param = next(model.parameters())
    pts = torch.as_tensor(
        np.stack([gx.ravel(), gy.ravel()], 1), dtype=param.dtype, device=param.device
    )
    with torch.no_grad():
        out = copy.deepcopy(model).eval()(pts)
    pred = (out.argmax(1) if out.shape[-1] > 1 else (out.reshape(-1) > 0).long()).cpu().numpy()
    k = int(max(pred.max(), yn.max())) + 1
    cmap = matplotlib.colors.ListedColormap(list(style.OPTIMIZER_PALETTE[:k]))
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE)
        ax.contourf(
            gx, gy, pred.reshape(gx.shape), levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.25
        )
        ax.scatter(
            Xn[:, 0].cpu().numpy(),
            Xn[:, 1].cpu().numpy(),
            c=yn,
            cmap=cmap,
            s=14,
            edgecolors="k",
            linewidths=0.3,
            vmin=-0.5,
            vmax=k - 0.5,
        )
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.set_title(title)
        fig.tight_layout()
    return _finish(fig, path)


def plot_loss_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    title: str = "Training loss",
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """One or more loss-per-step curves (e.g. ``{"train": [...], "test": [...]}``), log scale
    when all positive."""
    if not curves:
        raise InvalidParameterError("no curve to plot")
    with style.context():
        fig, ax = plt.subplots(figsize=style.FIGSIZE_WIDE)
        colors = style.optimizer_colors(list(curves))
        positive = True
        for label, ys in curves.items():
            arr = np.asarray(ys, dtype=float)
            positive &= bool(np.all(arr > 0))
            ax.plot(np.arange(arr.size), arr, color=colors[label], lw=1.5, label=label)
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
    return _finish(fig, path)
