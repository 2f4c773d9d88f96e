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
anything the client got wrong (400 bad values, formula or encoding, 404 unknown path name, 408
body not sent in time, 413 body too large, 422 wrong shape); the field comes from the error's
``param`` (see :mod:`descentlab.errors`), never from its wording. 503 is either "busy" (no
compute slot within the queue time; with ``Retry-After``, the request never ran) or "over time"
(it ran past the wall-time bound and its job was stopped, see :mod:`descentlab.web.jobs`). A bug
is a 500 with an id (logged with its traceback) on a connection that stays open. Sizes are
checked against :mod:`descentlab.limits` before anything is allocated. Compute runs in job
threads, at most ``limits.max_concurrent`` at once; the page's metadata and catalogue have a
light lane of their own, so the page loads while heavy requests compute.

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app())  # doctest: +SKIP
    >>> client.get("/api/landscapes").status_code  # doctest: +SKIP
    200
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from descentlab import __version__
from descentlab import limits as size_limits
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
_log = logging.getLogger("descentlab.web")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "a value the client must fix"},
    413: {"model": ErrorResponse, "description": "request body over the size bound"},
    422: {"model": ErrorResponse, "description": "malformed request (wrong shape or type)"},
    503: {"model": ErrorResponse, "description": "over the wall-time bound or too busy"},
}


class ApiError(Exception):
    """An answer other than 200, raised inside a handler."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        retry_after: int | None = None,
    ):
        self.status = status
        self.message = message
        self.field = field
        self.retry_after = retry_after
        super().__init__(message)


def _error(
    status: int, message: str, field: str | None = None, position: int | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": _one_line(message)}
    if field is not None:
        body["field"] = field
    if position is not None:
        body["position"] = position
    return JSONResponse(body, status_code=status)


def _one_line(text: str) -> str:
    """A message on one line: line breaks a client put in its input are shown escaped."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


_CLOSE = [(b"connection", b"close")]


def _error_bytes(
    status: int, message: str, field: str | None = None, **extra: Any
) -> tuple[int, bytes]:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return status, json.dumps(body).encode()


async def _send_json(
    send: Send,
    status: int,
    payload: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class RequestBodyMiddleware:
    """Read every request body in full, within a size bound and a time bound, before the app.

    * Over ``max_bytes`` (declared or streamed): 413. A body up to ``max_drain_bytes`` is read
      to its end and thrown away first, so the client (which is still sending) sees the 413 on
      a healthy connection instead of a reset; beyond that the 413 is sent with
      ``Connection: close``.
    * Not all there within ``seconds`` (a client that declares ``Content-Length: 1000`` and
      sends less, or trickles bytes): 408 with ``Connection: close``; the connection is freed.
    * A POST body that is not UTF-8 (JSON must be): 400 naming the first bad byte.

    The app then reads the body from memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_drain_bytes: int, seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_drain_bytes = max_drain_bytes
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body over {self.max_bytes} bytes (the limit)"
        declared: int | None = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = None
        if declared is not None and declared > self.max_drain_bytes:
            await _send_json(send, *_error_bytes(413, too_big, "body"), headers=_CLOSE)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            left = deadline - asyncio.get_running_loop().time()
            try:
                msg = await asyncio.wait_for(receive(), timeout=max(left, 0.0))
            except TimeoutError:
                shown = f" of the {declared} declared" if declared is not None else ""
                await _send_json(
                    send,
                    *_error_bytes(
                        408,
                        f"request body not received within {self.seconds:g} s "
                        f"({received} bytes{shown} arrived)",
                        "body",
                    ),
                    headers=_CLOSE,
                )
                return
            if msg["type"] != "http.request":  # client went away
                return
            chunk = msg.get("body", b"")
            received += len(chunk)
            more = bool(msg.get("more_body", False))
            if received > self.max_drain_bytes:
                await _send_json(send, *_error_bytes(413, too_big, "body"), headers=_CLOSE)
                return
            if received <= self.max_bytes:
                chunks.append(chunk)
        if received > self.max_bytes:  # drained to the end: the connection stays usable
            await _send_json(send, *_error_bytes(413, too_big, "body"))
            return
        body = b"".join(chunks)
        if body and scope.get("method") == "POST":
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                await _send_json(
                    send,
                    *_error_bytes(
                        400,
                        f"the body is not valid UTF-8 (byte {exc.start}: {exc.reason}); "
                        "send JSON encoded as UTF-8",
                        "body",
                    ),
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class CatchAllMiddleware:
    """Any exception a request raises becomes a logged 500 with an id; the connection lives.

    The answer is ``{"error": "internal error (id ...)", "id": ...}``; the traceback goes to the
    ``descentlab.web`` logger under the same id. Nothing is re-raised, so the server neither
    prints the exception twice nor closes a keep-alive connection that is still healthy.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            error_id = uuid.uuid4().hex[:12]
            _log.error(
                "internal error %s in %s %s",
                error_id,
                scope.get("method"),
                scope.get("path"),
                exc_info=exc,
            )
            if started:  # nothing more can be said on this response
                return
            await _send_json(
                send,
                *_error_bytes(
                    500,
                    f"internal error (id {error_id}); the server logged it: please report it "
                    "with the request that caused it",
                    id=error_id,
                ),
            )


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
        loc = [
            str(p) if str(p).isprintable() else json.dumps(str(p))
            for p in e.get("loc", ())
            if p != "body"
        ]
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
    pool = ComputePool(limits.max_concurrent, limits.wall_seconds, limits.queue_seconds)
    # the light lane: what the page needs to load, never queued behind heavy compute
    light = ComputePool(limits.light_concurrent, limits.light_seconds, limits.light_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown()  # no job thread may outlive the server (torch aborts at exit)
        light.shutdown()

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

    async def compute(fn: Callable[..., T], *args: Any, lane: ComputePool = pool) -> T:
        """``fn(*args)`` in a job thread of ``lane`` (the compute slots, or the light lane).

        No free slot within the queue time: 503 "busy" with ``Retry-After`` (the job never ran).
        Still computing at the wall-time bound: 503 "over time", and the job is stopped (see
        :mod:`descentlab.web.jobs`).
        """
        try:
            return await lane.run(fn, *args)
        except Busy:
            retry = max(1, math.ceil(lane.wall_seconds / 4))
            raise ApiError(
                503,
                f"server busy: no compute slot became free within {lane.queue_seconds:g} s "
                f"(at most {limits.max_concurrent} requests compute at once); retry in {retry} s",
                retry_after=retry,
            ) from None
        except OverTime:
            raise ApiError(
                503,
                f"the request ran over the wall-time bound of {lane.wall_seconds:g} s and was "
                "stopped; ask for fewer steps, starts or optimizers, or a smaller grid",
            ) from None

    # ------------------------------------------------------------------ errors
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        resp = _error(exc.status, exc.message, exc.field)
        if exc.retry_after is not None:
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.exception_handler(DescentlabError)
    async def _lab_error(request: Request, exc: DescentlabError) -> JSONResponse:
        if isinstance(exc, FormulaError):
            return _error(400, str(exc), "formula", exc.position)
        field = getattr(exc, "field", None) or exc.param
        return _error(400, str(exc), field)

    @app.exception_handler(ValidationError)
    async def _model_error(request: Request, exc: ValidationError) -> JSONResponse:
        # a model built inside a handler (e.g. from a path parameter)
        e = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in e.get("loc", ())) or None
        return _error(422, f"{field or 'request'}: {e.get('msg', 'invalid')}", field)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, msg, field, pos = _validation_message(exc)
        return _error(status, msg, field, pos)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            cause = exc.__cause__
            if isinstance(cause, RecursionError):
                msg = "malformed JSON: nested too deeply to parse"
            elif isinstance(cause, UnicodeError):
                msg = f"the body is not valid UTF-8 ({cause}); send JSON encoded as UTF-8"
            else:
                msg = f"malformed JSON: the body could not be parsed ({type(cause).__name__})"
            return _error(400, msg, "body")
        return _error(exc.status_code, str(exc.detail))

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
                    "size_limits": size_limits.table(),
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
    async def meta() -> JSONResponse:
        if meta_cache:  # built once: answered on the loop, no thread hop
            return JSONResponse(meta_cache)
        return JSONResponse(await compute(_meta, lane=light))

    @app.get("/api/landscapes", summary="The catalogue landscapes the playground can draw")
    async def landscapes() -> JSONResponse:
        if service.catalogue_ready():  # built once: answered on the loop, no thread hop
            return JSONResponse(service.catalogue())
        return JSONResponse(await compute(service.catalogue, lane=light))

    @app.get(
        "/api/landscapes/{name}",
        response_model=SurfaceResponse,
        responses={404: {"model": ErrorResponse, "description": "unknown landscape"}, **_ERRORS},
        summary="A catalogue landscape at its defaults: grid values and critical points",
    )
    async def landscape_detail(name: str, grid: int = Query(120)) -> JSONResponse:
        try:
            out = await compute(service.surface, LandscapeSpec(name=name), grid, limits, lane=light)
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
        service.precheck(req, limits)
        return JSONResponse(await compute(service.surface, req.landscape, req.grid, limits))

    @app.post(
        "/api/critical-points",
        response_model=CriticalResponse,
        responses=_ERRORS,
        summary="Critical points of a landscape or formula, each with kind, index and value",
    )
    async def critical(req: CriticalRequest) -> JSONResponse:
        service.precheck(req, limits)
        return JSONResponse(await compute(service.critical, req.landscape, limits))

    @app.post(
        "/api/run",
        response_model=RunResponse,
        responses=_ERRORS,
        summary="Race optimizers from the same starts; each run's diagnosis in words",
    )
    async def run(req: RunRequest) -> JSONResponse:
        service.precheck(req, limits)
        return JSONResponse(await compute(service.run_race, req, limits))

    @app.post(
        "/api/basin",
        response_model=BasinResponse,
        responses=_ERRORS,
        summary="Basin map: an n x n grid of starts coloured by where each optimizer ends",
    )
    async def basin(req: BasinRequest) -> JSONResponse:
        service.precheck(req, limits)
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
        service.precheck(req, limits)
        return JSONResponse(await compute(service.point_info, req, limits))

    app.add_middleware(
        RequestBodyMiddleware,
        max_bytes=limits.max_body_bytes,
        max_drain_bytes=max(limits.max_drain_bytes, limits.max_body_bytes),
        seconds=limits.body_seconds,
    )
    app.add_middleware(CatchAllMiddleware)  # outermost: wraps everything else
    return app
