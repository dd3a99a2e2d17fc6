"""Screening's stage wiring in memory (FastStream's TestKafkaBroker, no Kafka broker): an
application.accepted in gives one screening.completed out, caused by it, on the prefixed topic;
an unreadable record goes to the dead-letter topic. The real-broker path is
test_screening_kafka_stage.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
from faststream.kafka import TestKafkaBroker
from lanthanide.contracts import ApplicationAccepted, Envelope
from lanthanide.kafka import key_of, make_broker, publish_through_broker, records_of
from lanthanide.serde import decode, encode
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics, dlq
from lanthanide_screening.bootstrap import build
from lanthanide_screening.entrypoints.stage import register
from lanthanide_screening.settings import ScreeningSettings


async def test_accepted_in_completed_out_and_garbage_dead_lettered(
    tmp_path: Path,
    make_accepted: Callable[..., ApplicationAccepted],
    make_envelope: Callable[[ApplicationAccepted], Envelope[Any]],
) -> None:
    settings = ScreeningSettings(topic_prefix=f"mem{uuid4().hex[:6]}.", data_dir=tmp_path / "data")
    screening = build(settings)
    broker = make_broker(settings.kafka, "screening-test")
    publish_through_broker(broker)
    register(broker, screening, settings)
    accepted_topic = settings.topic(Topics.APPLICATIONS_ACCEPTED)
    seen: dict[str, list[bytes]] = {"completed": [], "dlq": []}
    for name, topic in [("completed", settings.topic(Topics.SCREENING_COMPLETED)), ("dlq", dlq(accepted_topic))]:
        @broker.subscriber(topic, decoder=records_of)
        async def sink(record: Any, name: str = name) -> None:  # one ConsumerRecord
            seen[name].append(record.value)

    envelope = make_envelope(make_accepted(civilian_application()))
    await screening.store.start()
    try:
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish(encode(envelope), accepted_topic, key=key_of(envelope))
            await test_broker.publish(b"\xff not json", accepted_topic)
    finally:
        await screening.store.close()

    [completed] = [decode(body) for body in seen["completed"]]
    assert completed.event_type == "screening.completed"
    assert (completed.causation_id, completed.case_id) == (envelope.event_id, envelope.case_id)
    [letter] = [orjson.loads(body) for body in seen["dlq"]]
    assert letter["topic"] == accepted_topic and letter["service"] == "screening"


def test_subscriptions_derive_from_the_registry() -> None:
    """Every payload type screening handles is a catalogue event, and each consumer group reads
    exactly the topics its registered payload types arrive on (issue 11: one registry)."""
    from lanthanide.contracts import EVENT_TYPES
    from lanthanide_screening.service_layer.handlers import (
        DISPOSITIONS,
        EVENT_HANDLERS,
        MAIN,
        REFERENCE,
        subscriptions,
    )

    assert set(EVENT_HANDLERS) <= set(EVENT_TYPES.values())
    assert subscriptions() == {
        MAIN: [Topics.APPLICATIONS_ACCEPTED, Topics.DECISIONS],
        REFERENCE: [Topics.REFERENCE_UPDATES],
        DISPOSITIONS: [Topics.DISPOSITIONS],
    }


async def test_a_payload_is_handled_only_in_its_own_group(
    tmp_path: Path,
    make_accepted: Callable[..., ApplicationAccepted],
    make_envelope: Callable[[ApplicationAccepted], Envelope[Any]],
) -> None:
    """An accepted application reaching a per-instance group (reference updates, dispositions)
    is not screened there; the main group screens it."""
    screening = build(ScreeningSettings(data_dir=tmp_path / "data"))
    envelope = make_envelope(make_accepted(civilian_application()))
    await screening.store.start()
    try:
        assert await screening.handle_reference(envelope) == []
        assert await screening.handle_disposition(envelope) == []
        [out] = await screening.handle(envelope)
    finally:
        await screening.store.close()
    assert out.envelope.event_type == "screening.completed"
