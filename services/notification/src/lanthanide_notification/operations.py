"""What an operator does with deliveries: list the failed (or pending) ones, replay a failed one.

Shared by the HTTP API and the `lanthanide deliveries` commands, so both answer the same.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from lanthanide.logging import get_logger

if TYPE_CHECKING:
    from lanthanide_notification.adapters.store import SqlDeliveryLog

log = get_logger(__name__)

ListedStatus = Literal["failed", "pending"]


async def list_deliveries(store: SqlDeliveryLog, status: ListedStatus, limit: int = 100) -> list[dict[str, Any]]:
    """Failed deliveries (newest first; `id` is what replay takes) or queued ones (by id: waiting
    for their first round, a retry or a replay)."""
    if status == "failed":
        return [
            {"id": f.id, "status": "failed", "event_id": str(f.event_id), "webhook_id": str(f.event_id),
             "channel": f.channel, "target": f.target, "case_id": str(f.case_id) if f.case_id else None,
             "attempts": f.attempts, "error": f.error, "failed_at": f.failed_at.isoformat()}
            for f in await store.failed_deliveries(limit)
        ]
    return [
        {"id": p.id, "status": "pending", "event_id": str(p.event_id), "webhook_id": str(p.event_id),
         "channel": p.channel, "target": p.target, "attempts": p.attempts, "rounds": p.rounds,
         "next_attempt_at": p.next_attempt_at.isoformat(), "replay": bool(p.replay)}
        for p in (await store.pending())[:limit]
    ]


async def replay_failed(store: SqlDeliveryLog, failed_id: int, *, by: str) -> dict[str, Any] | None:
    """Queue failed delivery `failed_id` for the delivery worker, due now; the same event id, so the
    receiver sees the same webhook-id. None if there is no such failed delivery."""
    item = await store.replay(failed_id, secrets.token_hex(8), datetime.now(UTC))
    if item is None:
        return None
    # Who replayed what; the target address stays out of INFO logs (it can name a person).
    log.info("delivery_replayed", failed_id=failed_id, event_id=str(item.event_id), channel=item.channel, by=by)
    return {"id": item.id, "status": "pending", "event_id": str(item.event_id),
            "webhook_id": str(item.event_id), "channel": item.channel, "target": item.target,
            "next_attempt_at": item.next_attempt_at.isoformat()}
