"""CloudEvents 1.0 attributes of every record, in the Kafka protocol binding's binary mode.

The record value stays the Lanthanide envelope (JSON, content-type application/json); the
CloudEvents attributes travel as `ce_`-prefixed headers mapped from the envelope, so brokers,
gateways and CloudEvents SDKs can route and read events without parsing the value:

    ce_specversion  "1.0"
    ce_id           envelope.event_id
    ce_source       "/lanthanide/<producer.service>"
    ce_type         "lanthanide.<event_type>"          e.g. lanthanide.decision.made
    ce_time         envelope.occurred_at (RFC 3339)
    ce_subject      envelope.case_id (absent when the event has no case)
    ce_dataschema   the event's JSON Schema id, urn:lanthanide:event:<event_type>:v<schema_version>
    content-type    application/json (the datacontenttype)

The pre-CloudEvents headers (event_type, event_id, schema_version) are kept for existing
readers. Structured mode (content-type application/cloudevents+json, the envelope's fields as
CloudEvents attributes and the payload as `data`) changes the record value, so it waits for the
next major schema version. No I/O here: the contracts' clients import this too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
#: Prefix of CloudEvents types; the event type follows (lanthanide.application.submitted).
TYPE_PREFIX: Final = "lanthanide."


def source_of(service: str) -> str:
    """The CloudEvents source of a producing service (a URI reference)."""
    return f"/lanthanide/{service}"


def schema_id(event_type: str, schema_version: int | str) -> str:
    """The id of an event's JSON Schema (the same $id docs/schemas carries)."""
    return f"urn:lanthanide:event:{event_type}:v{schema_version}"


def record_headers(
    *,
    event_id: str,
    event_type: str,
    schema_version: int | str,
    occurred_at: str,
    service: str,
    case_id: str | None,
) -> dict[str, str]:
    """The headers of one record: CloudEvents binary-mode attributes plus the legacy headers.

    The one mapping from envelope to headers: every publish path (stages, outbox relay, HTTP
    submit, the client) uses it so a record's metadata never depends on who sent it."""
    headers = {
        "content-type": CONTENT_TYPE,
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id,
        "ce_source": source_of(service),
        "ce_type": TYPE_PREFIX + event_type,
        "ce_time": occurred_at,
        "ce_dataschema": schema_id(event_type, schema_version),
        "event_type": event_type,
        "event_id": event_id,
        "schema_version": str(schema_version),
    }
    if case_id:
        headers["ce_subject"] = case_id
    return headers


def json_record_headers(envelope: Mapping[str, Any]) -> dict[str, str]:
    """`record_headers` of an envelope in its JSON form (an outbox row, a client submission), read
    from the fields without validating the envelope again."""
    case_id = envelope.get("case_id")
    return record_headers(
        event_id=str(envelope["event_id"]),
        event_type=str(envelope["event_type"]),
        schema_version=envelope["schema_version"],
        occurred_at=str(envelope.get("occurred_at", "")),
        service=str((envelope.get("producer") or {}).get("service", "")),
        case_id=str(case_id) if case_id else None,
    )
