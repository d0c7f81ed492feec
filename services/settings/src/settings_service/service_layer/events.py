"""The contract form of district settings: the full snapshot every change announces."""
from __future__ import annotations

import pur_contracts as contracts

from ..domain.model import DistrictSettings


def snapshot(s: DistrictSettings) -> contracts.DistrictSettings:
    return contracts.DistrictSettings(
        district_id=s.district_id,
        version=s.version,
        profile_update_requests_enabled=s.profile_update_requests_enabled,
        notifications=contracts.NotificationSettings(
            daily_digest_enabled=s.notifications.daily_digest_enabled,
            digest_local_time=s.notifications.digest_local_time,
            timezone=s.notifications.timezone,
        ),
        sis_sync=contracts.SisSyncSettings(contact_details_auto_update=s.sis_sync.contact_details_auto_update),
        updated_at=s.updated_at,
        updated_by=s.updated_by,
    )


def settings_changed(s: DistrictSettings) -> contracts.DistrictSettingsChanged:
    return contracts.DistrictSettingsChanged(district_id=s.district_id, version=s.version, settings=snapshot(s))
