"""The outbox relay: publishes stored envelopes in order, then marks them sent.

A crash between publishing and marking re-publishes the same envelopes (same event ids) on the
next flush: downstream consumers dedupe by event_id, so nothing is lost and nothing doubles.

A row whose envelope is over the broker's message limit could never be published: sending it
would fail every flush and hold back every row after it. It goes to its topic's dead-letter
topic instead (ERROR log line, dead-letter metric), is marked sent, and the relay moves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from lanthanide import metrics
from lanthanide.kafka import Publisher, dead_letter_record
from lanthanide.logging import get_logger
from lanthanide.topics import dlq
from sqlalchemy import select, update

from lanthanide_review.adapters import orm
from lanthanide_review.adapters.store import Store

log = get_logger(__name__)

#: The broker's default message.max.bytes, less room for key and headers.
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000


def outbox_dead_letter(row: Any, limit: int) -> bytes:
    """The dead-letter record of an outbox row too large to publish (outbox id and event id say
    where it is)."""
    body = row.body.encode()
    return dead_letter_record(
        f"outbox envelope of {len(body)} bytes exceeds the limit of {limit}", "review", body,
        {"topic": row.topic, "outbox_id": row.id, "event_id": row.event_id, "event_type": row.event_type},
    )


class OutboxRelay:
    """Flushes unsent outbox rows to Kafka (acks=all) and marks them sent."""

    def __init__(
        self, store: Store, publisher: Publisher, batch_size: int = 500,
        on_published: Callable[[bytes], None] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.store = store
        #: Called with each published body (the business metrics count decisions there).
        self.on_published = on_published
        self.publisher = publisher
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self._lock = asyncio.Lock()
        self.published = 0
        self.dead_lettered = 0

    async def flush(self) -> int:
        """Publish every unsent row; returns how many were published."""
        total = 0
        async with self._lock:
            while True:
                async with self.store.engine.connect() as conn:
                    rows = (
                        await conn.execute(
                            select(orm.outbox.c.id, orm.outbox.c.topic, orm.outbox.c.body,
                                   orm.outbox.c.event_id, orm.outbox.c.event_type)
                            .where(orm.outbox.c.sent_at.is_(None))
                            .order_by(orm.outbox.c.id)
                            .limit(self.batch_size)
                        )
                    ).all()
                    await conn.rollback()
                if not rows:
                    return total
                # The stored body is the encoded envelope: sent as is, not decoded and re-encoded.
                encoded = [(r, r.body.encode()) for r in rows]
                await self._dead_letter([r for r, b in encoded if len(b) > self.max_message_bytes])
                bodies = [(r.topic, b) for r, b in encoded if len(b) <= self.max_message_bytes]
                await self.publisher.publish_encoded(bodies)
                if self.on_published is not None:
                    for _topic, body in bodies:
                        self.on_published(body)
                async with self.store.engine.begin() as conn:
                    await conn.execute(
                        update(orm.outbox)
                        .where(orm.outbox.c.id.in_([r.id for r in rows]))
                        .values(sent_at=datetime.now(UTC))
                    )
                total += len(rows)
                self.published += len(rows)

    async def _dead_letter(self, rows: Sequence[Any]) -> None:
        """Send rows too large to publish to their dead-letter topics (they are then marked sent
        with the rest, so they never hold the relay back)."""
        if not rows:
            return
        for r in rows:
            log.error("outbox_record_too_large", topic=r.topic, outbox_id=r.id, event_id=r.event_id,
                      event_type=r.event_type, bytes=len(r.body.encode()), limit=self.max_message_bytes)
        for r in rows:
            await self.publisher.publish_raw(
                dlq(r.topic), outbox_dead_letter(r, self.max_message_bytes), key=None,
                headers={"content-type": "application/json", "dlq_reason": "output_too_large"},
            )
            metrics.dead_lettered("review", r.topic)
        self.dead_lettered += len(rows)

    async def run_forever(self, interval_s: float) -> None:
        """Background task: flush at startup and then every `interval_s` seconds."""
        while True:
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_flush_failed", error=repr(exc)[:300])
            await asyncio.sleep(interval_s)
