"""What the playground's endpoints compute, without HTTP: parse, bound, call the library, shape.

Every function here takes validated request models and the server's :class:`Limits`, raises a
:class:`~descentlab.errors.DescentlabError` (which the app turns into a 4xx answer) for anything a
user got wrong, and returns plain JSON-ready dicts. Nothing user-typed is evaluated: formulas go
through :meth:`Landscape.from_formula`'s whitelist parser.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.analysis.outcomes import OUTCOME_SHORT_LABELS, critical_point_kind, outcome_kind
from descentlab.errors import (
    DescentlabError,
    DimensionError,
    FormulaError,
    InvalidParameterError,
    UnknownNameError,
    normalize_name,
)
from descentlab.landscapes import CriticalPoint, Landscape, get_landscape, list_landscapes
from descentlab.limits import check_schedule_length, check_spec_integers
from descentlab.linalg import safe_eigh, symmetrize
from descentlab.web.jobs import OverTime, call_with_deadline
from descentlab.web.limits import Limits
from descentlab.web.models import (
    BasinRequest,
    LandscapeSpec,
    OptimizerChoice,
    PointRequest,
    RunRequest,
    ScheduleChoice,
)

DEFAULT_FORMULA_DOMAIN = (-3.0, 3.0, -3.0, 3.0)


class RequestError(InvalidParameterError):
    """A request that breaks a bound or a rule of the API; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message, param=field)


def _field_of(exc: DescentlabError, prefix: str, params: dict[str, Any], name_field: str) -> str:
    """The request field a library error points at, from the error's ``param`` (never its text).

    ``prefix.<param>`` when the parameter is one the request gave; ``name_field`` for an unknown
    name; else ``prefix``'s parent (the part of the request as a whole).
    """
    if isinstance(exc, UnknownNameError):
        return name_field
    if exc.param is not None and exc.param in params:
        return f"{prefix}.{exc.param}"
    return prefix.rsplit(".", 1)[0]


# ---------------------------------------------------------------------------- arrays -> JSON
def json_array(a: Any, digits: int | None = None) -> Any:
    """A numpy array as nested lists, with non-finite entries as ``None`` (JSON has no NaN)."""
    arr = np.asarray(a, dtype=float)
    if digits is not None:
        with np.errstate(all="ignore"):
            arr = np.round(arr, digits)
    finite = np.isfinite(arr)
    if finite.all():
        return arr.tolist()
    obj = arr.astype(object)
    obj[~finite] = None
    return obj.tolist()


def json_number(v: Any) -> float | None:
    """A float for JSON: ``None`` when it is not finite."""
    f = float(v)
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------- landscapes
def _check_domain(domain: list[float], limits: Limits) -> tuple[float, float, float, float]:
    if len(domain) != 4:
        raise RequestError(
            f"domain must be 4 numbers [x_lo, x_hi, y_lo, y_hi], got {len(domain)}", "domain"
        )
    x0, x1, y0, y1 = (float(v) for v in domain)
    for v in (x0, x1, y0, y1):
        if not math.isfinite(v) or abs(v) > limits.max_coordinate:
            raise RequestError(
                f"domain bounds must be finite with |value| <= {limits.max_coordinate:g}, "
                f"got {domain}",
                "domain",
            )
    if not (x0 < x1 and y0 < y1):
        raise RequestError(f"domain needs x_lo < x_hi and y_lo < y_hi, got {domain}", "domain")
    return x0, x1, y0, y1


def _spec_key(spec: LandscapeSpec) -> str:
    return json.dumps(spec.model_dump(), sort_keys=True)


@functools.lru_cache(maxsize=64)
def _build_cached(key: str, max_formula_chars: int, max_coordinate: float) -> Landscape:
    spec = LandscapeSpec.model_validate(json.loads(key))
    limits = Limits(max_formula_chars=max_formula_chars, max_coordinate=max_coordinate)
    return _build(spec, limits)


def _landscape_args(
    spec: LandscapeSpec, limits: Limits
) -> tuple[tuple[float, float, float, float] | None, dict[str, Any]]:
    """The checks on a landscape spec that allocate nothing: ``(domain, params)``.

    Run on the event loop before a request queues for a compute slot (see :func:`precheck`),
    and again by :func:`_build`.
    """
    if (spec.name is None) == (spec.formula is None):
        raise RequestError("give either a catalogue 'name' or a 'formula', not both", "landscape")
    domain = None if spec.domain is None else _check_domain(spec.domain, limits)
    if spec.formula is not None:
        if len(spec.formula) > limits.max_formula_chars:
            raise RequestError(
                f"formula is {len(spec.formula)} characters; the limit is "
                f"{limits.max_formula_chars}",
                "formula",
            )
        if not spec.formula.strip():
            raise RequestError("formula is empty; type an expression in x and y", "formula")
        if spec.params:
            raise RequestError("a formula takes no 'params'", "params")
        return domain, {}
    params = dict(spec.params)
    entry = {e.name: e for e in list_landscapes()}.get(normalize_name(str(spec.name)))
    if entry is None:
        exc = UnknownNameError("landscape", str(spec.name), [e.name for e in list_landscapes()])
        exc.field = "landscape.name"  # type: ignore[attr-defined]
        raise exc
    if entry.any_dim:
        dim = params.setdefault("dim", 2)
        if dim != 2 or isinstance(dim, bool):  # refused before building (dim may be huge)
            raise RequestError(
                f"the playground draws 2-D landscapes; got dim={dim!r}", "landscape.params.dim"
            )
    try:
        check_spec_integers(params, "landscape params")
    except DescentlabError as exc:
        raise RequestError(str(exc), f"landscape.params.{exc.param}") from None
    return domain, params


def _build(spec: LandscapeSpec, limits: Limits) -> Landscape:
    domain, params = _landscape_args(spec, limits)
    if spec.formula is not None:
        L = Landscape.from_formula(spec.formula, domain=domain or DEFAULT_FORMULA_DOMAIN, dim=2)
    else:
        name = str(spec.name)
        try:
            L = get_landscape(name, **params)
        except FormulaError:
            raise
        except UnknownNameError as exc:  # kept as it is: the detail endpoint answers 404
            exc.field = "landscape.name"  # type: ignore[attr-defined]
            raise
        except DescentlabError as exc:
            field = _field_of(exc, "landscape.params", params, "landscape.name")
            raise RequestError(str(exc), field) from None
        if domain is not None:
            L = _with_domain(L, domain)
    if L.dim != 2:
        raise DimensionError(f"the playground draws 2-D landscapes; {L.name} has dimension {L.dim}")
    if L.domain is None:
        L = _with_domain(L, DEFAULT_FORMULA_DOMAIN)
    return L


def _with_domain(L: Landscape, domain: tuple[float, float, float, float]) -> Landscape:
    """A shallow copy of ``L`` drawn over ``domain`` (its known critical points are kept)."""
    old = L.domain
    new = copy.copy(L)
    new.domain = ((domain[0], domain[1]), (domain[2], domain[3]))
    if old is not None:
        inside = all(o[0] <= n[0] and n[1] <= o[1] for o, n in zip(old, new.domain, strict=True))
        new.complete = bool(L.complete and inside)
    else:
        new.complete = False
    return new


def build_landscape(spec: LandscapeSpec, limits: Limits) -> Landscape:
    """The 2-D landscape a request names (cached by its exact spec).

    Raises:
        RequestError, UnknownNameError, FormulaError, DimensionError: for the user to fix.
    """
    if spec.formula is not None and len(spec.formula) > limits.max_formula_chars:
        _build(spec, limits)  # raises the length error without caching
    return _build_cached(_spec_key(spec), limits.max_formula_chars, limits.max_coordinate)


@functools.lru_cache(maxsize=1)
def _catalogue_cached() -> tuple[dict[str, Any], ...]:
    return tuple(_catalogue())


def catalogue_ready() -> bool:
    """Whether :func:`catalogue` is built (then it costs a copy, not a build)."""
    return _catalogue_cached.cache_info().currsize > 0


def catalogue() -> list[dict[str, Any]]:
    """Every catalogue landscape the playground can draw (2-D, or any dimension at d = 2).

    Each entry: name, summary, parameters with defaults, domain, counts of critical points by
    kind, global minimum value, formula and description. Built once per process.
    """
    return [dict(e) for e in _catalogue_cached()]


def _catalogue() -> list[dict[str, Any]]:
    out = []
    for e in list_landscapes():
        params = {k: v for k, v in e.parameters().items() if _jsonable_scalar(v)}
        if e.any_dim:
            params["dim"] = 2
        try:
            L = e.factory(**({"dim": 2} if e.any_dim else {}))
        except DescentlabError:
            continue
        if L.dim != 2:
            continue
        info = L.info()
        out.append(
            {
                "name": e.name,
                "summary": e.summary,
                "params": params,
                "domain": info["domain"],
                "counts": info["counts"],
                "global_min_value": info["global_min_value"],
                "formula": info["formula"],
                "description": info["description"],
            }
        )
    return out


def _jsonable_scalar(v: Any) -> bool:
    return isinstance(v, bool | int | float | str) and not (
        isinstance(v, float) and not math.isfinite(v)
    )


def _cp_label(c: CriticalPoint) -> str:
    """Words the page prints beside a critical point's marker (the vocabulary's short label)."""
    word = OUTCOME_SHORT_LABELS[critical_point_kind(c.kind, c.is_global)]
    return f"{word} (index {c.index})" if c.kind == "saddle" and c.dim > 2 else word


def cp_to_json(c: CriticalPoint) -> dict[str, Any]:
    """A critical point as the API sends it, with the label the page prints beside it."""
    return {
        "point": [float(v) for v in c.point],
        "value": json_number(c.value),
        "kind": c.kind,
        "index": int(c.index),
        "is_global": bool(c.is_global),
        "eigenvalues": None if c.eigenvalues is None else [json_number(e) for e in c.eigenvalues],
        "label": _cp_label(c),
    }


_cp_lock = threading.Lock()
_found_cache: dict[str, tuple[list[CriticalPoint], bool, str]] = {}


def critical_points(
    L: Landscape, spec: LandscapeSpec, limits: Limits
) -> tuple[list[CriticalPoint], str, bool, str]:
    """The critical points inside the drawn domain: ``(points, source, complete, note)``.

    Catalogue landscapes give their exact ones; formulas (or landscapes with none known) get
    them from :func:`descentlab.analysis.find_critical_points` over the domain (cached), a search
    bounded by ``limits.critical_seconds``: past it (a curve of critical points, as for
    runs out of time) the surface is drawn without them and ``note`` says so; a curve of critical
    points (``x**2`` in 2-D) is named in ``note``, not marked point by point.
    """
    (x0, x1), (y0, y1) = L.require_domain()
    known = L.critical_points
    if known is not None:
        pad = 1e-9 * max(x1 - x0, y1 - y0)
        inside = [
            c
            for c in known
            if x0 - pad <= c.point[0] <= x1 + pad and y0 - pad <= c.point[1] <= y1 + pad
        ]
        return inside, "catalogue", bool(L.complete), ""
    key = _spec_key(spec)
    with _cp_lock:
        hit = _found_cache.get(key)
    if hit is None:
        from descentlab.analysis.critical import find_critical_points

        try:
            found = call_with_deadline(
                functools.partial(find_critical_points, L, domain=L.domain, progress=False),
                limits.critical_seconds,
            )
        except OverTime:
            hit = (
                [],
                False,
                f"the critical-point search did not settle within {limits.critical_seconds:g} s "
                "(a curve of critical points?); none are marked",
            )
        else:
            points = list(found)
            note = "; ".join(getattr(found, "notes", ()))
            if getattr(found, "continuum", False):
                # a curve of critical points: mark the isolated ones, not samples of the curve
                points = [c for c in points if c.kind != "degenerate"]
                note = (
                    "a curve (or surface) of critical points runs through this domain: the "
                    "search stopped and its degenerate points are not marked"
                )
            if len(points) > limits.max_critical_points:
                note = (
                    f"{len(points)} critical points found (a curve of them?); the "
                    f"{limits.max_critical_points} lowest are marked"
                )
                points = points[: limits.max_critical_points]
            hit = (points, False, note)
        with _cp_lock:
            if len(_found_cache) > 64:
                _found_cache.clear()
            _found_cache[key] = hit
    return hit[0], "found", hit[1], hit[2]


_GRID_CHUNK = 1024


def _grid_values(
    L: Landscape, n: int, budget_seconds: float = math.inf
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, z)`` with ``z[j, i] = f(x_i, y_j)`` on the ``n x n`` grid of the domain.

    The same points as :meth:`Landscape.grid`, evaluated ``_GRID_CHUNK`` rows at a time, so a
    landscape whose evaluation holds ``B x m`` intermediates (random features) never holds more
    than ``_GRID_CHUNK x m`` of them at once; rows are independent, so the values are the same.
    The second chunk is timed: when the whole grid would take over ``budget_seconds`` (at that
    rate, on this machine now) the request is refused before the rest is computed, naming the
    largest grid that fits.
    """
    import torch

    (x0, x1), (y0, y1) = L.require_domain()
    xs = torch.linspace(x0, x1, n, dtype=L.dtype)
    ys = torch.linspace(y0, y1, n, dtype=L.dtype)
    Y, X = torch.meshgrid(ys, xs, indexing="ij")
    P = torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1)
    parts = []
    with torch.no_grad():
        parts.append(L.fn(P[:_GRID_CHUNK]))  # the first call may pay one-time costs: untimed
        t0 = time.perf_counter()
        parts.append(L.fn(P[_GRID_CHUNK : 2 * _GRID_CHUNK]))
        per_row = (time.perf_counter() - t0) / _GRID_CHUNK
        if len(P) > 2 * _GRID_CHUNK and per_row * len(P) > budget_seconds:
            fit = max(5, int(math.sqrt(budget_seconds / per_row)))
            raise RequestError(
                f"a {n} x {n} grid of {L.name} would take about {per_row * len(P):.0f} s here "
                f"(over {budget_seconds:g} s, half the wall-time bound); ask for grid <= {fit}",
                "grid",
            )
        for i in range(2 * _GRID_CHUNK, len(P), _GRID_CHUNK):
            parts.append(L.fn(P[i : i + _GRID_CHUNK]))
    z = torch.cat(parts)
    return xs.numpy(), ys.numpy(), z.reshape(n, n).numpy()


def surface(spec: LandscapeSpec, grid: int, limits: Limits) -> dict[str, Any]:
    """Grid values for the contour view, plus every critical point in the domain, labelled.

    Example:
        >>> from descentlab.web.models import LandscapeSpec
        >>> out = surface(LandscapeSpec(name="double_well"), 21, Limits())
        >>> len(out["x"]), len(out["z"]), sorted(c["label"] for c in out["critical_points"])
        (21, 21, ['global min', 'global min', 'saddle'])
    """
    if not 5 <= grid <= limits.max_grid:
        raise RequestError(f"grid must be between 5 and {limits.max_grid}, got {grid}", "grid")
    L = build_landscape(spec, limits)
    xs, ys, z = _grid_values(L, grid, limits.wall_seconds / 2)
    finite = z[np.isfinite(z)]
    cps, source, complete, note = critical_points(L, spec, limits)
    info = L.info()
    return {
        "landscape": info,
        "x": xs.tolist(),
        "y": ys.tolist(),
        "z": json_array(z),
        "z_min": json_number(finite.min()) if finite.size else None,
        "z_max": json_number(finite.max()) if finite.size else None,
        "critical_points": [cp_to_json(c) for c in cps],
        "critical_points_source": source,
        "complete": complete,
        "critical_points_note": note,
    }


def critical(spec: LandscapeSpec, limits: Limits) -> dict[str, Any]:
    """Only the critical points (for a formula: found numerically over its domain)."""
    L = build_landscape(spec, limits)
    cps, source, complete, note = critical_points(L, spec, limits)
    return {
        "critical_points": [cp_to_json(c) for c in cps],
        "critical_points_source": source,
        "complete": complete,
        "critical_points_note": note,
    }


# ---------------------------------------------------------------------------- optimizers
def optimizers_catalogue() -> list[dict[str, Any]]:
    """Every registered optimizer the lab can race, with its hyper-parameters and defaults."""
    from descentlab.optim import optimizer_info, optimizer_names

    out = []
    for name in optimizer_names():
        info = optimizer_info(name)
        defaults = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in info["defaults"].items()
            if v is None or _jsonable_scalar(v) or isinstance(v, tuple)
        }
        out.append({**info, "defaults": defaults})
    return out


def schedules_catalogue() -> list[dict[str, Any]]:
    """Every learning-rate schedule name with its parameters, as the schedule registry states.

    Empty while no schedule registry is installed (the page then offers a constant rate only).
    """
    import importlib

    try:
        schedules = importlib.import_module("descentlab.optim.schedules")
    except ModuleNotFoundError as exc:
        if exc.name != "descentlab.optim.schedules":
            raise
        return []
    from descentlab.io import to_jsonable

    return [to_jsonable(schedules.schedule_info(name)) for name in schedules.schedule_names()]


def _resolve_optimizers(choices: list[OptimizerChoice], limits: Limits) -> list[Any]:
    from descentlab.optim import resolve_optimizer

    if not choices:
        raise RequestError("pick at least one optimizer", "optimizers")
    if len(choices) > limits.max_optimizers:
        raise RequestError(
            f"{len(choices)} optimizers requested; the limit is {limits.max_optimizers}",
            "optimizers",
        )
    specs = []
    for i, c in enumerate(choices):
        hyper = {k: (tuple(v) if isinstance(v, list) else v) for k, v in c.hyper.items()}
        try:
            check_spec_integers(hyper, "hyper")
            specs.append(resolve_optimizer(c.name, **hyper))
        except DescentlabError as exc:
            field = _field_of(exc, f"optimizers[{i}].hyper", hyper, f"optimizers[{i}].name")
            raise RequestError(f"optimizers[{i}]: {exc}", field) from None
    return specs


def _check_steps(steps: int, limits: Limits) -> None:
    if not 1 <= steps <= limits.max_steps:
        raise RequestError(f"steps must be between 1 and {limits.max_steps}, got {steps}", "steps")


def _check_starts(starts: list[list[float]], limits: Limits) -> np.ndarray:
    if not starts:
        raise RequestError("give at least one start [x, y] (click the map)", "starts")
    if len(starts) > limits.max_starts:
        raise RequestError(
            f"{len(starts)} starts given; the limit is {limits.max_starts}", "starts"
        )
    arr = np.asarray(starts, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > limits.max_coordinate):
        raise RequestError(
            f"starts must be finite with |coordinate| <= {limits.max_coordinate:g}", "starts"
        )
    return arr


# ---------------------------------------------------------------------------- run and race
def _schedule_arg(choice: ScheduleChoice | None, steps: int) -> Any:
    """The engine's ``schedule`` argument, validated here at the request's boundary: a resolved
    schedule whose length fits the run (errors name ``schedule.name`` or
    ``schedule.params.<key>``)."""
    if choice is None:
        return None
    from descentlab.optim.schedules import resolve_schedule

    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in choice.params.items()}
    try:
        check_spec_integers(params, "schedule")
        spec = resolve_schedule(choice.name, **params)
        check_schedule_length(spec.name, params, steps)
    except DescentlabError as exc:
        field = _field_of(exc, "schedule.params", params, "schedule.name")
        raise RequestError(str(exc), field) from None
    return spec


def _engine_run(L: Landscape, specs: list[Any], starts: np.ndarray, steps: int, **kw: Any) -> Any:
    from descentlab.engine import run

    try:
        return run(L, list(specs), starts, steps, progress=False, **kw)
    except DescentlabError as exc:
        raise RequestError(str(exc), exc.param) from None


def _point_text(p: Any) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in p) + ")"


def outcome_to_json(o: Any) -> dict[str, Any]:
    """One :class:`~descentlab.analysis.Outcome` as the API sends it."""
    d = o.to_dict()
    cp = d.get("critical_point")
    return {
        "kind": d["kind"],
        "index": d["index"],
        "gap": d["gap"],
        "step": d["step"],
        "critical_point": None if cp is None else cp["point"],
        "saddle_visits": d["saddle_visits"],
        "text": d["text"],
    }


def _diagnose(tr: Any, L: Landscape, spec: LandscapeSpec, limits: Limits) -> Any:
    """Diagnose against the very critical points the page draws (found once per formula)."""
    from descentlab.analysis.diagnose import diagnose

    if L.critical_points is not None:
        return diagnose(tr, L)
    cps, _, _, _ = critical_points(L, spec, limits)
    return diagnose(tr, L, critical_points=cps)


def _lr_at_records(tr: Any) -> list[float | None]:
    """The learning rate of the step taken from each recorded iterate (the last step's at the
    final record); empty when no step ran."""
    lr = np.asarray(tr.lr, dtype=float)
    if lr.ndim != 2 or lr.shape[0] == 0:
        return []
    idx = np.minimum(np.asarray(tr.record_steps, dtype=int), lr.shape[0] - 1)
    return json_array(lr[idx, 0])


def run_race(req: RunRequest, limits: Limits) -> dict[str, Any]:
    """Race the requested optimizers from the same starts and diagnose every run.

    Positions, losses and gradient norms are recorded every ``ceil(steps / frames)`` steps (the
    final state is always included), so the answer stays small however many steps were run.

    Example:
        >>> req = RunRequest.model_validate({
        ...     "landscape": {"name": "double_well"},
        ...     "optimizers": [{"name": "gd", "hyper": {"lr": 0.05}}],
        ...     "starts": [[0.0, 1.0], [0.5, 1.0]], "steps": 2000})
        >>> [o["kind"] for o in run_race(req, Limits())["runs"][0]["outcomes"]]
        ['saddle', 'global_minimum']
    """
    t0 = time.perf_counter()
    L = build_landscape(req.landscape, limits)
    _check_steps(req.steps, limits)
    starts = _check_starts(req.starts, limits)
    specs = _resolve_optimizers(req.optimizers, limits)
    frames = limits.max_frames if req.frames is None else req.frames
    if not 2 <= frames <= limits.max_frames:
        raise RequestError(
            f"frames must be between 2 and {limits.max_frames}, got {frames}", "frames"
        )
    record_every = max(1, math.ceil(req.steps / frames))
    race = _engine_run(
        L,
        specs,
        starts,
        req.steps,
        schedule=_schedule_arg(req.schedule, req.steps),
        record_every=record_every,
    )
    from descentlab.viz.style import optimizer_colors

    labels = list(race.keys())
    colors = optimizer_colors(labels)
    runs = []
    for (label, tr), choice, spec in zip(race.items(), req.optimizers, specs, strict=True):
        diag = _diagnose(tr, L, req.landscape, limits)
        runs.append(
            {
                "label": choice.label or label,
                "optimizer": spec.name,
                "hyper": {
                    k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.hyper.items()
                },
                "color": colors[label],
                "record_steps": [int(s) for s in tr.record_steps],
                "positions": json_array(tr.positions),
                "losses": json_array(tr.losses),
                "grad_norms": json_array(tr.grad_norms),
                "lr": _lr_at_records(tr),
                "stop_step": [int(s) for s in tr.stop_step],
                "stop_reason": [str(s) for s in tr.stop_reason],
                "final_points": json_array(tr.final_points),
                "final_losses": json_array(tr.final_losses),
                "outcomes": [outcome_to_json(o) for o in diag],
            }
        )
    return {
        "server_ms": (time.perf_counter() - t0) * 1e3,
        "steps": req.steps,
        "starts": starts.tolist(),
        "schedule": None if req.schedule is None else req.schedule.model_dump(),
        "runs": runs,
    }


# ---------------------------------------------------------------------------- page messages
WEB_LANGS = ("en", "ko")
_I18N_DIR = Path(__file__).resolve().parents[1] / "i18n"


@functools.lru_cache(maxsize=1)
def web_messages() -> dict[str, dict[str, str]]:
    """The page's message catalogues: ``{lang: {key: text}}`` from ``i18n/<lang>/web.json``.

    Texts may hold ``{name}`` placeholders that the page fills in.
    """
    return {
        lang: json.loads((_I18N_DIR / lang / "web.json").read_text(encoding="utf-8"))
        for lang in WEB_LANGS
    }


# ---------------------------------------------------------------------------- one point
def _unit_rows(vecs: np.ndarray) -> np.ndarray:
    """Eigenvectors as rows, each signed so its largest-magnitude component is positive."""
    rows = vecs.T.copy()
    for r in rows:
        if r[np.argmax(np.abs(r))] < 0:
            r *= -1
    return rows


def point_info(req: PointRequest, limits: Limits) -> dict[str, Any]:
    """What the page explains about a point: ``f``, ``∇f``, ``∇²f`` and its eigen-decomposition.

    For each point ``p``: the value ``f(p)``, the gradient ``∇f(p)`` and the Hessian
    ``H = ∇²f(p)`` (autograd at the landscape's float64), the eigenvalues ``λ1 <= λ2`` of ``H``
    with unit eigenvectors ``v1, v2`` (``H v_k = λ_k v_k``), the local quadratic model's shape
    from the signs of ``λ`` (:func:`~descentlab.landscapes.base.classify_eigenvalues`: both
    signs make a saddle, all positive a minimum's bowl...), and the nearest critical point the
    page draws with its distance. At most ``max_starts x max_optimizers`` points per request
    (a race's current iterates).

    Example:
        >>> req = PointRequest.model_validate(
        ...     {"landscape": {"name": "double_well"}, "points": [[0.0, 0.0]]})
        >>> out = point_info(req, Limits())["points"][0]
        >>> out["shape"], out["eigenvalues"], out["nearest"]["label"]
        ('saddle', [-4.0, 2.0], 'saddle')
    """
    import torch

    from descentlab.landscapes.base import classify_eigenvalues

    L = build_landscape(req.landscape, limits)
    bound = limits.max_starts * limits.max_optimizers
    if not req.points:
        raise RequestError("give at least one point [x, y]", "points")
    if len(req.points) > bound:
        raise RequestError(f"{len(req.points)} points given; the limit is {bound}", "points")
    P = np.asarray(req.points, dtype=float)
    if not np.all(np.isfinite(P)) or np.any(np.abs(P) > limits.max_coordinate):
        raise RequestError(
            f"points must be finite with |coordinate| <= {limits.max_coordinate:g}", "points"
        )
    values, grads = L.value_and_grad(P)
    H = symmetrize(L.hessian(P))
    lam, vec, finite = safe_eigh(H)  # all points at once (closed form for 2 x 2)
    lam = torch.where(finite[:, None], lam, float("nan"))
    vec = torch.where(finite[:, None, None], vec, float("nan"))
    lam_np, vec_np, H_np = lam.numpy(), vec.numpy(), H.detach().numpy()
    g_np = grads.detach().numpy()
    cps, _, _, _ = critical_points(L, req.landscape, limits)
    nearest_k = nearest_d = None
    if cps:
        cp_xy = np.array([c.point for c in cps], dtype=float).reshape(-1, 2)
        d = np.hypot(P[:, None, 0] - cp_xy[None, :, 0], P[:, None, 1] - cp_xy[None, :, 1])
        nearest_k = d.argmin(axis=1)
        nearest_d = d[np.arange(len(P)), nearest_k]
    cp_json: dict[int, dict[str, Any]] = {}
    out = []
    for i in range(len(P)):
        if bool(finite[i]):
            rows = _unit_rows(vec_np[i])
            shape = classify_eigenvalues(lam_np[i])[0]
        else:
            rows, shape = np.full((2, 2), np.nan), "degenerate"
        nearest = None
        if nearest_k is not None:
            k = int(nearest_k[i])
            if k not in cp_json:
                cp_json[k] = cp_to_json(cps[k])
            nearest = {**cp_json[k], "distance": float(nearest_d[i])}
        out.append(
            {
                "point": P[i].tolist(),
                "value": json_number(values[i]),
                "gradient": json_array(g_np[i]),
                "grad_norm": json_number(np.linalg.norm(g_np[i])),
                "hessian": json_array(H_np[i]),
                "eigenvalues": json_array(lam_np[i]),
                "eigenvectors": json_array(rows),
                "shape": shape,
                "nearest": nearest,
            }
        )
    return {"points": out}


# ---------------------------------------------------------------------------- basin map
def basin_grid(L: Landscape, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n x n`` starts over the domain: ``(x, y, starts)``, start ``j*n + i`` at ``(x_i, y_j)``."""
    (x0, x1), (y0, y1) = L.require_domain()
    xs = np.linspace(x0, x1, n)
    ys = np.linspace(y0, y1, n)
    Y, X = np.meshgrid(ys, xs, indexing="ij")
    return xs, ys, np.stack([X.ravel(), Y.ravel()], axis=1)


def basin_map(req: BasinRequest, limits: Limits) -> dict[str, Any]:
    """Run each optimizer from an ``n x n`` grid of starts; code each start by its outcome.

    Starts that end at the same critical point share a code (so two local minima get two
    colours); diverged, still-moving and plateau runs get one code each.

    Example:
        >>> req = BasinRequest.model_validate({
        ...     "landscape": {"name": "double_well"},
        ...     "optimizers": [{"name": "gd", "hyper": {"lr": 0.05}}], "n": 5, "steps": 1000})
        >>> out = basin_map(req, Limits())["maps"][0]
        >>> sorted(e["label"] for e in out["legend"])
        ['global min (-1, 0)', 'global min (1, 0)', 'saddle (0, 0)']
    """
    t0 = time.perf_counter()
    L = build_landscape(req.landscape, limits)
    _check_steps(req.steps, limits)
    if not 5 <= req.n <= limits.max_basin_n:
        raise RequestError(f"n must be between 5 and {limits.max_basin_n}, got {req.n}", "n")
    specs = _resolve_optimizers(req.optimizers, limits)
    work = len(specs) * req.n * req.n * req.steps
    if work > limits.max_basin_work:
        raise RequestError(
            f"optimizers x n^2 x steps = {work:,} is over the basin-map bound "
            f"{limits.max_basin_work:,}; use fewer steps, a smaller n or fewer optimizers",
            "n",
        )
    xs, ys, starts = basin_grid(L, req.n)
    race = _engine_run(
        L,
        specs,
        starts,
        req.steps,
        schedule=_schedule_arg(req.schedule, req.steps),
        record_every=req.steps,
    )
    maps = []
    for (label, tr), spec in zip(race.items(), specs, strict=True):
        outcomes = list(_diagnose(tr, L, req.landscape, limits))
        codes = np.empty(len(outcomes), dtype=np.int64)
        legend: dict[tuple[str, tuple[float, ...] | None], dict[str, Any]] = {}
        for r, o in enumerate(outcomes):
            cp = getattr(o, "critical_point", None)
            pt = None
            if isinstance(cp, CriticalPoint):
                pt = tuple(round(float(v), 9) for v in cp.point)
            key = (str(o.kind), pt)
            entry = legend.get(key)
            if entry is None:
                word = outcome_kind(key[0]).short
                entry = {
                    "code": len(legend),
                    "kind": key[0],
                    "label": word if pt is None else f"{word} {_point_text(pt)}",
                    "point": None if pt is None else list(pt),
                    "count": 0,
                }
                legend[key] = entry
            entry["count"] += 1
            codes[r] = entry["code"]
        n_global = sum(e["count"] for e in legend.values() if e["kind"] == "global_minimum")
        moving = sum(e["count"] for e in legend.values() if e["kind"] == "max_steps")
        note = ""
        if moving * 4 > len(outcomes):  # a quarter or more never settled: say what to change
            note = (
                f"{100 * moving / len(outcomes):.0f}% of the starts are still moving after "
                f"{req.steps} steps; raise the steps (or the learning rate) to see where they end"
            )
        maps.append(
            {
                "label": label,
                "optimizer": spec.name,
                "hyper": {
                    k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.hyper.items()
                },
                "codes": codes.reshape(req.n, req.n).tolist(),
                "legend": sorted(legend.values(), key=lambda e: e["code"]),
                "global_fraction": n_global / len(outcomes),
                "note": note,
            }
        )
    return {
        "server_ms": (time.perf_counter() - t0) * 1e3,
        "n": req.n,
        "steps": req.steps,
        "x": xs.tolist(),
        "y": ys.tolist(),
        "maps": maps,
    }


def precheck(req: Any, limits: Limits) -> None:
    """Every check of a request that allocates nothing, run on the event loop before the request
    queues for a compute slot: a request that can only be refused is refused at once.

    The job repeats them (they are cheap); what needs the landscape built or a size measured
    (a factory's limits, the grid's cost) stays in the job.
    """
    spec = getattr(req, "landscape", None)
    if isinstance(spec, LandscapeSpec):
        _landscape_args(spec, limits)
    if isinstance(req, RunRequest | BasinRequest):
        _check_steps(req.steps, limits)
        if not req.optimizers:
            raise RequestError("pick at least one optimizer", "optimizers")
        if len(req.optimizers) > limits.max_optimizers:
            raise RequestError(
                f"{len(req.optimizers)} optimizers requested; the limit is {limits.max_optimizers}",
                "optimizers",
            )
        _schedule_arg(req.schedule, req.steps)
    if isinstance(req, RunRequest):
        _check_starts(req.starts, limits)


def warm_up() -> None:
    """Pay the one-time costs (torch.optim's first build imports torch._dynamo, ~2 s) up front.

    Runs a 2-step race and its diagnosis on the tilted double well.
    """
    from descentlab.web.models import OptimizerChoice

    req = RunRequest(
        landscape=LandscapeSpec(name="tilted_double_well"),
        optimizers=[OptimizerChoice(name="gd"), OptimizerChoice(name="adam")],
        starts=[[0.5, 0.5]],
        steps=2,
    )
    run_race(req, Limits())
