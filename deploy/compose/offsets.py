"""Print the stack's topics and the screening group's committed offsets as JSON
(used by test_compose.sh to show they survive recreating the Kafka container).
The connection comes from the LANTHANIDE_KAFKA_* settings (test_compose.sh: admin, SASL_SSL)."""

from __future__ import annotations

import asyncio
import json

from lanthanide.kafka import make_admin
from lanthanide.settings import KafkaSettings


async def main() -> None:
    admin = make_admin(KafkaSettings(), "test-compose-offsets")
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith("lanthanide."))
        committed = await admin.list_consumer_group_offsets("lanthanide-screening")
    finally:
        await admin.close()
    print(json.dumps({
        "topics": topics,
        "screening_committed": {f"{tp.topic}:{tp.partition}": m.offset for tp, m in sorted(committed.items())},
    }, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
