"""A Kafka batch applied in one transaction (ReviewService.handle_batch through the consumer's
process_batch), on SQLite and PostgreSQL: order within the batch, one bad event dead-lettered
alone, redelivery, and the fall-back to one transaction per event on a concurrent writer."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from lanthanide.contracts import Envelope, Route
from lanthanide.kafka import key_of
from lanthanide.serde import encode
from lanthanide_review.adapters import orm
from lanthanide_review.adapters import store as store_module
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.adapters.repositories import CaseRepository
from lanthanide_review.adapters.store import ConcurrencyConflict, Store
from lanthanide_review.bootstrap import build_service
from lanthanide_review.domain.model import Case
from lanthanide_review.entrypoints.consumer import process_batch
from lanthanide_review.service_layer import handlers
from lanthanide_review.service_layer.handlers import ReviewService
from lanthanide_review.settings import ReviewSettings
from sqlalchemy import func, select

SCREENING = "lanthanide.screening.completed"



def _service(store: Store) -> ReviewService:
    return build_service(ReviewSettings(), store)  # the wiring the service and the CLI use


@dataclass
class FakeRecord:
    """The attributes of an aiokafka ConsumerRecord the consumer reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int = 0


class CollectingPublisher:
    """Kafka stand-in: keeps what the relay publishes and what is dead-lettered."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.dead: list[tuple[str, dict[str, Any]]] = []

    async def publish_encoded(self, records: Sequence[tuple[str, bytes]]) -> None:
        self.sent.extend((topic, orjson.loads(body)) for topic, body in records)

    async def publish_raw(self, topic: str, body: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        self.dead.append((topic, orjson.loads(body)))

    def decisions(self) -> list[dict[str, Any]]:
        return [body for _, body in self.sent if body["event_type"] == "decision.made"]


@dataclass
class Harness:
    store: Store
    service: ReviewService
    publisher: CollectingPublisher
    relay: OutboxRelay

    async def run(self, envelopes: Sequence[Envelope[Any]], raw: dict[int, bytes] | None = None) -> None:
        records = [
            FakeRecord(SCREENING, 0, i, key_of(env), (raw or {}).get(i) or encode(env))
            for i, env in enumerate(envelopes)
        ]
        await process_batch(records, self.service, self.relay, self.publisher)  # type: ignore[arg-type]

    async def count(self, table: Any, *where: Any) -> int:
        async with self.store.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    store = Store(db_url)
    await store.migrate()
    service = _service(store)
    publisher = CollectingPublisher()
    try:
        yield Harness(store, service, publisher, OutboxRelay(store, publisher))  # type: ignore[arg-type]
    finally:
        await store.dispose()


def _kinds(history: list[dict[str, Any]]) -> list[str]:
    return [h["kind"] for h in history]


async def test_events_for_one_case_in_one_batch_apply_in_order_as_one_by_one(
    harness: Harness, screening: Any, db_url: str
) -> None:
    incomplete = screening(Route.INCOMPLETE, complete=False, missing=["end_user_certificate"])
    ref = incomplete.payload.external_reference
    amended = screening(Route.NO_LICENCE_REQUIRED, ref=ref)
    again = screening(Route.DENY, ref=ref, rule_ids=["SCR-ENDUSE-MILITARY"], reasons=["military end use"])
    other = screening(Route.GREEN_CHANNEL)
    batch = [incomplete, other, amended, again]
    assert incomplete.case_id == amended.case_id == again.case_id
    await harness.run(batch)

    case, history, _ = await harness.service.get_case(incomplete.case_id)
    assert case.outcome is not None and case.outcome.value == "no_licence_required"
    # (the decision.made row of the history has the outcome as its kind)
    assert _kinds(history) == [
        "received", "info_requested", "amended", "state_changed", "no_licence_required", "amended"
    ]
    assert case.version == 3  # one save per event, as if each had its own transaction
    assert [d["case_id"] for d in harness.publisher.decisions()].count(str(incomplete.case_id)) == 1
    green, _, licence = await harness.service.get_case(other.case_id)
    assert licence is not None and green.licence_number == licence.licence.number

    # The same events one transaction each (the path a conflict falls back to) give the same.
    single = Store(db_url.replace("review.db", "single.db")) if db_url.startswith("sqlite") else None
    if single is not None:
        await single.migrate()
        try:
            one_by_one = _service(single)
            for env in batch:
                await one_by_one.handle(env, SCREENING)
            case1, history1, _ = await one_by_one.get_case(incomplete.case_id)
            assert (case1.state, case1.version, _kinds(history1)) == (case.state, case.version, _kinds(history))
            assert [h["event_id"] for h in history1] == [h["event_id"] for h in history]
        finally:
            await single.dispose()


async def test_one_bad_event_is_dead_lettered_alone(harness: Harness, screening: Any) -> None:
    good = [screening(Route.NO_LICENCE_REQUIRED) for _ in range(3)]
    bad = screening(Route.DENY).model_copy(update={"case_id": None})  # the handler raises ValueError
    await harness.run([good[0], bad, good[1], good[2]])
    assert [body["original_sha256"] for _, body in harness.publisher.dead] == [
        hashlib.sha256(encode(bad)).hexdigest()
    ]
    assert "case_id" in harness.publisher.dead[0][1]["error"]
    assert sorted(d["case_id"] for d in harness.publisher.decisions()) == sorted(str(g.case_id) for g in good)
    assert await harness.count(orm.processed_events) == 3  # the bad one is not marked


async def test_a_bad_event_leaves_no_half_change_on_its_case(
    harness: Harness, screening: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = screening(Route.STANDARD)
    poison = screening(Route.NO_LICENCE_REQUIRED, ref=first.payload.external_reference)
    after = screening(Route.NO_LICENCE_REQUIRED)
    original = Case.on_screening

    def on_screening(self: Case, result: Any, ctx: Any, licence: Any = None) -> None:
        original(self, result, ctx, licence)  # changes the case in memory, then fails
        if result.route is Route.NO_LICENCE_REQUIRED and self.case_id == first.case_id:
            raise ValueError("boom")

    monkeypatch.setattr(Case, "on_screening", on_screening)
    await harness.run([first, poison, after])
    assert len(harness.publisher.dead) == 1
    case, history, _ = await harness.service.get_case(first.case_id)
    assert case.state.value == "queued" and case.version == 1
    assert _kinds(history) == ["received", "queued"]
    assert [d["case_id"] for d in harness.publisher.decisions()] == [str(after.case_id)]


async def test_many_bad_events_fall_back_to_one_transaction_each(harness: Harness, screening: Any) -> None:
    bad = [screening(Route.DENY).model_copy(update={"case_id": None}) for _ in range(handlers.MAX_BATCH_EXCLUSIONS + 2)]
    good = [screening(Route.NO_LICENCE_REQUIRED) for _ in range(3)]
    batch = [good[0], *bad[:3], good[1], *bad[3:], good[2]]
    await harness.run(batch)
    assert len(harness.publisher.dead) == len(bad)
    assert sorted(d["case_id"] for d in harness.publisher.decisions()) == sorted(str(g.case_id) for g in good)


async def test_undecodable_records_are_dead_lettered_and_the_rest_decided(harness: Harness, screening: Any) -> None:
    envs = [screening(Route.NO_LICENCE_REQUIRED) for _ in range(3)]
    await harness.run(envs, raw={1: b"{not json"})
    assert len(harness.publisher.dead) == 1
    assert [d["case_id"] for d in harness.publisher.decisions()] == [str(envs[0].case_id), str(envs[2].case_id)]


async def test_a_redelivered_batch_changes_nothing(harness: Harness, screening: Any) -> None:
    nlr = screening(Route.NO_LICENCE_REQUIRED)
    batch = [nlr, screening(Route.DENY, rule_ids=["SCR-ENDUSE-MILITARY"]), screening(Route.GREEN_CHANNEL), nlr]
    await harness.run(batch)  # nlr twice in one batch: applied once
    counts = [await harness.count(t) for t in (orm.outbox, orm.case_history, orm.processed_events, orm.licences)]
    sent = len(harness.publisher.sent)
    assert len(harness.publisher.decisions()) == 3 and counts[2] == 3
    await harness.run(batch)  # the offsets were not committed: Kafka delivers it again
    assert [await harness.count(t) for t in (orm.outbox, orm.case_history, orm.processed_events, orm.licences)] == (
        counts
    )
    assert len(harness.publisher.sent) == sent
    assert harness.publisher.dead == []


async def test_a_concurrent_writer_makes_the_batch_fall_back_to_one_by_one(
    harness: Harness, screening: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another instance created one of the cases after this one read them (a rebalance): the
    # batch insert hits the primary key, the batch is rolled back and applied one by one.
    elsewhere = screening(Route.STANDARD)
    ref = elsewhere.payload.external_reference
    await _service(harness.store).handle(elsewhere, SCREENING)
    real_get_many = CaseRepository.get_many

    async def stale_get_many(self: CaseRepository, case_ids: Sequence[Any]) -> dict[Any, Case]:
        found = await real_get_many(self, case_ids)
        self.versions.pop(str(elsewhere.case_id), None)  # as if it had not been there yet
        return {k: v for k, v in found.items() if k != elsewhere.case_id}

    monkeypatch.setattr(CaseRepository, "get_many", stale_get_many)
    resubmitted = screening(Route.NO_LICENCE_REQUIRED, ref=ref)
    fresh = screening(Route.NO_LICENCE_REQUIRED)
    await harness.run([fresh, resubmitted])
    case, history, _ = await harness.service.get_case(elsewhere.case_id)
    assert _kinds(history) == ["received", "queued", "amended"]  # in review already: recorded only
    assert case.version == 2
    assert [d["case_id"] for d in harness.publisher.decisions()] == [str(fresh.case_id)]
    assert harness.publisher.dead == []

    # A version conflict on the batch update falls back the same way.
    monkeypatch.setattr(CaseRepository, "get_many", real_get_many)
    calls = 0
    real_write = CaseRepository.write

    async def conflicting_write(self: CaseRepository, changed: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConcurrencyConflict("someone else moved a case")
        await real_write(self, changed)

    monkeypatch.setattr(CaseRepository, "write", conflicting_write)
    later = screening(Route.DENY, rule_ids=["SCR-ENDUSE-MILITARY"])
    await harness.run([later, screening(Route.NO_LICENCE_REQUIRED, ref=ref)])
    assert str(later.case_id) in [d["case_id"] for d in harness.publisher.decisions()]
    _, history, _ = await harness.service.get_case(elsewhere.case_id)
    assert _kinds(history) == ["received", "queued", "amended", "amended"]


async def test_the_unit_of_work_has_an_identity_map_and_writes_only_at_commit(
    harness: Harness, screening: Any
) -> None:
    env = screening(Route.STANDARD)
    await harness.service.handle(env, SCREENING)
    assert env.case_id is not None
    with pytest.raises(store_module.UncommittedWrites):
        async with harness.store.unit_of_work() as uow:
            case = await uow.cases.get(env.case_id)
            assert case is not None and case.created_at is not None
            assert await uow.cases.get(env.case_id) is case  # read twice: the same object
            assert (await uow.cases.get_many([env.case_id]))[env.case_id] is case
            case.assignee = "someone"
            await uow.cases.add(case, case.created_at)
            assert case.version == 2  # as saved, seen by a later call in this unit of work
            again = screening(Route.STANDARD)
            await uow.inbox.add(again.event_id, SCREENING, case.created_at)
            assert await uow.inbox.processed(again.event_id)
            # Nothing was sent to the database yet: the writes wait for commit().
            stored = await uow.conn.scalar(select(orm.cases.c.version).where(orm.cases.c.case_id == str(env.case_id)))
            assert stored == 1
            assert await uow.conn.scalar(select(func.count()).select_from(orm.processed_events)) == 1
    stored_case, _, _ = await harness.service.get_case(env.case_id)
    assert (stored_case.version, stored_case.assignee) == (1, None)  # left without commit: rolled back
    assert await harness.count(orm.processed_events) == 1
