"""Directory commands from the API and CLI: each is one transaction that loads, applies a rule,
writes the change and its event to the outbox."""
from __future__ import annotations

from uuid import UUID

from pur_contracts import UserPermissions
from pur_kit.auth import Principal
from pur_kit.outbox import add_event
from sqlalchemy import func
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..adapters import directory_repo as repo
from ..adapters.orm import OUTBOX
from ..domain.access import Viewer, can_administer, can_view
from ..domain.contact import CONTACT_FIELDS, normalize_contact_changes
from ..domain.errors import ContactManagedBySis, NotAllowed, NotFound
from ..domain.permissions import checked_permissions

SIS_OWNS_CONTACTS = ("contact details in this district are updated automatically from the SIS; "
                     "ask your school office to change them there")


async def load_viewer(session: AsyncSession, principal: Principal) -> Viewer:
    """The caller as the directory knows them; the token alone grants nothing."""
    if principal.is_system:
        return Viewer.system()
    row = await repo.get_user(session, principal.user_id) if principal.user_id else None
    if row is None or row.district_id != principal.district_id:
        raise NotAllowed("you are not a user of this district's directory")
    return Viewer.from_permissions(row.id, row.district_id, row.active, row.permissions)


async def visible_user(session: AsyncSession, viewer: Viewer, user_id: UUID) -> Row:
    row = await repo.get_user(session, user_id)
    if row is None or not can_view(viewer, row.id, row.district_id, row.school_ids):
        raise NotFound("no such user")  # same answer as a missing user: existence does not leak
    return row


async def set_permissions(sessions: async_sessionmaker, principal: Principal, user_id: UUID,
                          requested: UserPermissions) -> Row:
    async with sessions.begin() as session:
        viewer = await load_viewer(session, principal)
        row = await repo.get_user(session, user_id, for_update=True)
        if row is None or not can_view(viewer, row.id, row.district_id, row.school_ids):
            raise NotFound("no such user")
        if not can_administer(viewer, row.district_id):
            raise NotAllowed("only a district administrator can change permissions")
        permissions = checked_permissions(requested, await repo.district_school_ids(session, row.district_id))
        stored = permissions.model_dump(mode="json")
        if stored == row.permissions:
            return row  # idempotent: no new version, no event
        row = await repo.update_user(session, row.id, {"permissions": stored})
        await add_event(session, OUTBOX, repo.user_event(row))
        return row


async def grant_district_admin(sessions: async_sessionmaker, district_id: str, sis_id: str) -> Row | None:
    """CLI: make the user with this SIS id a district administrator (None when unknown)."""
    async with sessions.begin() as session:
        row = await repo.get_user_by_sis_id(session, district_id, sis_id, for_update=True)
        if row is None or row.permissions.get("district_admin"):
            return row
        permissions = {**row.permissions, "district_admin": True}
        stored = UserPermissions.model_validate(permissions).model_dump(mode="json")
        row = await repo.update_user(session, row.id, {"permissions": stored})
        await add_event(session, OUTBOX, repo.user_event(row))
        return row


async def edit_own_contact(sessions: async_sessionmaker, principal: Principal, changes: dict[str, str | None]) -> Row:
    if principal.is_system or principal.user_id is None:
        raise NotAllowed("only a person can edit their own contact details")
    values = normalize_contact_changes(changes)
    async with sessions.begin() as session:
        row = await repo.get_user(session, principal.user_id, for_update=True)
        if row is None or row.district_id != principal.district_id:
            raise NotAllowed("you are not a user of this district's directory")
        if not row.active:
            raise NotAllowed("your directory account is inactive")
        if await repo.contact_auto_update(session, row.district_id):
            raise ContactManagedBySis(SIS_OWNS_CONTACTS)
        changed = {f: v for f, v in values.items() if getattr(row, f) != v}
        if not changed:
            return row
        marks = {f"{f}_self_edited": True for f in changed if f in CONTACT_FIELDS}
        row = await repo.update_user(session, row.id, {**changed, **marks, "contact_self_edited_at": func.now()})
        await add_event(session, OUTBOX, repo.user_event(row))
        return row

