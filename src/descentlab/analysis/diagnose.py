"""Why did each run stop? One outcome per row of a trajectory: which critical point, or none.

The engine records; this module interprets. For every row of a
:class:`~descentlab.trajectory.Trajectory` the end point is compared with the landscape's
critical points (its known ones, or those :func:`~descentlab.analysis.critical.find_critical_points`
finds in the domain when none are known, plus a Newton polish of the end point with
:func:`~descentlab.analysis.critical.refine_critical_points` when the known set is incomplete):

========================  ===============================================================
kind                      when
========================  ===============================================================
``diverged``              the engine stopped the row (non-finite value/gradient or beyond the
                          bound); ``step`` is the divergence step
``global_minimum``        the end point is at a minimum whose value is the global minimum value
                          (also a degenerate critical point at that value: a valley of minima)
``local_minimum``         at any other minimum; ``gap`` = its value minus the global value
``saddle``                at a saddle (Hessian eigenvalues of both signs); ``index`` = number
                          of negative eigenvalues
``maximum``               at a maximum
``degenerate``            at a critical point with a zero Hessian eigenvalue that second order
                          cannot classify (e.g. the monkey saddle)
``plateau``               the gradient is tiny but no critical point is anywhere near
``max_steps``             still moving when the step budget ran out, not at a critical point
========================  ===============================================================

"At" a critical point means within ``tol`` of it for a row that ran out of steps, and within
``far`` for a row the engine declared converged (its gradient norm already passed the run's
``grad_tol``). A row is on a ``plateau`` when it is further than ``far`` from every critical
point and either the engine declared it converged (so an absolute gradient threshold was fooled)
or its gradient norm is below ``plateau_rel`` times the landscape's characteristic slope
``(q95 - q5) / w`` (spread of ``f`` over 256 points of the domain, divided by the domain's
largest width ``w``). Defaults scale with ``w``: ``tol = 1e-3 w``, ``far = 5e-2 w``,
saddle-visit ``radius = 1e-2 w``.

In a noisy run (an optimizer that keeps moving at critical points, run without a gradient stop,
``grad_tol = 0``, whose rows over the last quarter of the run travel, in the median, more than
three times their net displacement), rows that ran out of steps are judged by their
neighbourhood, not by their last iterate, which depends on when the last kick came: a row is at
a critical point when the centre ``c`` (mean) of its last quarter is within ``tol + σ`` of it,
``σ`` being the run's noise scale (the median of the tails' RMS spreads around their centres).
One threshold for the whole run: rows whose centres are at equal distances get equal outcomes;
``distance`` is then ``‖c - x*‖``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import torch

from descentlab.analysis.outcomes import OUTCOME_KINDS
from descentlab.errors import InvalidParameterError
from descentlab.io import to_jsonable
from descentlab.landscapes.base import CriticalPoint, Landscape, classify_eigenvalues
from descentlab.trajectory import Race, Trajectory
from descentlab.validate import check_positive

_VISIT_KINDS = ("saddle", "degenerate")
_STALL_WORDS_MIN = 10  # visits shorter than this many steps are kept but not told in words

SaddleVisit = tuple[CriticalPoint, int]


@dataclass(frozen=True)
class Outcome:
    """Why one row stopped.

    Attributes:
        kind: one of :data:`~descentlab.analysis.outcomes.OUTCOME_KINDS` (the one vocabulary,
            with labels and colours, in :mod:`descentlab.analysis.outcomes`).
        index: number of negative Hessian eigenvalues of the critical point reached (``None``
            when no critical point was reached).
        gap: for ``local_minimum``, its value minus the global minimum value (``None`` when the
            global value is unknown); ``0`` for ``global_minimum``; else ``None``.
        step: the step at which the row stopped (divergence step for ``diverged``).
        critical_point: the critical point reached, or ``None``.
        saddle_visits: ``(critical point, steps spent within radius)`` for every saddle or
            degenerate point the row passed near, in order of first visit.
        text: the story in plain words.
        distance: distance from the end point to ``critical_point`` (or to the nearest known
            critical point when none was reached; ``None`` when none is known).
        value: the objective at the end point.
        grad_norm: the gradient norm there.
        eigenvalues: Hessian eigenvalues at the end point (ascending; ``None`` if not finite).
        stop_reason: the engine's stop reason.
        row: the row of the trajectory.
    """

    kind: str
    index: int | None
    gap: float | None
    step: int
    critical_point: CriticalPoint | None
    saddle_visits: tuple[SaddleVisit, ...]
    text: str
    distance: float | None
    value: float
    grad_norm: float
    eigenvalues: tuple[float, ...] | None
    stop_reason: str
    row: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: kind, index, gap, step, text, the critical point and the visits."""
        return to_jsonable(
            {
                "kind": self.kind,
                "index": self.index,
                "gap": self.gap,
                "step": self.step,
                "text": self.text,
                "distance": self.distance,
                "value": self.value,
                "grad_norm": self.grad_norm,
                "eigenvalues": self.eigenvalues,
                "stop_reason": self.stop_reason,
                "critical_point": None
                if self.critical_point is None
                else self.critical_point.to_dict(),
                "saddle_visits": [
                    {"point": list(c.point), "kind": c.kind, "index": c.index, "steps": n}
                    for c, n in self.saddle_visits
                ],
            }
        )


@dataclass(frozen=True)
class Diagnosis(Sequence[Outcome]):
    """One :class:`Outcome` per row of a trajectory, with counts and a table.

    Attributes:
        outcomes: the outcomes, row by row.
        optimizer: the trajectory's optimizer label.
        landscape: the landscape's name.
        tol, far, radius: the distances used (see the module docstring).
        critical_points: the critical points the diagnosis compared with.
        notes: remarks a user should read (e.g. where the critical points came from).
    """

    outcomes: tuple[Outcome, ...]
    optimizer: str
    landscape: str
    tol: float
    far: float
    radius: float
    critical_points: tuple[CriticalPoint, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @overload
    def __getitem__(self, i: int) -> Outcome: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Outcome]: ...
    def __getitem__(self, i: int | slice) -> Outcome | Sequence[Outcome]:
        return self.outcomes[i]

    def __len__(self) -> int:
        return len(self.outcomes)

    def __iter__(self) -> Iterator[Outcome]:
        return iter(self.outcomes)

    @property
    def kinds(self) -> np.ndarray:
        """``(B,)`` array of outcome kinds."""
        return np.array([o.kind for o in self.outcomes])

    def counts(self) -> dict[str, int]:
        """How many rows ended in each kind (every kind listed, zeros included)."""
        out = dict.fromkeys(OUTCOME_KINDS, 0)
        for o in self.outcomes:
            out[o.kind] += 1
        return out

    def to_dicts(self) -> list[dict[str, Any]]:
        return [{"row": o.row, "optimizer": self.optimizer, **o.to_dict()} for o in self.outcomes]

    def table(self, max_rows: int | None = None) -> str:
        """A plain-text table: row, outcome, steps, loss, and the story."""
        rows = self.outcomes if max_rows is None else self.outcomes[:max_rows]
        head = ["row", "outcome", "steps", "loss", "what happened"]
        cells = [[str(o.row), o.kind, str(o.step), _num(o.value), o.text] for o in rows]
        widths = [max(len(r[j]) for r in [head, *cells]) for j in range(4)]
        lines = [
            "  ".join(h.ljust(w) for h, w in zip(head[:4], widths, strict=True)) + "  " + head[4]
        ]
        lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 13)
        for r in cells:
            lines.append(
                "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
            )
        if max_rows is not None and len(self.outcomes) > max_rows:
            lines.append(f"... {len(self.outcomes) - max_rows} more rows")
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts().items() if v)
        lines.append(f"{self.optimizer}: {counts}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items() if v)
        return f"Diagnosis({self.optimizer!r} on {self.landscape!r}: {counts})"


# ---------------------------------------------------------------------------- public API
@overload
def diagnose(trajectory: Trajectory, landscape: Landscape, **kw: Any) -> Diagnosis: ...
@overload
def diagnose(trajectory: Race, landscape: Landscape, **kw: Any) -> dict[str, Diagnosis]: ...
def diagnose(
    trajectory: Trajectory | Race,
    landscape: Landscape,
    *,
    tol: float | None = None,
    far: float | None = None,
    radius: float | None = None,
    plateau_rel: float = 1e-3,
    value_tol: float = 1e-8,
    critical_points: Sequence[CriticalPoint] | None = None,
) -> Diagnosis | dict[str, Diagnosis]:
    """Say for each row of ``trajectory`` why it stopped (see the module docstring).

    Args:
        trajectory: a :class:`~descentlab.trajectory.Trajectory` (or a ``Race``: then a dict
            ``label -> Diagnosis``).
        landscape: the landscape it ran on.
        tol: distance within which a row that ran out of steps is *at* a critical point.
        far: distance beyond which a point is far from every critical point (plateau test), and
            within which a row the engine declared converged is matched to a critical point.
        radius: saddle-visit radius for :func:`escape_times`.
        plateau_rel: a gradient norm below this fraction of the landscape's characteristic slope
            is tiny (plateau test).
        value_tol: minima within ``value_tol * max(1, |f*|)`` of the global value ``f*`` are
            global.
        critical_points: compare with these instead of the landscape's known ones: any iterable
            of :class:`~descentlab.landscapes.CriticalPoint` (a list, a tuple, a slice of
            ``landscape.critical_points``, a :class:`~descentlab.analysis.CriticalPointSet`).

    Returns:
        a :class:`Diagnosis`.

    Example:
        >>> from descentlab.landscapes import get_landscape
        >>> from descentlab.engine import run
        >>> L = get_landscape("double_well")
        >>> tr = run(L, "gd", [[0.0, 1.0], [0.5, 1.0]], steps=2000, lr=0.05)
        >>> [o.kind for o in diagnose(tr, L)]
        ['saddle', 'global_minimum']
    """
    if isinstance(trajectory, Race):
        if not isinstance(landscape, Landscape):
            raise InvalidParameterError(
                f"diagnose needs a Landscape, got {type(landscape).__name__}"
            )
        resolved = _critical_points(landscape, _as_points(critical_points))  # once for all
        return {
            lab: _diagnose(t, landscape, tol, far, radius, plateau_rel, value_tol, resolved)
            for lab, t in trajectory.items()
        }
    return _diagnose(
        trajectory, landscape, tol, far, radius, plateau_rel, value_tol, _as_points(critical_points)
    )


def _diagnose(
    trajectory: Trajectory,
    landscape: Landscape,
    tol: float | None,
    far: float | None,
    radius: float | None,
    plateau_rel: float,
    value_tol: float,
    critical_points: list[CriticalPoint] | _Reference | None,
) -> Diagnosis:
    if not isinstance(trajectory, Trajectory):
        raise InvalidParameterError(
            f"diagnose needs a Trajectory or a Race, got {type(trajectory).__name__}"
        )
    if not isinstance(landscape, Landscape):
        raise InvalidParameterError(f"diagnose needs a Landscape, got {type(landscape).__name__}")
    if trajectory.dim != landscape.dim:
        raise InvalidParameterError(
            f"the trajectory is {trajectory.dim}-dimensional but {landscape.name} has "
            f"d={landscape.dim}"
        )
    scale = _scale(landscape, trajectory)
    tol = 1e-3 * scale if tol is None else check_positive("tol", tol)
    far = 5e-2 * scale if far is None else check_positive("far", far)
    radius = 1e-2 * scale if radius is None else check_positive("radius", radius)
    check_positive("plateau_rel", plateau_rel)
    check_positive("value_tol", value_tol, allow_zero=True)

    ref = (
        critical_points
        if isinstance(critical_points, _Reference)  # resolved once for a race
        else _critical_points(landscape, critical_points)
    )
    cps, complete, notes = ref.points, ref.complete, ref.notes
    gmin = _global_value(landscape, cps)
    gscale = _grad_scale(landscape, trajectory, scale)
    plateau_tol = plateau_rel * gscale

    B = trajectory.n_starts
    X = torch.as_tensor(trajectory.final_points, dtype=torch.float64)
    alive = trajectory.stop_reason != "diverged"
    alive &= np.isfinite(trajectory.final_points).all(1)
    lam_all = np.full((B, landscape.dim), np.nan)
    idx = np.flatnonzero(alive)
    if idx.size:
        H = landscape.hessian(X[idx]).to(torch.float64)
        H = 0.5 * (H + H.transpose(1, 2))
        ok = torch.isfinite(H).all(dim=(1, 2))
        if bool(ok.any()):
            lam_all[idx[ok.numpy()]] = torch.linalg.eigvalsh(H[ok]).numpy()

    # nearest known critical point of every row
    C = np.array([c.point for c in cps], dtype=float).reshape(len(cps), landscape.dim)
    near_i = np.full(B, -1)
    near_d = np.full(B, np.inf)
    if len(cps) and idx.size:
        dist = np.linalg.norm(trajectory.final_points[idx, None, :] - C[None], axis=-1)
        near_i[idx] = dist.argmin(1)
        near_d[idx] = dist.min(1)

    hover, noise = _noisy_tails(trajectory)
    if hover and len(cps):
        rows = np.array(sorted(hover))
        centres = np.stack([hover[i] for i in rows])
        dist = np.linalg.norm(centres[:, None, :] - C[None], axis=-1)
        near_i[rows] = dist.argmin(1)
        near_d[rows] = dist.min(1)

    # rows not at a known point when the known set may miss some: Newton polish from the end point
    found: dict[int, CriticalPoint] = {}
    if not complete:
        reach = np.where(trajectory.stop_reason == "converged", far, tol)
        todo = idx[near_d[idx] > reach[idx]]
        if todo.size:
            found = _polish(landscape, X[todo], todo, gmin, value_tol)

    visits = escape_times(trajectory, landscape, radius, critical_points=cps)
    outcomes = []
    for i in range(B):
        outcomes.append(
            _outcome(
                i,
                trajectory,
                cps,
                near_i[i],
                near_d[i],
                found.get(i),
                lam_all[i],
                visits[i],
                tol=tol,
                far=far,
                radius=radius,
                plateau_tol=plateau_tol,
                gmin=gmin,
                value_tol=value_tol,
                noise=noise if i in hover else None,
            )
        )
    return Diagnosis(
        outcomes=tuple(outcomes),
        optimizer=trajectory.optimizer,
        landscape=landscape.name,
        tol=tol,
        far=far,
        radius=radius,
        critical_points=tuple(cps),
        notes=tuple(notes),
    )


def escape_times(
    trajectory: Trajectory,
    landscape: Landscape,
    radius: float,
    *,
    critical_points: Sequence[CriticalPoint] | None = None,
    kinds: Sequence[str] = _VISIT_KINDS,
) -> list[list[SaddleVisit]]:
    """Steps each row spent within ``radius`` of each saddle it visited.

    For row ``i`` and saddle ``s`` the count is the number of iterates ``x_k`` with
    ``k < stop_step[i]`` and ``|x_k - s| <= radius`` (exact when ``record_every`` is 1; with
    sparser records each record inside the radius counts for the steps until the next record).
    A row that stopped at the saddle counts the steps until it stopped.

    Args:
        trajectory: the run.
        landscape: where its critical points come from (known ones; see ``critical_points``).
        radius: the ball radius.
        critical_points: use these instead of the landscape's known ones.
        kinds: which kinds of critical points count (default saddles and degenerate points).

    Returns:
        for every row, a list of ``(critical point, steps)`` in order of first visit.

    Example:
        >>> from descentlab.landscapes import get_landscape
        >>> from descentlab.engine import run
        >>> L = get_landscape("simple_saddle")
        >>> tr = run(L, "gd", [[1.0, 1e-6]], steps=40, lr=0.1)
        >>> [(c.point, n) for c, n in escape_times(tr, L, radius=0.01)[0]]
        [((0.0, 0.0), 19)]
    """
    check_positive("radius", radius)
    given = _as_points(critical_points)
    cps = list(landscape.critical_points or []) if given is None else given
    sad = [c for c in cps if c.kind in kinds]
    B = trajectory.n_starts
    out: list[list[SaddleVisit]] = [[] for _ in range(B)]
    if not sad or trajectory.n_records == 0:
        return out
    steps = trajectory.record_steps.astype(np.int64)
    nxt = np.append(steps[1:], steps[-1])
    # steps each record stands for, clipped at the row's stop: (T, B)
    span = np.clip(
        np.minimum(nxt[:, None], trajectory.stop_step[None, :]) - steps[:, None], 0, None
    )
    first_seen: list[list[tuple[int, CriticalPoint, int]]] = [[] for _ in range(B)]
    pos = trajectory.positions
    chunk = max(1, int(4e6 // max(1, B * pos.shape[2])))  # ~32 MB temporaries
    for c in sad:
        s = np.asarray(c.point, dtype=float)
        count = np.zeros(B, dtype=np.int64)
        first = np.full(B, np.iinfo(np.int64).max)
        for t0 in range(0, pos.shape[0], chunk):
            inside = np.linalg.norm(pos[t0 : t0 + chunk] - s, axis=-1) <= radius
            count += (inside * span[t0 : t0 + chunk]).sum(0)
            hit = inside & (span[t0 : t0 + chunk] > 0)
            any_hit = hit.any(0)
            tfirst = np.where(any_hit, hit.argmax(0) + t0, np.iinfo(np.int64).max)
            first = np.minimum(first, tfirst)
        for i in np.flatnonzero(count > 0):
            first_seen[i].append((int(first[i]), c, int(count[i])))
    for i in range(B):
        out[i] = [(c, n) for _, c, n in sorted(first_seen[i], key=lambda e: e[0])]
    return out


# ---------------------------------------------------------------------------- internals
def _scale(landscape: Landscape, trajectory: Trajectory) -> float:
    if landscape.domain is not None:
        return float(max(hi - lo for lo, hi in landscape.domain))
    pts = np.concatenate([trajectory.starts, trajectory.final_points])
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) > 1:
        return max(1.0, float((pts.max(0) - pts.min(0)).max()))
    return 1.0


@dataclass(frozen=True)
class _Reference:
    """The critical points a diagnosis compares with, whether they are all of them, and notes."""

    points: list[CriticalPoint]
    complete: bool
    notes: list[str]


def _as_points(given: Any) -> list[CriticalPoint] | None:
    """``critical_points=`` as a list of ``CriticalPoint``: any iterable of them (a
    ``CriticalPointSet`` included) or ``None``; anything else is refused with what was given."""
    if given is None:
        return None
    if isinstance(given, CriticalPoint | str | bytes) or not isinstance(given, Iterable):
        raise InvalidParameterError(
            "critical_points must be a sequence of CriticalPoint (e.g. landscape.critical_points"
            f"[:3] or a CriticalPointSet), got {type(given).__name__}"
        )
    points = list(given)
    for i, c in enumerate(points):
        if not isinstance(c, CriticalPoint):
            raise InvalidParameterError(
                f"critical_points[{i}] must be a CriticalPoint, got {type(c).__name__}"
            )
    return points


def _critical_points(landscape: Landscape, given: list[CriticalPoint] | None) -> _Reference:
    if given is not None:
        for i, c in enumerate(given):
            if c.dim != landscape.dim:
                raise InvalidParameterError(
                    f"critical_points[{i}] is {c.dim}-dimensional but {landscape.name} has "
                    f"d={landscape.dim}"
                )
        return _Reference(given, True, ["compared with the critical points given"])
    known = landscape.critical_points
    if known is not None:
        note = "known critical points" + (
            "" if landscape.complete else " (incomplete; end points polished)"
        )
        return _Reference(list(known), landscape.complete, [note])
    if landscape.domain is None:
        return _Reference(
            [], False, ["no critical points known and no domain to search: end points polished"]
        )
    from descentlab.analysis.critical import MAX_SEARCH_DIM, find_critical_points

    if landscape.dim > MAX_SEARCH_DIM:
        return _Reference(
            [], False, [f"no critical points known and d > {MAX_SEARCH_DIM}: end points polished"]
        )
    found = find_critical_points(landscape, progress=False)
    notes = [f"critical points found numerically in the domain ({len(found)} points)"]
    notes += list(getattr(found, "notes", ()))
    return _Reference(list(found), False, notes)


def _global_value(landscape: Landscape, cps: Sequence[CriticalPoint]) -> float | None:
    if landscape.global_min_value is not None:
        return float(landscape.global_min_value)
    glob = [c.value for c in cps if c.is_global]
    return float(min(glob)) if glob else None


def _grad_scale(landscape: Landscape, trajectory: Trajectory, scale: float) -> float:
    """The landscape's characteristic slope: the spread of its values over its width.

    ``(q95 - q5) / w`` of ``f`` over 256 points of the domain (the trajectory's starts and end
    points without a domain), robust to a few huge values at the corners.
    """
    if landscape.domain is not None:
        P = landscape.sample(256, seed=0)
    else:
        P = torch.as_tensor(np.concatenate([trajectory.starts, trajectory.final_points]))
    v = landscape.value(P).detach().to(torch.float64)
    v = v[torch.isfinite(v)]
    if v.numel() < 2:
        return 1.0
    spread = float(torch.quantile(v, 0.95) - torch.quantile(v, 0.05))
    return spread / scale if spread > 0 else 1.0


def _is_global(value: float, gmin: float | None, value_tol: float) -> bool:
    return gmin is not None and abs(value - gmin) <= value_tol * max(1.0, abs(gmin))


def _polish(
    landscape: Landscape, X: torch.Tensor, rows: np.ndarray, gmin: float | None, value_tol: float
) -> dict[int, CriticalPoint]:
    """Critical points reached by Newton polish from end points ``X`` (only those converged)."""
    from descentlab.analysis.critical import refine_critical_points

    P, conv = refine_critical_points(landscape, X)
    out: dict[int, CriticalPoint] = {}
    if not bool(conv.any()):
        return out
    ci = conv.nonzero().flatten()
    Pc = P[ci]
    vals = landscape.value(Pc).detach()
    H = landscape.hessian(Pc)
    lam = torch.linalg.eigvalsh(0.5 * (H + H.transpose(1, 2)))
    hscale = float(lam.abs().max()) if lam.numel() else 1.0
    for j, r in enumerate(ci.tolist()):
        kind, index = classify_eigenvalues(lam[j], abs_tol=1e-8 * max(hscale, 1e-300))
        v = float(vals[j])
        out[int(rows[r])] = CriticalPoint(
            point=tuple(float(x) for x in Pc[j]),
            value=v,
            kind=kind,
            index=index,
            is_global=kind == "minimum" and _is_global(v, gmin, value_tol),
            eigenvalues=tuple(float(e) for e in lam[j]),
            note="found by Newton polish of the end point",
        )
    return out


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        s = f"{x:.4g}"
    else:
        s = f"{x:.2e}"
    return "0" if s in ("-0", "-0.0") else s


def _pt(p: Sequence[float]) -> str:
    # coordinates within 1e-12 of zero are rounding noise of a found critical point
    coords = ["0" if abs(float(x)) < 1e-12 else _num(float(x)) for x in p]
    if len(coords) > 6:  # keep a sentence readable in high dimension
        return "(" + ", ".join(coords[:3]) + f", ..., {coords[-1]}) in {len(coords)}-D"
    return "(" + ", ".join(coords) + ")"


def _cp_words(c: CriticalPoint, gmin: float | None, value_tol: float) -> str:
    if c.kind == "minimum":
        if c.is_global or _is_global(c.value, gmin, value_tol):
            return f"the global minimum {_pt(c.point)}"
        if gmin is None:
            return f"the minimum {_pt(c.point)} (f = {_num(c.value)}; global value unknown)"
        return f"the local minimum {_pt(c.point)}, {_num(c.value - gmin)} above the global minimum"
    if c.kind == "saddle":
        return f"the saddle {_pt(c.point)}, index {c.index}"
    if c.kind == "maximum":
        return f"the maximum {_pt(c.point)}"
    if _degenerate_at_global_value(c, gmin, value_tol):
        return (
            f"the global minimum value at {_pt(c.point)} (a degenerate point: the minima there "
            "are not isolated)"
        )
    return f"the degenerate critical point {_pt(c.point)} (second order cannot tell its kind)"


def _degenerate_at_global_value(c: CriticalPoint, gmin: float | None, value_tol: float) -> bool:
    # f >= gmin everywhere, so a critical point at the global minimum value is a global minimum
    # even where the Hessian is singular (a valley floor of minima); a negative eigenvalue would
    # contradict that, so such points are never relabelled.
    return c.kind == "degenerate" and c.index == 0 and _is_global(c.value, gmin, value_tol)


def _outcome(
    i: int,
    tr: Trajectory,
    cps: Sequence[CriticalPoint],
    near_i: int,
    near_d: float,
    polished: CriticalPoint | None,
    lam: np.ndarray,
    visits: list[SaddleVisit],
    *,
    tol: float,
    far: float,
    radius: float,
    plateau_tol: float,
    gmin: float | None,
    value_tol: float,
    noise: float | None = None,
) -> Outcome:
    reason = str(tr.stop_reason[i])
    step = int(tr.stop_step[i])
    x = tr.final_points[i]
    value = float(tr.final_losses[i])
    gn = float(tr.final_grad_norms[i])
    eig = tuple(float(e) for e in lam) if np.isfinite(lam).all() else None
    base = {
        "step": step,
        "value": value,
        "grad_norm": gn,
        "eigenvalues": eig,
        "stop_reason": reason,
        "row": i,
        "saddle_visits": tuple(visits),
    }
    told = [(c, n) for c, n in visits if n >= _STALL_WORDS_MIN]
    if np.isfinite(x).all():  # visits the row has not left yet are told apart
        left = [(c, n) for c, n in told if np.linalg.norm(np.asarray(c.point) - x) > radius]
        near = [(c, n) for c, n in told if np.linalg.norm(np.asarray(c.point) - x) <= radius]
    else:
        left, near = told, []

    if reason == "diverged":
        text = (
            f"diverged at step {step} (value or gradient not finite, or beyond the bound "
            f"{_num(tr.bound)}); last finite point {_pt(x)}"
        )
        return Outcome(
            kind="diverged",
            index=None,
            gap=None,
            critical_point=None,
            text=_with_visits(left, near, None, text),
            distance=None,
            **base,
        )

    # the critical point this row ended at, if any
    reach = far if reason == "converged" else tol
    if noise is not None:  # a noisy row: judged by its tail's centre (module docstring)
        reach = tol + noise
    cand: list[tuple[float, CriticalPoint]] = []
    if near_i >= 0:
        cand.append((near_d, cps[near_i]))
    if polished is not None and noise is None:
        cand.append((float(np.linalg.norm(np.asarray(polished.point) - x)), polished))
    cand.sort(key=lambda e: e[0])
    dist, cp = (float(cand[0][0]), cand[0][1]) if cand else (None, None)

    if cp is not None and dist is not None and dist <= reach:
        kind, index, gap = _kind_of(cp, gmin, value_tol)
        where = _cp_words(cp, gmin, value_tol)
        if reason == "converged":
            text = f"reached {where} in {step} steps"
        elif noise is not None:
            text = (
                f"ended hovering at {where} after {step} steps: the centre of its last quarter is "
                f"{_num(dist)} from it, within tol + noise scale {_num(reach)}"
            )
        else:
            text = (
                f"ended {_num(dist)} from {where} after {step} steps, still moving "
                f"(|grad| = {_num(gn)})"
            )
        return Outcome(
            kind=kind,
            index=index,
            gap=gap,
            critical_point=cp,
            text=_with_visits(left, near, cp, text),
            distance=dist,
            **base,
        )

    far_from_all = dist is None or dist > far
    if far_from_all and (reason == "converged" or gn <= plateau_tol):
        nearest = "" if cp is None else f"; nearest critical point {_pt(cp.point)} at {_num(dist)}"
        text = (
            f"stalled on a plateau at {_pt(x)} after {step} steps: |grad| = {_num(gn)} but no "
            f"critical point within {_num(far)}{nearest}"
        )
        kind = "plateau"
    else:
        nearest = (
            ""
            if cp is None
            else f"; nearest critical point: {_cp_words(cp, gmin, value_tol)} "
            f"at distance {_num(dist)}"
        )
        text = f"still moving after {step} steps at {_pt(x)} (|grad| = {_num(gn)}){nearest}"
        kind = "max_steps"
    return Outcome(
        kind=kind,
        index=None,
        gap=None,
        critical_point=None,
        text=_with_visits(left, near, None, text),
        distance=dist,
        **base,
    )


def _noisy_tails(tr: Trajectory) -> tuple[dict[int, np.ndarray], float]:
    """Rows judged by their neighbourhood, with their tail centres, and the run's noise scale.

    Only for a run without a gradient stop (``grad_tol == 0``, the engine's default for
    optimizers that move at critical points), whose rows that ran out of steps are noisy: over
    the last quarter of the run (at least 3 records) their recorded positions travel, in the
    median, more than three times their net displacement. The noise scale is the median over
    those rows of the tail's RMS distance to its centre. A property of the run (the optimizer's
    noise), so every such row is judged the same way.
    """
    if tr.grad_tol != 0 or tr.steps < 4:
        return {}, 0.0
    keep = np.flatnonzero(np.asarray(tr.record_steps) >= 0.75 * tr.steps)
    if keep.size < 3:
        return {}, 0.0
    P = np.asarray(tr.positions)[keep]  # (K, B, d)
    rows = [
        int(i)
        for i in np.flatnonzero(tr.stop_reason == "max_steps")
        if np.isfinite(P[:, i, :]).all()
    ]
    if not rows:
        return {}, 0.0
    tails = P[:, rows, :]
    path = np.linalg.norm(np.diff(tails, axis=0), axis=2).sum(0)
    net = np.linalg.norm(tails[-1] - tails[0], axis=1)
    if not float(np.median(path)) > 3 * float(np.median(net)):  # a run that mostly descends
        return {}, 0.0
    c = tails.mean(0)  # (R, d)
    spread = np.sqrt(((tails - c[None]) ** 2).sum(2).mean(0))
    return {i: c[j] for j, i in enumerate(rows)}, float(np.median(spread))


def _kind_of(
    cp: CriticalPoint, gmin: float | None, value_tol: float
) -> tuple[str, int, float | None]:
    if cp.kind == "minimum":
        if cp.is_global or _is_global(cp.value, gmin, value_tol):
            return "global_minimum", 0, 0.0
        return "local_minimum", 0, None if gmin is None else float(cp.value - gmin)
    if _degenerate_at_global_value(cp, gmin, value_tol):
        return "global_minimum", 0, 0.0
    return cp.kind, int(cp.index), None


def _with_visits(
    left: list[SaddleVisit],
    near: list[SaddleVisit],
    end_cp: CriticalPoint | None,
    text: str,
) -> str:
    """Tell the saddles the row stalled at and left before the main story, and those it is
    still near (other than the one it ended at) after it."""
    still = [(c, n) for c, n in near if end_cp is None or c.point != end_cp.point]
    if still:
        text += "; " + ", ".join(
            f"spent {n} steps near the {_visit_words(c)} and has not left it" for c, n in still
        )
    before = [(c, n) for c, n in left if end_cp is None or c.point != end_cp.point]
    if not before:
        return text
    stalls = ", then ".join(f"stalled {n} steps at the {_visit_words(c)}" for c, n in before)
    if text.startswith("reached "):
        return f"{stalls}, then escaped to {text[len('reached ') :]}"
    return f"{stalls}, then escaped; {text}"


def _visit_words(c: CriticalPoint) -> str:
    if c.kind == "saddle":
        return f"saddle {_pt(c.point)}, index {c.index}"
    return f"degenerate point {_pt(c.point)}"
