"""The review API's case, reviewer-action and licence routes (an APIRouter the app includes).

(No `from __future__ import annotations` here: FastAPI resolves the local `User` alias.)

    GET  /queue                          open cases, most urgent first
    GET  /cases/{case_id}                a case with its history and licence
    POST /cases/{case_id}/<action>       claim, request-information, escalate, recommend,
                                         countersign, approve, deny, withdraw
    GET  /licences/usage, /licences/{number}, /licences/{number}/usage
    POST /licences/{number}/{op}         suspend, reinstate, revoke

Every action builds a reviewer command (service_layer/commands.py) and runs it through
`ReviewService.execute`; refusals carry the rule id (the app's exception handlers).
"""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from lanthanide.contracts import DecisionOutcome, ReasonCode
from lanthanide.logging import get_logger
from pydantic import BaseModel, Field

from lanthanide_review import views
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.domain.licences import ApprovalTerms, LicenceRecord, LicenceTermsError, format_quantity
from lanthanide_review.domain.model import Case, Recommendation
from lanthanide_review.domain.roles import Action, Actor, require_role
from lanthanide_review.service_layer import commands as cmd
from lanthanide_review.service_layer.handlers import ReviewService

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


def error_response(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    """The API's refusal body: {"detail": {"error", "message", rule_id...}}."""
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
        "licence_review": views.licence_review_view(service, case),
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


def cases_router(service: ReviewService, relay: OutboxRelay, actor: Callable[..., Actor]) -> APIRouter:
    """The case, action and licence routes over `service`; `actor` is the app's authentication
    dependency (bearer token -> Actor)."""
    router = APIRouter()
    User = Annotated[Actor, Depends(actor)]

    async def run(command: cmd.Command) -> dict[str, Any]:
        try:
            case = await service.execute(command)
        except ValueError as exc:
            if isinstance(exc, LicenceTermsError):
                raise
            return error_response(422, "invalid_request", str(exc))  # type: ignore[return-value]
        try:
            await relay.flush()
        except Exception as exc:
            log.warning("outbox_flush_deferred", error=repr(exc)[:200])
        return case_view(case, service)

    @router.get("/queue", tags=["cases"])
    async def queue(user: User, queue: str | None = None) -> list[dict[str, Any]]:
        """Open cases, most urgent first, with PRC working days left."""
        require_role(user, Action.READ)
        return await views.queue(service, queue)

    @router.get("/cases/{case_id}", tags=["cases"])
    async def get_case(case_id: UUID, user: User) -> dict[str, Any]:
        require_role(user, Action.READ)
        case, history, licence = await service.get_case(case_id)
        view = case_view(case, service)
        view["history"] = history
        view["licence"] = licence_view(licence, service.today()) if licence else None
        return view

    @router.post("/cases/{case_id}/claim", tags=["actions"])
    async def claim(case_id: UUID, user: User) -> dict[str, Any]:
        return await run(cmd.Claim(case_id, user))

    @router.post("/cases/{case_id}/request-information", tags=["actions"])
    async def request_information(case_id: UUID, body: InfoRequest, user: User) -> dict[str, Any]:
        return await run(cmd.RequestInformation(case_id, user, body.missing, body.message))

    @router.post("/cases/{case_id}/escalate", tags=["actions"])
    async def escalate(case_id: UUID, body: EscalateRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Escalate(case_id, user, body.reason, body.referral))

    @router.post("/cases/{case_id}/recommend", tags=["actions"])
    async def recommend(case_id: UUID, body: RecommendRequest, user: User) -> dict[str, Any]:
        rec = Recommendation(
            by=user.user, outcome=DecisionOutcome(body.outcome), terms=body.terms, reasons=body.reasons, note=body.note,
            application_version=body.application_version,
        )
        if rec.outcome is DecisionOutcome.DENIED and not rec.reasons:
            return error_response(422, "invalid_request", "reasons: a denial states at least one reason")  # type: ignore[return-value]
        return await run(cmd.Recommend(case_id, user, rec))

    @router.post("/cases/{case_id}/countersign", tags=["actions"])
    async def countersign(case_id: UUID, body: CountersignRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Countersign(case_id, user, body.agree, body.note, body.application_version))

    @router.post("/cases/{case_id}/approve", tags=["actions"])
    async def approve(case_id: UUID, body: ApprovalTerms, user: User) -> dict[str, Any]:
        """Approve and issue the licence (licence type, caps, validity, conditions)."""
        return await run(cmd.Approve(case_id, user, body))

    @router.post("/cases/{case_id}/deny", tags=["actions"])
    async def deny(case_id: UUID, body: DenyRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Deny(case_id, user, body.reasons))

    @router.post("/cases/{case_id}/withdraw", tags=["actions"])
    async def withdraw(case_id: UUID, body: ReasonRequest, user: User) -> dict[str, Any]:
        return await run(cmd.Withdraw(case_id, user, body.reason))

    @router.get("/licences/usage", tags=["licences"])
    async def usage(user: User) -> dict[str, Any]:
        """Cumulative quantities per end user and per country, single and general licences (a diversion signal)."""
        require_role(user, Action.READ)
        return await views.usage(service)

    @router.get("/licences/{number}/usage", tags=["licences"])
    async def general_licence_usage(number: str, user: User) -> dict[str, Any]:
        """A general licence's usage: cap, drawn and remaining per item; the exports under it."""
        require_role(user, Action.READ)
        return await views.general_licence_usage(service, number)

    @router.get("/licences/{number}", tags=["licences"])
    async def get_licence(number: str, user: User) -> dict[str, Any]:
        require_role(user, Action.READ)
        return licence_view(await service.licence(number), service.today())

    @router.post("/licences/{number}/{op}", tags=["licences"])
    async def licence_action(
        number: str, op: Literal["suspend", "reinstate", "revoke"], body: ReasonRequest, user: User
    ) -> dict[str, Any]:
        require_role(user, Action.MANAGE_LICENCE)
        rec = await service.licence(number)
        return await run(cmd.ManageLicence(UUID(rec.case_id), user, op, body.reason))

    return router
