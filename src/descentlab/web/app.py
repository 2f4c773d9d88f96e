"""The playground's FastAPI application: JSON API + the static page.

Endpoints (all documented at ``/docs`` and ``/openapi.json``):

* ``GET  /api/meta`` — version, limits, optimizers (with hyper-parameter defaults), schedules,
  the figure style's colours;
* ``GET  /api/landscapes`` — the catalogue landscapes the playground can draw;
* ``GET  /api/landscapes/{name}`` — one of them with grid values and critical points;
* ``POST /api/surface`` — grid values and labelled critical points of a catalogue landscape or a
  formula (formula errors come back with their position);
* ``POST /api/critical-points`` — only the critical points;
* ``POST /api/run`` — race optimizers from the same starts, with each run's diagnosis in words;
* ``POST /api/basin`` — a basin map: a grid of starts coloured by where each optimizer ends;
* ``POST /api/point`` — value, gradient, Hessian eigenvalues and eigen-directions at points, with
  the nearest critical point (the page's explanation panel and arrows).

``/api/meta`` also carries the page's message catalogues (``messages[lang][key]``, en and ko).

Every error is JSON ``{"error": ..., "field": ..., "position": ...}`` with a 4xx status for
anything the client got wrong (400 bad values or formula, 404 unknown path name, 413 body too
large, 422 wrong shape; 503 when a request runs over the wall-time bound: its job is then
stopped, see :mod:`descentlab.web.jobs`). Compute runs in job threads, at most
``limits.max_concurrent`` at once, so the server keeps answering while it works.

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app())  # doctest: +SKIP
    >>> client.get("/api/landscapes").status_code  # doctest: +SKIP
    200
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from descentlab import __version__
from descentlab.errors import DescentlabError, FormulaError, UnknownNameError
from descentlab.web import service
from descentlab.web.jobs import Busy, ComputePool, OverTime
from descentlab.web.limits import Limits
from descentlab.web.models import (
    BasinRequest,
    BasinResponse,
    CriticalRequest,
    CriticalResponse,
    ErrorResponse,
    LandscapeSpec,
    PointRequest,
    PointResponse,
    RunRequest,
    RunResponse,
    SurfaceRequest,
    SurfaceResponse,
)

STATIC_DIR = Path(__file__).parent / "static"
T = TypeVar("T")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "a value the client must fix"},
    413: {"model": ErrorResponse, "description": "request body over the size bound"},
    422: {"model": ErrorResponse, "description": "malformed request (wrong shape or type)"},
    503: {"model": ErrorResponse, "description": "over the wall-time bound or too busy"},
}


class ApiError(Exception):
    """An answer other than 200, raised inside a handler."""

    def __init__(self, status: int, message: str, field: str | None = None):
        self.status = status
        self.message = message
        self.field = field
        super().__init__(message)


def _error(
    status: int, message: str, field: str | None = None, position: int | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    if position is not None:
        body["position"] = position
    return JSONResponse(body, status_code=status)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` (413), declared or streamed, before parsing."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body over {self.max_bytes} bytes (the limit)"
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _error(413, message)(scope, receive, send)
                    return
        # Read the whole body first (it is small by construction), then replay it: a body that
        # grows past the bound while streaming is refused before the app parses anything.
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":  # client went away
                return
            chunk = msg.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await _error(413, message)(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(msg.get("more_body", False))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str | None, int | None]:
    """One line from pydantic's error list: (status, message, field, position)."""
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            pos = e.get("loc", [None, None])[-1]
            detail = ctx.get("error", "invalid JSON")
            where = f" at position {pos}" if isinstance(pos, int) else ""
            return 400, f"malformed JSON: {detail}{where}", None, None
    if len(errors) == 1 and tuple(errors[0].get("loc", ())) == ("body",):
        return (
            422,
            "the body must be a JSON object (send it with Content-Type: application/json); "
            "see /docs for each endpoint's fields",
            "body",
            None,
        )
    parts = []
    first_field = None
    for e in errors[:3]:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        first_field = first_field or field
        if e.get("type") == "missing":
            parts.append(f"{field}: required")
        elif e.get("type") == "extra_forbidden":
            parts.append(f"{field}: unknown field")
        else:
            parts.append(f"{field}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return 422, "; ".join(parts) + more, first_field, None


def create_app(limits: Limits | None = None) -> FastAPI:
    """The playground app. ``limits`` bounds every request (defaults: :class:`Limits`())."""
    limits = limits or Limits()
    pool = ComputePool(limits.max_concurrent, limits.wall_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown()  # no job thread may outlive the server (torch aborts at exit)

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # served below from the vendored Swagger UI: no CDN
        redoc_url=None,
        title="descentlab playground",
        version=__version__,
        description="Race optimizers over non-convex landscapes and read why each run stopped.",
    )
    app.state.limits = limits
    app.state.pool = pool

    async def compute(fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a job thread: at most ``max_concurrent`` at once, within the wall time.

        Past the bound the answer is 503 and the job is stopped (see :mod:`descentlab.web.jobs`).
        """
        try:
            return await pool.run(fn, *args)
        except Busy:
            raise ApiError(
                503, f"server busy: no compute slot within {limits.wall_seconds:g} s; retry"
            ) from None
        except OverTime:
            raise ApiError(
                503,
                f"the request ran over the wall-time bound of {limits.wall_seconds:g} s and was "
                "stopped; ask for fewer steps, starts or optimizers, or a smaller grid",
            ) from None

    # ------------------------------------------------------------------ errors
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.field)

    @app.exception_handler(DescentlabError)
    async def _lab_error(request: Request, exc: DescentlabError) -> JSONResponse:
        if isinstance(exc, FormulaError):
            return _error(400, str(exc), "formula", exc.position)
        return _error(400, str(exc), getattr(exc, "field", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, msg, field, pos = _validation_message(exc)
        return _error(status, msg, field, pos)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # e.g. JSON nested deeper than the parser recurses
            return _error(400, "malformed JSON: the body could not be parsed (nested too deeply?)")
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(exc).__name__}): {exc}")

    # ------------------------------------------------------------------ page
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="descentlab playground API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    # ------------------------------------------------------------------ API
    meta_cache: dict[str, Any] = {}

    def _meta() -> dict[str, Any]:
        if not meta_cache:
            from descentlab.analysis import outcomes
            from descentlab.viz import style

            meta_cache.update(
                {
                    "version": __version__,
                    "limits": limits.to_dict(),
                    "optimizers": service.optimizers_catalogue(),
                    "schedules": service.schedules_catalogue(),
                    "style": {
                        "kinds": {
                            k: {"label": s.label, "color": s.color}
                            for k, s in style.KIND_STYLES.items()
                        },
                        "outcome_colors": dict(outcomes.OUTCOME_COLORS),
                        "outcome_labels": dict(outcomes.OUTCOME_LABELS),
                        "outcomes": outcomes.vocabulary(),
                        "optimizer_palette": list(style.OPTIMIZER_PALETTE),
                        "optimizer_colors": dict(style.FIXED_OPTIMIZER_COLORS),
                    },
                    "messages": service.web_messages(),
                }
            )
        return meta_cache

    @app.get("/api/meta", summary="Version, limits, optimizers, schedules and colours")
    async def meta() -> dict[str, Any]:
        return await compute(_meta)

    @app.get("/api/landscapes", summary="The catalogue landscapes the playground can draw")
    async def landscapes() -> list[dict[str, Any]]:
        return await compute(service.catalogue)

    @app.get(
        "/api/landscapes/{name}",
        response_model=SurfaceResponse,
        responses={404: {"model": ErrorResponse, "description": "unknown landscape"}, **_ERRORS},
        summary="A catalogue landscape at its defaults: grid values and critical points",
    )
    async def landscape_detail(name: str, grid: int = Query(120)) -> JSONResponse:
        try:
            out = await compute(service.surface, LandscapeSpec(name=name), grid, limits)
        except UnknownNameError as exc:
            return _error(404, str(exc), "name")
        return JSONResponse(out)

    @app.post(
        "/api/surface",
        response_model=SurfaceResponse,
        responses=_ERRORS,
        summary="Grid values and labelled critical points of a landscape or formula",
    )
    async def surface(req: SurfaceRequest) -> JSONResponse:
        return JSONResponse(await compute(service.surface, req.landscape, req.grid, limits))

    @app.post(
        "/api/critical-points",
        response_model=CriticalResponse,
        responses=_ERRORS,
        summary="Critical points of a landscape or formula, each with kind, index and value",
    )
    async def critical(req: CriticalRequest) -> JSONResponse:
        return JSONResponse(await compute(service.critical, req.landscape, limits))

    @app.post(
        "/api/run",
        response_model=RunResponse,
        responses=_ERRORS,
        summary="Race optimizers from the same starts; each run's diagnosis in words",
    )
    async def run(req: RunRequest) -> JSONResponse:
        return JSONResponse(await compute(service.run_race, req, limits))

    @app.post(
        "/api/basin",
        response_model=BasinResponse,
        responses=_ERRORS,
        summary="Basin map: an n x n grid of starts coloured by where each optimizer ends",
    )
    async def basin(req: BasinRequest) -> JSONResponse:
        return JSONResponse(await compute(service.basin_map, req, limits))

    # ------------------------------------------------------------------ explain a point
    @app.post(
        "/api/point",
        response_model=PointResponse,
        responses=_ERRORS,
        summary="Value, gradient, Hessian eigenvalues and eigen-directions at points, and the "
        "nearest critical point",
    )
    async def point(req: PointRequest) -> JSONResponse:
        return JSONResponse(await compute(service.point_info, req, limits))

    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    return app
