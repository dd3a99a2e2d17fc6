"""The light parse records what the full pydantic decode would; the SQLite append stays idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from lanthanide.serde import MAX_MESSAGE_BYTES, encode
from lanthanide.topics import Topics
from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.domain.ledger import UNDECODABLE, canonical_bytes
from lanthanide_audit.domain.records import entry_from_record, full_entry, light_entry
from lanthanide_audit.views import verify


def _variant(env: Any, **changes: Any) -> bytes:
    data = orjson.loads(encode(env))
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return orjson.dumps(data)


def test_valid_events_give_the_same_entry_as_the_full_decode(story: list[tuple[str, Any]]) -> None:
    for i, (topic, env) in enumerate(story):
        raw = encode(env)
        assert entry_from_record(raw, topic, 1, i) == full_entry(raw, topic, 1, i)
    # Every type the services publish takes the light path (the submission is validated in full).
    light = [t for t, e in story if light_entry(orjson.loads(encode(e)), b"", t, 0, 0) is not None]
    assert Topics.APPLICATIONS_SUBMITTED not in light and len(light) == len(story) - 1


@pytest.mark.parametrize("changes", [
    {"event_id": "0F8E3C2A-1111-4222-8333-444455556666"},           # upper case: pydantic accepts
    {"case_id": "{0f8e3c2a-1111-4222-8333-444455556666}"},          # braces: pydantic accepts
    {"causation_id": "0f8e3c2a111142228333444455556666"},           # no hyphens: pydantic accepts
    {"occurred_at": "2026-11-29T17:50:13+02:00"},
    {"occurred_at": "2026-11-29T17:50:13.5Z"},
    {"occurred_at": "2026-11-29T17:50:13.000000Z"},
    {"occurred_at": "2026-11-29T17:50:13-00:00"},
    {"occurred_at": "2026-11-29 17:50:13Z"},
    {"occurred_at": "2026-11-29T17:50:13"},                          # naive: refused
    {"occurred_at": "2026-02-30T17:50:13Z"},                         # no such day: refused
    {"schema_version": "1"},
    {"schema_version": 1.0},
    {"schema_version": ...},
    {"producer": {"service": "review", "version": 1}},
    {"producer": {"service": "review", "version": "1", "instance": 3}},
    {"producer": "review@1"},
    {"event_id": "not-a-uuid"},
    {"correlation_id": None},
    {"case_id": ...},
    {"event_type": "decision.unknown"},
    {"payload": None},
    {"payload": ...},
])
def test_unusual_envelopes_are_recorded_exactly_as_the_full_decode_records_them(
    story: list[tuple[str, Any]], changes: dict[str, Any]
) -> None:
    topic, env = story[4]  # decision.made
    raw = _variant(env, **changes)
    assert entry_from_record(raw, topic, 0, 9) == full_entry(raw, topic, 0, 9)


@pytest.mark.parametrize("raw", [
    b"\xff not json", b"[1, 2]", b'"text"', b"{}", b'{"event_type": "decision.made"}',
    b" " * (MAX_MESSAGE_BYTES + 1),
])
def test_undecodable_records_are_still_recorded_as_undecodable(raw: bytes) -> None:
    entry = entry_from_record(raw, Topics.DECISIONS, 0, 3)
    assert entry.event_type == UNDECODABLE and entry.error
    assert entry == full_entry(raw, Topics.DECISIONS, 0, 3)


def test_an_invalid_submission_is_still_undecodable_with_its_reason(story: list[tuple[str, Any]]) -> None:
    topic, env = story[0]
    data = orjson.loads(encode(env))
    data["payload"]["route"]["destination_country"] = "Atlantis"
    raw = orjson.dumps(data)
    entry = entry_from_record(raw, topic, 0, 1)
    assert entry.event_type == UNDECODABLE and "country" in (entry.error or "")
    assert entry == full_entry(raw, topic, 0, 1)


def test_a_service_event_with_a_bad_payload_is_recorded_under_its_type(story: list[tuple[str, Any]]) -> None:
    """The one documented difference: the payload of an event a service published is not
    validated again (the consuming service dead-letters it); its bytes are hashed as ever."""
    topic, env = story[4]
    raw = _variant(env, payload={"outcome": "maybe"})
    entry = entry_from_record(raw, topic, 0, 2)
    assert entry.event_type == "decision.made" and entry.error is None
    assert entry.canonical == canonical_bytes(orjson.loads(raw))
    assert full_entry(raw, topic, 0, 2).event_type == UNDECODABLE


async def test_sqlite_append_is_idempotent_and_two_stores_extend_one_chain(
    tmp_path: Path, story: list[tuple[str, Any]]
) -> None:
    entries = [entry_from_record(encode(e), t, 0, i) for i, (t, e) in enumerate(story)]
    entries.append(entry_from_record(b"garbage", Topics.DECISIONS, 0, 99))
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    a, b = LedgerStore.from_url(url), LedgerStore.from_url(url)
    await a.create_schema()
    await b.create_schema()
    try:
        assert await a.append(entries[:4] + entries[:2]) == 4   # duplicates within a batch
        assert await b.append(entries[2:]) == len(entries) - 4   # overlapping redelivery
        assert await a.append(entries) == 0
        assert await a.count() == len(entries)
        report = await verify(b)
        assert report.ok and report.checked == len(entries)
        stored = [e async for e in a.walk()]
        assert [e.event_id for e in stored] == [e.event_id for e in entries]
        assert [e.canonical for e in stored] == [e.canonical for e in entries]
        assert stored[-1].event_type == UNDECODABLE and stored[-1].error
    finally:
        await a.close()
        await b.close()
