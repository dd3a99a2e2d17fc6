"""The dispositions table: one row per disposition, the domain object as JSON."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lanthanide_review.adapters import orm
from lanthanide_review.domain.dispositions import Disposition, DispositionStatus


class DispositionChanged(Exception):
    """A concurrent request changed the disposition first (the unit of work is retried)."""


async def insert(conn: AsyncConnection, d: Disposition, now: datetime) -> None:
    await conn.execute(
        orm.dispositions.insert().values(
            disposition_id=d.disposition_id,
            case_id=d.case_id,
            status=d.status.value,
            data=d.to_dict(),
            created_at=now,
            updated_at=now,
        )
    )


async def get(conn: AsyncConnection, disposition_id: str) -> Disposition | None:
    stmt = select(orm.dispositions.c.data).where(orm.dispositions.c.disposition_id == disposition_id)
    row = (await conn.execute(stmt.with_for_update())).first()
    return Disposition.from_dict(row.data) if row else None


async def update(conn: AsyncConnection, d: Disposition, was: DispositionStatus, now: datetime) -> None:
    """Write a changed disposition, only if its status is still `was` (two approvals racing: one wins)."""
    result = await conn.execute(
        orm.dispositions.update()
        .where(orm.dispositions.c.disposition_id == d.disposition_id, orm.dispositions.c.status == was.value)
        .values(status=d.status.value, data=d.to_dict(), updated_at=now)
    )
    if result.rowcount != 1:
        raise DispositionChanged(d.disposition_id)


async def for_case(conn: AsyncConnection, case_id: UUID) -> list[Disposition]:
    stmt = (
        select(orm.dispositions.c.data)
        .where(orm.dispositions.c.case_id == str(case_id))
        .order_by(orm.dispositions.c.created_at)
    )
    return [Disposition.from_dict(r.data) for r in await conn.execute(stmt)]


async def pending(conn: AsyncConnection) -> list[Disposition]:
    stmt = (
        select(orm.dispositions.c.data)
        .where(orm.dispositions.c.status == DispositionStatus.PENDING.value)
        .order_by(orm.dispositions.c.created_at)
    )
    return [Disposition.from_dict(r.data) for r in await conn.execute(stmt)]
