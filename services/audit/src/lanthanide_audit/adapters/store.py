"""The ledger on SQLAlchemy (async): SQLite by default, PostgreSQL in production.

Append-only: this module inserts ledger rows and never updates or deletes them. One row of
`chain_head` holds the last seq and hash; appending locks it (SELECT ... FOR UPDATE on
PostgreSQL; SQLite serialises writers anyway), so several audit processes extend one chain
without forking it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lanthanide.db import make_engine as make_db_engine
from lanthanide.migrations import migrate_to_head
from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lanthanide_audit.domain.checkpoints import Checkpoint
from lanthanide_audit.domain.ledger import (
    GENESIS,
    Conflict,
    LedgerEntry,
    LedgerKey,
    NewEntry,
    chain,
    content_fingerprint,
    decision_id_of,
    find_conflicts,
)

metadata = MetaData()
#: The store's Alembic migrations (adapters/migrations/versions), applied at start.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The tables of revision 0001 (what create_all made before migrations).
BASELINE_TABLES = ("ledger", "chain_head")

ledger = Table(
    "ledger",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("case_id", String(36)),
    Column("correlation_id", String(36)),
    Column("causation_id", String(36)),
    Column("producer", String(200)),
    Column("occurred_at", String(40)),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", Integer, nullable=False),
    Column("canonical", LargeBinary, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("error", Text),
    #: The ledger key that MACed the row (domain LedgerKey.key_id); NULL for legacy sha256 rows.
    Column("key_id", String(32)),
    Index("ix_ledger_case", "case_id"),
)

#: Records whose event id the ledger already holds with a different payload (domain Conflict):
#: both are kept, the first in the chain, the second here, and verification fails naming them.
conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("id_kind", String(16), nullable=False),  # event_id | decision_id
    Column("conflict_id", String(64), nullable=False),  # the id seen with two payloads
    Column("event_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("first_fingerprint", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("case_id", String(36)),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", Integer, nullable=False),
    Column("canonical", LargeBinary, nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Index("ux_conflicts_id_fp", "id_kind", "conflict_id", "fingerprint", unique=True),
)

#: Decision ids in the ledger with the fingerprint of their first decision's payload: a second
#: decision.made with a known decision id and other content is a conflict even under a new event id.
decision_ids = Table(
    "decision_ids",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
)

chain_head = Table(
    "chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)


#: Signed checkpoints (domain Checkpoint), kept outside the ledger table; the copies published to
#: the audit.checkpoints topic are the ones a database writer cannot take back.
checkpoint_table = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("position", Integer, nullable=False),
    Column("head_mac", String(64), nullable=False),
    Column("at", String(40), nullable=False),
    Column("key_id", String(32)),
    Column("signer", String(32), nullable=False),
    Column("signature", String(128), nullable=False),
)


def make_engine(url: str) -> AsyncEngine:
    """The service's engine (lanthanide.db.make_engine: WAL and a busy timeout on SQLite)."""
    return make_db_engine(url)


_LEDGER_COLUMNS = tuple(c.name for c in ledger.c)
# Names quoted: "offset" and "partition" are SQL keywords.
_SQLITE_INSERT = (
    f"INSERT INTO ledger ({', '.join(chr(34) + c + chr(34) for c in _LEDGER_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _LEDGER_COLUMNS)})"
)
_SQLITE_HEAD_UPDATE = "UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1"


def _sqlite_head_and_known(n: int) -> str:
    """One SELECT: the head as (seq, hash, NULL), then (NULL, NULL, event_id) per known id."""
    return (
        "SELECT seq, hash, NULL FROM chain_head WHERE id = 1 UNION ALL "
        f"SELECT NULL, NULL, event_id FROM ledger WHERE event_id IN ({', '.join('?' * n)})"
    )


def _row(r: LedgerEntry) -> dict[str, Any]:
    return {
        "seq": r.seq, "event_id": r.event_id, "event_type": r.event_type, "case_id": r.case_id,
        "correlation_id": r.correlation_id, "causation_id": r.causation_id,
        "producer": r.producer, "occurred_at": r.occurred_at, "topic": r.topic,
        "partition": r.partition, "offset": r.offset, "canonical": r.canonical,
        "prev_hash": r.prev_hash, "hash": r.hash, "recorded_at": r.recorded_at,
        "error": r.error, "key_id": r.key_id,
    }


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        seq=row["seq"], event_id=row["event_id"], event_type=row["event_type"], case_id=row["case_id"],
        correlation_id=row["correlation_id"], causation_id=row["causation_id"],
        producer=row["producer"], occurred_at=row["occurred_at"], topic=row["topic"],
        partition=row["partition"], offset=row["offset"], canonical=bytes(row["canonical"]),
        prev_hash=row["prev_hash"], hash=row["hash"], recorded_at=row["recorded_at"],
        error=row["error"], key_id=row["key_id"],
    )


class LedgerStore:
    """Appends entries to the chain and reads them back."""

    def __init__(self, engine: AsyncEngine, key: LedgerKey | None = None) -> None:
        self.engine = engine
        #: The key new rows are MACed with (None: legacy sha256, for reading tools and old tests).
        self.key = key

    @classmethod
    def from_url(cls, url: str, key: LedgerKey | None = None) -> LedgerStore:
        """A store on the database at `url` (sqlite+aiosqlite:// or postgresql+asyncpg://)."""
        return cls(make_engine(url), key)

    async def create_schema(self) -> None:
        """Create the tables and the chain head if missing (idempotent)."""
        # Alembic migrations (lanthanide.migrations: advisory lock on PostgreSQL, a database made
        # by create_all before migrations is adopted as the baseline).
        # The genesis head is seeded under the migration lock: instances starting at once seed once.
        async def genesis(conn: AsyncConnection) -> None:
            if (await conn.execute(select(chain_head.c.id))).first() is None:
                await conn.execute(chain_head.insert().values(id=1, seq=0, hash=GENESIS))

        await migrate_to_head(
            self.engine, MIGRATIONS, lock_id=7423004, baseline_tables=BASELINE_TABLES, then=genesis
        )

    async def close(self) -> None:
        await self.engine.dispose()

    async def append(self, entries: Sequence[NewEntry]) -> int:
        """Append the entries not yet in the ledger (by event_id), in order; returns how many."""
        return (await self.append_checked(entries))[0]

    async def append_checked(self, entries: Sequence[NewEntry]) -> tuple[int, list[Conflict]]:
        """`append`, and the conflicts found: entries whose event id is known (in the ledger or
        earlier in the batch) with a different payload. Those are stored in `conflicts` in the
        same transaction (once per event id and payload) and returned, for the caller to alarm.

        One transaction per batch: either the whole batch extends the chain or none of it does.
        """
        unique: dict[str, NewEntry] = {}
        for e in entries:
            unique.setdefault(e.event_id, e)
        if not unique:
            return 0, []
        if self.engine.dialect.name == "sqlite":
            return await self._append_sqlite(unique, entries)
        async with self.engine.begin() as conn:
            head_query = select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1)
            if self.engine.dialect.name == "postgresql":
                head_query = head_query.with_for_update()
            head = (await conn.execute(head_query)).one()
            # Checked under the head lock, so a concurrent appender cannot slip the same id in.
            known = set((await conn.execute(
                select(ledger.c.event_id).where(ledger.c.event_id.in_(list(unique)))
            )).scalars())
            stored: dict[str, bytes] = {}
            if known:  # duplicates are rare (redelivery): only then read the stored bytes
                rows_known = await conn.execute(
                    select(ledger.c.event_id, ledger.c.canonical).where(ledger.c.event_id.in_(list(known)))
                )
                stored = {r.event_id: bytes(r.canonical) for r in rows_known}
            stored_decisions = await self._known_decisions(conn, entries)
            found = find_conflicts(entries, stored, stored_decisions)
            if found:
                await self._save_conflicts(conn, found)
            fresh = [e for e in unique.values() if e.event_id not in known]
            await self._record_decisions(conn, fresh, stored_decisions)
            if not fresh:
                return 0, found
            rows = chain(fresh, head.seq, head.hash, self.key)
            await conn.execute(ledger.insert(), [_row(r) for r in rows])
            await conn.execute(
                chain_head.update().where(chain_head.c.id == 1).values(seq=rows[-1].seq, hash=rows[-1].hash)
            )
        return len(rows), found

    @staticmethod
    async def _known_decisions(conn: Any, entries: Sequence[NewEntry]) -> dict[str, str]:
        """Fingerprints of the decision ids of the batch's decisions already in the ledger."""
        ids = {d for d in (decision_id_of(e) for e in entries) if d}
        if not ids:
            return {}
        rows = await conn.execute(
            select(decision_ids.c.decision_id, decision_ids.c.fingerprint).where(decision_ids.c.decision_id.in_(ids))
        )
        return {r.decision_id: r.fingerprint for r in rows}

    @staticmethod
    async def _record_decisions(conn: Any, fresh: Sequence[NewEntry], known: dict[str, str]) -> None:
        """Remember the decision ids of newly appended decisions (the first payload wins here;
        a different one later is a conflict)."""
        rows: dict[str, dict[str, str]] = {}
        for e in fresh:
            d = decision_id_of(e)
            if d and d not in known and d not in rows:
                rows[d] = {"decision_id": d, "event_id": e.event_id, "fingerprint": content_fingerprint(e.canonical)}
        if rows:
            await conn.execute(decision_ids.insert(), list(rows.values()))

    @staticmethod
    async def _save_conflicts(conn: Any, found: Sequence[Conflict]) -> None:
        """Insert the conflicts not stored yet (a redelivered batch finds them again)."""
        have = {
            (r.id_kind, r.conflict_id, r.fingerprint) for r in await conn.execute(
                select(conflicts.c.id_kind, conflicts.c.conflict_id, conflicts.c.fingerprint)
                .where(conflicts.c.conflict_id.in_([c.conflict_id for c in found]))
            )
        }
        now = datetime.now(UTC).isoformat()
        new = [c for c in found if (c.id_kind, c.conflict_id, c.fingerprint) not in have]
        if new:
            await conn.execute(conflicts.insert(), [{
                "id_kind": c.id_kind, "conflict_id": c.conflict_id, "event_id": c.event_id,
                "fingerprint": c.fingerprint, "first_fingerprint": c.first_fingerprint,
                "event_type": c.entry.event_type, "case_id": c.entry.case_id, "topic": c.entry.topic,
                "partition": c.entry.partition, "offset": c.entry.offset, "canonical": c.entry.canonical,
                "recorded_at": now,
            } for c in new])

    async def conflict_ids(self) -> list[str]:
        """Ids (event ids, and decision ids as "decision:<id>") seen with more than one payload,
        in the order they were found."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(conflicts.c.id_kind, conflicts.c.conflict_id).order_by(conflicts.c.id))
            return list(dict.fromkeys(
                r.conflict_id if r.id_kind == "event_id" else f"decision:{r.conflict_id}" for r in rows
            ))

    async def _append_sqlite(
        self, unique: dict[str, NewEntry], entries: Sequence[NewEntry]
    ) -> tuple[int, list[Conflict]]:
        """`append` on SQLite in 3 driver calls plus the commit (it was 4 statements of up to 4
        aiosqlite thread round trips each, most of audit's CPU with small batches): the head and
        the known ids in one SELECT, one executemany, the head update. Same rows, same values.

        As before, pysqlite opens the write transaction at the INSERT: if another process
        appended after the SELECT, the INSERT of an already-taken seq (primary key) fails and
        the batch is redelivered, so the chain cannot fork.
        """
        ids = list(unique)
        async with self.engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            found = await raw.execute_fetchall(_sqlite_head_and_known(len(ids)), ids)
            head = next(r for r in found if r[2] is None)
            known = {r[2] for r in found if r[2] is not None}
            stored: dict[str, bytes] = {}
            if known:  # duplicates are rare (redelivery): only then read the stored bytes
                rows_known = await raw.execute_fetchall(
                    f"SELECT event_id, canonical FROM ledger WHERE event_id IN ({', '.join('?' * len(known))})",
                    list(known),
                )
                stored = {r[0]: bytes(r[1]) for r in rows_known}
            stored_decisions = await self._known_decisions(conn, entries)
            clashes = find_conflicts(entries, stored, stored_decisions)
            if clashes:
                await self._save_conflicts(conn, clashes)
            fresh = [e for e in unique.values() if e.event_id not in known]
            await self._record_decisions(conn, fresh, stored_decisions)
            if not fresh:
                return 0, clashes
            rows = chain(fresh, head[0], head[1], self.key)
            await raw.executemany(_SQLITE_INSERT, [tuple(_row(r)[c] for c in _LEDGER_COLUMNS) for r in rows])
            await raw.execute(_SQLITE_HEAD_UPDATE, (rows[-1].seq, rows[-1].hash))
        return len(rows), clashes

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the last appended entry; (0, GENESIS) for an empty ledger."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(chain_head.c.seq, chain_head.c.hash))).first()
        return (row.seq, row.hash) if row else (0, GENESIS)

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(ledger))).scalar_one())

    async def walk(self, chunk: int = 1000) -> AsyncIterator[LedgerEntry]:
        """Every entry in seq order, read in chunks (the ledger can be large)."""
        last = 0
        while True:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(
                    select(ledger).where(ledger.c.seq > last).order_by(ledger.c.seq).limit(chunk)
                )).mappings().all()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            last = rows[-1]["seq"]

    async def case_entries(self, case_id: str) -> list[LedgerEntry]:
        """A case's entries plus the entries that caused them (the submitted application has no
        case id yet: intake assigns it)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(ledger).where(ledger.c.case_id == case_id).order_by(ledger.c.seq)
            )).mappings().all()
            entries = [_entry(r) for r in rows]
            ids = {e.event_id for e in entries}
            causes = {e.causation_id for e in entries if e.causation_id and e.causation_id not in ids}
            if causes:
                extra = (await conn.execute(
                    select(ledger).where(or_(ledger.c.event_id.in_(list(causes))))
                )).mappings().all()
                entries.extend(_entry(r) for r in extra)
        return entries

    async def head_entry(self) -> tuple[int, str, str | None]:
        """(seq, MAC, key id) of the last row (0, GENESIS, None for an empty ledger)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(ledger.c.seq, ledger.c.hash, ledger.c.key_id).order_by(ledger.c.seq.desc()).limit(1)
            )).first()
        return (row.seq, row.hash, row.key_id) if row else (0, GENESIS, None)

    async def save_checkpoint(self, cp: Checkpoint) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(checkpoint_table.insert().values(**cp.as_dict()))

    async def checkpoints(self) -> list[Checkpoint]:
        """The stored checkpoints, oldest first."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(checkpoint_table).order_by(checkpoint_table.c.id))).mappings().all()
        return [Checkpoint.from_dict(r) for r in rows]
