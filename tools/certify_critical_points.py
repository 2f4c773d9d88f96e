"""Compute, certify and store the critical points that have no closed form.

Regenerates ``src/descentlab/landscapes/data/critical_points.json``, which the catalogue loads.
Run offline (needs sympy and mpmath, which are not runtime dependencies)::

    python tools/certify_critical_points.py            # all, ~3 minutes
    python tools/certify_critical_points.py himmelblau # one
    python tools/certify_critical_points.py --check    # recompute and compare with the stored file

Method, two-variable polynomial landscapes (Himmelblau, six-hump camel, Beale, Goldstein–Price)
-------------------------------------------------------------------------------------------------
The gradient ``(f_x, f_y)`` has rational coefficients (the published decimals are exact
rationals, e.g. ``2.625 = 21/8``).

1. ``gcd(f_x, f_y) = 1`` over Q, so the critical set is finite (no common curve).
2. Every critical point ``(x*, y*)`` has ``R_x(x*) = 0`` and ``R_y(y*) = 0`` for the resultants
   ``R_x = res_y(f_x, f_y)`` and ``R_y = res_x(f_x, f_y)`` (both checked non-zero).
3. Sympy isolates every real root of (the square-free parts of) ``R_x`` and ``R_y`` in disjoint
   rational intervals, exactly (Vincent–Akritas–Strzeboński continued fractions), refined to
   width ``< 1e-40``. So every critical point lies in one of the product boxes
   ``X_i x Y_j`` (slightly inflated, still disjoint).
4. Each box is decided with interval arithmetic (``mpmath.iv`` at 80 digits, outward rounded):
   either the interval enclosure of ``f_x`` or ``f_y`` on the box excludes 0 (no critical point),
   or the Krawczyk operator ``K(B) = m - Y g(m) + (I - Y J(B)) (B - m)`` lies strictly inside
   ``B`` (exactly one critical point in ``B``, and its Hessian is non-singular there). A box that
   is neither is an error (the script stops; none occurs).
5. The kind comes from the interval enclosures of the Hessian's determinant and trace on the
   certified box (det < 0: saddle, index 1; det > 0: minimum if trace > 0, maximum if < 0);
   a point is kept when its box lies inside the catalogue domain (a box meeting the domain's
   boundary is an error; none occurs).
6. The point is polished by Newton's method at 60 digits, and the point, value and Hessian
   eigenvalues are rounded to the nearest float64 for storage.

Method, Lévi N.13 on [-10, 10]^2
-------------------------------
Exhaustive subdivision with outward-rounded float64 interval arithmetic (see ``certify_levi13``):
every box of a 240 x 240 partition is either excluded (the interval gradient misses 0 or the
Krawczyk image misses the box), certified to hold exactly one critical point (Krawczyk image
strictly inside the box inflated by 10%), or bisected; each certified point is then found by
Newton at 50 digits inside its box and classified by its Hessian eigenvalues at 50 digits.

Method, Rosenbrock in d = 3..7
------------------------------
``df/dx_1 = 0`` gives ``x_2 = x_1^2 - (1 - x_1)/(200 x_1)`` (``x_1 = 0`` is impossible), and for
``1 < i < d`` ``df/dx_i = 0`` gives ``x_{i+1} = x_i^2 + (200 (x_i - x_{i-1}^2) - 2 (1 - x_i)) /
(400 x_i)`` (``x_i = 0`` would need ``-200 x_{i-1}^2 = 2``). So every coordinate is a rational
function of ``x_1``, and the critical points correspond one-to-one to the real zeros of
``F(x_1) = x_d - x_{d-1}^2`` (the last equation ``df/dx_d = 200 (x_d - x_{d-1}^2)``) at which no
``x_i`` has a pole. Each ``x_i`` is kept as a quotient of integer polynomials in lowest terms
(exact gcds), so is ``F = N / D``, and sympy isolates the real roots of ``N`` exactly (degree
``3^(d-2)``: 243 for d = 7, about 90 s; d = 8 did not finish in 5 minutes); each root is refined
to 1e-60, the coordinates are evaluated at 1000 digits (with a check that no denominator
vanishes), polished by Newton in ``R^d`` at 60 digits, and classified
by the Hessian's eigenvalues at 60 digits (all are far from 0: the smallest ``|lambda|`` is
printed and stored). Every real critical point lies inside ``[-2.048, 2.048]^d``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from mpmath import iv, mp

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "descentlab" / "landscapes" / "data" / "critical_points.json"

x, y = sp.symbols("x y")
R = sp.Rational

# name -> (sympy expression with exact rational coefficients, domain, readable formula)
POLY2 = {
    "himmelblau": (
        (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        ((-5.0, 5.0), (-5.0, 5.0)),
    ),
    "six_hump_camel": (
        (4 - R(21, 10) * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2,
        ((-3.0, 3.0), (-2.0, 2.0)),
    ),
    "beale": (
        (R(3, 2) - x + x * y) ** 2 + (R(9, 4) - x + x * y**2) ** 2 + (R(21, 8) - x + x * y**3) ** 2,
        ((-4.5, 4.5), (-4.5, 4.5)),
    ),
    "goldstein_price": (
        (1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2))
        * (30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)),
        ((-2.0, 2.0), (-2.0, 2.0)),
    ),
}
ROSENBROCK_DIMS = range(3, 8)
ROSENBROCK_DOMAIN = 2.048

iv.dps = 80
mp.dps = 60
EPS = R(1, 10**40)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- interval helpers
def _ivpoly(poly: sp.Poly):
    """Interval evaluator of a bivariate polynomial (outward-rounded, exact rational coeffs)."""
    terms = [(iv.mpf(sp.Rational(c).p) / sp.Rational(c).q, i, j) for (i, j), c in poly.terms()]

    def ev(X, Y):
        s = iv.mpf(0)
        for c, i, j in terms:
            s += c * (X**i) * (Y**j)
        return s

    return ev


def _mppoly(poly: sp.Poly):
    terms = [(mp.mpf(sp.Rational(c).p) / sp.Rational(c).q, i, j) for (i, j), c in poly.terms()]

    def ev(a, b):
        return mp.fsum(c * a**i * b**j for c, i, j in terms)

    return ev


def _contains_zero(I) -> bool:
    return I.a <= 0 <= I.b


def _strictly_inside(K, B) -> bool:
    return K.a > B.a and K.b < B.b


def _interval(a: sp.Rational, b: sp.Rational, pad: sp.Rational):
    lo, hi = a - pad, b + pad
    return iv.mpf([iv.mpf(lo.p) / lo.q, iv.mpf(hi.p) / hi.q])


def _real_root_intervals(poly: sp.Poly) -> list[tuple[sp.Rational, sp.Rational]]:
    sqf = sp.Poly(sp.quo(poly, sp.gcd(poly, poly.diff())), poly.gen)
    return [(a, b) for (a, b), _ in sqf.intervals(eps=EPS)]


def certify_poly2(name: str) -> dict:
    expr, domain = POLY2[name]
    t0 = time.time()
    fx = sp.Poly(sp.expand(sp.diff(expr, x)), x, y)
    fy = sp.Poly(sp.expand(sp.diff(expr, y)), x, y)
    g = sp.gcd(fx, fy)
    assert g.total_degree() == 0, f"{name}: gradient components share a factor {g}"
    rx = sp.Poly(sp.resultant(fx, fy, y), x)
    ry = sp.Poly(sp.resultant(fx, fy, x), y)
    assert not rx.is_zero and not ry.is_zero
    xs = _real_root_intervals(rx)
    ys = _real_root_intervals(ry)
    log(
        f"{name}: deg R_x = {rx.degree()} ({len(xs)} real roots), "
        f"deg R_y = {ry.degree()} ({len(ys)} real roots), {time.time() - t0:.1f}s"
    )
    ivs = {k: _ivpoly(p) for k, p in {"fx": fx, "fy": fy}.items()}
    fxx, fxy, fyy = fx.diff(x), fx.diff(y), fy.diff(y)
    ivh = [_ivpoly(p) for p in (fxx, fxy, fyy)]
    mpf_ = _mppoly(sp.Poly(sp.expand(expr), x, y))
    mpg = [_mppoly(fx), _mppoly(fy)]
    mph = [_mppoly(p) for p in (fxx, fxy, fyy)]

    def pad_for(intervals):
        widths = [b - a for a, b in intervals]
        gaps = [intervals[k + 1][0] - intervals[k][1] for k in range(len(intervals) - 1)]
        pad = max([*widths, EPS])
        assert not gaps or min(gaps) > 4 * pad, "isolating intervals too close to inflate"
        return pad

    px, py = pad_for(xs), pad_for(ys)
    points = []
    n_excluded = 0
    for ax, bx in xs:
        X = _interval(ax, bx, px)
        for ay, by in ys:
            Y = _interval(ay, by, py)
            gx, gy = ivs["fx"](X, Y), ivs["fy"](X, Y)
            if not (_contains_zero(gx) and _contains_zero(gy)):
                n_excluded += 1
                continue
            # Krawczyk: K = m - Yinv g(m) + (I - Yinv J(B)) (B - m)
            mx, my = X.mid, Y.mid
            Mx, My = iv.mpf(mx), iv.mpf(my)
            gm = [ivs["fx"](Mx, My), ivs["fy"](Mx, My)]
            Jm = mp.matrix(
                [
                    [mp.mpf(ivh[0](Mx, My).mid), mp.mpf(ivh[1](Mx, My).mid)],
                    [mp.mpf(ivh[1](Mx, My).mid), mp.mpf(ivh[2](Mx, My).mid)],
                ]
            )
            Yi = mp.inverse(Jm)
            Yi = [[iv.mpf(Yi[i, j]) for j in range(2)] for i in range(2)]
            JB = [[ivh[0](X, Y), ivh[1](X, Y)], [ivh[1](X, Y), ivh[2](X, Y)]]
            d = [X - Mx, Y - My]
            K = []
            for i in range(2):
                k = (Mx, My)[i] - (Yi[i][0] * gm[0] + Yi[i][1] * gm[1])
                for j in range(2):
                    a = (1 if i == j else 0) - (Yi[i][0] * JB[0][j] + Yi[i][1] * JB[1][j])
                    k += a * d[j]
                K.append(k)
            if not (_strictly_inside(K[0], X) and _strictly_inside(K[1], Y)):
                raise RuntimeError(f"{name}: box {X} x {Y} is undecided")
            det = JB[0][0] * JB[1][1] - JB[0][1] * JB[0][1]
            tr = JB[0][0] + JB[1][1]
            assert not _contains_zero(det), f"{name}: singular Hessian at {X}, {Y}"
            if det.b < 0:
                kind, index = "saddle", 1
            else:
                assert not _contains_zero(tr)
                kind, index = ("minimum", 0) if tr.a > 0 else ("maximum", 2)
            # inside the domain? (decided on the box, never ambiguous)
            inside = []
            for I, (lo, hi) in zip((X, Y), domain, strict=True):
                if I.a > lo and I.b < hi:
                    inside.append(True)
                elif I.b < lo or I.a > hi:
                    inside.append(False)
                else:
                    raise RuntimeError(f"{name}: critical point on the domain boundary")
            if not all(inside):
                log(f"  outside the domain: ({float(mx):.6g}, {float(my):.6g}) {kind}")
                continue
            p = mp.matrix([mp.mpf(mx), mp.mpf(my)])
            for _ in range(8):
                G = mp.matrix([mpg[0](p[0], p[1]), mpg[1](p[0], p[1])])
                H = mp.matrix(
                    [
                        [mph[0](p[0], p[1]), mph[1](p[0], p[1])],
                        [mph[1](p[0], p[1]), mph[2](p[0], p[1])],
                    ]
                )
                p = p - mp.lu_solve(H, G)
            assert X.a <= p[0] <= X.b and Y.a <= p[1] <= Y.b
            H = mp.matrix(
                [
                    [mph[0](p[0], p[1]), mph[1](p[0], p[1])],
                    [mph[1](p[0], p[1]), mph[2](p[0], p[1])],
                ]
            )
            ev = sorted(mp.eigsy(H, eigvals_only=True))
            points.append(
                {
                    "point": [p[0], p[1]],
                    "value": mpf_(p[0], p[1]),
                    "kind": kind,
                    "index": index,
                    "eigenvalues": ev,
                }
            )
    log(
        f"  {len(xs) * len(ys)} candidate boxes: {n_excluded} excluded, "
        f"{len(points)} certified critical points in the domain, {time.time() - t0:.1f}s"
    )
    return {
        "method": "resultants + exact real-root isolation + interval Krawczyk (see script)",
        "domain": [list(b) for b in domain],
        "resultant_degrees": [rx.degree(), ry.degree()],
        "points": _finish(points),
    }


def _finish(points: list[dict]) -> list[dict]:
    """Mark global minima (equal lowest value among minima), round to float64, sort."""
    mins = [p["value"] for p in points if p["kind"] == "minimum"]
    low = min(mins)
    out = []
    for p in points:
        v = p["value"]
        is_global = p["kind"] == "minimum" and abs(v - low) <= mp.mpf(10) ** -40 * max(1, abs(low))
        out.append(
            {
                "point": [float(c) for c in p["point"]],
                "value": 0.0 if abs(v) < mp.mpf(10) ** -40 else float(v),
                "kind": p["kind"],
                "index": p["index"],
                "is_global": bool(is_global),
                "eigenvalues": [float(e) for e in p["eigenvalues"]],
            }
        )
    out.sort(key=lambda p: p["point"])
    return out


# ----------------------------------------------------------------------------- Rosenbrock
def certify_rosenbrock(d: int) -> dict:
    t0 = time.time()
    t = sp.symbols("t")

    def zz(e: sp.Expr) -> sp.Poly:
        return sp.Poly(e, t, domain="ZZ")

    # x_i = nums[i] / dens[i] in lowest terms, as integer polynomials in t = x_1
    nums, dens = [zz(t), zz(200 * t**3 + t - 1)], [zz(1), zz(200 * t)]
    for i in range(1, d - 1):
        ni, di, npr, dpr = nums[i], dens[i], nums[i - 1], dens[i - 1]
        # x_{i+1} = x_i^2 + (202 x_i - 200 x_{i-1}^2 - 2) / (400 x_i)
        num = ni**2 * 400 * ni * dpr**2 + di**2 * (
            202 * ni * dpr**2 - 200 * npr**2 * di - 2 * di * dpr**2
        )
        den = 400 * ni * di**2 * dpr**2
        g = sp.gcd(num, den)
        nums.append(sp.quo(num, g))
        dens.append(sp.quo(den, g))
    # F = x_d - x_{d-1}^2 = N / D in lowest terms; its zeros are N's zeros
    num = nums[d - 1] * dens[d - 2] ** 2 - nums[d - 2] ** 2 * dens[d - 1]
    den = dens[d - 1] * dens[d - 2] ** 2
    N = sp.quo(num, sp.gcd(num, den))
    roots = _real_root_intervals(N)
    log(f"rosenbrock d={d}: deg N = {N.degree()}, {len(roots)} real roots, {time.time() - t0:.1f}s")

    def grad(P):
        g = [mp.mpf(0)] * d
        for i in range(d - 1):
            a, b = P[i], P[i + 1]
            g[i] += -400 * a * (b - a * a) - 2 * (1 - a)
            g[i + 1] += 200 * (b - a * a)
        return mp.matrix(g)

    def hess(P):
        H = mp.zeros(d, d)
        for i in range(d - 1):
            a, b = P[i], P[i + 1]
            H[i, i] += 1200 * a * a - 400 * b + 2
            H[i, i + 1] += -400 * a
            H[i + 1, i] += -400 * a
            H[i + 1, i + 1] += 200
        return H

    def value(P):
        return mp.fsum(100 * (P[i + 1] - P[i] ** 2) ** 2 + (1 - P[i]) ** 2 for i in range(d - 1))

    points = []
    min_abs_eig = None
    for a, b in roots:
        r = N.refine_root(a, b, eps=R(1, 10**60)) if a != b else (a, b)
        mid = sp.Rational(r[0] + r[1], 2)
        P = []
        # the coefficients are huge and alternate in sign: evaluate with ample digits
        with mp.workdps(1000):
            t_star = mp.mpf(mid.p) / mid.q
            for num, den in zip(nums, dens, strict=True):
                den_v = _mp_polyval(den, t_star)
                assert abs(den_v) > mp.mpf(10) ** -30, "pole of an intermediate coordinate"
                P.append(_mp_polyval(num, t_star) / den_v)
        Pm = mp.matrix(P)
        for _ in range(10):
            Pm = Pm - mp.lu_solve(hess(Pm), grad(Pm))
        assert mp.norm(grad(Pm)) < mp.mpf(10) ** -45, "Newton polish failed"
        assert mp.norm(Pm - mp.matrix(P)) < mp.mpf(10) ** -30, "polish moved the point"
        ev = sorted(mp.eigsy(hess(Pm), eigvals_only=True))
        m = min(abs(e) for e in ev)
        min_abs_eig = m if min_abs_eig is None else min(min_abs_eig, m)
        index = sum(1 for e in ev if e < 0)
        kind = "minimum" if index == 0 else ("maximum" if index == d else "saddle")
        assert all(abs(c) < ROSENBROCK_DOMAIN for c in Pm), "outside the domain"
        points.append(
            {"point": list(Pm), "value": value(Pm), "kind": kind, "index": index, "eigenvalues": ev}
        )
    log(f"  {len(points)} critical points, smallest |eigenvalue| {mpmath.nstr(min_abs_eig, 5)}")
    return {
        "method": "one-variable reduction + exact real-root isolation (see script)",
        "domain": [[-ROSENBROCK_DOMAIN, ROSENBROCK_DOMAIN]] * d,
        "polynomial_degree": N.degree(),
        "smallest_abs_eigenvalue": float(min_abs_eig),
        "points": _finish(points),
    }


# ----------------------------------------------------------------------------- Lévi N.13
# Vectorised float64 interval arithmetic: every operation rounds outward by two ulps (one suffices
# for correctly rounded + - *; the second also covers the rounding of constants such as 6*pi,
# at most one ulp of the product), and sin results are widened by 1e-15 absolute (numpy's sin is
# accurate to a few ulps, i.e. < 1e-15 on [-1, 1]). Intervals are (lo, hi) pairs of arrays.
LEVI_DOMAIN = ((-10.0, 10.0), (-10.0, 10.0))
LEVI_GRID = 240  # initial boxes per side (1/12 wide: the ripples have period 1/3)


def _down(a):
    return np.nextafter(np.nextafter(a, -np.inf), -np.inf)


def _up(a):
    return np.nextafter(np.nextafter(a, np.inf), np.inf)


def _iadd(a, b):
    return _down(a[0] + b[0]), _up(a[1] + b[1])


def _isub(a, b):
    return _down(a[0] - b[1]), _up(a[1] - b[0])


def _imul(a, b):
    c = np.stack([a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]])
    return _down(c.min(0)), _up(c.max(0))


def _iscale(c, a):  # exact float c times interval a
    lo, hi = c * a[0], c * a[1]
    return _down(np.minimum(lo, hi)), _up(np.maximum(lo, hi))


def _isqr(a):
    lo2, hi2 = a[0] * a[0], a[1] * a[1]
    straddle = (a[0] < 0) & (a[1] > 0)
    lo = np.where(straddle, 0.0, np.minimum(lo2, hi2))
    return np.maximum(_down(lo), 0.0), _up(np.maximum(lo2, hi2))


def _iconst(c, like):
    return np.full_like(like, c), np.full_like(like, c)


def _isin(a):
    """sin over an interval: endpoint values, and +-1 where a peak lies inside (with slack)."""
    lo, hi = a
    slo, shi = np.sin(lo), np.sin(hi)
    mn, mx = np.minimum(slo, shi), np.maximum(slo, shi)
    tp = 2 * np.pi
    k_max = np.ceil((lo - np.pi / 2) / tp - 1e-9)  # first peak >= lo (with slack)
    has_max = np.pi / 2 + tp * k_max <= hi + 1e-9 * (1 + np.abs(hi))
    k_min = np.ceil((lo + np.pi / 2) / tp - 1e-9)
    has_min = -np.pi / 2 + tp * k_min <= hi + 1e-9 * (1 + np.abs(hi))
    wide = (hi - lo) >= tp
    mx = np.where(has_max | wide, 1.0, mx + 1e-15)
    mn = np.where(has_min | wide, -1.0, mn - 1e-15)
    return mn, mx


def _icos(a):
    return _isin(_iadd(a, _iconst(np.pi / 2, a[0])))  # pi/2 rounded: covered by the 1e-15 pad


def _levi_grad_iv(X, Y):
    """Interval enclosures of (f_x, f_y) for Lévi N.13 on boxes X x Y."""
    pi = np.pi
    one = _iconst(1.0, X[0])
    xm1, ym1 = _isub(X, one), _isub(Y, one)
    s3y2 = _isqr(_isin(_iscale(3 * pi, Y)))
    s2y2 = _isqr(_isin(_iscale(2 * pi, Y)))
    gx = _iadd(
        _iscale(3 * pi, _isin(_iscale(6 * pi, X))), _iscale(2.0, _imul(xm1, _iadd(one, s3y2)))
    )
    gy = _iadd(
        _iadd(
            _iscale(3 * pi, _imul(_isqr(xm1), _isin(_iscale(6 * pi, Y)))),
            _iscale(2.0, _imul(ym1, _iadd(one, s2y2))),
        ),
        _iscale(2 * pi, _imul(_isqr(ym1), _isin(_iscale(4 * pi, Y)))),
    )
    return gx, gy


def _levi_hess_iv(X, Y):
    pi = np.pi
    one = _iconst(1.0, X[0])
    xm1, ym1 = _isub(X, one), _isub(Y, one)
    s3y2 = _isqr(_isin(_iscale(3 * pi, Y)))
    s2y2 = _isqr(_isin(_iscale(2 * pi, Y)))
    hxx = _iadd(_iscale(18 * pi**2, _icos(_iscale(6 * pi, X))), _iscale(2.0, _iadd(one, s3y2)))
    hxy = _iscale(6 * pi, _imul(xm1, _isin(_iscale(6 * pi, Y))))
    hyy = _iadd(
        _iadd(
            _iscale(18 * pi**2, _imul(_isqr(xm1), _icos(_iscale(6 * pi, Y)))),
            _iscale(2.0, _iadd(one, s2y2)),
        ),
        _iadd(
            _iscale(8 * pi, _imul(ym1, _isin(_iscale(4 * pi, Y)))),
            _iscale(8 * pi**2, _imul(_isqr(ym1), _icos(_iscale(4 * pi, Y)))),
        ),
    )
    return hxx, hxy, hyy


def _levi_mp():
    pi = mp.pi

    def f(x_, y_):
        return (
            mp.sin(3 * pi * x_) ** 2
            + (x_ - 1) ** 2 * (1 + mp.sin(3 * pi * y_) ** 2)
            + (y_ - 1) ** 2 * (1 + mp.sin(2 * pi * y_) ** 2)
        )

    def g(x_, y_):
        return mp.matrix(
            [
                3 * pi * mp.sin(6 * pi * x_) + 2 * (x_ - 1) * (1 + mp.sin(3 * pi * y_) ** 2),
                3 * pi * (x_ - 1) ** 2 * mp.sin(6 * pi * y_)
                + 2 * (y_ - 1) * (1 + mp.sin(2 * pi * y_) ** 2)
                + 2 * pi * (y_ - 1) ** 2 * mp.sin(4 * pi * y_),
            ]
        )

    def h(x_, y_):
        hxx = 18 * pi**2 * mp.cos(6 * pi * x_) + 2 * (1 + mp.sin(3 * pi * y_) ** 2)
        hxy = 6 * pi * (x_ - 1) * mp.sin(6 * pi * y_)
        hyy = (
            18 * pi**2 * (x_ - 1) ** 2 * mp.cos(6 * pi * y_)
            + 2 * (1 + mp.sin(2 * pi * y_) ** 2)
            + 8 * pi * (y_ - 1) * mp.sin(4 * pi * y_)
            + 8 * pi**2 * (y_ - 1) ** 2 * mp.cos(4 * pi * y_)
        )
        return mp.matrix([[hxx, hxy], [hxy, hyy]])

    return f, g, h


def _krawczyk_iv(lo, hi, grad_iv, hess_iv, hess_pt):
    """Vectorised Krawczyk test on boxes [lo, hi] (arrays (N, 2)).

    Returns (unique, empty): ``unique`` where K(B) lies strictly inside B (exactly one zero of
    the gradient in B), ``empty`` where K(B) misses B (no zero in B).
    """
    m = 0.5 * (lo + hi)
    M = [(m[:, 0], m[:, 0]), (m[:, 1], m[:, 1])]
    gm = grad_iv(*M)
    hp = hess_pt(m[:, 0], m[:, 1])  # float Hessian at the midpoint: (N, 2, 2)
    det = hp[:, 0, 0] * hp[:, 1, 1] - hp[:, 0, 1] * hp[:, 1, 0]
    ok = np.abs(det) > 1e-300
    det = np.where(ok, det, 1.0)
    Yi = (
        np.stack(
            [np.stack([hp[:, 1, 1], -hp[:, 0, 1]], -1), np.stack([-hp[:, 1, 0], hp[:, 0, 0]], -1)],
            1,
        )
        / det[:, None, None]
    )
    hxx, hxy, hyy = hess_iv((lo[:, 0], hi[:, 0]), (lo[:, 1], hi[:, 1]))
    J = [[hxx, hxy], [hxy, hyy]]
    d = [_isub((lo[:, j], hi[:, j]), M[j]) for j in range(2)]
    unique = ok.copy()
    empty = np.zeros_like(ok)
    for i in range(2):
        k = _isub(M[i], _iadd(_iscl_arr(Yi[:, i, 0], gm[0]), _iscl_arr(Yi[:, i, 1], gm[1])))
        for j in range(2):
            yj = _iadd(_iscl_arr(Yi[:, i, 0], J[0][j]), _iscl_arr(Yi[:, i, 1], J[1][j]))
            a = _isub(_iconst(1.0 if i == j else 0.0, lo[:, 0]), yj)
            k = _iadd(k, _imul(a, d[j]))
        unique &= (k[0] > lo[:, i]) & (k[1] < hi[:, i])
        empty |= (k[1] < lo[:, i]) | (k[0] > hi[:, i])
    return unique & ok, empty & ok


def _iscl_arr(c, a):  # per-row float c times interval a
    lo, hi = c * a[0], c * a[1]
    return _down(np.minimum(lo, hi)), _up(np.maximum(lo, hi))


def certify_levi13() -> dict:
    """Every critical point of Lévi N.13 in [-10, 10]^2 by exhaustive interval subdivision.

    The box is cut into 240 x 240 boxes. Repeatedly: boxes whose interval gradient excludes 0 are
    dropped (no critical point); on the rest the Krawczyk test either proves exactly one critical
    point in the box inflated by 10% or proves none in the box; undecided boxes are bisected along
    their longer side. Every critical point lies in some box of the partition, so the certified
    boxes hold them all; each is found by Newton at 50 digits from the box centre, must stay in its
    inflated box, and duplicates (a point in the inflated boxes of neighbours) are merged.
    """
    t0 = time.time()
    (x0, x1), (y0, y1) = LEVI_DOMAIN
    e = np.linspace(0.0, 1.0, LEVI_GRID + 1)
    xe, ye = x0 + (x1 - x0) * e, y0 + (y1 - y0) * e
    XI, YI = np.meshgrid(np.arange(LEVI_GRID), np.arange(LEVI_GRID), indexing="ij")
    lo = np.stack([xe[XI.ravel()], ye[YI.ravel()]], 1)
    hi = np.stack([xe[XI.ravel() + 1], ye[YI.ravel() + 1]], 1)
    f, g, h = _levi_mp()

    def hess_pt(xa, ya):
        H = _levi_hess_iv((xa, xa), (ya, ya))
        mid = [0.5 * (a[0] + a[1]) for a in H]
        return np.stack([np.stack([mid[0], mid[1]], -1), np.stack([mid[1], mid[2]], -1)], 1)

    certified = []
    n_boxes = len(lo)
    for _ in range(60):
        if len(lo) == 0:
            break
        gx, gy = _levi_grad_iv((lo[:, 0], hi[:, 0]), (lo[:, 1], hi[:, 1]))
        keep = (gx[0] <= 0) & (gx[1] >= 0) & (gy[0] <= 0) & (gy[1] >= 0)
        lo, hi = lo[keep], hi[keep]
        w = hi - lo
        ilo, ihi = lo - 0.05 * w, hi + 0.05 * w  # inflated by 10%
        unique, _ = _krawczyk_iv(ilo, ihi, _levi_grad_iv, _levi_hess_iv, hess_pt)
        _, empty = _krawczyk_iv(lo, hi, _levi_grad_iv, _levi_hess_iv, hess_pt)
        for b in np.nonzero(unique)[0]:
            certified.append((ilo[b], ihi[b]))
        rest = ~unique & ~empty
        lo, hi = lo[rest], hi[rest]
        if len(lo) and (hi - lo).max() < 1e-10:
            raise RuntimeError(f"levi13: {len(lo)} boxes undecided at width 1e-10")
        # bisect along the longer side
        w = hi - lo
        ax = (w[:, 1] > w[:, 0]).astype(int)
        mid = 0.5 * (lo[np.arange(len(lo)), ax] + hi[np.arange(len(lo)), ax])
        lo2, hi2 = lo.copy(), hi.copy()
        hi[np.arange(len(lo)), ax] = mid
        lo2[np.arange(len(lo)), ax] = mid
        lo, hi = np.concatenate([lo, lo2]), np.concatenate([hi, hi2])
        n_boxes += len(lo2)
    if len(lo):
        raise RuntimeError("levi13: subdivision did not finish")
    log(
        f"levi13: {n_boxes} boxes examined, {len(certified)} certified boxes, "
        f"{time.time() - t0:.1f}s"
    )
    points = []
    seen: dict[tuple[float, float], int] = {}
    sys.path.insert(0, str(ROOT / "src"))
    from descentlab.progress import Progress

    with mp.workdps(50), Progress(len(certified), "levi13: Newton at 50 digits") as bar:
        for blo, bhi in certified:
            bar.update()
            p = mp.matrix([mp.mpf((blo[0] + bhi[0]) / 2), mp.mpf((blo[1] + bhi[1]) / 2)])
            for _ in range(40):
                step = mp.lu_solve(h(p[0], p[1]), g(p[0], p[1]))
                p = p - step
                if mp.norm(step) < mp.mpf(10) ** -45:
                    break
            assert mp.norm(g(p[0], p[1])) < mp.mpf(10) ** -40
            assert blo[0] <= p[0] <= bhi[0] and blo[1] <= p[1] <= bhi[1], "Newton left its box"
            key = (float(p[0]), float(p[1]))
            if key in seen:
                continue
            seen[key] = len(points)
            for c, (dlo, dhi) in zip(key, LEVI_DOMAIN, strict=True):
                assert dlo + 1e-9 < c < dhi - 1e-9, "critical point on the domain boundary"
            ev = sorted(mp.eigsy(h(p[0], p[1]), eigvals_only=True))
            index = sum(1 for v in ev if v < 0)
            kind = "minimum" if index == 0 else ("maximum" if index == 2 else "saddle")
            points.append(
                {
                    "point": [p[0], p[1]],
                    "value": f(p[0], p[1]),
                    "kind": kind,
                    "index": index,
                    "eigenvalues": ev,
                }
            )
    min_eig = min(min(abs(v) for v in q["eigenvalues"]) for q in points)
    log(f"  {len(points)} critical points, smallest |eigenvalue| {float(min_eig):.3g}")
    return {
        "method": "exhaustive interval subdivision + Krawczyk, Newton at 50 digits (see script)",
        "domain": [list(b) for b in LEVI_DOMAIN],
        "smallest_abs_eigenvalue": float(min_eig),
        "points": _finish(points),
    }


def _mp_polyval(poly: sp.Poly, t: mpmath.mpf) -> mpmath.mpf:
    return mp.polyval([mp.mpf(c.p) / c.q for c in map(sp.Rational, poly.all_coeffs())], t)


def compute(names: list[str]) -> dict[str, dict]:
    out = {}
    for name in names:
        if name in POLY2:
            out[name] = certify_poly2(name)
        elif name == "levi13":
            out[name] = certify_levi13()
        elif name.startswith("rosenbrock_"):
            out[name] = certify_rosenbrock(int(name.split("_")[1]))
        else:
            raise SystemExit(f"unknown landscape {name!r}; valid: {', '.join(all_names())}")
    return out


def all_names() -> list[str]:
    return [*POLY2, "levi13", *(f"rosenbrock_{d}" for d in ROSENBROCK_DIMS)]


def dumps(stored: dict) -> str:
    """JSON with one critical point per line (compact, and diffs stay readable)."""

    def one(obj: object) -> str:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)

    parts = []
    for name, entry in stored["landscapes"].items():
        meta = ",".join(f"{one(k)}:{one(v)}" for k, v in entry.items() if k != "points")
        pts = ",\n".join(one(p) for p in entry["points"])
        parts.append(f'{one(name)}:{{{meta},\n"points":[\n{pts}]}}')
    rest = ",".join(f"{one(k)}:{one(v)}" for k, v in stored.items() if k != "landscapes")
    return "{" + rest + ',\n"landscapes":{\n' + ",\n".join(parts) + "}}\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"default: all of {', '.join(all_names())}")
    ap.add_argument("--check", action="store_true", help="compare with the stored file")
    args = ap.parse_args()
    names = args.names or all_names()
    new = compute(names)
    stored = json.loads(OUT.read_text()) if OUT.exists() else {"landscapes": {}}
    if args.check:
        same = all(stored["landscapes"].get(n) == new[n] for n in names)
        log("stored file matches" if same else "stored file DIFFERS")
        return 0 if same else 1
    stored["landscapes"].update(new)
    stored["landscapes"] = dict(sorted(stored["landscapes"].items()))
    stored["generated_by"] = "tools/certify_critical_points.py"
    sys.path.insert(0, str(ROOT / "src"))
    from descentlab.io import write_text

    write_text(OUT, dumps(stored))
    OUT.chmod(0o644)  # package data: readable by everyone (the atomic temp file was 0600)
    log(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
