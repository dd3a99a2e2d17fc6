"""The reviewer console: server-rendered pages (FastAPI + Jinja2, plain HTML forms, no JavaScript)
mounted at /console by the review HTTP app.

Sign-in takes the same bearer tokens (users, roles, expiry, revocation, rate limit) as the JSON
API; every action calls the same domain methods through `ReviewService.act`, and dispositions
the same `DispositionService` use cases as the API's /dispositions routes, so refusals carry
the same rule ids (REV-...). Only CONSOLE-CSRF and sign-in are the console's own.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
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

from lanthanide_review import views
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.domain.dispositions import MAX_TERM_DAYS, DispositionError, DispositionStatus
from lanthanide_review.domain.licences import ApprovalTerms, ItemCap, LicenceTermsError
from lanthanide_review.domain.model import AlreadyDecided, Case, Recommendation, StaleVersion
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
from lanthanide_review.service_layer import commands as cmd
from lanthanide_review.service_layer.dispositions import DispositionNotFound, DispositionService
from lanthanide_review.service_layer.handlers import CaseNotFound, LicenceNotFound, ReviewService

log = get_logger(__name__)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: Queue rows per page.
PAGE_SIZE = 50
#: The expiry the disposition form offers (days from today; the domain allows up to MAX_TERM_DAYS).
DISPOSITION_DEFAULT_DAYS = min(180, MAX_TERM_DAYS)


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
    dispositions = DispositionService(service)
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

    async def _licence_review_page(request: Request, actor: Actor, status: int = 200,
                                   error: _Refused | None = None) -> HTMLResponse:
        require_role(actor, Action.READ)
        return render(request, "console/licences.html", status=status, actor=actor,
                      rows=await views.licence_review_rows(service), error=error,
                      done=request.query_params.get("done"),
                      review_days=service.policy.sla.licence_review_working_days)

    @app.get("/licence-review", response_class=HTMLResponse)
    async def licence_review(request: Request) -> HTMLResponse:
        return await _licence_review_page(request, actor_of(request))

    # ------------------------------------------------------------ case page

    async def _case_page(request: Request, case_id: UUID, actor: Actor, status: int = 200,
                         error: _Refused | None = None, done: str | None = None) -> HTMLResponse:
        require_role(actor, Action.READ)
        try:
            case, history, licence = await service.get_case(case_id)
        except CaseNotFound:
            raise _Refused(404, f"no case {case_id}") from None
        usage = views.cumulative_for(await views.usage(service), case)
        case_dispositions = await dispositions.for_case(actor, case_id)
        days = service.policy.sla.working_days
        today = service.today()
        return render(
            request, "console/case.html", status=status, actor=actor, case=case, history=history,
            licence=licence, licence_status=licence.effective_status(today).value if licence else None,
            screening=case.screening or {}, app=case.application, usage=usage,
            parties=views.parties_with_hits(case, case_dispositions), dispositions=case_dispositions,
            versions=views.application_versions(case, history),
            general_usage=await views.general_licence_usage_for(service, case, licence),
            disposition_expiry=today + timedelta(days=DISPOSITION_DEFAULT_DAYS),
            disposition_max=today + timedelta(days=MAX_TERM_DAYS),
            due=case.sla.due_date(service.calendar, days),
            due_provisional=case.sla.due_date_provisional(service.calendar, days),
            days_left=case.sla.working_days_left(service.calendar, days, today),
            defaults=views.approval_defaults(case), licence_types=[t.value for t in LicenceType],
            error=error, done=done or request.query_params.get("done"), pending_status=DispositionStatus.PENDING,
        )

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: UUID) -> HTMLResponse:
        return await _case_page(request, case_id, actor_of(request))

    async def _flush() -> None:
        try:
            await relay.flush()
        except Exception as exc:
            log.warning("outbox_flush_deferred", error=repr(exc)[:200])

    # ------------------------------------------------------------ dispositions (issue 14.1)

    def _disposition_refusal(exc: Exception) -> _Refused:
        """The API's answer to a refused disposition, for the page (same status and rule id)."""
        if isinstance(exc, Forbidden):
            return _Refused(403, exc.message, exc.rule_id)
        if isinstance(exc, DispositionError):
            return _Refused(409 if exc.conflict else 422, exc.message, exc.rule_id)
        return _Refused(422, str(exc))

    async def _dispositions_page(request: Request, actor: Actor, status: int = 200,
                                 error: _Refused | None = None) -> HTMLResponse:
        pending = await dispositions.pending(actor)
        return render(request, "console/dispositions.html", status=status, actor=actor, rows=pending,
                      error=error, done=request.query_params.get("done"))

    @app.get("/dispositions", response_class=HTMLResponse)
    async def pending_dispositions(request: Request) -> HTMLResponse:
        return await _dispositions_page(request, actor_of(request))

    @app.post("/cases/{case_id}/dispositions")
    async def propose_disposition(request: Request, case_id: UUID) -> Response:
        """Record a false-positive disposition of one of the case's hits (the API's
        POST /cases/{id}/dispositions): a possible match at once, a certain one pending."""
        actor = actor_of(request)
        form = await checked_form(request)
        try:
            raw_index, expires = form.get("party_index", ""), form.get("expires_on", "")
            if not raw_index.isdigit():
                raise ValueError(f"party_index: {raw_index!r} is not a party number")
            try:
                expires_on = date.fromisoformat(expires)
            except ValueError:
                raise ValueError(f"expires_on: {expires!r} is not a date (YYYY-MM-DD)") from None
            reason = form.get("reason", "").strip()
            if len(reason) < 3:
                raise ValueError("reason: say why the hit is a false positive (at least 3 characters)")
            d = await dispositions.propose(
                actor, case_id, party_index=int(raw_index), list_id=form.get("list_id", ""),
                entry_id=form.get("entry_id", ""), reason=reason, expires_on=expires_on)
        except CaseNotFound:
            raise _Refused(404, f"no case {case_id}") from None
        except (Forbidden, ValueError) as exc:
            refusal = _disposition_refusal(exc)
            return await _case_page(request, case_id, actor, refusal.status, refusal)
        await _flush()
        done = "disposition-recorded" if d.status is DispositionStatus.RECORDED else "disposition-pending"
        return RedirectResponse(f"{request.scope.get('root_path', '')}/cases/{case_id}?done={done}", status_code=303)

    @app.post("/dispositions/{disposition_id}/{op}")
    async def disposition_action(request: Request, disposition_id: str, op: str) -> Response:
        """Approve (the senior second person) or revoke a disposition, as the API's
        POST /dispositions/{id}/approve and /revoke. `back=pending` returns to the pending list."""
        actor = actor_of(request)
        form = await checked_form(request)
        back_to_pending = form.get("back") == "pending"
        case_id: UUID | None = None
        try:
            found = await dispositions.get(actor, disposition_id)
            case_id = UUID(found.case_id)
            if op == "approve":
                await dispositions.approve(actor, disposition_id)
            elif op == "revoke":
                reason = form.get("reason", "").strip()
                if not reason:
                    raise ValueError("reason: say why the disposition is revoked")
                await dispositions.revoke(actor, disposition_id, reason)
            else:
                raise _Refused(404, f"no disposition action {op!r}; use approve or revoke")
        except (DispositionNotFound, CaseNotFound) as exc:
            raise _Refused(404, str(exc)) from None
        except (Forbidden, ValueError) as exc:
            refusal = _disposition_refusal(exc)
            if back_to_pending or case_id is None:
                return await _dispositions_page(request, actor, refusal.status, refusal)
            return await _case_page(request, case_id, actor, refusal.status, refusal)
        await _flush()
        base = request.scope.get("root_path", "")
        done = f"disposition-{'approved' if op == 'approve' else 'revoked'}"
        if back_to_pending:
            return RedirectResponse(f"{base}/dispositions?done={done}", status_code=303)
        return RedirectResponse(f"{base}/cases/{case_id}?done={done}", status_code=303)

    # ------------------------------------------------------------ licences

    @app.post("/licences/{number}/{op}")
    async def licence_action(request: Request, number: str, op: str) -> Response:
        """Suspend, reinstate or revoke a licence (the API's POST /licences/{number}/{op}: the same
        role, conflict-of-interest, four-eyes and state checks, in `Case.manage_licence`).
        `back=licence-review` returns to the licence-review queue."""
        actor = actor_of(request)
        form = await checked_form(request)
        back_to_queue = form.get("back") == "licence-review"
        if op not in ("suspend", "reinstate", "revoke"):
            raise _Refused(404, f"no licence action {op!r}; use suspend, reinstate or revoke")
        try:
            rec = await service.licence(number)
        except LicenceNotFound as exc:
            raise _Refused(404, str(exc)) from None
        case_id = UUID(rec.case_id)
        why = form.get("reason", "").strip()
        refusal: _Refused | None = None
        try:
            if not why:
                raise ValueError(f"reason: say why the licence is to {op}")
            require_role(actor, Action.MANAGE_LICENCE)
            changed = await service.execute(cmd.ManageLicence(case_id, actor, op, why))  # type: ignore[arg-type]
        except Forbidden as exc:
            refusal = _Refused(403, exc.message, exc.rule_id)
        except IllegalTransition as exc:
            refusal = _Refused(409, f"illegal transition: {exc}")
        except ValueError as exc:
            refusal = _Refused(422, str(exc))
        if refusal is not None:
            if back_to_queue:
                return await _licence_review_page(request, actor, refusal.status, refusal)
            return await _case_page(request, case_id, actor, refusal.status, refusal)
        await _flush()
        base = request.scope.get("root_path", "")
        done = _done(op, changed)
        if back_to_queue:
            return RedirectResponse(f"{base}/licence-review?done={done}", status_code=303)
        return RedirectResponse(f"{base}/cases/{case_id}?done={done}", status_code=303)

    async def _act(request: Request, command: cmd.Command, done: str) -> Response:
        case_id, actor = command.case_id, command.actor
        try:
            changed = await service.execute(command)
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
        await _flush()
        base = request.scope.get("root_path", "")
        return RedirectResponse(f"{base}/cases/{case_id}?done={_done(done, changed)}", status_code=303)

    @app.post("/cases/{case_id}/{action}")
    async def case_action(request: Request, case_id: UUID, action: str) -> Response:
        actor = actor_of(request)
        form = await checked_form(request)
        seen = _version(form)
        command: cmd.Command
        try:
            if action == "claim":
                command = cmd.Claim(case_id, actor)
            elif action == "request-information":
                missing, message = _lines(form.get("missing")), form.get("message", "").strip()
                if not message:
                    raise ValueError("message: say what the applicant must provide")
                command = cmd.RequestInformation(case_id, actor, missing, message)
            elif action == "escalate":
                reason, referral = form.get("reason", "").strip(), form.get("referral") == "on"
                if not reason:
                    raise ValueError("reason: say why the case is escalated")
                command = cmd.Escalate(case_id, actor, reason, referral)
            elif action == "recommend":
                outcome = DecisionOutcome(form.get("outcome", "approved"))
                reasons = _reasons(form.get("reasons"))
                if outcome is DecisionOutcome.DENIED and not reasons:
                    raise ValueError("reasons: a denial states at least one reason")
                rec = Recommendation(
                    by=actor.user, outcome=outcome, reasons=reasons, note=form.get("note") or None,
                    terms=_terms(form, seen) if outcome is DecisionOutcome.APPROVED else None,
                    application_version=seen)
                command = cmd.Recommend(case_id, actor, rec)
            elif action == "countersign":
                agree, note = form.get("agree", "yes") == "yes", form.get("note") or None
                command = cmd.Countersign(case_id, actor, agree, note, seen)
            elif action == "approve":
                terms = _terms(form, seen)
                command = cmd.Approve(case_id, actor, terms)
            elif action == "deny":
                deny_reasons = _reasons(form.get("reasons"))
                command = cmd.Deny(case_id, actor, deny_reasons)
            elif action == "withdraw":
                why = form.get("reason", "").strip()
                if not why:
                    raise ValueError("reason: say why the case is withdrawn")
                command = cmd.Withdraw(case_id, actor, why)
            elif action in ("suspend", "reinstate", "revoke"):
                why = form.get("reason", "").strip()
                if not why:
                    raise ValueError(f"reason: say why the licence is to {action}")
                require_role(actor, Action.MANAGE_LICENCE)
                return await _act(request, cmd.ManageLicence(case_id, actor, action, why), action)  # type: ignore[arg-type]
            else:
                raise _Refused(404, f"no console action {action!r}")
        except Forbidden as exc:
            return await _case_page(request, case_id, actor, 403, _Refused(403, exc.message, exc.rule_id))
        except ValueError as exc:
            return await _case_page(request, case_id, actor, 422, _Refused(422, str(exc)))
        return await _act(request, command, action)

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


def _done(action: str, case: Case) -> str:
    """What the page says was done: an override that waits for its second person was only
    requested (REV-OVERRIDE-PENDING)."""
    pending = case.pending_override
    if pending is not None and pending.get("op") == action:
        return f"{action}-requested-a-second-person-confirms"
    return action


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
        general_licence_number=form.get("general_licence_number", "").strip() or None,
    )


__all__ = ["ConsoleOptions", "create_console"]
