"""Alembic environment for the review store.

The service applies migrations at startup on its own async engine (the connection is passed in
`config.attributes["connection"]`). From the command line, the URL comes from
LANTHANIDE_REVIEW_DB_URL (or the sqlalchemy.url option) and an async engine is used.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from lanthanide_review.adapters.orm import metadata
from sqlalchemy.ext.asyncio import create_async_engine

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


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = (os.environ.get("LANTHANIDE_REVIEW_DATABASE_URL") or os.environ.get("LANTHANIDE_REVIEW_DB_URL")
           or config.get_main_option("sqlalchemy.url"))
    if not url:
        raise SystemExit("set LANTHANIDE_REVIEW_DB_URL (an async SQLAlchemy URL) to migrate")
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
