"""CloudEvents on every record: the binary-mode headers the publish path writes (mapped from the
envelope in lanthanide.kafka.headers_of) read back by the CloudEvents SDK's Kafka binding from a
record on a real broker, whichever way the Publisher sends: its own producer (the services) or
the broker's public publish (what TestKafkaBroker sees)."""

from __future__ import annotations

from uuid import uuid4

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from cloudevents.v1.kafka import KafkaMessage, from_binary
from lanthanide.contracts import Application
from lanthanide.events import EventFactory, Outgoing
from lanthanide.kafka import Publisher, ensure_topics, make_broker, publisher_for, stop_publishers
from lanthanide.settings import KafkaSettings
from lanthanide.testing.factories import civilian_application

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("own_producer", [True, False], ids=["own-producer", "broker-publish"])
async def test_the_cloudevents_sdk_reads_a_published_record(kafka_bootstrap: str, own_producer: bool) -> None:
    topic = f"ce{uuid4().hex[:8]}.lanthanide.applications.submitted"
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, partitions=1)
    await ensure_topics(settings, [topic])
    envelope = EventFactory("intake").new(
        "application.submitted", Application.model_validate(civilian_application()), case_id=uuid4()
    )
    broker = make_broker(settings, "intake-test")
    await broker.start()
    publisher = publisher_for(broker, settings, "intake-test-publisher") if own_producer else Publisher(broker)
    try:
        await publisher.publish([Outgoing(topic, envelope)])
    finally:
        await broker.stop()
        await stop_publishers(broker)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                                group_id=f"ce-{uuid4().hex[:8]}")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=30_000, max_records=1)
    finally:
        await consumer.stop()
    [record] = [r for records in batch.values() for r in records]
    event = from_binary(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
                        data_unmarshaller=orjson.loads)
    assert event["specversion"] == "1.0"
    assert event["id"] == str(envelope.event_id)
    assert event["type"] == "lanthanide.application.submitted"
    assert event["source"] == "/lanthanide/intake"
    assert event["subject"] == str(envelope.case_id)
    assert event["datacontenttype"] == "application/json"
    assert event["dataschema"] == "urn:lanthanide:event:application.submitted:v1"
    assert event["time"].startswith(envelope.occurred_at.date().isoformat())
    assert event.data["event_id"] == str(envelope.event_id)  # the value stays the envelope
    headers = dict(record.headers)
    assert headers["traceparent"].decode().split("-")[1] == envelope.correlation_id.hex
    assert headers["event_type"] == b"application.submitted"  # pre-CloudEvents headers kept
