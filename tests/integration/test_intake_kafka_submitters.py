"""Kafka submitters are bound to exporters (issue 14, part 3): intake reads each upstream
submitter's own topic, lanthanide.applications.submitted.<submitter>, and takes the submitter
from the topic, never from the payload. A submission, or a resubmission of another submitter's
case, for an exporter the submitter is not bound to is rejected with the rule id; its own go on
to the shared topic (which the audit ledger and case histories read) and are accepted.
Real broker, intake as its own process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.client import LanthanideClient
from lanthanide.settings import KafkaSettings
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application
from lanthanide.testing.processes import ServiceProcess, free_port
from lanthanide.topics import Topics, submitter_topic

pytestmark = [pytest.mark.kafka]

TAG = uuid4().hex[:8]
ERP_A, ERP_B = f"erp-a-{TAG}", f"erp-b-{TAG}"  # topics outlive a run on a shared broker: fresh names
EXPORTER_B = {"role": "exporter", "name": "Baotou Example Magnet Co., Ltd.", "country": "CN",
              "identifiers": {"uscc": "91150200MA0XXXXB2B"}}


@pytest.fixture(scope="module")
def intake(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp: Path = tmp_path_factory.mktemp("intake-submitters")
    exporter_a = civilian_application()["exporter"]
    proc = ServiceProcess("intake", env={
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LANTHANIDE_DATA_DIR": str(tmp),
        "LANTHANIDE_INTAKE_GROUP_ID": f"intake-submitters-{TAG}",
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({uuid4().hex: "t"}),
        # A is bound by exporter name, B by exporter key: both forms of the grant.
        "LANTHANIDE_INTAKE_KAFKA_SUBMITTERS": json.dumps({
            ERP_A: [exporter_a["name"]], ERP_B: [f"uscc:{EXPORTER_B['identifiers']['uscc']}"],
        }),
    }, log_dir=tmp, http_port=free_port()).start()
    proc.wait_http(90)
    yield proc
    assert proc.stop() == 0, proc.log_text()[-3000:]


def _as(kafka_bootstrap: str, submitter: str) -> LanthanideClient:
    return LanthanideClient(settings=KafkaSettings(bootstrap_servers=kafka_bootstrap, submitter=submitter))


def _of(c: TopicCollector, topic: str, ref: str) -> list[Any]:
    return [e for e in c.envelopes(topic) if e.payload.external_reference == ref]


async def test_a_submitter_topic_carries_only_its_own_exporters(intake: ServiceProcess, kafka_bootstrap: str) -> None:
    own = civilian_application(f"A-OWN-{TAG}")
    foreign = civilian_application(f"A-FOR-B-{TAG}", exporter=EXPORTER_B)
    topics = [Topics.APPLICATIONS_SUBMITTED, Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED]
    async with TopicCollector(kafka_bootstrap, topics) as seen:
        async with _as(kafka_bootstrap, ERP_A) as client:
            assert client.submit_topic == submitter_topic(ERP_A)
            receipts = await client.submit_many([own, foreign])
        await seen.wait_for(
            lambda c: _of(c, Topics.APPLICATIONS_ACCEPTED, own["external_reference"])
            and _of(c, Topics.APPLICATIONS_REJECTED, foreign["external_reference"]),
            60, "A's own application accepted and the one for exporter B rejected",
        )
        assert not _of(seen, Topics.APPLICATIONS_ACCEPTED, foreign["external_reference"])
        # The own one went on to the shared topic as it was sent (same event id), the other did not.
        forwarded = _of(seen, Topics.APPLICATIONS_SUBMITTED, own["external_reference"])
        assert [e.event_id for e in forwarded] == [receipts[0].event_id]
        assert not _of(seen, Topics.APPLICATIONS_SUBMITTED, foreign["external_reference"])
        [record] = [r for r in seen.raw(Topics.APPLICATIONS_SUBMITTED) if own["external_reference"].encode() in r.value]
        assert (b"lanthanide_submitter", f"kafka:{ERP_A}".encode()) in [(k.encode(), v) for k, v in record.headers]
        # ... and the intake stage names that stamp, and only it, as the accepted version's submitter.
        [accepted] = _of(seen, Topics.APPLICATIONS_ACCEPTED, own["external_reference"])
        assert accepted.payload.submitted_by == f"kafka:{ERP_A}"
        rejected = _of(seen, Topics.APPLICATIONS_REJECTED, foreign["external_reference"])[0].payload
        assert [(e.loc, e.type, e.rule_id) for e in rejected.errors] == [
            ("exporter", "exporter_not_authorised", "INT-SUBMITTER-EXPORTER")]
        assert ERP_A in rejected.errors[0].message
        assert rejected.contact is None  # the sender's text is told nothing


async def test_another_submitters_case_cannot_be_resubmitted(intake: ServiceProcess, kafka_bootstrap: str) -> None:
    ref = f"B-CASE-{TAG}"
    original = civilian_application(ref, exporter=EXPORTER_B)
    takeover = civilian_application(ref, exporter=EXPORTER_B,
                                    contact={"email": "attacker@example.org", "webhook_url": None})
    async with TopicCollector(kafka_bootstrap, [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED]) as seen:
        async with _as(kafka_bootstrap, ERP_B) as client:
            [receipt] = await client.submit_many([original])
        await seen.wait_for(lambda c: _of(c, Topics.APPLICATIONS_ACCEPTED, ref), 60, "B's case accepted")
        async with _as(kafka_bootstrap, ERP_A) as client:
            [again] = await client.submit_many([takeover])
        assert again.case_id == receipt.case_id  # case ids are computable: the same case
        await seen.wait_for(lambda c: _of(c, Topics.APPLICATIONS_REJECTED, ref), 60, "A's resubmission rejected")
        rejection = _of(seen, Topics.APPLICATIONS_REJECTED, ref)[0]
        assert rejection.case_id is None  # not filed under B's case, nor told to B's subscribers
        assert rejection.payload.exporter_name is None and rejection.causation_id == again.event_id
        assert rejection.payload.errors[0].rule_id == "INT-SUBMITTER-EXPORTER"
        accepted = _of(seen, Topics.APPLICATIONS_ACCEPTED, ref)
        assert len(accepted) == 1
        assert accepted[0].payload.application.contact.email is None  # the case kept its own contact
