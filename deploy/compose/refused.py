"""Exit 0 only if the broker refuses this principal `read` or `write` on a topic (ACL check of
test_compose.sh): python deploy/compose/refused.py write|read TOPIC (name without "lanthanide.").
The connection comes from the LANTHANIDE_KAFKA_* settings."""

from __future__ import annotations

import asyncio
import sys

from aiokafka.errors import KafkaError
from lanthanide.kafka import make_consumer, make_producer
from lanthanide.settings import KafkaSettings
from lanthanide.topics import PREFIX


async def attempt(action: str, topic: str) -> None:
    settings = KafkaSettings()
    if action == "write":
        producer = make_producer(settings, "test-compose-refused")
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, b"{}"), 30)
        finally:
            await producer.stop()
    else:
        consumer = make_consumer(settings, topic, client_id="test-compose-refused", group_id=None)
        await consumer.start()
        try:
            for _ in range(6):  # the refusal comes with a fetch, not always the first one
                await asyncio.wait_for(consumer.getmany(timeout_ms=5000), 30)
        finally:
            await consumer.stop()


def main(action: str, name: str) -> int:
    topic = f"{PREFIX}.{name}"
    try:
        asyncio.run(attempt(action, topic))
    except KafkaError as exc:
        if "Authorization" not in type(exc).__name__:
            raise
        print(f"refused as expected: {action} {topic} ({type(exc).__name__})")
        return 0
    print(f"NOT refused: {action} {topic}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
