"""Collects every record of some topics in the background, for tests to wait on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from lanthanide.contracts.envelope import Envelope
from lanthanide.serde import DecodeError, decode
from lanthanide.settings import KafkaSettings


@dataclass
class Collected:
    topic: str
    record: ConsumerRecord[Any, Any]
    envelope: Envelope[Any] | None


@dataclass
class TopicCollector:
    """`async with TopicCollector(bootstrap, [topics]) as c: await c.wait_for(lambda c: ...)`."""

    bootstrap: str
    topics: Sequence[str]
    isolation_level: str = "read_committed"
    #: How to connect (security included); None = plaintext to `bootstrap`.
    settings: KafkaSettings | None = None
    items: list[Collected] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicCollector:
        from lanthanide.kafka import make_consumer

        settings = self.settings or KafkaSettings(bootstrap_servers=self.bootstrap)
        self._consumer = make_consumer(
            settings, *self.topics, client_id="test-collector", group_id=f"test-collector-{uuid4().hex[:8]}",
            auto_offset_reset="earliest", enable_auto_commit=False, isolation_level=self.isolation_level,
            metadata_max_age_ms=1000,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batch.values():
                for record in records:
                    try:
                        env: Envelope[Any] | None = decode(record.value or b"")
                    except DecodeError:
                        env = None
                    self.items.append(Collected(record.topic, record, env))

    def envelopes(self, topic: str | None = None, event_type: str | None = None) -> list[Envelope[Any]]:
        return [
            i.envelope for i in self.items
            if i.envelope is not None
            and (topic is None or i.topic == topic)
            and (event_type is None or i.envelope.event_type == event_type)
        ]

    def raw(self, topic: str) -> list[ConsumerRecord[Any, Any]]:
        return [i.record for i in self.items if i.topic == topic]

    async def wait_for(
        self, condition: Callable[[TopicCollector], bool], timeout: float = 60.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
