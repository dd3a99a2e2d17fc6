"""Intake's stage wiring in memory (FastStream's TestKafkaBroker, no Kafka broker): which topic it
reads, what it writes where, and that bytes it cannot read go to the dead-letter topic. The
real-broker path is tests/integration/test_intake_service.py."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
from faststream.kafka import TestKafkaBroker
from lanthanide.events import EventFactory
from lanthanide.kafka import make_broker, publish_through_broker, records_of
from lanthanide.serde import decode
from lanthanide.testing.factories import civilian_application, submitted_record
from lanthanide.topics import Topics, dlq
from lanthanide_intake.entrypoints import stage
from lanthanide_intake.settings import IntakeSettings


async def test_the_stage_reads_submitted_and_writes_accepted_rejected_and_dead_letters() -> None:
    settings = IntakeSettings(topic_prefix=f"mem{uuid4().hex[:6]}.")
    broker = make_broker(settings.kafka, "intake-test")
    publish_through_broker(broker)
    stage.register(broker, settings, EventFactory("intake", instance="test"))
    seen: dict[str, list[bytes]] = {"accepted": [], "rejected": [], "dlq": []}
    submitted = settings.topic(Topics.APPLICATIONS_SUBMITTED)
    for name, topic in [("accepted", settings.topic(Topics.APPLICATIONS_ACCEPTED)),
                        ("rejected", settings.topic(Topics.APPLICATIONS_REJECTED)), ("dlq", dlq(submitted))]:
        @broker.subscriber(topic, decoder=records_of)
        async def sink(record: Any, name: str = name) -> None:  # one ConsumerRecord
            seen[name].append(record.value)

    key, value = submitted_record(civilian_application())
    invalid = orjson.loads(value)
    invalid["payload"]["items"] = []
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(value, submitted, key=key)
        await test_broker.publish(orjson.dumps(invalid), submitted, key=key)
        await test_broker.publish(b"\xff not json", submitted)

    [accepted] = [decode(body) for body in seen["accepted"]]
    assert accepted.event_type == "application.accepted"
    assert accepted.causation_id == decode(value).event_id
    assert str(accepted.case_id).encode() == key
    [rejected] = [decode(body) for body in seen["rejected"]]
    assert rejected.event_type == "application.rejected" and rejected.payload.errors
    [letter] = [orjson.loads(body) for body in seen["dlq"]]
    assert letter["topic"] == submitted and letter["service"] == "intake"
