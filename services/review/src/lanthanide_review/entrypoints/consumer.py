"""The review consumer: screening results and shipment reports in, via the outbox, out.

The same consumer shape as lanthanide.kafka.register_stage (lanthanide.kafka.batch_subscriber:
commit after the batch succeeds, undecodable records dead-lettered) but the records are
applied in database transactions that also store the outgoing envelopes (the whole batch in
one unit of work, see ReviewService.handle_batch); the batch's
offsets are committed only after those transactions committed and the outbox was flushed to
Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from lanthanide import observe
from lanthanide.contracts import Envelope
from lanthanide.kafka import Publisher, batch_subscriber, dead_letter, publisher_for
from lanthanide.logging import get_logger
from lanthanide.serde import DecodeError, decode

from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.service_layer.handlers import ReviewService
from lanthanide_review.settings import ReviewSettings

log = get_logger(__name__)
SERVICE = "review"


async def process_batch(
    records: Sequence[Any], service: ReviewService, relay: OutboxRelay, publisher: Publisher
) -> None:
    """One Kafka batch: apply every record (dead-lettering bad ones), then flush the outbox.

    The subscriber's body, as a plain function so the CPU benchmark runs the same code path.
    """
    decoded: list[tuple[Any, Envelope[Any]]] = []
    for record in records:
        try:
            decoded.append((record, decode(record.value or b"")))
        except DecodeError as exc:
            await dead_letter(publisher, record, exc.reason, SERVICE)
    # Applied in order, the batch in one unit of work (see handle_batch).
    # Bad data in one event must not stall the partition: it comes back here to be
    # dead-lettered. Database and Kafka errors are not caught: the batch is redelivered and
    # deduplicated by event_id.
    # The batch's spans and log context stay open until its outputs are published.
    with observe.handling_batch(SERVICE, decoded):
        failures = await service.handle_batch([(envelope, record.topic) for record, envelope in decoded])
        for index, error in failures:
            record, envelope = decoded[index]
            log.error("handler_failed", event_id=str(envelope.event_id), error=repr(error)[:300])
            await dead_letter(publisher, record, f"handler error: {error!r}"[:2000], SERVICE)
        await relay.flush()


def register_consumer(broker: KafkaBroker, settings: ReviewSettings, service: ReviewService, relay: OutboxRelay) -> Any:
    """Subscribe the review use cases to their input topics (group lanthanide-review)."""
    publisher = publisher_for(broker, settings.kafka, "review-publisher")

    @batch_subscriber(broker, settings.input_topics, group_id=settings.group_id, service=SERVICE,
                      settings=settings.kafka)
    async def on_batch(records: Any) -> None:
        await process_batch(records, service, relay, publisher)

    return on_batch
