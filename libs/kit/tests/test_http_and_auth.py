import time

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from pur_kit.auth import SESSION_COOKIE, Principal, csrf_token, decode_token, mint_token, principal_dependency
from pur_kit.config import DEV_JWT_SECRET, ServiceSettings
from pur_kit.errors import ApiError
from pur_kit.http import create_app
from pur_kit.runtime import ServiceRuntime

SECRET = DEV_JWT_SECRET
USER = "2b1f5a52-9a4e-4d51-9d1e-0d8a1c3f7a10"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


def make_app(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none", rabbitmq_url="amqp://guest:guest@127.0.0.1:1/"):
    settings = ServiceSettings(database_url=database_url, rabbitmq_url=rabbitmq_url)
    runtime = ServiceRuntime(settings, "example")
    router = APIRouter()
    who = principal_dependency(lambda request: SECRET)

    @router.post("/things")
    async def create(body: Body, principal: Principal = Depends(who)):
        if body.name == "taken":
            raise ApiError(409, "conflict", "name taken")
        return {"name": body.name, "by": principal.subject}

    @router.get("/boom")
    async def boom():
        raise ValueError("input_value='rita@example.org'")

    @router.get("/whoami")
    async def whoami(principal: Principal = Depends(who)):
        return {"by": principal.subject}

    @router.get("/db")
    async def uses_db():
        async with runtime.db.acquire() as conn:
            await conn.execute("SELECT 1")

    return create_app(runtime, title="example", routers=[router])


@pytest.fixture
async def client():
    app = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_missing_forged_and_expired_tokens_are_401_with_a_json_error(client):
    body = {"name": "a", "count": 1}
    assert (await client.post("/things", json=body)).json()["error"]["code"] == "unauthorized"
    forged = jwt.encode({"sub": USER, "district_id": "d", "exp": time.time() + 60}, "x" * 40, algorithm="HS256")
    r = await client.post("/things", json=body, headers=bearer(forged))
    assert (r.status_code, r.json()["error"]["message"]) == (401, "invalid token")
    expired = mint_token(SECRET, sub=USER, district_id="d", ttl_seconds=-10)
    r = await client.post("/things", json=body, headers=bearer(expired))
    assert (r.status_code, r.json()["error"]["message"]) == (401, "token expired")
    ok = await client.post("/things", json=body, headers=bearer(mint_token(SECRET, sub=USER, district_id="d")))
    assert ok.status_code == 200 and ok.json()["by"] == USER


async def test_validation_errors_name_the_field(client):
    token = mint_token(SECRET, sub=USER, district_id="d")
    r = await client.post("/things", json={"name": "a", "count": "many"}, headers=bearer(token))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["field"] == "count"
    r = await client.post("/things", json={"name": "a", "count": 1, "extra": 1}, headers=bearer(token))
    assert r.json()["error"]["field"] == "extra"


async def test_a_body_over_64_kib_is_refused_with_422(client):
    token = mint_token(SECRET, sub=USER, district_id="d")
    r = await client.post("/things", json={"name": "x" * 70_000, "count": 1}, headers=bearer(token))
    assert r.status_code == 422
    assert "larger than 65536 bytes" in r.json()["error"]["message"]


async def test_api_errors_keep_their_status_and_code(client):
    token = mint_token(SECRET, sub=USER, district_id="d")
    r = await client.post("/things", json={"name": "taken", "count": 1}, headers=bearer(token))
    assert r.status_code == 409 and r.json() == {"error": {"code": "conflict", "message": "name taken"}}
    assert r.headers["x-correlation-id"]


async def test_an_unreachable_database_gives_503_unavailable(client):
    r = await client.get("/db")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "unavailable"


async def test_readyz_reports_unreachable_dependencies(client):
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["error"]["checks"]["database"].startswith("unavailable")
    r = await client.get("/healthz/dependencies")
    assert r.status_code == 503
    checks = r.json()["error"]["checks"]
    assert checks["database"].startswith("unavailable") and checks["broker"] == "unavailable"
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert "http_requests_total" in (await client.get("/metrics")).text


async def test_an_unhandled_error_is_a_json_500_and_its_message_is_not_logged(client, capsys):
    r = await client.get("/boom")   # the in-process transport would raise if the app re-raised it
    assert r.status_code == 500 and r.json() == {"error": {"code": "internal", "message": "internal error"}}
    out = capsys.readouterr()
    assert "ValueError" in out.out + out.err and "rita@example.org" not in out.out + out.err


def session(token: str) -> dict:
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


@pytest.mark.parametrize("content_type,body", [
    ("application/x-www-form-urlencoded", "name=a&count=1"),
    ("text/plain", '{"name": "a", "count": 1}'),
    ("application/json", '{"name": "a", "count": 1}'),
])
async def test_a_state_change_with_only_the_session_cookie_is_refused_as_csrf(client, content_type, body):
    token = mint_token(SECRET, sub=USER, district_id="d")
    r = await client.post("/things", content=body, headers={**session(token), "Content-Type": content_type})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    forged = {**session(token), "Content-Type": content_type, "X-CSRF-Token": csrf_token(SECRET, "other")}
    assert (await client.post("/things", content=body, headers=forged)).status_code == 403


async def test_the_session_cookie_works_with_its_csrf_header_or_on_safe_methods(client):
    token = mint_token(SECRET, sub=USER, district_id="d")
    headers = {**session(token), "X-CSRF-Token": csrf_token(SECRET, token)}
    r = await client.post("/things", json={"name": "a", "count": 1}, headers=headers)
    assert r.status_code == 200 and r.json()["by"] == USER
    assert (await client.get("/whoami", headers=session(token))).json() == {"by": USER}


def test_system_tokens_and_person_tokens_decode_differently():
    system = decode_token(mint_token(SECRET, sub="system", system=True), SECRET)
    assert system.is_system and system.district_id is None
    person = decode_token(mint_token(SECRET, sub=USER, district_id="springfield"), SECRET)
    assert not person.is_system and person.district_id == "springfield" and str(person.user_id) == USER


def test_production_refuses_the_development_secret():
    with pytest.raises(ValueError, match="JWT_SECRET must be set in production"):
        ServiceSettings(environment="production")
