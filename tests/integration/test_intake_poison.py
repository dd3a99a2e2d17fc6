"""No poison pills: an input whose output cannot be published (over the message limit) is
dead-lettered with an ERROR line, and the next record on the same partition is still handled."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest
from lanthanide.kafka import make_producer
from lanthanide.settings import KafkaSettings
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application, submitted_record
from lanthanide.testing.processes import ServiceProcess, free_port
from lanthanide.topics import Topics, dlq

pytestmark = [pytest.mark.kafka]

LIMIT = 30_000  # this intake's max_message_bytes: the big application's output exceeds it


async def test_an_output_over_the_limit_is_dead_lettered_and_the_partition_moves_on(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    tag = uuid4().hex[:8]
    big = civilian_application(f"BIG-{tag}")
    big["items"] = [{**big["items"][0], "description": f"{i} " + "NdFeB magnet grade N52 " * 20}
                    for i in range(150)]
    small = civilian_application(f"SMALL-{tag}")
    proc = ServiceProcess("intake", env={
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LANTHANIDE_KAFKA_MAX_MESSAGE_BYTES": str(LIMIT),
        "LANTHANIDE_DATA_DIR": str(tmp_path),
        "LANTHANIDE_INTAKE_GROUP_ID": f"intake-poison-{tag}",
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({uuid4().hex: "t"}),
    }, log_dir=tmp_path, http_port=free_port()).start()
    try:
        proc.wait_http(90)
        topics = [Topics.APPLICATIONS_ACCEPTED, dlq(Topics.APPLICATIONS_SUBMITTED)]
        async with TopicCollector(kafka_bootstrap, topics) as seen:
            producer = make_producer(KafkaSettings(bootstrap_servers=kafka_bootstrap), "poison-test")
            await producer.start()
            try:
                for app in (big, small):  # one partition: the small one queues behind the big one
                    key, value = submitted_record(app)
                    await producer.send_and_wait(Topics.APPLICATIONS_SUBMITTED, value, key=key, partition=0)
            finally:
                await producer.stop()

            def refs(c: TopicCollector) -> set[str]:
                return {e.payload.external_reference for e in c.envelopes(Topics.APPLICATIONS_ACCEPTED)}

            def dead(c: TopicCollector) -> list[dict[str, object]]:
                return [d for d in (json.loads(r.value) for r in c.raw(dlq(Topics.APPLICATIONS_SUBMITTED)))
                        if f"BIG-{tag}".encode() in __import__("base64").b64decode(str(d["original_b64"]))]

            await seen.wait_for(lambda c: f"SMALL-{tag}" in refs(c) and dead(c), 90,
                                "the small application accepted and the big one dead-lettered")
            assert f"BIG-{tag}" not in refs(seen)
            (letter,) = dead(seen)
            assert "exceeds the limit" in str(letter["error"]) and letter["partition"] == 0
        assert proc.alive()
    finally:
        assert proc.stop() == 0, proc.log_text()[-3000:]
    errors = [json.loads(line) for line in proc.log_text().splitlines() if '"output_too_large"' in line]
    assert errors and errors[0]["level"] == "error"
