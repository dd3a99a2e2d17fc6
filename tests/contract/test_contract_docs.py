"""Contracts as published to non-Python clients: JSON Schema and AsyncAPI documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lanthanide.contracts import Application
from lanthanide.contracts.events import EVENT_TYPES
from lanthanide.events import EventFactory
from lanthanide.schema import export_schemas
from lanthanide.serde import decode, encode
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import TOPIC_EVENTS, Topics

REPO = Path(__file__).resolve().parents[2]


def test_json_schema_for_every_event(tmp_path: Path) -> None:
    paths = export_schemas(tmp_path)
    assert {p.name.removesuffix(".schema.json") for p in paths} == set(EVENT_TYPES)
    decision = json.loads((tmp_path / "decision.made.schema.json").read_text())
    payload = decision["$defs"]["DecisionMade"]["properties"]
    assert {"decision_id", "outcome", "reasons", "licence"} <= set(payload)


def test_envelope_round_trips_and_replays_get_the_same_ids() -> None:
    events = EventFactory("test")
    source = events.new("application.submitted", Application.model_validate(civilian_application()))
    again = decode(encode(source))
    assert again == source
    from lanthanide.contracts import ApplicationRejected, FieldError

    payload = ApplicationRejected(errors=[FieldError(loc="x", message="m", type="t")])
    a = events.derive(source, "application.rejected", payload)
    b = events.derive(again, "application.rejected", payload)
    assert a.event_id == b.event_id and a.causation_id == source.event_id
    assert a.correlation_id == source.correlation_id


def test_asyncapi_documents_cover_the_catalogue(asyncapi: dict[str, dict[str, Any]]) -> None:
    used: dict[str, set[str]] = {}
    for doc in asyncapi.values():
        assert doc["asyncapi"].startswith("3.")
        for op in doc["operations"].values():
            channel = doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]
            used.setdefault(channel["address"], set()).add(op["action"])
    # Everything the pipeline produces is consumed by someone, and described.
    for topic in (Topics.APPLICATIONS_SUBMITTED, Topics.APPLICATIONS_ACCEPTED, Topics.SCREENING_COMPLETED,
                  Topics.DECISIONS, Topics.APPLICATIONS_REJECTED):
        assert used[topic] == {"send", "receive"}, topic
    assert set(used) <= set(TOPIC_EVENTS)
    review = asyncapi["review"]["components"]["schemas"]
    assert "decision_id" in review["DecisionMade"]["properties"]


def test_each_channel_carries_its_own_events(asyncapi: dict[str, dict[str, Any]]) -> None:
    """Shared topics get their payload from the catalogue, not one schema for every topic."""
    for service, doc in asyncapi.items():
        for channel in doc["channels"].values():
            names = {ref["$ref"].rsplit("/", 1)[-1] for ref in channel["messages"].values()}
            assert names == set(TOPIC_EVENTS[channel["address"]]), (service, channel["address"], names)
            for name in names:
                message = doc["components"]["messages"][name]
                envelope = doc["components"]["schemas"][message["payload"]["$ref"].rsplit("/", 1)[-1]]
                assert envelope["title"] == f"Lanthanide event {name}"
                payload_ref = envelope["properties"]["payload"]["$ref"]
                assert payload_ref == f"#/components/schemas/{EVENT_TYPES[name].__name__}", (name, payload_ref)
                assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
                assert {"ce_id", "ce_type", "ce_subject", "traceparent"} <= set(message["headers"]["properties"])
    audit = asyncapi["audit"]
    assert {c["address"] for c in audit["channels"].values()} == set(TOPIC_EVENTS)
    assert audit["servers"]["production"]["security"] == [{"$ref": "#/components/securitySchemes/saslScram"}]
