"""One envelope builder and one header mapping, whichever form the sender holds (issue 11).

The client and the load generators build envelopes as JSON (`envelope_json`); stages publish
models (`headers_of`) and the outbox relays encoded rows (`encoded_headers_of`). A record's
headers must not depend on which of them sent it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import orjson
from lanthanide.client import _headers as client_headers
from lanthanide.cloudevents import json_record_headers
from lanthanide.contracts.envelope import envelope_json
from lanthanide.kafka import encoded_headers_of, headers_of
from lanthanide.serde import decode, encode
from lanthanide.testing.factories import civilian_application, submitted_record


def test_envelope_json_decodes_as_the_envelope_it_describes() -> None:
    event_id, case_id = uuid4(), uuid4()
    raw = envelope_json("application.submitted", civilian_application(), event_id=event_id, case_id=case_id,
                        producer={"service": "client:test", "version": "1"},
                        occurred_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    env = decode(orjson.dumps(raw))
    assert (env.event_id, env.case_id, env.correlation_id, env.causation_id) == (event_id, case_id, event_id, None)
    assert env.producer.service == "client:test"
    assert env.occurred_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert env.payload.external_reference == "PO-2026-0001"


def _same_instant(headers: dict[str, str]) -> dict[str, object]:
    # ce_time is RFC 3339 either way: "+00:00" from a model, "Z" from the envelope's JSON.
    return {**headers, "ce_time": datetime.fromisoformat(headers["ce_time"])}


def test_every_sender_writes_the_same_headers_for_one_envelope() -> None:
    _key, value = submitted_record(civilian_application())
    env = decode(value)
    model = headers_of(env)
    encoded = encoded_headers_of(orjson.loads(encode(env)))
    assert _same_instant(model) == _same_instant(encoded)
    assert model["ce_id"] == str(env.event_id) and model["ce_subject"] == str(env.case_id)
    assert "traceparent" in model
    # The slim client writes the CloudEvents headers without the service-side trace context.
    cloud = _same_instant({k: v for k, v in model.items() if k != "traceparent"})
    assert _same_instant(json_record_headers(orjson.loads(value))) == cloud
    assert _same_instant({k: v.decode() for k, v in client_headers(orjson.loads(value))}) == cloud
