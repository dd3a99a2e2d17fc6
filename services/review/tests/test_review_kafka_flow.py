"""Review through real Kafka and the real HTTP API, on SQLite and PostgreSQL.

The service runs as its own OS process (`python -m lanthanide_review`); the tests publish
screening results and shipment reports, act over HTTP, and read what review published.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaProducer
from lanthanide.contracts import Envelope, Route, ShipmentReported
from lanthanide.events import EventFactory
from lanthanide.ids import derived_id
from lanthanide.kafka import headers_of, key_of
from lanthanide.serde import encode
from lanthanide.testing.collector import TopicCollector
from lanthanide.topics import Topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ALICE, BOB, CAROL, DAVE, ERIN = "t-alice", "t-bob", "t-carol", "t-dave", "t-erin"


@pytest.fixture(scope="module")
async def io(review_process: Any) -> AsyncIterator[Any]:
    """A producer into review's input topics and a collector of its output topics."""
    rp = review_process
    producer = AIOKafkaProducer(bootstrap_servers=rp.bootstrap, acks="all")
    await producer.start()
    collector = TopicCollector(rp.bootstrap, [rp.topic(Topics.DECISIONS), rp.topic(Topics.CASE_EVENTS)])
    await collector.__aenter__()

    class IO:
        proc = rp

        async def send(self, env: Envelope[Any], topic: str = Topics.SCREENING_COMPLETED) -> None:
            await producer.send_and_wait(
                rp.topic(topic),
                encode(env),
                key=key_of(env),
                headers=[(k, v.encode()) for k, v in headers_of(env).items()],
            )

        def decisions(self, case_id: UUID) -> list[Envelope[Any]]:
            return [e for e in collector.envelopes(rp.topic(Topics.DECISIONS))
                    if e.case_id == case_id and e.event_type == "decision.made"]

        def licence_statuses(self, case_id: UUID) -> list[Envelope[Any]]:
            return [e for e in collector.envelopes(rp.topic(Topics.DECISIONS))
                    if e.case_id == case_id and e.event_type == "licence.status_changed"]

        def events(self, case_id: UUID, kind: str | None = None) -> list[Envelope[Any]]:
            return [
                e
                for e in collector.envelopes(rp.topic(Topics.CASE_EVENTS))
                if e.case_id == case_id and (kind is None or e.payload.kind == kind)
            ]

        async def wait(self, cond: Any, what: str, within: float = 60) -> None:
            await collector.wait_for(lambda _c: cond(), timeout=within, what=what)

    try:
        yield IO()
    finally:
        await collector.__aexit__(None, None, None)
        await producer.stop()


def _post(rp: Any, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    return rp.http.post(path, json=body or {}, headers=rp.as_user(token))


async def test_auto_routes_decide_once_and_never_twice(io: Any, screening: Any) -> None:
    nlr = screening(Route.NO_LICENCE_REQUIRED, contact={"email": "trade@example.com"})
    deny = screening(Route.DENY, rule_ids=["SCR-ENDUSE-MILITARY"], reasons=["military end use"])
    green = screening(Route.GREEN_CHANNEL)  # (under a general licence: test_review_green_channel)
    standard = screening(Route.STANDARD)
    incomplete = screening(Route.INCOMPLETE, complete=False, missing=["end_user_certificate"])
    for env in (nlr, deny, green, standard, incomplete, nlr):  # nlr twice: same event id
        await io.send(env)
    # A different screening result for the decided case: recorded, never decided again.
    again = screening(Route.DENY, ref=nlr.payload.external_reference)
    await io.send(again)

    await io.wait(
        lambda: all(io.decisions(e.case_id) for e in (nlr, deny, green))
        and io.events(nlr.case_id, "amended")
        and io.events(incomplete.case_id, "info_requested")
        and io.events(standard.case_id, "queued"),
        "auto decisions and case events",
    )

    d_nlr = {e.event_id: e for e in io.decisions(nlr.case_id)}
    assert len(d_nlr) == 1
    decision = next(iter(d_nlr.values())).payload
    assert decision.outcome == "no_licence_required"
    assert decision.decision_id == derived_id(nlr.case_id, "decision")
    assert decision.contact.email == "trade@example.com"
    assert decision.external_reference == nlr.payload.external_reference
    assert decision.exporter_name == "Ganzhou Rare Earth Magnetics Co., Ltd."
    assert decision.policy_version == "2026.1" and "POL-AUTO-NLR" in decision.rule_ids

    denied = io.decisions(deny.case_id)[0].payload
    assert denied.outcome == "denied"
    assert [r.code for r in denied.reasons] == ["SCR-ENDUSE-MILITARY"]
    assert denied.reasons[0].text == "military end use"

    approved = io.decisions(green.case_id)[0].payload
    assert approved.outcome == "approved" and approved.decided_by == "auto"
    assert approved.licence is not None and approved.licence.number.startswith("LNT-")
    assert "Green channel approval." in approved.licence.conditions and approved.general_licence_number is None

    assert not io.decisions(standard.case_id) and not io.decisions(incomplete.case_id)
    info = io.events(incomplete.case_id, "info_requested")[0].payload
    assert info.details["missing_documents"] == ["end_user_certificate"]
    amended = io.events(nlr.case_id, "amended")[0].payload
    assert amended.details["applied"] is False


async def test_standard_case_approved_over_http(io: Any, screening: Any) -> None:
    rp = io.proc
    env = screening(Route.STANDARD)
    await io.send(env)
    await io.wait(lambda: io.events(env.case_id, "queued"), "queued")
    cid = str(env.case_id)

    assert rp.http.get("/queue").status_code == 401
    queue = rp.http.get("/queue", headers=rp.as_user(DAVE)).json()
    row = next(r for r in queue if r["case_id"] == cid)
    assert row["queue"] == "standard" and row["working_days_left"] == 45

    refused = _post(rp, f"/cases/{cid}/approve", DAVE)
    assert refused.status_code == 403 and refused.json()["detail"]["rule_id"] == "REV-ROLE-REQUIRED"
    conflicted = _post(rp, f"/cases/{cid}/claim", ERIN)
    assert conflicted.json()["detail"]["rule_id"] == "REV-CONFLICT-OF-INTEREST"

    ok = _post(
        rp,
        f"/cases/{cid}/approve",
        ALICE,
        {
            "licence_type": "single",
            "items": [{"item_index": 0, "quantity_cap": "400"}],
            "conditions": ["End-use report due within 90 days of delivery."],
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "approved"
    again = _post(rp, f"/cases/{cid}/deny", ALICE, {"reasons": [{"code": "X", "text": "y"}]})
    assert again.status_code == 409

    await io.wait(lambda: io.decisions(env.case_id), "approval decision")
    decision = io.decisions(env.case_id)[0].payload
    assert decision.decided_by == "alice" and decision.outcome == "approved"
    assert decision.licence.items[0].quantity_cap == Decimal("400")
    assert "End-use report due within 90 days of delivery." in decision.licence.conditions
    detail = rp.http.get(f"/cases/{cid}", headers=rp.as_user(DAVE)).json()
    assert detail["licence"]["number"] == decision.licence.number
    assert [h["kind"] for h in detail["history"]][:2] == ["received", "queued"]


async def test_enhanced_case_needs_a_different_senior_countersign(io: Any, screening: Any, hits: Any) -> None:
    rp = io.proc
    env = screening(Route.ENHANCED, hits=[hits.watch()])
    await io.send(env)
    await io.wait(lambda: io.events(env.case_id, "queued"), "queued")
    cid = str(env.case_id)

    direct = _post(rp, f"/cases/{cid}/approve", BOB)
    assert direct.json()["detail"]["rule_id"] == "REV-COUNTERSIGN-REQUIRED"
    assert _post(rp, f"/cases/{cid}/claim", BOB).status_code == 200
    rec = _post(rp, f"/cases/{cid}/recommend", BOB, {"outcome": "approved"})
    assert rec.status_code == 200 and rec.json()["state"] == "awaiting_countersign"
    same = _post(rp, f"/cases/{cid}/countersign", BOB)
    assert same.status_code == 403
    assert same.json()["detail"]["rule_id"] == "REV-FOUR-EYES-SAME-PERSON"
    junior = _post(rp, f"/cases/{cid}/countersign", ALICE)
    assert junior.json()["detail"]["rule_id"] == "REV-ROLE-REQUIRED"
    signed = _post(rp, f"/cases/{cid}/countersign", CAROL, {"note": "agree"})
    assert signed.status_code == 200 and signed.json()["state"] == "approved"
    # Watch-list case: the 45-day clock does not run.
    assert signed.json()["sla"]["due_on"] is None

    await io.wait(lambda: io.decisions(env.case_id), "countersigned decision")
    decision = io.decisions(env.case_id)[0].payload
    assert (decision.decided_by, decision.countersigned_by) == ("bob", "carol")
    kinds = [e.payload.kind for e in io.events(env.case_id)]
    assert {"assigned", "recommended", "countersigned", "licence_issued"} <= set(kinds)


async def test_information_request_answered_by_amendment(io: Any, screening: Any) -> None:
    rp = io.proc
    env = screening(Route.STANDARD)
    await io.send(env)
    await io.wait(lambda: io.events(env.case_id, "queued"), "queued")
    cid = str(env.case_id)
    assert _post(rp, f"/cases/{cid}/claim", ALICE).status_code == 200
    asked = _post(
        rp,
        f"/cases/{cid}/request-information",
        ALICE,
        {"missing": ["technical_description"], "message": "please send the datasheet"},
    )
    assert asked.json()["state"] == "info_requested"
    assert asked.json()["sla"]["paused_since"] is not None

    amendment = screening(Route.STANDARD, ref=env.payload.external_reference)
    await io.send(amendment)
    await io.wait(lambda: io.events(env.case_id, "amended"), "amendment applied")
    case = rp.http.get(f"/cases/{cid}", headers=rp.as_user(ALICE)).json()
    assert case["state"] == "under_review" and case["assignee"] == "alice"
    assert case["sla"]["paused_since"] is None
    ok = _post(rp, f"/cases/{cid}/approve", ALICE)
    assert ok.status_code == 200, ok.text
    await io.wait(lambda: io.decisions(env.case_id), "decision after amendment")
    assert len({e.event_id for e in io.decisions(env.case_id)}) == 1


async def test_shipments_draw_a_general_licence_down_to_exhaustion(io: Any, screening: Any) -> None:
    rp = io.proc
    env = screening(Route.STANDARD)
    await io.send(env)
    await io.wait(lambda: io.events(env.case_id, "queued"), "queued")
    approved = _post(rp, f"/cases/{env.case_id}/approve", ALICE, {"licence_type": "general"})
    assert approved.status_code == 200, approved.text
    number = approved.json()["licence_number"]
    # Shipped on the licence's first valid day: validity is in PRC dates (Asia/Shanghai), which
    # run ahead of UTC every evening, so "today" in UTC can fall before the licence starts.
    valid_from = date.fromisoformat(
        rp.http.get(f"/licences/{number}", headers=rp.as_user(DAVE)).json()["valid_from"]
    )

    factory = EventFactory("customs-test")

    def ship(sid: str, qty: str) -> Envelope[Any]:
        # Keyed by the case, so the three shipments stay in order on one partition.
        return factory.new(
            "shipment.reported",
            case_id=env.case_id,
            payload=ShipmentReported(
                shipment_id=sid,
                licence_number=number,
                quantity=Decimal(qty),
                unit="kg",
                end_user="Antriebstechnik Nord GmbH",
                end_user_country="DE",
                shipped_on=valid_from,
            ),
        )

    for sid, qty in ((f"{number}-S1", "300"), (f"{number}-S2", "300"), (f"{number}-S3", "200")):
        await io.send(ship(sid, qty), Topics.SHIPMENTS_REPORTED)
    await io.wait(lambda: io.events(env.case_id, "licence_exhausted"), "exhausted")

    refused = io.events(env.case_id, "shipment_refused")
    assert len(refused) == 1 and refused[0].payload.details["rule_id"] == "LIC-SHIP-OVER-CAP"
    assert len(io.events(env.case_id, "licence_drawn_down")) == 2
    lic = rp.http.get(f"/licences/{number}", headers=rp.as_user(DAVE)).json()
    assert lic["status"] == "exhausted" and lic["remaining"] == ["0"]
    usage = rp.http.get("/licences/usage", headers=rp.as_user(DAVE)).json()
    de = next(r for r in usage["by_country"] if r["country"] == "DE" and r["unit"] == "kg")
    assert Decimal(de["quantity"]) >= Decimal(500)


async def test_rescreen_with_a_hit_suspends_the_live_licence(io: Any, screening: Any, hits: Any) -> None:
    rp = io.proc
    env = screening(Route.GREEN_CHANNEL)
    await io.send(env)
    await io.wait(lambda: io.decisions(env.case_id), "green-channel approval")
    number = io.decisions(env.case_id)[0].payload.licence.number

    rescreen = screening(Route.DENY, ref=env.payload.external_reference, hits=[hits.control()], is_rescreen=True)
    await io.send(rescreen)
    await io.wait(lambda: io.events(env.case_id, "licence_suspended"), "licence suspended")
    event = io.events(env.case_id, "licence_suspended")[0].payload
    assert event.details["licence_number"] == number and "list hit" in event.reason
    lic = rp.http.get(f"/licences/{number}", headers=rp.as_user(DAVE)).json()
    assert lic["status"] == "suspended"
    assert len({e.event_id for e in io.decisions(env.case_id)}) == 1
    # Published for screening (same topic as the decision, same key).
    await io.wait(lambda: io.licence_statuses(env.case_id), "licence.status_changed")
    [status] = io.licence_statuses(env.case_id)
    assert status.payload.number == number and status.payload.status == "suspended"
    assert status.payload.changed_by == "system"
    # ... and opened a licence-review item in the queue (REV-LICENCE-REVIEW).
    rows = rp.http.get("/queue", params={"queue": "licence_review"}, headers=rp.as_user(DAVE)).json()
    [row] = [r for r in rows if r["case_id"] == str(env.case_id)]
    assert row["licence_number"] == number
    case = rp.http.get(f"/cases/{env.case_id}", headers=rp.as_user(DAVE)).json()
    assert case["licence_review"]["open"] and case["licence_review"]["due_on"] == row["due_on"]
