"""Request and response models of the playground's JSON API (they make its OpenAPI schema).

Bounds that depend on the server's :class:`~descentlab.web.limits.Limits` (number of starts,
steps, grid size...) are checked in :mod:`descentlab.web.service`, so the error message can name
the bound in force; the models check only shapes and types.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = float | int | bool | str
HyperValue = float | int | bool | str | list[float]
Number = float | None  # JSON has no NaN/Infinity: non-finite values are sent as null


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LandscapeSpec(_Strict):
    """A catalogue landscape by name (with parameters), or a formula in ``x`` and ``y``."""

    name: str | None = Field(None, description="catalogue name, e.g. 'himmelblau'", max_length=64)
    params: dict[str, Scalar] = Field(default_factory=dict, description="factory parameters")
    formula: str | None = Field(
        None, description="an expression in x and y, e.g. 'x**4 - 2*x**2 + y**2'", max_length=2000
    )
    domain: list[float] | None = Field(
        None, description="plot box [x_lo, x_hi, y_lo, y_hi]; defaults to the catalogue's"
    )


class OptimizerChoice(_Strict):
    """One racer: a registered optimizer with hyper-parameters."""

    name: str = Field(..., max_length=64, examples=["momentum"])
    hyper: dict[str, HyperValue] = Field(
        default_factory=dict, examples=[{"lr": 0.01, "momentum": 0.9}]
    )
    label: str | None = Field(None, max_length=64, description="legend label (default: derived)")


class ScheduleChoice(_Strict):
    """A learning-rate schedule (``torch.optim.lr_scheduler`` by name)."""

    name: str = Field(..., max_length=64, examples=["cosine"])
    params: dict[str, HyperValue] = Field(default_factory=dict, examples=[{"T_max": 500}])


class SurfaceRequest(_Strict):
    landscape: LandscapeSpec
    grid: int = Field(120, description="grid points per axis for the contour view")


class CriticalPointOut(BaseModel):
    point: list[float]
    value: Number
    kind: str = Field(..., description="minimum | maximum | saddle | degenerate")
    index: int
    is_global: bool
    eigenvalues: list[Number] | None = None
    label: str = Field(..., description="what the page prints beside the marker")


class SurfaceResponse(BaseModel):
    landscape: dict[str, Any] = Field(..., description="Landscape.info() plus the domain used")
    x: list[float]
    y: list[float]
    z: list[list[Number]] = Field(..., description="z[j][i] = f(x[i], y[j])")
    z_min: Number
    z_max: Number
    critical_points: list[CriticalPointOut]
    critical_points_source: str = Field(..., description="'catalogue' (exact) or 'found' (numeric)")
    complete: bool
    critical_points_note: str = Field("", description="what to know about the points shown")


class CriticalRequest(_Strict):
    landscape: LandscapeSpec


class CriticalResponse(BaseModel):
    critical_points: list[CriticalPointOut]
    critical_points_source: str
    complete: bool
    critical_points_note: str = ""


class RunRequest(_Strict):
    """Race one or several optimizers from the same starts."""

    landscape: LandscapeSpec
    optimizers: list[OptimizerChoice]
    starts: list[Annotated[list[float], Field(min_length=2, max_length=2)]]
    steps: int = 500
    schedule: ScheduleChoice | None = None
    frames: int | None = Field(
        None, description="at most this many recorded frames per run (default: the server's bound)"
    )


class OutcomeOut(BaseModel):
    kind: str
    index: int | None = None
    gap: Number = None
    step: int | None = None
    critical_point: list[float] | None = None
    saddle_visits: list[dict[str, Any]] = Field(default_factory=list)
    text: str


class RunOut(BaseModel):
    label: str
    optimizer: str
    hyper: dict[str, Any]
    color: str
    record_steps: list[int]
    positions: list[list[list[Number]]] = Field(..., description="[frame][start][x, y]")
    losses: list[list[Number]] = Field(..., description="[frame][start]")
    grad_norms: list[list[Number]] = Field(..., description="[frame][start]")
    lr: list[Number] = Field(..., description="learning rate of the step from each frame")
    stop_step: list[int]
    stop_reason: list[str]
    final_points: list[list[Number]]
    final_losses: list[Number]
    outcomes: list[OutcomeOut]


class RunResponse(BaseModel):
    server_ms: float = Field(..., description="compute time on the server, milliseconds")
    steps: int
    starts: list[list[float]]
    schedule: dict[str, Any] | None
    runs: list[RunOut]


class BasinRequest(_Strict):
    """A grid of starts coloured by where each optimizer ends."""

    landscape: LandscapeSpec
    optimizers: list[OptimizerChoice]
    n: int = Field(60, description="starts per axis (n x n grid over the domain)")
    steps: int = 500
    schedule: ScheduleChoice | None = None


class BasinLegendEntry(BaseModel):
    code: int
    kind: str
    label: str
    point: list[float] | None = None
    count: int


class BasinMapOut(BaseModel):
    label: str
    optimizer: str
    hyper: dict[str, Any]
    codes: list[list[int]] = Field(
        ..., description="codes[j][i]: outcome of the start (x[i], y[j])"
    )
    legend: list[BasinLegendEntry]
    global_fraction: float
    note: str = Field("", description="advice when many starts are still moving, else empty")


class BasinResponse(BaseModel):
    server_ms: float
    n: int
    steps: int
    x: list[float]
    y: list[float]
    maps: list[BasinMapOut]


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API has this shape."""

    error: str = Field(..., description="one line a user can act on")
    field: str | None = Field(None, description="which part of the request, when known")
    position: int | None = Field(
        None, description="0-based column in the formula, for formula errors"
    )


# ---------------------------------------------------------------------------- /api/point
class PointRequest(_Strict):
    """Points to explain: value, gradient and Hessian at each, and the nearest critical point."""

    landscape: LandscapeSpec
    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(
        ..., description="[[x, y], ...]: the point under the cursor, or a run's current iterates"
    )


class NearestCriticalOut(CriticalPointOut):
    distance: float = Field(..., description="Euclidean distance from the asked point")


class PointOut(BaseModel):
    point: list[float]
    value: Number
    gradient: list[Number] = Field(..., description="∇f at the point")
    grad_norm: Number
    hessian: list[list[Number]] = Field(..., description="∇²f at the point (symmetric 2x2)")
    eigenvalues: list[Number] = Field(..., description="Hessian eigenvalues, ascending")
    eigenvectors: list[list[Number]] = Field(
        ..., description="eigenvectors[k]: unit vector for eigenvalues[k] (rows, not columns)"
    )
    shape: str = Field(
        ...,
        description="the local quadratic model's shape from the eigenvalues' signs: "
        "minimum (bowl) | maximum (dome) | saddle | degenerate (a zero eigenvalue)",
    )
    nearest: NearestCriticalOut | None = Field(
        None, description="the nearest critical point drawn on the page (None when none known)"
    )


class PointResponse(BaseModel):
    points: list[PointOut]
