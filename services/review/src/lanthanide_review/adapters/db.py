"""The review database: the engine (SQLite pragmas, BEGIN IMMEDIATE; PostgreSQL pool) and the
Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from lanthanide import db
from sqlalchemy.ext.asyncio import AsyncEngine


def _json_dumps(value: Any) -> str:
    # JSON columns through orjson (several times faster than json.dumps; the stored text is
    # compact, read back the same). Non-string keys are written as strings like json.dumps.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def make_engine(url: str) -> AsyncEngine:
    """The review store's engine (lanthanide.db): SQLite with one pooled connection and BEGIN
    IMMEDIATE for real isolation; PostgreSQL with a small pool. JSON columns through orjson."""
    if url.startswith("sqlite"):
        return db.make_engine(url, immediate=True, pool_size=1, max_overflow=0, pool_timeout=60, **_JSON)
    return db.make_engine(url, pool_size=5, max_overflow=5, **_JSON)


def migrations_dir() -> Path:
    return Path(__file__).resolve().parent / "migrations"


async def migrate(engine: AsyncEngine) -> None:
    """Apply the Alembic migrations up to head on this engine's database (lanthanide.migrations:
    two review instances starting at once on one database both ran the migrations and one
    crashed on "relation alembic_version already exists"; the advisory lock serialises them)."""
    from lanthanide.migrations import migrate_to_head

    await migrate_to_head(engine, migrations_dir(), lock_id=7423001)


_migrations_dir = migrations_dir  # the name tests and older imports use
