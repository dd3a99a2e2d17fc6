"""The one shape of /healthz and /readyz every service's HTTP app serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Response


def add_health_routes(api: FastAPI, ready: Callable[[], Awaitable[object]] | None = None) -> None:
    """/healthz answers while the process runs; /readyz runs `ready` (which raises when a
    dependency such as the database is unreachable) and answers 503 with the error type."""

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz(response: Response) -> dict[str, Any]:
        if ready is not None:
            try:
                await ready()
            except Exception as exc:  # any failure means "not ready"; the type says which
                response.status_code = 503
                return {"status": "unavailable", "error": type(exc).__name__}
        return {"status": "ready"}
