"""The store on real SQLite and PostgreSQL, review's dispositions applied, and the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from lanthanide.auth import Authenticator, TokenGrant
from lanthanide.contracts import (
    ApplicationAccepted,
    DecisionOutcome,
    DispositionRecorded,
    DispositionRevoked,
    Envelope,
    Licence,
    LicenceItem,
    LicenceType,
    PartyHit,
    Route,
)
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.testing.factories import civilian_application, decision_made
from lanthanide_screening.adapters.store import ScreeningStore
from lanthanide_screening.domain.parties import party_key
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.entrypoints.http import make_app
from lanthanide_screening.service_layer.handlers import Screening
from lanthanide_screening.settings import ScreeningSettings

TODAY = prc_today()  # every date is a PRC date


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


def _disposition(screening: Screening, hit: PartyHit, did: str, *, version: str | None = None,
                 expires_on: date | None = None) -> Envelope[Any]:
    payload = DispositionRecorded(
        disposition_id=did, party_name="LOCKHEAD MARTIN CORP.", party_role=str(hit.party_role),
        party_index=hit.party_index, list_id=hit.list_id, entry_id=hit.entry_id,
        list_version=version or hit.list_version, certain=bool(hit.certain), reason="different company",
        proposed_by="alice", approved_by=["alice", "bob"], expires_on=expires_on or TODAY + timedelta(days=30),
    )
    return EventFactory("review-test").new("disposition.recorded", payload, case_id=uuid4())


async def test_review_dispositions_suppress_the_judged_version_until_expiry_and_stay_visible(
    store: ScreeningStore, engine: ScreeningEngine, make_accepted: Callable[..., ApplicationAccepted]
) -> None:
    """A disposition.recorded event suppresses the hit (kept in the result, marked, with the
    disposition id and approvers) only at the judged list version and until expiry; a
    disposition.revoked event ends it; a replayed event changes nothing."""
    screening = Screening(ScreeningSettings(), engine, store)
    app = civilian_application(
        parties=[{"role": "end_user", "name": "Lockhead Martin Corp", "country": "US"}],
        route={"final_destination_country": "US"},
    )
    accepted = make_accepted(app)
    first = await screening.screen(accepted, TODAY)
    assert first.route is Route.ENHANCED and first.hits and not any(h.suppressed for h in first.hits)
    # Judged against another list version: does not apply.
    for i, hit in enumerate(first.hits):
        await screening.handle_disposition(_disposition(screening, hit, f"old-{i}", version="1999-01"))
    assert (await screening.screen(accepted, TODAY)).route is Route.ENHANCED
    recorded = [_disposition(screening, hit, f"d-{i}") for i, hit in enumerate(first.hits)]
    for env in [*recorded, *recorded]:  # replayed: harmless
        assert await screening.handle_disposition(env) == []
    again = await screening.screen(accepted, TODAY)
    assert again.route is Route.STANDARD and again.active_hits == []
    assert [(h.list_id, h.entry_id) for h in again.hits] == [(h.list_id, h.entry_id) for h in first.hits]
    assert {h.disposition_id for h in again.hits} == {f"d-{i}" for i in range(len(first.hits))}
    assert all(h.suppressed and h.approved_by == ["alice", "bob"] for h in again.hits)
    # After the expiry the hit counts again.
    late = await screening.screen(accepted, TODAY + timedelta(days=31))
    assert late.route is Route.ENHANCED and not any(h.suppressed for h in late.hits)
    # A fresh store on the same database serves the recorded dispositions (read at start).
    other = ScreeningStore(store.engine.url.render_as_string(hide_password=False))
    await other.start()
    try:
        h = first.hits[0]
        found = other.find_disposition(party_key("Lockhead Martin Corp"), h.list_id, h.entry_id, h.list_version, TODAY)
        assert found is not None and found.disposition_id == "d-0"
    finally:
        await other.close()
    for i in range(len(first.hits)):
        revoked = DispositionRevoked(disposition_id=f"d-{i}", revoked_by="carol", reason="new evidence")
        await screening.handle_disposition(EventFactory("review-test").new("disposition.revoked", revoked))
    assert (await screening.screen(accepted, TODAY)).route is Route.ENHANCED
    await screening.handle_disposition(recorded[0])  # a replay does not bring a revoked one back
    assert {d.status for d in await store.list_dispositions() if d.disposition_id.startswith("d-")} == {"revoked"}


async def test_screening_takes_no_disposition_over_http(
    store: ScreeningStore, engine: ScreeningEngine
) -> None:
    """The unauthenticated write route is gone: dispositions arrive only as review's events;
    screening lists them read-only, behind its tokens."""
    screening = Screening(ScreeningSettings(), engine, store)
    auth = Authenticator({"tok-rev": TokenGrant(user="rev-a", roles=["senior_reviewer"]),
                          "tok-aud": TokenGrant(user="aud-a", roles=["auditor"])})
    body = {"party_name": "X Co", "list_id": "l", "entry_id": "e", "verdict": "false_positive",
            "reason": "different company", "reviewer": "somebody-else"}
    transport = httpx.ASGITransport(app=make_app(screening, auth))
    async with httpx.AsyncClient(transport=transport, base_url="http://screening") as client:
        assert (await client.post("/dispositions", json=body)).status_code in (401, 405)
        rev = {"Authorization": "Bearer tok-rev"}
        assert (await client.post("/dispositions", json=body, headers=rev)).status_code == 405
        assert (await client.get("/dispositions")).status_code == 401
        assert (await client.post("/screen-name", json={"name": "X Co"})).status_code == 401
        assert (await client.get("/dispositions", headers={"Authorization": "Bearer tok-aud"})).json() == []
        assert (await client.get("/healthz")).status_code == 200
    assert await store.list_dispositions() == []
