"""The screening store (SQLAlchemy async; SQLite by default, PostgreSQL in production).

Three projections, each rebuildable by replaying Kafka:
  cases            accepted applications by case id, with their status (open / licensed / closed),
                   so a list or measure change can re-screen open cases and live licences;
  general_licences issued GENERAL licences (from decisions), for the green channel;
  dispositions     reviewer verdicts on (party, list entry) pairs: false positives are
                   suppressed the next time the same party is screened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lanthanide.contracts import ApplicationAccepted, DecisionMade, DecisionOutcome, Licence, LicenceType
from sqlalchemy import Column, Date, DateTime, MetaData, String, Table, Text, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()

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
)
dispositions = Table(
    "screening_dispositions",
    metadata,
    Column("party_key", String(300), primary_key=True),
    Column("list_id", String(100), primary_key=True),
    Column("entry_id", String(200), primary_key=True),
    Column("verdict", String(20), nullable=False),  # false_positive | true_positive
    Column("reason", Text, nullable=False),
    Column("reviewer", String(100), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case to re-screen: its id, correlation id and the accepted application."""

    case_id: str
    correlation_id: str
    accepted: ApplicationAccepted
    status: str


@dataclass(frozen=True, slots=True)
class Disposition:
    """A reviewer's verdict on one party / list entry pair."""

    party_key: str
    list_id: str
    entry_id: str
    verdict: str
    reason: str
    reviewer: str
    recorded_at: datetime


class ScreeningStore:
    """Async access to the three projections. Writes are upserts, so replays are harmless."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(url)
        if url.startswith("sqlite"):
            # WAL: one fsync per commit instead of the rollback journal's several (still durable
            # at synchronous=FULL); screening commits once or twice per case (bench/ profile).
            @event.listens_for(self.engine.sync_engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.close()

        self._false_positives: set[tuple[str, str, str]] = set()

    async def start(self) -> None:
        """Create the tables if needed and cache the false-positive dispositions."""
        async with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                # Two instances starting at once on one database raced on CREATE TABLE and one
                # crashed (duplicate pg_type row): serialise schema creation per database.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7423002)")
            await conn.run_sync(metadata.create_all)
        await self._reload_dispositions()

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
        """Record an accepted application as an open case.

        A replayed accepted event must not reopen a decided case; an amendment does.
        """
        values = {
            "correlation_id": correlation_id,
            "accepted_json": accepted.model_dump_json(),
            "updated_at": datetime.now(UTC),
        }
        async with self.engine.begin() as conn:
            status = (await conn.execute(select(cases.c.status).where(cases.c.case_id == case_id))).scalar()
            if status is None:
                await conn.execute(cases.insert().values(case_id=case_id, status="open", **values))
            elif accepted.is_amendment:
                await conn.execute(
                    cases.update()
                    .where(cases.c.case_id == case_id)
                    .values(status="open", licence_valid_until=None, **values)
                )

    async def record_decision(self, case_id: str, decision: DecisionMade) -> None:
        """A decision closes the case, or makes it 'licensed' while its licence is valid."""
        licence = decision.licence
        status = "licensed" if decision.outcome is DecisionOutcome.APPROVED and licence else "closed"
        async with self.engine.begin() as conn:
            await conn.execute(
                cases.update()
                .where(cases.c.case_id == case_id)
                .values(
                    status=status,
                    licence_valid_until=licence.valid_until if licence else None,
                    updated_at=datetime.now(UTC),
                )
            )
        if licence is not None and licence.type is LicenceType.GENERAL:
            await self._upsert(
                general_licences,
                {"number": licence.number},
                {"licence_json": licence.model_dump_json(), "valid_until": licence.valid_until},
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
        """Issued general licences still valid on a date, by number."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(general_licences).where(general_licences.c.valid_until >= on))).all()
        return {r.number: Licence.model_validate_json(r.licence_json) for r in rows}

    # ------------------------------------------------------------ dispositions

    async def record_disposition(self, d: Disposition) -> None:
        """Remember a reviewer's verdict (the latest verdict on a pair wins)."""
        await self._upsert(
            dispositions,
            {"party_key": d.party_key, "list_id": d.list_id, "entry_id": d.entry_id},
            {"verdict": d.verdict, "reason": d.reason, "reviewer": d.reviewer, "recorded_at": d.recorded_at},
        )
        await self._reload_dispositions()

    async def list_dispositions(self) -> list[Disposition]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(dispositions).order_by(dispositions.c.recorded_at))).all()
        return [
            Disposition(r.party_key, r.list_id, r.entry_id, r.verdict, r.reason, r.reviewer, r.recorded_at)
            for r in rows
        ]

    async def _reload_dispositions(self) -> None:
        self._false_positives = {
            (d.party_key, d.list_id, d.entry_id)
            for d in await self.list_dispositions()
            if d.verdict == "false_positive"
        }

    def is_false_positive(self, party_key: str, list_id: str, entry_id: str) -> bool:
        """Synchronous check the engine calls per candidate hit (served from the cache)."""
        return (party_key, list_id, entry_id) in self._false_positives
