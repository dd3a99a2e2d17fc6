"""The outbox relay: publishes stored envelopes in order, then marks them sent.

A crash between publishing and marking re-publishes the same envelopes (same event ids) on the
next flush: downstream consumers dedupe by event_id, so nothing is lost and nothing doubles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from lanthanide.kafka import Publisher
from lanthanide.logging import get_logger
from sqlalchemy import select, update

from lanthanide_review.adapters import orm
from lanthanide_review.adapters.store import Store

log = get_logger(__name__)


class OutboxRelay:
    """Flushes unsent outbox rows to Kafka (acks=all) and marks them sent."""

    def __init__(
        self, store: Store, publisher: Publisher, batch_size: int = 500,
        on_published: Callable[[bytes], None] | None = None,
    ) -> None:
        self.store = store
        #: Called with each published body (the business metrics count decisions there).
        self.on_published = on_published
        self.publisher = publisher
        self.batch_size = batch_size
        self._lock = asyncio.Lock()
        self.published = 0

    async def flush(self) -> int:
        """Publish every unsent row; returns how many were published."""
        total = 0
        async with self._lock:
            while True:
                async with self.store.engine.connect() as conn:
                    rows = (
                        await conn.execute(
                            select(orm.outbox.c.id, orm.outbox.c.topic, orm.outbox.c.body)
                            .where(orm.outbox.c.sent_at.is_(None))
                            .order_by(orm.outbox.c.id)
                            .limit(self.batch_size)
                        )
                    ).all()
                    await conn.rollback()
                if not rows:
                    return total
                # The stored body is the encoded envelope: sent as is, not decoded and re-encoded.
                bodies = [(r.topic, r.body.encode()) for r in rows]
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
