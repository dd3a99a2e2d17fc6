"""Store writes deferred to one transaction per Kafka batch, general licences served from memory,
and the party-search memo: same outcomes as writing and reading per event, nothing lost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from lanthanide.contracts import (
    ApplicationAccepted,
    DecisionMade,
    DecisionOutcome,
    Envelope,
    ReferenceUpdated,
    Route,
)
from lanthanide.events import EventFactory
from lanthanide.testing.factories import civilian_application, decision_made, general_licence
from lanthanide_screening.adapters.store import ScreeningStore, cases
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.matching.index import build_index
from lanthanide_screening.matching.model import ListEntry, ListName, RestrictedList
from lanthanide_screening.service_layer import handlers as handlers_module
from lanthanide_screening.service_layer.handlers import Screening
from lanthanide_screening.settings import ScreeningSettings
from sqlalchemy import select

TODAY = date.today()
Make = Callable[..., ApplicationAccepted]
FACTORY = EventFactory("test")


def _sqlite(tmp_path: Path, name: str = "screening.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ScreeningStore]:
    s = ScreeningStore(_sqlite(tmp_path))
    await s.start()
    yield s
    await s.close()


def _accepted_env(accepted: ApplicationAccepted, case_id: UUID) -> Envelope[Any]:
    return FACTORY.new("application.accepted", accepted, case_id=case_id)


def _decision_env(decision: DecisionMade, case_id: UUID) -> Envelope[Any]:
    return FACTORY.new("decision.made", decision, case_id=case_id)


async def _rows(store: ScreeningStore) -> dict[str, tuple[Any, ...]]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(cases))).all()
    return {r.case_id: (r.correlation_id, r.accepted_json, r.status, r.licence_valid_until) for r in rows}


async def test_one_batch_of_writes_ends_as_the_same_rows_as_writing_each_event(
    tmp_path: Path, make_accepted: Make
) -> None:
    ids = [str(uuid4()) for _ in range(5)]
    known, fresh, decided_twice, unknown, amended = ids
    app = make_accepted(civilian_application("REF-1"))
    amendment = make_accepted(civilian_application("REF-2")).model_copy(update={"is_amendment": True})
    licence = general_licence(valid_until=TODAY + timedelta(days=5))
    setup: list[tuple[str, Any]] = [("case", (known, "c0", app)), ("case", (amended, "c0", app))]
    setup.append(("decision", (amended, decision_made(DecisionOutcome.DENIED))))
    events: list[tuple[str, Any]] = [
        ("case", (fresh, "c1", app)),
        ("case", (fresh, "c1-replayed", app)),  # a replay does not overwrite
        ("decision", (fresh, decision_made(DecisionOutcome.APPROVED, licence))),
        ("case", (decided_twice, "c2", app)),
        ("decision", (decided_twice, decision_made(DecisionOutcome.APPROVED, licence))),
        ("decision", (decided_twice, decision_made(DecisionOutcome.DENIED))),
        ("decision", (unknown, decision_made(DecisionOutcome.DENIED))),  # no case: nothing to update
        ("decision", (known, decision_made(DecisionOutcome.DENIED))),
        ("case", (known, "c3", app)),  # replayed: stays closed
        ("case", (amended, "c4", amendment)),  # an amendment reopens a decided case
        ("decision", (amended, decision_made(DecisionOutcome.APPROVED, licence))),
        ("case", (amended, "c5", amendment)),
    ]
    one_by_one = ScreeningStore(_sqlite(tmp_path, "a.db"))
    batched = ScreeningStore(_sqlite(tmp_path, "b.db"))
    for s in (one_by_one, batched):
        await s.start()
        for kind, args in setup:
            await (s.remember_case(*args) if kind == "case" else s.record_decision(*args))
    for kind, args in events:
        await (one_by_one.remember_case(*args) if kind == "case" else one_by_one.record_decision(*args))
        batched.defer_case(*args) if kind == "case" else batched.defer_decision(*args)
    assert batched.pending_writes and set(await _rows(batched)) == {known, amended}
    await batched.flush()
    assert batched.pending_writes == 0
    assert await _rows(batched) == await _rows(one_by_one)
    licences = set(await batched.general_licences(TODAY))
    assert licences == set(await one_by_one.general_licences(TODAY)) == {licence.number}
    assert [c.case_id for c in await batched.cases_to_rescreen(TODAY)] == [
        c.case_id for c in await one_by_one.cases_to_rescreen(TODAY)
    ]
    for s in (one_by_one, batched):
        await s.close()


async def test_a_failed_flush_keeps_the_writes_for_the_next_one(
    store: ScreeningStore, make_accepted: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = str(uuid4())
    store.defer_case(case_id, "c", make_accepted(civilian_application("REF-1")))
    real = store._apply

    async def broken(*_a: Any) -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(store, "_apply", broken)
    with pytest.raises(ConnectionError):
        await store.flush()
    assert store.pending_writes == 1
    monkeypatch.setattr(store, "_apply", real)
    await store.flush()
    assert set(await _rows(store)) == {case_id}


async def test_a_new_general_licence_is_used_without_a_restart_even_within_the_batch(
    store: ScreeningStore, engine: ScreeningEngine, make_accepted: Make, tmp_path: Path
) -> None:
    screening = Screening(ScreeningSettings(), engine, store)
    app = make_accepted(civilian_application("REF-GL", general_licence_number="GL-2026-001"))
    async with screening.batch():
        [before] = await screening.handle(_accepted_env(app, uuid4()))
        assert (
            await screening.handle(_decision_env(decision_made(DecisionOutcome.APPROVED, general_licence()), uuid4()))
            == []
        )
        [after] = await screening.handle(_accepted_env(app, uuid4()))
    assert before.envelope.payload.route is Route.STANDARD
    assert after.envelope.payload.route is Route.GREEN_CHANNEL
    # Written: a restarted instance (a fresh store on the same database) knows it too.
    again = ScreeningStore(_sqlite(tmp_path))
    await again.start()
    assert set(await again.general_licences(TODAY)) == {"GL-2026-001"}
    await again.close()


async def test_a_general_licence_recorded_by_another_instance_is_seen_at_the_next_batch(
    store: ScreeningStore, engine: ScreeningEngine, make_accepted: Make, tmp_path: Path
) -> None:
    screening = Screening(ScreeningSettings(), engine, store)
    other = ScreeningStore(_sqlite(tmp_path))  # another instance on the same database
    await other.start()
    await other.record_decision(str(uuid4()), decision_made(DecisionOutcome.APPROVED, general_licence()))
    await other.close()
    app = make_accepted(civilian_application("REF-GL", general_licence_number="GL-2026-001"))
    async with screening.batch():
        [out] = await screening.handle(_accepted_env(app, uuid4()))
    assert out.envelope.payload.route is Route.GREEN_CHANNEL


async def test_handle_outside_a_batch_writes_before_returning(
    store: ScreeningStore, engine: ScreeningEngine, make_accepted: Make
) -> None:
    screening = Screening(ScreeningSettings(), engine, store)
    case_id = uuid4()
    await screening.handle(_accepted_env(make_accepted(civilian_application("REF-1")), case_id))
    assert set(await _rows(store)) == {str(case_id)}
    await screening.handle(_decision_env(decision_made(DecisionOutcome.DENIED), case_id))
    assert (await _rows(store))[str(case_id)][2] == "closed"


def _engine_with(engine: ScreeningEngine, names: list[str]) -> ScreeningEngine:
    watch = RestrictedList(
        list_id="test_watch",
        kind="watch",
        source="test",
        entries=[ListEntry(entry_id=f"W{i}", names=(ListName(n),)) for i, n in enumerate(names)],
    ).seal()
    return ScreeningEngine(measures=engine.measures, policy=engine.policy, index=build_index([watch]))


def test_the_search_memo_returns_what_a_fresh_search_returns() -> None:
    watch = RestrictedList(
        list_id="w",
        kind="watch",
        source="t",
        entries=[ListEntry(entry_id="1", names=(ListName("Zhong Rui Precision Motors"),))],
    ).seal()
    index = build_index([watch])
    first = index.search("Zhongrui Precision Motors Co Ltd", threshold=0.5)
    assert first and index.search("Zhongrui Precision Motors Co Ltd", threshold=0.5) == first
    assert index._search("Zhongrui Precision Motors Co Ltd", None, 0.5, 5) == first
    index.search_cache_size = 2
    for q in ("a b", "c d", "e f"):
        index.search(q)
    assert len(index._searches) == 2  # bounded, least recently used dropped


async def test_a_reference_update_drops_remembered_searches_and_rescreens_deferred_cases(
    store: ScreeningStore, engine: ScreeningEngine, make_accepted: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = "Ganzhou Rare Earth Magnetics Co., Ltd."
    screening = Screening(ScreeningSettings(), _engine_with(engine, ["Unrelated Holdings"]), store)
    app = make_accepted(civilian_application("REF-1"))
    case_id = uuid4()
    update = FACTORY.new("reference.updated", ReferenceUpdated(kind="list", list_id="test_watch", version="2"))
    monkeypatch.setattr(handlers_module, "build_engine", lambda _settings: _engine_with(engine, [exporter]))
    async with screening.batch():
        [first] = await screening.handle(_accepted_env(app, case_id))
        assert first.envelope.payload.route is not Route.ENHANCED
        # The reference group runs concurrently with the open batch: the case screened with the
        # old lists is written first, then re-screened with the new ones.
        rescreened = await screening.handle_reference(update)
        [second] = await screening.handle(_accepted_env(app, uuid4()))
    assert [o.envelope.case_id for o in rescreened] == [case_id]
    assert rescreened[0].envelope.payload.route is Route.ENHANCED
    assert second.envelope.payload.route is Route.ENHANCED
