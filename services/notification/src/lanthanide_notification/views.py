"""Read models of the deliveries (cosmicpython's views.py): the failed ones and the queued ones,
as an operator sees them.

Shared by the HTTP API and the `lanthanide deliveries` commands, so both answer the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from lanthanide_notification.adapters.store import SqlDeliveryLog

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
        for p in await store.pending(limit)
    ]
