"""Each service's OpenAPI document is valid OpenAPI and keeps the promises of pur_kit.openapi.

The apps are built by their production factories; `app.openapi()` needs no broker or database.
"""
from __future__ import annotations

import importlib

import pytest
from openapi_spec_validator import validate

SERVICES = ("requests", "settings", "digest", "sis_sync")
# Operations anyone may call: the probes, and the digest's one-click unsubscribe (its token is in the URL).
PUBLIC = {("get", "/healthz"), ("get", "/readyz"), ("get", "/healthz/dependencies"),
          ("get", "/api/v1/digest/unsubscribe"), ("post", "/api/v1/digest/unsubscribe")}
NO_DEPENDENCY = {("get", "/healthz")}
ERROR = {"$ref": "#/components/schemas/Error"}


def operations(document: dict):
    for path, items in document["paths"].items():
        for method, operation in items.items():
            yield method, path, operation


@pytest.fixture(scope="module", params=SERVICES)
def document(request) -> dict:
    app = importlib.import_module(f"{request.param}_service.entrypoints.app").create_app()
    return app.openapi()


def test_the_document_is_valid_openapi(document):
    validate(document)


def test_errors_have_one_schema_and_tokens_one_scheme(document):
    components = document["components"]
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(components["schemas"])
    assert components["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert components["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert components["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"] == ERROR, (method, path, status)


def test_every_operation_but_the_public_ones_needs_a_token_and_documents_401(document):
    for method, path, operation in operations(document):
        if (method, path) in PUBLIC:
            assert "security" not in operation and "401" not in operation["responses"], (method, path)
        else:
            assert operation.get("security") == [{"bearerAuth": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


def test_403_404_422_and_503_are_documented_where_they_apply(document):
    for method, path, operation in operations(document):
        answers = operation["responses"]
        parameters = operation.get("parameters", [])
        if operation.get("security") and method not in ("get", "head"):
            assert "403" in answers, (method, path)  # at least the session cookie without X-CSRF-Token
        if any(p["in"] == "path" for p in parameters):
            assert "404" in answers, (method, path)
        if parameters or "requestBody" in operation:
            assert "422" in answers, (method, path)
        if (method, path) not in NO_DEPENDENCY:
            assert "503" in answers, (method, path)
        else:
            assert set(answers) == {"200"}


def test_every_service_serves_swagger_ui_from_its_own_origin():
    for service in SERVICES:
        app = importlib.import_module(f"{service}_service.entrypoints.app").create_app()
        paths = {getattr(route, "path", None) for route in app.routes}
        assert {"/docs", "/docs/start.js", "/docs/assets", "/openapi.json"} <= paths, service
        assert app.docs_url is None and app.redoc_url is None, "FastAPI's CDN pages are off"
