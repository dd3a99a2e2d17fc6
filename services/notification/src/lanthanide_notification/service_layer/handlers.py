"""Notification's use cases and registry: input events in, queued deliveries and outcome events
out (cosmicpython's handlers.py).

`EVENT_HANDLERS` is the one place that says which payload type notification handles, on which
catalogue topic, and how it becomes a notice (a builder of domain/routing.py); `notice_for`
dispatches through it, and the stage subscribes to `input_topics()` (prefixed:
`settings.topics(input_topics())`), derived from it. No broker, database or HTTP library is
imported here: the store and the senders are handed in by bootstrap.

The Kafka consumer never delivers: `handle_batch` learns the case contacts, works out each
event's notice and targets, and queues every new delivery in the store (pending_deliveries) in
the one transaction that also saves the contacts, before the batch's offsets are committed (an
outbox). The delivery worker (delivery_worker.py) makes every round of attempts, the first
included, with per-host limits and a deadline per attempt, and publishes each outcome; so a
slow or hostile receiver holds up neither the partition nor anyone else's notices.

Idempotent by (event_id, channel, target): a delivery already queued is not queued again, and
one already finished is never sent again; its outcome event is re-emitted with the same
deterministic id instead, so a crash between "logged" and "published" loses no outcome and
duplicates none downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from lanthanide import metrics
from lanthanide.contracts import (
    ApplicationAccepted,
    ApplicationRejected,
    CaseEvent,
    DecisionMade,
    Envelope,
    NotificationOutcome,
)
from lanthanide.events import BAD_EVENT_ERRORS, EventFactory, Outgoing
from lanthanide.logging import get_logger
from lanthanide.serde import encode
from lanthanide.topics import Topics
from pydantic import BaseModel

from lanthanide_notification.domain import routing
from lanthanide_notification.domain.model import CaseContact, Channel, DeliveryResult, Notice, NoticeKind, Target
from lanthanide_notification.domain.ports import DeliveryKey, DeliveryLog, Sender
from lanthanide_notification.domain.retry import BackoffSchedule
from lanthanide_notification.domain.routing import Draft, contact_from, merge_contacts, targets_for

log = get_logger(__name__)


class NotificationService:
    """Handles envelopes: remembers case contacts, queues notices, reports outcomes."""

    def __init__(
        self,
        *,
        store: DeliveryLog,
        senders: dict[Channel, Sender],
        factory: EventFactory,
        outcome_topic: str,
        schedule: BackoffSchedule | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.senders = senders
        self.factory = factory
        self.outcome_topic = outcome_topic
        #: Persisted retries after a failed round; none (the default) = failed at once.
        self.schedule = schedule or BackoffSchedule()
        self.clock = clock
        #: Called once a batch queued deliveries (the running worker looks at the queue at once).
        self.on_queued = on_queued

    async def handle_batch(
        self, envelopes: Sequence[Envelope[Any]]
    ) -> tuple[list[Outgoing], list[tuple[Envelope[Any], Exception]]]:
        """Handle a batch: queue its deliveries, in one transaction with the contacts learned.

        Returns the outcome events re-emitted for deliveries that had finished already (a
        redelivered or replayed topic) and the events that failed with a data error (for the
        dead-letter topic); infrastructure errors (database down) propagate so the batch is
        redelivered. Nothing here waits for a receiver.
        """
        learned, changed, failed = await self._learn_contacts(envelopes)
        # The notices and their targets first, so the store is read once for the batch.
        planned: list[tuple[Envelope[Any], Notice, list[Target]]] = []
        subscriptions = await self.store.subscriptions()
        for env, contact in learned:
            try:
                notice = notice_for(env, contact)
                if notice is None:
                    continue
                targets = targets_for(notice, subscriptions)
            except BAD_EVENT_ERRORS as exc:  # dead-lettered (and logged) by the stage's runner
                failed.append((env, exc))
                continue
            if not targets:
                log.info("no_targets", event_id=str(env.event_id), kind=notice.kind.value)
                continue
            planned.append((env, notice, targets))
        known = await self.store.find_many(
            [(n.event_id, t.channel, t.address) for _, n, targets in planned for t in targets]
        )
        outgoing: list[Outgoing] = []
        queued: dict[DeliveryKey, tuple[Notice, Target, str]] = {}
        for env, notice, targets in planned:
            body: str | None = None
            for target in targets:
                key = (notice.event_id, target.channel, target.address)
                done = known.get(key)
                if done is not None:
                    if done.result.status != "pending":  # finished: say again how it ended
                        log.info("delivery_already_logged", event_id=str(notice.event_id), channel=target.channel)
                        outgoing.append(self._outcome(env, notice, target, done.result, done.replay))
                    continue
                if key not in queued:  # the same event twice in one batch is queued once
                    body = body if body is not None else encode(env).decode("utf-8")
                    queued[key] = (notice, target, body)
        await self.store.enqueue(changed, list(queued.values()), self.clock())
        if queued:
            log.info("deliveries_queued", count=len(queued))
            self.on_queued()
        return outgoing, failed

    async def handle(self, envelope: Envelope[Any]) -> list[Outgoing]:
        """Handle one event: learn its contact, deliver its notice to every target."""
        outgoing, failed = await self.handle_batch([envelope])
        if failed:
            raise failed[0][1]
        return outgoing

    async def _learn_contacts(
        self, envelopes: Sequence[Envelope[Any]]
    ) -> tuple[
        list[tuple[Envelope[Any], CaseContact | None]], list[CaseContact], list[tuple[Envelope[Any], Exception]]
    ]:
        """Each event with the case contact known once it is taken into account (events in
        order), the contacts that changed (saved with the queued deliveries), and the events
        that failed with a data error."""
        known = await self.store.contacts({e.case_id for e in envelopes if e.case_id is not None})
        changed: dict[UUID, CaseContact] = {}
        learned: list[tuple[Envelope[Any], CaseContact | None]] = []
        failed: list[tuple[Envelope[Any], Exception]] = []
        for env in envelopes:
            try:
                current = known.get(env.case_id) if env.case_id else None
                new = contact_from(env)
                if new is not None and env.case_id is not None:
                    current = merge_contacts(current, new)
                    known[env.case_id] = changed[env.case_id] = current
            except BAD_EVENT_ERRORS as exc:  # dead-lettered (and logged) by the stage's runner
                failed.append((env, exc))
                continue
            learned.append((env, current))
        return learned, list(changed.values()), failed

    async def deliver_once(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        """One round of quick attempts to one target (the delivery worker makes each round)."""
        return await self._send(notice, target, body)

    def outcome_for(
        self, source: Envelope[Any], notice: Notice, target: Target, result: DeliveryResult,
        *, replay: str = "",
    ) -> Outgoing:
        """The outcome event of a delivery that ended (see `_outcome`)."""
        return self._outcome(source, notice, target, result, replay)

    async def _send(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        sender = self.senders.get(target.channel)
        if sender is None:
            result = DeliveryResult("failed", 0, error=f"channel {target.channel!r} is not configured")
        else:
            result = await sender.send(notice, target, body)
        metrics.WEBHOOK_DELIVERIES.labels(
            channel=target.channel, outcome=result.status, target=metrics.target_label(target.address)
        ).inc()
        log.info(
            "delivery_finished", event_id=str(notice.event_id), channel=target.channel,
            kind=notice.kind.value, status=result.status, attempts=result.attempts,
        )
        return result

    def _outcome(
        self, source: Envelope[Any], notice: Notice, target: Target, result: DeliveryResult,
        replay: str = "",
    ) -> Outgoing:
        payload = NotificationOutcome(
            about_event_id=notice.event_id,
            about_event_type=notice.event_type,
            channel=target.channel,
            target=target.address,
            status=result.status,
            attempts=result.attempts,
            response_status=result.response_status,
            error=result.error,
        )
        # The first outcome of a delivery has an id derived from (event, target); a replay's
        # outcome has its own (the first, failed, one was published already).
        purpose = f"{target.channel}:{target.address}" + (f":replay:{replay}" if replay else "")
        envelope = self.factory.derive(source, "notification.outcome", payload, purpose=purpose)
        return Outgoing(self.outcome_topic, envelope)


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class NoticeRoute:
    """Where a payload type arrives (catalogue topic) and how it becomes a notice (None: nobody
    is told about this one)."""

    topic: str
    build: Callable[[Any, Draft], NoticeKind | None]


#: payload type -> route: every input notification consumes, and nothing else.
EVENT_HANDLERS: dict[type[BaseModel], NoticeRoute] = {
    ApplicationAccepted: NoticeRoute(Topics.APPLICATIONS_ACCEPTED, routing.received),
    ApplicationRejected: NoticeRoute(Topics.APPLICATIONS_REJECTED, routing.rejected),
    CaseEvent: NoticeRoute(Topics.CASE_EVENTS, routing.case_event),
    DecisionMade: NoticeRoute(Topics.DECISIONS, routing.decided),
}


def input_topics() -> list[str]:
    """The catalogue topics notification consumes, from EVENT_HANDLERS (unprefixed)."""
    return list(dict.fromkeys(route.topic for route in EVENT_HANDLERS.values()))


def notice_for(envelope: Envelope[Any], contact: CaseContact | None) -> Notice | None:
    """The notice an event gives rise to (the builder EVENT_HANDLERS names for its payload's
    type), or None for events nobody is told about.

    `contact` is what we already know about the case (needed for info requests, whose
    payload names no contact).
    """
    route = EVENT_HANDLERS.get(type(envelope.payload))
    if route is None:
        return None
    draft = routing.draft_for(envelope, contact)
    kind = route.build(envelope.payload, draft)
    if kind is None:
        return None
    return routing.notice_of(envelope, draft, kind)
