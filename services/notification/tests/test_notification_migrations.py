"""Revision 0003 carries a queue of revision 0002 over: rounds made and hosts are derived."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lanthanide.db import make_engine
from lanthanide.migrations import _config
from lanthanide_notification.adapters.store import MIGRATIONS, SqlDeliveryLog
from sqlalchemy import text


async def test_queued_deliveries_of_revision_0002_keep_their_place_in_the_schedule(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"
    engine = make_engine(url)

    def to_0002(sync_conn: Any) -> None:
        command.upgrade(_config(MIGRATIONS, sync_conn), "0002")

    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.run_sync(to_0002)
        # A retry after the consumer's first round and one retry, and a replay not yet made.
        for event_id, target, retries, replay in [("e1", "https://User@Hooks.Example:8443/h", 1, ""),
                                                  ("e2", "ops@example.com", 0, "tok")]:
            await conn.execute(text(
                "INSERT INTO pending_deliveries (event_id, channel, target, event_type, kind, body, attempts,"
                " retries, replay, next_attempt_at, created_at) VALUES (:e, :c, :t, 'decision.made',"
                " 'decision.approved', '{}', 3, :r, :p, :n, :n)"),
                {"e": event_id, "c": "email" if "@" in target and "//" not in target else "webhook",
                 "t": target, "r": retries, "p": replay, "n": now})
    await engine.dispose()
    store = SqlDeliveryLog.from_url(url)
    await store.create_schema()
    try:
        rows = {target: (rounds, host) for target, rounds, host in await _rows(store)}
    finally:
        await store.close()
    assert rows["https://User@Hooks.Example:8443/h"] == (2, "hooks.example:8443")
    assert rows["ops@example.com"] == (0, "smtp")


async def _rows(store: SqlDeliveryLog) -> list[Any]:
    async with store.engine.connect() as conn:
        return list(await conn.execute(text("SELECT target, rounds, host FROM pending_deliveries")))
