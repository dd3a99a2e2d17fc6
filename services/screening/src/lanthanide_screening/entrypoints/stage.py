"""The Kafka stages: application.accepted (and decisions) in, screening.completed out.

Two consumer groups: the service group reads accepted applications and decisions (same key,
same partition numbers, so with per-instance SQLite stores the instance that screened a case
also sees its decision); a per-instance group reads reference updates, so every instance
reloads its lists and re-screens the cases it holds.

The service group runs the same consume-transform-produce loop as lanthanide.kafka.register_stage
(records handled one after another, undecodable records and data errors dead-lettered, outputs
published with acks=all, offsets committed only after this function returns), inside
`Screening.batch()`: the store writes of the whole batch are made in one transaction before the
outputs are published, instead of a committed transaction (or two) per record. A crash before
that transaction commits redelivers the batch, and the writes are made again.
"""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from lanthanide.contracts import Envelope
from lanthanide.events import Outgoing
from lanthanide.kafka import Publisher, dead_letter_body, register_stage
from lanthanide.logging import get_logger
from lanthanide.serde import DecodeError, decode
from lanthanide.topics import Topics, dlq

from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.settings import ScreeningSettings

SERVICE = "screening"
log = get_logger(__name__)


async def _records(msg: StreamMessage[Any]) -> list[ConsumerRecord[Any, Any]]:
    raw = msg.raw_message
    return list(raw) if isinstance(raw, tuple) else [raw]


def register(broker: KafkaBroker, screening: Screening, settings: ScreeningSettings) -> None:
    """Subscribe both stages."""
    register_screening_stage(broker, screening, settings)
    register_stage(
        broker,
        topics=[settings.topic(Topics.REFERENCE_UPDATES)],
        group_id=f"{settings.group_id}-reference-{settings.instance}",
        service=SERVICE,
        handle=screening.handle_reference,
        settings=settings.kafka,
    )


def register_screening_stage(broker: KafkaBroker, screening: Screening, settings: ScreeningSettings) -> Any:
    """The service group: accepted applications and decisions, one store transaction per batch."""
    publisher = Publisher(broker)
    topics = [settings.topic(Topics.APPLICATIONS_ACCEPTED), settings.topic(Topics.DECISIONS)]

    async def dead_letter(record: ConsumerRecord[Any, Any], error: str) -> None:
        log.warning(
            "dead_lettered", topic=record.topic, partition=record.partition, offset=record.offset, error=error[:200]
        )
        await publisher.publish_raw(
            dlq(record.topic),
            dead_letter_body(record, error, SERVICE),
            key=record.key if isinstance(record.key, bytes) else None,
            headers={"content-type": "application/json", "dlq_error": error[:200]},
        )

    @broker.subscriber(
        *topics,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.kafka.max_batch_records,
        batch_timeout_ms=50,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_records,
        isolation_level="read_uncommitted",
        title=f"{SERVICE}:{','.join(topics)}",
    )
    async def on_batch(records: Any) -> None:
        outgoing: list[Outgoing] = []
        async with screening.batch():
            for record in records:
                try:
                    envelope: Envelope[Any] = decode(record.value or b"")
                except DecodeError as exc:
                    await dead_letter(record, exc.reason)
                    continue
                try:
                    outgoing.extend(await screening.handle(envelope))
                except (ValueError, KeyError, TypeError, LookupError) as exc:
                    # A bug or bad data in one event must not stall the partition: dead-letter it.
                    log.error("handler_failed", event_id=str(envelope.event_id), error=repr(exc)[:300])
                    await dead_letter(record, f"handler error: {exc!r}"[:2000])
        # The batch's store writes are committed (batch() exited): publish, then FastStream commits.
        await publisher.publish(outgoing)

    return on_batch
