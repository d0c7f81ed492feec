"""Directory commands from the API and the CLI: each is one unit of work that loads, applies a rule,
writes the change and publishes its event; and the reads every route starts with (who is calling,
may they see this user)."""
from __future__ import annotations

from uuid import UUID

from pur_contracts import UserPermissions
from pur_kit.auth import Principal
from pur_kit.uow import UnitOfWork

from ..adapters.directory_repo import Row, user_event
from ..adapters.repositories import Repositories
from ..domain.access import Viewer, can_administer, can_view
from ..domain.contact import normalize_contact_changes
from ..domain.errors import ContactManagedBySis, NotAllowed, NotFound
from ..domain.permissions import checked_permissions

SIS_OWNS_CONTACTS = ("contact details in this district are updated automatically from the SIS; "
                     "ask your school office to change them there")


async def load_viewer(repos: Repositories, principal: Principal) -> Viewer:
    """The caller as the directory knows them; the token alone grants nothing."""
    if principal.is_system:
        return Viewer.system()
    row = await repos.users.get(principal.user_id) if principal.user_id else None
    if row is None or row["district_id"] != principal.district_id:
        raise NotAllowed("you are not a user of this district's directory")
    return Viewer.from_permissions(row["id"], row["district_id"], row["active"], row["permissions"])


async def visible_user(repos: Repositories, viewer: Viewer, user_id: UUID) -> Row:
    row = await repos.users.get(user_id)
    if row is None or not can_view(viewer, row["id"], row["district_id"], row["school_ids"]):
        raise NotFound("no such user")  # same answer as a missing user: existence does not leak
    return row


async def set_permissions(uow: UnitOfWork[Repositories], principal: Principal, user_id: UUID,
                          requested: UserPermissions) -> Row:
    viewer = await load_viewer(uow.repos, principal)
    row = await uow.repos.users.get(user_id, for_update=True)
    if row is None or not can_view(viewer, row["id"], row["district_id"], row["school_ids"]):
        raise NotFound("no such user")
    if not can_administer(viewer, row["district_id"]):
        raise NotAllowed("only a district administrator can change permissions")
    permissions = checked_permissions(requested, await uow.repos.schools.active_ids(row["district_id"]))
    stored = permissions.model_dump(mode="json")
    if stored == row["permissions"]:
        return row  # idempotent: no new version, no event
    row = await uow.repos.users.set_permissions(row["id"], stored)
    uow.publish(user_event(row))
    await uow.commit()
    return row


async def grant_district_admin(uow: UnitOfWork[Repositories], district_id: str, sis_id: str) -> Row | None:
    """CLI: make the user with this SIS id a district administrator (None when unknown)."""
    row = await uow.repos.users.get_by_sis_id(district_id, sis_id, for_update=True)
    if row is None or row["permissions"].get("district_admin"):
        return row
    stored = UserPermissions.model_validate({**row["permissions"], "district_admin": True}).model_dump(mode="json")
    row = await uow.repos.users.set_permissions(row["id"], stored)
    uow.publish(user_event(row))
    await uow.commit()
    return row


async def edit_own_contact(uow: UnitOfWork[Repositories], principal: Principal,
                           changes: dict[str, str | None]) -> Row:
    if principal.is_system or principal.user_id is None:
        raise NotAllowed("only a person can edit their own contact details")
    values = normalize_contact_changes(changes)
    row = await uow.repos.users.get(principal.user_id, for_update=True)
    if row is None or row["district_id"] != principal.district_id:
        raise NotAllowed("you are not a user of this district's directory")
    if not row["active"]:
        raise NotAllowed("your directory account is inactive")
    if await uow.repos.settings.contact_auto_update(row["district_id"]):
        raise ContactManagedBySis(SIS_OWNS_CONTACTS)
    changed = {f: v for f, v in values.items() if row[f] != v}
    if not changed:
        return row
    row = await uow.repos.users.set_own_contact(row["id"], changed)
    uow.publish(user_event(row))
    await uow.commit()
    return row
