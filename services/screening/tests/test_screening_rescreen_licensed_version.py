"""Re-screening a licensed case screens the application version the licence was issued from, not
a resubmission that came after the decision (issue 14 part 2); and an announcement that names a
file path but no stored version is never read from that path (issue 15 part 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.contracts import (
    ApplicationAccepted,
    DecisionOutcome,
    Envelope,
    Licence,
    LicenceItem,
    LicenceType,
    ReferenceUpdated,
    ScreeningCompleted,
)
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.testing.factories import civilian_application, decision_made
from lanthanide_screening.adapters.store import ScreeningStore
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.service_layer.handlers import Screening
from lanthanide_screening.settings import ScreeningSettings

TODAY = prc_today()
_intake = EventFactory("intake-test")
_review = EventFactory("review-test")


def _licence(until_days: int) -> Licence:
    return Licence(
        number=f"SL-{uuid4().hex[:6]}",
        type=LicenceType.SINGLE,
        holder="Ganzhou Rare Earth Magnetics Co., Ltd.",
        items=[LicenceItem(description="m", control_codes=["1C905.a"], quantity_cap=Decimal(500), unit="kg")],
        end_users=["Antriebstechnik Nord GmbH"],
        valid_from=TODAY - timedelta(days=1),
        valid_until=TODAY + timedelta(days=until_days),
    )


@pytest.fixture
async def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: ScreeningEngine) -> AsyncIterator[Screening]:
    monkeypatch.setenv("LANTHANIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LANTHANIDE_SCREENING_LISTS", raising=False)
    store = ScreeningStore(f"sqlite+aiosqlite:///{tmp_path / 'screening.db'}")
    await store.start()
    yield Screening(ScreeningSettings(), engine, store)
    await store.close()


def _rescreens(out: Any, case_id: Any) -> list[ScreeningCompleted]:
    return [o.envelope.payload for o in out if o.envelope.case_id == case_id]


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batch"])
async def test_rescreen_of_a_licensed_case_uses_the_licensed_version(
    service: Screening, make_accepted: Callable[..., ApplicationAccepted], make_envelope: Any, batched: bool
) -> None:
    ref = f"PO-{uuid4().hex[:8]}"
    licensed = make_accepted(civilian_application(ref))
    first: Envelope[Any] = make_envelope(licensed)
    case_id = first.case_id
    resubmitted_app = civilian_application(ref)
    resubmitted_app["items"][0]["quantity"] = "900"
    resubmitted = make_accepted(resubmitted_app).model_copy(update={"is_amendment": True})
    second = _intake.new("application.accepted", resubmitted, case_id=case_id, correlation_id=first.correlation_id)
    decision = _review.new("decision.made", decision_made(DecisionOutcome.APPROVED, _licence(100)), case_id=case_id)
    if batched:
        async with service.batch():
            for env in (first, decision, second):
                await service.handle(env)
    else:
        for env in (first, decision, second):
            await service.handle(env)

    update = EventFactory("cli").new("reference.updated", ReferenceUpdated(kind="list", list_id="prc", version="x"))
    [result] = _rescreens(await service.handle_reference(update), case_id)
    assert result.is_rescreen
    assert result.application.items[0].quantity == Decimal(500)  # the licensed version, not the 900
    [stored] = [c for c in await service.store.cases_to_rescreen(TODAY) if c.case_id == str(case_id)]
    assert stored.status == "licensed"


async def test_an_open_case_is_rescreened_on_its_latest_version(
    service: Screening, make_accepted: Callable[..., ApplicationAccepted], make_envelope: Any
) -> None:
    ref = f"PO-{uuid4().hex[:8]}"
    first: Envelope[Any] = make_envelope(make_accepted(civilian_application(ref)))
    changed = civilian_application(ref)
    changed["items"][0]["quantity"] = "900"
    amended = make_accepted(changed).model_copy(update={"is_amendment": True})
    await service.handle(first)
    await service.handle(
        _intake.new("application.accepted", amended, case_id=first.case_id, correlation_id=first.correlation_id)
    )
    update = EventFactory("cli").new("reference.updated", ReferenceUpdated(kind="list", list_id="prc", version="x"))
    [result] = _rescreens(await service.handle_reference(update), first.case_id)
    assert result.application.items[0].quantity == Decimal(900)


async def test_an_announced_path_is_never_read(service: Screening, tmp_path: Path) -> None:
    planted = tmp_path / "planted-watch.csv"
    planted.write_text(
        "list_id,entry_id,name,name_type,entity_type,country,program,list_kind\n"
        "ops-watch,W-1,Planted Trading Ltd,primary,organization,DE,X,watch\n"
    )
    update = EventFactory("someone").new(
        "reference.updated", ReferenceUpdated(kind="list", list_id="watch", version="planted", path=str(planted))
    )
    await service.handle_reference(update)
    names = {e.primary_name for lst in service.engine.index.lists for e in lst.entries}
    assert names and "Planted Trading Ltd" not in names
