"""Review's business figures (declared in lanthanide.metrics): decisions by outcome and route,
counted as the outbox relay publishes them; queue depth and SLA breaches, read from the store
when Prometheus scrapes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from lanthanide import metrics

from lanthanide_review import views
from lanthanide_review.service_layer.handlers import ReviewService


def published(body: bytes) -> None:
    """Count a record the relay published (decisions and SLA warnings; others are not figures)."""
    if b'"decision.made"' in body:
        data = orjson.loads(body)
        if data.get("event_type") == "decision.made":
            payload: dict[str, Any] = data.get("payload") or {}
            route = str(payload.get("route") or "none")
            metrics.DECISIONS.labels(outcome=str(payload.get("outcome")), route=route).inc()
    elif b'"sla_warning"' in body:
        data = orjson.loads(body)
        if (data.get("payload") or {}).get("kind") == "sla_warning":
            metrics.SLA_WARNINGS.inc()


async def refresh_gauges(service: ReviewService) -> None:
    """Queue depth per queue and open cases past their due date, as the queue API sees them."""
    rows = await views.queue(service)
    depth = Counter(str(r["queue"]) for r in rows)
    metrics.QUEUE_DEPTH.clear()
    for queue, n in depth.items():
        metrics.QUEUE_DEPTH.labels(queue=queue).set(n)
    metrics.SLA_BREACHED.set(sum(1 for r in rows if r["working_days_left"] is not None and r["working_days_left"] < 0))
