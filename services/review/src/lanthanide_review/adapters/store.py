"""The review store: the unit of work over the repositories (cases, licences, licence-number
counters, the inbox of processed inputs, shipments, the outbox and case history, dispositions),
in one database transaction.

A UnitOfWork is one transaction; its repositories (`adapters/repositories.py`: `uow.cases`,
`uow.licences`, `uow.licence_numbers`, `uow.inbox`, `uow.shipments`, `uow.outbox`,
`uow.dispositions`) keep the identity map (a case read twice is the same object, so a later
handler call in the same unit of work sees what an earlier one changed) and the deferred writes,
which `commit()` sends in one transaction, one statement per table, with the optimistic version
checks (a row changed or a key written by someone else since it was read raises
ConcurrencyConflict). A Kafka batch is one unit of work with one handler call per event; a
reviewer action is one with one call. Leaving the block without `commit()` rolls everything back.

The engine and migrations live in `db`, the row mapping in `rows` (re-exported here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lanthanide_review.adapters.case_queue import QueueProjector
from lanthanide_review.adapters.db import _migrations_dir, make_engine, migrate, migrations_dir
from lanthanide_review.adapters.repositories import (
    CaseRepository,
    ConcurrencyConflict,
    DispositionRepository,
    InboxRepository,
    LicenceNumberRepository,
    LicenceRepository,
    OutboxRepository,
    ShipmentRepository,
)
from lanthanide_review.adapters.rows import (
    aware,
    case_from_row,
    case_to_row,
    disposition_history_row,
    licence_from_row,
    outgoing_rows,
)

__all__ = [
    "ConcurrencyConflict",
    "Store",
    "UncommittedWrites",
    "UnitOfWork",
    "_case_to_row",
    "_migrations_dir",
    "aware",
    "case_from_row",
    "case_to_row",
    "disposition_history_row",
    "licence_from_row",
    "make_engine",
    "migrate",
    "migrations_dir",
    "outgoing_rows",
]

_case_to_row = case_to_row  # the name tests use


class UncommittedWrites(RuntimeError):
    """A unit of work with writes ended without `commit()` or an exception (a bug: they would be lost)."""


class _Deferred(Protocol):
    """A repository with deferred writes."""

    @property
    def dirty(self) -> bool: ...

    async def flush(self) -> None: ...


class UnitOfWork:
    """One transaction over the repositories, each with its part of the identity map and its
    deferred writes.

    Use `async with store.unit_of_work() as uow: ...; await uow.commit()`.
    """

    def __init__(self, conn: AsyncConnection, projector: QueueProjector | None = None) -> None:
        self.conn = conn
        self.cases = CaseRepository(conn, projector)
        self.licences = LicenceRepository(conn)
        self.licence_numbers = LicenceNumberRepository(conn)
        self.inbox = InboxRepository(conn)
        self.shipments = ShipmentRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.dispositions = DispositionRepository(conn)
        # In flush order: processed marks first (a concurrent writer that applied the same
        # event makes the commit fail early on the primary key), the outbox last.
        self._flushed: tuple[_Deferred, ...] = (
            self.inbox, self.licence_numbers, self.cases, self.licences, self.shipments, self.outbox
        )
        self.committed = False

    @property
    def dirty(self) -> bool:
        """Writes waiting for `commit()`."""
        return self.dispositions.dirty or any(repo.dirty for repo in self._flushed)

    async def prefetch(
        self, *, event_ids: Sequence[UUID] = (), case_ids: Sequence[UUID] = (), licence_numbers: Sequence[str] = ()
    ) -> None:
        """Read these processed marks, cases (locked) and licences (locked, with those of the
        cases) into the identity maps with one query per table, so the handler calls of a batch
        that follow read nothing."""
        if event_ids:
            await self.inbox.processed_among(event_ids)
        if case_ids:
            cases = await self.cases.get_many(case_ids)
            case_numbers = [c.licence_number for c in cases.values() if c.licence_number]
            licence_numbers = [*case_numbers, *licence_numbers]
        if licence_numbers:
            await self.licences.get_many(licence_numbers)

    async def flush(self) -> None:
        """Send every repository's collected writes, one statement per table."""
        for repo in self._flushed:
            await repo.flush()

    async def commit(self) -> None:
        """Flush the collected writes and commit the transaction."""
        await self.flush()
        await self.conn.commit()
        self.dispositions.wrote = False
        self.committed = True


class Store:
    """Owns the engine; hands out units of work."""

    def __init__(self, url: str, projector: QueueProjector | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        #: Derives the queue projection rows; `ReviewService` sets its own calendar and SLA length.
        self.projector = projector

    async def migrate(self) -> None:
        await migrate(self.engine)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """A transaction, committed by `uow.commit()` and rolled back otherwise. A key another
        writer took first (IntegrityError, in the block or at commit) comes out as
        ConcurrencyConflict."""
        if self.projector is None:
            self.projector = QueueProjector.default()
        try:
            async with self.engine.connect() as conn:
                await conn.begin()
                uow = UnitOfWork(conn, self.projector)
                try:
                    yield uow
                finally:
                    if conn.in_transaction():
                        await conn.rollback()
                if uow.dirty:
                    raise UncommittedWrites("a unit of work ended with writes it did not commit")
        except IntegrityError as exc:
            raise ConcurrencyConflict(f"a key was written concurrently: {exc.orig}") from exc

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.scalar(select(1))

    async def dispose(self) -> None:
        await self.engine.dispose()

