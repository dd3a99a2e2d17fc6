"""The Kafka stage: a batch of input events in, deliveries queued, re-emitted outcomes out, commit.

Unlike lanthanide.kafka.register_stage (which handles a batch's records one after another),
this stage hands the whole batch to the service, which queues its deliveries in the store in
one transaction (with the contacts it learned) and returns at once: no receiver is waited for
here, the delivery worker makes every attempt. FastStream commits the batch's offsets only after
this function returns, i.e. after the queue and contacts were committed and every re-emitted
outcome acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from lanthanide import observe
from lanthanide.contracts import Envelope
from lanthanide.events import Outgoing
from lanthanide.kafka import batch_subscriber, dead_letter, publisher_for
from lanthanide.logging import get_logger
from lanthanide.serde import DecodeError, decode
from lanthanide.settings import KafkaSettings

from lanthanide_notification import SERVICE
from lanthanide_notification.service import NotificationService

log = get_logger(__name__)


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
        observe.add_to_batch(SERVICE, record, envelope)
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
    publisher = publisher_for(broker, kafka, "notification-publisher")

    async def dead_letter_one(record: ConsumerRecord[Any, Any], error: str) -> None:
        await dead_letter(publisher, record, error, SERVICE)

    @batch_subscriber(broker, topics, group_id=group_id, service=SERVICE, settings=kafka)
    async def on_batch(records: Any) -> None:
        # One scope for the batch: its spans and log context last until the outcomes are published.
        with observe.handling_batch(SERVICE, ()):
            await publisher.publish(await handle_records(service, records, dead_letter_one))

    return on_batch
