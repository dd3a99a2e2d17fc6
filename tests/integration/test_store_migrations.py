"""Every store reaches its schema through Alembic migrations at start: on an empty SQLite file,
on PostgreSQL (instances racing on one database), and on a database made before migrations
(by create_all), which is adopted at the baseline revision. The migrated schema is the one the
code declares (Alembic's autogenerate comparison finds no difference)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from lanthanide.db import make_engine
from sqlalchemy import MetaData, inspect, text


def _stores() -> dict[str, tuple[MetaData, Callable[[str], Awaitable[Any]]]]:
    from lanthanide_audit.adapters import store as audit
    from lanthanide_notification.adapters import store as notification
    from lanthanide_screening.adapters import store as screening

    async def start_screening(url: str) -> None:
        s = screening.ScreeningStore(url)
        await s.start()
        await s.close()

    async def start_notification(url: str) -> None:
        s = notification.SqlDeliveryLog.from_url(url)
        await s.create_schema()
        await s.close()

    async def start_audit(url: str) -> None:
        s = audit.LedgerStore.from_url(url)
        await s.create_schema()
        await s.close()

    return {
        "screening": (screening.metadata, start_screening),
        "notification": (notification.metadata, start_notification),
        "audit": (audit.metadata, start_audit),
    }


#: Each store's newest revision.
HEAD = {"screening": "0003", "notification": "0004", "audit": "0003", "review": "0003"}


async def _schema_state(url: str, metadata: MetaData) -> tuple[str | None, list[Any], set[str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            def inspect_sync(sync_conn: Any) -> tuple[str | None, list[Any], set[str]]:
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                diffs = compare_metadata(ctx, metadata)
                return ctx.get_current_revision(), diffs, set(inspect(sync_conn).get_table_names())
            return await conn.run_sync(inspect_sync)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", ["screening", "notification", "audit"])
async def test_upgrade_on_empty_sqlite_gives_the_declared_schema(service: str, tmp_path: Path) -> None:
    metadata, start = _stores()[service]
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await start(url)
    await start(url)  # a restart: already at head, nothing to do
    revision, diffs, tables = await _schema_state(url, metadata)
    assert revision == HEAD[service]
    assert diffs == []
    assert set(metadata.tables) | {"alembic_version"} == tables


async def test_review_upgrade_on_empty_sqlite_gives_the_declared_schema(tmp_path: Path) -> None:
    from lanthanide_review.adapters import orm
    from lanthanide_review.adapters.store import Store

    url = f"sqlite+aiosqlite:///{tmp_path / 'review.db'}"
    for _ in range(2):  # a restart: already at head, nothing to do
        store = Store(url)
        await store.migrate()
        await store.dispose()
    revision, diffs, tables = await _schema_state(url, orm.metadata)
    assert revision == HEAD["review"]
    assert diffs == []
    assert set(orm.metadata.tables) | {"alembic_version"} == tables


@pytest.mark.parametrize("service", ["screening", "notification", "audit"])
async def test_a_store_made_before_migrations_is_adopted(service: str, tmp_path: Path) -> None:
    metadata, start = _stores()[service]
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)  # what the releases before migrations did
        first = next(iter(metadata.tables))
        before = (await conn.execute(text(f'SELECT COUNT(*) FROM "{first}"'))).scalar()
    await engine.dispose()
    await start(url)  # must not fail on "table already exists"
    revision, diffs, _ = await _schema_state(url, metadata)
    assert revision == HEAD[service] and diffs == []
    assert before == 0


@pytest.mark.postgres
@pytest.mark.parametrize("service", ["screening", "notification", "audit"])
async def test_instances_starting_at_once_on_postgresql(service: str, postgres_url: str) -> None:
    metadata, start = _stores()[service]
    await asyncio.gather(*(start(postgres_url) for _ in range(3)))  # the advisory lock serialises them
    revision, diffs, tables = await _schema_state(postgres_url, metadata)
    assert revision == HEAD[service]
    assert diffs == []
    assert set(metadata.tables) <= tables
