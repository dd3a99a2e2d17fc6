"""The one way a service's store reaches its schema: Alembic migrations, applied at start.

Each store keeps its revisions in `adapters/migrations/versions/` (env.py there calls `run_env`)
and its start-up calls `migrate_to_head`. On PostgreSQL the upgrade holds a transaction-scoped
advisory lock per store, so instances starting at once on one database never race on CREATE
TABLE or on alembic_version (they did: a duplicate pg_type row, "alembic_version already exists").
A database that the pre-migration releases made with metadata.create_all (the baseline tables
exist, alembic_version does not) is stamped at the baseline revision first, then upgraded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

BASELINE = "0001"


def _config(migrations_dir: Path, connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate_to_head(
    engine: AsyncEngine,
    migrations_dir: Path,
    *,
    lock_id: int,
    baseline_tables: Collection[str] = (),
    then: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> None:
    """Upgrade the engine's database to the newest revision (idempotent, safe to race); `then`
    (seed rows a store needs, such as audit's chain head) runs in the same transaction, under the
    same lock, so instances starting at once seed once."""
    from alembic import command

    def _upgrade(sync_conn: Any) -> None:
        cfg = _config(migrations_dir, sync_conn)
        tables = set(inspect(sync_conn).get_table_names())
        if "alembic_version" not in tables and baseline_tables and set(baseline_tables) <= tables:
            command.stamp(cfg, BASELINE)  # made by create_all before migrations: it is the baseline
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(lock_id)})")
        await conn.run_sync(_upgrade)
        if then is not None:
            await then(conn)


def run_env(metadata: MetaData, url_env: Collection[str]) -> None:
    """The body of a store's Alembic env.py. At start-up the service passes its connection in
    `config.attributes["connection"]`; from the `alembic` command line the URL comes from the
    first of `url_env` that is set (or the sqlalchemy.url option)."""
    from alembic import context

    config = context.config

    def _run(connection: Any) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = next((os.environ[v] for v in url_env if os.environ.get(v)), None) or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(f"set {' or '.join(url_env)} (an async SQLAlchemy URL) to migrate")

    async def _online() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(_online())
