"""The Kafka stage: every record of every topic appended to the ledger, then the batch committed.

lanthanide.kafka.register_stage hands handlers envelopes without their topic, partition and
offset, which the ledger records; and audit produces no events. So audit uses the same
consumer shape (lanthanide.kafka.batch_subscriber: commit after the durable write; a failed
append rewinds) with its own batch handler.
read_committed: events of an aborted Kafka transaction never happened and are not recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import orjson
from faststream.kafka import KafkaBroker
from lanthanide import metrics, observe
from lanthanide.conflicts import report_conflict
from lanthanide.kafka import batch_subscriber
from lanthanide.logging import get_logger
from lanthanide.settings import KafkaSettings

from lanthanide_audit import SERVICE
from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.domain.ledger import UNDECODABLE
from lanthanide_audit.domain.records import entry_from_record

log = get_logger(__name__)


@dataclass
class StageStats:
    """Counters of one audit process (records read, entries appended) for health and tests."""

    received: int = 0
    appended: int = 0
    undecodable: int = 0
    conflicts: int = 0


async def append_records(store: LedgerStore, records: Sequence[Any], stats: StageStats) -> int:
    """Append one Kafka batch's records (anything with value, topic, partition, offset) to the
    ledger; returns how many entries were new. The subscriber and bench/cpu_audit.py share it."""
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


def _traced(records: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(record, envelope ids) of the records that carry ids, for their spans. A light parse
    (no payload validation: the ledger records every record, decodable or not)."""
    pairs = []
    for record in records:
        try:
            data = orjson.loads(record.value or b"")
            ids = SimpleNamespace(
                event_id=UUID(str(data["event_id"])), correlation_id=UUID(str(data["correlation_id"])),
                case_id=data.get("case_id"), event_type=str(data.get("event_type")),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            continue
        pairs.append((record, ids))
    return pairs


def register_audit_stage(
    broker: KafkaBroker,
    store: LedgerStore,
    *,
    topics: list[str],
    group_id: str,
    kafka: KafkaSettings,
    stats: StageStats,
) -> Any:
    """Subscribe the ledger to `topics` as consumer group `group_id`."""

    @batch_subscriber(broker, topics, group_id=group_id, service=SERVICE, settings=kafka,
                      isolation_level="read_committed", title=f"{SERVICE}:all-topics")
    async def on_batch(records: Any) -> None:
        with observe.handling_batch(SERVICE, _traced(records)):
            await append_records(store, records, stats)

    return on_batch
