"""Prometheus metrics of every service, defined in one place.

Transport figures come from FastStream's KafkaPrometheusMiddleware (received, processed,
latency and exceptions per handler; published per destination) plus the direct publish path
of lanthanide.kafka.Publisher, which bypasses the middleware and counts here. Business figures
(decisions, queues, SLA, webhooks, dead letters, ledger) are declared below so the alert rules
(deploy/prometheus/alerts.yml) and the dashboard (deploy/grafana/) name one catalogue.

Every service serves them at GET /metrics on its HTTP app; with LANTHANIDE_METRICS_TOKEN set,
a scrape must send `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from lanthanide.version import __version__
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from pydantic_settings import BaseSettings, SettingsConfigDict


class MetricsSettings(BaseSettings):
    """LANTHANIDE_METRICS_*: who may scrape, and how often consumer lag is measured."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_METRICS_", extra="ignore")

    #: When set, /metrics answers 401 without `Authorization: Bearer <token>`.
    token: str | None = None
    lag_interval_seconds: float = 5.0


BUILD_INFO = Gauge("lanthanide_build_info", "Service build (value 1)", ["service", "version"])
CONSUMED = Counter("lanthanide_records_consumed_total", "Records handed to a handler", ["service", "topic"])
PRODUCED = Counter("lanthanide_records_produced_total", "Records produced and acknowledged", ["service", "topic"])
PUBLISH_SECONDS = Histogram(
    "lanthanide_publish_seconds", "Time to produce a batch of outputs and get every ack", ["service"]
)
DEAD_LETTERS = Counter("lanthanide_dead_letters_total", "Records sent to <topic>.dlq", ["service", "topic"])
HANDLER_BUGS = Counter(
    "lanthanide_handler_bugs_total", "Input events dead-lettered because the handler raised a TypeError (a code bug)",
    ["service", "topic"],
)
CONSUMER_LAG = Gauge(
    "lanthanide_consumer_lag", "Records behind the partition's end (highwater - next offset to handle)",
    ["service", "group", "topic", "partition"],
)
DECISIONS = Counter("lanthanide_decisions_total", "Decisions made", ["outcome", "route"])
QUEUE_DEPTH = Gauge("lanthanide_review_queue_depth", "Open cases per review queue", ["queue"])
SLA_BREACHED = Gauge("lanthanide_review_sla_breached_cases", "Open cases past their decision due date")
SLA_WARNINGS = Counter("lanthanide_review_sla_warnings_total", "SLA warnings emitted")
WEBHOOK_DELIVERIES = Counter(
    "lanthanide_webhook_deliveries_total", "Notification deliveries by outcome and target host",
    ["channel", "outcome", "target"],
)
LEDGER_ENTRIES = Counter("lanthanide_ledger_entries_total", "Entries appended to the audit ledger")
LEDGER_VERIFICATIONS = Counter(
    "lanthanide_ledger_verifications_total", "Ledger hash-chain verifications by result", ["result"]
)
LEDGER_VERIFIED_OK = Gauge("lanthanide_ledger_verified_ok", "1 when the last verification held, 0 when broken")

#: service -> next offset to handle per (topic, partition), as seen by this process's handlers.
_handled: dict[str, dict[tuple[str, int], int]] = {}


def target_label(address: str) -> str:
    """A delivery target as a label: a webhook's host[:port], an e-mail's domain. Never the
    path or query (they may carry tokens) nor the mailbox (personal data)."""
    if "://" in address:
        return urlsplit(address).netloc.rsplit("@", 1)[-1] or "unknown"
    return address.rsplit("@", 1)[-1] if "@" in address else "unknown"


def service_started(service: str) -> None:
    """Announce the service's build (a constant 1 with labels, the Prometheus habit)."""
    BUILD_INFO.labels(service=service, version=__version__).set(1)


def consumed(service: str, topic: str, partition: int, offset: int) -> None:
    """One record reached a handler: count it and remember where the partition stands."""
    CONSUMED.labels(service=service, topic=topic).inc()
    _handled.setdefault(service, {})[(topic, partition)] = offset + 1


def produced(service: str, topic: str) -> None:
    """A record acknowledged on the direct publish path (service = its producer)."""
    PRODUCED.labels(service=service, topic=topic).inc()


def dead_lettered(service: str, topic: str) -> None:
    """A record of `topic` went to its dead-letter topic."""
    DEAD_LETTERS.labels(service=service, topic=topic).inc()


def handler_bug(service: str, topic: str) -> None:
    """A handler failed on a record of `topic` with a code bug (TypeError); it was dead-lettered."""
    HANDLER_BUGS.labels(service=service, topic=topic).inc()


def prometheus_middleware(client_id: str) -> Any:
    """FastStream's Kafka Prometheus middleware on the process-wide registry; app_name is
    lanthanide-<service> (the client id's first word: "review-host1" -> review)."""
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware

    return KafkaPrometheusMiddleware(registry=REGISTRY, app_name=f"lanthanide-{client_id.split('-')[0]}")


async def measure_lag(service: str, broker: Any) -> None:
    """Set lanthanide_consumer_lag for every partition this process's consumers hold."""
    handled = _handled.get(service, {})
    for subscriber in getattr(broker, "subscribers", ()):
        consumer = getattr(subscriber, "consumer", None)
        if consumer is None:
            continue
        group = str(getattr(subscriber, "group_id", "") or "")
        for tp in list(consumer.assignment()):
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # nothing fetched yet: unknown, not zero
            position = handled.get((tp.topic, tp.partition))
            if position is None:
                position = await consumer.position(tp)
            CONSUMER_LAG.labels(service=service, group=group, topic=tp.topic,
                                partition=str(tp.partition)).set(max(highwater - position, 0))


async def lag_loop(service: str, broker: Any, interval: float) -> None:
    """Background task: measure consumer lag every `interval` seconds until cancelled."""
    while True:
        try:
            await measure_lag(service, broker)
        except asyncio.CancelledError:
            raise
        except Exception:  # a rebalance mid-measure: the next round measures again
            pass
        await asyncio.sleep(interval)


def add_metrics_route(
    api: Any, settings: MetricsSettings | None = None,
    before_scrape: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """GET /metrics on a FastAPI app; `before_scrape` refreshes gauges read from a store."""
    settings = settings or MetricsSettings()

    @api.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if settings.token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {settings.token}".encode()):
                return Response("missing or invalid metrics token\n", status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        if before_scrape is not None:
            await before_scrape()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
