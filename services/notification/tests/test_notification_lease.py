"""The delivery worker's claim lease, on a real store (SQLite and PostgreSQL): derived from the
round of attempts, so a delivery whose holder died (kill -9) is taken by another worker once
that lease has run out, not after a fixed five minutes; a live holder keeps (renews) its claim,
so no second worker sends the delivery meanwhile."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from lanthanide.contracts import ContactPoint, DecisionMade, DecisionOutcome, Envelope
from lanthanide.events import EventFactory, Outgoing
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.adapters.webhook import WebhookSender
from lanthanide_notification.bootstrap import build
from lanthanide_notification.delivery_worker import DeliveryWorker
from lanthanide_notification.domain.addresses import AddressPolicy
from lanthanide_notification.domain.model import DeliveryResult, Notice, NoticeKind, Target
from lanthanide_notification.domain.retry import LEASE_MARGIN_SECONDS, BackoffSchedule
from lanthanide_notification.service_layer.handlers import NotificationService
from lanthanide_notification.settings import NotificationSettings

REVIEW = EventFactory("review", instance="t")
URL = "https://erp.example/hooks/lanthanide"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class GatedSender:
    """Records every send; each waits for `gate` (a receiver that answers when told to)."""

    def __init__(self, *, open_: bool = True) -> None:
        self.sent: list[UUID] = []
        self.gate = asyncio.Event()
        if open_:
            self.gate.set()

    async def send(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        self.sent.append(notice.event_id)
        await self.gate.wait()
        return DeliveryResult("delivered", 1, 200)


def decision() -> Envelope[Any]:
    return REVIEW.new("decision.made", DecisionMade(
        decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference="PO-L",
        exporter_name="Exporter L", decided_by="auto", policy_version="p1",
        decided_at=datetime.now(UTC), contact=ContactPoint(webhook_url=URL)), case_id=uuid4())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or a new database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlDeliveryLog]:
    log = SqlDeliveryLog.from_url(store_url)
    await log.create_schema()
    yield log
    await log.close()


class Instance:
    """One notification process's worker on the shared store, with its own clock and sender."""

    def __init__(self, store: SqlDeliveryLog, clock: Clock, sender: GatedSender, lease_seconds: float) -> None:
        self.clock, self.sender, self.published = clock, sender, list[Outgoing]()
        self.service = NotificationService(store=store, senders={"webhook": sender},  # type: ignore[dict-item]
                                           factory=EventFactory("notification"), outcome_topic="out",
                                           schedule=BackoffSchedule((30.0,)), clock=clock)
        self.worker = DeliveryWorker(store=store, service=self.service, schedule=self.service.schedule,
                                     publish=self.publish, lease_seconds=lease_seconds, clock=clock)

    async def publish(self, out: Sequence[Outgoing]) -> None:
        self.published.extend(out)


async def until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not ((await value) if inspect.isawaitable(value := condition()) else value):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_dead_holders_delivery_is_taken_after_the_derived_lease_not_five_minutes(
    store: SqlDeliveryLog,
) -> None:
    lease = NotificationSettings().delivery_lease()
    assert lease < 300  # the fixed lease this replaces
    t0 = datetime.now(UTC)
    dead = Instance(store, Clock(t0), GatedSender(open_=False), lease)
    event = decision()
    await dead.service.handle_batch([event])

    # The holder claims the delivery and is killed mid-attempt: it never finishes nor releases it.
    holder = asyncio.ensure_future(dead.worker.run_once())
    await until(lambda: dead.sender.sent, "the dead holder's attempt")
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    (claimed,) = await store.pending()
    assert claimed.next_attempt_at == t0 + timedelta(seconds=lease) and claimed.rounds == 0

    other = Instance(store, Clock(t0 + timedelta(seconds=lease - 1)), GatedSender(), lease)
    assert await other.worker.run_once() == 0  # the claim still holds
    other.clock.now = t0 + timedelta(seconds=lease)
    assert await other.worker.run_once() == 1  # taken once the derived lease ran out
    assert other.sender.sent == [event.event_id] and await store.pending() == []
    (outcome,) = other.published
    assert outcome.envelope.causation_id == event.event_id and outcome.envelope.payload.status == "delivered"
    assert dead.published == []


async def test_a_live_claim_is_not_taken_before_its_lease_ends_and_is_renewed_while_it_runs(
    store: SqlDeliveryLog,
) -> None:
    """The holder's attempt outlasts its lease (a short one, renewed every third of it): the
    holder renews its claim, so a second worker looking while the attempt runs, before the first
    lease ends and after it, takes nothing, and the delivery is sent once."""
    lease = 0.6
    t0 = datetime.now(UTC)
    holder = Instance(store, Clock(t0), GatedSender(open_=False), lease)
    event = decision()
    await holder.service.handle_batch([event])
    running = asyncio.ensure_future(holder.worker.run_once())
    await until(lambda: holder.sender.sent, "the holder's attempt")

    other = Instance(store, Clock(t0 + timedelta(seconds=lease / 2)), GatedSender(), lease)
    assert await other.worker.run_once() == 0  # before its lease ends

    # Long past the first lease (on the holders' clocks): the holder renews from its own now.
    later = t0 + timedelta(seconds=30)
    holder.clock.now = other.clock.now = later

    async def renewed() -> bool:
        (item,) = await store.pending()
        return item.next_attempt_at == later + timedelta(seconds=lease)

    await until(renewed, "the holder's renewal")
    assert await other.worker.run_once() == 0  # renewed: still the holder's
    holder.sender.gate.set()
    assert await running == 1
    assert holder.sender.sent == [event.event_id] and other.sender.sent == []
    assert await store.pending() == [] and len(holder.published) == 1
    assert await other.worker.run_once() == 0


async def test_a_renewal_extends_only_the_claim_it_holds(store: SqlDeliveryLog) -> None:
    """Renewing names the lease it extends: once another worker took the delivery after the
    lease ran out, or the holder's round rescheduled it, a late renewal moves nothing."""
    t0 = datetime.now(UTC)
    queuer = Instance(store, Clock(t0), GatedSender(), 60.0)
    await queuer.service.handle_batch([decision()])
    (due,) = await store.due(t0)
    first_lease, second_lease = t0 + timedelta(seconds=60), t0 + timedelta(seconds=120)
    (mine,) = await store.claim([due], t0, first_lease)
    assert await store.renew(mine, first_lease, t0 + timedelta(seconds=70))  # still mine: extended
    (item,) = await store.pending()
    assert item.next_attempt_at == t0 + timedelta(seconds=70)

    (theirs,) = await store.claim([due], t0 + timedelta(seconds=70), second_lease)  # ran out: taken
    assert not await store.renew(mine, t0 + timedelta(seconds=70), t0 + timedelta(seconds=200))
    (item,) = await store.pending()
    assert item.next_attempt_at == second_lease

    retry_at = t0 + timedelta(seconds=150)
    await store.reschedule(theirs, DeliveryResult("failed", 1, 503, "HTTP 503", retryable=True), retry_at)
    assert not await store.renew(theirs, second_lease, t0 + timedelta(seconds=300))
    (item,) = await store.pending()
    assert item.next_attempt_at == retry_at and item.rounds == 1


@pytest.mark.parametrize("overrides", [
    {},
    {"retry_attempts": 3, "webhook_attempt_deadline_seconds": 2.5, "retry_base_delay_seconds": 1.0,
     "retry_max_delay_seconds": 1.5},
    {"retry_attempts": 1, "webhook_attempt_deadline_seconds": 30.0},
    {"retry_attempts": 8, "retry_base_delay_seconds": 0.5, "retry_max_delay_seconds": 4.0},
])
async def test_the_derived_lease_covers_one_full_claim_of_attempts(overrides: dict[str, Any]) -> None:
    """A claim holds one round (the persisted retries are not in it): every attempt to its
    deadline and the longest backoff between each two, and the lease is just longer than that;
    the service's worker has it, and a worker built without one has the default settings'."""
    settings = NotificationSettings(**overrides)
    attempts, deadline = settings.retry_attempts, settings.webhook_attempt_deadline_seconds
    waits = sum(min(settings.retry_max_delay_seconds, settings.retry_base_delay_seconds * 2 ** (n - 1))
                for n in range(1, attempts))
    round_bound = attempts * deadline + waits
    lease = settings.delivery_lease()
    assert lease == pytest.approx(round_bound + LEASE_MARGIN_SECONDS)  # covers the round, and a margin
    assert 0 < LEASE_MARGIN_SECONDS <= 60  # just longer than the round, not minutes more
    longer = NotificationSettings(**(overrides | {"webhook_attempt_deadline_seconds": deadline + 1}))
    assert longer.delivery_lease() == pytest.approx(lease + attempts)  # one more second per attempt

    app = build(settings)
    try:
        assert app.worker.lease == timedelta(seconds=lease)
    finally:
        await app.http.aclose()
        await app.store.close()
    default = DeliveryWorker(store=None, service=None, schedule=BackoffSchedule(),  # type: ignore[arg-type]
                             publish=lambda _: asyncio.sleep(0))
    assert default.lease == timedelta(seconds=NotificationSettings().delivery_lease())


async def test_a_round_of_attempts_that_all_run_to_their_deadline_ends_within_the_lease(receiver: Any) -> None:
    """Measured: a receiver that never answers in time makes every attempt run to its deadline,
    and with no jitter every backoff is its longest; the round still ends before the lease."""
    settings = NotificationSettings(retry_attempts=3, webhook_attempt_deadline_seconds=0.2,
                                    retry_base_delay_seconds=0.1, retry_max_delay_seconds=0.15)
    receiver.delay_seconds["/slow"] = 1.0
    target = Target("webhook", receiver.url("/slow"))
    notice = Notice(event_id=uuid4(), event_type="decision.made", case_id=uuid4(), kind=NoticeKind.APPROVED,
                    applicant_keys=(), webhook_url=target.address, email=None)
    async with httpx.AsyncClient() as client:
        sender = WebhookSender(client, secret="test-only-webhook-secret", policy=settings.retry_policy(),
                               addresses=AddressPolicy.from_strings(["127.0.0.1/32"]),
                               attempt_deadline_seconds=settings.webhook_attempt_deadline_seconds,
                               rand=lambda: 0.0)
        started = time.monotonic()
        result = await sender.send(notice, target, "{}")
        elapsed = time.monotonic() - started
    assert result.status == "failed" and result.attempts == 3 and result.retryable
    waits = settings.retry_base_delay_seconds + settings.retry_max_delay_seconds
    assert 3 * settings.webhook_attempt_deadline_seconds + waits <= elapsed + 0.05
    assert elapsed < settings.delivery_lease()
