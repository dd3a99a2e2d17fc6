"""The review store's repositories: one per aggregate or table group, all on the unit of work's
one connection (one transaction).

Each repository keeps its part of the identity map (what it read, so a later call in the same
unit of work sees what an earlier one changed) and its deferred writes, which `flush()` sends,
one statement per table, with the optimistic checks (a row changed, or a key written, by
someone else since it was read raises ConcurrencyConflict). `UnitOfWork.commit()` flushes them
all in one transaction; nothing here commits.

- `CaseRepository` (`uow.cases`): cases and their queue projection rows; the case history read.
- `LicenceRepository` (`uow.licences`): licence records.
- `LicenceNumberRepository` (`uow.licence_numbers`): the per-year licence-number counters.
- `InboxRepository` (`uow.inbox`): the processed input events.
- `ShipmentRepository` (`uow.shipments`): reported shipments, accepted or refused.
- `OutboxRepository` (`uow.outbox`): outgoing envelopes and the case-history rows they make.
- `DispositionRepository` (`uow.dispositions`): dispositions (written at once, not deferred).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from lanthanide.events import Outgoing
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lanthanide_review.adapters import dispositions as disposition_rows
from lanthanide_review.adapters import orm
from lanthanide_review.adapters.case_queue import QueueProjector
from lanthanide_review.adapters.rows import (
    case_from_row,
    case_to_row,
    history_from_row,
    licence_from_row,
    licence_to_row,
    outgoing_rows,
)
from lanthanide_review.domain.dispositions import Disposition, DispositionStatus
from lanthanide_review.domain.licences import LicenceNumbers, LicenceRecord
from lanthanide_review.domain.model import Case
from lanthanide_review.domain.states import OPEN_STATES, CaseState


class ConcurrencyConflict(Exception):
    """Someone else changed the row since we read it, or wrote the same key first (a unique or
    primary-key violation, raised by the database as IntegrityError); the unit of work is retried.
    The store raises only this, so the service layer needs no database library to handle it."""


def _chunks(keys: Sequence[str], size: int = 1000) -> list[Sequence[str]]:
    return [keys[i:i + size] for i in range(0, len(keys), size)]


async def _read_locked(conn: AsyncConnection, key: Any, keys: Sequence[str]) -> list[Any]:
    """The rows of `key`'s table whose key is among `keys`, read locked for update in key order
    (one query per 1,000 keys; the fixed order keeps two instances from deadlocking on
    PostgreSQL)."""
    rows: list[Any] = []
    for chunk in _chunks(keys):
        stmt = select(key.table).where(key.in_(chunk)).order_by(key).with_for_update()
        rows += (await conn.execute(stmt)).all()
    return rows


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


class CaseRepository:
    """Cases, through the identity map; written at flush with their queue projection rows."""

    def __init__(self, conn: AsyncConnection, projector: QueueProjector | None = None) -> None:
        self.conn = conn
        self._projector = projector
        #: Versions as read (or as last written by this unit of work): the optimistic checks.
        self.versions: dict[str, int] = {}
        self._seen: dict[UUID, Case | None] = {}  # the identity map (None: read, and not there)
        self._saves: dict[str, tuple[Case, datetime, int]] = {}  # key -> (case, now, saves)

    @property
    def projector(self) -> QueueProjector:
        if self._projector is None:
            self._projector = QueueProjector.default()
        return self._projector

    @property
    def dirty(self) -> bool:
        return bool(self._saves)

    async def get(self, case_id: UUID, *, for_update: bool = True) -> Case | None:
        """The case (locked for update unless `for_update=False`), through the identity map."""
        if case_id in self._seen:
            return self._seen[case_id]
        stmt = select(orm.cases).where(orm.cases.c.case_id == str(case_id))
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        case = self._loaded(row) if row is not None else None
        self._seen[case_id] = case
        return case

    async def get_many(self, case_ids: Sequence[UUID]) -> dict[UUID, Case]:
        """The existing cases among these ids; those not in the identity map yet are read locked
        for update in case_id order (one query per 1,000 ids)."""
        wanted = list(dict.fromkeys(case_ids))
        keys = sorted({str(c) for c in wanted if c not in self._seen})
        for row in await _read_locked(self.conn, orm.cases.c.case_id, keys):
            self._loaded(row)
        for key in keys:
            self._seen.setdefault(UUID(key), None)
        return {c: case for c in wanted if (case := self._seen.get(c)) is not None}

    def _loaded(self, row: Any) -> Case:
        self.versions[row.case_id] = row.version
        case = case_from_row(row)
        self._seen[case.case_id] = case
        return case

    async def add(self, case: Case, now: datetime) -> None:
        """Write the case at flush (inserted if new, else updated if nobody changed it since it
        was read; its queue projection row with it). Each call counts as one save: the version
        advances by one per call, as if each had been its own transaction."""
        key = str(case.case_id)
        _, _, saves = self._saves.get(key, (case, now, 0))
        self._saves[key] = (case, now, saves + 1)
        self._seen[case.case_id] = case
        case.version = self.versions.get(key, 0) + saves + 1

    async def flush(self) -> None:
        if self._saves:
            await self.write(list(self._saves.values()))
            self._saves = {}

    async def write(self, changed: Sequence[tuple[Case, datetime, int]]) -> None:
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
            if key not in self.versions:
                values["version"] = saves
                inserts.append(values)
                queue_inserts.append(queue_row)
            else:
                queue_updates.append(_queue_update(queue_row))
                values["version"] = self.versions[key] + saves
                values["b_case_id"] = key
                values["b_expected"] = self.versions[key]
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
                # (the rows are locked by get_many, so this is a belt-and-braces check).
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
            self.versions[key] = case.version = expected_versions[key]

    async def history(self, case_id: UUID) -> list[dict[str, Any]]:
        """The case's history rows, oldest first (written by the outbox with each envelope)."""
        rows = (
            await self.conn.execute(
                select(orm.case_history)
                .where(orm.case_history.c.case_id == str(case_id))
                .order_by(orm.case_history.c.id)
            )
        ).all()
        return [history_from_row(r) for r in rows]

    async def all(self, *, states: Sequence[CaseState] | None = None) -> list[Case]:
        """Cases for reports and queues, oldest first (read as stored, not through the identity map)."""
        stmt = select(orm.cases).order_by(orm.cases.c.created_at)
        if states is not None:
            stmt = stmt.where(orm.cases.c.state.in_([s.value for s in states]))
        return [case_from_row(r) for r in (await self.conn.execute(stmt)).all()]

    async def open(self) -> list[Case]:
        return await self.all(states=sorted(OPEN_STATES))


class LicenceRepository:
    """Licence records by number, through the identity map; written at flush."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.versions: dict[str, int] = {}
        self._seen: dict[str, LicenceRecord | None] = {}
        self._saves: dict[str, tuple[LicenceRecord, datetime, int]] = {}

    @property
    def dirty(self) -> bool:
        return bool(self._saves)

    async def get(self, number: str, *, for_update: bool = True) -> LicenceRecord | None:
        if number in self._seen:
            return self._seen[number]
        stmt = select(orm.licences).where(orm.licences.c.number == number)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        rec = None
        if row is not None:
            self.versions[number] = row.version
            rec = licence_from_row(row)
        self._seen[number] = rec
        return rec

    async def get_many(self, numbers: Sequence[str]) -> dict[str, LicenceRecord]:
        """The licences with these numbers; those not in the identity map yet are read locked for
        update in number order."""
        wanted = list(dict.fromkeys(numbers))
        keys = sorted({n for n in wanted if n not in self._seen})
        for row in await _read_locked(self.conn, orm.licences.c.number, keys):
            self.versions[row.number] = row.version
            self._seen[row.number] = licence_from_row(row)
        for key in keys:
            self._seen.setdefault(key, None)
        return {n: rec for n in wanted if (rec := self._seen.get(n)) is not None}

    async def add(self, rec: LicenceRecord, now: datetime, saves: int = 1) -> None:
        """Write the licence at flush: inserted, or updated if nobody changed it since it was read
        (each call advances its version by `saves`, as `CaseRepository.add` does)."""
        number = rec.licence.number
        _, _, before = self._saves.get(number, (rec, now, 0))
        self._saves[number] = (rec, now, before + saves)
        self._seen[number] = rec

    async def flush(self) -> None:
        if not self._saves:
            return
        inserts: list[dict[str, Any]] = []
        for number, (rec, now, saves) in self._saves.items():
            values = licence_to_row(rec, now)
            if number not in self.versions:
                inserts.append({"number": number, "created_at": now, "version": saves, **values})
                continue
            expected = self.versions[number]
            # One UPDATE per licence (a batch changes few): its rowcount is the version check.
            result = await self.conn.execute(
                _UPDATE_LICENCE, {**values, "version": expected + saves, "b_number": number, "b_expected": expected}
            )
            if result.rowcount != 1:
                raise ConcurrencyConflict(f"licence {number} changed concurrently")
        if inserts:
            await self.conn.execute(_INSERT_LICENCE, inserts)
        for number, (_rec, _now, saves) in self._saves.items():
            self.versions[number] = self.versions.get(number, 0) + saves
        self._saves = {}

    async def all(self) -> list[LicenceRecord]:
        """Every licence, by number (not locked, not through the identity map)."""
        rows = (await self.conn.execute(select(orm.licences).order_by(orm.licences.c.number))).all()
        return [licence_from_row(r) for r in rows]

    async def general(self) -> list[LicenceRecord]:
        """Every general licence, by number (for usage reports; not locked)."""
        stmt = select(orm.licences).where(orm.licences.c.type == "general").order_by(orm.licences.c.number)
        return [licence_from_row(r) for r in (await self.conn.execute(stmt)).all()]


class LicenceNumberRepository:
    """The per-year licence-number counters: read once per unit of work, moved at flush."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._counters: dict[int, tuple[int | None, int]] = {}  # year -> (as read, next)

    @property
    def dirty(self) -> bool:
        return any(nxt != (read or 1) for read, nxt in self._counters.values())

    async def stored(self, year: int) -> int | None:
        """The year's next sequence as stored, None if there is no row yet."""
        value = await self.conn.scalar(
            select(orm.licence_counters.c.next_sequence).where(orm.licence_counters.c.year == year)
        )
        return None if value is None else int(value)

    async def get(self, year: int) -> LicenceNumbers:
        """The next number of the year (read once per unit of work; claimed by `claim`, written
        at flush)."""
        if year not in self._counters:
            read = await self.stored(year)
            self._counters[year] = (read, read or 1)
        return LicenceNumbers(year=year, next_sequence=self._counters[year][1])

    async def claim(self, numbers: LicenceNumbers) -> None:
        """Advance the counter if the number was used (the counter moves at flush, if nobody
        moved it since it was read)."""
        if not numbers.used:
            return
        read, current = self._counters.get(numbers.year, (None, 1))
        if numbers.next_sequence != current:
            raise ConcurrencyConflict(f"licence number {numbers.next_sequence} of {numbers.year} taken already")
        self._counters[numbers.year] = (read, current + 1)

    async def flush(self) -> None:
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


class InboxRepository:
    """The processed input events (event ids): what was applied, before or in this unit of work."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._seen: dict[str, bool] = {}  # event_id -> applied
        self._rows: list[dict[str, Any]] = []

    @property
    def dirty(self) -> bool:
        return bool(self._rows)

    async def processed_among(self, event_ids: Sequence[UUID]) -> set[str]:
        """Which of these input events were applied already, before or in this unit of work."""
        keys = list(dict.fromkeys(str(e) for e in event_ids))
        unknown = [k for k in keys if k not in self._seen]
        if unknown:
            found: set[str] = set()
            for chunk in _chunks(unknown):
                rows = await self.conn.execute(
                    select(orm.processed_events.c.event_id).where(orm.processed_events.c.event_id.in_(chunk))
                )
                found.update(r[0] for r in rows)
            for k in unknown:
                self._seen[k] = k in found
        return {k for k in keys if self._seen[k]}

    async def processed(self, event_id: UUID) -> bool:
        return bool(await self.processed_among([event_id]))

    async def add(self, event_id: UUID, topic: str, now: datetime) -> None:
        """Mark the input event applied (written at flush)."""
        key = str(event_id)
        self._seen[key] = True
        self._rows.append({"event_id": key, "topic": topic, "processed_at": now})

    async def flush(self) -> None:
        # The unit of work flushes this first: a concurrent writer that applied the same event
        # makes the commit fail early on the primary key.
        if self._rows:
            await self.conn.execute(_INSERT_PROCESSED, self._rows)
            self._rows = []


class ShipmentRepository:
    """Reported shipments (accepted or refused), one row each; written at flush."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._seen: dict[str, bool] = {}
        self._rows: list[dict[str, Any]] = []

    @property
    def dirty(self) -> bool:
        return bool(self._rows)

    async def seen(self, shipment_id: str) -> bool:
        if shipment_id not in self._seen:
            found = await self.conn.scalar(
                select(orm.shipments.c.shipment_id).where(orm.shipments.c.shipment_id == shipment_id)
            )
            self._seen[shipment_id] = found is not None
        return self._seen[shipment_id]

    async def add(
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
        self._seen[shipment_id] = True
        self._rows.append({
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

    async def flush(self) -> None:
        if self._rows:
            await self.conn.execute(_INSERT_SHIPMENT, self._rows)
            self._rows = []

    async def accepted(self) -> list[Any]:
        """Every accepted shipment row (for usage reports)."""
        return list((await self.conn.execute(select(orm.shipments).where(orm.shipments.c.accepted.is_(True)))).all())


class OutboxRepository:
    """Outgoing envelopes (the transactional outbox) and the case-history rows of case events;
    written at flush, the outbox first."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._outbox_rows: list[dict[str, Any]] = []
        self._history_rows: list[dict[str, Any]] = []

    @property
    def dirty(self) -> bool:
        return bool(self._outbox_rows or self._history_rows)

    async def add(self, case_id: UUID | None, outgoing: Sequence[Outgoing], now: datetime) -> None:
        """Write the outgoing envelopes to the outbox, and case events to the case history (at flush)."""
        outgoing_rows(case_id, outgoing, now, self._outbox_rows, self._history_rows)

    async def flush(self) -> None:
        if self._outbox_rows:
            await self.conn.execute(_INSERT_OUTBOX, self._outbox_rows)
            self._outbox_rows = []
        if self._history_rows:
            await self.conn.execute(_INSERT_HISTORY, self._history_rows)
            self._history_rows = []


class DispositionRepository:
    """Dispositions: written at once (a status check per update: two approvals racing, one wins),
    in the unit of work's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        #: Written since the last commit (the unit of work must commit them).
        self.wrote = False

    @property
    def dirty(self) -> bool:
        return self.wrote

    async def get(self, disposition_id: str) -> Disposition | None:
        return await disposition_rows.get(self.conn, disposition_id)

    async def for_case(self, case_id: UUID) -> list[Disposition]:
        return await disposition_rows.for_case(self.conn, case_id)

    async def pending(self) -> list[Disposition]:
        return await disposition_rows.pending(self.conn)

    async def add(self, d: Disposition, now: datetime) -> None:
        self.wrote = True
        await disposition_rows.insert(self.conn, d, now)

    async def update(self, d: Disposition, was: DispositionStatus, now: datetime) -> None:
        self.wrote = True
        await disposition_rows.update(self.conn, d, was, now)
