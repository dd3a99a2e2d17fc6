"""The HTTP app: health, metrics, reviewer dispositions and ad-hoc name screening."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import FastAPI
from lanthanide.metrics import add_metrics_route
from pydantic import BaseModel, Field

from lanthanide_screening.adapters.store import Disposition
from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.domain.parties import party_key


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


def make_app(screening: Screening) -> FastAPI:
    """The service's HTTP app; readiness reports the loaded list and reference versions."""
    app = FastAPI(title="lanthanide-screening")

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

    add_metrics_route(app)

    @app.post("/dispositions", status_code=201)
    async def record_disposition(body: DispositionIn) -> dict[str, str]:
        """Remember a verdict; a false positive is suppressed the next time this party is screened."""
        key = party_key(body.party_name)
        await screening.store.record_disposition(
            Disposition(key, body.list_id, body.entry_id, body.verdict, body.reason, body.reviewer, datetime.now(UTC))
        )
        return {"party_key": key, "list_id": body.list_id, "entry_id": body.entry_id, "verdict": body.verdict}

    @app.get("/dispositions")
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

    @app.post("/screen-name")
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

    return app
