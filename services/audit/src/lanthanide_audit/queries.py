"""Read-side use cases over the ledger: a case's timeline, chain verification, exports."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import orjson

from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.domain.ledger import ChainVerifier, VerifyReport
from lanthanide_audit.domain.timeline import Timeline, build_timeline


async def case_timeline(store: LedgerStore, case_id: str) -> Timeline:
    """The timeline of one case, causes before effects, with causation links checked."""
    return build_timeline(case_id, await store.case_entries(case_id))


async def verify(store: LedgerStore) -> VerifyReport:
    """Walk the whole chain; also check it ends where the recorded head says (no rows cut off),
    and fail, naming them, if any event id was seen with two different payloads."""
    verifier = ChainVerifier()
    async for entry in store.walk():
        if not verifier.feed(entry):
            break
    else:
        verifier.check_head(*await store.head())
    return replace(verifier.report(), conflicts=tuple(await store.conflict_ids()))


TIMELINE_COLUMNS = ("seq", "occurred_at", "event_type", "producer", "topic", "event_id",
                    "causation_id", "causation", "facts")


def export_json(timeline: Timeline) -> str:
    """The timeline as a JSON document for an auditor."""
    return orjson.dumps({
        "case_id": timeline.case_id,
        "causation_ok": timeline.causation_ok,
        "steps": [s.as_dict() for s in timeline.steps],
    }, option=orjson.OPT_INDENT_2).decode()


def export_csv(timeline: Timeline) -> str:
    """The timeline as CSV, one row per step; facts as a JSON cell."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(TIMELINE_COLUMNS)
    for s in timeline.steps:
        d = s.as_dict()
        d["facts"] = orjson.dumps(s.facts, option=orjson.OPT_SORT_KEYS).decode()
        writer.writerow([d[c] if d[c] is not None else "" for c in TIMELINE_COLUMNS])
    return buf.getvalue()
