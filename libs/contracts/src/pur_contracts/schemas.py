"""Export the JSON Schema of every event and detect incompatible changes.

Files live in ``libs/contracts/schemas/<event_name>.v<schema_version>.json``. A change to an event
that removes or renames a field, changes a field's type or adds a required field is breaking: it
needs a new ``schema_version`` (and so a new file), never an edit of a published version.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .base import Event
from .events import ALL_EVENTS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema_of(event: type[Event]) -> dict[str, Any]:
    return event.model_json_schema(mode="serialization")


def schema_path(event: type[Event], directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{event.event_name}.v{event.schema_version}.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root.get("$defs", {})[name]
    return node


def _types(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    """A comparable description of what a schema node accepts."""
    node = _resolve(node, root)
    if "anyOf" in node:
        return set().union(*(_types(n, root) for n in node["anyOf"]))
    if "enum" in node:
        return {f"enum:{v}" for v in node["enum"]}
    if "const" in node:
        return {f"enum:{node['const']}"}
    kind = node.get("type", "any")
    if kind == "string" and "format" in node:
        return {f"string:{node['format']}"}
    if kind == "array":
        return {f"array[{'|'.join(sorted(_types(node.get('items', {}), root)))}]"}
    return {kind}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def walk(o: dict[str, Any], n: dict[str, Any], path: str) -> None:
        o, n = _resolve(o, old), _resolve(n, new)
        o_props, n_props = o.get("properties", {}), n.get("properties", {})
        for name, o_field in o_props.items():
            where = f"{path}{name}"
            if name not in n_props:
                problems.append(f"field removed or renamed: {where}")
                continue
            o_types, n_types = _types(o_field, old), _types(n_props[name], new)
            if not o_types <= n_types:
                problems.append(f"type changed: {where} {sorted(o_types)} -> {sorted(n_types)}")
            walk(o_field, n_props[name], f"{where}.")
        for name in set(n.get("required", [])) - set(o.get("required", [])):
            problems.append(f"new required field: {path}{name}")
        for key in ("anyOf", "items"):
            if key in o and key in n and isinstance(o[key], dict):
                walk(o[key], n[key], path)
        if "anyOf" in o and "anyOf" in n:
            for o_alt in o["anyOf"]:
                for n_alt in n["anyOf"]:
                    if _resolve(o_alt, old).get("properties") and _resolve(n_alt, new).get("properties"):
                        walk(o_alt, n_alt, path)

    walk(old, new, "")
    return problems


def check(directory: Path = SCHEMA_DIR) -> list[str]:
    """Everything wrong between the models and the exported files; empty when all is well."""
    problems = []
    for event in ALL_EVENTS:
        path = schema_path(event, directory)
        current = schema_of(event)
        if not path.exists():
            problems.append(f"{path.name}: not exported (run `make schemas`)")
            continue
        committed = json.loads(path.read_text())
        if committed == current:
            continue
        breaking = breaking_changes(committed, current)
        if breaking:
            problems.append(
                f"{event.event_name} v{event.schema_version}: incompatible change without a "
                f"schema_version bump: {'; '.join(breaking)}"
            )
        else:
            problems.append(f"{path.name}: stale (run `make schemas`)")
    return problems


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every event's schema; refuses to rewrite a published version incompatibly."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event in ALL_EVENTS:
        path = schema_path(event, directory)
        current = schema_of(event)
        if path.exists():
            breaking = breaking_changes(json.loads(path.read_text()), current)
            if breaking:
                raise SystemExit(
                    f"{event.event_name}: incompatible change needs a schema_version bump: "
                    + "; ".join(breaking)
                )
        path.write_text(render(current))
        written.append(path)
    return written
