import copy
import json

from pur_contracts import ALL_EVENTS, DistrictSettingsChanged
from pur_contracts.schemas import breaking_changes, check, export, schema_of


def test_exported_schemas_match_the_models():
    assert check() == []


def test_every_event_has_a_unique_name_and_the_envelope_fields():
    names = [e.event_name for e in ALL_EVENTS]
    assert len(names) == len(set(names))
    for event in ALL_EVENTS:
        props = schema_of(event)["properties"]
        assert {"event_id", "occurred_at", "district_id"} <= props.keys(), event


def test_a_removed_field_is_a_breaking_change():
    old = schema_of(DistrictSettingsChanged)
    new = copy.deepcopy(old)
    del new["$defs"]["DistrictSettings"]["properties"]["profile_update_requests_enabled"]
    problems = breaking_changes(old, new)
    assert problems == ["field removed or renamed: settings.profile_update_requests_enabled"]


def test_a_changed_type_and_a_new_required_field_are_breaking():
    old = schema_of(DistrictSettingsChanged)
    new = copy.deepcopy(old)
    new["properties"]["version"] = {"type": "string", "title": "Version"}
    new["properties"]["tenant"] = {"type": "string"}
    new["required"] = [*new["required"], "tenant"]
    problems = breaking_changes(old, new)
    assert any(p.startswith("type changed: version") for p in problems)
    assert "new required field: tenant" in problems


def test_an_added_optional_field_is_compatible():
    old = schema_of(DistrictSettingsChanged)
    new = copy.deepcopy(old)
    new["properties"]["comment"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert breaking_changes(old, new) == []


def test_check_reports_an_incompatible_edit_of_a_published_version(tmp_path):
    export(tmp_path)
    path = tmp_path / f"{DistrictSettingsChanged.event_name}.v1.json"
    schema = json.loads(path.read_text())
    # Pretend the published file had a field the model no longer has.
    schema["properties"]["legacy"] = {"type": "string"}
    path.write_text(json.dumps(schema))
    problems = check(tmp_path)
    assert len(problems) == 1
    assert "incompatible change without a schema_version bump" in problems[0]
    assert "field removed or renamed: legacy" in problems[0]


def test_check_reports_stale_files(tmp_path):
    export(tmp_path)
    path = tmp_path / f"{DistrictSettingsChanged.event_name}.v1.json"
    schema = json.loads(path.read_text())
    # The model gained an optional field since the export: compatible, but the file is stale.
    del schema["$defs"]["DistrictSettings"]["properties"]["updated_by"]
    path.write_text(json.dumps(schema))
    assert check(tmp_path) == [f"{path.name}: stale (run `make schemas`)"]


def test_every_subscribed_event_has_a_publisher_and_every_event_is_routed():
    from pur_contracts import EVENTS_BY_NAME, PUBLICATIONS, SUBSCRIPTIONS

    published = {event.event_name for events in PUBLICATIONS.values() for event in events}
    subscribed = {key for keys in SUBSCRIPTIONS.values() for key in keys}
    assert subscribed <= published
    assert published <= set(EVENTS_BY_NAME)
    # digest.sent and sis.sync.completed are facts for operators and future consumers.
    assert set(EVENTS_BY_NAME) - subscribed == {"digest.sent", "sis.sync.completed"}
