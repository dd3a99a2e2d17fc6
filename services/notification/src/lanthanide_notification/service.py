"""The notification use case: turn input events into deliveries and outcome events.

Idempotent by (event_id, channel, target): a delivery already in the log is never sent again;
its outcome event is re-emitted with the same deterministic id instead, so a crash between
"logged" and "offsets committed" loses no outcome and duplicates none downstream.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from lanthanide.contracts import Envelope, NotificationOutcome
from lanthanide.events import EventFactory, Outgoing
from lanthanide.logging import get_logger
from lanthanide.serde import encode

from lanthanide_notification.domain.model import CaseContact, Channel, DeliveryResult, Notice, Target
from lanthanide_notification.domain.ports import DeliveryLog, Sender
from lanthanide_notification.domain.routing import (
    contact_from,
    merge_contacts,
    notice_for,
    targets_for,
)

log = get_logger(__name__)


class NotificationService:
    """Handles envelopes: remembers case contacts, delivers notices, reports outcomes."""

    def __init__(
        self,
        *,
        store: DeliveryLog,
        senders: dict[Channel, Sender],
        factory: EventFactory,
        outcome_topic: str,
    ) -> None:
        self.store = store
        self.senders = senders
        self.factory = factory
        self.outcome_topic = outcome_topic

    async def handle_batch(
        self, envelopes: Sequence[Envelope[Any]]
    ) -> tuple[list[Outgoing], list[tuple[Envelope[Any], Exception]]]:
        """Handle a batch: cases concurrently, each case's events in order.

        Ordering within a case matters (an applicant should not hear "approved" before
        "received"); across cases it does not, and a slow endpoint must not hold up others.
        Returns the outcome events and the events that failed with a data error (for the
        dead-letter topic); infrastructure errors (database down) propagate so the batch is
        redelivered.
        """
        # The case contacts are read once and written once per batch (they were a read and a
        # committed write per event: most of this service's time, see bench/); the writes are
        # durable before any delivery starts, as before.
        learned, failed = await self._learn_contacts(envelopes)
        by_case: dict[object, list[tuple[Envelope[Any], CaseContact | None]]] = defaultdict(list)
        for env, contact in learned:
            by_case[env.case_id or env.event_id].append((env, contact))

        async def run_case(events: list[tuple[Envelope[Any], CaseContact | None]]) -> list[Outgoing]:
            out: list[Outgoing] = []
            for env, contact in events:
                try:
                    out.extend(await self._notify(env, contact))
                except (ValueError, KeyError, TypeError, LookupError) as exc:
                    log.error("handler_failed", event_id=str(env.event_id), error=repr(exc)[:300])
                    failed.append((env, exc))
            return out

        results = await asyncio.gather(*(run_case(evs) for evs in by_case.values()))
        return [o for chunk in results for o in chunk], failed

    async def handle(self, envelope: Envelope[Any]) -> list[Outgoing]:
        """Handle one event: learn its contact, deliver its notice to every target."""
        learned, failed = await self._learn_contacts([envelope])
        if failed:
            raise failed[0][1]
        return await self._notify(*learned[0])

    async def _learn_contacts(
        self, envelopes: Sequence[Envelope[Any]]
    ) -> tuple[list[tuple[Envelope[Any], CaseContact | None]], list[tuple[Envelope[Any], Exception]]]:
        """Each event with the case contact known once it is taken into account (events in
        order), and the events that failed with a data error; saves the changed contacts."""
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
            except (ValueError, KeyError, TypeError, LookupError) as exc:
                log.error("handler_failed", event_id=str(env.event_id), error=repr(exc)[:300])
                failed.append((env, exc))
                continue
            learned.append((env, current))
        await self.store.save_contacts(list(changed.values()))
        return learned, failed

    async def _notify(self, envelope: Envelope[Any], known: CaseContact | None) -> list[Outgoing]:
        """Deliver the event's notice (given what is known of the case) to every target."""
        notice = notice_for(envelope, known)
        if notice is None:
            return []
        targets = targets_for(notice, await self.store.subscriptions())
        if not targets:
            log.info("no_targets", event_id=str(envelope.event_id), kind=notice.kind.value)
            return []
        body = encode(envelope).decode("utf-8")
        results = await asyncio.gather(*(self._deliver_once(notice, t, body) for t in targets))
        return [self._outcome(envelope, notice, t, r) for t, r in zip(targets, results, strict=True)]

    async def _deliver_once(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        done = await self.store.find(notice.event_id, target)
        if done is not None:
            log.info("delivery_already_logged", event_id=str(notice.event_id), channel=target.channel)
            return done.result
        sender = self.senders.get(target.channel)
        if sender is None:
            result = DeliveryResult("failed", 0, error=f"channel {target.channel!r} is not configured")
        else:
            result = await sender.send(notice, target, body)
        await self.store.record(notice, target, result, body)
        log.info(
            "delivery_finished", event_id=str(notice.event_id), channel=target.channel,
            kind=notice.kind.value, status=result.status, attempts=result.attempts,
        )
        return result

    def _outcome(
        self, source: Envelope[Any], notice: Notice, target: Target, result: DeliveryResult
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
        envelope = self.factory.derive(
            source, "notification.outcome", payload, purpose=f"{target.channel}:{target.address}"
        )
        return Outgoing(self.outcome_topic, envelope)
