"""The store and the use cases without Kafka, on SQLite and PostgreSQL: migrations, the
transactional outbox, dedup by event id, licence numbering, SLA warnings and the reports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from lanthanide.contracts import Route
from lanthanide.events import EventFactory, Outgoing
from lanthanide.serde import decode
from lanthanide_review.adapters import orm
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.adapters.store import Store
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import ConflictRegister
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.service_layer.handlers import ReviewService, TopicNames
from lanthanide_review.views import policy_replay, queue, sla_report
from sqlalchemy import func, select

SCREENING = "lanthanide.screening.completed"


class RecordingPublisher:
    """Stands in for Kafka here: these tests are about the store (Kafka is covered elsewhere)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def publish(self, outgoing: Sequence[Outgoing]) -> None:
        self.sent.extend(outgoing)

    async def publish_encoded(self, records: Sequence[tuple[str, bytes]]) -> None:
        # The outbox relay sends stored bytes as they are; decoded here, so they must decode.
        self.sent.extend(Outgoing(topic, decode(body)) for topic, body in records)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = Store(db_url)
    await s.migrate()
    try:
        yield s
    finally:
        await s.dispose()


def _service(store: Store, now: datetime | None = None) -> ReviewService:
    return ReviewService(
        store=store,
        policy=load_policy(),
        calendar=PrcCalendar(),
        conflicts=ConflictRegister(),
        factory=EventFactory("review"),
        topics=TopicNames.with_prefix(""),
        clock=(lambda: now) if now else None,
    )


async def _count(store: Store, table: Any, *where: Any) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def test_migrations_match_the_table_definitions(store: Store) -> None:
    await store.migrate()  # idempotent

    def diff(sync_conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(sync_conn), orm.metadata)

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_an_input_is_applied_once_with_its_outputs_in_the_same_transaction(store: Store, screening: Any) -> None:
    service = _service(store)
    env = screening(Route.GREEN_CHANNEL)
    await service.handle(env, SCREENING)
    await service.handle(env, SCREENING)  # redelivered after a crash before the offset commit
    assert await _count(store, orm.processed_events) == 1
    assert await _count(store, orm.outbox, orm.outbox.c.event_type == "decision.made") == 1
    outbox_rows = await _count(store, orm.outbox)
    assert outbox_rows == await _count(store, orm.case_history) == 4

    publisher = RecordingPublisher()
    relay = OutboxRelay(store, publisher)  # type: ignore[arg-type]
    assert await relay.flush() == outbox_rows
    assert await relay.flush() == 0
    assert [o.envelope.event_type for o in publisher.sent].count("decision.made") == 1
    assert all(o.envelope.case_id == env.case_id for o in publisher.sent)


async def test_licence_numbers_are_sequential_per_year_and_kept_per_case(store: Store, screening: Any) -> None:
    service = _service(store)
    first, second = screening(Route.GREEN_CHANNEL), screening(Route.GREEN_CHANNEL)
    await service.handle(first, SCREENING)
    await service.handle(second, SCREENING)
    year = service.today().year
    a, _, _ = await service.get_case(first.case_id)
    b, _, _ = await service.get_case(second.case_id)
    assert (a.licence_number, b.licence_number) == (f"LNT-{year}-000001", f"LNT-{year}-000002")
    # A resubmission after the decision keeps the number and adds no licence.
    await service.handle(screening(Route.GREEN_CHANNEL, ref=first.payload.external_reference), SCREENING)
    assert await _count(store, orm.licences) == 2


async def test_sla_warnings_are_emitted_once_per_threshold(store: Store, screening: Any) -> None:
    env = screening(Route.STANDARD)
    await _service(store).handle(env, SCREENING)
    # The first day with 1 to 5 working days left: the 10- and 5-day thresholds have both been
    # crossed, the deadline has not (found on the calendar, so holidays in the span don't matter).
    start = datetime.now(UTC)
    for days in range(40, 120):
        later = _service(store, start + timedelta(days=days))
        left = (await queue(later))[0]["working_days_left"]
        if left is not None and 0 < left <= 5:
            break
    assert left is not None and 0 < left <= 5
    assert await later.sla_sweep() == 2
    assert await later.sla_sweep() == 0
    case, history, _ = await later.get_case(env.case_id)
    assert sorted(case.sla.warnings_sent) == [5, 10]
    assert [h["kind"] for h in history].count("sla_warning") == 2


async def test_reports_read_without_writing(store: Store, screening: Any) -> None:
    service = _service(store)
    for route in (Route.STANDARD, Route.DENY, Route.ENHANCED, Route.NO_LICENCE_REQUIRED):
        await service.handle(screening(route), SCREENING)
    before = await _count(store, orm.outbox)

    confirmed = load_policy().model_copy(update={"hard_denials": "reviewer_confirmed"})
    changes = await policy_replay(service, confirmed)
    assert [(c["route"], c["changes"]) for c in changes] == [("deny", {"action": {"from": "deny", "to": "queue"}})]
    report = {r["queue"]: r for r in await sla_report(service)}
    assert report["standard"]["open"] == 1 and report["enhanced"]["open"] == 1
    assert report["(auto)"]["decided"] == 2
    assert report["(auto)"]["median_working_days_to_decision"] == 0.0
    assert await _count(store, orm.outbox) == before


class _RawRecordingPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.raw: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish_raw(self, topic: str, body: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        self.raw.append((topic, body, headers))


async def test_an_outbox_row_over_the_message_limit_is_dead_lettered_and_the_rows_after_it_go_out(
    store: Store, screening: Any
) -> None:
    """Issue 12 part 5 (no poison pills): an envelope the broker would refuse must not hold the
    outbox back forever; it goes to <topic>.dlq (ERROR log, metric) and the next rows are sent."""
    import orjson
    from lanthanide.topics import dlq

    service = _service(store)
    first, second = screening(Route.GREEN_CHANNEL), screening(Route.GREEN_CHANNEL)
    await service.handle(first, SCREENING)
    await service.handle(second, SCREENING)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(orm.outbox.c.id, orm.outbox.c.topic, orm.outbox.c.body)
                                   .order_by(orm.outbox.c.id))).all()
    limit = 400_000  # every real row fits; the grown one is over it (and over the DLQ's excerpt)
    assert max(len(r.body.encode()) for r in rows) < limit
    big = rows[1]
    async with store.engine.begin() as conn:  # one row grown over the limit
        await conn.execute(orm.outbox.update().where(orm.outbox.c.id == big.id)
                           .values(body=big.body[:-1] + ', "padding": "' + "x" * limit + '"}'))

    publisher = _RawRecordingPublisher()
    relay = OutboxRelay(store, publisher, max_message_bytes=limit)  # type: ignore[arg-type]
    assert await relay.flush() == len(rows)
    assert await relay.flush() == 0  # marked sent: it never blocks a later flush
    assert len(publisher.sent) == len(rows) - 1 and relay.dead_lettered == 1
    [(topic, body, headers)] = publisher.raw
    assert topic == dlq(big.topic)
    dead = orjson.loads(body)
    assert dead["outbox_id"] == big.id and dead["original_bytes"] > limit and dead["original_truncated"]
    assert len(body) < limit and headers["dlq_reason"] == "output_too_large"
    assert await _count(store, orm.outbox, orm.outbox.c.sent_at.is_(None)) == 0
