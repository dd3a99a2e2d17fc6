"""HTTP entrypoint (no `from __future__ import annotations`: FastAPI resolves local dependencies
at definition time). POST /applications publishes the application as an application.submitted
event (the same path as Kafka submissions) and answers with the case id at once."""


import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from lanthanide.auth import FailureLimiter
from lanthanide.events import EventFactory, Outgoing
from lanthanide.health import add_health_routes
from lanthanide.ids import case_id_for
from lanthanide.kafka import Publisher
from lanthanide.logging import get_logger
from lanthanide.metrics import add_metrics_route
from lanthanide.serde import DecodeError, loads
from lanthanide.topics import Topics

from lanthanide_intake.domain.intake import validate
from lanthanide_intake.domain.submitters import SUBMITTER_HEADER, SubmitterGrant, not_authorised
from lanthanide_intake.settings import IntakeSettings

log = get_logger(__name__)


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes: from
    Content-Length before reading anything, else while streaming (chunked bodies), so a huge
    body is never buffered whole."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: IntakeSettings, publisher: Publisher, events: EventFactory) -> FastAPI:
    app = FastAPI(
        title="Lanthanide intake",
        version="1",
        description="Submit export-licence applications. Every request that submits needs an API key.",
    )

    grants = settings.grants()
    limiter = FailureLimiter(10, 60.0)

    def client(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> SubmitterGrant:
        peer = request.client.host if request.client else "unknown"
        if limiter.blocked(peer):
            log.warning("auth_rate_limited", client=peer, path=request.url.path)
            raise HTTPException(429, "too many failed authentications; try again later", headers={"Retry-After": "60"})
        key = x_api_key or (authorization[7:] if authorization and authorization.startswith("Bearer ") else None)
        found: SubmitterGrant | None = None
        if key:
            for known, grant in grants.items():
                if hmac.compare_digest(known.encode(), key.encode()):
                    found = grant
        if found is None:
            limiter.failed(peer)
            log.warning("auth_failed", client=peer, path=request.url.path, reason="missing or unknown API key")
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
        return found

    @app.post("/applications", status_code=202, responses={
        401: {"description": "missing or invalid API key"},
        403: {"description": "the API key may not submit for this exporter"},
        413: {"description": "body larger than the configured limit"},
        429: {"description": "too many failed authentications from this client"},
        422: {"description": "field-level errors: {errors: [{loc, message, type}]}"},
    })
    async def submit(request: Request, submitter: Annotated[SubmitterGrant, Depends(client)]) -> Any:
        """Validate and submit one application; returns its case id (202: decided asynchronously)."""
        body = await read_limited(request, settings.max_body_bytes)
        try:
            data = loads(body)
        except DecodeError as exc:
            return JSONResponse({"errors": [{"loc": "(body)", "message": exc.reason, "type": "json_invalid"}]}, 422)
        result = validate(data)
        if isinstance(result, list):
            return JSONResponse({"errors": [e.model_dump(exclude_none=True) for e in result]}, 422)
        if refused := not_authorised(submitter, result, via="API key"):
            # A key submits (and resubmits) only for the exporters an operator bound it to: case
            # ids can be computed, so without this any key could take over another's case.
            return JSONResponse({"errors": [refused.model_dump(exclude_none=True)]}, 403)
        case_id = case_id_for(result.exporter_key, result.external_reference)
        envelope = events.new("application.submitted", result, case_id=case_id)
        stamp = {SUBMITTER_HEADER: f"api-key:{submitter.submitter}"}
        await publisher.publish([Outgoing(settings.topic(Topics.APPLICATIONS_SUBMITTED), envelope, stamp)])
        return {
            "case_id": str(case_id),
            "external_reference": result.external_reference,
            "event_id": str(envelope.event_id),
            "submitted_by": submitter.submitter,
        }

    async def kafka_reachable() -> None:
        if not await publisher.broker.ping(timeout=2.0):
            raise ConnectionError("Kafka is not reachable")

    add_health_routes(app, kafka_reachable)

    add_metrics_route(app)

    return app
