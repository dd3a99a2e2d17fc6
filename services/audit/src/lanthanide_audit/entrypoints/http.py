"""HTTP: liveness, readiness, metrics, and the ledger's verification and timelines for operators.

No `from __future__ import annotations`: FastAPI resolves the local dependencies at definition time.
"""

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Response
from lanthanide import metrics
from lanthanide.auth import Authenticator, Principal, fastapi_principal
from lanthanide.health import add_health_routes
from lanthanide.metrics import add_metrics_route
from sqlalchemy import text

from lanthanide_audit.views import case_timeline, verify

if TYPE_CHECKING:
    from lanthanide_audit.bootstrap import AuditApp


#: The ledger shows every case's parties and decisions: auditors (and admins) only.
LEDGER_ROLES = ("auditor", "admin")


def make_http_app(app: "AuditApp", authenticator: Authenticator | None = None) -> FastAPI:
    """The operator API of one audit process; every route but health needs a token with an
    auditor (or admin) role. Without an authenticator nothing but health answers."""
    api = FastAPI(title="Lanthanide audit", version="1")
    auth = authenticator or app.settings.authenticator()
    Auditor = Annotated[Principal, Depends(fastapi_principal(auth, *LEDGER_ROLES))]

    async def database_reachable() -> None:
        async with app.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    add_health_routes(api, database_reachable)
    add_metrics_route(api)

    @api.get("/verify")
    async def verify_chain(response: Response, _: Auditor) -> dict[str, Any]:
        # Stored checkpoints only here (the CLI also reads the audit.checkpoints topic).
        report = await verify(app.store, app.settings.ledger_keys() or None,
                              public_keys=app.settings.public_keys())
        metrics.LEDGER_VERIFICATIONS.labels(result="ok" if report.ok else "broken").inc()
        metrics.LEDGER_VERIFIED_OK.set(1 if report.ok else 0)
        if not report.ok:
            response.status_code = 409
        return {
            "ok": report.ok, "checked": report.checked, "head_hash": report.head_hash,
            "broken": None if report.broken is None else {
                "seq": report.broken.seq, "event_id": report.broken.event_id,
                "reason": report.broken.reason,
            },
            "conflicts": list(report.conflicts),
            "checkpoints": report.checkpoints, "checkpoint_position": report.checkpoint_position,
        }

    @api.get("/cases/{case_id}/timeline")
    async def timeline(case_id: str, _: Auditor) -> dict[str, Any]:
        tl = await case_timeline(app.store, case_id)
        return {"case_id": tl.case_id, "causation_ok": tl.causation_ok,
                "steps": [s.as_dict() for s in tl.steps]}

    return api
