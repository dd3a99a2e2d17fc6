"""The one way services make their SQLAlchemy async engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(url: str, *, pre_ping: bool = True, immediate: bool = False, **options: Any) -> AsyncEngine:
    """An async engine for a service store; `options` go to create_async_engine as they are
    (pool sizes, JSON serialisers).

    SQLite files run in WAL mode (one fsync per commit instead of the rollback journal's
    several; still durable at the default synchronous=FULL) with a busy timeout, so a second
    writer waits for the lock instead of failing, and without pre-ping (a local file cannot
    drop a connection; the ping was a round trip per checkout). `immediate` makes every SQLite
    transaction BEGIN IMMEDIATE (the write lock at the start, so two writers serialise instead
    of one failing at its first write; pysqlite's own deferred BEGIN is switched off, the
    SQLAlchemy recipe). Other databases (PostgreSQL) get pre-ping unless `pre_ping` is False.
    """
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=pre_ping, **options)
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if immediate:
            dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    if immediate:
        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
