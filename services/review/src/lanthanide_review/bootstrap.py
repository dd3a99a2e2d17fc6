"""Wiring: builds the store, policy, calendar, service, broker, relay and HTTP app once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.kafka import ensure_topics, make_broker, publisher_for, stop_publishers
from lanthanide.logging import get_logger
from lanthanide.metrics import add_metrics_route
from lanthanide.runtime import ServiceApp
from lanthanide.topics import dlq
from lanthanide.version import __version__

from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.adapters.store import Store
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import ConflictRegister
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.entrypoints import metrics as review_metrics
from lanthanide_review.entrypoints.consumer import register_consumer
from lanthanide_review.entrypoints.http import create_app
from lanthanide_review.service_layer.handlers import ReviewService, TopicNames, input_topics
from lanthanide_review.settings import ReviewSettings

log = get_logger(__name__)


@dataclass
class ReviewApp:
    """Everything the review process runs, built once."""

    settings: ReviewSettings
    store: Store
    service: ReviewService
    broker: KafkaBroker
    relay: OutboxRelay
    http_app: FastAPI

    async def start(self) -> None:
        """Migrate the database, load the calendar years new due dates fall in, and create
        prefixed topics (tests) before consuming."""
        await self.store.migrate()
        self.service.calendar.prime(prc_today().year)
        if self.settings.topic_prefix:
            out = self.service.topics
            names = [*self.settings.topics(input_topics()), out.case_events, out.decisions, out.dispositions]
            await ensure_topics(self.settings.kafka, [*names, *(dlq(n) for n in names)])
        log.info("review_ready", policy_version=self.service.policy.version)

    async def stop(self) -> None:
        await stop_publishers(self.broker)
        await self.store.dispose()

    async def outbox_loop(self) -> None:
        """Flush unsent outbox rows at startup and then periodically."""
        await self.relay.run_forever(self.settings.outbox_interval_s)

    async def sla_loop(self) -> None:
        """Emit SLA warnings periodically."""
        while True:
            try:
                if await self.service.sla_sweep():
                    await self.relay.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sla_sweep_failed", error=repr(exc)[:300])
            await asyncio.sleep(self.settings.sla_interval_s)


def build_service(
    settings: ReviewSettings, store: Store | None = None, clock: Callable[[], datetime] | None = None
) -> ReviewService:
    """The use cases over the configured store and policy (also used by the CLI)."""
    return ReviewService(
        clock=clock,
        store=store or Store(settings.store_url()),
        policy=load_policy(settings.policy_file),
        calendar=PrcCalendar(),
        conflicts=ConflictRegister(settings.conflicts),
        factory=EventFactory("review", __version__, instance=settings.instance),
        topics=TopicNames.with_prefix(settings.topic_prefix),
        timezone=settings.timezone,
    )


def build(
    settings: ReviewSettings | None = None,
    *,
    broker: KafkaBroker | None = None,
    store: Store | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ReviewApp:
    """Wire the review process; `broker`, `store` and `clock` are made from settings unless given."""
    settings = settings or ReviewSettings()
    service = build_service(settings, store, clock)
    broker = broker or make_broker(settings.kafka, f"review-{settings.instance}")
    publisher = publisher_for(broker, settings.kafka, "review-publisher")
    relay = OutboxRelay(service.store, publisher, on_published=review_metrics.published,
                        max_message_bytes=settings.kafka.max_message_bytes)
    register_consumer(broker, settings, service, relay)

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=2.0))

    http_app = create_app(service, relay, settings.authenticator(), readiness=broker_ready,
                          max_body_bytes=settings.max_body_bytes, console=settings.console_options())
    add_metrics_route(http_app, before_scrape=partial(review_metrics.refresh_gauges, service))
    return ReviewApp(
        settings=settings, store=service.store, service=service, broker=broker, relay=relay, http_app=http_app
    )


__all__ = ["ReviewApp", "bootstrap", "build", "build_service", "service_app"]


def bootstrap(
    settings: ReviewSettings | None = None,
    *,
    broker: KafkaBroker | None = None,
    store: Store | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ServiceApp:
    """The review process as lanthanide.runtime runs it: consumer, outbox relay, SLA timer, HTTP API."""
    app = build(settings, broker=broker, store=store, clock=clock)
    return ServiceApp.around("review", app, http_app=app.http_app, background=[app.outbox_loop, app.sla_loop])


#: The name `__main__` and the tooling use (the same function).
service_app = bootstrap
