"""The store on real SQLite and PostgreSQL, and the HTTP API (dispositions reused on screening)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from lanthanide.auth import Authenticator, TokenGrant
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
    auth = Authenticator({"tok-r1": TokenGrant(user="r1", roles=["reviewer"])})
    transport = httpx.ASGITransport(app=make_app(screening, auth))
    async with httpx.AsyncClient(transport=transport, base_url="http://screening",
                                 headers={"Authorization": "Bearer tok-r1"}) as client:
        for hit in {(h.list_id, h.entry_id) for h in first.hits}:
            r = await client.post(
                "/dispositions",
                json={
                    "party_name": "LOCKHEAD MARTIN CORP.",
                    "list_id": hit[0],
                    "entry_id": hit[1],
                    "verdict": "false_positive",
                    "reason": "different company, verified registry",
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


async def test_screening_routes_need_a_token_and_the_reviewer_is_the_caller(
    store: ScreeningStore, engine: ScreeningEngine
) -> None:
    """An unauthenticated disposition is refused, an auditor cannot judge a hit, and the
    reviewer recorded is the authenticated caller, not a name from the body."""
    screening = Screening(ScreeningSettings(), engine, store)
    auth = Authenticator({"tok-rev": TokenGrant(user="rev-a", roles=["reviewer"]),
                          "tok-aud": TokenGrant(user="aud-a", roles=["auditor"])})
    body = {"party_name": "X Co", "list_id": "l", "entry_id": "e", "verdict": "false_positive",
            "reason": "different company", "reviewer": "somebody-else"}
    transport = httpx.ASGITransport(app=make_app(screening, auth))
    async with httpx.AsyncClient(transport=transport, base_url="http://screening") as client:
        assert (await client.post("/dispositions", json=body)).status_code == 401
        assert (await client.get("/dispositions")).status_code == 401
        assert (await client.post("/screen-name", json={"name": "X Co"})).status_code == 401
        aud = {"Authorization": "Bearer tok-aud"}
        assert (await client.post("/dispositions", json=body, headers=aud)).status_code == 403
        assert (await client.get("/dispositions", headers=aud)).status_code == 200
        rev = {"Authorization": "Bearer tok-rev"}
        assert (await client.post("/dispositions", json=body, headers=rev)).status_code == 201
        (recorded,) = (await client.get("/dispositions", headers=rev)).json()
        assert (await client.get("/healthz")).status_code == 200
    assert recorded["reviewer"] == "rev-a"
