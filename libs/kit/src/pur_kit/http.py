"""FastAPI application plumbing: JSON errors, 503 on unavailable dependencies, body limit,
correlation ids, one access log line without query strings, `/healthz`, `/readyz`, `/metrics`,
and the API's documentation: `/openapi.json` (openapi.py) and `/docs` (api_docs.py)."""
from __future__ import annotations

import inspect
import re
import time
import traceback
from collections.abc import Mapping, Sequence

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from aiormq.exceptions import AMQPError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .api_docs import install_docs
from .cursor import BadCursor
from .errors import ApiError, error_body
from .failures import describe, is_unavailable
from .logging import correlation_id_var, get_logger, new_correlation_id
from .openapi import install_openapi, touches_no_dependency
from .runtime import ServiceRuntime

log = get_logger("pur.http")

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 412: "precondition_failed",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    428: "precondition_required", 503: "unavailable",
}
_CID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _field_of(loc: tuple, kind: str = "") -> str:
    if kind == "json_invalid":  # the location is a character offset into the body
        return "body"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[-1] if loc else "body")


def server_error_response(exc: Exception) -> JSONResponse:
    """503 `unavailable` when a dependency cannot be reached or used, else 500 `internal`."""
    if is_unavailable(exc):
        log.warning("dependency_unavailable", error=describe(exc))
        return JSONResponse(error_body("unavailable", "a dependency is unavailable, retry shortly"),
                            status_code=503, headers={"Retry-After": "2"})
    # The message may quote request data (personal values), so only its type and place are logged.
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    log.error("internal_error", error=type(exc).__name__,
              where=f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else None)
    return JSONResponse(error_body("internal", "internal error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return JSONResponse(error_body(exc.code, exc.message, **exc.extra), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        code = STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        fields = [{"field": _field_of(tuple(e["loc"]), e.get("type", "")), "message": e["msg"]}
                  for e in exc.errors()]
        first = fields[0] if fields else {"field": "body", "message": "invalid"}
        return JSONResponse(
            error_body("validation_error", f"{first['field']}: {first['message']}",
                       field=first["field"], fields=fields),
            status_code=422,
        )

    install_domain_errors(app, {BadCursor: (422, "validation_error", ("field",))})

    async def _server_error(_: Request, exc: Exception):
        return server_error_response(exc)

    # One handler decides 503 or 500 for every error that is not the caller's (failures.is_unavailable).
    # Registered for the driver and SQLAlchemy bases too, so they are caught inside the routing layer
    # (with the request's context) and not only by Starlette's outermost ServerErrorMiddleware.
    for exc_type in (OSError, SQLAlchemyError, asyncpg.PostgresError,
                     asyncpg.exceptions.InterfaceError, AMQPError, Exception):
        app.add_exception_handler(exc_type, _server_error)


DomainErrorTable = Mapping[type[Exception], tuple[int, str] | tuple[int, str, tuple[str, ...]]]


def install_domain_errors(app: FastAPI, table: DomainErrorTable) -> None:
    """One handler per class of `table`, `{Error: (status, code)}` or `{Error: (status, code, attrs)}`:
    the answer is `{"error": {"code", "message": str(exc), attr: exc.attr...}}` with that status.

    Domain errors know nothing of HTTP; each service's table is the one place that does. Handlers
    match by class hierarchy (most specific first), on routed and direct routes alike. An error
    with a `retry_after` attribute (seconds: "this instance cannot take it now, retry") is also
    answered with that `Retry-After` header.
    """
    for cls, answer in table.items():
        app.add_exception_handler(cls, _domain_error_handler(*answer))


def _domain_error_handler(status: int, code: str, attrs: tuple[str, ...] = ()):
    if isinstance(attrs, str):
        raise TypeError(f"{code}: name the attributes as a tuple, e.g. ({attrs!r},)")

    async def handler(_: Request, exc: Exception) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", None)
        return JSONResponse(error_body(code, str(exc), **{a: getattr(exc, a) for a in attrs}), status_code=status,
                            headers=None if retry_after is None else {"Retry-After": str(retry_after)})

    handler.__pur_domain_error__ = (status, code)  # read by openapi.py to document the refusals
    return handler


class RequestContextMiddleware:
    """Pure ASGI (cheap): correlation id, body size limit, metrics and the access log line.

    Every body is limited to `max_body_bytes` (streaming: nothing beyond it is read), except on
    the routes of `larger_bodies`, `(method, path pattern, limit)` (an upload of a roster file).
    """

    def __init__(self, app, max_body_bytes: int,
                 larger_bodies: Sequence[tuple[str, re.Pattern[str], int]] = ()) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.larger_bodies = tuple(larger_bodies)

    def _limit(self, scope) -> int:
        for method, path, limit in self.larger_bodies:
            if scope["method"] == method and path.match(scope["path"]):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_body_bytes = self._limit(scope) if self.larger_bodies else self.max_body_bytes
        headers = dict(scope["headers"])
        cid = headers.get(b"x-correlation-id", b"").decode("latin-1")
        if not _CID_OK.match(cid):
            cid = new_correlation_id()
        token = correlation_id_var.set(cid)
        started = time.perf_counter()
        status_holder = [500]

        response_started = [False]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                response_started[0] = True
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlation-id", cid.encode())]
            await send(message)

        try:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > max_body_bytes:
                await _send_json(send_wrapper, 422, error_body(
                    "validation_error", f"body: larger than {max_body_bytes} bytes", field="body"))
                return
            received = 0

            async def limited_receive():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > max_body_bytes:
                        raise _BodyTooLarge
                return message

            try:
                await self.app(scope, limited_receive, send_wrapper)
            except _BodyTooLarge:
                await _send_json(send_wrapper, 422, error_body(
                    "validation_error", f"body: larger than {max_body_bytes} bytes", field="body"))
            except Exception as exc:
                # Answered here rather than re-raised to Starlette's ServerErrorMiddleware, which
                # re-raises to the server: uvicorn would log the traceback, whose messages can
                # quote request data (a pydantic error's input value, say).
                if not response_started[0]:
                    await server_error_response(exc)(scope, receive, send_wrapper)
                else:
                    server_error_response(exc)  # logged; the response is already on its way
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(scope["method"], path, status_holder[0]).inc()
            HTTP_LATENCY.labels(scope["method"], path).observe(elapsed)
            log.info("http_request", method=scope["method"], route=path, status=status_holder[0],
                     ms=round(elapsed * 1000, 2))
            correlation_id_var.reset(token)


class _BodyTooLarge(Exception):
    pass


class DirectRoutes:
    """Pure ASGI shortcut for a service's busiest routes, inside RequestContextMiddleware.

    A listed `(method, path)` is served by calling its FastAPI endpoint directly with a Starlette
    `Request`, skipping Starlette's exception middleware, FastAPI's exit stack, the router's
    linear match and the request/response wrappers: on the submission route those took about a
    fifth of the process's CPU (py-spy during `bench/bench_requests.py`). Errors get the app's
    registered exception handlers, as on the routed path; anything unhandled goes on to
    ServerErrorMiddleware (500). The route stays registered, so OpenAPI, other methods and other
    paths are unchanged. Only endpoints taking just the `Request` and returning a `Response`
    qualify: `create_app` checks that at start-up.
    """

    def __init__(self, app, routes: dict[tuple[str, str], APIRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope, receive, send):
        route = self.routes.get((scope.get("method"), scope.get("path"))) if scope["type"] == "http" else None
        if route is None:
            return await self.app(scope, receive, send)
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)


def _handler_for(handlers: dict, exc: Exception):
    for cls in type(exc).__mro__:
        if cls in handlers and cls is not Exception:
            return handlers[cls]
    return None


def direct_routes(app: FastAPI, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], APIRoute]:
    """The APIRoutes behind `wanted`, checked to be callable with only a Request."""
    found: dict[tuple[str, str], APIRoute] = {}
    for method, path in wanted:
        route = next((c.original_route for c in iter_route_contexts(app.routes)
                      if isinstance(c.original_route, APIRoute) and c.path == path and method in (c.methods or ())),
                     None)
        if route is None:
            raise RuntimeError(f"direct route {method} {path}: no such route")
        params = list(inspect.signature(route.endpoint).parameters.values())
        if len(params) != 1 or params[0].annotation not in (Request, "Request"):
            raise RuntimeError(f"direct route {method} {path}: the endpoint must take only the Request")
        found[(method, path)] = route
    return found


async def _send_json(send, status: int, body: dict) -> None:
    import json

    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    @touches_no_dependency
    async def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "Not ready: `checks` names what is not ok"}})
    async def readyz():
        """This instance can serve its HTTP traffic: its database answers and it has started."""
        checks = await runtime.readiness()
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks}
        return JSONResponse(
            error_body("unavailable", "not ready: " + ", ".join(k for k, v in checks.items() if v != "ok"),
                       checks=checks),
            status_code=503,
        )

    @router.get("/healthz/dependencies",
                responses={503: {"description": "Degraded: `checks` names the dependencies that are down"}})
    async def dependencies():
        """Every dependency (database, broker, outbox relay): 503 naming those that are down."""
        checks = await runtime.dependencies()
        if all(v == "ok" for v in checks.values()):
            return {"status": "ok", "checks": checks}
        return JSONResponse(
            error_body("unavailable", "degraded: " + ", ".join(k for k, v in checks.items() if v != "ok"),
                       checks=checks),
            status_code=503,
        )

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_app(runtime: ServiceRuntime, *, title: str, routers: list[APIRouter], description: str = "",
               direct: list[tuple[str, str]] = (), max_body_bytes: int | None = None,
               larger_bodies: Sequence[tuple[str, str, int]] = ()) -> FastAPI:
    """The service's app; `direct` lists hot `(method, path)` routes served by `DirectRoutes`.

    Bodies are limited to `max_body_bytes` (default: the settings' `max_body_bytes`), except on the
    routes of `larger_bodies`, `(method, path regex, limit)`."""
    # FastAPI's native OpenTelemetry stays off: we export Prometheus metrics and JSON logs, and its
    # per-request provider lookups showed up in the submission path's profile.
    # FastAPI's /docs and /redoc load their viewers from a CDN: both off, api_docs serves /docs offline.
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=runtime.lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False}, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    install_error_handlers(app)
    install_openapi(app)
    install_docs(app)
    app.include_router(health_router(runtime))
    for router in routers:
        app.include_router(router)
    if direct:
        app.add_middleware(DirectRoutes, routes=direct_routes(app, list(direct)))
    app.add_middleware(RequestContextMiddleware, max_body_bytes=max_body_bytes or runtime.settings.max_body_bytes,
                       larger_bodies=[(method, re.compile(path), limit) for method, path, limit in larger_bodies])
    return app
