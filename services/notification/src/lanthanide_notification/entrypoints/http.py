"""HTTP: liveness, readiness (database reachable), metrics, and deliveries for operators.

Every route but health needs a bearer token with the operator (or admin) role: failed
deliveries name applicants' endpoints, and a replay sends a notice again.

No `from __future__ import annotations`: FastAPI resolves the local dependencies at definition time.
"""

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query
from lanthanide.auth import Authenticator, Principal, fastapi_principal
from lanthanide.health import add_health_routes
from lanthanide.metrics import add_metrics_route
from sqlalchemy import text

from lanthanide_notification.service_layer.operations import replay_failed
from lanthanide_notification.views import list_deliveries

if TYPE_CHECKING:
    from lanthanide_notification.bootstrap import NotificationApp

#: Who may list and replay deliveries.
OPERATOR_ROLES = ("operator", "admin")


def make_http_app(app: "NotificationApp", authenticator: Authenticator | None = None) -> FastAPI:
    """The operator API of one notification process."""
    api = FastAPI(title="Lanthanide notification", version="1")
    auth = authenticator or app.settings.authenticator()
    Operator = Annotated[Principal, Depends(fastapi_principal(auth, *OPERATOR_ROLES))]

    async def database_reachable() -> None:
        async with app.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    add_health_routes(api, database_reachable)
    add_metrics_route(api)

    @api.get("/dead-letters/count")
    async def dead_letters(_: Operator) -> dict[str, int]:
        return {"count": await app.store.dead_letter_count()}

    @api.get("/deliveries")
    async def deliveries(
        _: Operator,
        status: Annotated[Literal["failed", "pending"], Query(description="failed or pending")] = "failed",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Failed deliveries (newest first; replay them by id) or those waiting for a retry."""
        items = await list_deliveries(app.store, status, limit)
        return {"status": status, "count": len(items), "deliveries": items}

    @api.post("/deliveries/{failed_id}/replay", status_code=202)
    async def replay(failed_id: int, principal: Operator) -> dict[str, Any]:
        """Send a failed delivery again (same webhook-id), through the delivery worker."""
        queued = await replay_failed(app.store, failed_id, by=principal.user)
        if queued is None:
            raise HTTPException(404, f"no failed delivery {failed_id} (GET /deliveries?status=failed lists them)")
        app.worker.wake()
        return queued

    return api
