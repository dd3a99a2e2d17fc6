"""Audit's use case: every record of every business topic appended to the ledger (cosmicpython's
handlers.py).

Audit does not decode what it records: the ledger keeps every record, undecodable ones too, with
its topic, partition and offset. So `EVENT_HANDLERS` has one key, the raw Kafka record
(`RawRecord`), whose route names every business topic of the catalogue and the use case
`append_records`; the stage (entrypoints/stage.py) subscribes to `input_topics()` (and
`settings.topics(input_topics())`, prefixed), derived from it. No broker, database or HTTP library
is imported here: the store is handed in by bootstrap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from lanthanide import metrics
from lanthanide.conflicts import report_conflict
from lanthanide.logging import get_logger
from lanthanide.topics import Topics

from lanthanide_audit import SERVICE
from lanthanide_audit.domain.ledger import UNDECODABLE
from lanthanide_audit.domain.records import entry_from_record

if TYPE_CHECKING:  # handed in by bootstrap; the service layer does not import the adapter
    from lanthanide_audit.adapters.store import LedgerStore

log = get_logger(__name__)


class RawRecord(Protocol):
    """A Kafka record as the broker hands it, undecoded (aiokafka's ConsumerRecord is one)."""

    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass
class StageStats:
    """Counters of one audit process (records read, entries appended) for health and tests."""

    received: int = 0
    appended: int = 0
    undecodable: int = 0
    conflicts: int = 0


async def append_records(store: LedgerStore, records: Sequence[RawRecord], stats: StageStats) -> int:
    """Append one Kafka batch's records (anything with value, topic, partition, offset) to the
    ledger; returns how many entries were new. The stage and bench/cpu_audit.py share it."""
    entries = [
        entry_from_record(r.value or b"", r.topic, r.partition, r.offset) for r in records
    ]
    appended, conflicts = await store.append_checked(entries)
    metrics.LEDGER_ENTRIES.inc(appended)
    for c in conflicts:
        report_conflict(SERVICE, c.id_kind, c.conflict_id, topic=c.entry.topic, case_id=c.entry.case_id,
                        first=c.first_fingerprint, second=c.fingerprint)
    stats.conflicts += len(conflicts)
    stats.received += len(entries)
    stats.appended += appended
    stats.undecodable += sum(1 for e in entries if e.event_type == UNDECODABLE)
    log.debug("ledger_appended", received=len(entries), appended=appended)
    return appended


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Route:
    """The catalogue topics a record type is read from and the use case that handles a batch of them."""

    topics: tuple[str, ...]
    handler: Callable[[LedgerStore, Sequence[RawRecord], StageStats], Awaitable[int]]


#: Every business topic of the catalogue: dead-letter topics are not business events, and audit's
#: own checkpoints are not either (they describe the ledger, they are not in it).
EVERY_BUSINESS_TOPIC: tuple[str, ...] = tuple(t for t in Topics.all() if t != Topics.AUDIT_CHECKPOINTS)

#: record type -> route: audit takes every record of every business topic, raw.
EVENT_HANDLERS: dict[type, Route] = {
    RawRecord: Route(EVERY_BUSINESS_TOPIC, append_records),
}


def input_topics() -> list[str]:
    """The catalogue topics audit consumes, from EVENT_HANDLERS (unprefixed)."""
    return list(dict.fromkeys(t for route in EVENT_HANDLERS.values() for t in route.topics))
