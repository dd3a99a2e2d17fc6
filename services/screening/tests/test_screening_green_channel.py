"""Screening's side of the green channel: full control codes (sub-items are distinct), the
remaining quantity reported by review (never the original cap), and PRC dates across midnight
in both zones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.contracts import (
    Application,
    ApplicationAccepted,
    DecisionOutcome,
    Envelope,
    GeneralLicenceUsage,
    LicenceItem,
    LicenceStatusChanged,
    LicenceType,
    ReferenceUpdated,
    Route,
    ScreeningCompleted,
)
from lanthanide.dates import prc_date, prc_today
from lanthanide.events import EventFactory
from lanthanide.testing.factories import civilian_application, decision_made, general_licence
from lanthanide_screening.adapters.store import ScreeningStore
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.service_layer.handlers import Screening
from lanthanide_screening.settings import ScreeningSettings

NUMBER = "GL-2026-001"


def _accepted(received_at: datetime, **app: Any) -> ApplicationAccepted:
    body = civilian_application(f"REF-{uuid4().hex[:8]}", general_licence_number=NUMBER, **app)
    return ApplicationAccepted(
        external_reference=body["external_reference"],
        application=Application.model_validate(body),
        received_at=received_at,
        complete=True,
    )


def _licence(code: str = "1C905.a", cap: str = "1000", **kw: Any) -> Any:
    items = [LicenceItem(description="Dy", control_codes=[code], quantity_cap=Decimal(cap), unit="kg")]
    return general_licence(NUMBER, items=items, **kw)


def _route(engine: ScreeningEngine, accepted: ApplicationAccepted, licence: Any) -> Route:
    return engine.screen(accepted, accepted.as_of_date, general_licences={NUMBER: licence}).route


def test_a_magnets_licence_covers_magnets_and_an_oxide_licence_does_not(engine: ScreeningEngine) -> None:
    accepted = _accepted(datetime.now(UTC))
    # The factory's item classifies as 1C905.a (Dy-bearing NdFeB magnets).
    assert _route(engine, accepted, _licence("1C905.a")) is Route.GREEN_CHANNEL
    result = engine.screen(accepted, accepted.as_of_date, general_licences={NUMBER: _licence("1C905.b")})
    assert result.route is Route.STANDARD
    flag = next(f for f in result.red_flags if f.code == "SCR-FLAG-GENERAL-LICENCE-INVALID")
    assert "not covered" in flag.evidence


#: Yesterday's UTC midnight (near today: the factory's documents are dated from today).
_BASE = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(0), UTC)


@pytest.mark.parametrize(
    "minutes",
    [
        15 * 60 + 59,  # UTC 15:59 = PRC 23:59: the same day in both zones
        16 * 60 + 1,  # UTC 16:01 = PRC 00:01 the next day: the zones disagree
        23 * 60 + 59,  # UTC 23:59 = PRC 07:59 the next day
        24 * 60 + 1,  # UTC 00:01 = PRC 08:01: the same day again
    ],
)
def test_a_licence_issued_today_is_valid_today_across_midnight_in_both_zones(
    engine: ScreeningEngine, minutes: int
) -> None:
    received_at = _BASE + timedelta(minutes=minutes)
    prc_day = prc_date(received_at)
    accepted = _accepted(received_at)
    assert accepted.as_of_date == prc_day
    # Issued on the PRC day of receipt (review issues on PRC dates): valid at once.
    issued_today = _licence(valid_from=prc_day, valid_until=prc_day + timedelta(days=300))
    assert _route(engine, accepted, issued_today) is Route.GREEN_CHANNEL
    # Starting the next PRC day: not yet valid.
    tomorrow = _licence(valid_from=prc_day + timedelta(days=1), valid_until=prc_day + timedelta(days=300))
    assert _route(engine, accepted, tomorrow) is Route.STANDARD
    # Ending the PRC day before: no longer valid.
    ended = _licence(valid_from=prc_day - timedelta(days=30), valid_until=prc_day - timedelta(days=1))
    assert _route(engine, accepted, ended) is Route.STANDARD


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ScreeningStore]:
    s = ScreeningStore(f"sqlite+aiosqlite:///{tmp_path / 'screening.db'}")
    await s.start()
    yield s
    await s.close()


def _usage(remaining: str, draws: int) -> Any:
    d = decision_made(DecisionOutcome.APPROVED, None)
    usage = GeneralLicenceUsage(number=NUMBER, remaining=[Decimal(remaining)], draws=draws)
    return d.model_copy(update={"general_licence_number": NUMBER, "general_licence_usage": usage})


async def test_screening_decides_on_the_remaining_quantity_reported_by_review(
    store: ScreeningStore, engine: ScreeningEngine, tmp_path: Path
) -> None:
    today = datetime.now(UTC)
    accepted = _accepted(today)
    on: date = accepted.as_of_date
    await store.record_decision(str(uuid4()), decision_made(DecisionOutcome.APPROVED, _licence()))
    assert _route(engine, accepted, store.valid_general_licences(on)[NUMBER]) is Route.GREEN_CHANNEL  # 500 of 1000
    await store.record_decision(str(uuid4()), _usage("400", 2))
    assert store.valid_general_licences(on)[NUMBER].items[0].quantity_cap == Decimal(400)
    assert _route(engine, accepted, store.valid_general_licences(on)[NUMBER]) is Route.STANDARD
    # A report that arrives late (an earlier draw, more remaining) never raises it again.
    await store.record_decision(str(uuid4()), _usage("700", 1))
    assert store.valid_general_licences(on)[NUMBER].items[0].quantity_cap == Decimal(400)
    # Written: a restarted instance knows what remains.
    again = ScreeningStore(f"sqlite+aiosqlite:///{tmp_path / 'screening.db'}")
    await again.start()
    try:
        assert (await again.general_licences(on))[NUMBER].items[0].quantity_cap == Decimal(400)
    finally:
        await again.close()


async def test_usage_reported_before_the_issuing_decision_is_kept(store: ScreeningStore) -> None:
    await store.record_decision(str(uuid4()), decision_made(DecisionOutcome.APPROVED, _licence()))
    await store.record_decision(str(uuid4()), _usage("300", 3))
    # The issuing decision redelivered (or from another partition, late): remaining stays 300.
    await store.record_decision(str(uuid4()), decision_made(DecisionOutcome.APPROVED, _licence()))
    on = prc_today()
    assert store.valid_general_licences(on)[NUMBER].items[0].quantity_cap == Decimal(300)


def _status(status: str) -> Envelope[Any]:
    change = LicenceStatusChanged(
        number=NUMBER, licence_type=LicenceType.GENERAL, status=status, reason="end-use check", changed_by="ada",
        changed_at=datetime.now(UTC),
    )
    return EventFactory("review-test").new("licence.status_changed", change, case_id=uuid4())


async def test_a_suspended_or_revoked_general_licence_routes_nothing_to_the_green_channel(
    store: ScreeningStore, engine: ScreeningEngine, tmp_path: Path
) -> None:
    """Through screening's consumer: review's licence.status_changed (decisions topic) takes a
    general licence out of the green channel at once, reinstating puts it back, and the status
    is stored (a restarted instance knows it)."""
    screening = Screening(ScreeningSettings(), engine, store)

    async def route() -> tuple[Route, list[str]]:
        accepted = _accepted(datetime.now(UTC))
        env = EventFactory("intake-test").new("application.accepted", accepted, case_id=uuid4())
        [out] = await screening.handle(env)
        result: ScreeningCompleted = out.envelope.payload
        return result.route, [f.evidence for f in result.red_flags if f.code == "SCR-FLAG-GENERAL-LICENCE-INVALID"]

    issued = EventFactory("review-test").new(
        "decision.made", decision_made(DecisionOutcome.APPROVED, _licence()), case_id=uuid4()
    )
    await screening.handle(issued)
    assert (await route())[0] is Route.GREEN_CHANNEL
    async with screening.batch():
        await screening.handle(_status("suspended"))
        # Known at once, within the batch that read it.
        suspended = await route()
    assert suspended[0] is Route.STANDARD and suspended[1] == [f"general licence {NUMBER}: is suspended"]
    await screening.handle(_status("active"))
    assert (await route())[0] is Route.GREEN_CHANNEL
    await screening.handle(_status("revoked"))
    assert (await route())[0] is Route.STANDARD
    again = ScreeningStore(f"sqlite+aiosqlite:///{tmp_path / 'screening.db'}")
    await again.start()
    try:
        assert again.inactive_general_licences() == {NUMBER: "revoked"}
        assert NUMBER in again.valid_general_licences(prc_today())
    finally:
        await again.close()


async def test_a_rescreen_does_not_hold_a_green_channel_export_against_its_own_draw_down(
    store: ScreeningStore, engine: ScreeningEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list reload re-screens live licences. A green-channel export's quantity is already in
    what remains under the general licence: re-screening it once less remains than it took raised
    SCR-FLAG-GENERAL-LICENCE-INVALID as new evidence, and review suspended the export licence."""
    monkeypatch.setenv("LANTHANIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LANTHANIDE_SCREENING_LISTS", raising=False)
    screening = Screening(ScreeningSettings(), engine, store)
    review, intake = EventFactory("review-test"), EventFactory("intake-test")
    await screening.handle(review.new("decision.made", decision_made(DecisionOutcome.APPROVED, _licence()),
                                      case_id=uuid4()))  # 1,000 kg under the general licence
    export = intake.new("application.accepted", _accepted(datetime.now(UTC)), case_id=uuid4())  # 500 kg
    [out] = await screening.handle(export)
    assert out.envelope.payload.route is Route.GREEN_CHANNEL
    export_licence = general_licence(f"EL-{uuid4().hex[:6]}", type=LicenceType.SINGLE)
    await screening.handle(review.new("decision.made", _usage("500", 1).model_copy(update={"licence": export_licence}),
                                      case_id=export.case_id))
    # Another export takes 400 more: 100 kg remain, less than this export's own 500.
    await screening.handle(review.new("decision.made", _usage("100", 2), case_id=uuid4()))

    update = EventFactory("cli").new("reference.updated", ReferenceUpdated(kind="list", list_id="prc", version="x"))
    [again] = [o.envelope.payload for o in await screening.handle_reference(update)
               if o.envelope.case_id == export.case_id]
    assert again.is_rescreen
    assert "SCR-FLAG-GENERAL-LICENCE-INVALID" not in {f.code for f in again.red_flags}
    assert again.route is Route.GREEN_CHANNEL
    # A new application for 500 kg under it is still held to the 100 kg that remain.
    [fresh] = await screening.handle(intake.new("application.accepted", _accepted(datetime.now(UTC)), case_id=uuid4()))
    assert fresh.envelope.payload.route is Route.STANDARD
