"""What an operator does with a delivery: replay a failed one (the read side, listing them, is
views.py). Shared by the HTTP API and the `lanthanide deliveries` commands.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lanthanide.logging import get_logger

if TYPE_CHECKING:
    from lanthanide_notification.adapters.store import SqlDeliveryLog

log = get_logger(__name__)


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
