"""HTTP: liveness, readiness (database reachable), metrics and delivery counts for operators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from lanthanide.health import add_health_routes
from lanthanide.metrics import add_metrics_route
from sqlalchemy import text

if TYPE_CHECKING:
    from lanthanide_notification.bootstrap import NotificationApp


def make_http_app(app: NotificationApp) -> FastAPI:
    """The operator API of one notification process."""
    api = FastAPI(title="Lanthanide notification", version="1")

    async def database_reachable() -> None:
        async with app.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    add_health_routes(api, database_reachable)
    add_metrics_route(api)

    @api.get("/dead-letters/count")
    async def dead_letters() -> dict[str, int]:
        return {"count": await app.store.dead_letter_count()}

    return api
