"""The notification service on a real Kafka broker, against a real HTTP receiver and SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.contracts import (
    Application,
    ApplicationAccepted,
    CaseEvent,
    CaseEventKind,
    ContactPoint,
    DecisionMade,
    DecisionOutcome,
    Envelope,
    Licence,
    LicenceItem,
    LicenceType,
)
from lanthanide.events import EventFactory
from lanthanide.kafka import make_admin, make_producer
from lanthanide.serde import encode
from lanthanide.settings import KafkaSettings
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics

pytestmark = [pytest.mark.kafka]

REVIEW = EventFactory("review", instance="test")
INTAKE = EventFactory("intake", instance="test")


def approved(contact: ContactPoint, ref: str = "PO-N-1") -> Envelope[Any]:
    case_id = uuid4()
    licence = Licence(
        number="LIC-2026-000123", type=LicenceType.SINGLE, holder="Ganzhou Rare Earth Magnetics Co., Ltd.",
        items=[LicenceItem(description="Sintered NdFeB magnets", control_codes=["1C905.a"],
                           quantity_cap=Decimal("500"), unit="kg")],
        end_users=["Antriebstechnik Nord GmbH"], end_user_countries=["DE"],
        valid_from=date.today(), valid_until=date.today() + timedelta(days=365),
        conditions=["no re-export without a new licence"],
    )
    payload = DecisionMade(
        decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference=ref,
        exporter_name="Ganzhou Rare Earth Magnetics Co., Ltd.", licence=licence, decided_by="auto",
        policy_version="test-1", decided_at=datetime.now(UTC), contact=contact,
    )
    return REVIEW.new("decision.made", payload, case_id=case_id)


def outcomes(c: TopicCollector, prefix: str) -> list[Envelope[Any]]:
    return c.envelopes(topic=f"{prefix}{Topics.NOTIFICATIONS}")


async def test_flaky_receiver_gets_exactly_one_signed_delivery(
    kafka_bootstrap: str, prefix: str, receiver: Any, start_notification: Callable[..., Any],
    send: Callable[..., Any],
) -> None:
    receiver.fail_first["/hook"] = 3
    event = approved(ContactPoint(webhook_url=receiver.url("/hook")))
    async with TopicCollector(kafka_bootstrap, [f"{prefix}{Topics.NOTIFICATIONS}"]) as c:
        async with start_notification(retry_attempts=5):
            await send(Topics.DECISIONS, event)
            await c.wait_for(lambda c: len(outcomes(c, prefix)) >= 1, what="an outcome")
    outcome = outcomes(c, prefix)[0]
    assert outcome.payload.status == "delivered"
    assert outcome.payload.attempts == 4
    assert outcome.causation_id == event.event_id
    assert [r.status for r in receiver.requests] == [503, 503, 503, 200]
    (accepted,) = receiver.accepted("/hook")
    assert accepted.signature_ok
    assert accepted.headers["X-Lanthanide-Event-Id"] == str(event.event_id)
    assert b"LIC-2026-000123" in accepted.body


async def test_unreachable_receiver_ends_in_dead_letter_and_failed_event(
    kafka_bootstrap: str, prefix: str, start_notification: Callable[..., Any], send: Callable[..., Any],
    closed_port_url: str, tmp_path: Path,
) -> None:
    # No persisted retries here (test_notification_retries.py has those): failed after the round.
    no_retries = tmp_path / "no-retries.yaml"
    no_retries.write_text("version: test\nsource: test\ndelays: []\n", encoding="utf-8")
    event = approved(ContactPoint(webhook_url=closed_port_url))
    async with TopicCollector(kafka_bootstrap, [f"{prefix}{Topics.NOTIFICATIONS}"]) as c:
        async with start_notification(retry_attempts=3, retry_schedule_file=no_retries) as app:
            await send(Topics.DECISIONS, event)
            await c.wait_for(lambda c: len(outcomes(c, prefix)) >= 1, what="an outcome")
            # The worker publishes the outcome first, then moves the delivery to the dead letters.
            for _ in range(100):
                if await app.store.dead_letter_count() == 1:
                    break
                await asyncio.sleep(0.05)
            assert await app.store.dead_letter_count() == 1
    outcome = outcomes(c, prefix)[0]
    assert outcome.payload.status == "failed"
    assert outcome.payload.attempts == 3
    assert "Connect" in (outcome.payload.error or "")


async def _committed(bootstrap: str, group: str, topic: str, partition: int) -> int:
    admin = make_admin(KafkaSettings(bootstrap_servers=bootstrap))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return max((m.offset for tp, m in offsets.items() if tp.topic == topic and tp.partition == partition), default=-1)


async def test_a_slow_receiver_stalls_neither_the_partition_nor_another_exporters_notice(
    kafka_bootstrap: str, prefix: str, receiver: Any, start_notification: Callable[..., Any], tmp_path: Path,
) -> None:
    """Two exporters' decisions on one partition, the slow receiver's first: the prompt receiver's
    outcome is out, and the partition's offsets are committed past both records, while the slow
    delivery still waits for its answer (the consumer only queues; the worker delivers)."""
    no_retries = tmp_path / "no-retries.yaml"
    no_retries.write_text("version: test\nsource: test\ndelays: []\n", encoding="utf-8")
    receiver.delay_seconds["/slow"] = 60
    slow = approved(ContactPoint(webhook_url=receiver.url("/slow")), ref="PO-SLOW")
    # "localhost": another host than 127.0.0.1 for the per-host limit, the same receiver for the test.
    prompt = approved(ContactPoint(webhook_url=f"http://localhost:{receiver.port}/prompt"), ref="PO-PROMPT")
    topic, group = f"{prefix}{Topics.DECISIONS}", f"notif-{uuid4().hex[:8]}"

    def outcome_of(c: TopicCollector, event: Envelope[Any]) -> list[Envelope[Any]]:
        return [e for e in outcomes(c, prefix) if e.causation_id == event.event_id]

    async with TopicCollector(kafka_bootstrap, [f"{prefix}{Topics.NOTIFICATIONS}"]) as c:
        async with start_notification(group_id=group, retry_attempts=1, retry_schedule_file=no_retries,
                                      webhook_attempt_deadline_seconds=8) as app:
            producer = make_producer(KafkaSettings(bootstrap_servers=kafka_bootstrap), "test")
            await producer.start()
            try:
                for env in (slow, prompt):
                    await producer.send_and_wait(topic, encode(env), key=str(env.case_id).encode(), partition=0)
            finally:
                await producer.stop()
            await c.wait_for(lambda c: bool(outcome_of(c, prompt)), what="the prompt receiver's outcome")
            for _ in range(200):
                if await _committed(kafka_bootstrap, group, topic, 0) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert await _committed(kafka_bootstrap, group, topic, 0) == 2
            # Both things happened while the slow delivery was still held by its receiver.
            assert slow.event_id in {p.event_id for p in await app.store.pending()}
            assert outcome_of(c, slow) == []
            await c.wait_for(lambda c: bool(outcome_of(c, slow)), what="the slow receiver's outcome")
    assert outcome_of(c, prompt)[0].payload.status == "delivered"
    (slow_outcome,) = outcome_of(c, slow)
    assert slow_outcome.payload.status == "failed" and slow_outcome.payload.error == "no answer within 8 s"


async def test_replay_from_the_start_delivers_nothing_twice(
    kafka_bootstrap: str, prefix: str, receiver: Any, start_notification: Callable[..., Any],
    send: Callable[..., Any],
) -> None:
    event = approved(ContactPoint(webhook_url=receiver.url("/replay")))
    async with TopicCollector(kafka_bootstrap, [f"{prefix}{Topics.NOTIFICATIONS}"]) as c:
        async with start_notification():
            await send(Topics.DECISIONS, event)
            await c.wait_for(lambda c: len(outcomes(c, prefix)) == 1, what="the first outcome")
        # A new consumer group starts from the earliest offset: the whole topic is replayed.
        async with start_notification():
            await c.wait_for(lambda c: len(outcomes(c, prefix)) == 2, what="the replayed outcome")
    first, again = outcomes(c, prefix)
    assert first.event_id == again.event_id  # re-emitted with the same id: downstream dedupes
    assert len(receiver.requests) == 1


async def test_info_request_reaches_the_contact_from_the_accepted_application(
    kafka_bootstrap: str, prefix: str, receiver: Any, start_notification: Callable[..., Any],
    send: Callable[..., Any],
) -> None:
    app = Application.model_validate(
        civilian_application("PO-INFO-1", contact={"webhook_url": receiver.url("/applicant")})
    )
    case_id = uuid4()
    accepted = INTAKE.new(
        "application.accepted",
        ApplicationAccepted(external_reference=app.external_reference, application=app,
                            received_at=datetime.now(UTC), complete=True),
        case_id=case_id,
    )
    info = REVIEW.derive(accepted, "case.event", CaseEvent(
        kind=CaseEventKind.INFO_REQUESTED, actor="reviewer-7", reason="end-user certificate is unsigned",
    ))
    async with TopicCollector(kafka_bootstrap, [f"{prefix}{Topics.NOTIFICATIONS}"]) as c:
        async with start_notification():
            await send(Topics.APPLICATIONS_ACCEPTED, accepted)
            await c.wait_for(lambda c: len(outcomes(c, prefix)) == 1, what="received notice")
            await send(Topics.CASE_EVENTS, info)
            await c.wait_for(lambda c: len(outcomes(c, prefix)) == 2, what="info-request notice")
    kinds = [r.headers["X-Lanthanide-Event-Type"] for r in receiver.accepted("/applicant")]
    assert kinds == ["application.accepted", "case.event"]
    assert b"end-user certificate is unsigned" in receiver.accepted("/applicant")[1].body


async def test_approval_mail_arrives_with_the_licence_details(
    kafka_bootstrap: str, prefix: str, smtp_server: Any, start_notification: Callable[..., Any],
    send: Callable[..., Any],
) -> None:
    box, port = smtp_server
    event = approved(ContactPoint(email="exports@ganzhou-magnetics.example"), ref="PO-MAIL-1")
    async with TopicCollector(kafka_bootstrap, [f"{prefix}{Topics.NOTIFICATIONS}"]) as c:
        async with start_notification(smtp_host="127.0.0.1", smtp_port=port):
            await send(Topics.DECISIONS, event)
            await c.wait_for(lambda c: len(outcomes(c, prefix)) == 1, what="mail outcome")
    assert outcomes(c, prefix)[0].payload.status == "delivered"
    (mail,) = box.messages
    assert mail["To"] == "exports@ganzhou-magnetics.example"
    assert "LIC-2026-000123" in mail["Subject"]
    text = mail.get_payload(decode=True).decode()
    assert "Licence number: LIC-2026-000123" in text
    assert "up to 500 kg" in text
    assert "no re-export without a new licence" in text
