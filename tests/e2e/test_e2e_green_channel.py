"""The green channel through the real services on a secured broker (and, on the same stack, the
largest application intake accepts followed to its decision, issue 12 part 5): a reviewer issues a general
licence over the reviewer API, applications under it are approved at once while the cap lasts,
the draw-down shows in the usage report, a suspension reaches screening (no green channel until
it is reinstated), and once it is exhausted the next one waits for a reviewer, who cannot
approve it under the licence either.

No fixed sleeps: where screening must have applied a decision (the licence, its usage, its
status) before the next application, the test waits until screening's consumer group has
committed the decisions topic up to its end (screening commits only after its store writes)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from lanthanide.client import LanthanideClient
from lanthanide.kafka import make_admin, make_consumer
from lanthanide.kafka_secure import Credentials
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application, padded_application
from lanthanide.testing.kafka import service_env
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port
from lanthanide.topics import Topics

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

REVIEWER = "rev-" + uuid4().hex
AUDITOR = "aud-" + uuid4().hex
ADMIN = "adm-" + uuid4().hex
SCREENING_GROUP = "lanthanide-screening"


def _app(ref: str, quantity: str, number: str | None = None) -> dict[str, Any]:
    app = civilian_application(ref)
    app["items"][0]["quantity"] = quantity
    if number:
        app["general_licence_number"] = number
    return app


async def test_general_licence_green_channel_draw_down_to_exhaustion(
    secure_kafka: Credentials, tmp_path: Path
) -> None:
    tag = f"GC{uuid4().hex[:6].upper()}"
    ports = {name: free_port() for name in SERVICES}
    env = {
        "LANTHANIDE_DATA_DIR": str(tmp_path / "data"),
        "LANTHANIDE_LOG_LEVEL": "INFO",
        "LANTHANIDE_REVIEW_TOKENS": json.dumps({
            REVIEWER: {"user": "alice", "roles": ["reviewer"]},
            AUDITOR: {"user": "dave", "roles": ["auditor"]},
            ADMIN: {"user": "ada", "roles": ["admin"]},
        }),
    }
    procs = [
        ServiceProcess(name, env={**env, **service_env(secure_kafka, name)}, log_dir=tmp_path / "logs",
                       http_port=ports[name])
        for name in SERVICES
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            if p.service in ("intake", "review"):
                p.wait_http(90)
        await _run(secure_kafka, ports["review"], tag)
    finally:
        codes = {p.service: p.stop() for p in procs}
    assert all(code == 0 for code in codes.values()), codes


async def _screening_caught_up(creds: Credentials, what: str, timeout: float = 60) -> None:
    """Wait until screening's consumer group has committed every partition of the decisions
    topic up to the end offsets as they are now (Kafka-observable: screening commits a batch only
    after its store writes, so what review decided so far is what screening decides on)."""
    settings = creds.settings("admin")
    consumer = make_consumer(settings, Topics.DECISIONS, client_id="e2e-end-offsets")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(Topics.DECISIONS) or set()
        from aiokafka import TopicPartition

        tps = [TopicPartition(Topics.DECISIONS, p) for p in sorted(partitions)]
        end = {tp: offset for tp, offset in (await consumer.end_offsets(tps)).items() if offset > 0}
    finally:
        await consumer.stop()
    admin = make_admin(settings, client_id="e2e-group-offsets")
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(SCREENING_GROUP)
            behind = {tp: o for tp, o in end.items() if tp not in committed or committed[tp].offset < o}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for screening to apply {what}: {behind}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def _run(creds: Credentials, review_port: int, tag: str) -> None:
    topics = [Topics.SCREENING_COMPLETED, Topics.CASE_EVENTS, Topics.DECISIONS]
    async with TopicCollector(creds.bootstrap_servers, topics, settings=creds.settings("admin")) as seen, \
            LanthanideClient(settings=creds.settings("submitter")) as client, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{review_port}", timeout=30) as api:
        rev = {"Authorization": f"Bearer {REVIEWER}"}
        aud = {"Authorization": f"Bearer {AUDITOR}"}
        adm = {"Authorization": f"Bearer {ADMIN}"}

        async def submit(ref: str, quantity: str, number: str | None = None) -> UUID:
            [receipt] = await client.submit_many([_app(ref, quantity, number)])
            assert receipt.case_id is not None
            return receipt.case_id

        def decision(c: TopicCollector, case_id: UUID) -> Any:
            return next((e.payload for e in c.envelopes(Topics.DECISIONS) if e.case_id == case_id), None)

        def queued(c: TopicCollector, case_id: UUID) -> bool:
            events = c.envelopes(Topics.CASE_EVENTS)
            return any(e.case_id == case_id and e.payload.kind.value == "queued" for e in events)

        # 1. The general licence: one application for 1,000 kg, approved by a reviewer as general.
        gl_case = await submit(f"{tag}-GL", "1000")
        await seen.wait_for(lambda c: queued(c, gl_case), 120, "general-licence application queued")
        r = await api.post(f"/cases/{gl_case}/approve", headers=rev, json={"licence_type": "general"})
        assert r.status_code == 200, r.text
        number = r.json()["licence_number"]
        await seen.wait_for(lambda c: decision(c, gl_case) is not None, 60, "general licence issued")
        issued = decision(seen, gl_case).licence
        assert issued.type.value == "general" and issued.items[0].control_codes == ["1C905.a"]
        # Screening learns the licence from the decision topic (its own consumer group).
        await _screening_caught_up(creds, "the general licence's decision")

        async def usage() -> dict[str, Any]:
            resp = await api.get(f"/licences/{number}/usage", headers=aud)
            assert resp.status_code == 200, resp.text
            return dict(resp.json())

        def screened(c: TopicCollector, case_id: UUID) -> Any:
            return next((e.payload for e in c.envelopes(Topics.SCREENING_COMPLETED) if e.case_id == case_id), None)

        async def licence_op(op: str, status: str) -> None:
            resp = await api.post(f"/licences/{number}/{op}", headers=adm, json={"reason": f"e2e {op}"})
            assert resp.status_code == 200, resp.text
            await seen.wait_for(
                lambda c: any(e.event_type == "licence.status_changed" and e.payload.status == status
                              for e in c.envelopes(Topics.DECISIONS) if e.case_id == gl_case),
                60, f"licence.status_changed {status}")
            await _screening_caught_up(creds, f"the licence's status {status}")

        # 2. Exports under it: 400 + 400 approved at once, then 400 over the 200 left waits; while
        # the licence is suspended screening routes nothing to the green channel.
        outcomes: list[str] = []
        remaining: list[str] = []
        for n, qty in enumerate(("400", "400", "400", "suspended", "200", "1")):
            if qty == "suspended":
                await licence_op("suspend", "suspended")
                case_id = await submit(f"{tag}-S", "100", number)
                await seen.wait_for(lambda c, cid=case_id: queued(c, cid) and screened(c, cid) is not None, 120,
                                    "export under a suspended licence queued")
                flags = [f.evidence for f in screened(seen, case_id).red_flags
                         if f.code == "SCR-FLAG-GENERAL-LICENCE-INVALID"]
                assert flags == [f"general licence {number}: is suspended"], flags
                assert (await usage())["items"][0]["remaining"] == "200"  # nothing drawn
                await licence_op("reinstate", "active")
                continue
            case_id = await submit(f"{tag}-X{n}", qty, number)
            await seen.wait_for(
                lambda c, cid=case_id: screened(c, cid) is not None
                and (decision(c, cid) is not None or queued(c, cid)),
                120, f"export {n} decided or queued")
            d = decision(seen, case_id)
            if d is not None:
                assert d.outcome.value == "approved" and d.decided_by == "auto"
                assert d.general_licence_number == number and d.route.value == "green_channel"
                assert d.licence.valid_until <= issued.valid_until
                outcomes.append("approved")
            else:
                outcomes.append("queued")
            remaining.append((await usage())["items"][0]["remaining"])
            if d is not None:
                # Screening decides the next one on the usage this decision carried.
                await _screening_caught_up(creds, f"the usage after export {n}")
            else:
                # Queued by screening itself (it knew what remained), not only by review's re-check.
                assert screened(seen, case_id).route.value == "standard"
        assert outcomes == ["approved", "approved", "queued", "approved", "queued"]
        assert remaining == ["600", "200", "200", "0", "0"]
        report = await usage()
        assert report["status"] == "exhausted" and len(report["exports"]) == 3
        assert (await api.get(f"/licences/{number}/usage")).status_code == 401
        # The reviewer cannot approve the last one under the exhausted licence either (REV-GL-MANUAL).
        assert (await api.post(f"/cases/{case_id}/claim", headers=rev)).status_code == 200
        r = await api.post(f"/cases/{case_id}/approve", headers=rev, json={"general_licence_number": number})
        assert r.status_code == 422 and r.json()["detail"]["rule_id"] == "REV-GL-OVER-CAP", r.text
        totals = (await api.get("/licences/usage", headers=aud)).json()
        assert any(r["country"] == "DE" and float(r["quantity"]) >= 1000 for r in totals["by_country"])

        # 3. The largest application intake accepts (200 items, 50 parties, just under
        # MAX_APPLICATION_BYTES) goes through every service: screened, queued, approved by a
        # reviewer, decided; no output on the way is over the broker's message limit.
        from lanthanide_intake.domain.intake import MAX_APPLICATION_BYTES

        big = padded_application(f"{tag}-BIG", MAX_APPLICATION_BYTES - 30_000)
        assert len(json.dumps(big)) > 0.8 * MAX_APPLICATION_BYTES
        [receipt] = await client.submit_many([big])
        assert receipt.case_id is not None
        big_case = receipt.case_id
        await seen.wait_for(lambda c: queued(c, big_case), 180, "largest application queued")
        r = await api.post(f"/cases/{big_case}/approve", headers=rev, json={})
        assert r.status_code == 200, r.text
        await seen.wait_for(lambda c: decision(c, big_case) is not None, 120, "largest application decided")
        big_decision = decision(seen, big_case)
        assert big_decision.outcome.value == "approved"
        assert len(big_decision.licence.items) == len(big["items"])
