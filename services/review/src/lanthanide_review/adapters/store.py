"""The review store's unit of work: repositories over cases, licences, licence-number counters,
processed inputs (the inbox), shipments and the outbox/history, in one database transaction.

A UnitOfWork is one transaction with an identity map and deferred writes. Reads go through the
identity map (a case read twice is the same object, so a later handler call in the same unit of
work sees what an earlier one changed); writes are collected and sent at `commit()`, one
statement per table, with the optimistic version checks (a row changed or a key written by
someone else since it was read raises ConcurrencyConflict). A Kafka batch is one unit of work
with one handler call per event; a reviewer action is one with one call. Leaving the block
without `commit()` rolls everything back.

The engine and migrations live in `db`, the row mapping in `rows` (re-exported here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from lanthanide.events import Outgoing
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lanthanide_review.adapters import dispositions as disposition_rows
from lanthanide_review.adapters import orm
from lanthanide_review.adapters.case_queue import QueueProjector
from lanthanide_review.adapters.db import _migrations_dir, make_engine, migrate, migrations_dir
from lanthanide_review.adapters.rows import (
    aware,
    case_from_row,
    case_to_row,
    disposition_history_row,
    history_from_row,
    licence_from_row,
    licence_to_row,
    outgoing_rows,
)
from lanthanide_review.domain.dispositions import Disposition, DispositionStatus
from lanthanide_review.domain.licences import LicenceNumbers, LicenceRecord
from lanthanide_review.domain.model import Case
from lanthanide_review.domain.states import OPEN_STATES, CaseState

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


class ConcurrencyConflict(Exception):
    """Someone else changed the row since we read it, or wrote the same key first (a unique or
    primary-key violation, raised by the database as IntegrityError); the unit of work is retried.
    The store raises only this, so the service layer needs no database library to handle it."""


class UncommittedWrites(RuntimeError):
    """A unit of work with writes ended without `commit()` or an exception (a bug: they would be lost)."""


def _chunks(keys: Sequence[str], size: int = 1000) -> list[Sequence[str]]:
    return [keys[i:i + size] for i in range(0, len(keys), size)]


# Built once: executed with lists of parameter dicts (executemany); SQLAlchemy caches their
# compiled form, so a Kafka batch costs one compile lookup per table, not one per row.
_INSERT_PROCESSED = insert(orm.processed_events)
_INSERT_OUTBOX = insert(orm.outbox)
_INSERT_HISTORY = insert(orm.case_history)
_INSERT_SHIPMENT = insert(orm.shipments)
_INSERT_CASE = insert(orm.cases)
_UPDATE_CASE = update(orm.cases).where(
    orm.cases.c.case_id == bindparam("b_case_id"), orm.cases.c.version == bindparam("b_expected")
)
_INSERT_LICENCE = insert(orm.licences)
_UPDATE_LICENCE = update(orm.licences).where(
    orm.licences.c.number == bindparam("b_number"), orm.licences.c.version == bindparam("b_expected")
)
_INSERT_QUEUE = insert(orm.case_queue)
_UPDATE_QUEUE = update(orm.case_queue).where(orm.case_queue.c.case_id == bindparam("b_case_id"))


def _queue_update(row: dict[str, Any]) -> dict[str, Any]:
    # executemany UPDATE: the key goes in a bind parameter of its own (not a SET column).
    out = {k: v for k, v in row.items() if k != "case_id"}
    out["b_case_id"] = row["case_id"]
    return out


class UnitOfWork:
    """One transaction with an identity map and deferred writes.

    Use `async with store.unit_of_work() as uow: ...; await uow.commit()`.
    """

    def __init__(self, conn: AsyncConnection, projector: QueueProjector | None = None) -> None:
        self.conn = conn
        self._projector = projector
        # Versions as read (or as last written by this unit of work): the optimistic checks.
        self._versions: dict[str, int] = {}
        self._licence_versions: dict[str, int] = {}
        # Identity maps (None: read, and not there).
        self._cases: dict[UUID, Case | None] = {}
        self._licences: dict[str, LicenceRecord | None] = {}
        self._counters: dict[int, tuple[int | None, int]] = {}  # year -> (as read, next)
        self._processed: dict[str, bool] = {}  # event_id -> applied (before or in this unit of work)
        self._shipments_seen: dict[str, bool] = {}
        # Deferred writes.
        self._case_saves: dict[str, tuple[Case, datetime, int]] = {}  # key -> (case, now, saves)
        self._licence_saves: dict[str, tuple[LicenceRecord, datetime, int]] = {}
        self._processed_rows: list[dict[str, Any]] = []
        self._shipment_rows: list[dict[str, Any]] = []
        self._outbox_rows: list[dict[str, Any]] = []
        self._history_rows: list[dict[str, Any]] = []
        self._wrote_directly = False
        self.committed = False

    @property
    def projector(self) -> QueueProjector:
        if self._projector is None:
            self._projector = QueueProjector.default()
        return self._projector

    @property
    def dirty(self) -> bool:
        """Writes waiting for `commit()`."""
        return bool(
            self._wrote_directly or self._case_saves or self._licence_saves or self._processed_rows
            or self._shipment_rows or self._outbox_rows or self._history_rows
            or any(nxt != (read or 1) for read, nxt in self._counters.values())
        )

    # ------------------------------------------------------------ batch prefetch

    async def prefetch(
        self, *, event_ids: Sequence[UUID] = (), case_ids: Sequence[UUID] = (), licence_numbers: Sequence[str] = ()
    ) -> None:
        """Read these processed marks, cases (locked) and licences (locked) into the identity map
        with one query per table, so the handler calls of a batch that follow read nothing."""
        if event_ids:
            await self.processed_among(event_ids)
        if case_ids:
            await self.get_cases(case_ids)
            case_numbers = [c.licence_number for c in self._cases.values() if c is not None and c.licence_number]
            licence_numbers = [*case_numbers, *licence_numbers]
        if licence_numbers:
            await self.get_licences(licence_numbers)

    # ------------------------------------------------------------ inbox (processed input events)

    async def processed_among(self, event_ids: Sequence[UUID]) -> set[str]:
        """Which of these input events were applied already, before or in this unit of work."""
        keys = list(dict.fromkeys(str(e) for e in event_ids))
        unknown = [k for k in keys if k not in self._processed]
        if unknown:
            found: set[str] = set()
            for chunk in _chunks(unknown):
                rows = await self.conn.execute(
                    select(orm.processed_events.c.event_id).where(orm.processed_events.c.event_id.in_(chunk))
                )
                found.update(r[0] for r in rows)
            for k in unknown:
                self._processed[k] = k in found
        return {k for k in keys if self._processed[k]}

    async def already_processed(self, event_id: UUID) -> bool:
        return bool(await self.processed_among([event_id]))

    async def mark_processed(self, event_id: UUID, topic: str, now: datetime) -> None:
        key = str(event_id)
        self._processed[key] = True
        self._processed_rows.append({"event_id": key, "topic": topic, "processed_at": now})

    # ------------------------------------------------------------ cases

    async def get_case(self, case_id: UUID, *, for_update: bool = True) -> Case | None:
        """The case (locked for update unless `for_update=False`), through the identity map."""
        if case_id in self._cases:
            return self._cases[case_id]
        stmt = select(orm.cases).where(orm.cases.c.case_id == str(case_id))
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        case = self._loaded(row) if row is not None else None
        self._cases[case_id] = case
        return case

    async def get_cases(self, case_ids: Sequence[UUID]) -> dict[UUID, Case]:
        """The existing cases among these ids; those not in the identity map yet are read locked
        for update in case_id order (one query per 1,000 ids; the fixed order keeps two instances
        from deadlocking on PostgreSQL)."""
        wanted = list(dict.fromkeys(case_ids))
        keys = sorted({str(c) for c in wanted if c not in self._cases})
        for row in await self._read_locked(orm.cases.c.case_id, keys):
            self._loaded(row)
        for key in keys:
            self._cases.setdefault(UUID(key), None)
        return {c: case for c in wanted if (case := self._cases.get(c)) is not None}

    async def _read_locked(self, key: Any, keys: Sequence[str]) -> list[Any]:
        """The rows of `key`'s table whose key is among `keys`, read locked for update in key
        order (one query per 1,000 keys; the fixed order keeps two instances from deadlocking
        on PostgreSQL)."""
        rows: list[Any] = []
        for chunk in _chunks(keys):
            stmt = select(key.table).where(key.in_(chunk)).order_by(key).with_for_update()
            rows += (await self.conn.execute(stmt)).all()
        return rows

    def _loaded(self, row: Any) -> Case:
        self._versions[row.case_id] = row.version
        case = case_from_row(row)
        self._cases[case.case_id] = case
        return case

    async def save_case(self, case: Case, now: datetime) -> None:
        """Save the case at commit (inserted if new, else updated if nobody changed it since it
        was read; its queue projection row with it). Each call counts as one save: the version
        advances by one per call, as if each had been its own transaction."""
        key = str(case.case_id)
        _, _, saves = self._case_saves.get(key, (case, now, 0))
        self._case_saves[key] = (case, now, saves + 1)
        self._cases[case.case_id] = case
        case.version = self._versions.get(key, 0) + saves + 1

    async def save_cases(self, changed: Sequence[tuple[Case, datetime, int]]) -> None:
        """Write (case, now, saves) once each: new cases inserted, read ones updated only if their
        version is still the one read (else ConcurrencyConflict). `saves` is how many units of
        work changed the case, so the version advances as if each had been saved on its own."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        queue_inserts: list[dict[str, Any]] = []
        queue_updates: list[dict[str, Any]] = []
        expected_versions: dict[str, int] = {}
        projector = self.projector
        for case, now, saves in changed:
            values = case_to_row(case, now)
            key = values["case_id"]
            queue_row = projector.row(case, values["created_at"])
            if key not in self._versions:
                values["version"] = saves
                inserts.append(values)
                queue_inserts.append(queue_row)
            else:
                queue_updates.append(_queue_update(queue_row))
                values["version"] = self._versions[key] + saves
                values["b_case_id"] = key
                values["b_expected"] = self._versions[key]
                del values["case_id"]
                updates.append(values)
            expected_versions[key] = values["version"]
        if inserts:
            await self.conn.execute(_INSERT_CASE, inserts)
        if updates:
            result = await self.conn.execute(_UPDATE_CASE, updates)
            if self.conn.dialect.supports_sane_multi_rowcount:
                if result.rowcount != len(updates):
                    raise ConcurrencyConflict("a case of the unit of work changed concurrently")
            else:
                # asyncpg reports no rowcount for executemany: read the versions back instead
                # (the rows are locked by get_cases, so this is a belt-and-braces check).
                keys = [u["b_case_id"] for u in updates]
                seen = {}
                for chunk in _chunks(keys):
                    rows = await self.conn.execute(
                        select(orm.cases.c.case_id, orm.cases.c.version).where(orm.cases.c.case_id.in_(chunk))
                    )
                    seen.update({r.case_id: r.version for r in rows})
                if any(seen.get(k) != expected_versions[k] for k in keys):
                    raise ConcurrencyConflict("a case of the unit of work changed concurrently")
        if queue_inserts:
            await self.conn.execute(_INSERT_QUEUE, queue_inserts)
        if queue_updates:
            await self.conn.execute(_UPDATE_QUEUE, queue_updates)
        for case, _now, _saves in changed:
            key = str(case.case_id)
            self._versions[key] = case.version = expected_versions[key]

    async def history(self, case_id: UUID) -> list[dict[str, Any]]:
        rows = (
            await self.conn.execute(
                select(orm.case_history)
                .where(orm.case_history.c.case_id == str(case_id))
                .order_by(orm.case_history.c.id)
            )
        ).all()
        return [history_from_row(r) for r in rows]

    async def cases(self, *, states: Sequence[CaseState] | None = None) -> list[Case]:
        """Cases for reports and queues (read as stored, not through the identity map)."""
        stmt = select(orm.cases).order_by(orm.cases.c.created_at)
        if states is not None:
            stmt = stmt.where(orm.cases.c.state.in_([s.value for s in states]))
        return [case_from_row(r) for r in (await self.conn.execute(stmt)).all()]

    async def open_cases(self) -> list[Case]:
        return await self.cases(states=sorted(OPEN_STATES))

    # ------------------------------------------------------------ licences

    async def get_licence(self, number: str, *, for_update: bool = True) -> LicenceRecord | None:
        if number in self._licences:
            return self._licences[number]
        stmt = select(orm.licences).where(orm.licences.c.number == number)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        rec = None
        if row is not None:
            self._licence_versions[number] = row.version
            rec = licence_from_row(row)
        self._licences[number] = rec
        return rec

    async def get_licences(self, numbers: Sequence[str]) -> dict[str, LicenceRecord]:
        """The licences with these numbers; those not in the identity map yet are read locked for
        update in number order."""
        wanted = list(dict.fromkeys(numbers))
        keys = sorted({n for n in wanted if n not in self._licences})
        for row in await self._read_locked(orm.licences.c.number, keys):
            self._licence_versions[row.number] = row.version
            self._licences[row.number] = licence_from_row(row)
        for key in keys:
            self._licences.setdefault(key, None)
        return {n: rec for n in wanted if (rec := self._licences.get(n)) is not None}

    async def save_licence(self, rec: LicenceRecord, now: datetime, saves: int = 1) -> None:
        """Save the licence at commit: inserted, or updated if nobody changed it since it was read
        (each call advances its version by `saves`, as in `save_case`)."""
        number = rec.licence.number
        _, _, before = self._licence_saves.get(number, (rec, now, 0))
        self._licence_saves[number] = (rec, now, before + saves)
        self._licences[number] = rec

    async def _write_licences(self) -> None:
        inserts: list[dict[str, Any]] = []
        for number, (rec, now, saves) in self._licence_saves.items():
            values = licence_to_row(rec, now)
            if number not in self._licence_versions:
                inserts.append({"number": number, "created_at": now, "version": saves, **values})
                continue
            expected = self._licence_versions[number]
            # One UPDATE per licence (a batch changes few): its rowcount is the version check.
            result = await self.conn.execute(
                _UPDATE_LICENCE, {**values, "version": expected + saves, "b_number": number, "b_expected": expected}
            )
            if result.rowcount != 1:
                raise ConcurrencyConflict(f"licence {number} changed concurrently")
        if inserts:
            await self.conn.execute(_INSERT_LICENCE, inserts)
        for number, (_rec, _now, saves) in self._licence_saves.items():
            self._licence_versions[number] = self._licence_versions.get(number, 0) + saves

    async def licences(self) -> list[LicenceRecord]:
        rows = (await self.conn.execute(select(orm.licences).order_by(orm.licences.c.number))).all()
        return [licence_from_row(r) for r in rows]

    async def general_licences(self) -> list[LicenceRecord]:
        """Every general licence, by number (for usage reports; not locked)."""
        stmt = select(orm.licences).where(orm.licences.c.type == "general").order_by(orm.licences.c.number)
        return [licence_from_row(r) for r in (await self.conn.execute(stmt)).all()]

    # ------------------------------------------------------------ licence-number counters

    async def licence_counter(self, year: int) -> int | None:
        """The year's next sequence as stored, None if there is no row yet."""
        value = await self.conn.scalar(
            select(orm.licence_counters.c.next_sequence).where(orm.licence_counters.c.year == year)
        )
        return None if value is None else int(value)

    async def licence_numbers(self, year: int) -> LicenceNumbers:
        """The next number of the year (read once per unit of work; claimed by
        `claim_licence_number`, written at commit)."""
        if year not in self._counters:
            read = await self.licence_counter(year)
            self._counters[year] = (read, read or 1)
        return LicenceNumbers(year=year, next_sequence=self._counters[year][1])

    async def claim_licence_number(self, numbers: LicenceNumbers) -> None:
        """Advance the counter if the number was used (the counter moves at commit, if nobody
        moved it since it was read)."""
        if not numbers.used:
            return
        read, current = self._counters.get(numbers.year, (None, 1))
        if numbers.next_sequence != current:
            raise ConcurrencyConflict(f"licence number {numbers.next_sequence} of {numbers.year} taken already")
        self._counters[numbers.year] = (read, current + 1)

    async def _write_counters(self) -> None:
        for year, (read, next_sequence) in self._counters.items():
            if next_sequence == (read or 1):
                continue
            if read is None:
                await self.conn.execute(insert(orm.licence_counters).values(year=year, next_sequence=next_sequence))
            else:
                result = await self.conn.execute(
                    update(orm.licence_counters)
                    .where(orm.licence_counters.c.year == year, orm.licence_counters.c.next_sequence == read)
                    .values(next_sequence=next_sequence)
                )
                if result.rowcount != 1:
                    raise ConcurrencyConflict(f"licence number counter for {year} moved")
            self._counters[year] = (next_sequence, next_sequence)

    # ------------------------------------------------------------ shipments

    async def shipment_seen(self, shipment_id: str) -> bool:
        if shipment_id not in self._shipments_seen:
            found = await self.conn.scalar(
                select(orm.shipments.c.shipment_id).where(orm.shipments.c.shipment_id == shipment_id)
            )
            self._shipments_seen[shipment_id] = found is not None
        return self._shipments_seen[shipment_id]

    async def add_shipment(
        self,
        *,
        shipment_id: str,
        licence_number: str,
        item_index: int,
        quantity: Decimal,
        unit: str,
        end_user: str,
        end_user_country: str,
        shipped_on: date,
        accepted: bool,
        rule_id: str | None,
        reason: str | None,
        now: datetime,
    ) -> None:
        self._shipments_seen[shipment_id] = True
        self._shipment_rows.append({
            "shipment_id": shipment_id,
            "licence_number": licence_number,
            "item_index": item_index,
            "quantity": str(quantity),
            "unit": unit,
            "end_user": end_user,
            "end_user_country": end_user_country,
            "shipped_on": shipped_on,
            "accepted": accepted,
            "rule_id": rule_id,
            "reason": reason,
            "recorded_at": now,
        })

    async def accepted_shipments(self) -> list[Any]:
        return list((await self.conn.execute(select(orm.shipments).where(orm.shipments.c.accepted.is_(True)))).all())

    # ------------------------------------------------------------ outbox and history

    async def append(self, case_id: UUID | None, outgoing: Sequence[Outgoing], now: datetime) -> None:
        """Write the outgoing envelopes to the outbox, and case events to the case history (at commit)."""
        outgoing_rows(case_id, outgoing, now, self._outbox_rows, self._history_rows)

    # ------------------------------------------------------------ dispositions (written at once)

    async def get_disposition(self, disposition_id: str) -> Disposition | None:
        return await disposition_rows.get(self.conn, disposition_id)

    async def dispositions_for_case(self, case_id: UUID) -> list[Disposition]:
        return await disposition_rows.for_case(self.conn, case_id)

    async def pending_dispositions(self) -> list[Disposition]:
        return await disposition_rows.pending(self.conn)

    async def add_disposition(self, d: Disposition, now: datetime) -> None:
        self._wrote_directly = True
        await disposition_rows.insert(self.conn, d, now)

    async def update_disposition(self, d: Disposition, was: DispositionStatus, now: datetime) -> None:
        self._wrote_directly = True
        await disposition_rows.update(self.conn, d, was, now)

    # ------------------------------------------------------------ commit

    async def flush(self) -> None:
        """Send the collected writes, one statement per table. Processed marks first: a concurrent
        writer that applied the same event makes this fail early on the primary key."""
        if self._processed_rows:
            await self.conn.execute(_INSERT_PROCESSED, self._processed_rows)
            self._processed_rows = []
        await self._write_counters()
        if self._case_saves:
            await self.save_cases(list(self._case_saves.values()))
            self._case_saves = {}
        if self._licence_saves:
            await self._write_licences()
            self._licence_saves = {}
        if self._shipment_rows:
            await self.conn.execute(_INSERT_SHIPMENT, self._shipment_rows)
            self._shipment_rows = []
        if self._outbox_rows:
            await self.conn.execute(_INSERT_OUTBOX, self._outbox_rows)
            self._outbox_rows = []
        if self._history_rows:
            await self.conn.execute(_INSERT_HISTORY, self._history_rows)
            self._history_rows = []

    async def commit(self) -> None:
        """Flush the collected writes and commit the transaction."""
        await self.flush()
        await self.conn.commit()
        self._wrote_directly = False
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

