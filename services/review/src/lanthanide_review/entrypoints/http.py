"""The reviewer HTTP API (FastAPI): queue, case, and every reviewer action.

(No `from __future__ import annotations` here: FastAPI resolves the local `User` alias.)

Bearer tokens map to (user, roles) from configuration. Refusals carry the rule id that refused;
illegal state moves are 409 with the legal next states.
"""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from lanthanide.auth import Authenticator, AuthError
from lanthanide.contracts import DecisionOutcome, ReasonCode
from lanthanide.http_limits import BodyLimitMiddleware
from lanthanide.logging import get_logger
from pydantic import BaseModel, Field

from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.domain.licences import (
    ApprovalTerms,
    LicenceRecord,
    LicenceTermsError,
    format_quantity,
)
from lanthanide_review.domain.model import AlreadyDecided, Case, Recommendation, StaleVersion
from lanthanide_review.domain.roles import Action, Actor, Forbidden, Role, require_role
from lanthanide_review.domain.states import IllegalTransition
from lanthanide_review.entrypoints.console import ConsoleOptions, create_console
from lanthanide_review.entrypoints.dispositions_http import dispositions_router
from lanthanide_review.service_layer import commands as cmd
from lanthanide_review.service_layer.dispositions import DispositionService
from lanthanide_review.service_layer.handlers import (
    CaseNotFound,
    LicenceNotFound,
    ReviewService,
)

log = get_logger(__name__)


class DenyRequest(BaseModel):
    reasons: list[ReasonCode] = Field(min_length=1)


class InfoRequest(BaseModel):
    missing: list[str] = Field(default_factory=list)
    message: str = Field(min_length=1, max_length=2000)


class EscalateRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    referral: bool = Field(default=False, description="referred for a major national-security decision")


class RecommendRequest(BaseModel):
    outcome: Literal["approved", "denied"]
    terms: ApprovalTerms | None = None
    reasons: list[ReasonCode] = Field(default_factory=list)
    note: str | None = None
    #: The application version the reviewer saw (case view `application_version`).
    application_version: int | None = Field(default=None, ge=1)


class CountersignRequest(BaseModel):
    agree: bool = True
    note: str | None = None
    application_version: int | None = Field(default=None, ge=1)


class ReasonRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": {"error": error, "message": message, **extra}})


def case_view(case: Case, service: ReviewService) -> dict[str, Any]:
    """The case as the API shows it (no application internals beyond what a reviewer needs)."""
    days = service.policy.sla.working_days
    due = case.sla.due_date(service.calendar, days)
    return {
        "case_id": str(case.case_id),
        "state": case.state.value,
        "route": case.route.value if case.route else None,
        "queue": case.queue,
        "external_reference": case.external_reference,
        "exporter": case.exporter_name,
        "assignee": case.assignee,
        "countersign_required": case.countersign_required,
        "senior_only": case.senior_only,
        "recommendation": case.recommendation.model_dump(mode="json") if case.recommendation else None,
        "pending_override": case.pending_override,
        "application_version": case.application_version,
        "rule_ids": case.rule_ids,
        "policy_version": case.policy_version,
        "outcome": case.outcome.value if case.outcome else None,
        "decision_id": str(case.decision_id) if case.decision_id else None,
        "decided_by": case.decided_by,
        "licence_number": case.licence_number,
        "sla": {
            **case.sla.to_dict(),
            "due_on": due.isoformat() if due else None,
            "due_on_provisional": case.sla.due_date_provisional(service.calendar, days),
            "working_days_left": case.sla.working_days_left(service.calendar, days, service.today()),
        },
        "application": case.application,
        "screening": case.screening,
        # What the last re-screen found that the screening before it did not (highlighted).
        "rescreen_evidence": case.rescreen_evidence,
        "licence_review": service.licence_review_view(case),
        "version": case.version,
    }


def licence_view(rec: LicenceRecord, today: date) -> dict[str, Any]:
    return {
        **rec.licence.model_dump(mode="json"),
        "status": rec.effective_status(today).value,
        "status_reason": rec.status_reason,
        "shipments": rec.shipments,
        "drawn": [format_quantity(d) for d in rec.drawn],
        "remaining": [format_quantity(r) for r in rec.remaining()],
        "case_id": rec.case_id,
    }


def create_app(
    service: ReviewService,
    relay: OutboxRelay,
    authenticator: Authenticator,
    readiness: Callable[[], Awaitable[bool]] | None = None,
    max_body_bytes: int = 64_000,
    console: ConsoleOptions | None = None,
) -> FastAPI:
    """The FastAPI app over a ReviewService; request bodies over `max_body_bytes` get 413."""
    app = FastAPI(
        title="Lanthanide review",
        version="1.0",
        description="Case management for dual-use export licence applications.",
    )
    # Reviewer actions are small JSON documents; without a limit one request could make the
    # service buffer (and validate) gigabytes, or write a case event too large for Kafka.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)

    def actor(request: Request) -> Actor:
        client = request.client.host if request.client else "unknown"
        try:
            principal = authenticator.authenticate(
                request.headers.get("authorization"), client=client, path=request.url.path)
        except AuthError as exc:
            if exc.status == 429:
                raise _RateLimited() from None
            raise _Unauthorized() from None
        return Actor(user=principal.user, roles=frozenset(Role(r) for r in principal.roles if r in set(Role)))

    User = Annotated[Actor, Depends(actor)]

    @app.exception_handler(_Unauthorized)
    async def _unauth(_: Request, exc: _Unauthorized) -> JSONResponse:
        resp = _error(401, "unauthorized", "a valid bearer token is required")
        resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.exception_handler(_RateLimited)
    async def _limited(_: Request, exc: _RateLimited) -> JSONResponse:
        resp = _error(429, "too_many_failed_authentications", "too many failed authentications; try again later")
        resp.headers["Retry-After"] = "60"
        return resp

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return _error(403, "forbidden", exc.message, rule_id=exc.rule_id)

    @app.exception_handler(IllegalTransition)
    async def _illegal(_: Request, exc: IllegalTransition) -> JSONResponse:
        return _error(409, "illegal_transition", str(exc), state=exc.current.value, wanted=exc.wanted.value)

    @app.exception_handler(StaleVersion)
    async def _stale(_: Request, exc: StaleVersion) -> JSONResponse:
        return _error(409, "stale_version", str(exc), rule_id=exc.rule_id)

    @app.exception_handler(AlreadyDecided)
    async def _decided(_: Request, exc: AlreadyDecided) -> JSONResponse:
        return _error(409, "already_decided", str(exc), rule_id=exc.rule_id)

    @app.exception_handler(CaseNotFound)
    @app.exception_handler(LicenceNotFound)
    async def _missing(_: Request, exc: LookupError) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(LicenceTermsError)
    async def _terms(_: Request, exc: LicenceTermsError) -> JSONResponse:
        return _error(422, "invalid_licence_terms", exc.message, rule_id=exc.rule_id, loc=exc.loc)

    async def run(command: cmd.Command) -> dict[str, Any]:
        try:
            case = await service.execute(command)
        except ValueError as exc:
            if isinstance(exc, LicenceTermsError):
                raise
            return _error(422, "invalid_request", str(exc))  # type: ignore[return-value]
        try:
            await relay.flush()
        except Exception as exc:
            log.warning("outbox_flush_deferred", error=repr(exc)[:200])
        return case_view(case, service)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        ok = True
        try:
            await service.store.ping()
        except Exception:
            ok = False
        if ok and readiness is not None:
            ok = await readiness()
        return JSONResponse(status_code=200 if ok else 503, content={"ready": ok})

    @app.get("/queue", tags=["cases"])
    async def queue(user: User, queue: str | None = None) -> list[dict[str, Any]]:
        """Open cases, most urgent first, with PRC working days left."""
        require_role(user, Action.READ)
        return await service.queue(queue)

    @app.get("/cases/{case_id}", tags=["cases"])
    async def get_case(case_id: UUID, user: User) -> dict[str, Any]:
        require_role(user, Action.READ)
        case, history, licence = await service.get_case(case_id)
        view = case_view(case, service)
        view["history"] = history
        view["licence"] = licence_view(licence, service.today()) if licence else None
        return view

    @app.post("/cases/{case_id}/claim", tags=["actions"])
    async def claim(case_id: UUID, user: User) -> dict[str, Any]:
        return await run(cmd.Claim(case_id, user))

    @app.post("/cases/{case_id}/request-information", tags=["actions"])
    async def request_information(case_id: UUID, body: InfoRequest, user: User) -> dict[str, Any]:
        return await run(cmd.RequestInformation(case_id, user, body.missing, body.message))

    @app.post("/cases/{case_id}/escalate", tags=["actions"])
    async def escalate(case_id: UUID, body: EscalateRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Escalate(case_id, user, body.reason, body.referral))

    @app.post("/cases/{case_id}/recommend", tags=["actions"])
    async def recommend(case_id: UUID, body: RecommendRequest, user: User) -> dict[str, Any]:
        rec = Recommendation(
            by=user.user, outcome=DecisionOutcome(body.outcome), terms=body.terms, reasons=body.reasons, note=body.note,
            application_version=body.application_version,
        )
        if rec.outcome is DecisionOutcome.DENIED and not rec.reasons:
            return _error(422, "invalid_request", "reasons: a denial states at least one reason")  # type: ignore[return-value]
        return await run(cmd.Recommend(case_id, user, rec))

    @app.post("/cases/{case_id}/countersign", tags=["actions"])
    async def countersign(case_id: UUID, body: CountersignRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Countersign(case_id, user, body.agree, body.note, body.application_version))

    @app.post("/cases/{case_id}/approve", tags=["actions"])
    async def approve(case_id: UUID, body: ApprovalTerms, user: User) -> dict[str, Any]:
        """Approve and issue the licence (licence type, caps, validity, conditions)."""
        return await run(cmd.Approve(case_id, user, body))

    @app.post("/cases/{case_id}/deny", tags=["actions"])
    async def deny(case_id: UUID, body: DenyRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Deny(case_id, user, body.reasons))

    @app.post("/cases/{case_id}/withdraw", tags=["actions"])
    async def withdraw(case_id: UUID, body: ReasonRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Withdraw(case_id, user, body.reason))

    @app.get("/licences/usage", tags=["licences"])
    async def usage(user: User) -> dict[str, Any]:
        """Cumulative quantities per end user and per country, single and general licences (a diversion signal)."""
        require_role(user, Action.READ)
        return await service.usage()

    @app.get("/licences/{number}/usage", tags=["licences"])
    async def general_licence_usage(number: str, user: User) -> dict[str, Any]:
        """A general licence's usage: cap, drawn and remaining per item; the exports under it."""
        require_role(user, Action.READ)
        return await service.general_licence_usage(number)

    @app.get("/licences/{number}", tags=["licences"])
    async def get_licence(number: str, user: User) -> dict[str, Any]:
        require_role(user, Action.READ)
        return licence_view(await service.licence(number), service.today())

    # Dispositions of screening hits (issue 14.1): their own router and service-layer module.
    app.include_router(dispositions_router(DispositionService(service), relay, actor))

    @app.post("/licences/{number}/{op}", tags=["licences"])
    async def licence_action(
        number: str, op: Literal["suspend", "reinstate", "revoke"], body: ReasonRequest, user: User
    ) -> dict[str, Any]:
        require_role(user, Action.MANAGE_LICENCE)
        rec = await service.licence(number)
        return await run(cmd.ManageLicence(UUID(rec.case_id), user, op, body.reason))

    # The reviewer console (server-rendered pages over the same service and authenticator).
    app.mount("/console", create_console(service, relay, authenticator, console))
    return app


class _RateLimited(Exception):
    """Too many failed authentications from one client."""


class _Unauthorized(Exception):
    """No or unknown bearer token."""
