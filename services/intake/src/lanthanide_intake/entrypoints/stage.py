"""Kafka entrypoints: lanthanide.applications.submitted -> accepted | rejected (| DLQ), and each
Kafka submitter's own lanthanide.applications.submitted.<submitter> -> the shared topic (its own
exporters) | rejected (| DLQ)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from lanthanide.contracts.envelope import Envelope
from lanthanide.events import EventFactory, Outgoing
from lanthanide.ids import case_id_for, derived_id
from lanthanide.kafka import handled_header, register_stage
from lanthanide.serde import DecodeError, loads
from lanthanide.topics import Topics

from lanthanide_intake.domain.intake import Accepted, Rejected, assess, refusal
from lanthanide_intake.domain.submitters import SUBMITTER_HEADER, SubmitterGrant, not_authorised
from lanthanide_intake.settings import IntakeSettings


class IntakeStage:
    """Assesses each submission and emits exactly one accepted or rejected event for it."""

    def __init__(
        self, events: EventFactory, topic: Callable[[str], str] = str, submitter: SubmitterGrant | None = None
    ) -> None:
        self.events = events
        self.topic = topic  # the deployment's topic name for a catalogue topic (its prefix)
        self.submitter = submitter  # the grant of the Kafka submitter whose own topic it reads

    async def on_envelope(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        if envelope.event_type != "application.submitted":
            return ()
        # The payload is an Application the envelope decoder has validated: assess takes it as is.
        return [self._outcome(envelope.payload, envelope.event_id, envelope.correlation_id, envelope.occurred_at,
                              handled_header(SUBMITTER_HEADER))]

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
        return [self._outcome(payload, source_id, correlation, received, _header(record, SUBMITTER_HEADER))]

    def _outcome(
        self, data: Any, source_id: UUID, correlation_id: UUID, received_at: datetime,
        stamped_by: str | None = None,
    ) -> Outgoing:
        # Received = when it was submitted, not when we got round to it: a replay or a lagging
        # consumer must not move the review clock or the document-expiry check.
        result = assess(data, received_at=received_at, submitter=self.submitter)
        if isinstance(result, Accepted):
            # Who submitted it is the stamp intake put on the shared topic (which intake alone
            # writes on a secured cluster) or the submitter's own topic, never the payload; only
            # the case's first submitter then changes its contact (rule SUB-CONTACT-OWNER).
            by = f"kafka:{self.submitter.submitter}" if self.submitter is not None else stamped_by
            result = Accepted(result.case_id, result.payload.model_copy(update={"submitted_by": by}))
        return self._emit(result, source_id, correlation_id)

    def _emit(self, result: Accepted | Rejected, source_id: UUID, correlation_id: UUID) -> Outgoing:
        if isinstance(result, Accepted):
            topic, event_type = Topics.APPLICATIONS_ACCEPTED, "application.accepted"
        else:
            topic, event_type = Topics.APPLICATIONS_REJECTED, "application.rejected"
        envelope = self.events.new(
            event_type, result.payload, case_id=result.case_id, correlation_id=correlation_id,
            causation_id=source_id, event_id=derived_id(source_id, event_type),
        )
        return Outgoing(self.topic(topic), envelope)


class SubmitterGate(IntakeStage):
    """A Kafka submitter's own topic (only its principal may write it, so the topic is the
    identity; the payload never is): an application for an exporter the submitter is bound to
    goes on, as it is, to the shared lanthanide.applications.submitted, which intake alone
    writes and where the audit ledger, case histories and the intake stage read every
    submission; any other is rejected here. One rule with the HTTP API: not_authorised."""

    def __init__(self, events: EventFactory, topic: Callable[[str], str], submitter: SubmitterGrant) -> None:
        super().__init__(events, topic, submitter)
        self.grant = submitter

    async def on_envelope(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        if envelope.event_type != "application.submitted":
            return ()
        app = envelope.payload
        if refused := not_authorised(self.grant, app, via="Kafka submitter"):
            return [self._emit(refusal(app, refused), envelope.event_id, envelope.correlation_id)]
        # The key and the case are the application's own (exporter + reference), whatever the
        # sender wrote in the envelope: it must not file its submission under another case.
        case_id = case_id_for(app.exporter_key, app.external_reference)
        if envelope.case_id != case_id:
            envelope = envelope.model_copy(update={"case_id": case_id})
        return [Outgoing(self.topic(Topics.APPLICATIONS_SUBMITTED), envelope,
                         {SUBMITTER_HEADER: f"kafka:{self.grant.submitter}"})]


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
    """Subscribe the shared topic and every Kafka submitter's own topic; returns the topics."""
    inputs: dict[str, tuple[str, SubmitterGrant | None]] = {
        settings.topic(Topics.APPLICATIONS_SUBMITTED): (settings.group_id, None),
    }
    for topic, submitter in settings.kafka_grants().items():
        # A group per submitter topic: each commits on its own, and adding a submitter does not
        # rebalance the others.
        inputs[topic] = (f"{settings.group_id}.{submitter.submitter}", submitter)
    for topic, (group_id, grant) in inputs.items():
        stage = IntakeStage(events, settings.topic) if grant is None else SubmitterGate(events, settings.topic, grant)
        register_stage(
            broker, topics=[topic], group_id=group_id, service="intake", handle=stage.on_envelope,
            settings=settings.kafka, on_undecodable=stage.on_undecodable,
        )
    return list(inputs)
