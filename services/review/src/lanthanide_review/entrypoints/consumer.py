"""The review consumer: screening results and shipment reports in, via the outbox, out.

A batch stage of lanthanide.kafka (`register_batch_stage`: decode, dead-letter, commit after
the batch succeeds) whose outputs are not published by the runner: the records are applied in
database transactions that also store the outgoing envelopes (the whole batch in one unit of
work, see ReviewService.handle_batch), and the stage's `after_batch` flushes that outbox to
Kafka; the batch's offsets are committed only after that unit of work committed and the outbox
was flushed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from lanthanide.kafka import BatchHandler, BatchResult, Input, Publisher, register_batch_stage, run_batch

from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.service_layer.handlers import ReviewService, input_topics
from lanthanide_review.settings import ReviewSettings

SERVICE = "review"


def review_stage(service: ReviewService) -> BatchHandler:
    """The batch stage: every decoded input applied in order (consecutive screening results in
    one transaction, see ReviewService.handle_batch); its outputs are in the outbox, so the
    result carries only the events that failed on bad data, for the runner to dead-letter.
    Database errors are not caught: the batch is redelivered and deduplicated by event_id."""

    async def handle_batch(inputs: Sequence[Input]) -> BatchResult:
        items = [(item.envelope, item.topic) for item in inputs]  # a decoding stage: none is None
        return BatchResult(failures=await service.handle_batch(items))

    return handle_batch


async def process_batch(
    records: Sequence[Any], service: ReviewService, relay: OutboxRelay, publisher: Publisher
) -> None:
    """One Kafka batch: apply every record (dead-lettering bad ones), then flush the outbox.

    The subscriber's body (lanthanide.kafka.run_batch with this stage), as a plain function so
    the CPU benchmark and the batch tests run the same code path.
    """
    await run_batch(records, service=SERVICE, publisher=publisher, handle_batch=review_stage(service),
                    after_batch=relay.flush)


def register_consumer(broker: KafkaBroker, settings: ReviewSettings, service: ReviewService, relay: OutboxRelay) -> Any:
    """Subscribe the review use cases to their input topics (group lanthanide-review)."""
    return register_batch_stage(
        broker, topics=settings.topics(input_topics()), group_id=settings.group_id, service=SERVICE,
        settings=settings.kafka, handle_batch=review_stage(service), after_batch=relay.flush,
    )
