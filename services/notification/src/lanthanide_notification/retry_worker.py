"""The retry worker: delivers what the store holds for a persisted retry, when it is due.

The Kafka consumer never waits for these: it stores a pending delivery (with next_attempt_at)
before its offsets are committed, and this worker, a background task of every notification
process, picks due deliveries from the store. A restart loses nothing: the schedule is in the
store. Each due delivery is claimed for a lease first, so two instances do not both send it,
and one claimed by a process that died is picked up again when the lease runs out.

A delivery ends delivered, or failed when its schedule is exhausted (or the failure cannot get
better by waiting): then its outcome event is published and it moves to the delivery log (and
the dead letters, where operators list and replay it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lanthanide.events import Outgoing
from lanthanide.logging import get_logger
from lanthanide.serde import DecodeError, decode

from lanthanide_notification.domain.model import DeliveryResult, Target
from lanthanide_notification.domain.ports import PendingDelivery
from lanthanide_notification.domain.retry import BackoffSchedule
from lanthanide_notification.domain.routing import notice_for

if TYPE_CHECKING:
    from lanthanide_notification.adapters.store import SqlDeliveryLog
    from lanthanide_notification.service import NotificationService

log = get_logger(__name__)

Publish = Callable[[Sequence[Outgoing]], Awaitable[Any]]


class RetryWorker:
    """Polls the store every `interval` seconds (or when woken) and delivers what is due."""

    def __init__(
        self,
        *,
        store: SqlDeliveryLog,
        service: NotificationService,
        schedule: BackoffSchedule,
        publish: Publish,
        interval_seconds: float = 5.0,
        lease_seconds: float = 300.0,
        batch_size: int = 50,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.service = service
        self.schedule = schedule
        self.publish = publish
        self.interval = interval_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.batch_size = batch_size
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        """Run in the background until `stop`."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self, grace_seconds: float = 15.0) -> None:
        """Stop polling; deliveries under way get `grace_seconds` to end, then are abandoned
        (their lease lets them be picked up again)."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._stopping = False

    def wake(self) -> None:
        """Look at the store now (an operator replayed a delivery)."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            # Waits first: the process starts its broker after its start hooks (this one).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.run_once()
            except Exception as exc:  # the store down: try again at the next tick
                log.warning("retry_worker_failed", error=repr(exc)[:300])

    async def run_once(self) -> int:
        """Deliver every delivery due now (concurrently: per-host limits are the sender's);
        returns how many were tried."""
        now = self.clock()
        due = await self.store.claim_due(now, now + self.lease, self.batch_size)
        await asyncio.gather(*(self._retry_or_release(item) for item in due))
        return len(due)

    async def _retry_or_release(self, item: PendingDelivery) -> None:
        try:
            await self._retry(item)
        except Exception as exc:  # Kafka or the store failed: due again at once, not after the lease
            log.warning("retry_failed", event_id=str(item.event_id), error=repr(exc)[:300])
            with contextlib.suppress(Exception):
                await self.store.release(item)

    async def _retry(self, item: PendingDelivery) -> None:
        try:
            source = decode(item.body.encode("utf-8"))
        except DecodeError as exc:
            await self.store.finish_pending(item, DeliveryResult("failed", 0, error=f"stored body: {exc.reason}"))
            return
        contact = await self.store.contact(source.case_id) if source.case_id else None
        notice = notice_for(source, contact)
        if notice is None:
            await self.store.finish_pending(item, DeliveryResult("failed", 0, error="no notice for this event"))
            return
        subscriptions = await self.store.subscriptions()
        # Registered targets skip the address check; the registration is looked up now, so a
        # removed registration puts a pending delivery back under the check.
        registered = any(
            (s.webhook_url if item.channel == "webhook" else s.email) == item.target for s in subscriptions
        )
        target = Target(item.channel, item.target, registered=registered)
        result = await self.service.deliver_once(notice, target, item.body)
        # A replay starts the schedule afresh; a retry continues it.
        following = item.retries + (1 if item.replay else 2)
        delay = None if result.delivered or not result.retryable else self.schedule.delay_before(following)
        if delay is not None:
            await self.store.reschedule(item, result, self.clock() + timedelta(seconds=delay))
            log.info("delivery_rescheduled", event_id=str(item.event_id), channel=item.channel,
                     retries=item.retries + 1, in_seconds=delay)
            return
        total = DeliveryResult(result.status, item.attempts + result.attempts, result.response_status,
                               result.error)
        # Published before the delivery leaves the queue: a crash in between republishes the
        # same outcome id (downstream dedupes), it never loses it.
        await self.publish([self.service.outcome_for(source, notice, target, total, replay=item.replay)])
        await self.store.finish_pending(item, result)
        log.info("delivery_retried", event_id=str(item.event_id), channel=item.channel,
                 status=result.status, attempts=total.attempts, replay=bool(item.replay))
