"""The OpenAPI document of every service, made to say what the service really answers.

FastAPI documents a route's success and, when it has parameters, a 422 with its own
`HTTPValidationError` body. Our services answer every error with pur_kit.errors' body and refuse
more than validation, so `install_openapi` post-processes the document once, from the routes:

- a route whose dependencies yield a `Principal` (or that documents a 401 itself: a route parsing
  its own inputs, see DirectRoutes) needs a token: `security: bearerAuth` and 401; on an unsafe
  method also 403, which the session cookie without its X-CSRF-Token header gets (auth.py);
- a path parameter names something that may not exist (or is not the caller's to see): 404;
- parameters or a body: 422 (the body limit answers 422 too, see RequestContextMiddleware); a
  body FastAPI reads: 400 too (it answers 400 to bytes that are not UTF-8, or a malformed form);
- every route but those marked `@touches_no_dependency` may answer 503 (server_error_response);
- a route that documents none of its refusals (no 4xx/5xx in `responses=`) gets every status of
  the service's domain-error table (install_domain_errors): too many rather than one missing. A
  route documents its own to be exact.

Every documented 4xx/5xx then uses the one `Error` component; a route whose success is an HTML
page may answer its errors as a page too, so there they are documented as either. What a route
documents itself (description, example, a non-JSON content) wins over these defaults.
"""
from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from .auth import Principal

BEARER = "bearerAuth"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every error answer: a stable `code` for programs, a `message` for people.",
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "additionalProperties": True,  # a domain error may add an attribute (see install_domain_errors)
        "properties": {
            "code": {"type": "string", "description": "e.g. validation_error, not_found, unavailable"},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "422: the first invalid field, e.g. changes.email"},
            "fields": {"type": "array", "description": "422: every invalid field",
                       "items": {"type": "object", "required": ["field", "message"],
                                 "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
            "current_version": {"type": "integer", "description": "412: the version that is current"},
            "checks": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "readiness: each dependency's state"},
        },
    }},
}

BEARER_SCHEME = {
    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    "description": "An HS256 token of a person (`sub` = directory user id, `district_id`) or of the "
                   "system (`pur-token system`). Browsers send the session cookie instead.",
}

DESCRIPTIONS = {
    400: "The body could not be read: not UTF-8, or a malformed form",
    401: "Missing, expired or forged bearer token",
    403: "Refused: the caller may not do this",
    404: "No such resource, or one the caller may not see (the same answer, so existence does not leak)",
    409: "Conflicts with the current state",
    412: "If-Match names a version that is no longer current",
    413: "The body is too large",
    415: "Unsupported Content-Type",
    422: "Invalid input: `field` names the first invalid one, `fields` lists them all",
    503: "A dependency (database or broker) is unavailable: retry after Retry-After seconds",
}
CSRF_REFUSAL = "; also a session cookie sent without its X-CSRF-Token header"
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def touches_no_dependency(endpoint: Callable) -> Callable:
    """Marks a route that answers without the database or the broker: no 503 is documented."""
    endpoint.__pur_no_dependency__ = True
    return endpoint


def install_openapi(app: FastAPI) -> None:
    """Serve the refined document at `app.openapi_url` (built once, at the first request for it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            try:
                refine(document, app)
            except BaseException:
                app.openapi_schema = None
                raise
        return app.openapi_schema

    app.openapi = openapi


def refine(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """Apply the rules of this module's docstring to `document` (in place) and return it."""
    domain = domain_error_codes(app)
    for path, method, route, responses in _operations(app):
        operation = document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            continue
        authenticated = needs_token(route.dependant, responses)
        documented = operation.setdefault("responses", {})
        for status, description in statuses(route, method, operation, responses, domain).items():
            documented.setdefault(str(status), {"description": description})
        if documented.get("422", {}).get("description") == "Validation Error":  # FastAPI's default
            documented["422"]["description"] = DESCRIPTIONS[422]
        refusal = documented.get("403")
        if authenticated and method not in SAFE_METHODS and CSRF_REFUSAL not in refusal["description"]:
            refusal["description"] += CSRF_REFUSAL  # a route's own 403 text says why it refuses
        if authenticated:
            operation["security"] = [{BEARER: []}]
        page = _is_page(documented)
        for status, response in documented.items():
            if _is_error(status):
                _use_error_schema(status, response, page)
        operation["responses"] = dict(sorted(documented.items()))
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})[BEARER] = BEARER_SCHEME
    _drop_unreferenced(document, ("HTTPValidationError", "ValidationError"))
    return document


def statuses(route: RouteContext, method: str, operation: dict, responses: dict[int, dict],
             domain: dict[int, list[str]]) -> dict[int, str]:
    """The error statuses the rules add to one operation, with their default descriptions."""
    added: dict[int, str] = {}
    authenticated = needs_token(route.dependant, responses)
    if authenticated:
        added[401] = DESCRIPTIONS[401]
        if method not in SAFE_METHODS:
            added[403] = DESCRIPTIONS[403] + CSRF_REFUSAL
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "path" for p in parameters):
        added[404] = DESCRIPTIONS[404]
    if parameters or "requestBody" in operation:
        added[422] = DESCRIPTIONS[422]
    if getattr(route, "body_field", None) is not None:
        added[400] = DESCRIPTIONS[400]
    if getattr(route.endpoint, "__pur_no_dependency__", False):
        return added
    added[503] = DESCRIPTIONS[503]
    if not any(status >= 400 for status in responses):
        for status, codes in domain.items():
            described = DESCRIPTIONS.get(status, "Refused by a rule of this service")
            added.setdefault(status, f"{described} (code: {', '.join(codes)})")
    return added


def needs_token(dependant: Dependant, responses: dict[int, dict]) -> bool:
    """The route checks a bearer token: a dependency (at any depth) yields a Principal, or the
    route documents a 401 itself."""
    return 401 in responses or any(_yields_principal(d.call) for d in _dependencies(dependant))


def domain_error_codes(app: FastAPI) -> dict[int, list[str]]:
    """`{status: [code, ...]}` of the domain errors installed on `app` (install_domain_errors)."""
    codes: dict[int, list[str]] = {}
    for handler in app.exception_handlers.values():
        answer = getattr(handler, "__pur_domain_error__", None)
        if answer is not None and answer[1] not in codes.setdefault(answer[0], []):
            codes[answer[0]].append(answer[1])
    return dict(sorted(codes.items()))


def _operations(app: FastAPI) -> Iterator[tuple[str, str, RouteContext, dict[int, dict]]]:
    """`(path, method, route, its own responses by status)` of every operation in the document."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        responses = {int(status): value for status, value in (context.responses or {}).items()
                     if str(status).isdigit()}
        for method in sorted(context.methods or ()):
            yield context.path_format, method, context, responses


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _yields_principal(call: Callable | None) -> bool:
    if call is None:
        return False
    try:
        returns = inspect.signature(call, eval_str=True).return_annotation
    except (NameError, AttributeError, SyntaxError, TypeError, ValueError):  # an annotation that does not resolve
        returns = inspect.signature(call).return_annotation
        return returns in ("Principal", "pur_kit.auth.Principal")
    return isinstance(returns, type) and issubclass(returns, Principal)


def _is_error(status: str) -> bool:
    return status[:1] in ("4", "5")


def _is_page(responses: dict[str, dict]) -> bool:
    """Its success is documented as an HTML page only."""
    success = [r.get("content", {}) for status, r in responses.items() if status.startswith("2")]
    return bool(success) and all(list(content) == ["text/html"] for content in success)


def _use_error_schema(status: str, response: dict, page: bool) -> None:
    content = response.setdefault("content", {})
    media = content.setdefault("application/json", {})
    media["schema"] = ERROR_REF
    for other in [t for t in content if t != "application/json"]:
        if not other.startswith("text/"):  # FastAPI's default media type of a Response class, say
            del content[other]
    if page:
        content.setdefault("text/html", {})
    if status == "503":
        response.setdefault("headers", {}).update(RETRY_AFTER)


def _drop_unreferenced(document: dict[str, Any], names: tuple[str, ...]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    for name in names:
        schema = schemas.pop(name, None)
        if schema is not None and f'"#/components/schemas/{name}"' in json.dumps(document):
            schemas[name] = schema  # a service's own model of that name, still in use
