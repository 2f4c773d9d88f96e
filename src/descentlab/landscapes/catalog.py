"""The named test surfaces, each with its known set of critical points.

Every factory returns a :class:`~descentlab.landscapes.base.Landscape` whose ``critical_points``
are *every* critical point inside ``domain`` when ``complete`` is True. How each set is known:

* closed form — quadratics, saddles, double wells, McCormick, three-hump camel, the cubic
  families (Styblinski–Tang, tilted double well, non-convex curve) whose stationarity condition
  is a cubic with three real roots (trigonometric formula, then bisected to the last float on
  a bracket that isolates the root);
* bracketed 1-D roots — Rastrigin and Easom are separable in the sense that their gradient
  components vanish on products of roots of one-variable equations; each root is the unique zero
  of a strictly monotone function on an explicit bracket (argued in the factory's docstring) and
  is computed by bisection to the last float;
* certified and stored — Himmelblau, six-hump camel, Beale, Goldstein–Price and Rosenbrock in
  ``d = 3..7`` have polynomial gradients without a closed-form solution; their points were
  computed once by ``tools/certify_critical_points.py``: for the 2-D ones, exact real-root
  isolation of the two resultants with sympy, then an interval Krawczyk test at 80 digits on
  every candidate box; for Rosenbrock, exact real-root isolation of the one polynomial in
  ``x_1`` that the gradient equations reduce to. Lévi N.13's 3653 points were found by
  exhaustive interval subdivision of its box with a Krawczyk test on every box that could hold
  one. All were polished at 50-60 digits and stored rounded to float64 in
  ``data/critical_points.json``.

Where a complete set is unknown or numerically meaningless (Ackley; Rosenbrock beyond the stored
dimensions; Rastrigin for ``d >= 5``, where it is known but too large to list) ``complete`` is
False and the description says why.

Example:
    >>> from descentlab.landscapes import get_landscape
    >>> L = get_landscape("styblinski_tang", dim=3)
    >>> L.count_kinds()
    {'minimum': 8, 'maximum': 1, 'saddle': 18, 'degenerate': 0}
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from typing import Any

import torch

from descentlab.errors import InvalidParameterError
from descentlab.landscapes.base import CriticalPoint, Landscape
from descentlab.landscapes.registry import register
from descentlab.limits import check_size
from descentlab.validate import check_int, check_positive

Tensor = torch.Tensor

# Lazily generated sets larger than this are refused (they would take minutes and gigabytes);
# iterate them with the ``iter_*`` helpers instead.
MAX_LISTED_POINTS = 3**12


# ---------------------------------------------------------------------------------- helpers
def _cp(
    point: Sequence[float],
    value: float,
    kind: str,
    index: int,
    is_global: bool = False,
    note: str = "",
    eigenvalues: Sequence[float] | None = None,
) -> CriticalPoint:
    return CriticalPoint(
        point=tuple(float(x) for x in point),
        value=float(value),
        kind=kind,
        index=int(index),
        is_global=bool(is_global),
        eigenvalues=None if eigenvalues is None else tuple(float(e) for e in eigenvalues),
        note=note,
    )


def _check_dim(dim: Any, minimum: int = 1) -> int:
    """An integer dimension ``>= minimum`` within the ``dim`` limit (checked before allocating)."""
    return check_size("dim", check_int("dim", dim, lo=minimum), param="dim")


def _bisect_root(g: Callable[[float], float], lo: float, hi: float) -> float:
    """The zero of ``g`` in ``[lo, hi]`` to the last float, given ``g(lo)`` and ``g(hi)`` differ in
    sign and ``g`` has exactly one zero there (the callers prove that)."""
    glo, ghi = g(lo), g(hi)
    if glo == 0.0:
        return lo
    if ghi == 0.0:
        return hi
    if (glo > 0) == (ghi > 0):
        raise ArithmeticError(f"no sign change on [{lo}, {hi}]")
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        gm = g(mid)
        if gm == 0.0:
            return mid
        if (gm > 0) == (glo > 0):
            lo, glo = mid, gm
        else:
            hi = mid
    return lo if abs(g(lo)) <= abs(g(hi)) else hi


def _cubic_roots(p: float, q: float) -> list[float]:
    """The three real roots of ``x^3 + p x + q`` (needs ``4p^3 + 27q^2 < 0``), ascending.

    Trigonometric (Viète) formula, then each root bisected to the last float on a bracket that
    separates it from the others (the two critical points of the cubic, ``±sqrt(-p/3)``).
    """
    if not 4 * p**3 + 27 * q**2 < 0:
        raise ArithmeticError("the cubic does not have three distinct real roots")
    m = 2.0 * math.sqrt(-p / 3.0)
    theta = math.acos(3.0 * q / (p * m)) / 3.0
    roots = sorted(m * math.cos(theta - 2.0 * math.pi * k / 3.0) for k in range(3))
    c = math.sqrt(-p / 3.0)
    big = 1.0 + abs(p) + abs(q)  # every root lies in (-big, big) (Cauchy bound)
    brackets = [(-big, -c), (-c, c), (c, big)]

    def g(x: float) -> float:
        return (x * x + p) * x + q

    out = []
    for r, (lo, hi) in zip(roots, brackets, strict=True):
        # shrink the bracket around the formula's root, then bisect to the last float
        w = 1e-12 * max(1.0, abs(r))
        a, b = max(lo, r - w), min(hi, r + w)
        if (g(a) > 0) == (g(b) > 0):
            a, b = lo, hi
        out.append(_bisect_root(g, a, b))
    return out


def _mark_global(
    points: list[CriticalPoint], value: float, tol: float = 1e-12
) -> list[CriticalPoint]:
    return [
        CriticalPoint(
            point=c.point,
            value=c.value,
            kind=c.kind,
            index=c.index,
            is_global=abs(c.value - value) <= tol * max(1.0, abs(value)) and c.kind == "minimum",
            eigenvalues=c.eigenvalues,
            note=c.note,
        )
        for c in points
    ]


@functools.cache
def _stored() -> dict[str, Any]:
    text = (
        resources.files("descentlab.landscapes").joinpath("data/critical_points.json").read_text()
    )
    return json.loads(text)


def _stored_points(key: str) -> list[CriticalPoint]:
    """Certified points computed by ``tools/certify_critical_points.py``."""
    entry = _stored()["landscapes"][key]
    return [
        _cp(
            p["point"],
            p["value"],
            p["kind"],
            p["index"],
            p["is_global"],
            eigenvalues=p.get("eigenvalues"),
        )
        for p in entry["points"]
    ]


def _has_stored(key: str) -> bool:
    return key in _stored()["landscapes"]


# ---------------------------------------------------------------------------------- quadratics
# ---------------------------------------------------------------------------- closed forms
# Values in the form the engine evaluates (each coordinate taken once with ``unbind``: a column
# select ``P[:, 0]`` costs a zero-filled backward per use), and where cheap the gradient and
# the per-row Hessian in closed form (tests/test_catalog_analytic.py checks them against
# autograd at float64).
def _hess2(hxx: Tensor, hxy: Tensor, hyy: Tensor) -> Tensor:
    """``(B, 2, 2)`` from the three entries of symmetric 2x2 Hessians (scalars broadcast)."""
    hxx, hxy, hyy = torch.broadcast_tensors(hxx, hxy, hyy)
    H, xx, xy, yy = _hess2_out(hxx.shape, hxx.dtype)
    xx.copy_(hxx)
    xy.copy_(hxy)
    yy.copy_(hyy)
    return _mirror(H)


def _hess2_out(lead: tuple[int, ...], dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """An empty ``(*lead, 2, 2)`` stored entry-major (each entry of every row one contiguous
    vector: the 2x2 solvers of :mod:`descentlab.optim.newton` read them as dense vectors) and
    its entries ``xx``, ``xy``, ``yy`` to be written; :func:`_mirror` then copies ``xy``."""
    H = torch.empty((2, 2, *lead), dtype=dtype).movedim((0, 1), (-2, -1))
    return H, H[..., 0, 0], H[..., 0, 1], H[..., 1, 1]


def _mirror(H: Tensor) -> Tensor:
    H[..., 1, 0] = H[..., 0, 1]
    return H


def _columns(P: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A fresh ``(B, 2)`` gradient in ``P``'s layout and its two coordinate vectors (to be
    written with ``out=``): column-major when ``P`` is, as in a run."""
    B = P.shape[0]
    if P.stride(0) == 1 and B > 1:
        G = torch.empty((2, B), dtype=P.dtype).t()
    else:
        G = torch.empty((B, 2), dtype=P.dtype)
    gx, gy = G.unbind(-1)
    return G, gx, gy


def _himmelblau(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def _himmelblau_vg(P: Tensor) -> tuple[Tensor, Tensor]:
    # a = x^2 + y - 11, b = y^2 + x - 7: f = a^2 + b^2, grad = (4x a + 2b, 4y b + 2a); fused
    # multiply-adds on the coordinate vectors (contiguous when P is column-major, as in a run)
    # (in-place where possible: at a million rows every fresh temporary costs page faults)
    x, y = P.unbind(-1)
    a = torch.addcmul(y, x, x).sub_(11.0)
    b = torch.addcmul(x, y, y).sub_(7.0)
    v = (a * a).addcmul_(b, b)
    G, gx, gy = _columns(P)
    torch.mul(b, 2.0, out=gx).addcmul_(x, a, value=4.0)
    torch.mul(a, 2.0, out=gy).addcmul_(y, b, value=4.0)
    return v, G


def _himmelblau_h(P: Tensor) -> Tensor:
    # hxx = 4a + 8x^2 + 2 = 12x^2 + 4y - 42, hyy = 12y^2 + 4x - 26, hxy = 4(x + y)
    x, y = P.unbind(-1)
    H, hxx, hxy, hyy = _hess2_out(P.shape[:1], P.dtype)
    torch.mul(y, 4.0, out=hxx).addcmul_(x, x, value=12.0).sub_(42.0)
    torch.add(x, y, out=hxy).mul_(4.0)
    torch.mul(x, 4.0, out=hyy).addcmul_(y, y, value=12.0).sub_(26.0)
    return _mirror(H)


def _tilted(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return (x**2 - 1.0) ** 2 + TILT * x + (y - x**2) ** 2


def _tilted_vg(P: Tensor) -> tuple[Tensor, Tensor]:
    # u = x^2 - 1, w = y - x^2: f = u^2 + TILT x + w^2, grad = (4x (u - w) + TILT, 2w)
    x, y = P.unbind(-1)
    x2 = x * x
    u = x2 - 1.0
    w = y - x2
    v = (u * u).add_(x, alpha=TILT).addcmul_(w, w)
    G, gx, gy = _columns(P)
    torch.sub(u, w, out=gx).mul_(x).mul_(4.0).add_(TILT)
    torch.mul(w, 2.0, out=gy)
    return v, G


def _tilted_h(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return _hess2(24.0 * x * x - 4.0 - 4.0 * y, -4.0 * x, torch.full_like(x, 2.0))


def _double_well(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return (x**2 - 1.0) ** 2 + y**2


def _double_well_vg(P: Tensor) -> tuple[Tensor, Tensor]:
    x, y = P.unbind(-1)
    u = x * x - 1.0
    return u * u + y * y, torch.stack([4.0 * x * u, 2.0 * y], -1)


def _double_well_h(P: Tensor) -> Tensor:
    x, _ = P.unbind(-1)
    return _hess2(12.0 * x * x - 4.0, torch.zeros_like(x), torch.full_like(x, 2.0))


def _monkey(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return x**3 - 3.0 * x * y**2


def _monkey_vg(P: Tensor) -> tuple[Tensor, Tensor]:
    x, y = P.unbind(-1)
    return x**3 - 3.0 * x * y**2, torch.stack([3.0 * x * x - 3.0 * y * y, -6.0 * x * y], -1)


def _monkey_h(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return _hess2(6.0 * x, -6.0 * y, -6.0 * x)


def _six_hump(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return (4.0 - 2.1 * x**2 + x**4 / 3.0) * x**2 + x * y + (-4.0 + 4.0 * y**2) * y**2


def _six_hump_vg(P: Tensor) -> tuple[Tensor, Tensor]:
    x, y = P.unbind(-1)
    x2, y2 = x * x, y * y
    v = (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + x * y + (-4.0 + 4.0 * y2) * y2
    gx = 8.0 * x - 8.4 * x2 * x + 2.0 * x2 * x2 * x + y
    gy = x - 8.0 * y + 16.0 * y2 * y
    return v, torch.stack([gx, gy], -1)


def _six_hump_h(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    x2 = x * x
    return _hess2(8.0 - 25.2 * x2 + 10.0 * x2 * x2, torch.ones_like(x), -8.0 + 48.0 * y * y)


def _three_hump(P: Tensor) -> Tensor:
    x, y = P.unbind(-1)
    return 2.0 * x**2 - 1.05 * x**4 + x**6 / 6.0 + x * y + y**2


def _three_hump_vg(P: Tensor) -> tuple[Tensor, Tensor]:
    x, y = P.unbind(-1)
    x2 = x * x
    v = 2.0 * x2 - 1.05 * x2 * x2 + x2 * x2 * x2 / 6.0 + x * y + y * y
    gx = 4.0 * x - 4.2 * x2 * x + x2 * x2 * x + y
    return v, torch.stack([gx, x + 2.0 * y], -1)


def _three_hump_h(P: Tensor) -> Tensor:
    x, _ = P.unbind(-1)
    x2 = x * x
    return _hess2(4.0 - 12.6 * x2 + 5.0 * x2 * x2, torch.ones_like(x), torch.full_like(x, 2.0))


def _rosenbrock_vg(P: Tensor) -> tuple[Tensor, Tensor]:
    a, b = P[:, :-1], P[:, 1:]
    w = b - a * a
    v = (100.0 * w * w + (1.0 - a) ** 2).sum(-1)
    g = torch.zeros_like(P)
    g[:, :-1] = -400.0 * a * w - 2.0 * (1.0 - a)
    g[:, 1:] += 200.0 * w
    return v, g


def _constant_hessian(H: list[list[float]]) -> Callable[[Tensor], Tensor]:
    """Per-row Hessians of a quadratic: the same matrix for every row."""
    M = torch.tensor(H, dtype=torch.float64)

    def hess(P: Tensor) -> Tensor:
        return M.to(P.dtype).expand(P.shape[0], -1, -1).clone()

    return hess


@register("quadratic_bowl")
def quadratic_bowl(dim: int = 2) -> Landscape:
    """Convex bowl ``f(x) = 1/2 |x|^2`` in ``d`` dimensions: one minimum, Hessian = identity.

    Example:
        >>> float(quadratic_bowl().value([1.0, 2.0]))
        2.5
    """
    d = _check_dim(dim)
    return Landscape(
        lambda P: 0.5 * (P * P).sum(-1),
        d,
        analytic_grad=lambda P: (0.5 * (P * P).sum(-1), P.clone()),
        analytic_hessian=lambda P: (
            torch.eye(P.shape[1], dtype=P.dtype).expand(P.shape[0], -1, -1).clone()
        ),
        name="quadratic_bowl",
        domain=(-2.0, 2.0),
        critical_points=[_cp([0.0] * d, 0.0, "minimum", 0, True)],
        complete=True,
        global_min_value=0.0,
        description=(
            "The convex quadratic bowl: one minimum and nothing else. The Hessian is the "
            "identity, so gradient descent with step lr multiplies each coordinate by (1 - lr) "
            "per step: it converges for 0 < lr < 2 (in one step at lr = 1) and diverges for "
            "lr > 2."
        ),
        formula="1/2 * sum_i x_i^2",
        params={"dim": d},
        any_layout=True,
    )


@register("ill_conditioned_quadratic")
def ill_conditioned_quadratic(condition: float = 100.0) -> Landscape:
    """``f(x, y) = 1/2 (x^2 + kappa y^2)``: Hessian ``diag(1, kappa)``, condition number ``kappa``.

    Example:
        >>> float(ill_conditioned_quadratic(condition=10.0).value([1.0, 1.0]))
        5.5
    """
    kappa = check_positive("condition", condition)
    if kappa < 1.0:
        raise InvalidParameterError(
            f"condition must be >= 1 (ratio of largest to smallest curvature), got {condition!r}"
        )
    return Landscape(
        lambda P: 0.5 * (P[:, 0] ** 2 + kappa * P[:, 1] ** 2),
        2,
        analytic_grad=lambda P: (
            0.5 * (P[:, 0] ** 2 + kappa * P[:, 1] ** 2),
            P * torch.tensor([1.0, kappa], dtype=P.dtype),
        ),
        analytic_hessian=_constant_hessian([[1.0, 0.0], [0.0, kappa]]),
        name="ill_conditioned_quadratic",
        domain=(-2.0, 2.0),
        critical_points=[_cp([0.0, 0.0], 0.0, "minimum", 0, True)],
        complete=True,
        global_min_value=0.0,
        description=(
            f"A convex quadratic whose curvatures differ by a factor {kappa:g}: gradient descent "
            "must take lr < 2/kappa to be stable in the steep direction and then crawls along the "
            "flat one (it needs about kappa steps per e-fold); momentum and Adam shorten the crawl."
        ),
        formula=f"1/2 * (x^2 + {kappa:g} * y^2)",
        params={"condition": kappa},
        any_layout=True,
    )


@register("simple_saddle")
def simple_saddle() -> Landscape:
    """``f(x, y) = x^2 - y^2``: one non-degenerate saddle (index 1) at the origin; unbounded below.

    Example:
        >>> simple_saddle().count_kinds()["saddle"]
        1
    """
    return Landscape(
        lambda P: P[:, 0] ** 2 - P[:, 1] ** 2,
        2,
        analytic_grad=lambda P: (
            P[:, 0] ** 2 - P[:, 1] ** 2,
            P * torch.tensor([2.0, -2.0], dtype=P.dtype),
        ),
        analytic_hessian=_constant_hessian([[2.0, 0.0], [0.0, -2.0]]),
        name="simple_saddle",
        domain=(-2.0, 2.0),
        critical_points=[_cp([0.0, 0.0], 0.0, "saddle", 1)],
        complete=True,
        global_min_value=None,
        description=(
            "The textbook saddle x^2 - y^2: the origin is the only critical point, with Hessian "
            "eigenvalues +2 and -2. Gradient descent started exactly on the x axis converges to "
            "the saddle; any perturbation in y grows by a factor (1 + 2 lr) per step and escapes. "
            "Unbounded below, so there is no global minimum."
        ),
        formula="x^2 - y^2",
        any_layout=True,
    )


@register("monkey_saddle")
def monkey_saddle() -> Landscape:
    """``f(x, y) = x^3 - 3 x y^2``: a degenerate critical point (zero Hessian) at the origin.

    Example:
        >>> monkey_saddle().critical_points[0].kind
        'degenerate'
    """
    return Landscape(
        _monkey,
        2,
        analytic_grad=_monkey_vg,
        analytic_hessian=_monkey_h,
        name="monkey_saddle",
        domain=(-1.5, 1.5),
        critical_points=[_cp([0.0, 0.0], 0.0, "degenerate", 0, note="Hessian is zero")],
        complete=True,
        global_min_value=None,
        description=(
            "The monkey saddle Re((x + iy)^3): three valleys meet at the origin, where gradient "
            "and Hessian both vanish, so second-order information cannot classify the point "
            "(it is a saddle of order three). Gradient descent leaves it slowly: from distance r "
            "along a valley it takes about 1/(3 lr r) steps, against about log(1/r)/(2 lr) at "
            "the non-degenerate saddle x^2 - y^2. Unbounded below."
        ),
        formula="x^3 - 3*x*y^2",
        any_layout=True,
    )


@register("double_well")
def double_well() -> Landscape:
    """``f(x, y) = (x^2 - 1)^2 + y^2``: two equal minima ``(±1, 0)`` and a saddle at the origin.

    Example:
        >>> [c.kind for c in double_well().critical_points]
        ['minimum', 'saddle', 'minimum']
    """
    return Landscape(
        _double_well,
        2,
        analytic_grad=_double_well_vg,
        analytic_hessian=_double_well_h,
        name="double_well",
        domain=((-2.0, 2.0), (-1.5, 1.5)),
        critical_points=[
            _cp([-1.0, 0.0], 0.0, "minimum", 0, True),
            _cp([0.0, 0.0], 1.0, "saddle", 1),
            _cp([1.0, 0.0], 0.0, "minimum", 0, True),
        ],
        complete=True,
        global_min_value=0.0,
        description=(
            "A symmetric double well: two global minima at (±1, 0) separated by a saddle of "
            "height 1 at the origin (Hessian diag(-4, 2)). Which well a run ends in depends only "
            "on the sign of its starting x; starts with x = 0 exactly converge to the saddle."
        ),
        formula="(x^2 - 1)^2 + y^2",
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- Rosenbrock
def _rosenbrock(P: Tensor) -> Tensor:
    a, b = P[:, :-1], P[:, 1:]
    return (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2).sum(-1)


@register("rosenbrock")
def rosenbrock(dim: int = 2) -> Landscape:
    """Rosenbrock's valley in ``d >= 2`` dimensions.

    ``f(x) = sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``.

    Critical points: ``d = 2`` only ``(1, 1)`` (closed form: ``y = x^2`` then ``x = 1``);
    ``3 <= d <= 7`` the complete real set, certified and stored (see the module docstring);
    ``d >= 8`` only the global minimum is listed.

    Reference: H. H. Rosenbrock, An automatic method for finding the greatest or least value of a
    function, The Computer Journal 3 (1960). Stationary points of the extended form: Kok &
    Sandrock, Evolutionary Computation 17(3) (2009).

    Example:
        >>> float(rosenbrock(dim=3).value([1.0, 1.0, 1.0]))
        0.0
    """
    d = _check_dim(dim, 2)
    key = f"rosenbrock_{d}"
    if d == 2:
        cps: Any = [_cp([1.0, 1.0], 0.0, "minimum", 0, True)]
        complete = True
        known = "the only critical point is the global minimum (1, 1) (closed form)"
    elif _has_stored(key):
        cps = functools.partial(_stored_points, key)
        complete = True
        known = (
            "the listed points are every real critical point (certified: the gradient equations "
            "reduce to one polynomial in x_1, whose real roots were isolated exactly)"
        )
    else:
        cps = [_cp([1.0] * d, 0.0, "minimum", 0, True)]
        complete = False
        known = (
            "only the global minimum (1, ..., 1) is listed (for d = 3..7 the complete set is "
            "stored: for 4 <= d <= 7 one more local minimum near (-1, 1, ..., 1) and one saddle)"
        )
    domain: Any = ((-2.0, 2.0), (-1.0, 3.0)) if d == 2 else (-2.048, 2.048)
    return Landscape(
        _rosenbrock,
        d,
        analytic_grad=_rosenbrock_vg,
        name="rosenbrock",
        domain=domain,
        critical_points=cps,
        complete=complete,
        global_min_value=0.0,
        description=(
            "Rosenbrock's banana valley: finding the valley is easy, following its curved, nearly "
            "flat floor to the minimum is slow for gradient descent (in 2-D the Hessian at "
            f"(1, 1) has condition number about 2500). In d = {d}: {known}."
        ),
        formula="sum_i 100*(x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
        params={"dim": d},
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- Rastrigin
RASTRIGIN_BOX = 5.12


@functools.cache
def rastrigin_roots_1d() -> tuple[tuple[float, bool], ...]:
    """The 21 zeros of ``g(x) = 2x + 20 pi sin(2 pi x)`` in ``[-5.12, 5.12]``, with ``True`` for the
    minimum-like ones (``g' > 0``), ascending.

    Proof that there are exactly these: on each interval ``I_m = [m/2 - 1/4, m/2 + 1/4]`` the
    values at the ends are ``2x ± 20 pi`` of opposite signs for ``|x| < 10 pi``
    (``sin(2 pi x) = ±1`` there), so ``I_m`` holds a zero. ``g'(x) = 2 + 40 pi^2 cos(2 pi x)`` has
    one sign except where ``|cos(2 pi x)| < 1/(20 pi^2)``, i.e. within ``0.0008`` of the ends of
    ``I_m``, where ``|sin(2 pi x)| > 0.99998`` so ``|g| >= 20 pi * 0.99998 - 2 * 5.12 > 0``. Hence
    ``g`` is strictly monotone where it can vanish on ``I_m``: one zero each. ``I_{±10}``
    (centre ``±5``) ends at ``±5.25``, but its zero lies inside ``[-5.12, 5.12]`` (``g(±4.75)``
    and ``g(±5.12)`` differ in sign); ``I_{±11}`` starts at ``±5.25``, outside the box.
    """
    tp = 2.0 * math.pi

    def g(x: float) -> float:
        return 2.0 * x + 20.0 * math.pi * math.sin(tp * x)

    out = []
    for m in range(-10, 11):
        c = m / 2.0
        lo, hi = max(c - 0.25, -RASTRIGIN_BOX), min(c + 0.25, RASTRIGIN_BOX)
        out.append((0.0 if m == 0 else _bisect_root(g, lo, hi), m % 2 == 0))
    return tuple(out)


RASTRIGIN_MAX_COMPLETE_DIM = 4


def _rastrigin_1d_value(x: float) -> float:
    return x * x - 10.0 * math.cos(2.0 * math.pi * x) + 10.0


def iter_rastrigin_critical_points(dim: int) -> Iterator[CriticalPoint]:
    """All ``21^d`` critical points of Rastrigin in ``[-5.12, 5.12]^d`` (products of 1-D roots)."""
    d = _check_dim(dim)
    roots = rastrigin_roots_1d()
    for combo in itertools.product(roots, repeat=d):
        idx = sum(1 for _, is_min in combo if not is_min)
        kind = "minimum" if idx == 0 else ("maximum" if idx == d else "saddle")
        pt = [x for x, _ in combo]
        yield _cp(
            pt,
            math.fsum(_rastrigin_1d_value(x) for x in pt),
            kind,
            idx,
            is_global=all(x == 0.0 for x in pt),
        )


@register("rastrigin")
def rastrigin(dim: int = 2) -> Landscape:
    """Rastrigin: ``10 d + sum_i (x_i^2 - 10 cos(2 pi x_i))`` on ``[-5.12, 5.12]^d``.

    The gradient's ``i``-th component depends on ``x_i`` only and the Hessian is diagonal, so the
    critical points are exactly the products of the 21 one-dimensional roots of
    ``2x + 20 pi sin(2 pi x)`` (see :func:`rastrigin_roots_1d`), ``21^d`` in all, index = number of
    coordinates at a maximum-like root (near a half-integer). Listed in full for ``d <= 4``
    (194 481 points); for ``d >= 5`` only the global minimum is listed and ``complete`` is False —
    iterate :func:`iter_rastrigin_critical_points` for the full set.

    Example:
        >>> rastrigin().count_kinds()
        {'minimum': 121, 'maximum': 100, 'saddle': 220, 'degenerate': 0}
    """
    d = _check_dim(dim)
    if d <= RASTRIGIN_MAX_COMPLETE_DIM:
        cps: Any = lambda: list(iter_rastrigin_critical_points(d))  # noqa: E731
        complete = True
        listed = f"all 21^{d} = {21**d} of them are listed"
    else:
        cps = [_cp([0.0] * d, 0.0, "minimum", 0, True)]
        complete = False
        listed = (
            f"21^{d} is too many to list; only the global minimum is listed "
            "(iter_rastrigin_critical_points yields the rest)"
        )
    return Landscape(
        lambda P: 10.0 * P.shape[1] + (P * P - 10.0 * torch.cos(2.0 * math.pi * P)).sum(-1),
        d,
        name="rastrigin",
        domain=(-RASTRIGIN_BOX, RASTRIGIN_BOX),
        critical_points=cps,
        complete=complete,
        global_min_value=0.0,
        description=(
            "Rastrigin's egg crate: a bowl with a cosine ripple, 11^d local minima in the "
            "standard box and the global one at the origin. Being separable, its critical points "
            "are exactly "
            "the products of the 21 one-dimensional roots (11 minimum-like near integers, 10 "
            f"maximum-like near half-integers): 21^d points, 11^d minima; {listed}."
        ),
        formula="10*d + sum_i (x_i^2 - 10*cos(2*pi*x_i))",
        params={"dim": d},
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- Ackley
@register("ackley")
def ackley(dim: int = 2) -> Landscape:
    """Ackley: ``-20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e``.

    The global minimum 0 at the origin is a cone point: ``f`` is not differentiable there (the
    square root of ``|x|^2``), so it is listed with a note rather than as a stationary point
    (autograd returns the subgradient 0 there, via ``torch.linalg.vector_norm``). The other
    critical points (a local minimum near every integer lattice point, ``65^d`` of them in the box,
    plus saddles and maxima between) are not listed; ``complete`` is False.

    Reference: D. H. Ackley, A connectionist machine for genetic hillclimbing (1987).

    Example:
        >>> abs(float(ackley().value([0.0, 0.0]))) < 1e-15
        True
    """
    d = _check_dim(dim)

    def fn(P: Tensor) -> Tensor:
        n = P.shape[1]
        r = torch.linalg.vector_norm(P, dim=-1) / math.sqrt(n)
        return (
            -20.0 * torch.exp(-0.2 * r)
            - torch.exp(torch.cos(2.0 * math.pi * P).mean(-1))
            + 20.0
            + math.e
        )

    return Landscape(
        fn,
        d,
        name="ackley",
        domain=(-32.768, 32.768),
        critical_points=[
            _cp(
                [0.0] * d,
                0.0,
                "minimum",
                0,
                True,
                note="nonsmooth: cone point, f is not differentiable here (no Hessian)",
            )
        ],
        complete=False,
        global_min_value=0.0,
        description=(
            "Ackley's function: a nearly flat outer region riddled with small local minima near "
            "the integer lattice, funnelling into a sharp cone at the origin. Known: the global "
            "minimum 0 at the origin, where f is not differentiable (a cone, not a stationary "
            "point). Not known in closed form and not listed: the local minima, saddles and maxima "
            "(about 65^d minima in the standard box)."
        ),
        formula="-20*exp(-0.2*sqrt(mean x_i^2)) - exp(mean cos(2*pi*x_i)) + 20 + e",
        params={"dim": d},
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- classic 2-D
@register("booth")
def booth() -> Landscape:
    """Booth: ``(x + 2y - 7)^2 + (2x + y - 5)^2``, a convex quadratic with minimum 0 at ``(1, 3)``.

    Example:
        >>> float(booth().value([1.0, 3.0]))
        0.0
    """
    return Landscape(
        lambda P: (P[:, 0] + 2 * P[:, 1] - 7.0) ** 2 + (2 * P[:, 0] + P[:, 1] - 5.0) ** 2,
        2,
        name="booth",
        domain=(-10.0, 10.0),
        critical_points=[_cp([1.0, 3.0], 0.0, "minimum", 0, True)],
        complete=True,
        global_min_value=0.0,
        description=(
            "Booth's function: a convex quadratic (Hessian [[10, 8], [8, 10]], eigenvalues 2 and "
            "18) with its single minimum 0 at (1, 3); a check that a method handles rotated, "
            "mildly ill-conditioned bowls."
        ),
        formula="(x + 2*y - 7)^2 + (2*x + y - 5)^2",
        any_layout=True,
    )


@register("matyas")
def matyas() -> Landscape:
    """Matyas: ``0.26 (x^2 + y^2) - 0.48 x y``, convex, minimum 0 at the origin.

    Example:
        >>> float(matyas().value([0.0, 0.0]))
        0.0
    """
    return Landscape(
        lambda P: 0.26 * (P[:, 0] ** 2 + P[:, 1] ** 2) - 0.48 * P[:, 0] * P[:, 1],
        2,
        name="matyas",
        domain=(-10.0, 10.0),
        critical_points=[_cp([0.0, 0.0], 0.0, "minimum", 0, True)],
        complete=True,
        global_min_value=0.0,
        description=(
            "Matyas' function: a convex quadratic whose Hessian eigenvalues are 1.0 (across the "
            "diagonal) and 0.04 (along it), so it is a long flat trough where plain gradient "
            "descent crawls."
        ),
        formula="0.26*(x^2 + y^2) - 0.48*x*y",
        any_layout=True,
    )


@register("mccormick")
def mccormick() -> Landscape:
    """McCormick: ``sin(x + y) + (x - y)^2 - 1.5 x + 2.5 y + 1`` on ``[-1.5, 4] x [-3, 4]``.

    Closed form: adding and subtracting the two gradient equations gives ``cos(x + y) = -1/2``
    and ``x - y = 1``. In the box ``s = x + y = 2x - 1`` ranges over ``[-4, 7]``, so
    ``s in {-2 pi/3, 2 pi/3, 4 pi/3}`` (``-4 pi/3`` gives ``x = -1.594 < -1.5``). Along ``(1, 1)``
    the curvature is ``-2 sin s``, across it ``4``: minima where ``sin s < 0``.

    Example:
        >>> round(mccormick().global_min_value, 6)
        -1.913223
    """
    pts = []
    for s in (-2.0 * math.pi / 3.0, 2.0 * math.pi / 3.0, 4.0 * math.pi / 3.0):
        x, y = (s + 1.0) / 2.0, (s - 1.0) / 2.0
        value = math.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1.0
        is_min = math.sin(s) < 0
        pts.append(_cp([x, y], value, "minimum" if is_min else "saddle", 0 if is_min else 1))
    gmin = min(c.value for c in pts)
    return Landscape(
        lambda P: (
            torch.sin(P[:, 0] + P[:, 1])
            + (P[:, 0] - P[:, 1]) ** 2
            - 1.5 * P[:, 0]
            + 2.5 * P[:, 1]
            + 1.0
        ),
        2,
        name="mccormick",
        domain=((-1.5, 4.0), (-3.0, 4.0)),
        critical_points=_mark_global(pts, gmin),
        complete=True,
        global_min_value=gmin,
        description=(
            "McCormick's function: a sine ridge on a tilted quadratic trough. In the standard box "
            "it has the global minimum -sqrt(3)/2 - pi/3 = -1.913223 at (-0.547198, -1.547198), "
            "a local minimum 1.228370 at (2.594395, 1.594395) and a saddle 1.913223 at "
            "(1.547198, 0.547198) between them, all on the line x - y = 1 (closed form)."
        ),
        formula="sin(x + y) + (x - y)^2 - 1.5*x + 2.5*y + 1",
        any_layout=True,
    )


@register("three_hump_camel")
def three_hump_camel() -> Landscape:
    """Three-hump camel: ``2x^2 - 1.05x^4 + x^6/6 + xy + y^2`` on ``[-5, 5]^2``.

    Closed form: ``df/dy = 0`` gives ``y = -x/2``; then ``x (x^4 - 4.2 x^2 + 3.5) = 0``, so
    ``x = 0`` or ``x^2 = 2.1 ± sqrt(0.91)``: three minima and two saddles.

    Example:
        >>> three_hump_camel().count_kinds()
        {'minimum': 3, 'maximum': 0, 'saddle': 2, 'degenerate': 0}
    """

    def g(x: float) -> float:  # df/dx on the line y = -x/2
        return ((x * x - 4.2) * x * x + 3.5) * x

    pts = [_cp([0.0, 0.0], 0.0, "minimum", 0, True)]
    for x2 in (2.1 - math.sqrt(0.91), 2.1 + math.sqrt(0.91)):
        r = math.sqrt(x2)
        r = _bisect_root(g, r * (1 - 1e-12), r * (1 + 1e-12))
        fxx = 4.0 - 12.6 * r * r + 5.0 * r**4
        is_min = 2.0 * fxx - 1.0 > 0  # det of [[fxx, 1], [1, 2]]
        for x in (-r, r):
            y = -x / 2.0
            value = 2 * x * x - 1.05 * x**4 + x**6 / 6.0 + x * y + y * y
            pts.append(_cp([x, y], value, "minimum" if is_min else "saddle", 0 if is_min else 1))
    pts.sort(key=lambda c: c.point)
    return Landscape(
        _three_hump,
        2,
        analytic_grad=_three_hump_vg,
        analytic_hessian=_three_hump_h,
        name="three_hump_camel",
        domain=(-5.0, 5.0),
        critical_points=pts,
        complete=True,
        global_min_value=0.0,
        description=(
            "The three-hump camel: a global minimum 0 at the origin, two local minima 0.298638 "
            "at ±(1.747552, -0.873776) and two saddles 0.877362 at ±(1.070542, -0.535271) between "
            "them "
            "(closed form: y = -x/2 and a quadratic in x^2)."
        ),
        formula="2*x^2 - 1.05*x^4 + x^6/6 + x*y + y^2",
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- certified 2-D
def _certified_2d(
    key: str,
    fn: Callable[[Tensor], Tensor],
    domain: Any,
    description: str,
    formula: str,
    analytic_grad: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
    analytic_hessian: Callable[[Tensor], Tensor] | None = None,
) -> Landscape:
    gmin = min(p["value"] for p in _stored()["landscapes"][key]["points"] if p["is_global"])
    return Landscape(
        fn,
        2,
        name=key,
        domain=domain,
        critical_points=functools.partial(_stored_points, key),
        complete=True,
        global_min_value=gmin,
        description=description,
        formula=formula,
        analytic_grad=analytic_grad,
        analytic_hessian=analytic_hessian,
        any_layout=True,
    )


@register("himmelblau")
def himmelblau() -> Landscape:
    """Himmelblau: ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2`` on ``[-5, 5]^2``.

    Nine critical points (certified and stored): four global minima (value 0, the common zeros
    of both squares), four saddles and one maximum (181.6165 at (-0.270845, -0.923039)).

    Reference: D. M. Himmelblau, Applied Nonlinear Programming (1972).

    Example:
        >>> himmelblau().count_kinds()
        {'minimum': 4, 'maximum': 1, 'saddle': 4, 'degenerate': 0}
    """
    return _certified_2d(
        "himmelblau",
        _himmelblau,
        (-5.0, 5.0),
        "Himmelblau's function: four global minima of value 0 (at (3, 2), (-2.805118, 3.131313), "
        "(-3.779310, -3.283186) and (3.584428, -1.848127)), four saddles between neighbouring "
        "basins and one local maximum 181.6165 at (-0.270845, -0.923039): nine critical points "
        "in all, certified complete. Which minimum a run reaches is decided by its start.",
        "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        _himmelblau_vg,
        _himmelblau_h,
    )


@register("six_hump_camel")
def six_hump_camel() -> Landscape:
    """Six-hump camel: ``(4 - 2.1x^2 + x^4/3) x^2 + xy + (-4 + 4y^2) y^2`` on ``[-3, 3] x [-2, 2]``.

    Fifteen critical points (certified and stored): six minima (two global, -1.0316285 at
    ``±(0.089842, -0.712656)``), seven saddles (one at the origin) and two maxima.

    Example:
        >>> six_hump_camel().count_kinds()
        {'minimum': 6, 'maximum': 2, 'saddle': 7, 'degenerate': 0}
    """
    return _certified_2d(
        "six_hump_camel",
        _six_hump,
        ((-3.0, 3.0), (-2.0, 2.0)),
        "The six-hump camel: six minima (the two global ones -1.0316285 at ±(0.089842, "
        "-0.712656), two at -0.215464 and two at 2.104250), seven saddles (one at the origin) "
        "and two maxima 2.496295 at ±(1.230230, 0.162335): fifteen critical points, certified "
        "complete in the standard box. A small problem with every kind of critical point.",
        "(4 - 2.1*x^2 + x^4/3)*x^2 + x*y + (-4 + 4*y^2)*y^2",
        _six_hump_vg,
        _six_hump_h,
    )


@register("beale")
def beale() -> Landscape:
    """Beale: ``(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2``
    on ``[-4.5, 4.5]^2``.

    Three critical points (certified and stored): the global minimum 0 at ``(3, 0.5)`` and two
    saddles, ``(0, 1)`` and ``(0.100538, -2.644514)``.

    Example:
        >>> beale().count_kinds()
        {'minimum': 1, 'maximum': 0, 'saddle': 2, 'degenerate': 0}
    """
    return _certified_2d(
        "beale",
        lambda P: (
            (1.5 - P[:, 0] + P[:, 0] * P[:, 1]) ** 2
            + (2.25 - P[:, 0] + P[:, 0] * P[:, 1] ** 2) ** 2
            + (2.625 - P[:, 0] + P[:, 0] * P[:, 1] ** 3) ** 2
        ),
        (-4.5, 4.5),
        "Beale's function: sharp ridges along the axes and a narrow curved valley to the global "
        "minimum 0 at (3, 0.5). On the line x = 0 the function is constant (14.203125) but the "
        "gradient is not zero except at the saddle (0, 1); a second saddle sits at (0.100538, "
        "-2.644514). These three are every critical point in the box (certified), so any other "
        "place a run stops is a slow region, not a stationary point.",
        "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
    )


@register("goldstein_price")
def goldstein_price() -> Landscape:
    """Goldstein–Price on ``[-2, 2]^2``: global minimum 3 at ``(0, -1)``.

    ``[1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]
    * [30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]``.
    Nine critical points (certified and stored), all at points with one decimal: four minima
    (values 3, 30, 84, 840), four saddles and one maximum (1155 at ``(0.8, 0.2)``).

    Reference: A. A. Goldstein, J. F. Price, On descent from local minima, Math. Comp. 25 (1971).

    Example:
        >>> goldstein_price().count_kinds()
        {'minimum': 4, 'maximum': 1, 'saddle': 4, 'degenerate': 0}
    """

    def fn(P: Tensor) -> Tensor:
        x, y = P[:, 0], P[:, 1]
        a = 1.0 + (x + y + 1.0) ** 2 * (
            19.0 - 14.0 * x + 3.0 * x**2 - 14.0 * y + 6.0 * x * y + 3.0 * y**2
        )
        b = 30.0 + (2.0 * x - 3.0 * y) ** 2 * (
            18.0 - 32.0 * x + 12.0 * x**2 + 48.0 * y - 36.0 * x * y + 27.0 * y**2
        )
        return a * b

    return _certified_2d(
        "goldstein_price",
        fn,
        (-2.0, 2.0),
        "Goldstein–Price: a degree-8 polynomial with values from 3 to about 1e6 in the box. Its "
        "nine critical points (certified) all sit at one-decimal points: minima 3 at (0, -1) "
        "(global), 30 at (-0.6, -0.4), 84 at (1.8, 0.2) and 840 at (1.2, 0.8); saddles 35 at "
        "(-0.4, -0.6), 99 at (1.2, -0.2), 980 at (1.4, 0.6) and 990 at (0.6, 0.4); a maximum "
        "1155 at (0.8, 0.2). The huge dynamic range makes fixed step sizes fail.",
        "[1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]"
        " * [30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]",
    )


# ---------------------------------------------------------------------------------- Styblinski–Tang
@functools.cache
def styblinski_tang_roots_1d() -> tuple[float, float, float]:
    """The stationary points of ``1/2 (x^4 - 16 x^2 + 5x)``: roots of ``x^3 - 8x + 5/4``, ascending
    (global-minimum-like ``-2.9035``, maximum-like ``0.1567``, local-minimum-like ``2.7468``)."""
    a, b, c = _cubic_roots(-8.0, 1.25)
    return a, b, c


def _st_1d_value(x: float) -> float:
    return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x)


def iter_styblinski_tang_critical_points(dim: int) -> Iterator[CriticalPoint]:
    """All ``3^d`` critical points of Styblinski–Tang in ``d`` dimensions, generated exactly.

    Each coordinate sits at one of the three roots of ``x^3 - 8x + 5/4``; the Hessian is diagonal
    with entries ``6 x_i^2 - 16``, negative exactly at the middle root, so the index is the number
    of coordinates at the middle (maximum-like) root, and there are ``C(d, k) 2^(d-k)`` points of
    index ``k``.
    """
    d = _check_dim(dim)
    lo, mid, hi = styblinski_tang_roots_1d()
    for combo in itertools.product((lo, mid, hi), repeat=d):
        idx = sum(1 for x in combo if x == mid)
        kind = "minimum" if idx == 0 else ("maximum" if idx == d else "saddle")
        yield _cp(
            combo,
            math.fsum(_st_1d_value(x) for x in combo),
            kind,
            idx,
            is_global=all(x == lo for x in combo),
        )


@register("styblinski_tang")
def styblinski_tang(dim: int = 2) -> Landscape:
    """Styblinski–Tang: ``1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)`` on ``[-5, 5]^d``.

    Exactly ``3^d`` critical points (``2^d`` minima, one maximum, the rest saddles), generated
    lazily by :func:`iter_styblinski_tang_critical_points`; sets above ``3^12`` points are refused
    when listed (iterate instead). Global minimum ``d * (-39.16616570377...)`` at
    ``(-2.903534, ..., -2.903534)`` (some catalogues print ``-39.16599 d``, which is not the
    minimum value).

    Reference: M. A. Styblinski, T.-S. Tang, Experiments in nonconvex optimization: stochastic
    approximation with function smoothing and simulated annealing, Neural Networks 3 (1990).

    Example:
        >>> styblinski_tang(dim=4).count_kinds()["minimum"]
        16
    """
    d = _check_dim(dim)
    lo = styblinski_tang_roots_1d()[0]
    gmin = d * _st_1d_value(lo)

    def points() -> list[CriticalPoint]:
        if 3**d > MAX_LISTED_POINTS:
            raise InvalidParameterError(
                f"styblinski_tang with dim={d} has 3^{d}{f' = {3**d}' if d <= 40 else ''} "
                "critical points, too many to "
                f"list (limit {MAX_LISTED_POINTS}); iterate "
                "descentlab.landscapes.catalog.iter_styblinski_tang_critical_points(dim) instead"
            )
        return list(iter_styblinski_tang_critical_points(d))

    return Landscape(
        lambda P: 0.5 * (P**4 - 16.0 * P**2 + 5.0 * P).sum(-1),
        d,
        name="styblinski_tang",
        domain=(-5.0, 5.0),
        critical_points=points,
        complete=True,
        global_min_value=gmin,
        description=(
            "Styblinski–Tang: a separable quartic whose every coordinate has two wells (at "
            "-2.9035 and 2.7468) and a hump between (at 0.1567). Its 3^d critical points are "
            "known exactly: "
            "2^d minima, one maximum and 3^d - 2^d - 1 saddles, so the fraction of saddles among "
            "critical points tends to 1 as d grows. Global minimum -39.166166 * d."
        ),
        formula="1/2 * sum_i (x_i^4 - 16*x_i^2 + 5*x_i)",
        params={"dim": d},
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- Easom
EASOM_HALF_WIDTH = 4.0


@register("easom")
def easom() -> Landscape:
    """Easom: ``-cos x cos y exp(-((x - pi)^2 + (y - pi)^2))`` on ``[pi - 4, pi + 4]^2``.

    With ``u = x - pi``, ``v = y - pi`` and ``h(u) = sin u + 2u cos u``:
    ``df/dx = -cos(y) E h(u)`` and ``df/dy = -cos(x) E h(v)``. So the critical points are
    ``{h(u) = 0, h(v) = 0}`` and ``{cos u = 0, cos v = 0}`` (``h`` and ``cos`` never vanish
    together). In ``|u| <= 4``: ``h`` vanishes at ``0`` and ``±u1``, ``u1 in (pi/2, pi)``
    (``h > 0`` on ``(0, pi/2]``, ``h' = 3 cos u - 2u sin u < 0`` on ``(pi/2, pi)``, ``h < 0`` on
    ``[pi, 3pi/2]``, next zero ``5.09 > 4``), and ``cos u = 0`` at ``±pi/2``: 9 + 4 = 13 points.

    Why not the usual ``[-100, 100]^2``: there the same argument gives several thousand critical
    points whose values and Hessians are below ``1e-300`` or underflow to 0 in float64, so no
    numerical method can tell them apart from flat ground. In this box every listed point has a
    Hessian above ``1e-5``.

    Example:
        >>> float(easom().value([math.pi, math.pi]))
        -1.0
    """

    def h(u: float) -> float:
        return math.sin(u) + 2.0 * u * math.cos(u)

    u1 = _bisect_root(h, math.pi / 2.0, math.pi)
    hp = {0.0: 3.0, u1: 3.0 * math.cos(u1) - 2.0 * u1 * math.sin(u1)}

    def value(u: float, v: float) -> float:
        x, y = math.pi + u, math.pi + v
        return -math.cos(x) * math.cos(y) * math.exp(-(u * u + v * v))

    pts = []
    for u, v in itertools.product((-u1, 0.0, u1), repeat=2):
        # f_xx = cos(v) E h'(u), f_yy = cos(u) E h'(v), f_xy = 0 (h is odd, h' even)
        sxx = math.cos(v) * hp[abs(u)]
        syy = math.cos(u) * hp[abs(v)]
        neg = (sxx < 0) + (syy < 0)
        kind = "minimum" if neg == 0 else ("maximum" if neg == 2 else "saddle")
        pts.append(_cp([math.pi + u, math.pi + v], value(u, v), kind, neg, u == 0 and v == 0))
    for u, v in itertools.product((-math.pi / 2.0, math.pi / 2.0), repeat=2):
        # f = 0 exactly (cos x = 0); f_xx = f_yy = 0, f_xy = sin(y) E h(u) = ±E: eigenvalues ±E
        pts.append(_cp([math.pi + u, math.pi + v], 0.0, "saddle", 1))
    pts.sort(key=lambda c: c.point)
    w = EASOM_HALF_WIDTH
    return Landscape(
        lambda P: (
            -torch.cos(P[:, 0])
            * torch.cos(P[:, 1])
            * torch.exp(-((P[:, 0] - math.pi) ** 2 + (P[:, 1] - math.pi) ** 2))
        ),
        2,
        name="easom",
        domain=(math.pi - w, math.pi + w),
        critical_points=pts,
        complete=True,
        global_min_value=-1.0,
        description=(
            "Easom's function: a single narrow hole of depth -1 at (pi, pi) in a landscape that is "
            "numerically flat elsewhere. Usually posed on [-100, 100]^2, where the thousands of "
            "other critical points have values that underflow (exp(-(x - pi)^2) < 1e-300 beyond "
            "|x - pi| > 26) and are meaningless in float64; here the box is [pi - 4, pi + 4]^2, "
            "where the set is complete (closed form plus bracketed roots): the global minimum, "
            "4 shallow local minima, 4 maxima and 4 saddles."
        ),
        formula="-cos(x)*cos(y)*exp(-((x - pi)^2 + (y - pi)^2))",
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- Lévi N.13
@register("levi13")
def levi13() -> Landscape:
    """Lévi N.13: ``sin^2(3 pi x) + (x-1)^2 (1 + sin^2(3 pi y)) + (y-1)^2 (1 + sin^2(2 pi y))``.

    On the standard box ``[-10, 10]^2``: 3653 critical points (1179 minima, 1826 saddles, 648
    maxima), certified complete by exhaustive interval subdivision with the Krawczyk test and
    stored (see ``tools/certify_critical_points.py``). The global minimum is 0 at ``(1, 1)``
    (every term is a square that vanishes there). All critical points have ``|x - 1| < 3 pi/2``:
    ``df/dx = 0`` needs ``|2 (x - 1)| <= 3 pi`` since ``1 + sin^2 >= 1``.

    Example:
        >>> levi13().count_kinds()
        {'minimum': 1179, 'maximum': 648, 'saddle': 1826, 'degenerate': 0}
    """
    tp = math.pi
    return _certified_2d(
        "levi13",
        lambda P: (
            torch.sin(3 * tp * P[:, 0]) ** 2
            + (P[:, 0] - 1.0) ** 2 * (1.0 + torch.sin(3 * tp * P[:, 1]) ** 2)
            + (P[:, 1] - 1.0) ** 2 * (1.0 + torch.sin(2 * tp * P[:, 1]) ** 2)
        ),
        (-10.0, 10.0),
        "Lévi N.13: a quadratic bowl centred at (1, 1) with sine ripples of period 1/3 in x and "
        "1/2 and 1/3 in y. The global minimum 0 is at (1, 1). In the standard box [-10, 10]^2 it "
        "has 3653 critical points (1179 minima, 1826 saddles, 648 maxima), all with "
        "-3.6 < x < 5.6; the list is certified complete (interval subdivision with a Krawczyk "
        "test, then 50-digit Newton).",
        "sin(3*pi*x)^2 + (x-1)^2*(1 + sin(3*pi*y)^2) + (y-1)^2*(1 + sin(2*pi*y)^2)",
    )


# ---------------------------------------------------------------------------------- plateau
PLATEAU_STEEPNESS = 4.0


@register("plateau")
def plateau() -> Landscape:
    """A crater: ``f(x, y) = sigmoid(4 (x^2 + y^2 - 1))`` on ``[-3, 3]^2``.

    Inside the unit circle a shallow bowl, at radius 1 a cliff (slope 2), outside a plateau whose
    gradient ``8 r sigma'(4(r^2 - 1))`` is tiny: about ``1e-4`` at ``r = 2``, ``3e-13`` in the
    corners. The only critical point is the origin: ``grad f = 8 sigma'(.) (x, y)`` with
    ``sigma' > 0``. The function is evaluated as ``1 - sigmoid(-z)`` so autograd's gradient on the
    plateau is computed to full relative precision instead of rounding to 0.

    Example:
        >>> plateau().critical_points[0].point
        (0.0, 0.0)
    """
    k = PLATEAU_STEEPNESS
    return Landscape(
        lambda P: 1.0 - torch.sigmoid(-k * ((P * P).sum(-1) - 1.0)),
        2,
        name="plateau",
        domain=(-3.0, 3.0),
        critical_points=[_cp([0.0, 0.0], 1.0 / (1.0 + math.exp(k)), "minimum", 0, True)],
        complete=True,
        global_min_value=1.0 / (1.0 + math.exp(k)),
        description=(
            "A plateau with a cliff: a shallow crater inside the unit circle, a cliff at radius 1 "
            "and a plateau outside where the gradient is tiny but never zero (1e-4 at radius 2, "
            "3e-13 in the corners). The origin is the only critical point; a run that stops on the "
            "plateau has stalled, not converged, and an absolute gradient-norm threshold will "
            "mistake plateau points for critical points."
        ),
        formula="sigmoid(4*(x^2 + y^2 - 1))",
        any_layout=True,
    )


# ---------------------------------------------------------------------------------- demos
TILT = 0.5


@register("tilted_double_well")
def tilted_double_well() -> Landscape:
    """``f(x, y) = (x^2 - 1)^2 + 0.5 x + (y - x^2)^2``: one global minimum, one local minimum and
    one saddle, along a curved valley ``y = x^2``.

    Closed form: ``df/dy = 0`` gives ``y = x^2``, then ``4x^3 - 4x + 0.5 = 0`` (three real roots).
    On the valley the Hessian determinant is ``24 x^2 - 8`` and ``f_yy = 2``: minima where
    ``3x^2 > 1`` (``x = -1.0575``, ``0.9304``), a saddle at ``x = 0.1271``.

    Example:
        >>> tilted_double_well().count_kinds()
        {'minimum': 2, 'maximum': 0, 'saddle': 1, 'degenerate': 0}
    """
    pts = []
    for x in _cubic_roots(-1.0, TILT / 4.0):
        y = x * x
        value = (x * x - 1.0) ** 2 + TILT * x
        is_min = 3.0 * x * x > 1.0
        pts.append(_cp([x, y], value, "minimum" if is_min else "saddle", 0 if is_min else 1))
    gmin = min(c.value for c in pts)
    return Landscape(
        _tilted,
        2,
        analytic_grad=_tilted_vg,
        analytic_hessian=_tilted_h,
        name="tilted_double_well",
        domain=((-2.0, 2.0), (-1.0, 3.0)),
        critical_points=_mark_global(pts, gmin),
        complete=True,
        global_min_value=gmin,
        description=(
            "The demo surface: a curved valley (along y = x^2) holding two basins of different "
            "depth. The global minimum -0.5148 at (-1.0575, 1.1182), a local minimum 0.4833 at "
            "(0.9304, 0.8656) and a saddle 1.0315 at (0.1271, 0.0161) between them. Gradient "
            "descent ends in whichever basin it starts in; only a step or noise large enough to "
            "cross the saddle reaches the global minimum from the right."
        ),
        formula="(x^2 - 1)^2 + 0.5*x + (y - x^2)^2",
        any_layout=True,
    )


@register("nonconvex_curve")
def nonconvex_curve() -> Landscape:
    """The 1-D curve ``f(x) = x^4 - 3x^2 + x`` on ``[-2, 2]``: a global minimum, a local maximum and
    a local minimum (roots of ``4x^3 - 6x + 1``, closed form).

    Example:
        >>> [c.kind for c in nonconvex_curve().critical_points]
        ['minimum', 'maximum', 'minimum']
    """
    pts = []
    for x in _cubic_roots(-1.5, 0.25):
        value = x**4 - 3.0 * x * x + x
        is_min = 12.0 * x * x - 6.0 > 0
        pts.append(_cp([x], value, "minimum" if is_min else "maximum", 0 if is_min else 1))
    gmin = min(c.value for c in pts)
    return Landscape(
        lambda P: P[:, 0] ** 4 - 3.0 * P[:, 0] ** 2 + P[:, 0],
        1,
        name="nonconvex_curve",
        domain=(-2.0, 2.0),
        critical_points=_mark_global(pts, gmin),
        complete=True,
        global_min_value=gmin,
        description=(
            "A non-convex curve in one variable: a global minimum -3.5139 at x = -1.3008, a local "
            "maximum 0.0841 at x = 0.1699 and a local minimum -1.0702 at x = 1.1309. Gradient "
            "descent from the right of the maximum settles in the worse minimum."
        ),
        formula="x^4 - 3*x^2 + x",
        any_layout=True,
    )


from descentlab.landscapes import neural as _neural, random as _random  # noqa: E402,F401,I001
