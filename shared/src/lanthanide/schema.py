"""JSON Schema for every event: what non-Python clients validate against."""

from __future__ import annotations

import json
from pathlib import Path

from lanthanide.contracts.events import EVENT_TYPES
from lanthanide.serde import envelope_class


def export_schemas(out: Path) -> list[Path]:
    """Write <event_type>.schema.json for each event type; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in sorted(EVENT_TYPES):
        schema = envelope_class(event_type).model_json_schema(mode="serialization")
        schema["title"] = f"Lanthanide event {event_type}"
        schema["$id"] = f"urn:lanthanide:event:{event_type}:v1"
        path = out / f"{event_type}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
