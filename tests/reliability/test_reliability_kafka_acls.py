"""Kafka is a trust boundary: on a secured broker (SASL_SSL, SCRAM-SHA-512, StandardAuthorizer
and the ACLs of deploy/kafka/acls.yaml) nobody without credentials gets in, and no principal
can write a topic it does not own: decisions, screening results, case events and reference
updates can only come from the service (or operator) that is meant to publish them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from lanthanide.kafka import make_consumer, make_producer
from lanthanide.kafka_secure import Credentials
from lanthanide.settings import KafkaSettings
from lanthanide.topics import Topics

pytestmark = [pytest.mark.kafka]

#: Each guarded topic, its one rightful writer, and principals that must be refused.
GUARDED = {
    Topics.DECISIONS: ("review", ["screening", "notification", "intake", "submitter", "subscriber"]),
    Topics.SCREENING_COMPLETED: ("screening", ["review", "intake", "submitter", "operator"]),
    Topics.CASE_EVENTS: ("review", ["notification", "screening", "submitter"]),
    Topics.REFERENCE_UPDATES: ("operator", ["screening", "intake", "review", "submitter"]),
}


async def _write(settings: KafkaSettings, topic: str) -> None:
    producer = make_producer(settings, "acl-test", request_timeout_ms=15_000)
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, b'{"forged": true}', key=b"k"), 30)
    finally:
        await producer.stop()


@pytest.mark.parametrize("topic", list(GUARDED))
async def test_only_the_owner_of_a_topic_can_write_it(secure_kafka: Credentials, topic: str) -> None:
    owner, others = GUARDED[topic]
    await _write(secure_kafka.settings(owner), topic)  # the rightful writer gets through
    for principal in others:
        with pytest.raises((TopicAuthorizationFailedError, KafkaError)) as refused:
            await _write(secure_kafka.settings(principal), topic)
        assert "Authorization" in type(refused.value).__name__, (principal, topic, refused.value)


@pytest.mark.parametrize("topic", list(GUARDED))
async def test_a_client_without_credentials_cannot_write(secure_kafka: Credentials, topic: str) -> None:
    anonymous = KafkaSettings(bootstrap_servers=secure_kafka.bootstrap_servers,
                              security_protocol="SSL", ssl_cafile=secure_kafka.ca_file)
    plaintext = KafkaSettings(bootstrap_servers=secure_kafka.bootstrap_servers)
    for settings in (anonymous, plaintext):
        with pytest.raises((KafkaConnectionError, KafkaError, asyncio.TimeoutError)):
            await _write(settings, topic)


async def test_a_wrong_password_is_refused(secure_kafka: Credentials) -> None:
    wrong = secure_kafka.settings("review", sasl_password="not-the-password")
    with pytest.raises(KafkaError):
        await _write(wrong, Topics.DECISIONS)


async def test_plain_mechanism_works_for_development(secure_kafka: Credentials) -> None:
    await _write(secure_kafka.settings("submitter", sasl_mechanism="PLAIN"), Topics.APPLICATIONS_SUBMITTED)


async def test_a_subscriber_reads_decisions_but_not_applications(secure_kafka: Credentials) -> None:
    await _write(secure_kafka.settings("review"), Topics.DECISIONS)
    assert await _read_one(secure_kafka.settings("subscriber"), Topics.DECISIONS) is not None
    with pytest.raises(TopicAuthorizationFailedError):
        await _read_one(secure_kafka.settings("subscriber"), Topics.APPLICATIONS_SUBMITTED)


async def test_a_service_cannot_join_another_services_group(secure_kafka: Credentials) -> None:
    await _write(secure_kafka.settings("review"), Topics.DECISIONS)
    with pytest.raises(KafkaError) as refused:
        await _read_one(secure_kafka.settings("screening"), Topics.DECISIONS, group="lanthanide-notification")
    assert "Authorization" in type(refused.value).__name__


async def _read_one(settings: KafkaSettings, topic: str, group: str | None = None) -> Any:
    consumer = make_consumer(settings, topic, client_id="acl-test", group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=15_000, max_records=1)
        for _ in range(20):
            if batch:
                break
            batch = await consumer.getmany(timeout_ms=1000, max_records=1)
        records = [r for rs in batch.values() for r in rs]
        return records[0] if records else None
    finally:
        await consumer.stop()
