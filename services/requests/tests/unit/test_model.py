"""The request's rules without any I/O."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from requests_service.domain.errors import FeatureDisabled, InvalidChange, NotAllowedToSubmit
from requests_service.domain.model import (
    DISABLED_SELF_SERVICE,
    DISABLED_SIS_OWNS_CONTACTS,
    DistrictPolicy,
    Requester,
    submit,
)

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
ON = DistrictPolicy(requests_enabled=True)


def requester(**overrides) -> Requester:
    values = dict(id=uuid.uuid4(), district_id="d1", given_name="Ada", family_name="Lovelace", school_ids=("s1",),
                  active=True, current={"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org",
                                        "phone": None, "sms": None})
    return Requester(**{**values, **overrides})


def new_request(changes=None, note=None, policy=ON, who=None):
    return submit(request_id=uuid.uuid4(), requester=who or requester(), district_id="d1", policy=policy,
                  changes=changes or {}, note=note, now=NOW)


def test_a_submission_records_one_event_with_field_names_and_no_values():
    request = new_request({"phone": "+15555550100", "email": "new@example.org"}, "hello")
    assert list(request.changes) == ["email", "phone"]
    (event,) = request.events
    assert event.event_name == "request.submitted" and event.version == 1
    assert event.request.fields == ["email", "phone"] and event.request.has_note


def test_feature_off_refuses_with_the_reason_matching_who_owns_contact_details():
    with pytest.raises(FeatureDisabled, match="school office") as sis:
        new_request(note="x", policy=DistrictPolicy(False, True))
    assert str(sis.value) == DISABLED_SIS_OWNS_CONTACTS
    with pytest.raises(FeatureDisabled) as self_service:
        new_request(note="x", policy=DistrictPolicy(False, False))
    assert str(self_service.value) == DISABLED_SELF_SERVICE


def test_only_an_active_user_of_the_district_may_submit():
    for who in (None, requester(active=False), requester(district_id="d2")):
        with pytest.raises(NotAllowedToSubmit):
            submit(request_id=uuid.uuid4(), requester=who, district_id="d1", policy=ON, changes={}, note="x", now=NOW)


def test_an_empty_request_or_an_unchanged_value_is_refused():
    with pytest.raises(InvalidChange, match="changes"):
        new_request({}, "  ")
    with pytest.raises(InvalidChange, match="email"):
        new_request({"email": "ADA@example.org"})
    with pytest.raises(InvalidChange, match="nickname"):
        new_request({"nickname": "Ada"})


def test_mark_done_and_restore_are_idempotent_and_bump_the_version_once_each():
    request = new_request(note="x")
    assert request.mark_done("m1", NOW) is True
    assert request.mark_done("m2", NOW) is False
    assert (request.status, request.done_by, request.version) == ("done", "m1", 2)
    assert request.restore("m2", NOW) is True and request.restore("m2", NOW) is False
    assert (request.status, request.done_at, request.version) == ("new", None, 3)
    assert [e.event_name for e in request.events] == ["request.submitted", "request.marked_done", "request.restored"]


def test_appears_applied_needs_every_requested_value_and_a_new_request():
    request = new_request({"email": "new@example.org", "phone": "+15555550100"})
    current = {"email": "NEW@example.org", "phone": None}
    assert request.refresh_appears_applied(current, NOW) is False
    assert request.refresh_appears_applied({**current, "phone": "+1 555 555 0100"}, NOW) is True
    assert request.appears_applied and request.events[-1].event_name == "request.appears_applied_changed"
    note_only = new_request(note="x")
    assert note_only.refresh_appears_applied({}, NOW) is False and not note_only.appears_applied
    request.mark_done("m", NOW)
    assert request.refresh_appears_applied(current, NOW) is False
