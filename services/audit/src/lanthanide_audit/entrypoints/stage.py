"""The Kafka stage: every record of every topic appended to the ledger, then the batch committed.

The topics and the use case are the registry's (service_layer/handlers.py EVENT_HANDLERS).

A raw batch stage of lanthanide.kafka (`register_batch_stage(raw=True)`): the ledger records
every record, undecodable ones too, with its topic, partition and offset, so the runner hands
it the records undecoded; audit produces no events and fails no record. The offsets are
committed after the durable write (a failed append rewinds the batch).
read_committed: events of an aborted Kafka transaction never happened and are not recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import orjson
from faststream.kafka import KafkaBroker
from lanthanide import observe
from lanthanide.kafka import BatchHandler, BatchResult, Input, register_batch_stage
from lanthanide.logging import get_logger
from lanthanide.settings import KafkaSettings

from lanthanide_audit import SERVICE
from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.service_layer.handlers import EVENT_HANDLERS, RawRecord, StageStats

log = get_logger(__name__)


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


def audit_stage(store: LedgerStore, stats: StageStats) -> BatchHandler:
    """The raw batch stage: the batch's records to the use case of the registry
    (service_layer/handlers.py EVENT_HANDLERS[RawRecord]: `append_records`), the ones that carry
    event ids given their spans in the batch's scope."""
    append = EVENT_HANDLERS[RawRecord].handler

    async def handle_batch(inputs: Sequence[Input]) -> BatchResult:
        records = [item.record for item in inputs]
        for record, ids in _traced(records):
            observe.add_to_batch(SERVICE, record, ids)
        await append(store, records, stats)
        return BatchResult()

    return handle_batch


def register_audit_stage(
    broker: KafkaBroker,
    store: LedgerStore,
    *,
    topics: list[str],
    group_id: str,
    kafka: KafkaSettings,
    stats: StageStats,
) -> Any:
    """Subscribe the ledger to `topics` (the registry's, `settings.topics(input_topics())`) as
    consumer group `group_id`."""
    return register_batch_stage(
        broker, topics=topics, group_id=group_id, service=SERVICE, settings=kafka,
        handle_batch=audit_stage(store, stats), isolation_level="read_committed", raw=True,
        title=f"{SERVICE}:all-topics",
    )
