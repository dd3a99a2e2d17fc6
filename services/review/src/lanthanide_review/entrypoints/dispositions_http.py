"""Reviewer dispositions of screening hits over HTTP (issue 14.1).

(No `from __future__ import annotations` here: FastAPI resolves the local `User` alias.)

    POST /cases/{case_id}/dispositions        a reviewer proposes a false positive (party, list entry)
    GET  /cases/{case_id}/dispositions        the case's dispositions
    GET  /dispositions/pending                certain matches awaiting a senior reviewer
    GET  /dispositions/{id}
    POST /dispositions/{id}/approve           the senior second person (not the proposer)
    POST /dispositions/{id}/revoke

Authentication is the review API's own (bearer tokens with roles); refusals carry the rule id.
"""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from lanthanide.logging import get_logger
from pydantic import BaseModel, Field

from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.domain.dispositions import Disposition, DispositionError
from lanthanide_review.domain.roles import Actor
from lanthanide_review.service_layer.dispositions import DispositionNotFound, DispositionService

log = get_logger(__name__)
T = TypeVar("T")


class DispositionRequest(BaseModel):
    """A false-positive disposition of one hit of the case's latest screening result."""

    party_index: int = Field(ge=0, description="The hit's party_index (0 = exporter, i + 1 = parties[i])")
    list_id: str = Field(min_length=1, max_length=100)
    entry_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=2000)
    expires_on: date = Field(description="Last PRC day the disposition applies (at most a year ahead)")


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def disposition_view(d: Disposition) -> dict[str, Any]:
    return d.to_dict()


def dispositions_router(dispositions: DispositionService, relay: OutboxRelay, actor: Callable[..., Actor]) -> APIRouter:
    """The disposition routes; `actor` is the review API's authentication dependency."""
    router = APIRouter(tags=["dispositions"])
    User = Annotated[Actor, Depends(actor)]

    async def run(work: Awaitable[T]) -> T | JSONResponse:
        try:
            result = await work
        except DispositionError as exc:
            status = 409 if exc.conflict else 422
            return JSONResponse(
                status_code=status,
                content={"detail": {"error": "disposition_refused", "message": exc.message, "rule_id": exc.rule_id}},
            )
        except DispositionNotFound as exc:
            return JSONResponse(status_code=404, content={"detail": {"error": "not_found", "message": str(exc)}})
        try:
            await relay.flush()
        except Exception as exc:
            log.warning("outbox_flush_deferred", error=repr(exc)[:200])
        return result

    def view(result: Disposition | JSONResponse) -> Any:
        return result if isinstance(result, JSONResponse) else disposition_view(result)

    @router.post("/cases/{case_id}/dispositions", status_code=201)
    async def propose(case_id: UUID, body: DispositionRequest, user: User) -> Any:
        """Propose that a hit is a false positive. A possible match is recorded (and published)
        at once; a certain match stays pending until a senior reviewer other than the proposer
        approves it."""
        return view(
            await run(
                dispositions.propose(
                    user,
                    case_id,
                    party_index=body.party_index,
                    list_id=body.list_id,
                    entry_id=body.entry_id,
                    reason=body.reason,
                    expires_on=body.expires_on,
                )
            )
        )

    @router.get("/cases/{case_id}/dispositions")
    async def for_case(case_id: UUID, user: User) -> list[dict[str, Any]]:
        return [disposition_view(d) for d in await dispositions.for_case(user, case_id)]

    @router.get("/dispositions/pending")
    async def pending(user: User) -> list[dict[str, Any]]:
        return [disposition_view(d) for d in await dispositions.pending(user)]

    @router.get("/dispositions/{disposition_id}")
    async def get(disposition_id: str, user: User) -> Any:
        return view(await run(dispositions.get(user, disposition_id)))

    @router.post("/dispositions/{disposition_id}/approve")
    async def approve(disposition_id: str, user: User) -> Any:
        return view(await run(dispositions.approve(user, disposition_id)))

    @router.post("/dispositions/{disposition_id}/revoke")
    async def revoke(disposition_id: str, body: RevokeRequest, user: User) -> Any:
        return view(await run(dispositions.revoke(user, disposition_id, body.reason)))

    return router
