"""A database that refuses connections (an operator's `ALLOW_CONNECTIONS false`) is an outage: 503
`unavailable`, never a 500, and the service serves again once connections are allowed."""
from __future__ import annotations

from pur_kit.testing import connections_refused


def url(district: str) -> str:
    return f"/api/v1/districts/{district}/settings"


async def test_a_database_refusing_connections_answers_503_and_the_service_recovers(svc):
    district = svc.new_district()
    admin = await svc.user(district, admin=True)
    database_url = svc.runtime.settings.database_url
    async with connections_refused(database_url, keep_pids=[svc.db.get_server_pid()]):
        for r in (await svc.client.patch(url(district), json={"profile_update_requests_enabled": True},
                                         headers=svc.headers(admin)),
                  await svc.client.get(url(district), headers=svc.headers(admin))):
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "unavailable"
    r = await svc.client.patch(url(district), json={"profile_update_requests_enabled": True},
                               headers=svc.headers(admin))
    assert r.status_code == 200, r.text
