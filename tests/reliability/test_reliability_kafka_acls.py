"""Kafka is a trust boundary: on a secured broker (SASL_SSL, SCRAM-SHA-512, StandardAuthorizer
and the ACLs of deploy/kafka/acls.yaml) nobody without credentials gets in, and no principal
can write a topic it does not own: decisions, screening results, case events and reference
updates can only come from the service (or operator) that is meant to publish them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from lanthanide.kafka import make_consumer, make_producer
from lanthanide.kafka_secure import Credentials
from lanthanide.settings import KafkaSettings
from lanthanide.testing.kafka import ACL_FILE, secured_kafka
from lanthanide.topics import Topics, submitter_topic

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
    await _write(secure_kafka.settings("submitter", sasl_mechanism="PLAIN"), submitter_topic("submitter"))


@pytest.fixture(scope="module")
def two_submitters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Credentials]:
    """A secured broker with the product's ACLs plus a second upstream submitter whose name
    starts with the first's ("submitter-b"): the grants must be LITERAL, not prefixes."""
    acls = yaml.safe_load(ACL_FILE.read_text())
    acls["principals"]["submitter-b"] = {"description": "a second upstream system", "write": []}
    acls["submitters"] = [*acls["submitters"], "submitter-b"]
    path = tmp_path_factory.mktemp("acls") / "acls.yaml"
    path.write_text(yaml.safe_dump(acls))
    with secured_kafka(nodes=1, num_partitions=1, acl_file=path) as (_cluster, creds):
        yield creds


async def test_a_submitter_writes_only_its_own_topic(two_submitters: Credentials) -> None:
    """Intake takes the submitter from the topic, so the topic must prove it: A cannot write
    B's topic nor the shared one (which only intake writes)."""
    creds = two_submitters
    await _write(creds.settings("submitter"), submitter_topic("submitter"))
    await _write(creds.settings("submitter-b"), submitter_topic("submitter-b"))
    await _write(creds.settings("intake"), Topics.APPLICATIONS_SUBMITTED)
    for principal, topic in (("submitter", submitter_topic("submitter-b")),
                             ("submitter-b", submitter_topic("submitter")),
                             ("submitter", Topics.APPLICATIONS_SUBMITTED),
                             ("submitter-b", Topics.APPLICATIONS_SUBMITTED),
                             ("subscriber", submitter_topic("submitter"))):
        with pytest.raises((TopicAuthorizationFailedError, KafkaError)) as refused:
            await _write(creds.settings(principal), topic)
        assert "Authorization" in type(refused.value).__name__, (principal, topic, refused.value)
    assert creds.settings("submitter-b").submitter == "submitter-b"  # its client submits there


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
