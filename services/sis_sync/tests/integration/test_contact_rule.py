"""The contact-ownership rule as the import applies it: its one definition, the SQL expression
`roster_apply.contact_value`, evaluated by PostgreSQL case by case."""
from __future__ import annotations

import asyncpg
import pytest
from pur_kit.db import asyncpg_dsn
from sis_sync_service.adapters.roster_apply import contact_value

RULE = f"SELECT {contact_value('$1::boolean', '$2::text', '$3::text', '$4::boolean')}"

# (auto update, SIS value, directory value, edited by its owner) -> the field's new value
CASES = {
    "the SIS wins while auto update is on, even over a self-edit": ((True, "sis@x.org", "mine@x.org", True), "sis@x.org"),
    "while it is off, a self-edit is kept": ((False, "sis@x.org", "mine@x.org", True), "mine@x.org"),
    "while it is off, the directory's value is kept": ((False, "sis@x.org", "old@x.org", False), "old@x.org"),
    "an empty field never edited is filled from the SIS": ((False, "sis@x.org", None, False), "sis@x.org"),
    "a field its owner cleared stays empty": ((False, "sis@x.org", None, True), None),
    "auto update clears what the SIS does not have": ((True, None, "old@x.org", False), None),
}


@pytest.fixture(scope="module")
async def conn(module_database):
    conn = await asyncpg.connect(asyncpg_dsn(module_database))
    yield conn
    await conn.close()


@pytest.mark.parametrize("case", CASES)
async def test_contact_fields_follow_the_sis_only_while_auto_update_is_on_and_fill_what_was_never_set(conn, case):
    arguments, expected = CASES[case]
    assert await conn.fetchval(RULE, *arguments) == expected
