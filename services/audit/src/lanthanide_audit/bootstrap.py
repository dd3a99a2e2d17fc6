"""Wires the audit service once: ledger store, broker, stage and checkpointer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from lanthanide.events import EventFactory
from lanthanide.kafka import make_broker, make_producer
from lanthanide.runtime import ServiceApp
from lanthanide.serde import encode

from lanthanide_audit import SERVICE
from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.checkpointer import Checkpointer
from lanthanide_audit.domain.checkpoints import Checkpoint
from lanthanide_audit.entrypoints.stage import register_audit_stage
from lanthanide_audit.service_layer.handlers import StageStats, input_topics
from lanthanide_audit.settings import AuditSettings

log = structlog.get_logger(__name__)


class MissingKeyError(RuntimeError):
    """The audit service will not run without its ledger MAC key and checkpoint signing key."""


def require_keys(settings: AuditSettings) -> None:
    """Refuse to start a ledger that could be rewritten unnoticed (the service's entry point calls
    this; `make run` generates both keys)."""
    missing = []
    if not settings.ledger_keys():
        missing.append("LANTHANIDE_AUDIT_LEDGER_KEY (or _FILE)")
    if settings.signing_key() is None:
        missing.append("LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY (or _FILE)")
    if missing:
        raise MissingKeyError(f"audit: {' and '.join(missing)} must be set; refusing to start")


@dataclass
class AuditApp:
    """Everything a running audit service holds."""

    settings: AuditSettings
    broker: KafkaBroker
    store: LedgerStore
    stats: StageStats
    #: None without a signing key (in-process tests); the service's entry point requires one.
    checkpointer: Checkpointer | None = None
    _producer: Any = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Create the ledger schema (before the broker starts); start checkpointing."""
        await self.store.create_schema()
        if self.checkpointer is not None:
            self._producer = make_producer(self.settings.kafka, f"{SERVICE}-checkpoints-{self.settings.instance}")
            await self._producer.start()
            self._task = asyncio.create_task(self.checkpointer.run(), name="audit-checkpoints")

    async def stop(self) -> None:
        """A last checkpoint (after the broker stopped: nothing more is appended), then close."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.checkpointer is not None and self._producer is not None:
            try:
                await self.checkpointer.checkpoint()
            except Exception as exc:
                log.error("ledger_checkpoint_failed", error=repr(exc)[:300], at="shutdown")
            await self._producer.stop()
            self._producer = None
        await self.store.close()

    async def publish_checkpoint(self, cp: Checkpoint) -> None:
        from lanthanide.contracts.events import LedgerCheckpoint

        envelope = EventFactory(SERVICE, instance=self.settings.instance).new(
            "audit.checkpoint", LedgerCheckpoint(**cp.as_dict()))
        await self._producer.send_and_wait(self.settings.checkpoint_topic(), encode(envelope), key=b"ledger")


def build(
    settings: AuditSettings | None = None, broker: KafkaBroker | None = None, *, store: LedgerStore | None = None
) -> AuditApp:
    """Build the service from settings; `broker` and `store` are made from settings unless given (tests)."""
    settings = settings or AuditSettings()
    broker = broker or make_broker(settings.kafka, f"{SERVICE}-{settings.instance}")
    keys = settings.ledger_keys()
    store = store or LedgerStore.from_url(settings.store_url(), keys[0] if keys else None)
    stats = StageStats()
    register_audit_stage(
        broker, store, topics=settings.topics(input_topics()), group_id=settings.group_id,
        kafka=settings.kafka, stats=stats,
    )
    app = AuditApp(settings=settings, broker=broker, store=store, stats=stats)
    signing = settings.signing_key()
    if signing is not None:
        app.checkpointer = Checkpointer(store, signing, app.publish_checkpoint, settings.checkpoint_interval_seconds)
    return app


def bootstrap(
    settings: AuditSettings | None = None,
    *,
    broker: KafkaBroker | None = None,
    store: LedgerStore | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ServiceApp:
    """The audit process as lanthanide.runtime runs it: ledger stage, checkpointer, HTTP API.
    Every service's bootstrap takes the same arguments; audit's times (recorded_at, checkpoints)
    are the wall clock's and not injectable, so `clock` must stay None."""
    from lanthanide_audit.entrypoints.http import make_http_app  # the HTTP app imports this module

    if clock is not None:
        raise TypeError("audit's clock is not injectable: pass settings, broker and store only")
    app = build(settings, broker, store=store)
    return ServiceApp.around(SERVICE, app, http_app=make_http_app(app) if app.settings.http_port else None)


#: The name `__main__` and the tooling use (the same function).
service_app = bootstrap
