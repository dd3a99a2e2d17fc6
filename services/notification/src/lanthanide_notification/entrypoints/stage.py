"""The Kafka stage: a batch of input events in, deliveries queued, re-emitted outcomes out, commit.

A batch stage of lanthanide.kafka (`register_batch_stage`): the shared runner decodes the
batch and hands all its envelopes to the service at once, which queues their deliveries in the
store in one transaction (with the contacts it learned) and returns at once: no receiver is
waited for here, the delivery worker makes every attempt. The runner dead-letters the events
the service failed on, publishes the re-emitted outcomes, and FastStream commits the batch's
offsets only after that, i.e. after the queue and contacts were committed and every re-emitted
outcome acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from lanthanide.kafka import BatchHandler, BatchResult, Input, Publisher, register_batch_stage, run_batch
from lanthanide.settings import KafkaSettings

from lanthanide_notification import SERVICE
from lanthanide_notification.service_layer.handlers import NotificationService


def notification_stage(service: NotificationService) -> BatchHandler:
    """The batch stage: the batch's envelopes to NotificationService.handle_batch; its outcome
    events to publish, and the events that failed on bad data (for the runner to dead-letter)."""

    async def handle_batch(inputs: Sequence[Input]) -> BatchResult:
        envelopes = [item.envelope for item in inputs]  # a decoding stage: none is None
        outgoing, failed = await service.handle_batch(envelopes)  # type: ignore[arg-type]
        position = {id(envelope): index for index, envelope in enumerate(envelopes)}
        return BatchResult(outgoing=outgoing, failures=[(position[id(env)], error) for env, error in failed])

    return handle_batch


async def handle_records(
    service: NotificationService, records: Sequence[Any], publisher: Publisher,
    max_message_bytes: int = KafkaSettings.model_fields["max_message_bytes"].default,
) -> None:
    """One Kafka batch (records with value, topic, partition, offset, key) through the shared
    runner: decode, hand the envelopes to the service, dead-letter what cannot be handled,
    publish the outcome events. The subscriber and bench/cpu_notification.py share it."""
    await run_batch(records, service=SERVICE, publisher=publisher, handle_batch=notification_stage(service),
                    max_message_bytes=max_message_bytes)


def register_notification_stage(
    broker: KafkaBroker,
    service: NotificationService,
    *,
    topics: list[str],
    group_id: str,
    kafka: KafkaSettings,
) -> Any:
    """Subscribe the notification service to `topics` as consumer group `group_id`."""
    return register_batch_stage(broker, topics=topics, group_id=group_id, service=SERVICE, settings=kafka,
                                handle_batch=notification_stage(service))
