"""A route served by DirectRoutes answers exactly as the same endpoint does through FastAPI's router."""
import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY
from pur_kit.config import ServiceSettings
from pur_kit.errors import ApiError
from pur_kit.http import create_app, install_domain_errors
from pur_kit.runtime import ServiceRuntime


class Refused(Exception):
    """A domain error, answered through the service's table as services do."""


class RefusedLater(Refused):
    """A subclass without an entry of its own: its parent's answer."""


class BadValue(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Busy(Exception):
    """This instance cannot take it now: answered with the Retry-After it carries."""

    retry_after = 7


def make_app(direct=(("POST", "/direct"),)):
    settings = ServiceSettings(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                               rabbitmq_url="amqp://guest:guest@127.0.0.1:1/")
    runtime = ServiceRuntime(settings, "example")
    router = APIRouter()

    async def endpoint(request: Request):
        body = await request.json()
        what = body.get("do")
        if what == "api_error":
            raise ApiError(409, "conflict", "name taken")
        if what == "refused":
            raise Refused("not now")
        if what == "refused_later":
            raise RefusedLater("not yet")
        if what == "bad_value":
            raise BadValue("name", "too long")
        if what == "busy":
            raise Busy("full")
        if what == "invalid":
            raise RequestValidationError([{"loc": ("body", "do"), "msg": "not a thing", "type": "value_error"}])
        if what == "database":
            async with runtime.db.acquire() as conn:
                await conn.execute("SELECT 1")
        if what == "bug":
            raise ZeroDivisionError
        return JSONResponse({"echo": body, "correlation": request.headers.get("x-correlation-id")}, status_code=201)

    router.post("/direct")(endpoint)
    router.post("/routed")(endpoint)
    app = create_app(runtime, title="example", routers=[router], direct=list(direct))
    install_domain_errors(app, {Refused: (403, "refused"), BadValue: (422, "validation_error", ("field",)),
                                Busy: (503, "unavailable")})
    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.mark.parametrize(("body", "status"), [
    ({"do": "echo", "name": "<b>x</b>"}, 201), ({"do": "api_error"}, 409), ({"do": "refused"}, 403),
    ({"do": "invalid"}, 422), ({"do": "database"}, 503), ({"do": "bug"}, 500),
    ({"do": "echo", "big": "x" * 70_000}, 422), ({"do": "refused_later"}, 403), ({"do": "bad_value"}, 422),
])
async def test_a_direct_route_answers_like_the_routed_endpoint(client, body, status):
    headers = {"X-Correlation-ID": "corr-1"}
    direct = await client.post("/direct", json=body, headers=headers)
    routed = await client.post("/routed", json=body, headers=headers)
    assert direct.status_code == routed.status_code == status
    assert direct.json() == routed.json()
    if status != 500:  # a 500 is written by ServerErrorMiddleware, outside the correlation middleware
        assert direct.headers["x-correlation-id"] == routed.headers["x-correlation-id"] == "corr-1"


@pytest.mark.parametrize("path", ["/direct", "/routed"])
async def test_domain_errors_are_answered_from_the_table_with_their_message_and_attributes(client, path):
    r = await client.post(path, json={"do": "bad_value"})
    assert (r.status_code, r.json()) == (422, {"error": {"code": "validation_error", "message": "name: too long",
                                                         "field": "name"}})
    r = await client.post(path, json={"do": "refused_later"})
    assert (r.status_code, r.json()) == (403, {"error": {"code": "refused", "message": "not yet"}})
    assert "retry-after" not in r.headers
    r = await client.post(path, json={"do": "busy"})
    assert (r.status_code, r.json(), r.headers["retry-after"]) == (503, {"error": {"code": "unavailable",
                                                                                   "message": "full"}}, "7")


async def test_other_methods_and_paths_still_go_through_the_router(client):
    assert (await client.get("/direct")).status_code == 405
    assert (await client.post("/direct/")).status_code in (307, 404)
    assert "/direct" in (await client.get("/openapi.json")).json()["paths"]


async def test_direct_requests_are_counted_under_their_route(client):
    def count() -> float:
        return REGISTRY.get_sample_value("http_requests_total",
                                         {"method": "POST", "route": "/direct", "status": "201"}) or 0.0
    before = count()
    await client.post("/direct", json={"do": "echo"})
    assert count() == before + 1


def test_only_endpoints_taking_just_the_request_can_be_direct():
    with pytest.raises(RuntimeError, match="no such route"):
        make_app(direct=[("POST", "/nowhere")])
    with pytest.raises(RuntimeError, match="no such route"):
        make_app(direct=[("PUT", "/direct")])
    router = APIRouter()

    @router.post("/typed")
    async def typed(name: str):
        return {}

    settings = ServiceSettings(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                               rabbitmq_url="amqp://guest:guest@127.0.0.1:1/")
    with pytest.raises(RuntimeError, match="only the Request"):
        create_app(ServiceRuntime(settings, "example"), title="x", routers=[router], direct=[("POST", "/typed")])
