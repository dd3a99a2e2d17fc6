"""HTTP: liveness, readiness (database reachable) and delivery counts for operators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response
from sqlalchemy import text

if TYPE_CHECKING:
    from lanthanide_notification.bootstrap import NotificationApp


def make_http_app(app: NotificationApp) -> FastAPI:
    """The operator API of one notification process."""
    api = FastAPI(title="Lanthanide notification", version="1")

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz(response: Response) -> dict[str, Any]:
        try:
            async with app.store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            response.status_code = 503
            return {"status": "unavailable", "error": type(exc).__name__}
        return {"status": "ready"}

    @api.get("/dead-letters/count")
    async def dead_letters() -> dict[str, int]:
        return {"count": await app.store.dead_letter_count()}

    return api
