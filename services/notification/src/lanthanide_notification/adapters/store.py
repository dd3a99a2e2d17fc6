"""The delivery log on SQLAlchemy (async): SQLite by default, PostgreSQL in production.

Tables: deliveries (UNIQUE event_id, channel, target), dead_letters (the body of every delivery
that failed after its last attempt and retry, listed for operators and replayable),
pending_deliveries (the delivery worker's queue: every delivery waits here for its first round,
its persisted retries and replays; next_attempt_at survives restarts),
case_contacts (case_id -> how to reach the applicant) and subscriptions (loaded from the
subscriptions file, plus any added later).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from lanthanide.db import make_engine as make_db_engine
from lanthanide.migrations import migrate_to_head
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lanthanide_notification.domain.model import (
    CaseContact,
    DeliveryResult,
    Notice,
    Subscription,
    Target,
    delivery_host,
)
from lanthanide_notification.domain.ports import (
    DeliveryKey,
    DeliveryRecord,
    DueDelivery,
    FailedDelivery,
    PendingDelivery,
)

metadata = MetaData()
#: The store's Alembic migrations (adapters/migrations/versions), applied at start.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The tables of revision 0001 (what create_all made before migrations).
BASELINE_TABLES = ("deliveries", "dead_letters", "case_contacts", "subscriptions")

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(1000), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("case_id", String(36)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("response_status", Integer),
    Column("error", Text),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    #: The operator's replay that gave this result ("" for the first delivery): its outcome event
    #: has the replay's id, so a re-emitted outcome repeats that one, never the first's id with
    #: another payload (a conflicting duplicate).
    Column("replay", String(32), nullable=False, default=""),
    UniqueConstraint("event_id", "channel", "target", name="uq_delivery"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(1000), nullable=False),
    Column("case_id", String(36)),
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    Column("body", Text, nullable=False),
    Column("dead_lettered_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", "channel", "target", name="uq_dead_letter"),
)

case_contacts = Table(
    "case_contacts",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("exporter_keys", Text, nullable=False),
    Column("exporter_name", String(300)),
    Column("external_reference", String(100)),
    Column("webhook_url", String(1000)),
    Column("email", String(254)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    #: The case's own submitter (rule SUB-CONTACT-OWNER; migration 0004).
    Column("submitter", String(200)),
)

#: The delivery worker's queue: deliveries waiting for their first round (queued by the consumer
#: in the transaction of the batch's effects), a persisted retry (the backoff schedule) or an
#: operator's replay.
pending_deliveries = Table(
    "pending_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(1000), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("case_id", String(36)),
    Column("body", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("rounds", Integer, nullable=False),
    Column("replay", String(32), nullable=False),
    #: The receiver it occupies (model.delivery_host): the worker skips hosts at their limit.
    Column("host", String(300), nullable=False, index=True),
    Column("response_status", Integer),
    Column("error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", "channel", "target", name="uq_pending_delivery"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("applicant", String(300), nullable=False),
    Column("webhook_url", String(1000)),
    Column("email", String(254)),
    Column("kinds", Text, nullable=False),
    Column("source", String(16), nullable=False),
)


def _insert(engine: AsyncEngine, table: Table) -> Any:
    """An INSERT that supports ON CONFLICT on both supported dialects."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def make_engine(url: str) -> AsyncEngine:
    """The service's engine (lanthanide.db.make_engine: WAL and a busy timeout on SQLite)."""
    return make_db_engine(url)


def _contact(row: Any) -> CaseContact:
    return CaseContact(
        case_id=UUID(row["case_id"]),
        exporter_keys=tuple(orjson.loads(row["exporter_keys"])),
        exporter_name=row["exporter_name"],
        external_reference=row["external_reference"],
        webhook_url=row["webhook_url"],
        email=row["email"],
        submitter=row["submitter"],
    )


class SqlDeliveryLog:
    """DeliveryLog on an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._subscriptions: list[Subscription] | None = None

    @classmethod
    def from_url(cls, url: str) -> SqlDeliveryLog:
        """A log on the database at `url` (sqlite+aiosqlite:// or postgresql+asyncpg://)."""
        return cls(make_engine(url))

    async def create_schema(self) -> None:
        """Create the tables if missing (idempotent)."""
        # Alembic migrations (lanthanide.migrations: advisory lock on PostgreSQL, a database made
        # by create_all before migrations is adopted as the baseline).
        await migrate_to_head(
            self.engine, MIGRATIONS, lock_id=7423003, baseline_tables=BASELINE_TABLES
        )

    async def close(self) -> None:
        await self.engine.dispose()

    async def find(self, event_id: UUID, target: Target) -> DeliveryRecord | None:
        """The logged delivery of this event to this target, if any."""
        query = select(deliveries).where(
            deliveries.c.event_id == str(event_id),
            deliveries.c.channel == target.channel,
            deliveries.c.target == target.address,
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return DeliveryRecord(
            event_id=event_id,
            channel=target.channel,
            target=target.address,
            result=DeliveryResult(
                status=row["status"], attempts=row["attempts"],
                response_status=row["response_status"], error=row["error"],
            ),
        )

    async def record(self, notice: Notice, target: Target, result: DeliveryResult, body: str) -> None:
        """Log a finished delivery; a failed one also gets a dead-letter record with the body.

        ON CONFLICT DO NOTHING: if two consumers raced on a redelivered event, the first
        record stands (both sent, which the receiver dedupes by X-Lanthanide-Event-Id).
        """
        now = datetime.now(UTC)
        case_id = str(notice.case_id) if notice.case_id else None
        async with self.engine.begin() as conn:
            await conn.execute(
                _insert(self.engine, deliveries).values(
                    event_id=str(notice.event_id), channel=target.channel, target=target.address,
                    event_type=notice.event_type, kind=notice.kind.value, case_id=case_id,
                    status=result.status, attempts=result.attempts,
                    response_status=result.response_status, error=result.error, finished_at=now, replay="",
                ).on_conflict_do_nothing(index_elements=["event_id", "channel", "target"])
            )
            if not result.delivered:
                await conn.execute(
                    _insert(self.engine, dead_letters).values(
                        event_id=str(notice.event_id), channel=target.channel,
                        target=target.address, case_id=case_id, attempts=result.attempts,
                        error=result.error, body=body, dead_lettered_at=now,
                    ).on_conflict_do_nothing(index_elements=["event_id", "channel", "target"])
                )

    async def find_many(self, keys: Collection[DeliveryKey]) -> dict[DeliveryKey, DeliveryRecord]:
        """The logged deliveries among (event_id, channel, target) keys: one query per 500 event ids."""
        wanted = set(keys)
        found: dict[DeliveryKey, DeliveryRecord] = {}
        if not wanted:
            return found
        ids = sorted({str(k[0]) for k in wanted})
        columns = (deliveries.c.event_id, deliveries.c.channel, deliveries.c.target, deliveries.c.status,
                   deliveries.c.attempts, deliveries.c.response_status, deliveries.c.error, deliveries.c.replay)
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = select(*columns).where(deliveries.c.event_id.in_(ids[start:start + 500]))
                for event_id, channel, target, status, attempts, response_status, error, replay in (
                    await conn.execute(query)
                ):
                    key = (UUID(event_id), channel, target)
                    if key in wanted:
                        found[key] = DeliveryRecord(
                            event_id=key[0], channel=channel, target=target,
                            result=DeliveryResult(status=status, attempts=attempts,
                                                  response_status=response_status, error=error),
                            replay=replay,
                        )
                # Waiting for a persisted retry: handled already, not to be sent again from Kafka.
                pending = select(pending_deliveries.c.event_id, pending_deliveries.c.channel,
                                 pending_deliveries.c.target, pending_deliveries.c.attempts,
                                 pending_deliveries.c.response_status, pending_deliveries.c.error,
                                 ).where(pending_deliveries.c.event_id.in_(ids[start:start + 500]))
                for event_id, channel, target, attempts, response_status, error in await conn.execute(pending):
                    key = (UUID(event_id), channel, target)
                    if key in wanted and key not in found:
                        found[key] = DeliveryRecord(
                            event_id=key[0], channel=channel, target=target,
                            result=DeliveryResult(status="pending", attempts=attempts,
                                                  response_status=response_status, error=error),
                        )
        return found

    async def record_many(self, items: Sequence[tuple[Notice, Target, DeliveryResult, str]]) -> None:
        """Log several finished deliveries in one transaction (one executemany per table), with
        the same rows and the same ON CONFLICT DO NOTHING as `record`."""
        if not items:
            return
        now = datetime.now(UTC)
        logged, dead = [], []
        for notice, target, result, body in items:
            case_id = str(notice.case_id) if notice.case_id else None
            logged.append({
                "event_id": str(notice.event_id), "channel": target.channel, "target": target.address,
                "event_type": notice.event_type, "kind": notice.kind.value, "case_id": case_id,
                "status": result.status, "attempts": result.attempts,
                "response_status": result.response_status, "error": result.error, "finished_at": now,
                "replay": "",
            })
            if not result.delivered:
                dead.append({
                    "event_id": str(notice.event_id), "channel": target.channel, "target": target.address,
                    "case_id": case_id, "attempts": result.attempts, "error": result.error, "body": body,
                    "dead_lettered_at": now,
                })
        async with self.engine.begin() as conn:
            await conn.execute(
                _insert(self.engine, deliveries).on_conflict_do_nothing(
                    index_elements=["event_id", "channel", "target"]), logged,
            )
            if dead:
                await conn.execute(
                    _insert(self.engine, dead_letters).on_conflict_do_nothing(
                        index_elements=["event_id", "channel", "target"]), dead,
                )

    async def contact(self, case_id: UUID) -> CaseContact | None:
        """What we know about reaching the applicant of a case."""
        query = select(case_contacts).where(case_contacts.c.case_id == str(case_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _contact(row)

    async def save_contact(self, contact: CaseContact) -> None:
        """Remember (or update) a case's contact."""
        await self.save_contacts([contact])

    async def contacts(self, case_ids: Collection[UUID]) -> dict[UUID, CaseContact]:
        """The known contacts of several cases, read in chunks of 500 ids (parameter limits)."""
        ids = [str(c) for c in case_ids]
        found: dict[UUID, CaseContact] = {}
        if not ids:
            return found
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = select(case_contacts).where(case_contacts.c.case_id.in_(ids[start:start + 500]))
                for row in (await conn.execute(query)).mappings():
                    contact = _contact(row)
                    found[contact.case_id] = contact
        return found

    async def save_contacts(self, contacts: Sequence[CaseContact]) -> None:
        """Remember (or update) several contacts in one transaction (an upsert each)."""
        if not contacts:
            return
        async with self.engine.begin() as conn:
            await self._upsert_contacts(conn, contacts)

    async def _upsert_contacts(self, conn: AsyncConnection, contacts: Sequence[CaseContact]) -> None:
        if not contacts:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "case_id": str(contact.case_id),
                "exporter_keys": orjson.dumps(list(contact.exporter_keys)).decode(),
                "exporter_name": contact.exporter_name,
                "external_reference": contact.external_reference,
                "webhook_url": contact.webhook_url,
                "email": contact.email,
                "submitter": contact.submitter,
                "updated_at": now,
            }
            for contact in contacts
        ]
        stmt = _insert(self.engine, case_contacts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["case_id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "case_id"},
        )
        await conn.execute(stmt, rows)

    async def replace_file_subscriptions(self, subs: list[Subscription]) -> None:
        """Make the table's file-sourced subscriptions exactly `subs` (the file is the truth)."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(subscriptions).where(subscriptions.c.source == "file"))
            if subs:
                await conn.execute(subscriptions.insert(), [
                    {"id": s.id, "applicant": s.applicant, "webhook_url": s.webhook_url,
                     "email": s.email, "kinds": orjson.dumps(sorted(s.kinds)).decode(),
                     "source": "file"}
                    for s in subs
                ])
        self._subscriptions = None

    async def subscriptions(self) -> list[Subscription]:
        """Every subscription; cached, since they change only when the file is reloaded."""
        if self._subscriptions is None:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(subscriptions))).mappings().all()
            self._subscriptions = [
                Subscription(
                    id=r["id"], applicant=r["applicant"], webhook_url=r["webhook_url"],
                    email=r["email"], kinds=frozenset(orjson.loads(r["kinds"])),
                )
                for r in rows
            ]
        return self._subscriptions

    async def dead_letter_count(self) -> int:
        """How many deliveries ended in the dead-letter table (for health and tests)."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(dead_letters))).scalar_one())

    # ------------------------------------------------------------------ the delivery queue

    async def enqueue(
        self, contacts: Sequence[CaseContact], items: Sequence[tuple[Notice, Target, str]], at: datetime
    ) -> None:
        """Save the contacts and queue the deliveries, due at `at`, in one transaction (the
        consumed batch's effects, before its offsets are committed). A delivery already queued
        stays as it is (ON CONFLICT DO NOTHING: a redelivered batch queues nothing twice)."""
        now = datetime.now(UTC)
        rows = [
            {
                "event_id": str(notice.event_id), "channel": target.channel, "target": target.address,
                "event_type": notice.event_type, "kind": notice.kind.value,
                "case_id": str(notice.case_id) if notice.case_id else None, "body": body,
                "attempts": 0, "rounds": 0, "replay": "", "host": delivery_host(target.channel, target.address),
                "response_status": None, "error": None, "next_attempt_at": at, "created_at": now,
            }
            for notice, target, body in items
        ]
        if not rows and not contacts:
            return
        async with self.engine.begin() as conn:
            await self._upsert_contacts(conn, contacts)
            if rows:
                await conn.execute(
                    _insert(self.engine, pending_deliveries).on_conflict_do_nothing(
                        index_elements=["event_id", "channel", "target"]), rows,
                )

    async def due(self, now: datetime, limit: int = 100, skip_hosts: Collection[str] = ()) -> list[PendingDelivery]:
        """The queued deliveries due now, earliest first (in queue order among equals), leaving
        out those to `skip_hosts` (receivers at their concurrency limit)."""
        query = select(pending_deliveries).where(pending_deliveries.c.next_attempt_at <= now)
        if skip_hosts:
            query = query.where(pending_deliveries.c.host.not_in(sorted(skip_hosts)))
        query = query.order_by(pending_deliveries.c.next_attempt_at, pending_deliveries.c.id).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_pending(r) for r in rows]

    async def due_keys(self, now: datetime, limit: int = 100, skip_hosts: Collection[str] = ()) -> list[DueDelivery]:
        """What `due` returns, as much of it as choosing needs (id, lane, host): the delivery
        worker's look, which reads many more rows than it starts."""
        c = pending_deliveries.c
        query = select(c.id, c.event_id, c.case_id, c.channel, c.target, c.host).where(c.next_attempt_at <= now)
        if skip_hosts:
            query = query.where(c.host.not_in(sorted(skip_hosts)))
        query = query.order_by(c.next_attempt_at, c.id).limit(limit)
        async with self.engine.connect() as conn:
            return [DueDelivery(*row) for row in await conn.execute(query)]

    async def claim_ids(self, ids: Sequence[int], now: datetime, lease_until: datetime) -> list[PendingDelivery]:
        """`claim` by id: the deliveries among `ids` still due are read (as they were before the
        claim) and claimed in one transaction; returns those claimed here, in the order of `ids`."""
        if not ids:
            return []
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(pending_deliveries).where(
                pending_deliveries.c.id.in_(ids), pending_deliveries.c.next_attempt_at <= now,
            ))).mappings().all()
            found = {r["id"]: r for r in rows}
            if not found:
                return []
            taken = set((await conn.execute(update(pending_deliveries).where(
                pending_deliveries.c.id.in_(sorted(found)), pending_deliveries.c.next_attempt_at <= now,
            ).values(next_attempt_at=lease_until).returning(pending_deliveries.c.id))).scalars())
        return [_pending(found[i]) for i in ids if i in taken]

    async def claim(
        self, items: Sequence[PendingDelivery], now: datetime, lease_until: datetime
    ) -> list[PendingDelivery]:
        """Claim due deliveries by moving their next attempt to `lease_until`: another instance
        polling meanwhile does not get them, and a claim by a process that dies runs out.
        Returns those claimed here (another instance may have taken some first), as they were."""
        if not items:
            return []
        # One UPDATE for the lot (RETURNING the ids it moved), not one per delivery.
        ids = [item.id for item in items]
        async with self.engine.begin() as conn:
            taken = set((await conn.execute(update(pending_deliveries).where(
                pending_deliveries.c.id.in_(ids), pending_deliveries.c.next_attempt_at <= now,
            ).values(next_attempt_at=lease_until).returning(pending_deliveries.c.id))).scalars())
        return [item for item in items if item.id in taken]

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int = 100) -> list[PendingDelivery]:
        """Claim the due deliveries, earliest first (see `claim`)."""
        return await self.claim(await self.due(now, limit), now, lease_until)

    async def renew(self, item: PendingDelivery, held_until: datetime, lease_until: datetime) -> bool:
        """Extend a claim this holder still has (the delivery's next attempt is still `held_until`,
        the end of its claim or last renewal) to `lease_until`; False if it has it no longer (its
        round rescheduled or finished it, or the lease ran out and another instance took it)."""
        async with self.engine.begin() as conn:
            kept = await conn.execute(update(pending_deliveries).where(
                pending_deliveries.c.id == item.id, pending_deliveries.c.next_attempt_at == held_until,
            ).values(next_attempt_at=lease_until))
        return bool(kept.rowcount == 1)

    async def release(self, item: PendingDelivery) -> None:
        """Give a claimed delivery back, due when it was due before the claim."""
        async with self.engine.begin() as conn:
            await conn.execute(update(pending_deliveries).where(pending_deliveries.c.id == item.id)
                               .values(next_attempt_at=item.next_attempt_at))

    async def pending(self, limit: int | None = None) -> list[PendingDelivery]:
        """The pending deliveries by id (the first `limit`, else all), due or not (for operators and tests)."""
        query = select(pending_deliveries).order_by(pending_deliveries.c.id).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_pending(r) for r in rows]

    async def reschedule(self, item: PendingDelivery, result: DeliveryResult, at: datetime) -> None:
        """Count a failed round and set when the next one is due."""
        async with self.engine.begin() as conn:
            await conn.execute(update(pending_deliveries).where(pending_deliveries.c.id == item.id).values(
                attempts=item.attempts + result.attempts, rounds=item.rounds + 1,
                response_status=result.response_status, error=result.error, next_attempt_at=at,
            ))

    async def finish_pending(self, item: PendingDelivery, result: DeliveryResult) -> None:
        """A pending delivery ended (delivered, or failed for good): log it, dead-letter it if it
        failed, and take it off the queue, in one transaction."""
        await self.finish_many([(item, result)])

    async def finish_many(self, ended: Sequence[tuple[PendingDelivery, DeliveryResult]]) -> None:
        """Several pending deliveries ended: each is logged, dead-lettered if it failed, and taken
        off the queue (as `finish_pending`), all in one transaction. One no longer queued (finished
        by another instance meanwhile) is left out."""
        if not ended:
            return
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            gone = {row_id: case_id for row_id, case_id in await conn.execute(
                delete(pending_deliveries).where(pending_deliveries.c.id.in_([item.id for item, _ in ended]))
                .returning(pending_deliveries.c.id, pending_deliveries.c.case_id))}
            logged, dead = [], []
            for item, result in ended:
                if item.id not in gone:
                    continue  # finished by another instance meanwhile
                case_id = gone[item.id]
                attempts = item.attempts + result.attempts
                logged.append({
                    "event_id": str(item.event_id), "channel": item.channel, "target": item.target,
                    "event_type": item.event_type, "kind": item.kind, "case_id": case_id,
                    "status": result.status, "attempts": attempts, "response_status": result.response_status,
                    "error": result.error, "finished_at": now, "replay": item.replay,
                })
                if not result.delivered:
                    dead.append({
                        "event_id": str(item.event_id), "channel": item.channel, "target": item.target,
                        "case_id": case_id, "attempts": attempts, "error": result.error, "body": item.body,
                        "dead_lettered_at": now,
                    })
            if logged:
                stmt = _insert(self.engine, deliveries)
                # A replayed delivery was logged as failed before: the replay's result replaces it.
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["event_id", "channel", "target"],
                    set_={k: stmt.excluded[k] for k in
                          ("status", "attempts", "response_status", "error", "finished_at", "replay")},
                ), logged)
            if dead:
                await conn.execute(
                    _insert(self.engine, dead_letters).on_conflict_do_nothing(
                        index_elements=["event_id", "channel", "target"]), dead,
                )

    async def failed_deliveries(self, limit: int = 100) -> list[FailedDelivery]:
        """The deliveries that failed for good, newest first (the dead letters)."""
        query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            FailedDelivery(
                id=r["id"], event_id=UUID(r["event_id"]), channel=r["channel"], target=r["target"],
                case_id=UUID(r["case_id"]) if r["case_id"] else None, attempts=r["attempts"],
                error=r["error"], failed_at=_aware(r["dead_lettered_at"]),
            )
            for r in rows
        ]

    async def replay(self, failed_id: int, token: str, at: datetime) -> PendingDelivery | None:
        """Put a failed delivery back on the queue, due at `at`, with the same event id (so the
        same webhook-id); None if there is no failed delivery `failed_id`."""
        async with self.engine.begin() as conn:
            dead = (await conn.execute(select(dead_letters).where(dead_letters.c.id == failed_id))).mappings().first()
            if dead is None:
                return None
            logged = (await conn.execute(select(deliveries.c.event_type, deliveries.c.kind).where(
                deliveries.c.event_id == dead["event_id"], deliveries.c.channel == dead["channel"],
                deliveries.c.target == dead["target"]))).first()
            event_type, kind = logged if logged is not None else ("unknown", "unknown")
            await conn.execute(
                _insert(self.engine, pending_deliveries).values(
                    event_id=dead["event_id"], channel=dead["channel"], target=dead["target"],
                    event_type=event_type, kind=kind, case_id=dead["case_id"], body=dead["body"],
                    attempts=dead["attempts"], rounds=0, replay=token, response_status=None,
                    host=delivery_host(dead["channel"], dead["target"]),
                    error=dead["error"], next_attempt_at=at, created_at=datetime.now(UTC),
                ).on_conflict_do_nothing(index_elements=["event_id", "channel", "target"])
            )
            await conn.execute(delete(dead_letters).where(dead_letters.c.id == failed_id))
            row = (await conn.execute(select(pending_deliveries).where(
                pending_deliveries.c.event_id == dead["event_id"], pending_deliveries.c.channel == dead["channel"],
                pending_deliveries.c.target == dead["target"]))).mappings().first()
        return None if row is None else _pending(row)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone=True columns; they were stored as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _pending(row: Any) -> PendingDelivery:
    return PendingDelivery(
        id=row["id"], event_id=UUID(row["event_id"]), channel=row["channel"], target=row["target"],
        event_type=row["event_type"], kind=row["kind"], body=row["body"], attempts=row["attempts"],
        rounds=row["rounds"], next_attempt_at=_aware(row["next_attempt_at"]), replay=row["replay"],
        host=row["host"], case_id=UUID(row["case_id"]) if row["case_id"] else None,
    )
