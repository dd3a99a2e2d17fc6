"""The intake service as its own process on a real broker: accepted, rejected, dead-lettered,
and applications POSTed over HTTP with an API key."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from lanthanide.client import LanthanideClient
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application
from lanthanide.testing.processes import ServiceProcess, free_port
from lanthanide.topics import Topics, dlq

pytestmark = [pytest.mark.kafka]

API_KEY = "test-key-" + uuid4().hex  # generated per run: no secret lives in the repo


@pytest.fixture(scope="module")
def intake(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp: Path = tmp_path_factory.mktemp("intake")
    proc = ServiceProcess(
        "intake",
        env={
            "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "LANTHANIDE_DATA_DIR": str(tmp),
            "LANTHANIDE_INTAKE_GROUP_ID": f"intake-test-{uuid4().hex[:6]}",
            "LANTHANIDE_INTAKE_API_KEYS": json.dumps({API_KEY: "test-upstream"}),
        },
        log_dir=tmp, http_port=free_port(),
    ).start()
    proc.wait_http()
    yield proc
    assert proc.stop() == 0, proc.log_text()[-3000:]


async def test_kafka_submissions_are_accepted_rejected_or_dead_lettered(
    intake: ServiceProcess, kafka_bootstrap: str
) -> None:
    tag = uuid4().hex[:8]
    good = civilian_application(f"GOOD-{tag}")
    bad = civilian_application(f"BAD-{tag}")
    bad["items"][0]["quantity"] = "-5"
    async with TopicCollector(kafka_bootstrap, [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED,
                                                 dlq(Topics.APPLICATIONS_SUBMITTED)]) as seen:
        async with LanthanideClient(kafka_bootstrap) as client:
            receipts = await client.submit_many([good, bad])
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        garbage = f"\xff\xfe not json {tag}".encode("latin-1")
        await producer.send_and_wait(Topics.APPLICATIONS_SUBMITTED, garbage)
        await producer.stop()

        def done(c: TopicCollector) -> bool:
            acc = [e for e in c.envelopes(Topics.APPLICATIONS_ACCEPTED)
                   if e.payload.external_reference == f"GOOD-{tag}"]
            rej = [e for e in c.envelopes(Topics.APPLICATIONS_REJECTED)
                   if e.payload.external_reference == f"BAD-{tag}"]
            # Other tests dead-letter to the same topic: wait for this test's own record.
            mine = [r for r in c.raw(dlq(Topics.APPLICATIONS_SUBMITTED))
                    if base64.b64decode(json.loads(r.value).get("original_b64", "")) == garbage]
            return bool(acc and rej and mine)

        await seen.wait_for(done, 60, "accepted, rejected and dead-lettered outputs")
        accepted = next(e for e in seen.envelopes(Topics.APPLICATIONS_ACCEPTED)
                        if e.payload.external_reference == f"GOOD-{tag}")
        assert accepted.case_id == receipts[0].case_id
        assert accepted.causation_id == receipts[0].event_id
        rejected = next(e for e in seen.envelopes(Topics.APPLICATIONS_REJECTED)
                        if e.payload.external_reference == f"BAD-{tag}")
        assert [err.loc for err in rejected.payload.errors] == ["items.0.quantity"]
        dead = [json.loads(r.value) for r in seen.raw(dlq(Topics.APPLICATIONS_SUBMITTED))]
        assert any(base64.b64decode(d["original_b64"]) == garbage and "JSON" in d["error"] for d in dead)
    assert intake.alive()


async def test_http_submission_needs_a_key_and_returns_the_case_id(
    intake: ServiceProcess, kafka_bootstrap: str
) -> None:
    url = f"http://127.0.0.1:{intake.http_port}/applications"
    app = civilian_application(f"HTTP-{uuid4().hex[:8]}")
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.post(url, json=app)).status_code == 401
        assert (await http.post(url, json=app, headers={"X-API-Key": "wrong"})).status_code == 401
        bad = await http.post(url, json={**app, "items": []}, headers={"X-API-Key": API_KEY})
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == "items"
        async with TopicCollector(kafka_bootstrap, [Topics.APPLICATIONS_ACCEPTED]) as seen:
            ok = await http.post(url, json=app, headers={"Authorization": f"Bearer {API_KEY}"})
            assert ok.status_code == 202, ok.text
            case_id = ok.json()["case_id"]
            await seen.wait_for(
                lambda c: any(str(e.case_id) == case_id for e in c.envelopes(Topics.APPLICATIONS_ACCEPTED)),
                60, "the accepted event of the HTTP submission",
            )


async def test_health_and_readiness(intake: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{intake.http_port}", timeout=30) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
