"""Set-based application of a staged roster to the directory (PostgreSQL does the diff).

The import pipeline COPYs the parsed rows into temporary tables (`stage_school`, `stage_user`,
`stage_rejected`, `stage_rejected_org`), then, inside one transaction: `plan_users` joins the staged users with the
district's directory once, keeping only new, changed and inactive matches in `stage_diff`, and
counts what the run would do; the apply functions then write only what differs. Each writing statement also writes the outbox
rows of exactly the rows it changed (event_sql.py). The rules are those of domain/sync_rules.py; the
contact-ownership rule is applied only here, as SQL (`contact_value`).
"""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from .event_sql import school_events_insert, user_events_insert

STAGE_USER_COLUMNS = ("sis_id", "role", "given_name", "family_name", "email", "phone", "sms",
                      "school_ids", "agent_sis_ids", "active")
STAGE_SCHOOL_COLUMNS = ("id", "name", "active")
_USER_COLUMNS = """sis_id text NOT NULL, role text NOT NULL, given_name text NOT NULL, family_name text NOT NULL,
    email text, phone text, sms text, school_ids text[] NOT NULL, agent_sis_ids text[] NOT NULL, active boolean NOT NULL"""

DROP_STAGING = "DROP TABLE IF EXISTS stage_user, stage_school, stage_rejected, stage_rejected_org, stage_diff"
CREATE_STAGING = (
    DROP_STAGING,
    "CREATE TEMP TABLE stage_school (id text PRIMARY KEY, name text NOT NULL, active boolean NOT NULL)",
    f"CREATE TEMP TABLE stage_user ({_USER_COLUMNS})",
    # sourcedIds of rejected rows (when known): present in the export, so never "missing".
    "CREATE TEMP TABLE stage_rejected (sis_id text NOT NULL)",
    "CREATE TEMP TABLE stage_rejected_org (id text NOT NULL)",
    f"""CREATE TEMP TABLE stage_diff ({_USER_COLUMNS},
        user_id uuid, was_active boolean, changed boolean NOT NULL)""",
)



def contact_value(auto_update: str, sis_value: str, current: str, self_edited: str) -> str:
    """Who owns a contact field (email, phone, sms) of an existing user: the one definition of the
    rule, as the SQL expression of the field's new value (arguments are SQL expressions).

    The SIS value while the district's `contact_details_auto_update` is on; while it is off, the
    directory's value, except that a field empty in the directory and never edited by its owner is
    filled from the SIS (the SIS just learnt it), and a field its owner cleared stays empty.
    tests/integration/test_contact_rule.py runs its case table through PostgreSQL.
    """
    return (f"CASE WHEN {auto_update} OR ({current} IS NULL AND NOT {self_edited}) "
            f"THEN {sis_value} ELSE {current} END")


# A contact field's new value for an existing user `u` from staged row `st` ($2 = auto update).
EMAIL, PHONE, SMS = (contact_value("$2", f"st.{f}", f"u.{f}", f"u.{f}_self_edited") for f in ("email", "phone", "sms"))
_CHANGED = f"""(u.role, u.given_name, u.family_name, u.school_ids, u.agent_sis_ids, u.active, u.email, u.phone, u.sms)
    IS DISTINCT FROM
    (st.role, st.given_name, st.family_name, st.school_ids, st.agent_sis_ids, st.active, {EMAIL}, {PHONE}, {SMS})"""

# Only rows that matter are kept: new users, changed ones, and matches of inactive users (so that
# "active users present in the export" can be counted without a second join).
_CLASSIFY = f"""
INSERT INTO stage_diff
SELECT st.*, u.id, u.active, u.id IS NOT NULL AND {_CHANGED}
FROM stage_user st
LEFT JOIN directory_user u ON u.district_id = $1::text AND u.sis_id = st.sis_id
WHERE u.id IS NULL OR NOT u.active OR {_CHANGED}
"""

_SUMMARY = """
SELECT
  count(*) FILTER (WHERE user_id IS NULL AND active) AS new,
  count(*) FILTER (WHERE user_id IS NULL) AS unmatched,
  count(*) FILTER (WHERE changed) AS changed,
  count(*) FILTER (WHERE was_active AND NOT active) AS marked,
  count(*) FILTER (WHERE user_id IS NOT NULL AND NOT was_active) AS matched_inactive,
  (SELECT count(*) FROM directory_user WHERE district_id = $1::text AND active) AS active_users,
  (SELECT count(*) FROM directory_user u JOIN stage_rejected r ON r.sis_id = u.sis_id
    WHERE u.district_id = $1::text AND u.active
      AND NOT EXISTS (SELECT 1 FROM stage_user st WHERE st.sis_id = u.sis_id)) AS rejected_active
FROM stage_diff
"""

_UPSERT_SCHOOLS = f"""
WITH changed AS (
  INSERT INTO school AS s (district_id, id, name, active, version, updated_at)
  SELECT $1::text, st.id, st.name, st.active, 1, now() FROM stage_school st
  WHERE st.active OR EXISTS (SELECT 1 FROM school x WHERE x.district_id = $1::text AND x.id = st.id)
  ON CONFLICT (district_id, id) DO UPDATE
    SET name = EXCLUDED.name, active = EXCLUDED.active, version = s.version + 1, updated_at = now()
    WHERE (s.name, s.active) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.active)
  RETURNING s.*
), events AS ({school_events_insert("changed", "$2")} RETURNING 1)
SELECT count(*) FROM changed
"""

_DEACTIVATE_MISSING_SCHOOLS = f"""
WITH changed AS (
  UPDATE school s SET active = false, version = s.version + 1, updated_at = now()
  WHERE s.district_id = $1::text AND s.active AND NOT EXISTS (SELECT 1 FROM stage_school st WHERE st.id = s.id)
    AND NOT EXISTS (SELECT 1 FROM stage_rejected_org r WHERE r.id = s.id)
  RETURNING s.*
), events AS ({school_events_insert("changed", "$2")} RETURNING 1)
SELECT count(*) FROM changed
"""

_INSERT_NEW_USERS = f"""
WITH changed AS (
  INSERT INTO directory_user (district_id, sis_id, role, given_name, family_name, email, phone, sms,
                              school_ids, agent_sis_ids, active)
  SELECT $1::text, d.sis_id, d.role, d.given_name, d.family_name, d.email, d.phone, d.sms,
         d.school_ids, d.agent_sis_ids, true
  FROM stage_diff d WHERE d.user_id IS NULL AND d.active
  ON CONFLICT (district_id, sis_id) DO NOTHING
  RETURNING *
), events AS ({user_events_insert("changed", "$2")} RETURNING 1)
SELECT count(*) FROM changed
"""

# Contact values are recomputed against the live row, so a self-edit committed meanwhile is kept.
_UPDATE_CHANGED_USERS = f"""
WITH changed AS (
  UPDATE directory_user u SET
    role = st.role, given_name = st.given_name, family_name = st.family_name,
    email = {EMAIL}, phone = {PHONE}, sms = {SMS},
    school_ids = st.school_ids, agent_sis_ids = st.agent_sis_ids, active = st.active,
    version = u.version + 1, updated_at = now()
  FROM stage_diff st
  WHERE st.changed AND u.id = st.user_id AND u.district_id = $1::text AND {_CHANGED}
  RETURNING u.*
), events AS ({user_events_insert("changed", "$3")} RETURNING 1)
SELECT count(*) FROM changed
"""

_DEACTIVATE_MISSING_USERS = f"""
WITH changed AS (
  UPDATE directory_user u SET active = false, version = u.version + 1, updated_at = now()
  WHERE u.district_id = $1::text AND u.active
    AND NOT EXISTS (SELECT 1 FROM stage_user st WHERE st.sis_id = u.sis_id)
    AND NOT EXISTS (SELECT 1 FROM stage_rejected r WHERE r.sis_id = u.sis_id)
  RETURNING u.*
), events AS ({user_events_insert("changed", "$2")} RETURNING 1)
SELECT count(*) FROM changed
"""


@dataclass(frozen=True)
class Plan:
    """What applying the staged users would do to the district (computed before anything is written)."""

    new: int
    changed: int       # existing users with any difference (includes deactivation by status)
    marked: int        # active users whose row says tobedeleted
    missing: int       # active users absent from a bulk users.csv
    active_users: int

    @property
    def deactivations(self) -> int:
        return self.marked + self.missing


@dataclass(frozen=True)
class UserChanges:
    created: int
    changed: int
    deactivated_missing: int


async def create_staging(conn: asyncpg.Connection) -> None:
    for statement in CREATE_STAGING:
        await conn.execute(statement)


async def drop_staging(conn: asyncpg.Connection) -> None:
    """Free the staging tables (held in memory) before the connection goes back to its pool."""
    await conn.execute(DROP_STAGING)


async def lock_district(conn: asyncpg.Connection, district_id: str, name: str | None) -> None:
    """Serialise applies of one district (on top of the one-active-run index) and name it."""
    await conn.execute(
        "INSERT INTO district (id, name) VALUES ($1::text, coalesce($2::text, $1::text)) ON CONFLICT (id) DO NOTHING",
        district_id, name)
    await conn.execute("SELECT 1 FROM district WHERE id = $1 FOR UPDATE", district_id)
    if name:
        await conn.execute("UPDATE district SET name = $2 WHERE id = $1 AND name IS DISTINCT FROM $2", district_id, name)


async def plan_users(conn: asyncpg.Connection, district_id: str, *, staged: int, bulk: bool,
                     auto_update: bool) -> Plan:
    """One join of the `staged` users with the directory; everything else reads its (small) result."""
    await conn.execute(_CLASSIFY, district_id, auto_update)
    row = await conn.fetchrow(_SUMMARY, district_id)
    present_active = staged - row["unmatched"] - row["matched_inactive"]
    missing = row["active_users"] - present_active - row["rejected_active"] if bulk else 0
    return Plan(row["new"], row["changed"], row["marked"], missing, row["active_users"])


async def apply_schools(conn: asyncpg.Connection, district_id: str, *, bulk: bool, correlation_id: str | None) -> int:
    changed = await conn.fetchval(_UPSERT_SCHOOLS, district_id, correlation_id)
    if bulk:
        changed += await conn.fetchval(_DEACTIVATE_MISSING_SCHOOLS, district_id, correlation_id)
    return changed


async def apply_users(conn: asyncpg.Connection, district_id: str, plan: Plan, *, auto_update: bool,
                      correlation_id: str | None) -> UserChanges:
    """Write the plan; statements with nothing to do are skipped (an unchanged roster writes nothing)."""
    created = await conn.fetchval(_INSERT_NEW_USERS, district_id, correlation_id) if plan.new else 0
    changed = (await conn.fetchval(_UPDATE_CHANGED_USERS, district_id, auto_update, correlation_id)
               if plan.changed else 0)
    missing = await conn.fetchval(_DEACTIVATE_MISSING_USERS, district_id, correlation_id) if plan.missing else 0
    return UserChanges(created, changed, missing)
