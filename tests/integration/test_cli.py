"""The `lanthanide` CLI against a real broker: submit, reference updates, input formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics
from lanthanide_cli.main import read_applications

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run([sys.executable, "-m", "lanthanide_cli", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_object_array_and_json_lines_are_read(tmp_path: Path) -> None:
    a, b = civilian_application("A-1"), civilian_application("B-2")
    (tmp_path / "one.json").write_text(json.dumps(a, indent=2))
    (tmp_path / "many.json").write_text(json.dumps([a, b]))
    (tmp_path / "lines.jsonl").write_text(json.dumps(a) + "\n\n" + json.dumps(b) + "\n")
    assert [x["external_reference"] for x in read_applications(tmp_path / "one.json")] == ["A-1"]
    assert [x["external_reference"] for x in read_applications(tmp_path / "many.json")] == ["A-1", "B-2"]
    assert [x["external_reference"] for x in read_applications(tmp_path / "lines.jsonl")] == ["A-1", "B-2"]


@pytest.mark.kafka
async def test_submit_prints_reference_and_case_id_and_publishes(kafka_bootstrap: str) -> None:
    async with TopicCollector(kafka_bootstrap, [Topics.APPLICATIONS_SUBMITTED]) as seen:
        out = _cli("submit", str(REPO / "examples" / "applications.jsonl"), bootstrap=kafka_bootstrap)
        assert out.returncode == 0, out.stderr
        lines = [line.split("\t") for line in out.stdout.splitlines()]
        refs = [json.loads(x)["external_reference"] for x in (REPO / "examples" / "applications.jsonl").open()]
        assert [line[0] for line in lines] == refs
        invalid = [line for line in lines if line[1].startswith("invalid")]
        assert len(invalid) == 1 and "items.0.unit" in invalid[0][1]
        case_ids = {line[1] for line in lines if not line[1].startswith("invalid")}
        await seen.wait_for(
            lambda c: case_ids <= {str(e.case_id) for e in c.envelopes(Topics.APPLICATIONS_SUBMITTED)},
            60, "the submitted events",
        )


@pytest.mark.kafka
async def test_submit_as_a_submitter_publishes_to_its_own_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    from uuid import uuid4

    from lanthanide.kafka import ensure_topics
    from lanthanide.settings import KafkaSettings
    from lanthanide.topics import submitter_topic

    name = f"cli-erp-{uuid4().hex[:6]}"
    topic = submitter_topic(name)
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka_bootstrap), [topic])
    ref = f"CLI-SUB-{uuid4().hex[:6]}"
    (tmp_path / "one.json").write_text(json.dumps(civilian_application(ref)))
    async with TopicCollector(kafka_bootstrap, [topic]) as seen:
        out = _cli("submit", "--submitter", name, str(tmp_path / "one.json"), bootstrap=kafka_bootstrap)
        assert out.returncode == 0, out.stderr
        await seen.wait_for(lambda c: [e for e in c.envelopes(topic) if e.payload.external_reference == ref],
                            60, "the submission on the submitter's own topic")


@pytest.mark.kafka
async def test_reference_update_is_announced(kafka_bootstrap: str) -> None:
    async with TopicCollector(kafka_bootstrap, [Topics.REFERENCE_UPDATES]) as seen:
        out = _cli("reference", "updated", "--kind", "list", "--list-id", "prc-control",
                   "--version", "2026-11-29", bootstrap=kafka_bootstrap)
        assert out.returncode == 0, out.stderr
        event_id = out.stdout.strip()
        await seen.wait_for(lambda c: any(str(e.event_id) == event_id for e in c.envelopes()), 60, "the update")
        (update,) = [e for e in seen.envelopes() if str(e.event_id) == event_id]
        assert update.payload.kind == "list" and update.payload.list_id == "prc-control"
    bad = _cli("reference", "updated", "--kind", "nonsense", "--version", "1", bootstrap=kafka_bootstrap)
    assert bad.returncode == 2 and "kind must be" in bad.stderr


def _dead_letter(topic: str, value: bytes, key: bytes, error: str, offset: int) -> bytes:
    from types import SimpleNamespace

    from lanthanide.kafka import dead_letter_body

    record = SimpleNamespace(topic=topic, partition=0, offset=offset, key=key, value=value, timestamp=0)
    return dead_letter_body(record, error, "review")  # type: ignore[arg-type]


@pytest.mark.kafka
async def test_shipment_report_and_dead_letters_list_and_replay(kafka_bootstrap: str) -> None:
    from uuid import uuid4

    from aiokafka import AIOKafkaProducer
    from lanthanide.kafka import ensure_topics
    from lanthanide.settings import KafkaSettings
    from lanthanide.topics import dlq

    topic = Topics.SHIPMENTS_REPORTED
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka_bootstrap), [topic, dlq(topic)])
    marker = uuid4().hex
    async with TopicCollector(kafka_bootstrap, [topic]) as seen:
        out = _cli("shipment", "report", "--licence", f"L-{marker[:8]}", "--quantity", "12.5", "--unit", "kg",
                   "--end-user", "Example GmbH", "--end-user-country", "de", "--shipped-on", "2026-12-01",
                   bootstrap=kafka_bootstrap)
        assert out.returncode == 0, out.stderr
        shipment_id = out.stdout.strip()
        await seen.wait_for(lambda c: any(getattr(e.payload, "shipment_id", None) == shipment_id
                                          for e in c.envelopes(topic)), 60, "the shipment")
        (reported,) = [e for e in seen.envelopes(topic) if e.payload.shipment_id == shipment_id]
        assert str(reported.payload.quantity) == "12.5" and reported.payload.end_user_country == "DE"
        original = next(c.record.value for c in seen.items if c.envelope is reported)

        # A dead letter of that very record, and one that kept only a prefix of its original.
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(dlq(topic), _dead_letter(topic, original, b"k1", f"err {marker}", 7))
            big = _dead_letter(topic, b"x" * 300_000, b"k2", f"big {marker}", 8)
            await producer.send_and_wait(dlq(topic), big)
        finally:
            await producer.stop()

        listed = _cli("dead-letters", "list", "--topic", topic, bootstrap=kafka_bootstrap)
        assert listed.returncode == 0, listed.stderr
        mine = {line.split("\t")[-1].split()[0]: line.split("\t") for line in listed.stdout.splitlines()
                if marker in line}
        assert set(mine) == {"err", "big"}
        assert mine["err"][1] == f"{topic}:0:7" and mine["err"][2] == "review"
        assert "(truncated)" in mine["big"][3]
        offset_of = {k: v[0].rsplit(":", 1)[1] for k, v in mine.items()}
        # The two dead letters may sit on different partitions at the same offset: name both.
        partition_of = {k: v[0].rsplit(":", 2)[1] for k, v in mine.items()}

        refused = _cli("dead-letters", "replay", topic, "--offset", offset_of["big"],
                       "--partition", partition_of["big"], bootstrap=kafka_bootstrap)
        assert refused.returncode == 2 and "kept only part of the original" in refused.stderr

        before = sum(1 for c in seen.items if c.record.value == original)
        replayed = _cli("dead-letters", "replay", f"{topic}.dlq", "--offset", offset_of["err"],
                        "--partition", partition_of["err"], bootstrap=kafka_bootstrap)
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.strip() == f"replayed 1 record(s) to {topic}"
        await seen.wait_for(lambda c: any(x.record.value == original and x.record.key == b"k1" for x in c.items),
                            60, "the replayed record, with the dead letter's key")
        assert sum(1 for c in seen.items if c.record.value == original) > before


@pytest.mark.kafka
async def test_rejections_are_listed_with_their_fields(kafka_bootstrap: str) -> None:
    from uuid import uuid4

    from lanthanide.client import LanthanideClient
    from lanthanide.contracts import ApplicationRejected
    from lanthanide.contracts.events import FieldError
    from lanthanide.events import EventFactory

    ref = f"REJ-{uuid4().hex[:10]}"
    payload = ApplicationRejected(external_reference=ref, errors=[
        FieldError(loc="items.0.unit", message="unknown unit 'bushel'", type="value_error"),
        FieldError(loc="parties", message="the exporter is not a party", type="value_error"),
    ])
    async with LanthanideClient(kafka_bootstrap) as client:
        await client.publish(Topics.APPLICATIONS_REJECTED, EventFactory("test").new("application.rejected", payload))
    out = _cli("rejections", bootstrap=kafka_bootstrap)
    assert out.returncode == 0, out.stderr
    (line,) = [x for x in out.stdout.splitlines() if x.startswith(ref + "\t")]
    assert line.split("\t")[2] == "items.0.unit: unknown unit 'bushel'; parties: the exporter is not a party"
