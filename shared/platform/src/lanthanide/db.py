"""The one way services make their SQLAlchemy async engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(url: str, *, pre_ping: bool = True) -> AsyncEngine:
    """An async engine for a service store.

    SQLite files run in WAL mode (one fsync per commit instead of the rollback journal's
    several; still durable at the default synchronous=FULL) with a busy timeout, so a second
    writer waits for the lock instead of failing, and without pre-ping (a local file cannot
    drop a connection; the ping was a round trip per checkout). Other databases (PostgreSQL)
    get pre-ping unless `pre_ping` is False.
    """
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=pre_ping)
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    return engine
