"""The reviewer console: server-rendered pages (FastAPI + Jinja2, plain HTML forms, no JavaScript)
mounted at /console by the review HTTP app.

Sign-in takes the same bearer tokens (users, roles, expiry, revocation, rate limit) as the JSON
API; every action calls the same domain methods through `ReviewService.act`, so refusals carry
the same rule ids (REV-...). Only CONSOLE-CSRF and sign-in are the console's own.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from secrets import token_urlsafe
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from lanthanide.auth import Authenticator, AuthError
from lanthanide.contracts import DecisionOutcome, LicenceType, ReasonCode
from lanthanide.logging import get_logger
from starlette.middleware.sessions import SessionMiddleware

from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.domain.licences import ApprovalTerms, ItemCap, LicenceRecord, LicenceTermsError
from lanthanide_review.domain.model import AlreadyDecided, Case, Context, Recommendation, StaleVersion
from lanthanide_review.domain.roles import PERMISSIONS, Action, Actor, Forbidden, Role, require_role
from lanthanide_review.domain.states import IllegalTransition
from lanthanide_review.entrypoints.console import charts
from lanthanide_review.entrypoints.console.sessions import (
    CSRF_FIELD,
    CSRF_RULE,
    SessionStore,
    csrf_matches,
    new_csrf_token,
)
from lanthanide_review.service_layer import console_views as views
from lanthanide_review.service_layer.handlers import CaseNotFound, LicenceNotFound, Operation, ReviewService

log = get_logger(__name__)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: Queue rows per page.
PAGE_SIZE = 50


@dataclass
class ConsoleOptions:
    """How the console's cookie is made (from LANTHANIDE_REVIEW_CONSOLE_* settings)."""

    #: Signs the session cookie; a random key per process when not configured (a restart signs out).
    session_secret: str = field(default_factory=lambda: token_urlsafe(32))
    #: Send the cookie over HTTPS only (turn off only for a loopback test stack).
    cookie_secure: bool = True
    session_minutes: int = 480


class _SignIn(Exception):
    """No valid console session: go to the sign-in page."""


class _Refused(Exception):
    def __init__(self, status: int, message: str, rule_id: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.rule_id = status, message, rule_id


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _reasons(text: str | None) -> list[ReasonCode]:
    """Reason lines "CODE: text" (a code alone is its own text)."""
    out = []
    for line in _lines(text):
        code, _, rest = line.partition(":")
        out.append(ReasonCode(code=code.strip(), text=rest.strip() or code.strip()))
    return out


def _version(form: dict[str, str]) -> int | None:
    raw = form.get("application_version", "")
    return int(raw) if raw.isdigit() else None


def create_console(
    service: ReviewService, relay: OutboxRelay, authenticator: Authenticator, options: ConsoleOptions | None = None
) -> FastAPI:
    """The console app (mount it at /console)."""
    options = options or ConsoleOptions()
    app = FastAPI(title="Lanthanide reviewer console", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware, secret_key=options.session_secret, session_cookie="lanthanide_console",
        max_age=options.session_minutes * 60, same_site="strict", https_only=options.cookie_secure,
    )
    sessions = SessionStore(lifetime_seconds=options.session_minutes * 60.0)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.globals.update(may=lambda actor, action: bool(actor.roles & PERMISSIONS[Action(action)]))

    def actor_of(request: Request) -> Actor:
        token = sessions.token(request.session.get("sid"))
        if token is None:
            raise _SignIn()
        client = request.client.host if request.client else "unknown"
        try:
            p = authenticator.authenticate(f"Bearer {token}", client=client, path=request.url.path)
        except AuthError:
            sessions.end(request.session.get("sid"))
            request.session.clear()
            raise _SignIn() from None
        return Actor(user=p.user, roles=frozenset(Role(r) for r in p.roles if r in set(Role)))

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = new_csrf_token()
        return str(token)

    async def checked_form(request: Request) -> dict[str, str]:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not csrf_matches(request.session.get("csrf"), form.get(CSRF_FIELD)):
            raise _Refused(403, "the form's CSRF token is missing or not this session's; reload the page", CSRF_RULE)
        return form

    def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("actor", None)
        return templates.TemplateResponse(
            request, name, {"base": request.scope.get("root_path", ""), "csrf": csrf(request), **ctx},
            status_code=status)

    @app.exception_handler(_SignIn)
    async def _to_sign_in(request: Request, _: _SignIn) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)

    @app.exception_handler(_Refused)
    async def _refused(request: Request, exc: _Refused) -> HTMLResponse:
        return render(request, "console/refused.html", status=exc.status, error=exc)

    # ------------------------------------------------------------ sign-in

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> HTMLResponse:
        return render(request, "console/login.html")

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await checked_form(request)
        token = form.get("token", "").strip()
        client = request.client.host if request.client else "unknown"
        try:
            authenticator.authenticate(f"Bearer {token}", client=client, path=request.url.path)
        except AuthError as exc:
            return render(request, "console/login.html", status=exc.status,
                          message="too many failed sign-ins; try again later" if exc.status == 429
                          else "that token is not valid (unknown, expired or revoked)")
        sessions.end(request.session.get("sid"))
        request.session.clear()  # a new session id and CSRF token on sign-in (no fixation)
        request.session["sid"] = sessions.create(token)
        request.session["csrf"] = new_csrf_token()
        return RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await checked_form(request)
        sessions.end(request.session.get("sid"))
        request.session.clear()
        return RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)

    # ------------------------------------------------------------ queues

    async def _queue_page(request: Request, title: str, mine: bool) -> HTMLResponse:
        actor = actor_of(request)
        require_role(actor, Action.READ)
        q = request.query_params
        flt = views.QueueFilter(
            queue=q.get("queue") or None, route=q.get("route") or None, state=q.get("state") or None,
            assignee=actor.user if mine else (q.get("assignee") or None), text=q.get("q") or None,
            flagged=q.get("flagged") == "1", sort=q.get("sort", "due"), descending=q.get("desc") == "1",
        )
        wanted = int(q["page"]) if q.get("page", "").isdigit() else 1
        found = await views.queue_page(service, flt, page=wanted, page_size=PAGE_SIZE)
        # Page links keep the filters and the sort (the query string is the page's state).
        kept = [(k, v) for k, v in q.multi_items() if k != "page"]
        links = {n: "?" + urlencode([*kept, ("page", str(n))]) for n in (found.page - 1, found.page + 1)
                 if 1 <= n <= found.pages}
        return render(request, "console/queue.html", actor=actor, title=title, rows=found.rows, total=found.total,
                      page=found.page, pages=found.pages, links=links, flt=flt, mine=mine,
                      queues=sorted({r.queue for r in service.policy.rules if r.queue}),
                      sort_keys=views.SORT_KEYS, today=service.today())

    @app.get("/", response_class=HTMLResponse)
    async def queue(request: Request) -> HTMLResponse:
        return await _queue_page(request, "Open cases", mine=False)

    @app.get("/mine", response_class=HTMLResponse)
    async def mine(request: Request) -> HTMLResponse:
        return await _queue_page(request, "My cases", mine=True)

    @app.get("/licence-review", response_class=HTMLResponse)
    async def licence_review(request: Request) -> HTMLResponse:
        actor = actor_of(request)
        require_role(actor, Action.READ)
        return render(request, "console/licences.html", actor=actor, rows=await views.licence_review_rows(service))

    # ------------------------------------------------------------ case page

    async def _case_page(request: Request, case_id: UUID, actor: Actor, status: int = 200,
                         error: _Refused | None = None, done: str | None = None) -> HTMLResponse:
        require_role(actor, Action.READ)
        try:
            case, history, licence = await service.get_case(case_id)
        except CaseNotFound:
            raise _Refused(404, f"no case {case_id}") from None
        usage = views.cumulative_for(await service.usage(), case)
        days = service.policy.sla.working_days
        today = service.today()
        return render(
            request, "console/case.html", status=status, actor=actor, case=case, history=history,
            licence=licence, licence_status=licence.effective_status(today).value if licence else None,
            screening=case.screening or {}, app=case.application, usage=usage,
            parties=views.parties_with_hits(case),
            due=case.sla.due_date(service.calendar, days),
            due_provisional=case.sla.due_date_provisional(service.calendar, days),
            days_left=case.sla.working_days_left(service.calendar, days, today),
            defaults=views.approval_defaults(case), licence_types=[t.value for t in LicenceType],
            error=error, done=done or request.query_params.get("done"),
        )

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: UUID) -> HTMLResponse:
        return await _case_page(request, case_id, actor_of(request))

    async def _act(request: Request, case_id: UUID, actor: Actor, op: Operation, done: str,
                   with_licence: bool = False) -> Response:
        try:
            await service.act(case_id, op, with_licence=with_licence)
        except Forbidden as exc:
            return await _case_page(request, case_id, actor, 403, _Refused(403, exc.message, exc.rule_id))
        except (StaleVersion, AlreadyDecided) as exc:
            return await _case_page(request, case_id, actor, 409, _Refused(409, str(exc), exc.rule_id))
        except IllegalTransition as exc:
            return await _case_page(request, case_id, actor, 409, _Refused(409, f"illegal transition: {exc}"))
        except LicenceTermsError as exc:
            return await _case_page(request, case_id, actor, 422, _Refused(422, f"{exc.loc}: {exc.message}",
                                                                            exc.rule_id))
        except (CaseNotFound, LicenceNotFound) as exc:
            raise _Refused(404, str(exc)) from None
        except ValueError as exc:
            return await _case_page(request, case_id, actor, 422, _Refused(422, str(exc)))
        try:
            await relay.flush()
        except Exception as exc:
            log.warning("outbox_flush_deferred", error=repr(exc)[:200])
        base = request.scope.get("root_path", "")
        return RedirectResponse(f"{base}/cases/{case_id}?done={done}", status_code=303)

    @app.post("/cases/{case_id}/{action}")
    async def case_action(request: Request, case_id: UUID, action: str) -> Response:
        actor = actor_of(request)
        form = await checked_form(request)
        seen = _version(form)
        op: Operation
        try:
            if action == "claim":
                op = lambda c, ctx, _l: c.claim(actor, ctx)  # noqa: E731
            elif action == "request-information":
                missing, message = _lines(form.get("missing")), form.get("message", "").strip()
                if not message:
                    raise ValueError("message: say what the applicant must provide")
                op = lambda c, ctx, _l: c.request_information(actor, ctx, missing, message)  # noqa: E731
            elif action == "escalate":
                reason, referral = form.get("reason", "").strip(), form.get("referral") == "on"
                if not reason:
                    raise ValueError("reason: say why the case is escalated")
                op = lambda c, ctx, _l: c.escalate(actor, ctx, reason, referral)  # noqa: E731
            elif action == "recommend":
                outcome = DecisionOutcome(form.get("outcome", "approved"))
                reasons = _reasons(form.get("reasons"))
                if outcome is DecisionOutcome.DENIED and not reasons:
                    raise ValueError("reasons: a denial states at least one reason")
                rec = Recommendation(
                    by=actor.user, outcome=outcome, reasons=reasons, note=form.get("note") or None,
                    terms=_terms(form, seen) if outcome is DecisionOutcome.APPROVED else None,
                    application_version=seen)
                op = lambda c, ctx, _l: c.recommend(actor, ctx, rec)  # noqa: E731
            elif action == "countersign":
                agree, note = form.get("agree", "yes") == "yes", form.get("note") or None
                op = lambda c, ctx, _l: c.countersign(actor, ctx, agree, note, seen)  # noqa: E731
            elif action == "approve":
                terms = _terms(form, seen)
                op = lambda c, ctx, _l: c.approve(actor, ctx, terms)  # noqa: E731
            elif action == "deny":
                deny_reasons = _reasons(form.get("reasons"))
                op = lambda c, ctx, _l: c.deny(actor, ctx, deny_reasons)  # noqa: E731
            elif action == "withdraw":
                why = form.get("reason", "").strip()
                if not why:
                    raise ValueError("reason: say why the case is withdrawn")
                op = lambda c, ctx, _l: c.withdraw(actor, ctx, why)  # noqa: E731
            elif action in ("suspend", "reinstate", "revoke"):
                why = form.get("reason", "").strip()
                if not why:
                    raise ValueError(f"reason: say why the licence is to {action}")
                require_role(actor, Action.MANAGE_LICENCE)
                return await _act(request, case_id, actor, _licence_op(action, why, actor), action, with_licence=True)
            else:
                raise _Refused(404, f"no console action {action!r}")
        except Forbidden as exc:
            return await _case_page(request, case_id, actor, 403, _Refused(403, exc.message, exc.rule_id))
        except ValueError as exc:
            return await _case_page(request, case_id, actor, 422, _Refused(422, str(exc)))
        return await _act(request, case_id, actor, op, action)

    # Hook: record a false-positive disposition (second reviewer for certain matches) goes here
    # once dispositions are review actions (the workflow-integrity work); the case page shows
    # suppressed hits from the screening result meanwhile.

    # ------------------------------------------------------------ dashboard

    @app.get("/dashboard", response_class=HTMLResponse)
    async def dashboard(request: Request) -> HTMLResponse:
        actor = actor_of(request)
        require_role(actor, Action.READ)
        perf = await views.performance(service)
        labels = [d["day"].isoformat()[5:] for d in perf["per_day"]]
        series = {o: [d["counts"].get(o, 0) for d in perf["per_day"]] for o in perf["outcomes"]}
        queues = [q for q in perf["by_queue"] if q["queue"] != "(all)"]
        return render(
            request, "console/dashboard.html", actor=actor, perf=perf,
            decisions_chart=charts.stacked_bars("Decisions per day by outcome", labels, series),
            median_chart=charts.hbars("Median working days to decision by queue",
                                      [(q["queue"], q["median_working_days"]) for q in queues], " d"),
            breach_chart=charts.hbars("Open cases breaching or due this week by queue",
                                      [(q["queue"], float(q["breaching"] + q["due_this_week"])) for q in queues]),
            palette=charts.PALETTE,
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        return render(request, "console/refused.html", status=403, error=_Refused(403, exc.message, exc.rule_id))

    return app


def _terms(form: dict[str, str], seen: int | None) -> ApprovalTerms:
    """Approval terms from the approve form (empty fields take the domain's defaults)."""
    items = []
    for key, raw in form.items():
        if key.startswith("cap_") and raw.strip():
            try:
                items.append(ItemCap(item_index=int(key[4:]), quantity_cap=Decimal(raw.strip())))
            except (InvalidOperation, ValueError):
                raise ValueError(f"items.{key[4:]}.quantity_cap: {raw!r} is not a quantity") from None
    return ApprovalTerms(
        licence_type=LicenceType(form.get("licence_type") or LicenceType.SINGLE.value),
        items=items or None,
        end_users=_lines(form.get("end_users")) or None,
        valid_from=date.fromisoformat(form["valid_from"]) if form.get("valid_from") else None,
        valid_until=date.fromisoformat(form["valid_until"]) if form.get("valid_until") else None,
        conditions=_lines(form.get("conditions")),
        application_version=seen,
    )


def _licence_op(op: str, reason: str, actor: Actor) -> Operation:
    def apply(case: Case, ctx: Context, licence: LicenceRecord | None) -> None:
        if licence is None:
            raise LicenceNotFound(f"case {case.case_id} has no licence")
        case.manage_licence(actor, ctx, licence, op, reason)

    return apply


__all__ = ["ConsoleOptions", "create_console"]
