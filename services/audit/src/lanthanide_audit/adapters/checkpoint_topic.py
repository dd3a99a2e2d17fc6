"""Reads every checkpoint on the audit.checkpoints topic (from the start to the current end)."""

from __future__ import annotations

import asyncio

import orjson
from aiokafka import TopicPartition
from lanthanide.kafka import make_consumer
from lanthanide.settings import KafkaSettings

from lanthanide_audit.domain.checkpoints import Checkpoint


async def read_checkpoints(kafka: KafkaSettings, topic: str, timeout: float = 30.0) -> list[Checkpoint]:
    """The checkpoints published so far (no consumer group: nothing is committed). A record that is
    not a checkpoint is skipped (its signature would not verify anyway). An absent topic has none."""
    consumer = make_consumer(kafka, client_id="audit-verify", enable_auto_commit=False,
                             auto_offset_reset="earliest", group_id=None)
    await asyncio.wait_for(consumer.start(), timeout)
    out: list[Checkpoint] = []
    try:
        # The cluster metadata as fetched (partitions_for_topic alone reads a cache that is not
        # refreshed for topics the consumer was not assigned yet).
        cluster = await asyncio.wait_for(consumer._client.fetch_all_metadata(), timeout)
        ids = cluster.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(ids)]
        if not tps:
            return out
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout:g}s")
            batches = await consumer.getmany(*tps, timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    try:
                        payload = orjson.loads(record.value or b"null")["payload"]
                        out.append(Checkpoint.from_dict(payload))
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        continue
    finally:
        await consumer.stop()
    return out
