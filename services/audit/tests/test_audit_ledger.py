"""Unit tests of the hash chain and the timeline (pure domain, no broker, no database)."""

from __future__ import annotations

import dataclasses
from typing import Any

from lanthanide.serde import encode
from lanthanide.topics import Topics
from lanthanide_audit.domain.ledger import GENESIS, ChainVerifier, LedgerEntry, chain, verify_entries
from lanthanide_audit.domain.records import entry_from_record
from lanthanide_audit.domain.timeline import build_timeline


def ledger_of(story: list[tuple[str, Any]]) -> list[LedgerEntry]:
    entries = [entry_from_record(encode(e), t, 0, i) for i, (t, e) in enumerate(story)]
    return chain(entries, 0, GENESIS)


def test_an_intact_chain_verifies(story: list[tuple[str, Any]]) -> None:
    report = verify_entries(ledger_of(story))
    assert report.ok and report.checked == len(story)


def test_an_altered_payload_a_removed_row_and_a_moved_row_are_each_caught(story: list[tuple[str, Any]]) -> None:
    rows = ledger_of(story)
    altered = [*rows[:2], dataclasses.replace(rows[2], canonical=rows[2].canonical.replace(b"standard", b"enhanced")),
               *rows[3:]]
    assert altered[2].canonical != rows[2].canonical
    report = verify_entries(altered)
    assert report.broken is not None and report.broken.seq == 3 and "altered" in report.broken.reason

    removed = verify_entries([*rows[:3], *rows[4:]])
    assert removed.broken is not None and removed.broken.seq == 5 and "removed" in removed.broken.reason

    moved = verify_entries([*rows[:1], dataclasses.replace(rows[1], topic=Topics.DECISIONS), *rows[2:]])
    assert moved.broken is not None and moved.broken.seq == 2


def test_an_indexed_column_that_disagrees_with_the_hashed_bytes_is_caught(story: list[tuple[str, Any]]) -> None:
    rows = ledger_of(story)
    rows[3] = dataclasses.replace(rows[3], case_id="00000000-0000-0000-0000-000000000000")
    report = verify_entries(rows)
    assert report.broken is not None and report.broken.seq == 4 and "case_id" in report.broken.reason


def test_cutting_rows_off_the_end_is_caught_against_the_head(story: list[tuple[str, Any]]) -> None:
    rows = ledger_of(story)
    verifier = ChainVerifier()
    for r in rows[:-2]:
        assert verifier.feed(r)
    verifier.check_head(rows[-1].seq, rows[-1].hash)
    assert verifier.broken is not None and "removed from the end" in verifier.broken.reason


def test_undecodable_records_are_kept_with_a_position_derived_id() -> None:
    one = entry_from_record(b"\xff not json", Topics.APPLICATIONS_SUBMITTED, 2, 17)
    again = entry_from_record(b"\xff not json", Topics.APPLICATIONS_SUBMITTED, 2, 17)
    other = entry_from_record(b"\xff not json", Topics.APPLICATIONS_SUBMITTED, 2, 18)
    assert one.event_type == "undecodable" and one.error and "JSON" in one.error
    assert one.event_id == again.event_id != other.event_id


def test_timeline_puts_causes_first_even_when_read_out_of_order(story: list[tuple[str, Any]]) -> None:
    # Kafka gives no order across topics: the decision may be read before the screening.
    shuffled = [story[4], story[0], story[5], story[2], story[1], story[3]]
    rows = ledger_of(shuffled)
    case_id = str(story[1][1].case_id)
    timeline = build_timeline(case_id, rows)
    assert [s.event_type for s in timeline.steps][:3] == [
        "application.submitted", "application.accepted", "screening.completed"]
    assert timeline.causation_ok

    without_screening = [r for r in rows if r.event_type != "screening.completed"]
    broken = build_timeline(case_id, without_screening)
    assert not broken.causation_ok
    assert [s.event_type for s in broken.steps if s.causation == "missing"] == ["case.event"]
