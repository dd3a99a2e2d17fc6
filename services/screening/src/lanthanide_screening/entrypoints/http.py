"""A small HTTP app: /healthz, /readyz and Prometheus /metrics."""

from __future__ import annotations

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lanthanide_screening.bootstrap import Screening


def make_app(screening: Screening) -> FastAPI:
    """The service's HTTP app; readiness reports the loaded list and reference versions."""
    app = FastAPI(title="lanthanide-screening")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        engine = screening.engine
        return {"status": "ready", "reference_data_version": engine.reference_data_version,
                "lists": {lst.list_id: lst.version for lst in engine.index.lists}}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
