"""The kit's OpenAPI document says what an app really answers (pur_kit.openapi), and /docs is served
from the installed package under a strict CSP (pur_kit.api_docs). An example app, no broker or
database needed: the real answers it gives are checked against the document's own Error schema."""
from __future__ import annotations

from typing import Annotated
from uuid import UUID

import httpx
import jsonschema
import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from openapi_spec_validator import validate
from pydantic import BaseModel, ConfigDict
from pur_kit.auth import Principal, mint_token, principal_dependency
from pur_kit.config import DEV_JWT_SECRET, ServiceSettings
from pur_kit.errors import not_found
from pur_kit.http import create_app, install_domain_errors
from pur_kit.runtime import ServiceRuntime

Caller = Annotated[Principal, Depends(principal_dependency(lambda request: DEV_JWT_SECRET))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class Stale(Exception):
    current_version = 7


class Refused(Exception):
    pass


async def scoped_caller(caller: Caller) -> str:
    """A service's own dependency over the kit's: the token is still found, one level down."""
    return caller.subject


def make_app(title: str = "example"):
    settings = ServiceSettings(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                               rabbitmq_url="amqp://guest:guest@127.0.0.1:1/")
    runtime = ServiceRuntime(settings, "example")
    router = APIRouter(prefix="/api")

    @router.get("/things/{thing_id}", responses={403: {"description": "not yours"}})
    async def get_thing(thing_id: UUID, who: Annotated[str, Depends(scoped_caller)]):
        """One thing."""
        raise not_found("no such thing")

    @router.post("/things")
    async def create_thing(body: Body, caller: Caller):
        """Documents no refusal: the service's domain errors are listed."""
        if body.name == "stale":
            raise Stale("changed meanwhile")
        raise Refused("not today")

    @router.get("/public")
    async def public(q: str | None = None):
        """Needs no token, but the database."""
        async with runtime.db.acquire() as conn:
            await conn.execute("SELECT 1")

    @router.get("/page", response_class=HTMLResponse, responses={200: {"content": {"text/html": {}}},
                                                                 400: {"description": "a bad link"}})
    async def page(request: Request):
        """An HTML page."""
        return HTMLResponse("<p>hi</p>")

    app = create_app(runtime, title=title, routers=[router])
    install_domain_errors(app, {Stale: (412, "precondition_failed", ("current_version",)),
                                Refused: (403, "forbidden")})
    return app


@pytest.fixture
def document():
    return make_app().openapi()


def responses(document, path, method) -> dict:
    return document["paths"][path][method]["responses"]


def test_the_document_is_valid_openapi_with_one_error_schema_and_the_bearer_scheme(document):
    validate(document)
    schemas = document["components"]["schemas"]
    assert "Error" in schemas and "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer",
        "bearerFormat": "JWT"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"}, (method, path, status)


def test_routes_that_take_a_token_are_secured_and_answer_401_public_ones_are_not(document):
    for path, method in (("/api/things/{thing_id}", "get"), ("/api/things", "post")):
        assert document["paths"][path][method]["security"] == [{"bearerAuth": []}]
        assert "401" in responses(document, path, method)
    for path in ("/api/public", "/healthz", "/readyz", "/healthz/dependencies"):
        assert "security" not in document["paths"][path]["get"]
        assert "401" not in responses(document, path, "get")


def test_403_404_422_and_503_are_documented_where_they_can_happen(document):
    thing = responses(document, "/api/things/{thing_id}", "get")
    assert {"401", "403", "404", "422", "503"} <= set(thing)
    assert thing["403"]["description"] == "not yours"  # what the route says wins
    created = responses(document, "/api/things", "post")
    assert "X-CSRF-Token" in created["403"]["description"]  # an unsafe method: the cookie without its header
    assert "404" not in created  # no path id
    assert "400" in created  # FastAPI reads its body: bytes that are not UTF-8 get 400
    assert created["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert set(responses(document, "/healthz", "get")) == {"200"}  # touches no dependency
    assert set(responses(document, "/readyz", "get")) == {"200", "503"}
    assert set(responses(document, "/api/public", "get")) >= {"422", "503"}


def test_a_route_that_documents_no_refusal_gets_every_status_of_the_domain_error_table(document):
    created = responses(document, "/api/things", "post")
    assert "412" in created and "precondition_failed" in created["412"]["description"]
    assert "403" in created
    thing = responses(document, "/api/things/{thing_id}", "get")
    assert "412" not in thing  # it documents its own refusals


def test_an_html_page_documents_its_errors_as_json_or_a_page(document):
    page = responses(document, "/api/page", "get")
    assert set(page["400"]["content"]) == {"application/json", "text/html"}


async def test_the_answers_the_app_really_gives_match_the_error_schema():
    app = make_app()
    error = app.openapi()["components"]["schemas"]["Error"]
    token = mint_token(DEV_JWT_SECRET, sub="2b1f5a52-9a4e-4d51-9d1e-0d8a1c3f7a10", district_id="d1")
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answers = [
            await client.get(f"/api/things/{UUID(int=1)}"),                       # 401
            await client.get(f"/api/things/{UUID(int=1)}", headers=bearer),       # 404
            await client.get("/api/things/not-a-uuid", headers=bearer),           # 422
            await client.post("/api/things", json={"name": "x", "extra": 1}, headers=bearer),  # 422
            await client.post("/api/things", json={"name": "x"}, headers=bearer),        # 403, a rule
            await client.post("/api/things", json={"name": "stale"}, headers=bearer),    # 412
            await client.get("/api/public"),                                      # 503
            await client.post("/api/things", content=b"\x80{}", headers={**bearer, "content-type": "application/json"}),
        ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 cookies={"pur_session": token}) as browser:
        answers.append(await browser.post("/api/things", json={"name": "x"}))  # 403, no X-CSRF-Token
    assert [a.status_code for a in answers] == [401, 404, 422, 422, 403, 412, 503, 400, 403]
    for answer in answers:
        documented = app.openapi()["paths"][answer.request.url.path.replace(str(UUID(int=1)), "{thing_id}")
                                            .replace("not-a-uuid", "{thing_id}")]
        assert str(answer.status_code) in documented[answer.request.method.lower()]["responses"]
        jsonschema.validate(answer.json(), error)
    assert answers[5].json()["error"]["current_version"] == 7
    assert answers[8].json()["error"]["code"] == "csrf_failed"


async def test_docs_is_swagger_ui_from_the_installed_package_under_a_strict_csp():
    app = make_app(title="<script>alert(1)</script>")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        page = await client.get("/docs")
        start = await client.get("/docs/start.js")
        bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
        css = await client.get("/docs/assets/swagger-ui.css")
        redoc = await client.get("/redoc")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text  # escaped
    assert "<script>" not in page.text.replace("<script src=", "")  # no inline script
    assert 'src="/docs/assets/swagger-ui-bundle.js"' in page.text and 'src="/docs/start.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from another host
    assert start.headers["content-type"].startswith("text/javascript") and "SwaggerUIBundle(" in start.text
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert redoc.status_code == 404  # FastAPI's CDN page is off
