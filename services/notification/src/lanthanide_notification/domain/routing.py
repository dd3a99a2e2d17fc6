"""How events become notices, and who receives each notice (pure functions).

Which payload type becomes a notice through which builder is the registry's
(service_layer/handlers.py EVENT_HANDLERS); the builders, the contact an event teaches and the
targets of a notice are here. The applicant's own contact (from the application) is an implicit
subscription to every kind; explicit subscriptions add applicants' other endpoints and
downstream systems.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lanthanide.contracts import (
    ApplicationAccepted,
    ApplicationRejected,
    CaseEvent,
    CaseEventKind,
    DecisionMade,
    DecisionOutcome,
    Envelope,
)
from lanthanide.logging import get_logger
from lanthanide.submitters import RULE_CONTACT_OWNER, case_submitter, may_change_contact

from lanthanide_notification.domain.model import CaseContact, Notice, NoticeKind, Subscription, Target

_log = get_logger(__name__)

_DECISION_KINDS = {
    DecisionOutcome.APPROVED: NoticeKind.APPROVED,
    DecisionOutcome.DENIED: NoticeKind.DENIED,
    DecisionOutcome.NO_LICENCE_REQUIRED: NoticeKind.NO_LICENCE_REQUIRED,
    DecisionOutcome.WITHDRAWN: NoticeKind.WITHDRAWN,
}


def contact_from(envelope: Envelope[Any]) -> CaseContact | None:
    """The case contact an event teaches us (accepted applications and decisions carry one)."""
    payload = envelope.payload
    if envelope.case_id is None:
        return None
    if isinstance(payload, ApplicationAccepted):
        app = payload.application
        return CaseContact(
            case_id=envelope.case_id,
            exporter_keys=(app.exporter_key, app.exporter.name),
            exporter_name=app.exporter.name,
            external_reference=payload.external_reference,
            webhook_url=str(app.contact.webhook_url) if app.contact.webhook_url else None,
            email=app.contact.email,
            submitter=payload.submitted_by,
        )
    if isinstance(payload, DecisionMade) and payload.contact is not None:
        return CaseContact(
            case_id=envelope.case_id,
            exporter_keys=(payload.exporter_name,),
            exporter_name=payload.exporter_name,
            external_reference=payload.external_reference,
            webhook_url=str(payload.contact.webhook_url) if payload.contact.webhook_url else None,
            email=payload.contact.email,
        )
    return None


def merge_contacts(old: CaseContact | None, new: CaseContact) -> CaseContact:
    """Newer facts win; facts the newer event does not carry are kept. A resubmission by a
    submitter other than the case's own keeps the case's webhook and e-mail (SUB-CONTACT-OWNER)."""
    if old is None:
        return new
    keys = tuple(dict.fromkeys((*old.exporter_keys, *new.exporter_keys)))
    webhook_url, email = new.webhook_url or old.webhook_url, new.email or old.email
    if not may_change_contact(old.submitter, new.submitter) and (webhook_url, email) != (old.webhook_url, old.email):
        # Audit-visible, without the addresses: which case, whose change, whose contact it is.
        _log.info("contact_change_refused", case_id=str(new.case_id), rule_id=RULE_CONTACT_OWNER,
                  submitted_by=new.submitter, case_submitter=old.submitter)
        webhook_url, email = old.webhook_url, old.email
    return CaseContact(
        case_id=new.case_id,
        exporter_keys=keys,
        exporter_name=new.exporter_name or old.exporter_name,
        external_reference=new.external_reference or old.external_reference,
        webhook_url=webhook_url,
        email=email,
        submitter=case_submitter(old.submitter, new.submitter),
    )


@dataclass
class Draft:
    """A notice being built: what every kind carries, which each kind's builder adds to."""

    base: dict[str, Any]
    keys: tuple[str, ...]
    webhook: str | None
    email: str | None


def received(payload: ApplicationAccepted, draft: Draft) -> NoticeKind:
    """application.accepted: the applicant is told it was received (and what is missing)."""
    draft.base |= {"complete": payload.complete, "missing_documents": payload.missing_documents,
                   "external_reference": payload.external_reference}
    return NoticeKind.RECEIVED


def rejected(payload: ApplicationRejected, draft: Draft) -> NoticeKind:
    """application.rejected: the rejection, for registered subscriptions only."""
    draft.base |= {"errors": [e.model_dump() for e in payload.errors],
                   "external_reference": payload.external_reference,
                   "exporter_name": payload.exporter_name}
    draft.keys = (payload.exporter_name,) if payload.exporter_name else ()
    # The contact of an application that failed validation is the sender's text like the
    # rest of it: a rejection goes only to operator-registered subscriptions, never there.
    draft.webhook = draft.email = None
    return NoticeKind.REJECTED


def case_event(payload: CaseEvent, draft: Draft) -> NoticeKind | None:
    """case.event: only a request for information is a notice."""
    if payload.kind is not CaseEventKind.INFO_REQUESTED:
        return None
    draft.base |= {"reason": payload.reason, "details": payload.details}
    return NoticeKind.INFO_REQUESTED


def decided(payload: DecisionMade, draft: Draft) -> NoticeKind:
    """decision.made: the outcome, to the contact the decision names (or the case's)."""
    draft.base |= {
        "decision_id": str(payload.decision_id),
        "outcome": payload.outcome.value,
        "external_reference": payload.external_reference,
        "exporter_name": payload.exporter_name,
        "reasons": [r.model_dump() for r in payload.reasons],
        "licence": payload.licence.model_dump(mode="json") if payload.licence else None,
        "decided_at": payload.decided_at.isoformat(),
    }
    if payload.contact is not None:
        draft.webhook = str(payload.contact.webhook_url) if payload.contact.webhook_url else draft.webhook
        draft.email = payload.contact.email or draft.email
    draft.keys = tuple(dict.fromkeys((*draft.keys, payload.exporter_name)))
    return _DECISION_KINDS[payload.outcome]


def draft_for(envelope: Envelope[Any], contact: CaseContact | None) -> Draft:
    """What every notice about this event carries, from what we already know about the case
    (`contact`: needed for info requests, whose payload names no contact)."""
    return Draft(
        base={
            "case_id": str(envelope.case_id) if envelope.case_id else None,
            "external_reference": contact.external_reference if contact else None,
            "exporter_name": contact.exporter_name if contact else None,
        },
        keys=contact.exporter_keys if contact else (),
        webhook=contact.webhook_url if contact else None,
        email=contact.email if contact else None,
    )


def notice_of(envelope: Envelope[Any], draft: Draft, kind: NoticeKind) -> Notice:
    """The notice of kind `kind` a builder made of `draft`."""
    return Notice(
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        case_id=envelope.case_id,
        kind=kind,
        applicant_keys=tuple(k for k in draft.keys if k),
        webhook_url=draft.webhook,
        email=draft.email,
        context=draft.base,
    )


def targets_for(notice: Notice, subscriptions: list[Subscription]) -> list[Target]:
    """Every distinct target for a notice: the applicant's own contact, then subscriptions."""
    found: list[Target] = []
    if notice.webhook_url:
        found.append(Target("webhook", notice.webhook_url))
    if notice.email:
        found.append(Target("email", notice.email))
    for sub in subscriptions:
        if not (sub.covers(notice.applicant_keys) and sub.wants(notice.kind)):
            continue
        if sub.webhook_url:
            found.append(Target("webhook", sub.webhook_url, registered=True))
        if sub.email:
            found.append(Target("email", sub.email, registered=True))
    registered = {(t.channel, t.address) for t in found if t.registered}
    distinct = dict.fromkeys(found)
    return [Target(t.channel, t.address, registered=(t.channel, t.address) in registered) for t in distinct]
