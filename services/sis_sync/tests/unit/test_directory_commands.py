"""The directory's commands (behind PUT permissions, PATCH me/contact and the CLI's grant-admin) on
in-memory repositories: what changes, which event is published, what is refused."""
from __future__ import annotations

from uuid import uuid4

import pytest
from pur_contracts import DirectoryUserDeactivated, DirectoryUserUpserted, UserPermissions, UsersManagerScope
from pur_kit.auth import Principal
from sis_sync_service.domain.errors import ContactManagedBySis, InvalidValue, NotAllowed, NotFound
from sis_sync_service.service_layer import directory

from .fakes import unit_of_work

SYSTEM = Principal(subject="system", district_id=None, is_system=True, token="")


def person(row: dict) -> Principal:
    return Principal(subject=str(row["id"]), district_id=row["district_id"], is_system=False, token="")


def manager_of(*school_ids: str) -> UserPermissions:
    return UserPermissions(users_manager=UsersManagerScope(scope="schools", school_ids=list(school_ids)))


@pytest.fixture
def uow():
    uow = unit_of_work()
    uow.repos.schools.add("springfield", "s1")
    uow.repos.schools.add("springfield", "s2")
    return uow


async def test_an_administrator_changes_permissions_and_the_new_version_is_published(uow):
    admin = uow.repos.users.add(sis_id="T-1", role="teacher", permissions={"district_admin": True, "users_manager": None})
    target = uow.repos.users.add(sis_id="S-1")
    async with uow:
        row = await directory.set_permissions(uow, person(admin), target["id"], manager_of("s2", "s1"))
    assert row["version"] == 2
    assert row["permissions"] == {"district_admin": False, "users_manager": {"scope": "schools", "school_ids": ["s1", "s2"]}}
    [event] = uow.published
    assert isinstance(event, DirectoryUserUpserted) and event.version == 2
    assert event.user.permissions.users_manager.school_ids == ["s1", "s2"]


async def test_the_same_permissions_again_change_nothing_and_publish_nothing(uow):
    target = uow.repos.users.add()
    async with uow:
        row = await directory.set_permissions(uow, SYSTEM, target["id"], UserPermissions())
    assert row["version"] == 1 and uow.published == [] and uow.commits == 0


async def test_permissions_are_refused_to_non_administrators_and_for_unknown_schools(uow):
    teacher = uow.repos.users.add(sis_id="T-1", role="teacher", permissions={"district_admin": False, "users_manager": {"scope": "district", "school_ids": []}})
    target = uow.repos.users.add(sis_id="S-1")
    async with uow:
        with pytest.raises(NotAllowed):
            await directory.set_permissions(uow, person(teacher), target["id"], UserPermissions(district_admin=True))
    async with uow:
        with pytest.raises(InvalidValue) as refused:
            await directory.set_permissions(uow, SYSTEM, target["id"], manager_of("s9"))
    assert refused.value.field == "users_manager.school_ids"
    assert uow.published == []


async def test_a_user_out_of_scope_looks_exactly_like_a_missing_one(uow):
    someone = uow.repos.users.add(sis_id="S-1")
    other = uow.repos.users.add(sis_id="S-2", school_ids=["s2"])
    async with uow:
        with pytest.raises(NotFound):
            await directory.set_permissions(uow, person(someone), other["id"], UserPermissions())
    async with uow:
        with pytest.raises(NotFound):
            await directory.visible_user(uow.repos, await directory.load_viewer(uow.repos, person(someone)), other["id"])


async def test_a_token_for_a_user_the_directory_does_not_know_grants_nothing(uow):
    stranger = Principal(subject=str(uuid4()), district_id="springfield", is_system=False, token="")
    with pytest.raises(NotAllowed):
        await directory.load_viewer(uow.repos, stranger)


async def test_contact_edits_are_refused_while_the_sis_owns_contact_details(uow):
    me = uow.repos.users.add()
    async with uow:
        with pytest.raises(ContactManagedBySis):
            await directory.edit_own_contact(uow, person(me), {"email": "me@example.org"})
    assert uow.published == []


async def test_a_contact_edit_stores_the_normalised_value_marks_it_and_publishes_the_user(uow):
    me = uow.repos.users.add()
    await uow.repos.settings.save_if_newer("springfield", 1, False)
    async with uow:
        row = await directory.edit_own_contact(uow, person(me), {"phone": "+1 (555) 555-0123", "email": "ada@example.org"})
    assert row["phone"] == "+15555550123" and row["phone_self_edited"] and not row["email_self_edited"]
    assert row["version"] == 2
    [event] = uow.published
    assert event.user.phone == "+15555550123"


async def test_an_edit_that_changes_nothing_publishes_nothing_and_inactive_users_cannot_edit(uow):
    me = uow.repos.users.add()
    gone = uow.repos.users.add(sis_id="S-9", active=False)
    await uow.repos.settings.save_if_newer("springfield", 1, False)
    async with uow:
        row = await directory.edit_own_contact(uow, person(me), {"email": "ada@example.org"})
    assert row["version"] == 1 and uow.published == []
    async with uow:
        with pytest.raises(NotAllowed):
            await directory.edit_own_contact(uow, person(gone), {"email": "x@example.org"})
    with pytest.raises(NotAllowed):
        await directory.edit_own_contact(uow, SYSTEM, {"email": "x@example.org"})


async def test_granting_district_admin_by_sis_id_publishes_once(uow):
    user = uow.repos.users.add(sis_id="T-1", active=False)
    async with uow:
        row = await directory.grant_district_admin(uow, "springfield", "T-1")
    async with uow:
        again = await directory.grant_district_admin(uow, "springfield", "T-1")
    async with uow:
        assert await directory.grant_district_admin(uow, "springfield", "nobody") is None
    assert row["permissions"]["district_admin"] and again["version"] == row["version"] == 2
    [event] = uow.published
    assert isinstance(event, DirectoryUserDeactivated) and event.user.id == user["id"]  # inactive users stay so
