"""The delivery worker: makes every delivery the store holds, when it is due.

The Kafka consumer never waits for a receiver: it queues each delivery (pending_deliveries) in
the transaction of its batch's effects, commits its offsets and wakes this worker, a background
task of every notification process. The worker makes the delivery's first round of attempts,
and after a failed round the persisted retries of the backoff schedule (policy data), so a
restart loses nothing: the queue is in the store.

Each delivery runs as a task of its own; the worker claims more as soon as one ends, so a slow
receiver holds only its own deliveries. At most `per_host_limit` deliveries to one receiver
(`model.delivery_host`) run at once (the rest of its queue waits in the store, not in memory,
and other receivers' deliveries pass it), at most `max_in_flight` in all, and the deliveries of
one case to one target run one after another, in the order they were queued (an applicant
hears "received" before "approved"). Each due delivery is claimed for a lease first, so two
instances do not both send it, and one claimed by a process that died is picked up again when
the lease runs out. The lease is derived from the round of attempts (`claim_lease_seconds`: the
retry policy's attempts, each to its deadline, the waits between them, and a margin: 72.5 s
with the default settings), and the holder renews its claim while it works on the delivery.

A delivery ends delivered, or failed when its schedule is exhausted (or the failure cannot get
better by waiting): then its outcome event is published and it moves to the delivery log (and
the dead letters, where operators list and replay it). Deliveries that end close together are
finished together (a group commit): one task publishes their outcomes in one call, then moves
them in one transaction, while the deliveries that end meanwhile wait for the next group (at
most `finish_group` each). Publication still comes before the move (a crash in between
republishes the same outcome ids, it never loses one), and a delivery's lane and host are freed
only once it is finished, so the deliveries of one lane still end in order. The contacts of the
deliveries a look claims are read in one query.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lanthanide.events import Outgoing
from lanthanide.logging import get_logger
from lanthanide.observe import log_context
from lanthanide.serde import DecodeError, decode

from lanthanide_notification.domain.model import CaseContact, DeliveryResult, Target
from lanthanide_notification.domain.ports import DueDelivery, PendingDelivery
from lanthanide_notification.domain.retry import (
    ATTEMPT_DEADLINE_SECONDS,
    BackoffSchedule,
    RetryPolicy,
    claim_lease_seconds,
)
from lanthanide_notification.service_layer.handlers import notice_for

if TYPE_CHECKING:
    from lanthanide_notification.adapters.store import SqlDeliveryLog
    from lanthanide_notification.service_layer.handlers import NotificationService

log = get_logger(__name__)

Publish = Callable[[Sequence[Outgoing]], Awaitable[Any]]
#: (case or event id, channel, target): deliveries on one lane are made one after another.
Lane = tuple[str, str, str]


def _lane(item: PendingDelivery | DueDelivery) -> Lane:
    return (str(item.case_id or item.event_id), item.channel, item.target)


class DeliveryWorker:
    """Looks at the queue every `interval` seconds, when woken (a batch was queued, an operator
    replayed a delivery) and whenever a delivery ends; delivers what is due."""

    def __init__(
        self,
        *,
        store: SqlDeliveryLog,
        service: NotificationService,
        schedule: BackoffSchedule,
        publish: Publish,
        interval_seconds: float = 5.0,
        lease_seconds: float | None = None,
        batch_size: int = 200,
        max_in_flight: int = 100,
        per_host_limit: int = 4,
        finish_group: int = 100,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.service = service
        self.schedule = schedule
        self.publish = publish
        self.interval = interval_seconds
        #: How long a claim lasts unless renewed; by default derived from the round of attempts
        #: of the default policy (the service passes `NotificationSettings.delivery_lease()`).
        self.lease = timedelta(seconds=lease_seconds if lease_seconds is not None
                               else claim_lease_seconds(RetryPolicy(), ATTEMPT_DEADLINE_SECONDS))
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.per_host_limit = per_host_limit
        self.finish_group = finish_group
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: dict[int, asyncio.Task[None]] = {}
        self._hosts: Counter[str] = Counter()
        self._lanes: set[Lane] = set()
        #: Ended deliveries waiting for the finisher: (outcome, item, result, finished).
        self._ending: list[tuple[Outgoing, PendingDelivery, DeliveryResult, asyncio.Future[None]]] = []
        self._finisher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run in the background until `stop`."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self, grace_seconds: float = 15.0) -> None:
        """Stop claiming; deliveries under way get `grace_seconds` to end, then are abandoned
        (their lease lets them be picked up again)."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=grace_seconds)
            for task in list(self._running.values()):
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        if self._finisher is not None and not self._finisher.done():
            # Outcomes of deliveries made: published and moved unless it takes too long (then
            # the leases run out and the deliveries are made again, with the same outcome ids).
            await asyncio.wait([self._finisher], timeout=grace_seconds)
            self._finisher.cancel()
            await asyncio.gather(self._finisher, return_exceptions=True)
        self._stopping = False

    def wake(self) -> None:
        """Look at the queue now."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Deliveries under way in this process."""
        return len(self._running)

    async def _loop(self) -> None:
        while True:
            # Waits first: the process starts its broker after its start hooks (this one).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self._fill()
            except Exception as exc:  # the store down: try again at the next tick
                log.warning("delivery_worker_failed", error=repr(exc)[:300])

    async def run_once(self) -> int:
        """Start every delivery that is due and may start now, and wait for them to end;
        returns how many were started (tests and tools; the background loop does not wait)."""
        started = await self._fill()
        if started:
            await asyncio.gather(*started)
        return len(started)

    async def drain(self) -> int:
        """`run_once` until nothing due is left to start; returns how many were started."""
        total = 0
        while count := await self.run_once():
            total += count
        return total

    def _choose(self, candidates: Sequence[DueDelivery], room: int) -> tuple[list[DueDelivery], bool]:
        """Which due deliveries may start now: within the per-host limit, one per lane (the
        earliest queued), at most `room`. Also whether one was left out for its host only."""
        hosts = Counter(self._hosts)
        lanes = set(self._lanes)
        chosen: list[DueDelivery] = []
        host_full = False
        for item in candidates:
            if len(chosen) >= room:
                break
            if _lane(item) in lanes:
                continue
            lanes.add(_lane(item))  # a later delivery on this lane waits for this one too
            if hosts[item.host] >= self.per_host_limit:
                host_full = True
                continue
            hosts[item.host] += 1
            chosen.append(item)
        return chosen, host_full

    async def _fill(self) -> list[asyncio.Task[None]]:
        room = self.max_in_flight - len(self._running)
        if room <= 0:
            return []
        now = self.clock()
        busy = {host for host, n in self._hosts.items() if n >= self.per_host_limit}
        candidates = await self.store.due_keys(now, self.batch_size, skip_hosts=busy)
        chosen, host_full = self._choose(candidates, room)
        lease_until = now + self.lease
        claimed = await self.store.claim_ids([item.id for item in chosen], now, lease_until)
        cases = {item.case_id for item in claimed if item.case_id is not None}
        contacts = await self.store.contacts(cases) if cases else {}
        started = [self._begin(item, lease_until, contacts) for item in claimed]
        if claimed and host_full and len(candidates) == self.batch_size:
            # Receivers now at their limit filled the look: look again past them.
            self._wake.set()
        return started

    def _begin(self, item: PendingDelivery, lease_until: datetime,
               contacts: dict[UUID, CaseContact]) -> asyncio.Task[None]:
        self._hosts[item.host] += 1
        self._lanes.add(_lane(item))
        task = asyncio.ensure_future(self._deliver_or_release(item, lease_until, contacts))
        self._running[item.id] = task

        def ended(_: asyncio.Task[None]) -> None:
            self._running.pop(item.id, None)
            self._hosts[item.host] -= 1
            if self._hosts[item.host] <= 0:
                del self._hosts[item.host]
            self._lanes.discard(_lane(item))
            self._wake.set()  # its host and lane are free: what waited behind them may start

        task.add_done_callback(ended)
        return task

    async def _deliver_or_release(self, item: PendingDelivery, lease_until: datetime,
                                  contacts: dict[UUID, CaseContact]) -> None:
        done = asyncio.Event()
        keeper = asyncio.ensure_future(self._keep_claim(item, lease_until, done))
        try:
            await self._deliver(item, contacts)
        except asyncio.CancelledError:
            keeper.cancel()
            raise  # stopping: the lease runs out and another look picks it up
        except Exception as exc:  # Kafka or the store failed: due again at once, not after the lease
            done.set()
            log.warning("delivery_failed_to_finish", event_id=str(item.event_id), error=repr(exc)[:300])
            with contextlib.suppress(Exception):
                await self.store.release(item)
        finally:
            done.set()  # a renewal under way ends first (it changes nothing once the round has)
            await asyncio.gather(keeper, return_exceptions=True)

    async def _keep_claim(self, item: PendingDelivery, held_until: datetime, done: asyncio.Event) -> None:
        """Renew the claim on `item` every third of the lease until `done`.

        Why renew rather than rely on the attempt deadline: the lease covers one round of
        attempts, but not everything a live holder may wait for: a slot of its receiver or of
        the SMTP relay (outside the attempt deadline; an SMTP timeout is per command, not per
        attempt), a slow store, the outcome's publication (Kafka's own timeouts). Putting a
        deadline on all of that would cut legitimate work short, and a missed one would still
        let the claim run out under a holder that is about to send. Renewing is the one simple
        rule that covers every case: a live holder keeps its claim, so no second instance sends
        the delivery meanwhile, and a dead one stops renewing, so its delivery waits at most one
        lease. Every third: one failed renewal (the store busy) still leaves time for the next.
        Each renewal names the lease it extends, so it never moves a delivery that its round
        rescheduled or finished, nor one another instance took.
        """
        every = self.lease.total_seconds() / 3
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), every)
            if done.is_set():
                return
            until = self.clock() + self.lease
            try:
                kept = await self.store.renew(item, held_until, until)
            except Exception as exc:  # the store down: try again at the next third
                log.warning("delivery_claim_not_renewed", event_id=str(item.event_id), error=repr(exc)[:300])
                continue
            if not kept:
                if not done.is_set():  # not its own round's reschedule or finish
                    log.warning("delivery_claim_lost", event_id=str(item.event_id), channel=item.channel)
                return
            held_until = until

    async def _deliver(self, item: PendingDelivery, contacts: dict[UUID, CaseContact]) -> None:
        try:
            source = decode(item.body.encode("utf-8"))
        except DecodeError as exc:
            await self.store.finish_pending(item, DeliveryResult("failed", 0, error=f"stored body: {exc.reason}"))
            return
        with log_context(source):
            await self._deliver_decoded(item, source, contacts)

    async def _deliver_decoded(self, item: PendingDelivery, source: Any, contacts: dict[UUID, CaseContact]) -> None:
        if source.case_id and source.case_id == item.case_id:
            contact = contacts.get(source.case_id)  # read when the delivery was claimed
        else:
            contact = await self.store.contact(source.case_id) if source.case_id else None
        notice = notice_for(source, contact)
        if notice is None:
            await self.store.finish_pending(item, DeliveryResult("failed", 0, error="no notice for this event"))
            return
        subscriptions = await self.store.subscriptions()
        # Registered targets skip the address check; the registration is looked up now, so a
        # removed registration puts a queued delivery back under the check.
        registered = any(
            (s.webhook_url if item.channel == "webhook" else s.email) == item.target for s in subscriptions
        )
        target = Target(item.channel, item.target, registered=registered)
        result = await self.service.deliver_once(notice, target, item.body)
        # A replay starts the schedule afresh (its rounds start at 0); a retry continues it.
        delay = None if result.delivered or not result.retryable else self.schedule.delay_before(item.rounds + 1)
        if delay is not None:
            await self.store.reschedule(item, result, self.clock() + timedelta(seconds=delay))
            log.info("delivery_rescheduled", event_id=str(item.event_id), channel=item.channel,
                     rounds=item.rounds + 1, in_seconds=delay)
            return
        total = DeliveryResult(result.status, item.attempts + result.attempts, result.response_status,
                               result.error)
        # Published before the delivery leaves the queue: a crash in between republishes the
        # same outcome id (downstream dedupes), it never loses it.
        await self._finish(self.service.outcome_for(source, notice, target, total, replay=item.replay), item, result)
        log.info("delivery_ended", event_id=str(item.event_id), channel=item.channel,
                 status=result.status, attempts=total.attempts, rounds=item.rounds + 1, replay=bool(item.replay))

    async def _finish(self, outcome: Outgoing, item: PendingDelivery, result: DeliveryResult) -> None:
        """Publish the outcome of an ended delivery, then take it off the queue: with the others
        that end meanwhile (the finisher's next group); returns once it is done (or raises what
        its group's publication or transaction raised)."""
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Retrieved even when this delivery was stopped meanwhile (no "never retrieved" warning).
        finished.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._ending.append((outcome, item, result, finished))
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.ensure_future(self._finish_groups())
        await asyncio.shield(finished)  # a delivery stopped meanwhile does not stop its group

    async def _finish_groups(self) -> None:
        await asyncio.sleep(0)  # the deliveries ending in this same turn join the first group
        while self._ending:
            group = self._ending[:self.finish_group]
            del self._ending[:self.finish_group]
            try:
                await self.publish([outcome for outcome, _, _, _ in group])
                await self.store.finish_many([(item, result) for _, item, result, _ in group])
            except Exception as exc:  # Kafka or the store: each delivery of the group is released
                for *_, finished in group:
                    if not finished.done():
                        finished.set_exception(exc)
                continue
            except BaseException:  # cancelled (stopping): the leases run out, the rest is made again
                for *_, finished in group + self._ending:
                    finished.cancel()
                self._ending.clear()
                raise
            for *_, finished in group:
                if not finished.done():
                    finished.set_result(None)
