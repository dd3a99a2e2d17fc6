"""Notification's stage wiring in memory (FastStream's TestKafkaBroker, no Kafka broker): a
decision in queues its delivery (the worker makes it and publishes the outcome); the same
decision again sends nothing and the stage re-emits the outcome, with the same event id; an
unreadable record goes to the dead-letter topic. The real-broker path is test_notification_kafka.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
from faststream.kafka import TestKafkaBroker
from lanthanide.contracts import ContactPoint, DecisionMade, DecisionOutcome
from lanthanide.events import EventFactory
from lanthanide.kafka import key_of, make_broker, publish_through_broker, records_of
from lanthanide.serde import decode, encode
from lanthanide.topics import Topics, dlq
from lanthanide_notification.bootstrap import build
from lanthanide_notification.settings import NotificationSettings

from .conftest import TEST_SECRET


async def test_a_decision_queues_its_delivery_a_redelivery_re_emits_the_outcome_and_garbage_is_dead_lettered(
    receiver: Any, tmp_path: Path
) -> None:
    settings = NotificationSettings(topic_prefix=f"mem{uuid4().hex[:6]}.", data_dir=tmp_path / "data",
                                    webhook_secret=TEST_SECRET, webhook_allow_networks=["127.0.0.1/32"])
    broker = make_broker(settings.kafka, "notification-test")
    publish_through_broker(broker)
    app = build(settings, broker=broker)
    decisions = settings.topic(Topics.DECISIONS)
    seen: dict[str, list[Any]] = {"outcomes": [], "dlq": []}
    for name, topic in [("outcomes", settings.topic(Topics.NOTIFICATIONS)), ("dlq", dlq(decisions))]:
        @broker.subscriber(topic, decoder=records_of)
        async def sink(record: Any, name: str = name) -> None:  # one ConsumerRecord
            seen[name].append(record)

    event = EventFactory("review", instance="t").new("decision.made", DecisionMade(
        decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference="PO-WIRING",
        exporter_name="Exporter A", decided_by="auto", policy_version="p1",
        decided_at=datetime.now(UTC), contact=ContactPoint(webhook_url=receiver.url("/applicant"))), case_id=uuid4())
    await app.store.create_schema()  # no app.start: this test makes the worker's round itself
    try:
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish(encode(event), decisions, key=key_of(event))
            assert not receiver.requests and not seen["outcomes"]  # queued, not delivered, by the stage
            assert await app.worker.drain() == 1
            await test_broker.publish(encode(event), decisions, key=key_of(event))  # a redelivery
            await test_broker.publish(b"\xff not json", decisions)
    finally:
        await app.stop()

    assert [r.path for r in receiver.accepted()] == ["/applicant"]  # delivered once
    by_worker, re_emitted = [decode(r.value) for r in seen["outcomes"]]
    assert by_worker.event_type == "notification.outcome" and by_worker.payload.status == "delivered"
    assert re_emitted.event_id == by_worker.event_id and re_emitted.causation_id == event.event_id
    [letter] = [orjson.loads(r.value) for r in seen["dlq"]]
    assert letter["topic"] == decisions and letter["service"] == "notification"
