import uuid

from pur_contracts import SettingsReplayRequested


async def test_on_start_with_an_empty_directory_projection_the_service_asks_for_a_directory_replay(svc):
    [(kind, body)] = svc.startup_events
    assert (kind, body["requested_by"], body["district_id"]) == ("directory.replay.requested", "settings", None)

    await svc.user(svc.new_district())  # the projection is no longer empty: a restart asks for nothing
    assert await svc.runtime.parts.handlers.request_directory_replay_if_empty() is False
    await svc.drain()
    assert svc.published() == []


async def test_a_replay_request_republishes_the_current_snapshot_of_every_configured_district(svc):
    first, second, never_configured = svc.new_district(), svc.new_district(), svc.new_district()
    for district in (first, second, never_configured):
        await svc.user(district)
    for district, bodies in ((first, [{"profile_update_requests_enabled": True},
                                      {"notifications": {"timezone": "Europe/Berlin"}}]),
                             (second, [{"sis_sync": {"contact_details_auto_update": False}}])):
        for body in bodies:
            r = await svc.client.patch(f"/api/v1/districts/{district}/settings", json=body, headers=svc.headers())
            assert r.status_code == 200, r.text
    await svc.client.get(f"/api/v1/districts/{never_configured}/settings", headers=svc.headers())
    current = {d: await svc.settings_of(d) for d in (first, second)}
    await svc.drain()
    svc.events.messages.clear()

    await svc.publish(SettingsReplayRequested(district_id=None, requested_by="requests"))
    await svc.events.wait_for(2, svc.CHANGED)
    await svc.drain()
    replayed = {e["district_id"]: e for e in svc.published(svc.CHANGED)}
    assert set(replayed) == {first, second}  # nothing for the never-configured district
    assert svc.published_types() == [svc.CHANGED] * 2
    for district, event in replayed.items():
        assert (event["version"], event["settings"]) == (current[district]["version"], current[district])
    assert replayed[first]["version"] == 2

    svc.events.messages.clear()
    await svc.publish(SettingsReplayRequested(district_id=second, requested_by="digest"))
    await svc.events.wait_for(1, svc.CHANGED)
    await svc.drain()
    assert [(e["district_id"], e["version"]) for e in svc.published(svc.CHANGED)] == [(second, 1)]


async def test_directory_events_seen_out_of_order_leave_the_newest_version_in_force(svc):
    district = svc.new_district()
    user_id = uuid.uuid4()
    url = f"/api/v1/districts/{district}/settings"
    admin = await svc.user(district, admin=True, user_id=user_id, version=3)
    # Version 2 (not yet an admin) arrives late, and is even delivered twice: it changes nothing.
    late = svc.user_event(district, admin=False, user_id=user_id, version=2)
    for _ in range(2):
        await svc.processed(await svc.publish(late, message_id=str(late.event_id)))
    row = await svc.db.fetchrow("SELECT version, district_admin, active FROM directory_user WHERE id = $1", user_id)
    assert dict(row) == {"version": 3, "district_admin": True, "active": True}
    assert await svc.db.fetchval("SELECT count(*) FROM inbox_message WHERE message_id = $1", str(late.event_id)) == 1
    r = await svc.client.patch(url, json={"profile_update_requests_enabled": True}, headers=svc.headers(admin))
    assert r.status_code == 200, r.text

    # A newer deactivation wins; an older "active admin" replayed afterwards does not undo it.
    await svc.user(district, admin=True, user_id=user_id, version=5, deactivated=True)
    await svc.user(district, admin=True, user_id=user_id, version=4)
    r = await svc.client.patch(url, json={"profile_update_requests_enabled": False}, headers=svc.headers(admin))
    assert r.status_code == 403
