"""What each recipient scope sees, selected once per run.

The district scope and every school are selected in SQL (aggregates and newest-N over indexes),
each once however many recipients need them; a manager of several schools gets the union of
their schools' views (domain.digest.union_view) plus one small count of requests shared between
those schools. No request is ever loaded per recipient.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from ..adapters.scopes import Scopes
from ..domain.digest import EMPTY_VIEW, ScopeView, union_view

Clock = Callable[[], datetime]


class Selection:
    def __init__(self, district_id: str, limit: int, clock: Clock) -> None:
        self.district_id = district_id
        self.limit = limit
        self.clock = clock
        self._memo: dict[tuple, asyncio.Future] = {}

    async def view(self, scopes: Scopes, scope_key: tuple) -> tuple[datetime, ScopeView]:
        """(when it was selected, the view) of a recipient's `scope_key`."""
        if scope_key[0] == "district":
            return await self._once(scope_key, lambda: self._district(scopes))
        schools = scope_key[1:]
        if not schools:
            return self.clock(), EMPTY_VIEW
        if len(schools) == 1:
            return await self._once(scope_key, lambda: self._school(scopes, schools[0]))
        return await self._once(scope_key, lambda: self._union(scopes, schools))

    async def _district(self, scopes: Scopes) -> tuple[datetime, ScopeView]:
        as_of = self.clock()
        return as_of, await scopes.district_view(self.district_id, self.limit)

    async def _school(self, scopes: Scopes, school_id: str) -> tuple[datetime, ScopeView]:
        as_of = self.clock()
        return as_of, await scopes.school_view(self.district_id, school_id, self.limit)

    async def _union(self, scopes: Scopes, schools: tuple[str, ...]) -> tuple[datetime, ScopeView]:
        parts = [await self.view(scopes, ("schools", s)) for s in schools]
        views = [view for _, view in parts]
        shared = sum(v.shared for v in views)
        overlap = await scopes.shared_overlap(self.district_id, schools) if shared > 1 else 0
        return min(as_of for as_of, _ in parts), union_view(views, overlap, self.limit)

    async def _once(self, key: tuple, compute: Callable[[], Awaitable[tuple[datetime, ScopeView]]]):
        entry = self._memo.get(key)
        if entry is None:
            entry = asyncio.get_running_loop().create_future()
            self._memo[key] = entry
            try:
                entry.set_result(await compute())
            except BaseException as exc:
                del self._memo[key]
                entry.set_exception(exc)
                entry.exception()  # marked retrieved: concurrent waiters re-raise it themselves
                raise
        return await entry
