"""The case aggregate: everything review decides happens through these methods.

Each method checks the state machine and the actor's rights, changes the case, and appends the
payloads it produced (CaseEvent, DecisionMade) to `case.outbox`; the service layer wraps them in
envelopes and stores them with the case in one transaction. A case is decided at most once:
`_decide` refuses a second decision whatever asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from lanthanide.contracts import (
    Application,
    CaseEvent,
    CaseEventKind,
    DecisionCondition,
    DecisionMade,
    DecisionOutcome,
    GeneralLicenceUsage,
    Licence,
    LicenceStatusChanged,
    LicenceType,
    PartyRole,
    Reason,
    ReasonCode,
    Route,
    ScreeningCompleted,
)
from lanthanide.ids import derived_id
from lanthanide.submitters import RULE_CONTACT_OWNER, case_submitter, may_change_contact
from pydantic import BaseModel

from lanthanide_review.domain import green_channel
from lanthanide_review.domain.licences import (
    ApprovalTerms,
    LicenceNumbers,
    LicenceRecord,
    LicenceStatus,
    LicenceTermsError,
    issue_licence,
)
from lanthanide_review.domain.policy import PolicyAction, PolicyRule, RoutingPolicy
from lanthanide_review.domain.rescreen import LICENCE_REVIEW_QUEUE, LicenceReview, compare
from lanthanide_review.domain.roles import Action, Actor, ConflictRegister, Forbidden, authorize
from lanthanide_review.domain.sla import PrcCalendar, SlaClock
from lanthanide_review.domain.states import (
    DECIDED_STATES,
    WAITING_FOR_APPLICANT,
    CaseState,
    IllegalTransition,
    check_transition,
)
from lanthanide_review.domain.versions import application_changes

SYSTEM = "system"
AUTO = "auto"
S = CaseState


class AlreadyDecided(Exception):
    """A second decision was asked for a decided case (REV-DECIDED-ONCE)."""

    rule_id = "REV-DECIDED-ONCE"


class StaleVersion(Exception):
    """A reviewer step names an application version that is no longer current (REV-VERSION-STALE)."""

    rule_id = "REV-VERSION-STALE"


@dataclass
class Context:
    """What a domain operation needs from outside: policy, calendar, clock, conflicts."""

    policy: RoutingPolicy
    calendar: PrcCalendar
    today: date
    now: datetime
    conflicts: ConflictRegister = field(default_factory=ConflictRegister)
    numbers: LicenceNumbers | None = None
    #: General licences named by the green-channel cases of this unit of work, read locked.
    general_licences: dict[str, LicenceRecord] = field(default_factory=dict)
    #: (list id, entry id) hits of the case a recorded disposition judged false positives.
    cleared_hits: frozenset[tuple[str, str]] = frozenset()


class Recommendation(BaseModel):
    """What the first reviewer of a four-eyes case proposes."""

    by: str
    outcome: DecisionOutcome
    terms: ApprovalTerms | None = None
    reasons: list[ReasonCode] = []
    note: str | None = None
    #: The application version the recommender saw.
    application_version: int | None = None


@dataclass
class Case:
    """A licence case in review."""

    case_id: UUID
    external_reference: str
    exporter_name: str
    application: dict[str, Any]
    correlation_id: UUID
    state: CaseState = S.RECEIVED
    route: Route | None = None
    queue: str | None = None
    screening: dict[str, Any] | None = None
    rule_ids: list[str] = field(default_factory=list)
    policy_version: str | None = None
    assignee: str | None = None
    senior_only: bool = False
    countersign_required: bool = False
    recommendation: Recommendation | None = None
    #: Each resubmission with changed content is a new version; reviewer steps taken on an
    #: earlier version are void (recorded, never deleted).
    application_version: int = 1
    #: The case's own submitter (the first screened version's submitted_by): only its
    #: resubmissions change the contact decision.made carries (rule SUB-CONTACT-OWNER).
    submitter: str | None = None
    #: A single-person override waiting for its second person: {"op", "by", "reason"}.
    pending_override: dict[str, Any] | None = None
    #: Who suspended the case's licence (SYSTEM when re-screening did): reinstating a licence
    #: that re-screening suspended needs two people.
    licence_suspended_by: str | None = None
    #: The licence-review item re-screening opened when it suspended the licence (closed by
    #: reinstating or revoking the licence).
    licence_review: LicenceReview | None = None
    #: What the last re-screen found that the screening before it did not (for the reviewer).
    rescreen_evidence: dict[str, Any] | None = None
    resume_state: CaseState | None = None
    sla: SlaClock = field(default_factory=SlaClock)
    outcome: DecisionOutcome | None = None
    decision_id: UUID | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    licence_number: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    # Produced by the last operation, not persisted on the case itself.
    outbox: list[BaseModel] = field(default_factory=list)
    new_licence: LicenceRecord | None = None
    #: The general licence a green-channel approval drew down (saved with the case; not persisted on it).
    drawn_licence: LicenceRecord | None = None
    # The validated form of `application` when known (set with it; never persisted).
    _app: Application | None = field(default=None, init=False, repr=False, compare=False)
    # Who asked for the override a second person is confirming (during that operation only).
    _first_signature: str = field(default="", init=False, repr=False, compare=False)

    # ------------------------------------------------------------ creation and screening

    @classmethod
    def open(cls, case_id: UUID, result: ScreeningCompleted, correlation_id: UUID, now: datetime) -> Case:
        """A new case from its first screening result."""
        case = cls(
            case_id=case_id,
            external_reference=result.external_reference,
            exporter_name=result.application.exporter.name,
            application=result.application.model_dump(mode="json"),
            correlation_id=correlation_id,
            created_at=now,
            submitter=result.submitted_by,
        )
        case._app = result.application
        case._event(
            CaseEventKind.RECEIVED, SYSTEM, None, S.RECEIVED, details={"external_reference": result.external_reference}
        )
        return case

    @property
    def app(self) -> Application:
        """The application, validated (once: `application` is only replaced with `_app`)."""
        if self._app is None:
            self._app = Application.model_validate(self.application)
        return self._app

    @property
    def is_decided(self) -> bool:
        return self.state in DECIDED_STATES

    def on_screening(self, result: ScreeningCompleted, ctx: Context, licence: LicenceRecord | None = None) -> None:
        """Apply a screening result: route a new or waiting case; never decide twice."""
        first = self.screening is None
        if result.is_rescreen:
            self._on_rescreen(result, ctx, licence)
            return
        if self.is_decided:
            # A resubmission after the decision: recorded, never decided again.
            self._event(
                CaseEventKind.AMENDED,
                SYSTEM,
                self.state,
                self.state,
                reason="resubmission after the decision: recorded, not decided again",
                details={"route": result.route.value, "applied": False},
            )
            return
        result, refusal = self._contact_owner(result)
        submitted = result.application.model_dump(mode="json")
        changed = not first and submitted != self.application
        # What the new version changed, field by field (kept in its AMENDED event).
        changes = application_changes(self.application, submitted) if changed else None
        if changed:
            self.application_version += 1
        if changed and self.state not in WAITING_FOR_APPLICANT and self.state is not S.RECEIVED:
            # The application changed under the reviewers: what they did was for the earlier
            # version. The steps are void (recorded here, never deleted) and the case goes back
            # to the queue with the new screening, so no licence is issued from swapped content.
            voided = []
            if self.recommendation is not None:
                voided.append(f"recommendation by {self.recommendation.by}")
            if self.assignee:
                voided.append(f"claim by {self.assignee}")
            if self.pending_override is not None:
                voided.append(f"{self.pending_override.get('op')} requested by {self.pending_override.get('by')}")
            self.recommendation = None
            self.assignee = None
            self.pending_override = None
            self._keep_screening(result)
            if result.route is Route.ENHANCED or result.active_hits:
                self.countersign_required = True
            self.route = result.route
            self.queue = self.queue or "standard"
            self._move(
                S.QUEUED,
                CaseEventKind.AMENDED,
                SYSTEM,
                "resubmission while in review: a new application version, earlier review steps are void",
                {"route": result.route.value, "applied": True, "application_version": self.application_version,
                 "changes": changes, "voided": voided, "redo": ["claim", "review", "recommend/approve"], **refusal},
            )
            return
        if not first and self.state not in WAITING_FOR_APPLICANT and self.state is not S.RECEIVED:
            # In review already, same content: keep the new facts for the reviewer, stay where we are.
            self._keep_screening(result)
            if result.route is Route.ENHANCED:
                self.countersign_required = True
            self._event(
                CaseEventKind.AMENDED,
                SYSTEM,
                self.state,
                self.state,
                reason="resubmission while in review: recorded for the reviewer",
                details={"route": result.route.value, "applied": False, **refusal},
            )
            return
        if not first:
            self._event(
                CaseEventKind.AMENDED,
                SYSTEM,
                self.state,
                self.state,
                reason="applicant resubmitted",
                details={"route": result.route.value, "applied": True, **refusal,
                         **({"application_version": self.application_version, "changes": changes} if changed else {})},
            )
        self._keep_screening(result)
        self._route(result, ctx)

    def _contact_owner(self, result: ScreeningCompleted) -> tuple[ScreeningCompleted, dict[str, Any]]:
        """A version from a submitter other than the case's own keeps the case's contact (rule
        SUB-CONTACT-OWNER): the result with the contact the case has, and the refusal for the
        AMENDED event (who, never the addresses), or the result as it is and no refusal."""
        first = self.submitter
        self.submitter = case_submitter(first, result.submitted_by)
        kept = self.app.contact
        if may_change_contact(first, result.submitted_by) or result.application.contact == kept:
            return result, {}
        application = result.application.model_copy(update={"contact": kept})
        refusal = {"contact_change_refused": {"rule_id": RULE_CONTACT_OWNER, "submitted_by": result.submitted_by,
                                              "case_submitter": first}}
        return result.model_copy(update={"application": application}), refusal

    def _keep_screening(self, result: ScreeningCompleted) -> None:
        self.screening = result.model_dump(mode="json")
        # The screening's own dump of the application (the same JSON), not a second dump.
        self.application = self.screening["application"]
        self._app = result.application

    def _route(self, result: ScreeningCompleted, ctx: Context) -> None:
        policy = ctx.policy
        rule = policy.rule_for(result.route)
        action = policy.effective_action(rule)
        self.route = result.route
        self.rule_ids = [rule.id]
        self.policy_version = policy.version
        resuming_from = self.state
        if resuming_from is S.INFO_REQUESTED:
            self.sla.resume(ctx.calendar, ctx.today)
        if result.complete:
            # The clock starts on the application's as-of date (its PRC receipt date, fixed at
            # intake), not on the day review got round to it; a re-screen starts it on its own date.
            self.sla.start(result.screened_on if result.as_of_basis == "receipt" else ctx.today)
        off_kinds = set(policy.sla.clock_off_list_kinds)
        if any(h.list_kind in off_kinds for h in result.active_hits):
            self.sla.switch_off("a party is on a list that switches the clock off (watch list)")

        if action is PolicyAction.DECIDE_NO_LICENCE_REQUIRED:
            self._decide_no_licence_required(result, rule.id, ctx)
        elif action is PolicyAction.DENY:
            self._decide(
                DecisionOutcome.DENIED, ctx, actor=AUTO, reasons=denial_reasons(result), extra_rule_ids=result.rule_ids
            )
        elif action is PolicyAction.APPROVE and result.application.general_licence_number:
            self._green_channel(result, ctx)
        elif action is PolicyAction.APPROVE:
            app = result.application
            terms = ApprovalTerms(licence_type=rule.licence_type)
            extra = (
                [f"Green channel approval under general licence {app.general_licence_number}."]
                if app.general_licence_number
                else ["Green channel approval."]
            )
            self._approve(terms, ctx, actor=AUTO, extra_conditions=extra)
        elif action is PolicyAction.QUEUE:
            self._queue(result, ctx, rule, resuming_from)
        else:  # request information: the clock does not start until the application is complete
            self.queue = None
            self._move(
                S.INCOMPLETE,
                CaseEventKind.INFO_REQUESTED,
                SYSTEM,
                "application incomplete",
                {"missing_documents": list(result.missing_documents), "rule_id": rule.id},
            )

    def _green_channel(self, result: ScreeningCompleted, ctx: Context) -> None:
        """Approve at once under the general licence the application names, drawing the applied
        quantities down in this unit of work; if review's own record of that licence does not
        cover it (cap used up by a concurrent case, sub-item, end user, validity), queue it."""
        number = result.application.general_licence_number
        assert number is not None
        rec = ctx.general_licences.get(number)
        outcome = green_channel.check(rec, result, ctx.today)
        if isinstance(outcome, green_channel.GreenChannelRefusal):
            standard = ctx.policy.rule_for(Route.STANDARD)
            self.rule_ids = [standard.id, outcome.rule_id]
            self._queue(result, ctx, standard, self.state,
                        reason=outcome.reason, refused_rule=outcome.rule_id)
            return
        assert rec is not None
        rule = ctx.policy.rule_for(Route.GREEN_CHANNEL)
        terms = ApprovalTerms(licence_type=LicenceType.SINGLE)
        self._approve(
            terms, ctx, actor=AUTO,
            extra_conditions=[f"Green channel export under general licence {number}, valid no later than "
                              f"{rec.licence.valid_until}."],
            not_after=rec.licence.valid_until, general=rec, draw=outcome, policy_rule=rule.id,
        )

    def _queue(
        self, result: ScreeningCompleted, ctx: Context, rule: PolicyRule, resuming_from: CaseState,
        *, reason: str = "routing policy", refused_rule: str | None = None,
    ) -> None:
        """Queue the case for a reviewer under `rule` (the policy's, or standard after a refusal)."""
        self.countersign_required = self.countersign_required or rule.countersign_required
        self.queue = rule.queue
        target = S.QUEUED
        if resuming_from is S.INFO_REQUESTED and self.resume_state in (S.UNDER_REVIEW, S.ESCALATED):
            target = self.resume_state  # resume where it was, with the same reviewer
        self.resume_state = None
        details: dict[str, Any] = {
            "queue": rule.queue,
            "rule_id": rule.id,
            "countersign_required": self.countersign_required,
        }
        if rule.action is PolicyAction.DENY:
            details["proposed_outcome"] = DecisionOutcome.DENIED.value
            details["proposed_reasons"] = [r.model_dump() for r in denial_reasons(result)]
        if refused_rule is not None:
            # The refusal's rule id is a field of its own (the event's reason is its text).
            details["green_channel_refused"] = refused_rule
            details["general_licence_number"] = result.application.general_licence_number
        kind = CaseEventKind.QUEUED if target is S.QUEUED else CaseEventKind.STATE_CHANGED
        self._move(target, kind, SYSTEM, reason, details)

    def _on_rescreen(self, result: ScreeningCompleted, ctx: Context, licence: LicenceRecord | None) -> None:
        """A list or measure changed. Only what the last screening did not have is new evidence:
        an unchanged result is recorded and changes nothing (REV-RESCREEN-UNCHANGED); new evidence
        sends an open case back to review saying which steps to redo (REV-RESCREEN-NEW-EVIDENCE),
        or suspends a live licence and opens a licence-review item (REV-LICENCE-REVIEW)."""
        news = compare(self.screening, result)
        details: dict[str, Any] = {
            "route": result.route.value,
            "hits": len(result.hits),
            "list_versions": dict(result.list_versions),
        }
        if news.unchanged:
            self._event(
                CaseEventKind.STATE_CHANGED,
                SYSTEM,
                self.state,
                self.state,
                reason="re-screened: no new hit, red flag or denial; nothing changed",
                details={**details, "rule_id": "REV-RESCREEN-UNCHANGED", "applied": False},
            )
            return
        self.screening = result.model_dump(mode="json")
        evidence = news.evidence()
        self.rescreen_evidence = evidence
        details.update(evidence)
        reason = news.summary()
        if self.state is S.APPROVED and licence is not None and licence.status is LicenceStatus.ACTIVE:
            # A live licence: suspended until a licence review reinstates or revokes it. An
            # exhausted or expired one is no longer live (recorded below, nothing to suspend).
            licence.status = LicenceStatus.SUSPENDED
            licence.status_reason = reason
            self.licence_suspended_by = SYSTEM
            self._licence_status(licence, SYSTEM, reason, ctx)
            self.licence_review = LicenceReview(
                licence_number=licence.licence.number,
                opened_on=ctx.today,
                opened_at=ctx.now,
                reason=reason,
                evidence=evidence,
            )
            self._move(
                S.LICENCE_SUSPENDED,
                CaseEventKind.LICENCE_SUSPENDED,
                SYSTEM,
                reason,
                {
                    **details,
                    "licence_number": licence.licence.number,
                    "rule_id": "REV-LICENCE-REVIEW",
                    "review_queue": LICENCE_REVIEW_QUEUE,
                    "review_due_on": self.licence_review.due_date(
                        ctx.calendar, ctx.policy.sla.licence_review_working_days
                    ).isoformat(),
                },
            )
            return
        if self.is_decided:
            self._event(
                CaseEventKind.STATE_CHANGED,
                SYSTEM,
                self.state,
                self.state,
                reason=f"{reason}; case already decided, no live licence",
                details=details,
            )
            return
        if result.route is Route.ENHANCED or result.active_hits:
            self.countersign_required = True
        self.route = result.route
        details["rule_id"] = "REV-RESCREEN-NEW-EVIDENCE"
        if self.state in WAITING_FOR_APPLICANT or self.state is S.RECEIVED:
            # Nobody has reviewed it yet: the new evidence waits for the resumed review.
            self._event(
                CaseEventKind.STATE_CHANGED, SYSTEM, self.state, self.state,
                reason=f"{reason}; recorded for the review", details={**details, "redo": []},
            )
            return
        voided = []
        redo = ["review the new evidence"]
        if self.assignee:
            voided.append(f"claim by {self.assignee}")
            redo.insert(0, "claim")
        if self.recommendation is not None:
            voided.append(f"recommendation by {self.recommendation.by}")
        if self.pending_override is not None:
            voided.append(f"{self.pending_override.get('op')} requested by {self.pending_override.get('by')}")
        redo += ["recommend", "countersign"] if self.countersign_required else ["approve or deny"]
        self.recommendation = None
        self.assignee = None
        self.pending_override = None
        self.queue = self.queue or "standard"
        self._move(S.QUEUED, CaseEventKind.REOPENED, SYSTEM, reason, {**details, "voided": voided, "redo": redo})

    # ------------------------------------------------------------ reviewer actions

    def _authorize(self, actor: Actor, action: Action, ctx: Context) -> None:
        authorize(actor, action, exporter_name=self.exporter_name, conflicts=ctx.conflicts)
        if (
            self.senior_only
            and action in (Action.CLAIM, Action.APPROVE, Action.DENY, Action.RECOMMEND)
            and not actor.is_senior
        ):
            raise Forbidden(
                "REV-ESCALATED-SENIOR-ONLY", "this case was escalated: only a senior reviewer may act on it"
            )

    def claim(self, actor: Actor, ctx: Context) -> None:
        """Take the case (or take it over): under review by the actor."""
        self._authorize(actor, Action.CLAIM, ctx)
        self.assignee = actor.user
        self._move(S.UNDER_REVIEW, CaseEventKind.ASSIGNED, actor.user, None, {"assignee": actor.user})

    def request_information(self, actor: Actor, ctx: Context, missing: list[str], message: str) -> None:
        """Ask the applicant; the clock pauses until they resubmit."""
        self._authorize(actor, Action.REQUEST_INFORMATION, ctx)
        check_transition(self.case_id, self.state, S.INFO_REQUESTED, "request information")
        self.resume_state = self.state
        self.sla.pause(ctx.today)
        self._move(
            S.INFO_REQUESTED,
            CaseEventKind.INFO_REQUESTED,
            actor.user,
            message,
            {"missing": missing, "resume_state": self.state.value},
        )

    def escalate(self, actor: Actor, ctx: Context, reason: str, referral: bool) -> None:
        """Hand to a senior reviewer; a referral for a national-security decision stops the clock."""
        self._authorize(actor, Action.ESCALATE, ctx)
        check_transition(self.case_id, self.state, S.ESCALATED, "escalate")
        self.senior_only = True
        self.assignee = None
        if referral:
            self.sla.switch_off("referred for a major national-security decision")
        self._move(S.ESCALATED, CaseEventKind.ESCALATED, actor.user, reason, {"referral": referral})

    def check_version(self, seen: int | None) -> None:
        """Refuse a step taken on an application version that is no longer current."""
        if seen is not None and seen != self.application_version:
            raise StaleVersion(
                f"the step was for application version {seen}; the current version is "
                f"{self.application_version}: read the case again"
            )

    def recommend(self, actor: Actor, ctx: Context, rec: Recommendation) -> None:
        """First signature of a four-eyes decision: awaits a senior countersignature."""
        self._authorize(actor, Action.RECOMMEND, ctx)
        self.check_version(rec.application_version)
        if rec.outcome not in (DecisionOutcome.APPROVED, DecisionOutcome.DENIED):
            raise ValueError("outcome: a recommendation is 'approved' or 'denied'")
        check_transition(self.case_id, self.state, S.AWAITING_COUNTERSIGN, "recommend")
        self._check_assignee(actor)
        self.recommendation = rec.model_copy(update={"by": actor.user})
        self._move(
            S.AWAITING_COUNTERSIGN, CaseEventKind.RECOMMENDED, actor.user, rec.note, {"outcome": rec.outcome.value}
        )

    def countersign(
        self, actor: Actor, ctx: Context, agree: bool, note: str | None, application_version: int | None = None
    ) -> None:
        """Second signature: a different senior reviewer agrees (decides) or sends it back."""
        self._authorize(actor, Action.COUNTERSIGN, ctx)
        self.check_version(application_version)
        rec = self.recommendation
        if self.state is not S.AWAITING_COUNTERSIGN or rec is None:
            # Only a recommended case can be countersigned: a 409 naming the legal moves.
            raise IllegalTransition(self.case_id, self.state, S.APPROVED, "countersign")
        if rec.by == actor.user:
            raise Forbidden(
                "REV-FOUR-EYES-SAME-PERSON", "the countersignature must come from someone other than the recommender"
            )
        if not agree:
            self.recommendation = None
            self.assignee = rec.by
            self._move(
                S.UNDER_REVIEW, CaseEventKind.COUNTERSIGNED, actor.user, note, {"agreed": False, "returned_to": rec.by}
            )
            return
        self._event(
            CaseEventKind.COUNTERSIGNED,
            actor.user,
            self.state,
            self.state,
            reason=note,
            details={"agreed": True, "outcome": rec.outcome.value},
        )
        if rec.outcome is DecisionOutcome.APPROVED:
            self._approve(rec.terms or ApprovalTerms(), ctx, actor=rec.by, countersigned_by=actor.user)
        else:
            self._decide(DecisionOutcome.DENIED, ctx, actor=rec.by, reasons=rec.reasons, countersigned_by=actor.user)

    def approve(self, actor: Actor, ctx: Context, terms: ApprovalTerms) -> None:
        """Approve and issue the licence (one signature; four-eyes cases must recommend)."""
        self._authorize(actor, Action.APPROVE, ctx)
        self.check_version(terms.application_version)
        self._single_signature_allowed(actor, "approve")
        check_transition(self.case_id, self.state, S.APPROVED, "approve")
        self._check_assignee(actor)
        self._approve(terms, ctx, actor=actor.user)

    def deny(self, actor: Actor, ctx: Context, reasons: list[ReasonCode]) -> None:
        """Deny with stated reasons (at least one)."""
        self._authorize(actor, Action.DENY, ctx)
        if not reasons:
            raise ValueError("reasons: a denial states at least one reason")
        self._single_signature_allowed(actor, "deny")
        check_transition(self.case_id, self.state, S.DENIED, "deny")
        self._check_assignee(actor)
        self._decide(DecisionOutcome.DENIED, ctx, actor=actor.user, reasons=reasons)

    def withdraw(self, actor: Actor, ctx: Context, reason: str) -> None:
        """The applicant withdrew (recorded by an administrator or senior reviewer).

        A case that needs four eyes (enhanced route or countersignature) is withdrawn only when
        a second person confirms: the first call records the request (REV-OVERRIDE-PENDING).
        """
        self._authorize(actor, Action.WITHDRAW, ctx)
        check_transition(self.case_id, self.state, S.WITHDRAWN, "withdraw")
        second: str | None = None
        if self.countersign_required or self.route is Route.ENHANCED:
            confirmed = self._second_person("withdraw", actor, reason)
            if confirmed is None:
                return
            second, reason = actor.user, confirmed
        self._decide(
            DecisionOutcome.WITHDRAWN, ctx, actor=self._first_signature if second else actor.user,
            reasons=[ReasonCode(code="REV-WITHDRAWN", text=reason)], countersigned_by=second,
        )

    def _second_person(self, op: str, actor: Actor, reason: str) -> str | None:
        """Four eyes on an override: the first call records it and returns None; a call by a
        different person confirms it and returns the first person's reason."""
        pending = self.pending_override
        if pending is None or pending.get("op") != op:
            self.pending_override = {"op": op, "by": actor.user, "reason": reason}
            self._event(
                CaseEventKind.STATE_CHANGED, actor.user, self.state, self.state, reason=reason,
                details={"override_requested": op, "rule_id": "REV-OVERRIDE-PENDING",
                         "awaiting": "a second person (senior reviewer or admin) to confirm"},
            )
            return None
        if pending.get("by") == actor.user:
            raise Forbidden(
                "REV-FOUR-EYES-SAME-PERSON", f"the {op} was requested by you: a second person must confirm it"
            )
        self.pending_override = None
        self._first_signature = str(pending["by"])
        return str(pending.get("reason") or reason)

    def manage_licence(self, actor: Actor, ctx: Context, licence: LicenceRecord, op: str, reason: str) -> None:
        """Suspend, reinstate or revoke the case's licence."""
        self._authorize(actor, Action.MANAGE_LICENCE, ctx)
        number = licence.licence.number
        if op == "suspend":
            check_transition(self.case_id, self.state, S.LICENCE_SUSPENDED, "suspend the licence")
            licence.status = LicenceStatus.SUSPENDED
            self.licence_suspended_by = actor.user
            self._move(
                S.LICENCE_SUSPENDED, CaseEventKind.LICENCE_SUSPENDED, actor.user, reason, {"licence_number": number}
            )
        elif op == "reinstate":
            if self.state is not S.LICENCE_SUSPENDED:
                check_transition(self.case_id, self.state, S.APPROVED, "reinstate the licence")
            if self.licence_suspended_by == SYSTEM:
                # Re-screening found new risk: lifting that takes two people.
                confirmed = self._second_person("reinstate", actor, reason)
                if confirmed is None:
                    return
                reason = f"{confirmed} (confirmed by {actor.user}, requested by {self._first_signature})"
            licence.status = LicenceStatus.ACTIVE
            self.licence_suspended_by = None
            self._move(
                S.APPROVED,
                CaseEventKind.LICENCE_REINSTATED,
                actor.user,
                reason,
                {
                    "licence_number": number,
                    "licence_status": "active",
                    **self._close_licence_review("reinstated", actor, ctx),
                },
            )
        elif op == "revoke":
            check_transition(self.case_id, self.state, S.LICENCE_REVOKED, "revoke the licence")
            licence.status = LicenceStatus.REVOKED
            self._move(
                S.LICENCE_REVOKED, CaseEventKind.LICENCE_REVOKED, actor.user, reason,
                {"licence_number": number, **self._close_licence_review("revoked", actor, ctx)},
            )
        else:
            raise ValueError(f"op: unknown licence operation {op!r}; use suspend, reinstate, revoke")
        licence.status_reason = reason
        self._licence_status(licence, actor.user, reason, ctx)

    def _licence_status(self, licence: LicenceRecord, actor: str, reason: str, ctx: Context) -> None:
        """Publish the licence's new status (decisions topic, licence.status_changed): screening
        stops routing to the green channel under a general licence that is not active."""
        self.outbox.append(
            LicenceStatusChanged(
                number=licence.licence.number,
                licence_type=licence.licence.type,
                status=licence.status.value,
                reason=reason,
                changed_by=actor,
                changed_at=ctx.now,
            )
        )

    def _close_licence_review(self, outcome: str, actor: Actor, ctx: Context) -> dict[str, Any]:
        """Reinstating or revoking closes an open licence-review item; returns event details."""
        item = self.licence_review
        if item is None or not item.is_open:
            return {}
        item.close(outcome, actor.user, ctx.now, ctx.today)
        return {"licence_review_closed": outcome, "rule_id": "REV-LICENCE-REVIEW"}

    def _single_signature_allowed(self, actor: Actor, verb: str) -> None:
        if self.countersign_required:
            raise Forbidden(
                "REV-COUNTERSIGN-REQUIRED",
                f"this case needs four eyes: recommend, then a senior reviewer countersigns (cannot {verb} directly)",
            )

    def _check_assignee(self, actor: Actor) -> None:
        if self.assignee and self.assignee != actor.user and not actor.is_senior:
            raise Forbidden("REV-NOT-ASSIGNEE", f"the case is claimed by {self.assignee!r}; claim it first")

    # ------------------------------------------------------------ decisions

    def _approve(
        self,
        terms: ApprovalTerms,
        ctx: Context,
        *,
        actor: str,
        countersigned_by: str | None = None,
        extra_conditions: list[str] | None = None,
        not_after: date | None = None,
        general: LicenceRecord | None = None,
        draw: green_channel.Draw | None = None,
        policy_rule: str | None = None,
    ) -> None:
        if self.decision_id is not None:
            raise AlreadyDecided(f"case {self.case_id} is already decided ({self.outcome})")
        if ctx.numbers is None:
            raise RuntimeError("approving needs a licence number source")
        if terms.general_licence_number is not None and general is None:
            # A reviewer approves the case as an export under the general licence it names.
            general, draw = self._manual_draw(terms, ctx)
            not_after = general.licence.valid_until
            extra_conditions = [
                *(extra_conditions or []),
                f"Export under general licence {general.licence.number}, approved by a reviewer, valid no later "
                f"than {general.licence.valid_until}.",
            ]
            policy_rule = "REV-GL-MANUAL"
            terms = terms.model_copy(update={"licence_type": LicenceType.SINGLE})
        codes = [c.get("control_codes", []) for c in (self.screening or {}).get("classifications", [])]
        licence = issue_licence(
            number=ctx.numbers.take(),
            application=self.app,
            terms=terms,
            policy=ctx.policy.licences,
            today=ctx.today,
            extra_conditions=extra_conditions,
            item_codes=codes or None,
            not_after=not_after,
        )
        self.licence_number = licence.number
        self.new_licence = LicenceRecord(licence=licence, case_id=str(self.case_id))
        usage: GeneralLicenceUsage | None = None
        if general is not None and draw is not None:
            green_channel.draw(
                general, draw, case_id=str(self.case_id), external_reference=self.external_reference,
                export_licence=licence.number,
                end_users=[
                    {"name": p.name, "country": p.country} for p in self.app.parties_in_role(PartyRole.END_USER)
                ],
                at=ctx.now.isoformat(),
            )
            self.drawn_licence = general
            usage = GeneralLicenceUsage(**green_channel.usage_of(general))
            if policy_rule == "REV-GL-MANUAL":
                self.rule_ids = [*self.rule_ids, policy_rule]
            elif policy_rule is not None:
                self.rule_ids = [policy_rule]
        self._decide(
            DecisionOutcome.APPROVED, ctx, actor=actor, licence=licence, countersigned_by=countersigned_by,
            general_licence_number=general.licence.number if general is not None else None,
            general_licence_usage=usage,
        )
        self._event(
            CaseEventKind.LICENCE_ISSUED,
            actor,
            self.state,
            self.state,
            details={
                "licence_number": licence.number,
                "licence_type": licence.type.value,
                "valid_until": licence.valid_until.isoformat(),
            },
        )

    def _manual_draw(self, terms: ApprovalTerms, ctx: Context) -> tuple[LicenceRecord, green_channel.Draw]:
        """REV-GL-MANUAL: the general licence a reviewer approves this export under, and what the
        approved quantities take from it; refused (LicenceTermsError with the rule id) if it is not
        the one the application names, is not a general licence the case could use, or what
        remains of it is less than the approved quantities."""
        number = terms.general_licence_number
        assert number is not None
        named = self.app.general_licence_number
        if named is None or " ".join(named.split()).casefold() != " ".join(number.split()).casefold():
            raise LicenceTermsError(
                "REV-GL-NOT-NAMED", "general_licence_number",
                f"the application names {'general licence ' + named if named else 'no general licence'}, not {number}",
            )
        if terms.licence_type is LicenceType.GENERAL:
            raise LicenceTermsError(
                "REV-GL-NOT-NAMED", "licence_type", "an export under a general licence is a single licence"
            )
        if self.screening is None:
            raise LicenceTermsError("REV-GL-UNKNOWN", "general_licence_number", "the case has no screening result")
        rec = ctx.general_licences.get(named)
        quantities: list[Decimal | None] | None = None
        if terms.items is not None:
            quantities = [None] * len(self.app.items)
            for cap in terms.items:
                if cap.item_index < len(quantities):
                    quantities[cap.item_index] = cap.quantity_cap
        result = ScreeningCompleted.model_validate(self.screening)
        outcome = green_channel.check(rec, result, ctx.today, quantities=quantities, cleared=ctx.cleared_hits)
        if isinstance(outcome, green_channel.GreenChannelRefusal):
            raise LicenceTermsError(outcome.rule_id, "general_licence_number", outcome.reason)
        assert rec is not None
        return rec, outcome

    def _decide_no_licence_required(self, result: ScreeningCompleted, rule_id: str, ctx: Context) -> None:
        """No licence required, stating the date it was decided for and until when it holds; an
        exemption adds its rule and its reporting condition with the due date (PRC working days)."""
        on, until = result.screened_on, result.valid_until
        text = f"no licence required for these items and end use, decided for {on}"
        if until is not None:
            text += f", valid until {until} (re-apply after that date)"
        reasons: list[Reason] = [
            Reason(code=rule_id, action="no_licence_required", text=text, version=ctx.policy.version),
            *result.reasons,
        ]
        conditions: list[DecisionCondition] = []
        if (ex := result.exemption) is not None:
            start = ex.planned_export_date or on
            due = ctx.calendar.add_working_days(start, ex.report_within_working_days)
            counted_from = (
                f"the planned export date {start}" if ex.planned_export_date else f"{start} (no export date given)"
            )
            reasons.append(Reason(code=ex.rule_id, action="info", text=ex.text, measure_id=ex.measure_id))
            conditions.append(
                DecisionCondition(
                    rule_id=ex.rule_id,
                    text=(f"report the export to MOFCOM within {ex.report_within_working_days} PRC working days after "
                          f"it is made ({ex.measure_id}); counted from {counted_from}, due {due}"),
                    due_on=due,
                    due_on_provisional=ctx.calendar.provisional_between(start, due),
                )
            )
        self._decide(
            DecisionOutcome.NO_LICENCE_REQUIRED,
            ctx,
            actor=AUTO,
            reasons=reasons,
            extra_rule_ids=result.rule_ids,
            decided_for=on,
            valid_until=until,
            conditions=conditions,
        )

    def _decide(
        self,
        outcome: DecisionOutcome,
        ctx: Context,
        *,
        actor: str,
        reasons: Sequence[ReasonCode] | None = None,
        licence: Licence | None = None,
        countersigned_by: str | None = None,
        extra_rule_ids: list[str] | None = None,
        decided_for: date | None = None,
        valid_until: date | None = None,
        conditions: list[DecisionCondition] | None = None,
        general_licence_number: str | None = None,
        general_licence_usage: GeneralLicenceUsage | None = None,
    ) -> None:
        if self.decision_id is not None:
            raise AlreadyDecided(f"case {self.case_id} is already decided ({self.outcome})")
        target = {
            DecisionOutcome.APPROVED: S.APPROVED,
            DecisionOutcome.DENIED: S.DENIED,
            DecisionOutcome.NO_LICENCE_REQUIRED: S.NO_LICENCE_REQUIRED,
            DecisionOutcome.WITHDRAWN: S.WITHDRAWN,
        }[outcome]
        check_transition(self.case_id, self.state, target, f"decide {outcome.value}")
        self.decision_id = decision_id_for(self.case_id)
        self.outcome = outcome
        self.decided_at = ctx.now
        self.decided_by = actor
        rule_ids = list(dict.fromkeys([*self.rule_ids, *(extra_rule_ids or [])]))
        self._move(target, CaseEventKind.STATE_CHANGED, actor, outcome.value, {"decision_id": str(self.decision_id)})
        self.outbox.append(
            DecisionMade(
                decision_id=self.decision_id,
                outcome=outcome,
                external_reference=self.external_reference,
                exporter_name=self.exporter_name,
                route=self.route,
                reasons=self._decision_reasons(outcome, actor, reasons or []),
                licence=licence,
                decided_by=actor,
                countersigned_by=countersigned_by,
                rule_ids=rule_ids,
                policy_version=self.policy_version or ctx.policy.version,
                decided_at=ctx.now,
                contact=self.app.contact,
                decided_for=decided_for,
                valid_until=valid_until,
                conditions=conditions or [],
                general_licence_number=general_licence_number,
                general_licence_usage=general_licence_usage,
            )
        )

    def _decision_reasons(self, outcome: DecisionOutcome, actor: str, stated: Sequence[ReasonCode]) -> list[Reason]:
        """The decision's reasons. A reviewer's approval or denial states the reviewer's reasons and
        carries screening's structured party reasons unchanged after them (rule id, text, evidence,
        list, entry, version, measure), so the decision says which list entries it was taken on."""
        reasons = [as_reason(r) for r in stated]
        if actor == AUTO or outcome not in (DecisionOutcome.APPROVED, DecisionOutcome.DENIED):
            return reasons
        reasons = [r if r.origin else r.model_copy(update={"origin": "reviewer"}) for r in reasons]
        seen = {(r.code, r.entry_id, r.party_index) for r in reasons}
        for party in screening_party_reasons(self.screening):
            if (party.code, party.entry_id, party.party_index) not in seen:
                reasons.append(party)
        return reasons

    # ------------------------------------------------------------ events

    def _move(
        self, to: CaseState, kind: CaseEventKind, actor: str, reason: str | None, details: dict[str, Any]
    ) -> None:
        check_transition(self.case_id, self.state, to, kind.value)
        previous = self.state
        self.state = to
        self._event(kind, actor, previous, to, reason=reason, details=details)

    def _event(
        self,
        kind: CaseEventKind,
        actor: str,
        from_state: CaseState | None,
        to_state: CaseState | None,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.outbox.append(
            CaseEvent(
                kind=kind,
                actor=actor,
                from_state=from_state.value if from_state else None,
                to_state=to_state.value if to_state else None,
                reason=reason,
                details=details or {},
            )
        )

    def sla_warning(self, threshold: int, days_left: int, due: date) -> None:
        """Record an SLA warning once per threshold."""
        self.sla.warnings_sent.append(threshold)
        self._event(
            CaseEventKind.SLA_WARNING,
            SYSTEM,
            self.state,
            self.state,
            reason=f"{days_left} working day(s) left",
            details={"threshold": threshold, "working_days_left": days_left, "due_on": due.isoformat()},
        )


def decision_id_for(case_id: UUID) -> UUID:
    """Deterministic per case, so any duplicate of a decision shares its id."""
    decision_id: UUID = derived_id(case_id, "decision")
    return decision_id


def as_reason(stated: ReasonCode) -> Reason:
    """A stated reason as a structured Reason (a reviewer's reasons carry code and text only)."""
    return stated if isinstance(stated, Reason) else Reason(code=stated.code, text=stated.text)


def screening_party_reasons(screening: dict[str, Any] | None) -> list[Reason]:
    """Screening's structured reasons about parties (SCR-PARTY-* and every reason that names a list
    entry), as the stored screening result has them, marked as screening's."""
    out: list[Reason] = []
    for raw in (screening or {}).get("reasons") or []:
        reason = Reason.model_validate(raw)
        if reason.code.startswith("SCR-PARTY-") or reason.entry_id is not None or reason.list_id is not None:
            out.append(reason.model_copy(update={"origin": "screening"}))
    return out


def denial_reasons(result: ScreeningCompleted) -> list[Reason]:
    """Reasons for a hard denial, built from screening's structured reasons (the grounds for denial
    first, each with its evidence, measure or list entry and version). A result from a producer
    older than the structured reasons has only "RULE-ID: text" strings: those are read as before."""
    if result.reasons:
        return list(result.reasons)
    parsed = [_split_reason(stated) for stated in result.route_reasons]
    if parsed and all(code for code, _ in parsed):
        return [Reason(code=code, text=text) for code, text in parsed if code]
    codes = list(dict.fromkeys([*result.rule_ids, *result.end_use.rule_ids])) or ["POL-AUTO-DENY"]
    if len(codes) == len(result.route_reasons):
        return [Reason(code=c, text=t) for c, t in zip(codes, result.route_reasons, strict=True)]
    text = "; ".join(result.route_reasons) or "hard denial recommended by screening"
    return [Reason(code=c, text=text) for c in codes]


def _split_reason(stated: str) -> tuple[str | None, str]:
    code, sep, text = stated.partition(":")
    if sep and re.fullmatch(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)+", code.strip()):
        return code.strip(), text.strip()
    return None, stated
