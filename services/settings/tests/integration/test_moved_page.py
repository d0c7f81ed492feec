"""The District Settings page lives in the staff app now; its old address redirects there."""


async def test_the_old_settings_page_address_redirects_to_the_staff_app(svc):
    r = await svc.client.get("/districts/springfield/settings")
    assert r.status_code == 308
    assert r.headers["location"] == "http://127.0.0.1:8000/district-settings"
    r = await svc.client.get("/districts/not%20a%20district/settings")
    assert r.status_code == 422  # the path is validated like the API's, never echoed into the redirect
