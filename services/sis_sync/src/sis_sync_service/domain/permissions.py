"""The Connect-side permissions object (the contract's UserPermissions), validated against the district."""
from __future__ import annotations

from collections.abc import Collection

from pur_contracts import UserPermissions, UsersManagerScope

from .errors import InvalidValue


def checked_permissions(requested: UserPermissions, district_school_ids: Collection[str]) -> UserPermissions:
    """The permissions to store: school ids must be schools of the user's district."""
    manager = requested.users_manager
    if manager is None:
        return requested
    if manager.scope == "district":
        if manager.school_ids:
            raise InvalidValue("users_manager.school_ids", "only allowed with scope 'schools'")
        return requested
    if not manager.school_ids:
        raise InvalidValue("users_manager.school_ids", "give at least one school for scope 'schools'")
    unknown = sorted(set(manager.school_ids) - set(district_school_ids))
    if unknown:
        raise InvalidValue("users_manager.school_ids", f"unknown school(s) in this district: {', '.join(unknown[:5])}")
    ordered = sorted(set(manager.school_ids))
    return UserPermissions(district_admin=requested.district_admin,
                           users_manager=UsersManagerScope(scope="schools", school_ids=ordered))
