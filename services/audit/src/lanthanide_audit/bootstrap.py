"""Wires the audit service once: ledger store, broker and stage."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.kafka import KafkaBroker
from lanthanide.kafka import make_broker

from lanthanide_audit import SERVICE
from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.entrypoints.stage import StageStats, register_audit_stage
from lanthanide_audit.settings import AuditSettings


@dataclass
class AuditApp:
    """Everything a running audit service holds."""

    settings: AuditSettings
    broker: KafkaBroker
    store: LedgerStore
    stats: StageStats

    async def start(self) -> None:
        """Create the ledger schema (before the broker starts)."""
        await self.store.create_schema()

    async def stop(self) -> None:
        """Close the database (after the broker stopped)."""
        await self.store.close()


def build(settings: AuditSettings | None = None, broker: KafkaBroker | None = None) -> AuditApp:
    """Build the service from settings; pass `broker` to reuse one (tests)."""
    settings = settings or AuditSettings()
    broker = broker or make_broker(settings.kafka, f"{SERVICE}-{settings.instance}")
    store = LedgerStore.from_url(settings.store_url())
    stats = StageStats()
    register_audit_stage(
        broker, store, topics=settings.input_topics(), group_id=settings.group_id,
        kafka=settings.kafka, stats=stats,
    )
    return AuditApp(settings=settings, broker=broker, store=store, stats=stats)
