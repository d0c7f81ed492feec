"""HTTP API of the directory and the roster imports (docs/product-rules.md, docs/oneroster-import.md)."""
from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pur_contracts import UserPermissions, UsersManagerScope
from pur_contracts.base import SourcedId
from pur_kit.errors import conflict, forbidden, not_found
from pur_kit.params import DistrictIdPath, DistrictIdQuery, TextQuery

from .. import views
from ..adapters.repositories import Repositories
from ..domain.access import can_administer, listing_scope
from ..service_layer import directory
from ..service_layer.run_control import request_cancel
from .deps import Caller, database, parts, settings
from .uploads import spool_upload

router = APIRouter(prefix="/api/v1")
FilterText = TextQuery(255)

# Each route documents its refusals; the kit adds 401, 404 on path ids, 422 and 503 (pur_kit.openapi).
# Every route starts by loading the caller from the directory: a person it does not know gets 403.
UNKNOWN_PERSON = "a person the directory does not know"
NOT_ADMIN = {403: {"description": "Neither the system credential nor an active district administrator of this "
                                  "district"}}
UNKNOWN_RUN = {404: {"description": "No such import run, or one the caller may not administer"}}
UNKNOWN_USER = {404: {"description": "No such user, or one outside the caller's scope"}}


class UsersManagerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    scope: Literal["district", "schools"]
    school_ids: list[SourcedId] = Field(default_factory=list, max_length=500)  # what the event may carry


class PermissionsUpdate(BaseModel):
    """The whole permissions object (it replaces the current one)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    district_admin: bool = False
    users_manager: UsersManagerUpdate | None = None

    def to_contract(self) -> UserPermissions:
        manager = self.users_manager
        return UserPermissions(
            district_admin=self.district_admin,
            users_manager=UsersManagerScope(scope=manager.scope, school_ids=manager.school_ids) if manager else None)


class ContactUpdate(BaseModel):
    """Only the fields given change; null clears a field."""

    model_config = ConfigDict(extra="forbid", strict=True)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    sms: str | None = Field(None, max_length=32)


# --- imports ----------------------------------------------------------------------------------
@router.post("/districts/{district_id}/sis-imports", status_code=202, tags=["imports"], responses={
    **NOT_ADMIN, 400: {"description": "A malformed multipart form (more than one file, too many fields)"},
    409: {"description": "The district already has an import queued or running"},
    415: {"description": "Neither a multipart form nor an application/zip body"},
    422: {"description": "An empty upload, a body over the upload limit, or a bad district id"},
    503: {"description": "Retry after Retry-After seconds (another instance may take it): this instance runs its "
                         "most imports at once (`reason` import_capacity), cannot write the upload spool "
                         "(`reason` upload_spool), or a dependency is unavailable"}})
async def start_import(request: Request, principal: Caller,
                       district_id: DistrictIdPath,
                       force: Annotated[bool, Query(description="apply even above the deactivation threshold")] = False):
    """Upload a OneRoster export (multipart field `file`, or an application/zip body); 202 with the run."""
    db = database(request)
    async with db.acquire() as conn:
        viewer = await directory.load_viewer(Repositories(conn), principal)
    if not can_administer(viewer, district_id):
        raise forbidden("only the system credential or a district administrator can import rosters")
    runner = parts(request).runner
    with runner.slot() as slot:  # before the upload is read (ImportCapacityFull: 503)
        path, name = await spool_upload(request, settings(request).upload_dir)
        started = await runner.start(district_id, path, source="upload", source_name=name,
                                     forced=force, delete_after=True, slot=slot)
    async with db.acquire() as conn:
        return views.run_public(await views.get_run(conn, started.run_id))


@router.get("/districts/{district_id}/sis-imports", tags=["imports"], responses=NOT_ADMIN)
async def list_imports(request: Request, principal: Caller, district_id: DistrictIdPath,
                       limit: Annotated[int, Query(ge=1, le=100)] = 20):
    """Recent import runs of a district, newest first."""
    async with database(request).acquire() as conn:
        viewer = await directory.load_viewer(Repositories(conn), principal)
        if not can_administer(viewer, district_id):
            raise forbidden("only the system credential or a district administrator can see imports")
        return {"items": [views.run_public(r) for r in await views.list_runs(conn, district_id, limit)],
                "next_cursor": None}


@router.get("/sis-imports/{run_id}", tags=["imports"],
            responses={403: {"description": UNKNOWN_PERSON.capitalize()}, **UNKNOWN_RUN})
async def get_import(request: Request, principal: Caller, run_id: UUID):
    """An import run: status, progress, counts and row errors."""
    async with database(request).acquire() as conn:
        viewer = await directory.load_viewer(Repositories(conn), principal)
        row = await views.get_run(conn, run_id)
        if row is None or not can_administer(viewer, row["district_id"]):
            raise not_found("no such import run")
        return views.run_public(row)


@router.post("/sis-imports/{run_id}/cancel", tags=["imports"], responses={
    202: {"description": "still stopping"}, 403: {"description": UNKNOWN_PERSON.capitalize()}, **UNKNOWN_RUN,
    409: {"description": "The import has already ended"}})
async def cancel_import(request: Request, response: Response, principal: Caller, run_id: UUID):
    """Stop a queued or running import, changing nothing: 200 with the failed run, 202 while it stops."""
    db = database(request)
    async with db.acquire() as conn:
        viewer = await directory.load_viewer(Repositories(conn), principal)
        row = await views.get_run(conn, run_id)
    if row is None or not can_administer(viewer, row["district_id"]):
        raise not_found("no such import run")
    if row["status"] not in ("queued", "running"):
        raise conflict(f"the import has already ended ({row['status']})")
    by = "the system credential" if principal.is_system else f"district administrator {viewer.user_id}"
    async with db.unit_of_work() as uow:
        active = await request_cancel(uow, run_id, by, parts(request).runner.stop)
    if not active:
        raise conflict("the import has already ended")
    async with db.acquire() as conn:
        row = await views.get_run(conn, run_id)
    if row["status"] in ("queued", "running"):
        response.status_code = 202
    return views.run_public(row)


# --- directory --------------------------------------------------------------------------------
@router.get("/directory/users", tags=["directory"],
            responses={403: {"description": f"Another district than the caller's, or {UNKNOWN_PERSON}"}})
async def list_users(request: Request, principal: Caller,
                     district_id: DistrictIdQuery = None, sis_id: FilterText = None, role: FilterText = None,
                     school_id: FilterText = None, active: bool | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: str | None = None):
    """Directory users the caller may see, filtered, keyset-paginated by (district, SIS id)."""
    after = views.decode_cursor(cursor) if cursor else None
    async with database(request).acquire() as conn:
        viewer = await directory.load_viewer(Repositories(conn), principal)
        scope = listing_scope(viewer, district_id)
        if scope is None:
            raise forbidden("you can only list users of your own district")
        rows, next_cursor = await views.list_users(conn, scope, sis_id=sis_id or None, role=role or None,
                                                   school_id=school_id or None, active=active, limit=limit,
                                                   after=after)
    return {"items": [views.user_public(r) for r in rows], "next_cursor": next_cursor}


@router.get("/directory/users/me", tags=["directory"], responses={
    403: {"description": UNKNOWN_PERSON.capitalize()},
    404: {"description": "The system credential, which has no entry"}})
async def get_me(request: Request, principal: Caller):
    """The caller's own directory entry."""
    if principal.is_system:
        raise not_found("the system credential has no directory entry")
    async with database(request).acquire() as conn:
        repos = Repositories(conn)
        viewer = await directory.load_viewer(repos, principal)
        return views.user_public(await directory.visible_user(repos, viewer, viewer.user_id))


@router.patch("/directory/users/me/contact", tags=["directory"], responses={
    403: {"description": f"The system credential, an inactive account, or {UNKNOWN_PERSON}"},
    409: {"description": "The district's SIS owns contact details (`contact_details_managed_by_sis`)"},
    422: {"description": "An invalid email or phone number; `field` names it"}})
async def edit_my_contact(request: Request, principal: Caller, body: ContactUpdate):
    """Edit your own email/phone/SMS; only while the SIS does not own contact details (else 409)."""
    changes = {f: getattr(body, f) for f in body.model_fields_set}
    async with database(request).unit_of_work() as uow:
        row = await directory.edit_own_contact(uow, principal, changes)
    return views.user_public(row)


@router.get("/directory/users/{user_id}", tags=["directory"],
            responses={403: {"description": UNKNOWN_PERSON.capitalize()}, **UNKNOWN_USER})
async def get_user(request: Request, principal: Caller, user_id: UUID):
    """One directory user (yourself, or someone in your scope)."""
    async with database(request).acquire() as conn:
        repos = Repositories(conn)
        viewer = await directory.load_viewer(repos, principal)
        return views.user_public(await directory.visible_user(repos, viewer, user_id))


@router.put("/directory/users/{user_id}/permissions", tags=["directory"], responses={
    **NOT_ADMIN, **UNKNOWN_USER, 422: {"description": "A school id that is not an active school of the district"}})
async def put_permissions(request: Request, principal: Caller, user_id: UUID, body: PermissionsUpdate):
    """Replace a user's permissions (district administrators of that district, or the system)."""
    async with database(request).unit_of_work() as uow:
        row = await directory.set_permissions(uow, principal, user_id, body.to_contract())
    return views.user_public(row)
