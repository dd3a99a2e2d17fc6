"""The ledger's HTTP API answers auditors only: the timeline shows every party and decision of a
case (and once showed, unauthenticated, whether a webhook port was open)."""

from __future__ import annotations

from pathlib import Path

import httpx
from lanthanide.auth import TokenGrant
from lanthanide_audit.bootstrap import build
from lanthanide_audit.entrypoints.http import make_http_app
from lanthanide_audit.settings import AuditSettings


async def test_timeline_and_verify_need_the_auditor_role(tmp_path: Path) -> None:
    settings = AuditSettings(
        db_url=f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}",
        tokens={"tok-aud": TokenGrant(user="aud", roles=["auditor"]),
                "tok-rev": TokenGrant(user="rev", roles=["reviewer"])},
    )
    app = build(settings)
    await app.start()
    try:
        transport = httpx.ASGITransport(app=make_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
            case = "/cases/00000000-0000-0000-0000-000000000001/timeline"
            for path in (case, "/verify"):
                assert (await client.get(path)).status_code == 401
                assert (await client.get(path, headers={"Authorization": "Bearer tok-rev"})).status_code == 403
                assert (await client.get(path, headers={"Authorization": "Bearer tok-aud"})).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await app.stop()
