"""Dispositions of screening hits are reviewer actions (issue 14.1): behind review's tokens and
roles, a certain match suppressed only by two people (the second a senior reviewer), published on
lanthanide.dispositions for screening and audit, and shown in the case history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from lanthanide.auth import Authenticator, TokenGrant
from lanthanide.contracts import PartyHit, Route
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory, Outgoing
from lanthanide.serde import decode
from lanthanide.topics import Topics
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.adapters.store import Store
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import ConflictRegister
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.entrypoints.http import create_app
from lanthanide_review.service_layer.handlers import ReviewService, TopicNames

#: Test-only tokens: alice reviewer; bob, carol senior reviewers; dave auditor; erin a senior
#: reviewer with a declared conflict on the factory application's exporter.
TOKENS = {
    "t-alice": ("alice", ["reviewer"]),
    "t-bob": ("bob", ["senior_reviewer"]),
    "t-carol": ("carol", ["senior_reviewer"]),
    "t-dave": ("dave", ["auditor"]),
    "t-erin": ("erin", ["senior_reviewer"]),
}
CONFLICTS = {"erin": ["Ganzhou Rare Earth Magnetics Co., Ltd."]}
SCREENING = "lanthanide.screening.completed"


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def publish_encoded(self, records: Sequence[tuple[str, bytes]]) -> None:
        self.sent.extend(Outgoing(topic, decode(body)) for topic, body in records)

    def dispositions(self) -> list[Any]:
        return [o.envelope for o in self.sent if o.topic == Topics.DISPOSITIONS]


class Api:
    def __init__(self, client: httpx.AsyncClient, service: ReviewService, publisher: RecordingPublisher) -> None:
        self.client, self.service, self.publisher = client, service, publisher

    async def post(self, path: str, token: str | None, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(path, json=body or {}, headers=headers)


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    store = Store(db_url)
    await store.migrate()
    service = ReviewService(
        store=store,
        policy=load_policy(),
        calendar=PrcCalendar(),
        conflicts=ConflictRegister(CONFLICTS),
        factory=EventFactory("review"),
        topics=TopicNames.with_prefix(""),
    )
    publisher = RecordingPublisher()
    relay = OutboxRelay(store, publisher)  # type: ignore[arg-type]
    auth = Authenticator({t: TokenGrant(user=u, roles=r) for t, (u, r) in TOKENS.items()})
    app = create_app(service, relay, auth)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://review") as client:
        yield Api(client, service, publisher)
    await store.dispose()


async def _case(api: Api, screening: Any, *hits: PartyHit) -> str:
    env = screening(Route.ENHANCED, hits=list(hits))
    await api.service.handle(env, SCREENING)
    return str(env.case_id)


def _body(hit: PartyHit, **over: Any) -> dict[str, Any]:
    return {
        "party_index": hit.party_index,
        "list_id": hit.list_id,
        "entry_id": hit.entry_id,
        "reason": "registry shows a different company",
        "expires_on": str(prc_today() + timedelta(days=90)),
        **over,
    }


async def test_an_unauthenticated_or_read_only_disposition_is_refused(api: Api, screening: Any, hits: Any) -> None:
    case_id = await _case(api, screening, hits.control())
    path = f"/cases/{case_id}/dispositions"
    assert (await api.post(path, None, _body(hits.control()))).status_code == 401
    assert (await api.post(path, "not-a-token", _body(hits.control()))).status_code == 401
    aud = await api.post(path, "t-dave", _body(hits.control()))
    assert aud.status_code == 403 and aud.json()["detail"]["rule_id"] == "REV-ROLE-REQUIRED"
    conflicted = await api.post(path, "t-erin", _body(hits.control()))
    assert conflicted.status_code == 403 and conflicted.json()["detail"]["rule_id"] == "REV-CONFLICT-OF-INTEREST"
    assert (await api.client.get(path, headers={"Authorization": "Bearer t-dave"})).json() == []
    assert api.publisher.dispositions() == []


async def test_a_single_reviewer_cannot_suppress_a_certain_match(api: Api, screening: Any, hits: Any) -> None:
    case_id = await _case(api, screening, hits.control())
    proposed = await api.post(f"/cases/{case_id}/dispositions", "t-alice", _body(hits.control()))
    assert proposed.status_code == 201, proposed.text
    d = proposed.json()
    assert d["status"] == "pending" and d["certain"] and d["proposed_by"] == "alice"
    assert d["party_name"] == "Antriebstechnik Nord GmbH" and d["list_version"] == "2026-12"
    assert api.publisher.dispositions() == []  # screening knows nothing of a pending one
    did = d["disposition_id"]
    # The proposer cannot approve (not senior), nor can a senior approve their own proposal.
    alone = await api.post(f"/dispositions/{did}/approve", "t-alice")
    assert alone.status_code == 403 and alone.json()["detail"]["rule_id"] == "REV-ROLE-REQUIRED"
    own = await api.post(f"/cases/{case_id}/dispositions", "t-bob", _body(hits.control()))
    same = await api.post(f"/dispositions/{own.json()['disposition_id']}/approve", "t-bob")
    assert same.status_code == 403 and same.json()["detail"]["rule_id"] == "REV-FOUR-EYES-SAME-PERSON"
    assert api.publisher.dispositions() == []
    pending = await api.client.get("/dispositions/pending", headers={"Authorization": "Bearer t-carol"})
    assert {p["disposition_id"] for p in pending.json()} >= {did, own.json()["disposition_id"]}

    approved = await api.post(f"/dispositions/{did}/approve", "t-carol")
    assert approved.status_code == 200 and approved.json()["status"] == "recorded"
    assert (await api.post(f"/dispositions/{did}/approve", "t-bob")).status_code == 409
    [event] = api.publisher.dispositions()
    assert event.event_type == "disposition.recorded" and str(event.case_id) == case_id
    p = event.payload
    assert (p.disposition_id, p.list_id, p.entry_id, p.list_version) == (did, "prc-control", "C-9", "2026-12")
    assert p.approved_by == ["alice", "carol"] and p.certain and p.party_name == "Antriebstechnik Nord GmbH"
    _case_view, history, _ = await api.service.get_case(event.case_id)
    [row] = [h for h in history if h["kind"] == "disposition_recorded"]
    assert row["actor"] == "alice,carol" and row["details"]["disposition_id"] == did


async def test_a_possible_match_is_recorded_by_one_reviewer_and_revoked(api: Api, screening: Any, hits: Any) -> None:
    hit = hits.control().model_copy(update={"entry_id": "C-7", "matched_name": "Antriebstechnik Nordost",
                                            "score": 0.85, "certain": False})
    case_id = await _case(api, screening, hit)
    r = await api.post(f"/cases/{case_id}/dispositions", "t-alice", _body(hit))
    assert r.status_code == 201 and r.json()["status"] == "recorded" and not r.json()["certain"]
    [event] = api.publisher.dispositions()
    assert event.payload.approved_by == ["alice"] and event.payload.expires_on == prc_today() + timedelta(days=90)
    did = r.json()["disposition_id"]
    revoked = await api.post(f"/dispositions/{did}/revoke", "t-erin", {"reason": "x"})
    assert revoked.status_code == 403  # conflicted on the exporter
    revoked = await api.post(f"/dispositions/{did}/revoke", "t-bob", {"reason": "new evidence"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert [e.event_type for e in api.publisher.dispositions()] == ["disposition.recorded", "disposition.revoked"]
    assert api.publisher.dispositions()[1].payload.disposition_id == did
    assert (await api.post(f"/dispositions/{did}/revoke", "t-bob", {"reason": "again"})).status_code == 409


async def test_a_disposition_names_a_real_hit_and_a_bounded_expiry(api: Api, screening: Any, hits: Any) -> None:
    case_id = await _case(api, screening, hits.control())
    path = f"/cases/{case_id}/dispositions"
    unknown = await api.post(path, "t-alice", _body(hits.control(), entry_id="C-404"))
    assert unknown.status_code == 422 and unknown.json()["detail"]["rule_id"] == "REV-DISPOSITION-HIT-UNKNOWN"
    for bad in (prc_today(), prc_today() + timedelta(days=366)):
        r = await api.post(path, "t-alice", _body(hits.control(), expires_on=str(bad)))
        assert r.status_code == 422 and r.json()["detail"]["rule_id"] == "REV-DISPOSITION-EXPIRY"
    missing = await api.post(path, "t-alice", {"list_id": "prc-control"})
    assert missing.status_code == 422
    assert (await api.post("/dispositions/nope/approve", "t-bob")).status_code == 404
    assert api.publisher.dispositions() == []
