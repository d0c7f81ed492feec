"""Event JSON generated in SQL from the contract models: the mapping must cover the model exactly,
and what PostgreSQL builds from it is a valid event."""
import pytest
from pur_contracts import DirectorySchoolUpserted, DirectoryUser, DirectoryUserDeactivated, DirectoryUserUpserted
from pur_kit.outbox_sql import EventSqlError, event_json, insert_events
from pur_kit.uow import Database

SCHOOL = {"district_id": "district_id", "version": "version", "school.id": "id",
          "school.district_id": "district_id", "school.name": "name", "school.active": "active"}
USER = {"district_id": "district_id", "version": "version", "user.id": "id", "user.district_id": "district_id",
        "user.sis_id": "sis_id", "user.role": "role", "user.given_name": "given_name",
        "user.family_name": "family_name", "user.email": "email", "user.phone": "phone", "user.sms": "sms",
        "user.school_ids": "school_ids", "user.active": "active", "user.permissions": "permissions"}


def test_every_field_of_the_model_and_of_its_nested_models_is_generated_in_order():
    sql = event_json(DirectorySchoolUpserted, {"event_id": "e", "occurred_at": "t", **SCHOOL})
    assert sql == ("json_build_object('event_id', e, 'occurred_at', t, 'district_id', district_id, "
                   "'version', version, 'school', json_build_object('id', id, 'district_id', district_id, "
                   "'name', name, 'active', active))")


def test_a_field_without_an_expression_fails_the_generation():
    fields = {k: v for k, v in SCHOOL.items() if k != "school.name"}
    with pytest.raises(EventSqlError, match="'school.name'"):
        insert_events("changed", DirectorySchoolUpserted, fields, "$2")


def test_an_expression_for_something_that_is_not_a_field_fails_the_generation():
    with pytest.raises(EventSqlError, match="school.city"):
        insert_events("changed", DirectorySchoolUpserted, {**SCHOOL, "school.city": "city"}, "$2")
    with pytest.raises(EventSqlError, match="user.permissions.district_admin"):  # inside a field mapped whole
        insert_events("changed", DirectoryUserUpserted, {**USER, "user.permissions.district_admin": "true"}, "$2")


def test_an_optional_nested_model_must_be_mapped_whole():
    fields = {k: v for k, v in USER.items() if k != "user.permissions"}
    fields["user.permissions.district_admin"] = "false"
    with pytest.raises(EventSqlError, match="'user.permissions.users_manager'"):
        insert_events("changed", DirectoryUserUpserted, fields, "$2")


def test_the_envelope_is_the_kits():
    with pytest.raises(EventSqlError, match="event_id"):
        insert_events("changed", DirectorySchoolUpserted, {**SCHOOL, "event_id": "id"}, "$2")


@pytest.fixture
async def database(db):
    database = Database(db.url, 1, consumer="kit.main")
    await database.start()
    yield database
    await database.close()


async def test_postgresql_builds_valid_events_from_the_generated_sql_choosing_the_event_per_row(database):
    async with database.acquire() as conn:
        await conn.execute("""CREATE TABLE person (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            district_id text, sis_id text, role text, given_name text, family_name text, email text, phone text,
            sms text, school_ids text[], active boolean, permissions jsonb, version int)""")
        await conn.execute("""INSERT INTO person (district_id, sis_id, role, given_name, family_name, email, phone,
            sms, school_ids, active, permissions, version) VALUES
            ('d1', 'S-1', 'student', 'Ada', 'Byron', 'ada@example.org', NULL, NULL, '{s1,s2}', true,
             '{"district_admin": false, "users_manager": {"scope": "schools", "school_ids": ["s1"]}}', 3),
            ('d1', 'S-2', 'teacher', 'Alan', 'Turing', NULL, '+15555550100', NULL, '{}', false,
             '{"district_admin": true, "users_manager": null}', 1)""")
        events = [("active", DirectoryUserUpserted), ("NOT active", DirectoryUserDeactivated)]
        written = await conn.execute(insert_events("person", events, USER, "$1"), "corr-1")
        assert written == "INSERT 0 2"
        rows = await conn.fetch("SELECT * FROM outbox_message ORDER BY event_name DESC")
        people = {r["id"]: r for r in await conn.fetch("SELECT * FROM person")}
    models = {m.event_name: m for _, m in events}
    for row in rows:
        event = models[row["event_name"]].model_validate_json(row["payload"])
        person = people[event.user.id]
        assert str(event.event_id) == row["event_id"] and row["routing_key"] == row["event_name"]
        assert row["correlation_id"] == "corr-1" and event.version == person["version"]
        assert event.user == DirectoryUser(**{k: person[k] for k in DirectoryUser.model_fields})
        assert event.occurred_at.tzinfo is not None
    assert [r["event_name"] for r in rows] == ["directory.user.upserted", "directory.user.deactivated"]
