"""Wires the notification service once: store, senders, service, broker and stage."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from faststream.kafka import KafkaBroker
from lanthanide.events import EventFactory
from lanthanide.kafka import make_broker, publisher_for, stop_publishers
from lanthanide.logging import get_logger
from lanthanide.runtime import ServiceApp
from lanthanide.topics import Topics

from lanthanide_notification import SERVICE
from lanthanide_notification.adapters.email import EmailSender, MailRenderer
from lanthanide_notification.adapters.schedule import load_schedule
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.adapters.subscriptions import load_subscriptions
from lanthanide_notification.adapters.webhook import WebhookSender
from lanthanide_notification.delivery_worker import DeliveryWorker
from lanthanide_notification.domain.addresses import AddressPolicy
from lanthanide_notification.domain.model import Channel
from lanthanide_notification.domain.ports import Sender
from lanthanide_notification.entrypoints.stage import register_notification_stage
from lanthanide_notification.service_layer.handlers import NotificationService, input_topics
from lanthanide_notification.settings import NotificationSettings

log = get_logger(__name__)


@dataclass
class NotificationApp:
    """Everything a running notification service holds; `start`/`stop` around the broker."""

    settings: NotificationSettings
    broker: KafkaBroker
    store: SqlDeliveryLog
    http: httpx.AsyncClient
    service: NotificationService
    #: Makes every delivery (the consumer only queues them), its retries and replays.
    worker: DeliveryWorker

    async def start(self) -> None:
        """Create the schema and load the subscriptions file (before the broker starts)."""
        await self.store.create_schema()
        if self.settings.subscriptions_file is not None:
            subs = load_subscriptions(self.settings.subscriptions_file)
            await self.store.replace_file_subscriptions(subs)
            log.info("subscriptions_loaded", count=len(subs))
        self.worker.start()

    async def stop(self) -> None:
        """Stop the delivery worker, close the HTTP client and the database (after the broker stopped)."""
        await self.worker.stop()
        await stop_publishers(self.broker)
        await self.http.aclose()
        await self.store.close()


def wall_clock() -> datetime:
    """The time deliveries are queued, claimed and rescheduled by, unless a clock is given."""
    return datetime.now(UTC)


def _webhook_secret(settings: NotificationSettings) -> str:
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    # No secret configured: still deliver, but with a throw-away key nobody can verify, and
    # say so loudly; a fixed fallback key in the code would be a published secret.
    log.warning("webhook_secret_unset", hint="set LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET")
    return secrets.token_hex(32)


def build(
    settings: NotificationSettings | None = None,
    broker: KafkaBroker | None = None,
    *,
    store: SqlDeliveryLog | None = None,
    clock: Callable[[], datetime] | None = None,
) -> NotificationApp:
    """Build the service from settings; `broker`, `store` and `clock` are made from settings (or
    the wall clock) unless given (tests pass them)."""
    settings = settings or NotificationSettings()
    broker = broker or make_broker(settings.kafka, f"{SERVICE}-{settings.instance}")
    store = store or SqlDeliveryLog.from_url(settings.store_url())
    now = clock or wall_clock
    policy = settings.retry_policy()
    http = httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        follow_redirects=False,
        # Proxies from the environment would connect somewhere other than the checked address.
        trust_env=False,
    )
    senders: dict[Channel, Sender] = {
        "webhook": WebhookSender(
            http, secret=_webhook_secret(settings), policy=policy,
            per_host_limit=settings.webhook_per_host_limit,
            addresses=AddressPolicy.from_strings(settings.webhook_allow_networks),
            attempt_deadline_seconds=settings.webhook_attempt_deadline_seconds,
            max_response_bytes=settings.webhook_max_response_bytes,
        ),
    }
    if settings.smtp_host:
        senders["email"] = EmailSender(
            host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender,
            renderer=MailRenderer(), policy=policy, use_tls=settings.smtp_use_tls,
            start_tls=settings.smtp_start_tls, username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        )
    schedule = load_schedule(settings.retry_schedule_file)
    service = NotificationService(
        store=store, senders=senders, factory=EventFactory(SERVICE, instance=settings.instance),
        outcome_topic=settings.topic(Topics.NOTIFICATIONS), schedule=schedule, clock=now,
    )
    publisher = publisher_for(broker, settings.kafka, "notification-publisher")
    worker = DeliveryWorker(
        store=store, service=service, schedule=schedule, publish=publisher.publish,
        interval_seconds=settings.retry_worker_interval_seconds, lease_seconds=settings.delivery_lease(),
        per_host_limit=settings.webhook_per_host_limit, max_in_flight=settings.deliveries_in_flight, clock=now,
    )
    # A consumed batch that queued deliveries has the worker look at the queue at once.
    service.on_queued = worker.wake
    register_notification_stage(
        broker, service, topics=settings.topics(input_topics()), group_id=settings.group_id,
        kafka=settings.kafka,
    )
    return NotificationApp(settings=settings, broker=broker, store=store, http=http, service=service,
                           worker=worker)


def bootstrap(
    settings: NotificationSettings | None = None,
    *,
    broker: KafkaBroker | None = None,
    store: SqlDeliveryLog | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ServiceApp:
    """The notification process as lanthanide.runtime runs it: stage, retry worker, HTTP API."""
    from lanthanide_notification.entrypoints.http import make_http_app  # the HTTP app imports this module

    app = build(settings, broker, store=store, clock=clock)
    return ServiceApp.around(SERVICE, app, http_app=make_http_app(app) if app.settings.http_port else None)


#: The name `__main__` and the tooling use (the same function).
service_app = bootstrap
