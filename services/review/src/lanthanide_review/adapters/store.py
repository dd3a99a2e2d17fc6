"""The review store: cases, history, processed inputs, outbox and licences in one database.

A UnitOfWork is one database transaction. Everything an input or a reviewer action changes
(the case, its history, the licence, the processed-event mark and the outgoing envelopes) is
written in the same transaction, so a crash leaves either all of it or none of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from lanthanide.contracts import DecisionOutcome, Licence, Route
from lanthanide.events import Outgoing
from lanthanide.serde import encode
from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from lanthanide_review.adapters import orm
from lanthanide_review.adapters.case_queue import QueueProjector
from lanthanide_review.domain.licences import LicenceNumbers, LicenceRecord, LicenceStatus
from lanthanide_review.domain.model import Case, Recommendation
from lanthanide_review.domain.rescreen import LicenceReview
from lanthanide_review.domain.sla import SlaClock
from lanthanide_review.domain.states import OPEN_STATES, CaseState


class ConcurrencyConflict(Exception):
    """Someone else changed the row since we read it, or wrote the same key first (a unique or
    primary-key violation, raised by the database as IntegrityError); the unit of work is retried.
    The store raises only this, so the service layer needs no database library to handle it."""


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we write is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _json_dumps(value: Any) -> str:
    # JSON columns through orjson (several times faster than json.dumps; the stored text is
    # compact, read back the same). Non-string keys are written as strings like json.dumps.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def make_engine(url: str) -> AsyncEngine:
    """An async engine. SQLite: one pooled connection, WAL, BEGIN IMMEDIATE for real isolation."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, **_JSON)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; take over (SQLAlchemy recipe).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True, **_JSON)


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent / "migrations"


async def migrate(engine: AsyncEngine) -> None:
    """Apply the Alembic migrations up to head on this engine's database (lanthanide.migrations:
    two review instances starting at once on one database both ran the migrations and one
    crashed on "relation alembic_version already exists"; the advisory lock serialises them)."""
    from lanthanide.migrations import migrate_to_head

    await migrate_to_head(engine, _migrations_dir(), lock_id=7423001)


# ---------------------------------------------------------------- row mapping


def _case_to_row(case: Case, now: datetime) -> dict[str, Any]:
    return {
        "case_id": str(case.case_id),
        "state": case.state.value,
        "route": case.route.value if case.route else None,
        "queue": case.queue,
        "external_reference": case.external_reference,
        "exporter": case.exporter_name,
        "assignee": case.assignee,
        "outcome": case.outcome.value if case.outcome else None,
        "decision_id": str(case.decision_id) if case.decision_id else None,
        "licence_number": case.licence_number,
        "application": case.application,
        "screening": case.screening,
        "data": {
            "correlation_id": str(case.correlation_id),
            "rule_ids": case.rule_ids,
            "policy_version": case.policy_version,
            "senior_only": case.senior_only,
            "countersign_required": case.countersign_required,
            "recommendation": case.recommendation.model_dump(mode="json") if case.recommendation else None,
            "pending_override": case.pending_override,
            "application_version": case.application_version,
            "submitter": case.submitter,
            "licence_suspended_by": case.licence_suspended_by,
            "licence_review": case.licence_review.to_dict() if case.licence_review else None,
            "rescreen_evidence": case.rescreen_evidence,
            "resume_state": case.resume_state.value if case.resume_state else None,
            "sla": case.sla.to_dict(),
            "decided_by": case.decided_by,
        },
        "created_at": case.created_at or now,
        "updated_at": now,
        "decided_at": case.decided_at,
    }


def case_from_row(row: Any) -> Case:
    """Rebuild the aggregate from its row."""
    data = row.data
    return Case(
        case_id=UUID(row.case_id),
        external_reference=row.external_reference,
        exporter_name=row.exporter,
        application=row.application,
        correlation_id=UUID(data["correlation_id"]),
        state=CaseState(row.state),
        route=Route(row.route) if row.route else None,
        queue=row.queue,
        screening=row.screening,
        rule_ids=list(data.get("rule_ids", [])),
        policy_version=data.get("policy_version"),
        assignee=row.assignee,
        senior_only=bool(data.get("senior_only")),
        countersign_required=bool(data.get("countersign_required")),
        recommendation=(Recommendation.model_validate(data["recommendation"]) if data.get("recommendation") else None),
        resume_state=CaseState(data["resume_state"]) if data.get("resume_state") else None,
        pending_override=data.get("pending_override"),
        application_version=int(data.get("application_version", 1)),
        submitter=data.get("submitter"),
        licence_suspended_by=data.get("licence_suspended_by"),
        licence_review=LicenceReview.from_dict(data.get("licence_review")),
        rescreen_evidence=data.get("rescreen_evidence"),
        sla=SlaClock.from_dict(data.get("sla")),
        outcome=DecisionOutcome(row.outcome) if row.outcome else None,
        decision_id=UUID(row.decision_id) if row.decision_id else None,
        decided_at=_aware(row.decided_at),
        decided_by=data.get("decided_by"),
        licence_number=row.licence_number,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        version=row.version,
    )


def licence_from_row(row: Any) -> LicenceRecord:
    data = row.data
    return LicenceRecord(
        licence=Licence.model_validate(data["licence"]),
        case_id=row.case_id,
        status=LicenceStatus(row.status),
        drawn=[Decimal(d) for d in data["drawn"]],
        shipments=int(data.get("shipments", 0)),
        status_reason=data.get("status_reason"),
        draws=list(data.get("draws", [])),
    )


def outgoing_rows(
    case_id: UUID | None,
    outgoing: Sequence[Outgoing],
    now: datetime,
    outbox_rows: list[dict[str, Any]],
    history_rows: list[dict[str, Any]],
) -> None:
    """Append the outbox rows of `outgoing` (and the case history rows, if for a case)."""
    case_key = str(case_id) if case_id is not None else None
    for out in outgoing:
        env = out.envelope
        event_id = str(env.event_id)
        outbox_rows.append({
            "event_id": event_id,
            "topic": out.topic,
            "event_type": env.event_type,
            "body": encode(env).decode(),
            "created_at": now,
        })
        if case_key is None:
            continue
        payload = env.payload
        if env.event_type == "case.event":
            history_rows.append({
                "case_id": case_key,
                "event_id": event_id,
                "event_type": env.event_type,
                "kind": payload.kind.value,
                "actor": payload.actor,
                "from_state": payload.from_state,
                "to_state": payload.to_state,
                "reason": payload.reason,
                "details": payload.details,
                "occurred_at": env.occurred_at,
            })
        elif env.event_type.startswith("disposition."):
            history_rows.append(disposition_history_row(case_key, event_id, env))
        elif env.event_type == "licence.status_changed":
            continue  # the case event (licence_suspended, _reinstated, _revoked) is its history row
        else:
            history_rows.append({
                "case_id": case_key,
                "event_id": event_id,
                "event_type": env.event_type,
                "kind": payload.outcome.value,
                "actor": payload.decided_by,
                "from_state": None,
                "to_state": None,
                "reason": None,
                "details": {
                    "decision_id": str(payload.decision_id),
                    "rule_ids": payload.rule_ids,
                    "reasons": [r.model_dump() for r in payload.reasons],
                },
                "occurred_at": env.occurred_at,
            })


def disposition_history_row(case_key: str, event_id: str, env: Any) -> dict[str, Any]:
    """The case history row of a disposition event (who, what, on which list entry and version)."""
    p = env.payload
    recorded = env.event_type == "disposition.recorded"
    return {
        "case_id": case_key,
        "event_id": event_id,
        "event_type": env.event_type,
        "kind": "disposition_recorded" if recorded else "disposition_revoked",
        "actor": ",".join(p.approved_by) if recorded else p.revoked_by,
        "from_state": None,
        "to_state": None,
        "reason": p.reason,
        "details": p.model_dump(mode="json"),
        "occurred_at": env.occurred_at,
    }


def _chunks(keys: Sequence[str], size: int = 1000) -> list[Sequence[str]]:
    return [keys[i:i + size] for i in range(0, len(keys), size)]


# Built once: executed with lists of parameter dicts (executemany); SQLAlchemy caches their
# compiled form, so a Kafka batch costs one compile lookup per table, not one per row.
_INSERT_PROCESSED = insert(orm.processed_events)
_INSERT_OUTBOX = insert(orm.outbox)
_INSERT_HISTORY = insert(orm.case_history)
_INSERT_CASE = insert(orm.cases)
_UPDATE_CASE = update(orm.cases).where(
    orm.cases.c.case_id == bindparam("b_case_id"), orm.cases.c.version == bindparam("b_expected")
)
_INSERT_QUEUE = insert(orm.case_queue)
_UPDATE_QUEUE = update(orm.case_queue).where(orm.case_queue.c.case_id == bindparam("b_case_id"))


def _queue_update(row: dict[str, Any]) -> dict[str, Any]:
    # executemany UPDATE: the key goes in a bind parameter of its own (not a SET column).
    out = {k: v for k, v in row.items() if k != "case_id"}
    out["b_case_id"] = row["case_id"]
    return out


# ---------------------------------------------------------------- unit of work


class UnitOfWork:
    """One transaction. Use `async with store.unit_of_work() as uow:`; commit is explicit."""

    def __init__(self, conn: AsyncConnection, projector: QueueProjector | None = None) -> None:
        self.conn = conn
        self._projector = projector
        self._versions: dict[str, int] = {}
        self._licence_versions: dict[str, int] = {}

    async def already_processed(self, event_id: UUID) -> bool:
        found = await self.conn.scalar(
            select(orm.processed_events.c.event_id).where(orm.processed_events.c.event_id == str(event_id))
        )
        return found is not None

    async def mark_processed(self, event_id: UUID, topic: str, now: datetime) -> None:
        await self.conn.execute(
            insert(orm.processed_events).values(event_id=str(event_id), topic=topic, processed_at=now)
        )

    async def get_case(self, case_id: UUID, *, for_update: bool = True) -> Case | None:
        stmt = select(orm.cases).where(orm.cases.c.case_id == str(case_id))
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        self._versions[row.case_id] = row.version
        return case_from_row(row)

    @property
    def projector(self) -> QueueProjector:
        if self._projector is None:
            self._projector = QueueProjector.default()
        return self._projector

    async def save_case(self, case: Case, now: datetime) -> None:
        """Insert a new case or update it if nobody changed it since it was read (its queue
        projection row with it, in this transaction)."""
        values = _case_to_row(case, now)
        key = values["case_id"]
        queue_row = self.projector.row(case, values["created_at"])
        if key not in self._versions:
            await self.conn.execute(insert(orm.cases).values(**values, version=1))
            await self.conn.execute(_INSERT_QUEUE, [queue_row])
            self._versions[key] = case.version = 1
            return
        expected = self._versions[key]
        result = await self.conn.execute(
            update(orm.cases)
            .where(orm.cases.c.case_id == key, orm.cases.c.version == expected)
            .values(**values, version=expected + 1)
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(f"case {key} changed concurrently")
        await self.conn.execute(_UPDATE_QUEUE, [_queue_update(queue_row)])
        self._versions[key] = case.version = expected + 1

    async def append(self, case_id: UUID | None, outgoing: Sequence[Outgoing], now: datetime) -> None:
        """Write the outgoing envelopes to the outbox, and case events to the case history."""
        # One executemany per table (not one INSERT built and compiled per row): a case's
        # decision writes ~4 outbox and ~4 history rows, and statement building dominated.
        outbox_rows: list[dict[str, Any]] = []
        history_rows: list[dict[str, Any]] = []
        outgoing_rows(case_id, outgoing, now, outbox_rows, history_rows)
        await self.write_rows(outbox=outbox_rows, history=history_rows)

    async def write_rows(
        self,
        *,
        outbox: Sequence[dict[str, Any]] = (),
        history: Sequence[dict[str, Any]] = (),
        processed: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Insert prepared outbox, history and processed-event rows (one executemany per table).

        Processed marks first: a concurrent writer that applied the same event makes this fail
        early on the primary key (IntegrityError), before anything else is sent to the server.
        """
        if processed:
            await self.conn.execute(_INSERT_PROCESSED, list(processed))
        if outbox:
            await self.conn.execute(_INSERT_OUTBOX, list(outbox))
        if history:
            await self.conn.execute(_INSERT_HISTORY, list(history))

    # ------------------------------------------------------------ many at once (Kafka batches)

    async def processed_among(self, event_ids: Sequence[UUID]) -> set[str]:
        """Which of these input events were applied already (one query)."""
        found: set[str] = set()
        keys = list(dict.fromkeys(str(e) for e in event_ids))
        for chunk in _chunks(keys):
            rows = await self.conn.execute(
                select(orm.processed_events.c.event_id).where(orm.processed_events.c.event_id.in_(chunk))
            )
            found.update(r[0] for r in rows)
        return found

    async def get_cases(self, case_ids: Sequence[UUID]) -> dict[UUID, Case]:
        """The existing cases among these ids, locked for update in case_id order (one query per
        1,000 ids; the fixed order keeps two instances from deadlocking on PostgreSQL)."""
        out: dict[UUID, Case] = {}
        keys = sorted({str(c) for c in case_ids})
        for chunk in _chunks(keys):
            stmt = (
                select(orm.cases)
                .where(orm.cases.c.case_id.in_(chunk))
                .order_by(orm.cases.c.case_id)
                .with_for_update()
            )
            for row in (await self.conn.execute(stmt)).all():
                self._versions[row.case_id] = row.version
                case = case_from_row(row)
                out[case.case_id] = case
        return out

    async def get_licences(self, numbers: Sequence[str]) -> dict[str, LicenceRecord]:
        """The licences with these numbers, locked for update in number order."""
        out: dict[str, LicenceRecord] = {}
        for chunk in _chunks(sorted(set(numbers))):
            stmt = (
                select(orm.licences)
                .where(orm.licences.c.number.in_(chunk))
                .order_by(orm.licences.c.number)
                .with_for_update()
            )
            for row in (await self.conn.execute(stmt)).all():
                self._licence_versions[row.number] = row.version
                out[row.number] = licence_from_row(row)
        return out

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
            values = _case_to_row(case, now)
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
                    raise ConcurrencyConflict("a case of the batch changed concurrently")
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
                    raise ConcurrencyConflict("a case of the batch changed concurrently")
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
        return [
            {
                "event_id": r.event_id,
                "event_type": r.event_type,
                "kind": r.kind,
                "actor": r.actor,
                "from_state": r.from_state,
                "to_state": r.to_state,
                "reason": r.reason,
                "details": r.details,
                "occurred_at": _aware(r.occurred_at),
            }
            for r in rows
        ]

    async def cases(self, *, states: Sequence[CaseState] | None = None) -> list[Case]:
        stmt = select(orm.cases).order_by(orm.cases.c.created_at)
        if states is not None:
            stmt = stmt.where(orm.cases.c.state.in_([s.value for s in states]))
        return [case_from_row(r) for r in (await self.conn.execute(stmt)).all()]

    async def open_cases(self) -> list[Case]:
        return await self.cases(states=sorted(OPEN_STATES))

    # ------------------------------------------------------------ licences

    async def get_licence(self, number: str, *, for_update: bool = True) -> LicenceRecord | None:
        stmt = select(orm.licences).where(orm.licences.c.number == number)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        self._licence_versions[number] = row.version
        return licence_from_row(row)

    async def save_licence(self, rec: LicenceRecord, now: datetime, saves: int = 1) -> None:
        """Insert or (optimistically) update a licence; `saves` as in `save_cases`."""
        number = rec.licence.number
        values = {
            "case_id": rec.case_id,
            "type": rec.licence.type.value,
            "holder": rec.licence.holder,
            "status": rec.status.value,
            "valid_from": rec.licence.valid_from,
            "valid_until": rec.licence.valid_until,
            "data": rec.to_dict(),
            "updated_at": now,
        }
        if number not in self._licence_versions:
            await self.conn.execute(
                insert(orm.licences).values(number=number, created_at=now, version=saves, **values)
            )
            self._licence_versions[number] = saves
            return
        expected = self._licence_versions[number]
        result = await self.conn.execute(
            update(orm.licences)
            .where(orm.licences.c.number == number, orm.licences.c.version == expected)
            .values(version=expected + saves, **values)
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(f"licence {number} changed concurrently")
        self._licence_versions[number] = expected + saves

    async def licences(self) -> list[LicenceRecord]:
        rows = (await self.conn.execute(select(orm.licences).order_by(orm.licences.c.number))).all()
        return [licence_from_row(r) for r in rows]

    async def licence_numbers(self, year: int) -> LicenceNumbers:
        """The next number of the year (read now, claimed by `claim_licence_number`)."""
        current = await self.conn.scalar(
            select(orm.licence_counters.c.next_sequence).where(orm.licence_counters.c.year == year)
        )
        return LicenceNumbers(year=year, next_sequence=current or 1)

    async def claim_licence_number(self, numbers: LicenceNumbers) -> None:
        """Advance the counter if the number was used; a concurrent claim makes this fail."""
        if not numbers.used:
            return
        if numbers.next_sequence == 1:
            exists = await self.conn.scalar(
                select(func.count())
                .select_from(orm.licence_counters)
                .where(orm.licence_counters.c.year == numbers.year)
            )
            if not exists:
                await self.conn.execute(insert(orm.licence_counters).values(year=numbers.year, next_sequence=2))
                return
        result = await self.conn.execute(
            update(orm.licence_counters)
            .where(
                orm.licence_counters.c.year == numbers.year,
                orm.licence_counters.c.next_sequence == numbers.next_sequence,
            )
            .values(next_sequence=numbers.next_sequence + 1)
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(f"licence number counter for {numbers.year} moved")

    async def claim_licence_numbers(self, year: int, read: int | None, next_sequence: int) -> None:
        """Move the year's counter from `read` (None: no row yet) to `next_sequence` if nobody
        moved it since it was read (else IntegrityError or ConcurrencyConflict)."""
        if read is None:
            await self.conn.execute(insert(orm.licence_counters).values(year=year, next_sequence=next_sequence))
            return
        result = await self.conn.execute(
            update(orm.licence_counters)
            .where(orm.licence_counters.c.year == year, orm.licence_counters.c.next_sequence == read)
            .values(next_sequence=next_sequence)
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(f"licence number counter for {year} moved")

    async def licence_counter(self, year: int) -> int | None:
        """The year's next sequence as stored, None if there is no row yet."""
        value = await self.conn.scalar(
            select(orm.licence_counters.c.next_sequence).where(orm.licence_counters.c.year == year)
        )
        return None if value is None else int(value)

    async def shipment_seen(self, shipment_id: str) -> bool:
        found = await self.conn.scalar(
            select(orm.shipments.c.shipment_id).where(orm.shipments.c.shipment_id == shipment_id)
        )
        return found is not None

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
        await self.conn.execute(
            insert(orm.shipments).values(
                shipment_id=shipment_id,
                licence_number=licence_number,
                item_index=item_index,
                quantity=str(quantity),
                unit=unit,
                end_user=end_user,
                end_user_country=end_user_country,
                shipped_on=shipped_on,
                accepted=accepted,
                rule_id=rule_id,
                reason=reason,
                recorded_at=now,
            )
        )

    async def accepted_shipments(self) -> list[Any]:
        return list((await self.conn.execute(select(orm.shipments).where(orm.shipments.c.accepted.is_(True)))).all())

    async def general_licences(self) -> list[LicenceRecord]:
        """Every general licence, by number (for usage reports; not locked)."""
        stmt = select(orm.licences).where(orm.licences.c.type == "general").order_by(orm.licences.c.number)
        return [licence_from_row(r) for r in (await self.conn.execute(stmt)).all()]


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
        """A transaction: committed if the block ends normally, rolled back on an exception.
        A key another writer took first (IntegrityError, in the block or at commit) comes out as
        ConcurrencyConflict."""
        if self.projector is None:
            self.projector = QueueProjector.default()
        try:
            async with self.engine.begin() as conn:
                yield UnitOfWork(conn, self.projector)
        except IntegrityError as exc:
            raise ConcurrencyConflict(f"a key was written concurrently: {exc.orig}") from exc

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.scalar(select(1))

    async def dispose(self) -> None:
        await self.engine.dispose()
