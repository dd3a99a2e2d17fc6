"""From a Kafka record's bytes and position to a ledger entry.

Undecodable records are not dead-lettered by audit: the stage that owns the topic already
does that (intake turns bad submissions into rejections), and a second DLQ copy would be a
duplicate. Audit records them as "undecodable" entries instead, so the ledger still shows that
garbage arrived, where, and why it was refused. Their id is derived from the record's position,
so re-reading the topic does not append them twice.
"""

from __future__ import annotations

from lanthanide.ids import derived_id
from lanthanide.serde import DecodeError, decode

from lanthanide_audit.domain.ledger import UNDECODABLE, NewEntry, canonical_event


def entry_from_record(raw: bytes, topic: str, partition: int, offset: int) -> NewEntry:
    """The ledger entry for one record."""
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
