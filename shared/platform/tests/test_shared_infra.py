"""The test infrastructure itself works: a real broker and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


@pytest.mark.kafka
async def test_real_kafka_round_trip(kafka_bootstrap: str) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (msg.key, msg.value) == (b"k", b"hello")


@pytest.mark.postgres
async def test_real_postgres(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        assert await conn.fetchval("select 40 + 2") == 42
    finally:
        await conn.close()
