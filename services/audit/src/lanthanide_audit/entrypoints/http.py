"""HTTP: liveness, readiness, and the ledger's verification and timelines for operators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response
from lanthanide.health import add_health_routes
from sqlalchemy import text

from lanthanide_audit.queries import case_timeline, verify

if TYPE_CHECKING:
    from lanthanide_audit.bootstrap import AuditApp


def make_http_app(app: AuditApp) -> FastAPI:
    """The operator API of one audit process."""
    api = FastAPI(title="Lanthanide audit", version="1")

    async def database_reachable() -> None:
        async with app.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    add_health_routes(api, database_reachable)

    @api.get("/verify")
    async def verify_chain(response: Response) -> dict[str, Any]:
        report = await verify(app.store)
        if not report.ok:
            response.status_code = 409
        return {
            "ok": report.ok, "checked": report.checked, "head_hash": report.head_hash,
            "broken": None if report.broken is None else {
                "seq": report.broken.seq, "event_id": report.broken.event_id,
                "reason": report.broken.reason,
            },
            "conflicts": list(report.conflicts),
        }

    @api.get("/cases/{case_id}/timeline")
    async def timeline(case_id: str) -> dict[str, Any]:
        tl = await case_timeline(app.store, case_id)
        return {"case_id": tl.case_id, "causation_ok": tl.causation_ok,
                "steps": [s.as_dict() for s in tl.steps]}

    return api
