"""The webhook sender and the service against a real local HTTP receiver and a real SQLite log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from lanthanide.contracts import ContactPoint, DecisionMade, DecisionOutcome, Envelope
from lanthanide.events import EventFactory
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.adapters.webhook import WebhookSender
from lanthanide_notification.domain.addresses import AddressPolicy
from lanthanide_notification.domain.model import Notice, NoticeKind, Subscription, Target
from lanthanide_notification.domain.retry import RetryPolicy
from lanthanide_notification.service_layer.handlers import NotificationService

F = EventFactory("review", instance="t")
SECRET = "test-only-webhook-secret"  # must match conftest.TEST_SECRET (dev-only)


def notice() -> Notice:
    return Notice(event_id=uuid4(), event_type="decision.made", case_id=uuid4(), kind=NoticeKind.APPROVED,
                  applicant_keys=(), webhook_url=None, email=None)


#: The test receivers listen on loopback, which only an operator allow-list admits.
LOOPBACK = AddressPolicy.from_strings(["127.0.0.1/32", "::1/128"])


def sender(client: httpx.AsyncClient, attempts: int = 3, per_host: int = 4) -> WebhookSender:
    return WebhookSender(client, secret=SECRET, per_host_limit=per_host, addresses=LOOPBACK,
                         policy=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.02))


def decision(url: str) -> Envelope[Any]:
    return F.new("decision.made", DecisionMade(
        decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference="PO-W",
        exporter_name="Exporter A", decided_by="auto", policy_version="p1",
        decided_at=datetime.now(UTC), contact=ContactPoint(webhook_url=url)), case_id=uuid4())


async def test_client_errors_are_not_retried(receiver: Any) -> None:
    async with httpx.AsyncClient() as client:
        # An unsigned-looking request: the receiver answers 401 to a bad signature.
        bad = WebhookSender(client, secret="wrong", addresses=LOOPBACK,
                            policy=RetryPolicy(attempts=5, base_delay=0.01))
        result = await bad.send(notice(), Target("webhook", receiver.url("/auth")), "{}")
    assert result.status == "failed" and result.attempts == 1 and result.response_status == 401
    assert len(receiver.requests) == 1


async def test_one_host_gets_at_most_its_limit_of_concurrent_requests(receiver: Any) -> None:
    receiver.delay_seconds["/slow"] = 0.2
    async with httpx.AsyncClient() as client:
        s = sender(client, per_host=2)
        results = await asyncio.gather(*(
            s.send(notice(), Target("webhook", receiver.url("/slow")), "{}") for _ in range(6)
        ))
    assert all(r.delivered for r in results)
    assert receiver.max_in_flight == 2


async def test_a_slow_host_does_not_hold_up_other_cases_in_the_batch(
    receiver: Any, tmp_path: Path, deliver: Any
) -> None:
    receiver.delay_seconds["/slow"] = 0.3
    slow = [decision(receiver.url("/slow")) for _ in range(4)]
    # "localhost" is another host than "127.0.0.1" for the per-host limit, same server for the test.
    fast = decision(f"http://localhost:{receiver.port}/fast")
    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await store.create_schema()
    async with httpx.AsyncClient() as client:
        service = NotificationService(store=store, senders={"webhook": sender(client, per_host=1)},
                                      factory=EventFactory("notification"), outcome_topic="out")
        outgoing, failed = await deliver(service, [*slow, fast], per_host_limit=1)
    await store.close()
    assert not failed and len(outgoing) == 5
    paths = [r.path for r in receiver.requests]
    # The fast host was served before the slow host's queue (limit 1, 0.3 s each) drained.
    assert paths.index("/fast") < len(paths) - 1
    assert all(r.signature_ok for r in receiver.requests)


async def test_subscriptions_add_targets_and_redelivery_is_not_resent(
    receiver: Any, tmp_path: Path, deliver: Any
) -> None:
    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await store.create_schema()
    await store.replace_file_subscriptions([
        Subscription("erp", "exporter a", webhook_url=receiver.url("/erp"), kinds=frozenset({"decision.*"})),
        Subscription("ignored", "*", webhook_url=receiver.url("/received-only"),
                     kinds=frozenset({"application.received"})),
    ])
    event = decision(receiver.url("/applicant"))
    async with httpx.AsyncClient() as client:
        service = NotificationService(store=store, senders={"webhook": sender(client)},
                                      factory=EventFactory("notification"), outcome_topic="out")
        first, _ = await deliver(service, [event])
        again = await service.handle(event)  # redelivered: nothing queued, the outcomes re-emitted
    await store.close()
    assert sorted(r.path for r in receiver.requests) == ["/applicant", "/erp"]
    assert len(first) == 2
    assert sorted(o.envelope.event_id for o in first) == sorted(o.envelope.event_id for o in again)
    assert {o.envelope.payload.status for o in again} == {"delivered"}


async def test_batched_delivery_log_sends_each_delivery_once_across_redelivery(
    receiver: Any, tmp_path: Path, closed_port_url: str, deliver: Any
) -> None:
    """A batch with the same event twice queues and sends it once; the redelivered batch sends
    nothing and reports the logged results; a failed delivery is logged and dead-lettered once,
    with its quick attempts."""
    receiver.fail_first["/flaky"] = 2
    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await store.create_schema()
    events = [decision(receiver.url(f"/case-{i}")) for i in range(5)]
    flaky, down = decision(receiver.url("/flaky")), decision(closed_port_url)
    batch = [*events, events[0], flaky, down]
    async with httpx.AsyncClient() as client:
        service = NotificationService(store=store, senders={"webhook": sender(client)},
                                      factory=EventFactory("notification"), outcome_topic="out")
        first, failed = await deliver(service, batch)
        sent = len(receiver.requests)
        again, failed_again = await service.handle_batch(batch)
        assert await store.pending() == []
    logged = await store.find_many(
        [(e.event_id, "webhook", str(e.payload.contact.webhook_url)) for e in [*events, flaky, down]]
    )
    dead = await store.dead_letter_count()
    await store.close()
    assert not failed and not failed_again
    assert sent == len(events) + 3 and len(receiver.requests) == sent  # nothing sent twice
    assert sorted(r.path for r in receiver.accepted()) == sorted(
        [f"/case-{i}" for i in range(5)] + ["/flaky"])
    assert len(first) == len(events) + 2  # one outcome per delivery, the repeated event's included
    # The redelivered batch re-emits each outcome with its id (the repeated event's twice).
    assert {o.envelope.event_id: o.envelope.payload.status for o in again} == {
        o.envelope.event_id: o.envelope.payload.status for o in first}
    statuses = {o.envelope.causation_id: o.envelope.payload for o in first}
    assert statuses[flaky.event_id].attempts == 3 and statuses[flaky.event_id].status == "delivered"
    assert statuses[down.event_id].status == "failed"
    assert len(logged) == 7 and dead == 1


async def test_an_invalid_applications_rejection_never_goes_to_the_address_it_names(
    receiver: Any, tmp_path: Path, deliver: Any
) -> None:
    """An invalid application sent to the topic names a receiver of its own (allow-listed here, so
    only the routing stops it): the official rejection goes to the operator's registered
    subscription only, and nothing reaches the address the payload typed."""
    from lanthanide.contracts import ApplicationRejected, FieldError

    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await store.create_schema()
    await store.replace_file_subscriptions([
        Subscription("ops", "*", webhook_url=receiver.url("/registered"), kinds=frozenset({"application.rejected"})),
    ])
    rejected = EventFactory("intake", instance="t").new("application.rejected", ApplicationRejected(
        external_reference="PO-FORGED", exporter_name="Somebody Else Ltd",
        errors=[FieldError(loc="items.0.unit", message="official-looking text of the sender", type="value_error")],
        contact=ContactPoint(webhook_url=receiver.url("/typed-by-the-sender"), email="victim@example.com")))
    async with httpx.AsyncClient() as client:
        service = NotificationService(store=store, senders={"webhook": sender(client)},
                                      factory=EventFactory("notification"), outcome_topic="out")
        outcomes, failed = await deliver(service, [rejected])
    await store.close()
    assert not failed
    assert [r.path for r in receiver.requests] == ["/registered"]
    assert [o.envelope.payload.target for o in outcomes] == [receiver.url("/registered")]


async def test_one_cases_notices_to_one_target_go_in_order_and_one_at_a_time(
    receiver: Any, tmp_path: Path
) -> None:
    """Queued together, a case's "received" and "approved" reach its receiver in that order, the
    second only once the first ended (a lane per case and target), while another case's notice to
    the same host goes alongside."""
    from lanthanide.contracts import Application, ApplicationAccepted
    from lanthanide.testing.factories import civilian_application
    from lanthanide_notification.delivery_worker import DeliveryWorker

    receiver.delay_seconds["/case-a"] = 0.3
    intake = EventFactory("intake", instance="t")
    app = Application.model_validate(civilian_application("PO-LANE", contact={"webhook_url": receiver.url("/case-a")}))
    accepted = intake.new("application.accepted", ApplicationAccepted(
        external_reference="PO-LANE", application=app, received_at=datetime.now(UTC), complete=True),
        case_id=uuid4())
    approved = F.derive(accepted, "decision.made", DecisionMade(
        decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference="PO-LANE",
        exporter_name=app.exporter.name, decided_by="auto", policy_version="p1", decided_at=datetime.now(UTC),
        contact=ContactPoint(webhook_url=receiver.url("/case-a"))))
    other = decision(receiver.url("/case-b"))
    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await store.create_schema()
    published: list[Any] = []

    async def publish(out: Any) -> None:
        published.extend(out)

    async with httpx.AsyncClient() as client:
        service = NotificationService(store=store, senders={"webhook": sender(client)},
                                      factory=EventFactory("notification"), outcome_topic="out")
        worker = DeliveryWorker(store=store, service=service, schedule=service.schedule, publish=publish)
        await service.handle_batch([accepted, approved, other])
        assert await worker.run_once() == 2  # "received" of case A and case B's notice; "approved" waits
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0
    await store.close()
    case_a = [r.headers["X-Lanthanide-Event-Type"] for r in receiver.requests if r.path == "/case-a"]
    assert case_a == ["application.accepted", "decision.made"]
    assert len(published) == 3 and all(o.envelope.payload.status == "delivered" for o in published)
