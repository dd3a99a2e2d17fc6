"""JSON Schema for every event: what non-Python clients validate against, and the gate that
keeps changes within a major version additive."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lanthanide.cloudevents import schema_id
from lanthanide.contracts.envelope import SCHEMA_VERSION
from lanthanide.contracts.events import EVENT_TYPES
from lanthanide.serde import envelope_class


def event_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of one event's envelope, as docs/schemas publishes it."""
    schema = envelope_class(event_type).model_json_schema(mode="serialization")
    schema["title"] = f"Lanthanide event {event_type}"
    schema["$id"] = schema_id(event_type, SCHEMA_VERSION)
    return schema


def export_schemas(out: Path) -> list[Path]:
    """Write <event_type>.schema.json for each event type; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in sorted(EVENT_TYPES):
        path = out / f"{event_type}.schema.json"
        path.write_text(json.dumps(event_schema(event_type), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


def schema_version_of(schema: dict[str, Any]) -> int:
    """The contracts' major version a published schema belongs to (from its $id, ...:v<N>)."""
    match = re.search(r":v(\d+)$", str(schema.get("$id", "")))
    return int(match.group(1)) if match else 1


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node and seen < 50:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            break
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node, seen = target, seen + 1
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(node["allOf"][0], root)
    return node


def _branches(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node, root)
    alternatives = node.get("anyOf") or node.get("oneOf")
    if alternatives:
        return [b for alt in alternatives for b in _branches(alt, root)]
    return [node]


def _types(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    """The JSON types a value may have (enums and consts by their values' type)."""
    out: set[str] = set()
    for branch in _branches(node, root):
        kind = branch.get("type")
        if isinstance(kind, list):
            out.update(kind)
        elif isinstance(kind, str):
            out.add(kind)
        elif "enum" in branch or "const" in branch:
            values = branch.get("enum", [branch.get("const")])
            out.update({type(v).__name__.replace("str", "string") for v in values})
        elif "properties" in branch:
            out.add("object")
        else:
            out.add("any")
    return out


def _object(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    objects = [b for b in _branches(node, root) if b.get("type") == "object" or "properties" in b]
    return objects[0] if len(objects) == 1 else None


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in `new` would break a reader of events written to `old` (or the reverse): a field
    removed, a field's JSON type changed, a field newly required. Adding optional fields, enum
    values and descriptions is additive and passes."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def walk(o: dict[str, Any], n: dict[str, Any], path: str) -> None:
        old_obj, new_obj = _object(o, old), _object(n, new)
        if old_obj is not None and new_obj is not None:
            key = (id(old_obj), id(new_obj))
            if key in seen:
                return  # a recursive model: compared once
            seen.add(key)
            old_props, new_props = old_obj.get("properties", {}), new_obj.get("properties", {})
            for name in old_props:
                if name not in new_props:
                    found.append(f"{path}{name}: removed")
            for name in sorted(set(new_obj.get("required", [])) - set(old_obj.get("required", []))):
                found.append(f"{path}{name}: newly required")
            for name, old_field in old_props.items():
                if name in new_props:
                    compare(old_field, new_props[name], f"{path}{name}")
        old_items = [b["items"] for b in _branches(o, old) if "items" in b]
        new_items = [b["items"] for b in _branches(n, new) if "items" in b]
        if len(old_items) == 1 and len(new_items) == 1:
            compare(old_items[0], new_items[0], f"{path}[]")

    def compare(o: dict[str, Any], n: dict[str, Any], path: str) -> None:
        old_types, new_types = _types(o, old), _types(n, new)
        if old_types != new_types and "any" not in old_types:
            found.append(f"{path}: type {sorted(old_types)} -> {sorted(new_types)}")
            return
        walk(o, n, f"{path}.")

    walk(old, new, "")
    return found


def compatibility_report(committed: Path) -> Iterator[tuple[str, list[str], int, int]]:
    """For each committed docs/schemas file: (event type, breaking changes, committed version,
    current version). Event types gone from the catalogue count as one breaking change."""
    for path in sorted(committed.glob("*.schema.json")):
        event_type = path.name.removesuffix(".schema.json")
        old = json.loads(path.read_text(encoding="utf-8"))
        if event_type not in EVENT_TYPES:
            yield event_type, ["event type removed"], schema_version_of(old), SCHEMA_VERSION
            continue
        yield event_type, breaking_changes(old, event_schema(event_type)), schema_version_of(old), SCHEMA_VERSION
