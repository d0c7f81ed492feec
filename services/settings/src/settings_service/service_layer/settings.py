"""Commands on district settings: each is one unit of work, and a change and its event commit together."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pur_kit.logging import get_logger
from pur_kit.uow import UnitOfWork

from ..adapters.repository import Repositories
from ..domain.model import DistrictSettings, UnknownDistrict
from .events import settings_changed

log = get_logger(__name__)


class VersionMismatch(Exception):
    """The caller edited a version that is no longer the current one."""

    def __init__(self, current: DistrictSettings) -> None:
        super().__init__(f"the settings were changed meanwhile; the current version is {current.version}")
        self.current = current
        self.current_version = current.version


async def update_settings(
    uow: UnitOfWork[Repositories],
    district_id: str,
    changes: Mapping[str, Any],
    *,
    by: str,
    expected_versions: frozenset[int] | None = None,
) -> tuple[DistrictSettings, bool]:
    """Merge `changes` into the district's settings; (settings, whether a new version was made).

    An unknown district raises UnknownDistrict: nothing is stored and nothing is published.
    The row lock makes concurrent writers of one district take turns, so each merges into the
    latest version (no lost update) and a stale `expected_versions` is always noticed.
    """
    if not await uow.repos.directory.district_known(district_id):
        raise UnknownDistrict(district_id)
    current = await uow.repos.settings.lock(district_id)
    if expected_versions is not None and current.version not in expected_versions:
        raise VersionMismatch(current)
    updated = current.changed(changes, by=by, at=datetime.now(UTC))
    if updated is not None:
        await uow.repos.settings.save(updated)
        uow.publish(settings_changed(updated))
    await uow.commit()
    if updated is None:
        return current, False
    log.info("district_settings_changed", district_id=district_id, version=updated.version)
    return updated, True
