"""The notification use case: turn input events into deliveries and outcome events.

Idempotent by (event_id, channel, target): a delivery already in the log is never sent again;
its outcome event is re-emitted with the same deterministic id instead, so a crash between
"logged" and "offsets committed" loses no outcome and duplicates none downstream.

A delivery whose quick in-process attempts failed for a retryable reason is not failed yet: it is
stored for a persisted retry (the backoff schedule) before the batch's offsets are committed,
and the retry worker (retry_worker.py) delivers it later and publishes its outcome then.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from lanthanide import metrics
from lanthanide.contracts import Envelope, NotificationOutcome
from lanthanide.events import EventFactory, Outgoing
from lanthanide.logging import get_logger
from lanthanide.serde import encode

from lanthanide_notification.domain.model import CaseContact, Channel, DeliveryResult, Notice, Target
from lanthanide_notification.domain.ports import DeliveryKey, DeliveryLog, DeliveryRecord, Sender
from lanthanide_notification.domain.retry import BackoffSchedule
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
        schedule: BackoffSchedule | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.senders = senders
        self.factory = factory
        self.outcome_topic = outcome_topic
        #: Persisted retries after the quick attempts; none (the default) = failed at once.
        self.schedule = schedule or BackoffSchedule()
        self.clock = clock

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
        # The notices and their targets first, so the delivery log is read once for the batch
        # (it was a query per delivery).
        planned: list[tuple[Envelope[Any], Notice, list[Target]]] = []
        subscriptions = await self.store.subscriptions()
        for env, contact in learned:
            try:
                notice = notice_for(env, contact)
                if notice is None:
                    continue
                targets = targets_for(notice, subscriptions)
            except (ValueError, KeyError, TypeError, LookupError) as exc:
                log.error("handler_failed", event_id=str(env.event_id), error=repr(exc)[:300])
                failed.append((env, exc))
                continue
            if not targets:
                log.info("no_targets", event_id=str(env.event_id), kind=notice.kind.value)
                continue
            planned.append((env, notice, targets))
        logged = await self.store.find_many(
            [(n.event_id, t.channel, t.address) for _, n, targets in planned for t in targets]
        )
        batch = _BatchDeliveries(self.store, logged, self._retry_at)
        by_case: dict[object, list[tuple[Envelope[Any], Notice, list[Target]]]] = defaultdict(list)
        for item in planned:
            by_case[item[0].case_id or item[0].event_id].append(item)

        async def run_case(events: list[tuple[Envelope[Any], Notice, list[Target]]]) -> list[Outgoing]:
            out: list[Outgoing] = []
            for env, notice, targets in events:
                try:
                    out.extend(await self._notify(batch, env, notice, targets))
                except (ValueError, KeyError, TypeError, LookupError) as exc:
                    log.error("handler_failed", event_id=str(env.event_id), error=repr(exc)[:300])
                    failed.append((env, exc))
            return out

        try:
            results = await asyncio.gather(*(run_case(evs) for evs in by_case.values()))
        finally:
            # Every finished delivery is logged before the batch's offsets can be committed
            # (and before an infrastructure error makes the batch be redelivered).
            await batch.flushed()
        return [o for chunk in results for o in chunk], failed

    async def handle(self, envelope: Envelope[Any]) -> list[Outgoing]:
        """Handle one event: learn its contact, deliver its notice to every target."""
        outgoing, failed = await self.handle_batch([envelope])
        if failed:
            raise failed[0][1]
        return outgoing

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

    async def _notify(
        self, batch: _BatchDeliveries, envelope: Envelope[Any], notice: Notice, targets: list[Target]
    ) -> list[Outgoing]:
        """Deliver the event's notice to every target (each at most once, see _BatchDeliveries)."""
        body = encode(envelope).decode("utf-8")
        results = await asyncio.gather(*(batch.deliver(notice, t, lambda t=t: self._send(notice, t, body), body)
                                         for t in targets))
        # A pending delivery's outcome is published by the retry worker once it has one.
        return [self._outcome(envelope, notice, t, r) for t, r in zip(targets, results, strict=True)
                if r.status != "pending"]

    def _retry_at(self, result: DeliveryResult) -> datetime | None:
        """When a failed first round is retried from the store; None: it failed for good."""
        if result.delivered or not result.retryable:
            return None
        delay = self.schedule.delay_before(1)
        return None if delay is None else self.clock() + timedelta(seconds=delay)

    async def deliver_once(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        """One round of quick attempts to one target, outside any batch (the retry worker)."""
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


class _BatchDeliveries:
    """The deliveries of one batch: at most one per (event, channel, target), logged by group commit.

    `logged` is what the delivery log already held when the batch started (one query): those are
    never sent again, their logged result is reported instead. A key seen twice in the batch (the
    same event published twice) shares the first delivery. Finished deliveries are written in
    groups: while one transaction commits, the deliveries finishing meanwhile wait for the next,
    so a delivery is logged about as soon as it was with a transaction each, in a handful of
    transactions per batch instead of one per delivery.
    """

    def __init__(
        self, store: DeliveryLog, logged: dict[DeliveryKey, DeliveryRecord],
        retry_at: Callable[[DeliveryResult], datetime | None] = lambda _: None,
    ) -> None:
        self.store = store
        self.logged = logged
        self.retry_at = retry_at
        self.running: dict[DeliveryKey, asyncio.Task[DeliveryResult]] = {}
        self.pending: list[tuple[Notice, Target, DeliveryResult, str]] = []
        self.retries: list[tuple[Notice, Target, DeliveryResult, str, datetime]] = []
        self.writer: asyncio.Task[None] | None = None
        self.writers: list[asyncio.Task[None]] = []

    async def deliver(
        self, notice: Notice, target: Target, send: Callable[[], Awaitable[DeliveryResult]], body: str
    ) -> DeliveryResult:
        key = (notice.event_id, target.channel, target.address)
        done = self.logged.get(key)
        if done is not None:
            log.info("delivery_already_logged", event_id=str(notice.event_id), channel=target.channel)
            return done.result
        task = self.running.get(key)
        if task is None:
            task = self.running[key] = asyncio.ensure_future(self._send_and_log(notice, target, send, body))
        return await asyncio.shield(task)

    async def _send_and_log(
        self, notice: Notice, target: Target, send: Callable[[], Awaitable[DeliveryResult]], body: str
    ) -> DeliveryResult:
        result = await send()
        at = self.retry_at(result)
        if at is not None:
            self.retries.append((notice, target, result, body, at))
            result = DeliveryResult("pending", result.attempts, result.response_status, result.error)
        else:
            self.pending.append((notice, target, result, body))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._write())
            self.writers.append(self.writer)
        return result

    async def _write(self) -> None:
        while self.pending or self.retries:
            items, self.pending = self.pending, []
            retries, self.retries = self.retries, []
            if items:
                await self.store.record_many(items)
            if retries:
                await self.store.schedule_many(retries)

    async def flushed(self) -> None:
        """Wait until every started delivery finished and was logged; raise if logging failed."""
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)
        if (self.pending or self.retries) and (self.writer is None or self.writer.done()):
            self.writer = asyncio.ensure_future(self._write())
            self.writers.append(self.writer)
        for writer in self.writers:
            await writer
