"""From a Kafka record's bytes and position to a ledger entry.

Undecodable records are not dead-lettered by audit: the stage that owns the topic already
does that (intake turns bad submissions into rejections), and a second DLQ copy would be a
duplicate. Audit records them as "undecodable" entries instead, so the ledger still shows that
garbage arrived, where, and why it was refused. Their id is derived from the record's position,
so re-reading the topic does not append them twice.

Light parse. The ledger stores the canonical bytes plus a few envelope columns, so audit does
not need the typed payload. Validating it with pydantic was most of audit's CPU (an Application
payload costs 0.1-0.25 ms to validate). `entry_from_record` therefore parses the JSON once
(orjson) and checks the envelope fields it stores in their canonical form (lower-case
hyphenated UUIDs, an ISO-8601 time with "Z" or an offset that round-trips, string producer fields, a
known event type, an integer schema version, an object payload): for such input pydantic
would produce exactly the same column values. Anything else (unusual but maybe valid forms,
missing fields, oversize records, non-JSON) goes through the full `lanthanide.serde.decode`
as before, so an undecodable record is recorded exactly as it was, with the same reason.

What the light parse does not do is validate the payload's fields. Events that enter the
system from outside (FULLY_VALIDATED: submissions from upstream systems, reference updates from
the CLI, shipment reports) still are, so a bad submission is recorded as undecodable, with its
reason, exactly as before. Events the services publish are built from validated models; one
whose envelope is well formed but whose payload is not (a producer bug) is recorded under its
event type rather than as undecodable; the consuming service dead-letters it in any case.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from lanthanide.contracts.events import EVENT_TYPES
from lanthanide.ids import derived_id
from lanthanide.serde import MAX_MESSAGE_BYTES, DecodeError, decode

from lanthanide_audit.domain.ledger import UNDECODABLE, NewEntry, canonical_bytes, canonical_event

#: Event types produced outside the services: their payloads are validated in full, so an
#: invalid one is recorded as undecodable exactly as before.
FULLY_VALIDATED = frozenset({"application.submitted", "reference.updated", "shipment.reported"})

_KNOWN_TYPES = frozenset(EVENT_TYPES)
# str(UUID(x)) == x exactly for these, and pydantic accepts them.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{6})?(?:Z|[+-]\d{2}:\d{2})\Z")


def _uuid(value: Any) -> bool:
    return type(value) is str and _UUID.match(value) is not None


def _optional_uuid(value: Any) -> bool:
    return value is None or _uuid(value)


def _time(value: Any) -> str | None:
    """What pydantic's AwareDatetime(value).isoformat() gives, for an aware ISO-8601 time as
    the services write it ("Z" or an offset; whole seconds or microseconds); else None."""
    if type(value) is not str or _ISO_TIME.match(value) is None:
        return None
    expected = value[:-1] + "+00:00" if value[-1] == "Z" else value
    try:
        parsed = datetime.fromisoformat(expected)
    except ValueError:
        return None
    return expected if parsed.tzinfo is not None and parsed.isoformat() == expected else None


def light_entry(data: Any, canonical: bytes, topic: str, partition: int, offset: int) -> NewEntry | None:
    """The entry for an already-parsed record whose envelope is in canonical form; None when the
    record needs the full decode (payload validation, or any field in an unusual form)."""
    if type(data) is not dict:
        return None
    event_type = data.get("event_type")
    if type(event_type) is not str or event_type not in _KNOWN_TYPES or event_type in FULLY_VALIDATED:
        return None
    producer = data.get("producer")
    if type(producer) is not dict:
        return None
    service, version, instance = producer.get("service"), producer.get("version"), producer.get("instance")
    event_id, case_id = data.get("event_id"), data.get("case_id")
    correlation_id, causation_id = data.get("correlation_id"), data.get("causation_id")
    occurred_at = _time(data.get("occurred_at"))
    schema_version = data.get("schema_version", 1)
    if not (
        type(service) is str and type(version) is str and (instance is None or type(instance) is str)
        and _uuid(event_id) and _uuid(correlation_id) and _optional_uuid(case_id)
        and _optional_uuid(causation_id) and occurred_at is not None and type(schema_version) is int
        and type(data.get("payload")) is dict
    ):
        return None
    return NewEntry(
        event_id=event_id, event_type=event_type, case_id=case_id, correlation_id=correlation_id,
        causation_id=causation_id, producer=f"{service}@{version}", occurred_at=occurred_at,
        topic=topic, partition=partition, offset=offset, canonical=canonical,
    )


def entry_from_record(raw: bytes, topic: str, partition: int, offset: int) -> NewEntry:
    """The ledger entry for one record."""
    if len(raw) <= MAX_MESSAGE_BYTES:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the full decode below records it as undecodable, with the same reason as ever
        else:
            entry = light_entry(data, canonical_bytes(data), topic, partition, offset)
            if entry is not None:
                return entry
    return full_entry(raw, topic, partition, offset)


def full_entry(raw: bytes, topic: str, partition: int, offset: int) -> NewEntry:
    """The ledger entry for one record, with the envelope and payload validated by pydantic."""
    try:
        env = decode(raw)
    except DecodeError as exc:
        canonical = canonical_event(raw)
        return NewEntry(
            event_id=str(derived_id("audit-undecodable", topic, partition, offset)),
            event_type=UNDECODABLE, case_id=None, correlation_id=None, causation_id=None,
            producer=None, occurred_at=None, topic=topic, partition=partition, offset=offset,
            # Not JSON at all: keep the bytes as they came (hashed all the same).
            canonical=canonical if canonical is not None else raw,
            error=exc.reason[:2000],
        )
    return NewEntry(
        event_id=str(env.event_id),
        event_type=env.event_type,
        case_id=str(env.case_id) if env.case_id else None,
        correlation_id=str(env.correlation_id),
        causation_id=str(env.causation_id) if env.causation_id else None,
        producer=f"{env.producer.service}@{env.producer.version}",
        occurred_at=env.occurred_at.isoformat(),
        topic=topic, partition=partition, offset=offset,
        # decode() succeeded, so the bytes are JSON and have a canonical form.
        canonical=canonical_event(raw) or raw,
    )
