"""Intake takes the envelope decoder's validated Application as it is (no second validation),
and that gives exactly the outcome validating the raw submission gives."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from lanthanide.contracts import Application
from lanthanide.serde import decode
from lanthanide.testing.factories import civilian_application
from lanthanide_intake.domain.intake import Accepted, assess

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def _messy() -> dict[str, object]:
    data = civilian_application("PO-PREVALIDATED")
    data["parties"][0]["country"] = "Germany"
    data["items"][0]["unit"] = "KGS"
    data["items"][0]["currency"] = "usd"
    data["exporter"]["name"] = "  Ganzhou   Rare Earth\tMagnetics Co., Ltd. "
    return data


def test_a_decoded_application_is_assessed_like_the_raw_submission() -> None:
    raw = _messy()
    envelope = decode(orjson.dumps({
        "event_id": "6f1b9a3e-1d4c-4f7a-9a53-0c1f1f7b2a11", "event_type": "application.submitted",
        "schema_version": 1, "case_id": None, "correlation_id": "6f1b9a3e-1d4c-4f7a-9a53-0c1f1f7b2a11",
        "causation_id": None, "occurred_at": NOW.isoformat(),
        "producer": {"service": "client:test", "version": "1"}, "payload": raw,
    }))
    assert isinstance(envelope.payload, Application)
    from_model = assess(envelope.payload, received_at=NOW)
    from_dict = assess(raw, received_at=NOW)
    assert isinstance(from_model, Accepted) and isinstance(from_dict, Accepted)
    assert from_model.case_id == from_dict.case_id
    assert from_model.payload.model_dump() == from_dict.payload.model_dump()
    assert from_model.payload.application.parties[0].country == "DE"
    assert from_model.payload.application.exporter.name == "Ganzhou Rare Earth Magnetics Co., Ltd."
