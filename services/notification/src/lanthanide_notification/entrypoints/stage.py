"""The Kafka stage: a batch of input events in, deliveries made, outcome events out, then commit.

Unlike lanthanide.kafka.register_stage (which handles a batch's records one after another),
this stage hands the whole batch to the service so deliveries to different cases and hosts run
concurrently. The commit semantics are the same: FastStream commits the batch only after this
function returns, i.e. after every delivery finished and every outcome was acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from lanthanide.contracts import Envelope
from lanthanide.events import Outgoing
from lanthanide.kafka import Publisher, dead_letter_body
from lanthanide.logging import get_logger
from lanthanide.serde import DecodeError, decode
from lanthanide.settings import KafkaSettings
from lanthanide.topics import dlq

from lanthanide_notification import SERVICE
from lanthanide_notification.service import NotificationService

log = get_logger(__name__)


async def _records(msg: StreamMessage[Any]) -> list[ConsumerRecord[Any, Any]]:
    raw = msg.raw_message
    return list(raw) if isinstance(raw, tuple) else [raw]


async def handle_records(
    service: NotificationService,
    records: Sequence[Any],
    dead_letter: Callable[[Any, str], Awaitable[None]],
) -> list[Outgoing]:
    """One Kafka batch (records with value, topic, partition, offset, key): decode, hand the
    envelopes to the service, dead-letter what cannot be handled; returns the outcome events to
    publish. The subscriber and bench/cpu_notification.py share it."""
    envelopes: list[Envelope[Any]] = []
    source: dict[object, Any] = {}
    for record in records:
        try:
            envelope = decode(record.value or b"")
        except DecodeError as exc:
            await dead_letter(record, exc.reason)
            continue
        envelopes.append(envelope)
        source[envelope.event_id] = record
    outgoing, failed = await service.handle_batch(envelopes)
    for envelope, error in failed:
        await dead_letter(source[envelope.event_id], f"handler error: {error!r}"[:2000])
    return outgoing


def register_notification_stage(
    broker: KafkaBroker,
    service: NotificationService,
    *,
    topics: list[str],
    group_id: str,
    kafka: KafkaSettings,
) -> Any:
    """Subscribe the notification service to `topics` as consumer group `group_id`."""
    publisher = Publisher(broker)

    async def dead_letter(record: ConsumerRecord[Any, Any], error: str) -> None:
        log.warning("dead_lettered", topic=record.topic, offset=record.offset, error=error[:200])
        await publisher.publish_raw(
            dlq(record.topic), dead_letter_body(record, error, SERVICE),
            key=record.key if isinstance(record.key, bytes) else None,
            headers={"content-type": "application/json", "dlq_error": error[:200]},
        )

    @broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=kafka.max_batch_records,
        batch_timeout_ms=50,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_records,
        title=f"{SERVICE}:{','.join(topics)}",
    )
    async def on_batch(records: Any) -> None:
        await publisher.publish(await handle_records(service, records, dead_letter))

    return on_batch
