"""Who may see which requests (docs/product-rules.md, "Who sees what").

A district-level Users Manager sees the whole district; a school-level one sees requests whose
requester belongs to one of their schools; everybody else sees nothing. The system credential
reads (and may act on) every district. Decided from the directory projection, never from claims.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

Scope = Literal["system", "district", "schools", "none"]


@dataclass(frozen=True, slots=True)
class Viewer:
    scope: Scope
    district_id: str | None  # None only for the system credential
    user_id: UUID | None = None
    school_ids: frozenset[str] = frozenset()

    @classmethod
    def system(cls) -> Viewer:
        return cls("system", None)

    @classmethod
    def nobody(cls, district_id: str | None, user_id: UUID | None = None) -> Viewer:
        return cls("none", district_id, user_id)

    @classmethod
    def of_user(cls, *, user_id: UUID, district_id: str, active: bool, manager_scope: str | None,
                manager_school_ids: Iterable[str]) -> Viewer:
        if not active or manager_scope is None:
            return cls.nobody(district_id, user_id)
        if manager_scope == "district":
            return cls("district", district_id, user_id)
        return cls("schools", district_id, user_id, frozenset(manager_school_ids))

    @property
    def is_manager(self) -> bool:
        return self.scope in ("district", "schools")

    @property
    def can_list(self) -> bool:
        return self.scope != "none"

    @property
    def actor(self) -> str:
        """How history and events name who acted."""
        return "system" if self.scope == "system" else str(self.user_id)

    def can_see(self, district_id: str, requester_school_ids: Iterable[str]) -> bool:
        if self.scope == "system":
            return True
        if self.scope == "none" or district_id != self.district_id:
            return False
        if self.scope == "district":
            return True
        return not self.school_ids.isdisjoint(requester_school_ids)

    def schools_to_read(self, school_filter: str | None) -> list[str] | None:
        """The schools a list is restricted to; None means the whole district."""
        if self.scope == "schools":
            if school_filter is None:
                return sorted(self.school_ids)
            return [school_filter] if school_filter in self.school_ids else []
        return None if school_filter is None else [school_filter]
