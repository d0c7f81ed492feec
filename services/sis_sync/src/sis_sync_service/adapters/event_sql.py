"""Directory events built inside PostgreSQL, so a sync of 100,000 users writes its outbox rows in
one INSERT ... SELECT instead of 100,000 pydantic round trips.

The JSON must match the contract models exactly (DirectoryUserUpserted, DirectoryUserDeactivated,
DirectorySchoolUpserted); tests/integration/test_events_and_replay.py validates what a run
publishes against them (test_event_payloads_built_in_sql_match_the_contract_and_the_api).
"""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from pur_contracts import (
    DirectorySchoolUpserted,
    DirectoryUserDeactivated,
    DirectoryUserUpserted,
    Event,
)

# A scalar subquery, so PostgreSQL formats the timestamp once per statement, not once per row.
OCCURRED_AT = """(SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))"""

USER_JSON = """json_build_object(
    'id', u.id, 'district_id', u.district_id, 'sis_id', u.sis_id, 'role', u.role,
    'given_name', u.given_name, 'family_name', u.family_name,
    'email', u.email, 'phone', u.phone, 'sms', u.sms,
    'school_ids', to_json(u.school_ids), 'active', u.active, 'permissions', u.permissions)"""

SCHOOL_JSON = """json_build_object('id', s.id, 'district_id', s.district_id, 'name', s.name, 'active', s.active)"""


def user_events_insert(source: str, correlation_param: str) -> str:
    """INSERT into the outbox one user event per row of `source` (rows shaped like directory_user).

    The event is `directory.user.deactivated` for an inactive user, `directory.user.upserted` otherwise;
    both carry the full snapshot and the user's version. (`OFFSET 0` keeps the subquery from being
    flattened, so each row's event id is generated once.)
    """
    return f"""
INSERT INTO outbox_message (event_id, event_name, routing_key, payload, correlation_id)
SELECT u.eid::text, u.event_name, u.event_name,
       json_build_object('event_id', u.eid, 'occurred_at', {OCCURRED_AT}, 'district_id', u.district_id,
                         'version', u.version, 'user', {USER_JSON})::text,
       {correlation_param}
FROM (SELECT gen_random_uuid() AS eid,
             CASE WHEN src.active THEN '{DirectoryUserUpserted.event_name}'
                  ELSE '{DirectoryUserDeactivated.event_name}' END AS event_name,
             src.*
      FROM {source} src OFFSET 0) u"""


def school_events_insert(source: str, correlation_param: str) -> str:
    """INSERT into the outbox one `directory.school.upserted` per row of `source` (shaped like school)."""
    name = DirectorySchoolUpserted.event_name
    return f"""
INSERT INTO outbox_message (event_id, event_name, routing_key, payload, correlation_id)
SELECT s.eid::text, '{name}', '{name}',
       json_build_object('event_id', s.eid, 'occurred_at', {OCCURRED_AT}, 'district_id', s.district_id,
                         'version', s.version, 'school', {SCHOOL_JSON})::text,
       {correlation_param}
FROM (SELECT gen_random_uuid() AS eid, src.* FROM {source} src OFFSET 0) s"""


async def add_events_asyncpg(conn: asyncpg.Connection, events: Sequence[Event], correlation_id: str | None) -> None:
    """pur_kit.outbox.add_events for a raw asyncpg connection (the import pipeline's)."""
    await conn.executemany(
        "INSERT INTO outbox_message (event_id, event_name, routing_key, payload, correlation_id) "
        "VALUES ($1, $2, $2, $3, $4)",
        [(str(e.event_id), e.event_name, e.model_dump_json(), correlation_id) for e in events],
    )
