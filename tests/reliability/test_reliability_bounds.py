"""Outputs stay under Kafka's message limit whatever the input: a hostile submission must not
produce a rejection or a dead-letter record too large to publish (which stalled a partition)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson
from aiokafka import ConsumerRecord
from lanthanide.kafka import DLQ_MAX_ORIGINAL_BYTES, dead_letter_body
from lanthanide.serde import MAX_MESSAGE_BYTES
from lanthanide.testing.factories import civilian_application, padded_application
from lanthanide_intake.domain.intake import MAX_FIELD_ERRORS, Rejected, assess

KAFKA_MESSAGE_LIMIT = 1_048_576  # producer max_request_size and broker message.max.bytes defaults


def _assess(data: object) -> Rejected:
    result = assess(data, received_at=datetime(2026, 1, 5, tzinfo=UTC))
    assert isinstance(result, Rejected)
    return result


def test_thirty_thousand_unknown_fields_make_a_small_rejection_that_says_so() -> None:
    rejected = _assess({f"extra_{i}": i for i in range(30_000)})
    assert len(rejected.payload.model_dump_json()) < 50_000
    assert len(rejected.payload.errors) == MAX_FIELD_ERRORS + 1
    assert rejected.payload.errors[-1].type == "too_many_errors"
    assert int(rejected.payload.errors[-1].message.split()[0]) > 30_000 - MAX_FIELD_ERRORS


def test_a_huge_field_name_is_cut_in_the_error_location() -> None:
    app = civilian_application("BOUNDS-1")
    app["k" * 900_000] = 1
    rejected = _assess(app)
    assert len(rejected.payload.model_dump_json()) < 5_000
    assert rejected.payload.errors[0].loc.startswith("kkk")


def test_dead_letter_of_an_oversized_record_fits_in_a_kafka_message() -> None:
    original = b" " * (MAX_MESSAGE_BYTES + 1)
    record = ConsumerRecord("t", 0, 7, 0, 0, b"k", original, None, 0, len(original), ())
    body = dead_letter_body(record, "too large", "test")
    assert len(body) < KAFKA_MESSAGE_LIMIT
    dead = orjson.loads(body)
    assert dead["original_truncated"] is True and dead["original_bytes"] == len(original)
    assert dead["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert base64.b64decode(dead["original_b64"]) == original[:DLQ_MAX_ORIGINAL_BYTES]


def test_dead_letter_of_a_small_record_keeps_every_byte() -> None:
    record = ConsumerRecord("t", 0, 7, 0, 0, None, b"\xff\xfe garbage", None, 0, 12, ())
    dead = orjson.loads(dead_letter_body(record, "not JSON", "test"))
    assert base64.b64decode(dead["original_b64"]) == b"\xff\xfe garbage"
    assert dead["original_truncated"] is False


def test_the_largest_application_intake_accepts_makes_an_accepted_event_that_fits() -> None:
    from lanthanide.events import EventFactory
    from lanthanide.serde import encode
    from lanthanide_intake.domain.intake import MAX_APPLICATION_BYTES, Accepted

    # Normalising adds the defaults of every item and party: pad the raw input short of the limit.
    app = padded_application("BOUNDS-BIG", MAX_APPLICATION_BYTES - 30_000)
    result = assess(app, received_at=datetime(2026, 11, 20, tzinfo=UTC))
    assert isinstance(result, Accepted), getattr(result.payload, "errors", None)
    assert len(result.payload.application.model_dump_json()) > 0.9 * MAX_APPLICATION_BYTES  # near the limit
    envelope = EventFactory("intake").new("application.accepted", result.payload, case_id=result.case_id)
    assert len(encode(envelope)) < MAX_MESSAGE_BYTES // 2


def test_an_application_over_the_limit_is_rejected_saying_so() -> None:
    from lanthanide_intake.domain.intake import MAX_APPLICATION_BYTES

    rejected = _assess(padded_application("BOUNDS-HUGE", MAX_APPLICATION_BYTES + 20_000))
    assert [e.type for e in rejected.payload.errors] == ["too_large"]
    assert rejected.payload.external_reference == "BOUNDS-HUGE" and rejected.case_id is not None
