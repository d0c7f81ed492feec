"""Who may see and change what in the directory.

Visibility of directory users (documented in the service README):
- the system credential: everyone;
- a district administrator, or a Users Manager with scope `district`: every user of their district;
- a Users Manager with scope `schools`: users belonging to one of those schools, and themselves;
- anyone else (and anyone inactive): only themselves.
Changing permissions: the system credential or an active district administrator of the same district.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID


@dataclass(frozen=True)
class Viewer:
    """The calling person as the directory knows them (None fields: the system credential)."""

    user_id: UUID | None
    district_id: str | None
    active: bool = True
    district_admin: bool = False
    manager_scope: str | None = None          # None | "district" | "schools"
    manager_school_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    @classmethod
    def system(cls) -> Viewer:
        return cls(user_id=None, district_id=None)

    @classmethod
    def from_permissions(cls, user_id: UUID, district_id: str, active: bool, permissions: dict) -> Viewer:
        manager = permissions.get("users_manager") or None
        return cls(
            user_id=user_id, district_id=district_id, active=active,
            district_admin=bool(permissions.get("district_admin")),
            manager_scope=manager["scope"] if manager else None,
            manager_school_ids=frozenset(manager.get("school_ids") or ()) if manager else frozenset(),
        )


@dataclass(frozen=True)
class Scope:
    """What a viewer may list: a district (or all, when None), optionally limited to schools or self."""

    district_id: str | None
    school_ids: frozenset[str] | None = None   # None: no school restriction
    only_user_id: UUID | None = None


def listing_scope(viewer: Viewer, district_id: str | None) -> Scope | None:
    """The part of `district_id` the viewer may list; None when nothing (another district)."""
    if viewer.is_system:
        return Scope(district_id)
    if district_id is not None and district_id != viewer.district_id:
        return None
    if viewer.active and (viewer.district_admin or viewer.manager_scope == "district"):
        return Scope(viewer.district_id)
    if viewer.active and viewer.manager_scope == "schools":
        return Scope(viewer.district_id, school_ids=viewer.manager_school_ids, only_user_id=viewer.user_id)
    return Scope(viewer.district_id, school_ids=frozenset(), only_user_id=viewer.user_id)


def can_view(viewer: Viewer, target_id: UUID, target_district_id: str, target_school_ids: list[str]) -> bool:
    scope = listing_scope(viewer, target_district_id)
    if scope is None:
        return False
    if scope.only_user_id == target_id:
        return True
    if scope.school_ids is None:
        return True
    return bool(scope.school_ids.intersection(target_school_ids))


def can_administer(viewer: Viewer, district_id: str) -> bool:
    """Grant permissions and import rosters for the district."""
    return viewer.is_system or (viewer.active and viewer.district_admin and viewer.district_id == district_id)
