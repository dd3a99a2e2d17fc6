"""Intake's use cases: a submission in, exactly one outcome out (cosmicpython's handlers.py).

`EVENT_HANDLERS` is the one place that says which payload type intake handles, on which
catalogue topic, and what it does with it: on the shared topic the application is assessed
(accepted or rejected); on a Kafka submitter's own topic (`<topic>.<submitter>`, the route's
`gated` use case) it is checked against the submitter's exporters and forwarded to the shared
topic. `Submissions.handle` dispatches through it and `subscriptions` derives the stage's
subscriptions from it. No broker, database or HTTP library is imported here: the stage
(entrypoints/stage.py) hands in the envelopes and the submitter stamp of the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from lanthanide.contracts import Application
from lanthanide.contracts.envelope import Envelope
from lanthanide.events import EventFactory, Outgoing
from lanthanide.ids import case_id_for, derived_id
from lanthanide.topics import Topics
from pydantic import BaseModel

from lanthanide_intake.domain.intake import Accepted, Rejected, assess, refusal
from lanthanide_intake.domain.submitters import SUBMITTER_HEADER, SubmitterGrant, not_authorised
from lanthanide_intake.settings import IntakeSettings


class Submissions:
    """Assesses each submission and emits exactly one accepted or rejected event for it.

    With `submitter` (the grant of the Kafka submitter whose own topic is read) it is that
    topic's gate: the route's `gated` use case, and the submitter is taken from the topic."""

    def __init__(
        self, events: EventFactory, topic: Callable[[str], str] = str, submitter: SubmitterGrant | None = None
    ) -> None:
        self.events = events
        self.topic = topic  # the deployment's topic name for a catalogue topic (its prefix)
        self.submitter = submitter

    async def handle(self, envelope: Envelope[Any], stamped_by: str | None = None) -> Sequence[Outgoing]:
        """The use case EVENT_HANDLERS names for the payload's type (`gated` on a submitter's own
        topic); any other event on the topic is not intake's business. `stamped_by`: the
        submitter stamp of the record (the SUBMITTER_HEADER intake put on the shared topic)."""
        route = EVENT_HANDLERS.get(type(envelope.payload))
        if route is None or envelope.event_type != route.event_type:
            return ()
        use_case = route.gated if self.submitter is not None else route.handler
        if use_case is None:
            return ()
        return await use_case(self, envelope, stamped_by)

    async def on_submitted(self, envelope: Envelope[Any], stamped_by: str | None = None) -> Sequence[Outgoing]:
        """application.submitted on the shared topic: accepted or rejected."""
        # The payload is an Application the envelope decoder has validated: assess takes it as is.
        return [self.outcome(envelope.payload, envelope.event_id, envelope.correlation_id, envelope.occurred_at,
                             stamped_by)]

    async def on_submitted_by_submitter(
        self, envelope: Envelope[Any], stamped_by: str | None = None
    ) -> Sequence[Outgoing]:
        """application.submitted on a Kafka submitter's own topic (only its principal may write it,
        so the topic is the identity; the payload never is): an application for an exporter the
        submitter is bound to goes on, as it is, to the shared lanthanide.applications.submitted,
        which intake alone writes and where the audit ledger, case histories and the intake stage
        read every submission; any other is rejected here. One rule with the HTTP API: not_authorised."""
        assert self.submitter is not None  # handle() routes here only for a submitter's topic
        app: Application = envelope.payload
        if refused := not_authorised(self.submitter, app, via="Kafka submitter"):
            return [self.emit(refusal(app, refused), envelope.event_id, envelope.correlation_id)]
        # The key and the case are the application's own (exporter + reference), whatever the
        # sender wrote in the envelope: it must not file its submission under another case.
        case_id = case_id_for(app.exporter_key, app.external_reference)
        if envelope.case_id != case_id:
            envelope = envelope.model_copy(update={"case_id": case_id})
        return [Outgoing(self.topic(Topics.APPLICATIONS_SUBMITTED), envelope,
                         {SUBMITTER_HEADER: f"kafka:{self.submitter.submitter}"})]

    def outcome(
        self, data: Any, source_id: UUID, correlation_id: UUID, received_at: datetime,
        stamped_by: str | None = None,
    ) -> Outgoing:
        """The accepted or rejected event for one submission (an Application or raw data)."""
        # Received = when it was submitted, not when we got round to it: a replay or a lagging
        # consumer must not move the review clock or the document-expiry check.
        result = assess(data, received_at=received_at, submitter=self.submitter)
        if isinstance(result, Accepted):
            # Who submitted it is the stamp intake put on the shared topic (which intake alone
            # writes on a secured cluster) or the submitter's own topic, never the payload; only
            # the case's first submitter then changes its contact (rule SUB-CONTACT-OWNER).
            by = f"kafka:{self.submitter.submitter}" if self.submitter is not None else stamped_by
            result = Accepted(result.case_id, result.payload.model_copy(update={"submitted_by": by}))
        return self.emit(result, source_id, correlation_id)

    def emit(self, result: Accepted | Rejected, source_id: UUID, correlation_id: UUID) -> Outgoing:
        if isinstance(result, Accepted):
            topic, event_type = Topics.APPLICATIONS_ACCEPTED, "application.accepted"
        else:
            topic, event_type = Topics.APPLICATIONS_REJECTED, "application.rejected"
        envelope = self.events.new(
            event_type, result.payload, case_id=result.case_id, correlation_id=correlation_id,
            causation_id=source_id, event_id=derived_id(source_id, event_type),
        )
        return Outgoing(self.topic(topic), envelope)


# ---------------------------------------------------------------- the registry

UseCase = Callable[[Submissions, Envelope[Any], str | None], Awaitable[Sequence[Outgoing]]]


@dataclass(frozen=True)
class Route:
    """Where a payload type arrives (its event type on a catalogue topic) and its use cases:
    `handler` on that topic, `gated` on each Kafka submitter's own `<topic>.<submitter>` (None:
    the payload has no submitters' topics)."""

    event_type: str
    topic: str
    handler: UseCase
    gated: UseCase | None = None


#: payload type -> route: every input intake handles, and nothing else.
EVENT_HANDLERS: dict[type[BaseModel], Route] = {
    Application: Route("application.submitted", Topics.APPLICATIONS_SUBMITTED, Submissions.on_submitted,
                       gated=Submissions.on_submitted_by_submitter),
}


@dataclass(frozen=True)
class Subscription:
    """One topic the stage reads (the deployment's name), its consumer group, and the grant of
    the Kafka submitter whose own topic it is (None: the shared topic)."""

    topic: str
    group_id: str
    submitter: SubmitterGrant | None = None


def subscriptions(settings: IntakeSettings) -> list[Subscription]:
    """The topics of EVENT_HANDLERS with this deployment's prefix, in the service's group, then,
    if the route of the shared submissions topic has a gate, each Kafka submitter's own topic
    (`lanthanide.topics.submitter_topic`) in a group of its own (each commits on its own, and
    adding a submitter does not rebalance the others)."""
    routes = list(EVENT_HANDLERS.values())
    out = [Subscription(settings.topic(t), settings.group_id) for t in dict.fromkeys(r.topic for r in routes)]
    if any(r.topic == Topics.APPLICATIONS_SUBMITTED and r.gated is not None for r in routes):
        out += [Subscription(topic, f"{settings.group_id}.{grant.submitter}", grant)
                for topic, grant in settings.kafka_grants().items()]
    return out
