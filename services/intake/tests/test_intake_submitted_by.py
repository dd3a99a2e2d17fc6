"""application.accepted names who submitted it (issue 14, part 3): from the record header intake
stamped on the shared topic, never from the payload, so only the case's first submitter changes
its contact downstream (rule SUB-CONTACT-OWNER)."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka import ConsumerRecord
from lanthanide.contracts import Application
from lanthanide.events import EventFactory
from lanthanide.kafka import Input, per_record
from lanthanide.serde import DecodeError, encode
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics
from lanthanide_intake.entrypoints.stage import IntakeStage


def _record(value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic=Topics.APPLICATIONS_SUBMITTED, partition=0, offset=7, timestamp=1_780_000_000_000,
                          timestamp_type=0, key=None, value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=headers)


async def _accepted_through_the_stage(headers: list[tuple[str, bytes]]) -> Any:
    """The stage as register_stage runs it: the handler sees the envelope, the header is the record's."""
    app = Application.model_validate(civilian_application("SUB-BY-1"))
    envelope = EventFactory("intake").new("application.submitted", app)
    record = _record(encode(envelope), headers)
    handle_batch = per_record(IntakeStage(EventFactory("intake")).on_envelope, "intake")
    result = await handle_batch([Input(envelope, record.topic, record.partition, record.offset, record)])
    assert not result.failures
    [out] = result.outgoing
    assert out.topic == Topics.APPLICATIONS_ACCEPTED
    return out.envelope.payload


async def test_submitted_by_is_the_stamp_on_the_record() -> None:
    accepted = await _accepted_through_the_stage([("lanthanide_submitter", b"api-key:erp-a")])
    assert accepted.submitted_by == "api-key:erp-a"


async def test_no_stamp_no_submitter() -> None:
    assert (await _accepted_through_the_stage([("traceparent", b"00-x")])).submitted_by is None


async def test_the_payload_never_names_the_submitter() -> None:
    """An application whose payload claims a submitter is not accepted with that claim: the
    Application forbids the field, and the salvage path takes the submitter from the header too."""
    stage = IntakeStage(EventFactory("intake"))
    data = civilian_application("SUB-BY-2")
    data["submitted_by"] = "api-key:someone-else"
    body = orjson.dumps({"event_type": "application.submitted", "payload": data})
    [out] = await stage.on_undecodable(_record(body, [("lanthanide_submitter", b"kafka:erp-a")]),
                                       DecodeError("invalid envelope"))
    assert "someone-else" not in out.envelope.model_dump_json()
    # A valid application in an envelope that did not decode: accepted, with the header's submitter.
    clean = civilian_application("SUB-BY-3")
    body = orjson.dumps({"event_type": "application.submitted", "payload": clean})
    [out] = await stage.on_undecodable(_record(body, [("lanthanide_submitter", b"kafka:erp-a")]),
                                       DecodeError("invalid envelope"))
    assert out.topic == Topics.APPLICATIONS_ACCEPTED
    assert out.envelope.payload.submitted_by == "kafka:erp-a"
