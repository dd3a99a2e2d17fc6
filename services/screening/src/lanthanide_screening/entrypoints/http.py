"""The HTTP app: health, metrics, the dispositions in force (read-only), ad-hoc name screening, what-if."""

# No `from __future__ import annotations`: FastAPI resolves the local dependencies below at
# definition time.
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI
from lanthanide.auth import Authenticator, Principal, fastapi_principal
from lanthanide.contracts import Application
from lanthanide.dates import prc_today
from lanthanide.metrics import add_metrics_route
from pydantic import BaseModel, Field

from lanthanide_screening import views
from lanthanide_screening.domain.whatif import what_if
from lanthanide_screening.service_layer.handlers import Screening


class NameQuery(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    entity_type: Literal["organization", "person"] | None = None
    top: int = Field(default=5, ge=1, le=50)
    threshold: float | None = Field(default=None, ge=0, le=1)


class WhatIfQuery(BaseModel):
    """An application and the PRC date to evaluate it on (default: today in PRC)."""

    application: Application
    on: date | None = None


#: Who may look at dispositions and probe names (hits are judged in review, not here).
READ_ROLES = ("reviewer", "senior_reviewer", "auditor")
#: A what-if answer is for officers and for exporters planning an export.
WHAT_IF_ROLES = (*READ_ROLES, "exporter")


def make_app(screening: Screening, authenticator: Authenticator | None = None) -> FastAPI:
    """The service's HTTP app; readiness reports the loaded list and reference versions.

    Every route but health and metrics needs a bearer token (LANTHANIDE_SCREENING_TOKENS);
    without an authenticator those routes refuse everyone.
    """
    app = FastAPI(title="lanthanide-screening")
    auth = authenticator or Authenticator({})
    Reader = Annotated[Principal, Depends(fastapi_principal(auth, *READ_ROLES))]
    Planner = Annotated[Principal, Depends(fastapi_principal(auth, *WHAT_IF_ROLES))]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        return {"status": "ready", **views.loaded_reference(screening.engine)}

    add_metrics_route(app)

    @app.get("/dispositions")
    async def list_dispositions(_: Reader) -> list[dict[str, Any]]:
        """The dispositions screening applies (read-only: they are recorded in review and reach
        screening as disposition.recorded / disposition.revoked events)."""
        return await views.dispositions(screening.store)

    @app.post("/screen-name")
    async def screen_name(body: NameQuery, _: Reader) -> list[dict[str, object]]:
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

    @app.post("/what-if")
    async def what_if_route(body: WhatIfQuery, _: Planner) -> dict[str, Any]:
        """Classification, measures in force and route of an application on a date; creates no case."""
        return what_if(screening.engine, body.application, body.on or prc_today())

    return app
