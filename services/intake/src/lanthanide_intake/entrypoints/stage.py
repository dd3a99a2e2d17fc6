"""Kafka entrypoints: lanthanide.applications.submitted -> accepted | rejected (| DLQ), and each
Kafka submitter's own lanthanide.applications.submitted.<submitter> -> the shared topic (its own
exporters) | rejected (| DLQ).

The subscriptions and the use cases are those of service_layer/handlers.py (EVENT_HANDLERS,
`subscriptions`); this module adapts them to the Kafka records: the submitter stamp of the
record being handled, and records that are not a valid envelope."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from lanthanide.contracts.envelope import Envelope
from lanthanide.events import EventFactory, Outgoing
from lanthanide.ids import derived_id
from lanthanide.kafka import handled_header, register_stage
from lanthanide.serde import DecodeError, loads

from lanthanide_intake.domain.submitters import SUBMITTER_HEADER, SubmitterGrant
from lanthanide_intake.service_layer.handlers import Submissions, subscriptions
from lanthanide_intake.settings import IntakeSettings


class IntakeStage:
    """One subscribed topic's stage: its envelopes to the use cases (`Submissions.handle`), JSON
    that is not a valid application to a rejection, anything else to the DLQ."""

    def __init__(
        self, events: EventFactory, topic: Callable[[str], str] = str, submitter: SubmitterGrant | None = None
    ) -> None:
        self.submissions = Submissions(events, topic, submitter)

    async def on_envelope(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        return await self.submissions.handle(envelope, handled_header(SUBMITTER_HEADER))

    async def on_undecodable(
        self, record: ConsumerRecord[Any, Any], error: DecodeError
    ) -> Sequence[Outgoing] | None:
        """JSON that is not a valid application becomes a rejection; non-JSON goes to the DLQ."""
        try:
            data = loads(record.value or b"")
        except DecodeError:
            return None
        if not isinstance(data, dict):
            return None
        # The id of the input: the envelope's if it has a usable one, else its Kafka coordinates.
        source_id = _uuid(data.get("event_id")) or derived_id(record.topic, record.partition, record.offset)
        correlation = _uuid(data.get("correlation_id")) or source_id
        payload = data.get("payload") if "event_type" in data else data
        received = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        return [self.submissions.outcome(payload, source_id, correlation, received,
                                         _header(record, SUBMITTER_HEADER))]


def _header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return None


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def register(broker: KafkaBroker, settings: IntakeSettings, events: EventFactory) -> list[str]:
    """Subscribe one stage per subscription the registry derives (service_layer/handlers.py
    `subscriptions`: the shared topic, then every Kafka submitter's own); returns the topics."""
    subs = subscriptions(settings)
    for sub in subs:
        stage = IntakeStage(events, settings.topic, sub.submitter)
        register_stage(
            broker, topics=[sub.topic], group_id=sub.group_id, service="intake", handle=stage.on_envelope,
            settings=settings.kafka, on_undecodable=stage.on_undecodable,
        )
    return [sub.topic for sub in subs]
