"""Read models over the ledger (cosmicpython's views.py): a case's timeline, the chain's verify
report, the timeline's exports. The CLI and the HTTP API both answer from here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.domain import checkpoints as cps
from lanthanide_audit.domain.checkpoints import Checkpoint
from lanthanide_audit.domain.ledger import ChainVerifier, LedgerKey, VerifyReport

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from lanthanide_audit.domain.timeline import Timeline, build_timeline


async def case_timeline(store: LedgerStore, case_id: str) -> Timeline:
    """The timeline of one case, causes before effects, with causation links checked."""
    return build_timeline(case_id, await store.case_entries(case_id))


async def verify(
    store: LedgerStore,
    keys: Iterable[LedgerKey] | None = None,
    checkpoints: Iterable[Checkpoint] = (),
    public_keys: Iterable[Ed25519PublicKey] = (),
) -> VerifyReport:
    """Walk the whole chain checking each MAC with the trusted `keys` (default: the store's own
    key); also check it ends where the recorded head says (no rows cut off), that it agrees with
    every signed checkpoint (the given ones, e.g. read from the audit.checkpoints topic, and the
    ones stored beside the ledger; only those signed by one of `public_keys` count), and fail,
    naming them, if any event id was seen with two different payloads."""
    trusted_keys = list(keys) if keys is not None else ([store.key] if store.key is not None else [])
    public = list(public_keys)
    signed: list[Checkpoint] = []
    if public:
        signed, _forged = cps.trusted([*checkpoints, *await store.checkpoints()], public)
    verifier = ChainVerifier(trusted_keys, watch={cp.position for cp in signed})
    async for entry in store.walk():
        if not verifier.feed(entry):
            break
    else:
        verifier.check_head(*await store.head())
    report = verifier.report()
    if report.broken is None and signed:
        report = replace(report, broken=cps.compare(signed, verifier.checked, verifier.seen))
    return replace(report, conflicts=tuple(await store.conflict_ids()), checkpoints=len(signed),
                   checkpoint_position=max((cp.position for cp in signed), default=0))


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
