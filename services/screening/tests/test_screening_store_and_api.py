"""The store on real SQLite and PostgreSQL, and the HTTP API (dispositions reused on screening)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from lanthanide.contracts import (
    ApplicationAccepted,
    DecisionOutcome,
    Licence,
    LicenceItem,
    LicenceType,
    Route,
)
from lanthanide.testing.factories import civilian_application, decision_made
from lanthanide_screening.adapters.store import ScreeningStore
from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.entrypoints.http import make_app
from lanthanide_screening.settings import ScreeningSettings

TODAY = date.today()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or a new database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'screening.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[ScreeningStore]:
    s = ScreeningStore(store_url)
    await s.start()
    yield s
    await s.close()


def _licence(number: str, kind: LicenceType, until: date) -> Licence:
    return Licence(
        number=number,
        type=kind,
        holder="Ganzhou Rare Earth Magnetics Co., Ltd.",
        items=[LicenceItem(description="m", control_codes=["1C905.a"], quantity_cap=Decimal(1000), unit="kg")],
        end_users=["Antriebstechnik Nord GmbH"],
        valid_from=TODAY - timedelta(days=10),
        valid_until=until,
    )


async def test_cases_to_rescreen_are_open_or_licensed_and_live(
    store: ScreeningStore, make_accepted: Callable[..., ApplicationAccepted]
) -> None:
    ids = {name: str(uuid4()) for name in ("open", "denied", "live", "expired")}
    for name, cid in ids.items():
        await store.remember_case(cid, str(uuid4()), make_accepted(civilian_application(f"REF-{name}")))
    await store.record_decision(ids["denied"], decision_made(DecisionOutcome.DENIED))
    await store.record_decision(
        ids["live"],
        decision_made(DecisionOutcome.APPROVED, _licence("GL-1", LicenceType.GENERAL, TODAY + timedelta(days=100))),
    )
    await store.record_decision(
        ids["expired"],
        decision_made(DecisionOutcome.APPROVED, _licence("SL-2", LicenceType.SINGLE, TODAY - timedelta(days=1))),
    )
    # A replayed accepted event does not reopen a decided case; an amendment does.
    await store.remember_case(ids["denied"], str(uuid4()), make_accepted(civilian_application("REF-denied")))
    found = {c.case_id: c for c in await store.cases_to_rescreen(TODAY)}
    assert set(found) == {ids["open"], ids["live"]}
    assert found[ids["open"]].accepted.external_reference == "REF-open"
    assert set(await store.general_licences(TODAY)) == {"GL-1"}
    assert found[ids["live"]].status == "licensed"
    amended = make_accepted(civilian_application("REF-denied")).model_copy(update={"is_amendment": True})
    await store.remember_case(ids["denied"], str(uuid4()), amended)
    assert ids["denied"] in {c.case_id for c in await store.cases_to_rescreen(TODAY)}


async def test_disposition_api_suppresses_the_false_positive_next_time(
    store: ScreeningStore, engine: ScreeningEngine, make_accepted: Callable[..., ApplicationAccepted]
) -> None:
    screening = Screening(ScreeningSettings(), engine, store)
    app = civilian_application(
        parties=[
            {"role": "importer", "name": "Lockhead Martin Corp", "country": "US"},
            {"role": "end_user", "name": "Lockhead Martin Corp", "country": "US"},
        ],
        route={"final_destination_country": "US"},
    )
    accepted = make_accepted(app)
    first = await screening.screen(accepted, TODAY)
    assert first.route is Route.ENHANCED and first.hits
    transport = httpx.ASGITransport(app=make_app(screening))
    async with httpx.AsyncClient(transport=transport, base_url="http://screening") as client:
        for hit in {(h.list_id, h.entry_id) for h in first.hits}:
            r = await client.post(
                "/dispositions",
                json={
                    "party_name": "LOCKHEAD MARTIN CORP.",
                    "list_id": hit[0],
                    "entry_id": hit[1],
                    "verdict": "false_positive",
                    "reason": "different company, verified registry",
                    "reviewer": "r1",
                },
            )
            assert r.status_code == 201, r.text
        bad = await client.post(
            "/dispositions",
            json={
                "party_name": "x",
                "list_id": "l",
                "entry_id": "e",
                "verdict": "maybe",
                "reason": "?",
                "reviewer": "r",
            },
        )
        assert bad.status_code == 422
        assert {e["loc"][-1] for e in bad.json()["detail"]} == {"verdict", "reason"}
        listed = (await client.get("/dispositions")).json()
        named = (await client.post("/screen-name", json={"name": "Lockheed Martin Corporation"})).json()
    assert len(listed) == len({(h.list_id, h.entry_id) for h in first.hits})
    assert named[0]["score"] == 1.0 and named[0]["entry_id"].endswith("lockheed-martin-corporation")
    again = await screening.screen(accepted, TODAY)
    assert again.route is Route.STANDARD and again.hits == []
