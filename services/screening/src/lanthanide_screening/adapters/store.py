"""The screening store (SQLAlchemy async; SQLite by default, PostgreSQL in production).

Three projections, each rebuildable by replaying Kafka:
  cases            accepted applications by case id, with their status (open / licensed / closed),
                   so a list or measure change can re-screen open cases and live licences;
  general_licences issued GENERAL licences (from decisions), for the green channel, with the
                   remaining caps review reports and the status review publishes
                   (licence.status_changed: a suspended or revoked one covers nothing; rev. 0003);
  dispositions     review's disposition.recorded / disposition.revoked events: a false positive
                   on (party, list entry, list version) is suppressed, until its expiry, the
                   next time the same party is screened (revision 0002; the earlier table, filled
                   by an unauthenticated HTTP route, is dropped).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lanthanide.contracts import (
    ApplicationAccepted,
    DecisionMade,
    DecisionOutcome,
    DispositionRecorded,
    Licence,
    LicenceStatusChanged,
    LicenceType,
)
from lanthanide.db import make_engine
from lanthanide.migrations import migrate_to_head
from sqlalchemy import Column, Date, DateTime, Index, MetaData, String, Table, Text, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lanthanide_screening.domain.parties import Suppression, party_key

#: Case ids per `IN (...)` lookup when a batch of writes is applied (well under SQLite's limit).
_IN_CHUNK = 500

metadata = MetaData()
#: The store's Alembic migrations (adapters/migrations/versions), applied at start.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Tables of revision 0001 that every store made by create_all before migrations has (its
#: dispositions table is dropped by 0002, so it is not required to recognise such a store).
BASELINE_TABLES = ("screening_cases", "screening_general_licences")

cases = Table(
    "screening_cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("correlation_id", String(36), nullable=False),
    Column("accepted_json", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | licensed | closed
    Column("licence_valid_until", Date, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
general_licences = Table(
    "screening_general_licences",
    metadata,
    Column("number", String(100), primary_key=True),
    Column("licence_json", Text, nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),  # active | suspended | revoked
)
dispositions = Table(
    "screening_review_dispositions",
    metadata,
    Column("disposition_id", String(100), primary_key=True),
    Column("case_id", String(36), nullable=True),
    Column("party_key", String(300), nullable=False),
    Column("list_id", String(100), nullable=False),
    Column("entry_id", String(200), nullable=False),
    Column("list_version", String(200), nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("approved_by", Text, nullable=False),  # JSON list of user names
    Column("status", String(16), nullable=False),  # recorded | revoked
    Column("recorded_json", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_screening_review_dispositions_pair", "party_key", "list_id", "entry_id"),
)


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case to re-screen: its id, correlation id and the accepted application."""

    case_id: str
    correlation_id: str
    accepted: ApplicationAccepted
    status: str


@dataclass(frozen=True, slots=True)
class _CaseAccepted:
    """A deferred remember_case."""

    case_id: str
    correlation_id: str
    accepted_json: str
    is_amendment: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class _CaseDecided:
    """A deferred record_decision (its case update; a general licence is a _LicenceIssued)."""

    case_id: str
    status: str
    licence_valid_until: date | None
    at: datetime


@dataclass(frozen=True, slots=True)
class _LicenceIssued:
    number: str
    licence_json: str
    valid_until: date


@dataclass(frozen=True, slots=True)
class _LicenceStatus:
    """A deferred licence.status_changed (review suspended, reinstated or revoked a general licence)."""

    number: str
    status: str


_Write = _CaseAccepted | _CaseDecided | _LicenceIssued | _LicenceStatus


@dataclass(frozen=True, slots=True)
class Disposition:
    """A reviewer disposition as screening holds it (from review's events)."""

    disposition_id: str
    case_id: str | None
    party_key: str
    list_id: str
    entry_id: str
    list_version: str
    expires_on: date
    approved_by: tuple[str, ...]
    status: str
    recorded: DispositionRecorded


class ScreeningStore:
    """Async access to the three projections. Writes are upserts, so replays are harmless.

    Case and licence writes can be deferred (`defer_case`, `defer_decision`) and applied in
    order, in one transaction, by `flush`: the Kafka stage flushes once per batch, before it
    publishes and commits offsets, so a crash before the flush redelivers the batch and the
    writes are made again. `remember_case` / `record_decision` defer and flush at once.
    General licences are served from memory: loaded at start, updated as decisions issue them,
    re-read from the database by `refresh_general_licences` (once per batch, for a database
    shared by several instances).
    """

    def __init__(self, url: str) -> None:
        # WAL on SQLite (screening commits once per batch); no pre-ping, as before.
        self.engine: AsyncEngine = make_engine(url, pre_ping=False)

        #: (party key, list id, entry id, list version) -> recorded dispositions (not revoked).
        self._dispositions: dict[tuple[str, str, str, str], list[Disposition]] = {}
        self._pending: list[_Write] = []
        self._flush_lock = asyncio.Lock()
        self._licences: dict[str, Licence] = {}
        self._licence_json: dict[str, str] = {}
        self._valid_licences: tuple[date, dict[str, Licence]] | None = None
        #: General licences whose last published status is not active: number -> status.
        self._inactive: dict[str, str] = {}

    async def start(self) -> None:
        """Create the tables if needed and cache the recorded dispositions."""
        # Alembic migrations (lanthanide.migrations: advisory lock on PostgreSQL, a database made
        # by create_all before migrations is adopted as the baseline).
        await migrate_to_head(
            self.engine, MIGRATIONS, lock_id=7423002, baseline_tables=BASELINE_TABLES
        )
        await self.reload_dispositions()
        await self.refresh_general_licences()

    async def close(self) -> None:
        await self.engine.dispose()

    async def _upsert(self, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
        # Portable upsert (SQLite and PostgreSQL): update, insert when nothing was updated.
        async with self.engine.begin() as conn:
            cond = [table.c[k] == v for k, v in key.items()]
            result = await conn.execute(table.update().where(*cond).values(**values))
            if result.rowcount == 0:
                await conn.execute(table.insert().values(**key, **values))

    # ------------------------------------------------------------ cases

    async def remember_case(self, case_id: str, correlation_id: str, accepted: ApplicationAccepted) -> None:
        """Record an accepted application as an open case (written before returning).

        A replayed accepted event must not reopen a decided case; an amendment does.
        """
        self.defer_case(case_id, correlation_id, accepted)
        await self.flush()

    async def record_decision(self, case_id: str, decision: DecisionMade) -> None:
        """A decision closes the case, or makes it 'licensed' while its licence is valid (written
        before returning)."""
        self.defer_decision(case_id, decision)
        await self.flush()

    def defer_case(self, case_id: str, correlation_id: str, accepted: ApplicationAccepted) -> None:
        """remember_case, applied by the next `flush`."""
        self._pending.append(
            _CaseAccepted(case_id, correlation_id, accepted.model_dump_json(), accepted.is_amendment, datetime.now(UTC))
        )

    def defer_decision(self, case_id: str, decision: DecisionMade) -> None:
        """record_decision, applied by the next `flush`; an issued general licence is known at once."""
        licence = decision.licence
        status = "licensed" if decision.outcome is DecisionOutcome.APPROVED and licence else "closed"
        now = datetime.now(UTC)
        self._pending.append(_CaseDecided(case_id, status, licence.valid_until if licence else None, now))
        if licence is not None and licence.type is LicenceType.GENERAL:
            self._remember_licence(with_remaining(licence, self._licences.get(licence.number)))
        usage = decision.general_licence_usage
        if usage is not None and (known := self._licences.get(usage.number)) is not None:
            # Review is the truth of a general licence's usage: screening decides on what remains.
            self._remember_licence(with_remaining(known, None, usage.remaining))

    def defer_licence_status(self, change: LicenceStatusChanged) -> None:
        """licence.status_changed, applied by the next `flush`; known at once (screening stops
        routing to the green channel under a suspended or revoked general licence)."""
        if change.licence_type is not LicenceType.GENERAL:
            return
        self._pending.append(_LicenceStatus(change.number, change.status))
        self._set_status(change.number, change.status)

    def _set_status(self, number: str, status: str) -> None:
        # Copy on write: mappings handed out by inactive_general_licences stay as they were.
        inactive = {n: st for n, st in self._inactive.items() if n != number}
        if status != "active":
            inactive[number] = status
        self._inactive = inactive

    def inactive_general_licences(self) -> dict[str, str]:
        """General licences review suspended or revoked, by number (status). Shared: do not modify."""
        return self._inactive

    def _remember_licence(self, licence: Licence) -> None:
        text = licence.model_dump_json()
        self._pending.append(_LicenceIssued(licence.number, text, licence.valid_until))
        self._learn_licence(licence, text)

    @property
    def pending_writes(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Apply the deferred writes in order, in one transaction; on failure they stay pending."""
        async with self._flush_lock:
            if not self._pending:
                return
            writes, self._pending = self._pending, []
            try:
                async with self.engine.begin() as conn:
                    await self._apply(conn, writes)
            except BaseException:
                self._pending[:0] = writes
                raise

    async def _apply(self, conn: AsyncConnection, writes: list[_Write]) -> None:
        """The writes' net effect, computed from the current statuses: same outcome as applying
        them one by one (insert an unknown case as open; an amendment reopens a known case; a
        decision updates a known case; a general licence is upserted)."""
        ids = list(dict.fromkeys(w.case_id for w in writes if isinstance(w, _CaseAccepted | _CaseDecided)))
        # case id -> status, as read and then as the writes change it
        known: dict[str, str] = {}
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            stmt = select(cases.c.case_id, cases.c.status).where(cases.c.case_id.in_(chunk))
            known.update({r.case_id: r.status for r in (await conn.execute(stmt)).all()})
        inserts: dict[str, dict[str, Any]] = {}
        updates: dict[str, dict[str, Any]] = {}
        licences: dict[str, _LicenceIssued] = {}
        statuses: dict[str, str] = {}
        for w in writes:
            if isinstance(w, _LicenceIssued):
                licences[w.number] = w
                continue
            if isinstance(w, _LicenceStatus):
                statuses[w.number] = w.status
                continue
            row = inserts.get(w.case_id)
            exists = row is not None or w.case_id in known
            if isinstance(w, _CaseAccepted):
                values = {"correlation_id": w.correlation_id, "accepted_json": w.accepted_json, "updated_at": w.at}
                if not exists:
                    inserts[w.case_id] = {"case_id": w.case_id, "status": "open", "licence_valid_until": None, **values}
                    known[w.case_id] = "open"
                    continue
                if not w.is_amendment or known.get(w.case_id) == "licensed":
                    # A resubmission after a licence was issued does not replace what was licensed:
                    # re-screening screens the version the licence was issued from (review records
                    # the resubmission without deciding again).
                    continue
                values.update(status="open", licence_valid_until=None)
                known[w.case_id] = "open"
            else:
                if not exists:
                    continue  # an UPDATE of an unknown case changes nothing
                values = {"status": w.status, "licence_valid_until": w.licence_valid_until, "updated_at": w.at}
                known[w.case_id] = w.status
            (row if row is not None else updates.setdefault(w.case_id, {})).update(values)
        if inserts:
            await conn.execute(cases.insert(), list(inserts.values()))
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for case_id, values in updates.items():
            by_columns.setdefault(tuple(sorted(values)), []).append({"b_case_id": case_id, **values})
        for columns, rows in by_columns.items():
            stmt = (
                cases.update()
                .where(cases.c.case_id == bindparam("b_case_id"))
                .values({c: bindparam(c) for c in columns})
            )
            await conn.execute(stmt, rows)
        for lic in licences.values():
            values = {"licence_json": lic.licence_json, "valid_until": lic.valid_until}
            result = await conn.execute(
                general_licences.update().where(general_licences.c.number == lic.number).values(**values)
            )
            if result.rowcount == 0:
                await conn.execute(general_licences.insert().values(number=lic.number, **values))
        for number, status in statuses.items():
            # A status for a licence this store has not learnt yet changes nothing here (it stays
            # in memory); the issuing decision comes first on the same key.
            await conn.execute(
                general_licences.update().where(general_licences.c.number == number).values(status=status)
            )

    async def cases_to_rescreen(self, on: date) -> list[StoredCase]:
        """Open cases and cases whose licence is still valid on a date."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(cases)
                    .where(
                        (cases.c.status == "open")
                        | ((cases.c.status == "licensed") & (cases.c.licence_valid_until >= on))
                    )
                    .order_by(cases.c.case_id)
                )
            ).all()
        return [
            StoredCase(r.case_id, r.correlation_id, ApplicationAccepted.model_validate_json(r.accepted_json), r.status)
            for r in rows
        ]

    async def general_licences(self, on: date) -> dict[str, Licence]:
        """Issued general licences still valid on a date, by number (from memory)."""
        return self.valid_general_licences(on)

    def valid_general_licences(self, on: date) -> dict[str, Licence]:
        """Issued general licences still valid on a date, by number. Shared: do not modify."""
        cached = self._valid_licences
        if cached is None or cached[0] != on:
            valid = {n: lic for n, lic in self._licences.items() if lic.valid_until >= on}
            cached = self._valid_licences = (on, valid)
        return cached[1]

    async def refresh_general_licences(self) -> None:
        """Re-read the issued general licences (another instance on the same database may have
        recorded some); the ones learnt from decisions not yet flushed are kept."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(general_licences.c.number, general_licences.c.licence_json, general_licences.c.status)
                )
            ).all()
        stored = {r.number for r in rows}
        # Statuses of licences not stored yet are known only in memory: kept.
        inactive = {n: st for n, st in self._inactive.items() if n not in stored}
        inactive.update({r.number: r.status for r in rows if r.status != "active"})
        for w in self._pending:
            if isinstance(w, _LicenceStatus):
                inactive.pop(w.number, None)
                if w.status != "active":
                    inactive[w.number] = w.status
        if inactive != self._inactive:
            self._inactive = inactive
        texts = {r.number: r.licence_json for r in rows}
        texts.update({w.number: w.licence_json for w in self._pending if isinstance(w, _LicenceIssued)})
        if texts == self._licence_json:
            return
        old, known = self._licences, self._licence_json
        self._licences = {
            n: old[n] if known.get(n) == text else Licence.model_validate_json(text) for n, text in texts.items()
        }
        self._licence_json = texts
        self._valid_licences = None

    def _learn_licence(self, licence: Licence, text: str) -> None:
        # Copy on write: dicts handed out by valid_general_licences stay as they were.
        self._licences = {**self._licences, licence.number: licence}
        self._licence_json = {**self._licence_json, licence.number: text}
        self._valid_licences = None

    # ------------------------------------------------------------ dispositions

    async def record_disposition(self, recorded: DispositionRecorded, case_id: str | None) -> None:
        """Remember a disposition.recorded event; a replay (same id) changes nothing, and a
        revoked disposition stays revoked."""
        async with self.engine.begin() as conn:
            known = (
                await conn.execute(
                    select(dispositions.c.disposition_id).where(
                        dispositions.c.disposition_id == recorded.disposition_id
                    )
                )
            ).first()
            if known is None:
                await conn.execute(
                    dispositions.insert().values(
                        disposition_id=recorded.disposition_id,
                        case_id=case_id,
                        party_key=party_key(recorded.party_name),
                        list_id=recorded.list_id,
                        entry_id=recorded.entry_id,
                        list_version=recorded.list_version,
                        expires_on=recorded.expires_on,
                        approved_by=json.dumps(recorded.approved_by),
                        status="recorded",
                        recorded_json=recorded.model_dump_json(),
                        updated_at=datetime.now(UTC),
                    )
                )
        await self.reload_dispositions()

    async def revoke_disposition(self, disposition_id: str) -> bool:
        """Apply a disposition.revoked event; False when the disposition is unknown here."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                dispositions.update()
                .where(dispositions.c.disposition_id == disposition_id)
                .values(status="revoked", updated_at=datetime.now(UTC))
            )
        await self.reload_dispositions()
        return bool(result.rowcount)

    async def list_dispositions(self) -> list[Disposition]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(dispositions).order_by(dispositions.c.updated_at))).all()
        return [
            Disposition(
                r.disposition_id, r.case_id, r.party_key, r.list_id, r.entry_id, r.list_version, r.expires_on,
                tuple(json.loads(r.approved_by)), r.status, DispositionRecorded.model_validate_json(r.recorded_json),
            )
            for r in rows
        ]

    async def reload_dispositions(self) -> None:
        """Re-read the recorded dispositions into the cache the engine consults."""
        cache: dict[tuple[str, str, str, str], list[Disposition]] = {}
        for d in await self.list_dispositions():
            if d.status == "recorded":
                cache.setdefault((d.party_key, d.list_id, d.entry_id, d.list_version), []).append(d)
        self._dispositions = cache

    def find_disposition(
        self, party_key: str, list_id: str, entry_id: str, list_version: str, on: date
    ) -> Suppression | None:
        """The recorded disposition that suppresses this hit on a date (served from the cache):
        same party, same entry, same list version (a changed entry comes with a new version), not
        expired."""
        for d in self._dispositions.get((party_key, list_id, entry_id, list_version), ()):
            if on <= d.expires_on:
                return Suppression(d.disposition_id, d.approved_by)
        return None


def with_remaining(licence: Licence, known: Licence | None, remaining: list[Decimal] | None = None) -> Licence:
    """The general licence as screening keeps it: each item's cap is what remains of it.

    Remaining quantities only go down, and usage reports for one licence come keyed by different
    cases (so possibly out of order, or before the issuing decision): keep the smallest per item."""
    caps = [item.quantity_cap for item in licence.items]
    for other in ([known.items[i].quantity_cap for i in range(len(known.items))] if known else [], remaining or []):
        if len(other) == len(caps):
            caps = [min(a, b) for a, b in zip(caps, other, strict=True)]
    if caps == [item.quantity_cap for item in licence.items]:
        return licence
    items = [item.model_copy(update={"quantity_cap": cap}) for item, cap in zip(licence.items, caps, strict=True)]
    return licence.model_copy(update={"items": items})
