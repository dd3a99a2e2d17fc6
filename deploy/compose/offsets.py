"""Print the stack's topics and the screening group's committed offsets as JSON
(used by test_compose.sh to show they survive recreating the Kafka container)."""

from __future__ import annotations

import asyncio
import json
import sys

from aiokafka.admin import AIOKafkaAdminClient


async def main(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
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
    asyncio.run(main(sys.argv[1]))
