"""Outbox rows built inside PostgreSQL, for set-based writes that change many rows at once.

A roster import changes up to 100,000 users in one statement; writing their events from Python
would cost a pydantic model and a round trip per user. `insert_events` instead makes the event
JSON in the same statement, with a SQL expression *generated from the contract model*: the model's
fields are walked (nested models included) and each leaf is taken from a mapping of field paths
to SQL expressions. A field without an expression, or an expression for something that is not a
field, fails the generation, so the SQL cannot drift from the contract::

    insert_events("changed", DirectorySchoolUpserted, {
        "district_id": "district_id", "version": "version",
        "school.id": "id", "school.district_id": "district_id", "school.name": "name",
        "school.active": "active",
    }, correlation_id="$2")

The expressions use the columns of the row source unqualified. The kit fills the envelope
(`event_id`, a fresh id per row; `occurred_at`, the statement's time) and writes the rows with
`pur_kit.uow.outbox_insert`. Use the statement as a data-modifying CTE next to the write it
describes, then call `uow.events_written()` (or `Database.events_committed()` after the commit).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from pur_contracts import Event
from pydantic import BaseModel

from .uow import outbox_insert

# A scalar subquery, so PostgreSQL formats the time once per statement, not once per row; the
# format is the one pydantic reads back (ISO 8601, UTC).
OCCURRED_AT = """(SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))"""
ENVELOPE = ("event_id", "occurred_at")
_EVENT_ID_COLUMN = "outbox_event_id"


class EventSqlError(ValueError):
    """The mapping does not cover the model exactly."""


def event_json(model: type[BaseModel], fields: Mapping[str, str]) -> str:
    """The SQL expression (type `json`) of one `model`, with each field from `fields`.

    Keys are field paths (`user.permissions`); a field that is itself a model is either mapped as
    a whole (an expression giving its JSON) or walked into. Optional models must be mapped whole.
    """
    unused = set(fields)
    expression = _object(model, "", fields, unused)
    if unused:
        raise EventSqlError(f"{model.__name__}: not fields of the model (or inside a field mapped whole): "
                            f"{', '.join(sorted(unused))}")
    return expression


def _object(model: type[BaseModel], prefix: str, fields: Mapping[str, str], unused: set[str]) -> str:
    parts = []
    for name, info in model.model_fields.items():
        path = prefix + name
        if path in fields:
            unused.discard(path)
            value = fields[path]
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            value = _object(info.annotation, path + ".", fields, unused)
        else:
            raise EventSqlError(f"{model.__name__}: field {path!r} has no SQL expression")
        key = info.serialization_alias or info.alias or name
        parts.append(f"'{key}', {value}")
    return f"json_build_object({', '.join(parts)})"


def insert_events(source: str, event: type[Event] | Sequence[tuple[str, type[Event]]],
                  fields: Mapping[str, str], correlation_id: str) -> str:
    """An INSERT of one outbox row per row of `source` (a table or CTE name, or a parenthesised query).

    `event` is the event class, or `(condition, class)` pairs choosing it per row (the first true
    condition wins; every class must be built from the same `fields`). `fields` maps the event's
    fields but the envelope; `correlation_id` is a SQL expression (usually a parameter).
    """
    choices = [("true", event)] if isinstance(event, type) else list(event)
    if taken := set(ENVELOPE) & set(fields):
        raise EventSqlError(f"the kit fills {', '.join(sorted(taken))}; leave them out")
    envelope = {"event_id": _EVENT_ID_COLUMN, "occurred_at": OCCURRED_AT}
    payloads = [event_json(model, {**envelope, **fields}) for _, model in choices]
    name = _choose([(condition, f"'{model.event_name}'") for condition, model in choices])
    payload = payloads[0] if len(set(payloads)) == 1 else _choose(
        [(condition, json) for (condition, _), json in zip(choices, payloads, strict=True)])
    rows = (f"(SELECT {_EVENT_ID_COLUMN}::text AS event_id, {name} AS event_name, {payload}::text AS payload, "
            f"({correlation_id})::text AS correlation_id "
            # OFFSET 0 keeps the subquery from being flattened: each row's id is generated once.
            f"FROM (SELECT gen_random_uuid() AS {_EVENT_ID_COLUMN}, src.* FROM {source} src OFFSET 0) AS event_row"
            f") AS event_rows")
    return outbox_insert(rows)


def _choose(cases: list[tuple[str, str]]) -> str:
    if len(cases) == 1:
        return cases[0][1]
    return "CASE " + " ".join(f"WHEN {condition} THEN {value}" for condition, value in cases) + " END"
