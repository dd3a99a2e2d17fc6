"""The screening service as its own OS process on a real Kafka broker."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from lanthanide.contracts import (
    ApplicationAccepted,
    DecisionMade,
    DecisionOutcome,
    DispositionRecorded,
    Envelope,
    ReferenceUpdated,
    Route,
)
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.ids import derived_id
from lanthanide.kafka import ensure_topics, headers_of, key_of
from lanthanide.serde import decode, encode
from lanthanide.settings import KafkaSettings
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics
from lanthanide_screening.settings import default_lists

pytestmark = pytest.mark.kafka


@pytest.fixture
def service_env(screening_kafka: str, topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    """Environment of one service process: its own topics, group and data dir."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": screening_kafka,
        "LANTHANIDE_SCREENING_TOPIC_PREFIX": topic_prefix,
        "LANTHANIDE_SCREENING_GROUP_ID": f"screening-test-{uuid.uuid4().hex[:8]}",
        "LANTHANIDE_KAFKA_PARTITIONS": "2",
        "LANTHANIDE_DATA_DIR": str(tmp_path / "data"),
        "LANTHANIDE_SCREENING_HTTP_PORT": str(_free_port()),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def service(screening_kafka: str, topic_prefix: str, service_env: dict[str, str]) -> AsyncIterator[str]:
    """Start `python -m lanthanide_screening` with its own topics and group; yield the prefix."""
    topics = [f"{topic_prefix}{t}" for t in Topics.all()]
    await ensure_topics(KafkaSettings(bootstrap_servers=screening_kafka, partitions=2), topics)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lanthanide_screening",
        env=service_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield topic_prefix
    finally:
        proc.terminate()
        try:
            async with asyncio.timeout(30):
                _, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            _, err = await proc.communicate()
        # A clean SIGTERM stop exits 0; anything else shows the service's log tail.
        assert proc.returncode == 0, err.decode()[-2000:]


async def _publish(bootstrap: str, topic: str, envelopes: list[Envelope[Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for env in envelopes:
            await producer.send_and_wait(
                topic, encode(env), key=key_of(env), headers=[(k, v.encode()) for k, v in headers_of(env).items()]
            )
    finally:
        await producer.stop()


async def _read(bootstrap: str, topic: str, count: int, wait_s: float = 90, linger_s: float = 0) -> list[Envelope[Any]]:
    """At least `count` envelopes from the topic; then `linger_s` more seconds for any extra."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[Envelope[Any]] = []
    try:
        async with asyncio.timeout(wait_s):
            while len(out) < count:
                batch = await consumer.getmany(timeout_ms=500)
                out += [decode(r.value) for records in batch.values() for r in records]
        if linger_s:
            batch = await consumer.getmany(timeout_ms=int(linger_s * 1000))
            out += [decode(r.value) for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return out


async def test_accepted_applications_are_screened_with_route_and_rule_ids(
    service: str,
    service_env: dict[str, str],
    screening_kafka: str,
    make_accepted: Callable[..., ApplicationAccepted],
    make_envelope: Callable[..., Envelope[Any]],
) -> None:
    civil = make_envelope(make_accepted(civilian_application("KAFKA-CIVIL-1")))
    listed = make_envelope(
        make_accepted(
            civilian_application(
                "KAFKA-LISTED-1",
                parties=[{"role": "end_user", "name": "Lockheed Martin Corporation", "country": "US"}],
                route={"final_destination_country": "US"},
            )
        )
    )
    incomplete = make_envelope(
        make_accepted(civilian_application("KAFKA-INC-1"), complete=False, missing=["end_user_certificate"])
    )
    # The civilian one twice: a replayed input must give the same output event id.
    await _publish(screening_kafka, f"{service}{Topics.APPLICATIONS_ACCEPTED}", [civil, listed, incomplete, civil])
    results = await _read(screening_kafka, f"{service}{Topics.SCREENING_COMPLETED}", 4)

    by_ref: dict[str, list[Envelope[Any]]] = {}
    for r in results:
        by_ref.setdefault(r.payload.external_reference, []).append(r)
    assert by_ref["KAFKA-CIVIL-1"][0].payload.route is Route.STANDARD
    assert "SCR-CLASS-ELEMENT" in by_ref["KAFKA-CIVIL-1"][0].payload.rule_ids
    assert {r.event_id for r in by_ref["KAFKA-CIVIL-1"]} == {by_ref["KAFKA-CIVIL-1"][0].event_id}
    assert len(by_ref["KAFKA-CIVIL-1"]) == 2
    denied = by_ref["KAFKA-LISTED-1"][0]
    assert denied.payload.route is Route.DENY
    assert "SCR-PARTY-CONTROL-LIST" in denied.payload.rule_ids
    assert denied.causation_id == listed.event_id and denied.case_id == listed.case_id
    assert by_ref["KAFKA-INC-1"][0].payload.route is Route.INCOMPLETE
    # The HTTP side: readiness names the loaded lists; metrics count screenings by route.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service_env['LANTHANIDE_SCREENING_HTTP_PORT']}") as http:
        # The HTTP server may come up a moment after the consumer on a loaded machine.
        for _ in range(120):
            try:
                ready = (await http.get("/readyz")).json()
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.5)
        metrics = (await http.get("/metrics")).text
    assert "cn-export-control-list" in ready["lists"]
    assert 'lanthanide_screening_screened_total{rescreen="false",route="deny"} 1.0' in metrics


@pytest.fixture
def watch_list(tmp_path: Path, service_env: dict[str, str]) -> Path:
    """An in-house watch list the test edits; the service loads it with the default lists."""
    path = tmp_path / "watch.csv"
    path.write_text("list_id,entry_id,name,name_type,entity_type,country,program\n")
    lists = [*(str(p) for p in default_lists()), str(path)]
    service_env["LANTHANIDE_SCREENING_LISTS"] = json.dumps(lists)
    return path


async def test_list_update_rescreens_open_cases_but_not_closed_ones(
    watch_list: Path,
    service: str,
    screening_kafka: str,
    make_accepted: Callable[..., ApplicationAccepted],
    make_envelope: Callable[..., Envelope[Any]],
) -> None:
    open_case = make_envelope(make_accepted(civilian_application("KAFKA-RESCREEN-OPEN")))
    closed_case = make_envelope(make_accepted(civilian_application("KAFKA-RESCREEN-CLOSED")))
    await _publish(screening_kafka, f"{service}{Topics.APPLICATIONS_ACCEPTED}", [open_case, closed_case])
    first = await _read(screening_kafka, f"{service}{Topics.SCREENING_COMPLETED}", 2)
    assert {r.payload.route for r in first} == {Route.STANDARD}

    factory = EventFactory("review-test")
    decision = DecisionMade(
        decision_id=uuid.uuid4(),
        outcome=DecisionOutcome.DENIED,
        external_reference="KAFKA-RESCREEN-CLOSED",
        exporter_name="x",
        decided_by="auto",
        policy_version="test",
        decided_at=datetime.now(UTC),
    )
    await _publish(
        screening_kafka,
        f"{service}{Topics.DECISIONS}",
        [factory.new("decision.made", decision, case_id=closed_case.case_id)],
    )
    # The decision must be projected before the update arrives (different consumer groups).
    await asyncio.sleep(5)

    watch_list.write_text(
        "list_id,entry_id,name,name_type,entity_type,country,program\n"
        "inhouse-watch,W-7,Antriebstechnik Nord GmbH,primary,organization,DE,KYC\n"
    )
    update = factory.new("reference.updated", ReferenceUpdated(kind="list", list_id="inhouse-watch", version="2"))
    await _publish(screening_kafka, f"{service}{Topics.REFERENCE_UPDATES}", [update])
    results = await _read(screening_kafka, f"{service}{Topics.SCREENING_COMPLETED}", 3, linger_s=3)
    rescreens = [r for r in results if r.payload.is_rescreen]
    assert [r.case_id for r in rescreens] == [open_case.case_id]
    again = rescreens[0]
    # The end user is now on the watch list: its two documents are missing (Regulations Art. 26).
    assert again.payload.route is Route.INCOMPLETE
    assert {"risk_assessment", "compliance_commitment"} <= set(again.payload.missing_documents)
    assert "SCR-PARTY-WATCH-LIST" in again.payload.rule_ids
    assert again.event_id == derived_id(update.event_id, "screening.completed", f"rescreen:{open_case.case_id}")
    assert again.correlation_id == open_case.correlation_id


async def test_review_dispositions_on_kafka_suppress_the_hit_and_keep_it_visible(
    service: str,
    screening_kafka: str,
    make_accepted: Callable[..., ApplicationAccepted],
    make_envelope: Callable[..., Envelope[Any]],
) -> None:
    """disposition.recorded from review reaches every screening instance through its own group;
    the next screening of the party keeps the hit, suppressed, with the disposition and approvers."""

    def listed(ref: str) -> Envelope[Any]:
        return make_envelope(make_accepted(civilian_application(
            ref, parties=[{"role": "end_user", "name": "Lockheed Martin Corporation", "country": "US"}],
            route={"final_destination_country": "US"},
        )))

    first_env = listed("KAFKA-DISP-1")
    await _publish(screening_kafka, f"{service}{Topics.APPLICATIONS_ACCEPTED}", [first_env])
    [first] = [r for r in await _read(screening_kafka, f"{service}{Topics.SCREENING_COMPLETED}", 1)
               if r.case_id == first_env.case_id]
    assert first.payload.route is Route.DENY and first.payload.hits
    factory = EventFactory("review-test")
    recorded = [
        factory.new("disposition.recorded", DispositionRecorded(
            disposition_id=f"kafka-d-{i}", party_name="Lockheed Martin Corporation", party_role=str(h.party_role),
            party_index=h.party_index, list_id=h.list_id, entry_id=h.entry_id, list_version=h.list_version,
            certain=True, reason="test", proposed_by="alice", approved_by=["alice", "carol"],
            expires_on=prc_today() + timedelta(days=30),
        ), case_id=first_env.case_id)
        for i, h in enumerate(first.payload.hits)
    ]
    await _publish(screening_kafka, f"{service}{Topics.DISPOSITIONS}", recorded)
    await asyncio.sleep(5)  # a different consumer group applies them
    second_env = listed("KAFKA-DISP-2")
    await _publish(screening_kafka, f"{service}{Topics.APPLICATIONS_ACCEPTED}", [second_env])
    results = await _read(screening_kafka, f"{service}{Topics.SCREENING_COMPLETED}", 2)
    [second] = [r for r in results if r.case_id == second_env.case_id]
    assert second.payload.route is not Route.DENY and "SCR-PARTY-CONTROL-LIST" not in second.payload.rule_ids
    assert len(second.payload.hits) == len(first.payload.hits) and second.payload.active_hits == []
    assert {h.disposition_id for h in second.payload.hits} == {e.payload.disposition_id for e in recorded}
    assert all(h.suppressed and h.approved_by == ["alice", "carol"] for h in second.payload.hits)
