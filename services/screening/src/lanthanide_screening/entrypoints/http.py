"""The HTTP app: health, metrics, reviewer dispositions and ad-hoc name screening."""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from lanthanide.contracts import Application
from lanthanide.dates import prc_today
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from lanthanide_screening.adapters.store import Disposition
from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.domain.parties import party_key
from lanthanide_screening.domain.whatif import what_if


class DispositionIn(BaseModel):
    """A reviewer's verdict on a hit: party name as screened, the list entry, verdict and reason."""

    party_name: str = Field(min_length=1, max_length=300)
    list_id: str = Field(min_length=1, max_length=100)
    entry_id: str = Field(min_length=1, max_length=200)
    verdict: Literal["false_positive", "true_positive"]
    reason: str = Field(min_length=3, max_length=2000)
    reviewer: str = Field(min_length=1, max_length=100)


class NameQuery(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    entity_type: Literal["organization", "person"] | None = None
    top: int = Field(default=5, ge=1, le=50)
    threshold: float | None = Field(default=None, ge=0, le=1)


class WhatIfQuery(BaseModel):
    """An application and the PRC date to evaluate it on (default: today in PRC)."""

    application: Application
    on: date | None = None


def make_app(screening: Screening) -> FastAPI:
    """The service's HTTP app; readiness reports the loaded list and reference versions.

    Every route but health, readiness and metrics takes `Authorization: Bearer <token>` when
    tokens are configured (LANTHANIDE_SCREENING_API_TOKENS, token -> caller); none configured
    keeps them open, as before."""
    app = FastAPI(title="lanthanide-screening")

    def caller(authorization: Annotated[str | None, Header()] = None) -> str:
        tokens = screening.settings.api_tokens
        if not tokens:
            return "anonymous"
        given = (authorization or "").removeprefix("Bearer ").strip()
        for token, name in tokens.items():
            if given and hmac.compare_digest(token.encode(), given.encode()):
                return name
        raise HTTPException(status_code=401, detail="missing or unknown bearer token")

    authed = [Depends(caller)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        engine = screening.engine
        return {
            "status": "ready",
            "reference_data_version": engine.reference_data_version,
            "lists": {lst.list_id: lst.version for lst in engine.index.lists},
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/dispositions", status_code=201, dependencies=authed)
    async def record_disposition(body: DispositionIn) -> dict[str, str]:
        """Remember a verdict; a false positive is suppressed the next time this party is screened."""
        key = party_key(body.party_name)
        await screening.store.record_disposition(
            Disposition(key, body.list_id, body.entry_id, body.verdict, body.reason, body.reviewer, datetime.now(UTC))
        )
        return {"party_key": key, "list_id": body.list_id, "entry_id": body.entry_id, "verdict": body.verdict}

    @app.get("/dispositions", dependencies=authed)
    async def list_dispositions() -> list[dict[str, str]]:
        return [
            {
                "party_key": d.party_key,
                "list_id": d.list_id,
                "entry_id": d.entry_id,
                "verdict": d.verdict,
                "reason": d.reason,
                "reviewer": d.reviewer,
                "recorded_at": d.recorded_at.isoformat(),
            }
            for d in await screening.store.list_dispositions()
        ]

    @app.post("/screen-name", dependencies=authed)
    async def screen_name(body: NameQuery) -> list[dict[str, object]]:
        """Ad-hoc screening of one name against every loaded list."""
        engine = screening.engine
        threshold = engine.policy.thresholds.alert if body.threshold is None else body.threshold
        matches = engine.index.search(body.name, entity_type=body.entity_type, threshold=threshold, top=body.top)
        return [
            {
                "list_id": m.list_id,
                "list_kind": m.list_kind,
                "list_version": m.list_version,
                "entry_id": m.entry.entry_id,
                "matched_name": m.matched.name,
                "score": m.score,
                "explanation": m.explanation(),
            }
            for m in matches
        ]

    @app.post("/what-if", dependencies=authed)
    async def what_if_route(body: WhatIfQuery) -> dict[str, Any]:
        """Classification, measures in force and route of an application on a date; creates no case."""
        return what_if(screening.engine, body.application, body.on or prc_today())

    return app
