"""Opaque keyset cursors: a round trip for every value type, and a 422 naming `cursor` for anything forged."""
import base64
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from uuid import UUID

import httpx
import pytest
from fastapi import APIRouter
from pur_kit import cursor
from pur_kit.config import ServiceSettings
from pur_kit.http import create_app
from pur_kit.runtime import ServiceRuntime

TYPES = (datetime, UUID, str, date, int)
POSITION = (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5))), uuid.uuid4(),
            "Ünïcødé \u202e name", date(2026, 2, 28), -(2**63))


def forged(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def test_a_position_round_trips_through_an_url_safe_token():
    token = cursor.encode(POSITION)
    assert cursor.decode(token, TYPES) == POSITION
    assert token.isascii() and not set(token) - set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("token", [
    "", "!!", "YWJj", "garbage!", "\x00", "é", "A" * 5, "[" * 5000,
    forged([]), forged({"a": 1}), forged(["2026-01-01T00:00:00+00:00", str(uuid.uuid4())]),
    forged(["2026-01-01T00:00:00", str(uuid.uuid4()), "x", "2026-01-01", 1]),        # no zone
    forged(["2026-01-01T00:00:00Z", "not-a-uuid", "x", "2026-01-01", 1]),
    forged(["2026-01-01T00:00:00Z", str(uuid.uuid4()), "a\x00b", "2026-01-01", 1]),  # NUL in text
    forged(["2026-01-01T00:00:00Z", str(uuid.uuid4()), "\ud800", "2026-01-01", 1]),  # lone surrogate
    forged(["2026-01-01T00:00:00Z", str(uuid.uuid4()), 7, "2026-01-01", 1]),
    forged(["2026-01-01T00:00:00Z", str(uuid.uuid4()), "x", "2026-02-30", 1]),
    forged(["2026-01-01T00:00:00Z", str(uuid.uuid4()), "x", "2026-01-01", 2**63]),   # beyond bigint
    forged(["2026-01-01T00:00:00Z", str(uuid.uuid4()), "x", "2026-01-01", True]),
    forged(["2026-01-01T00:00:00Z", str(uuid.uuid4()), "x", "2026-01-01", 1.5]),
])
def test_anything_encode_could_not_have_written_is_a_bad_cursor(token):
    with pytest.raises(cursor.BadCursor):
        cursor.decode(token, TYPES)


def test_encode_refuses_values_a_cursor_cannot_hold():
    with pytest.raises(ValueError, match="zone"):
        cursor.encode((datetime(2026, 1, 1),))
    with pytest.raises(TypeError):
        cursor.encode((1.5,))
    with pytest.raises(TypeError):
        cursor.decode(cursor.encode((1,)), (float,))


async def test_a_bad_cursor_raised_by_a_route_is_a_422_naming_the_cursor():
    settings = ServiceSettings(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                               rabbitmq_url="amqp://guest:guest@127.0.0.1:1/")
    router = APIRouter()

    @router.get("/items")
    async def items(cursor_token: str):
        return {"after": [str(v) for v in cursor.decode(cursor_token, (str, UUID))]}

    app = create_app(ServiceRuntime(settings, "example"), title="example", routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ok = await client.get("/items", params={"cursor_token": cursor.encode(("a", POSITION[1]))})
        assert ok.status_code == 200
        r = await client.get("/items", params={"cursor_token": forged(["a\x00", str(POSITION[1])])})
    assert (r.status_code, r.json()) == (422, {"error": {
        "code": "validation_error", "message": "cursor: not a cursor from this list", "field": "cursor"}})
