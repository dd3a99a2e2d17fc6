"""Dispositions of screening hits: a reviewer judges a party / list entry pair a false positive.

Rules (ids are stable strings, documented in docs/rules.md):
  REV-DISPOSITION-HIT-UNKNOWN     the case's screening result has no such hit
  REV-DISPOSITION-EXPIRY          the expiry must be after today (PRC) and within the maximum term
  REV-DISPOSITION-CERTAIN-FOUR-EYES  a certain match is suppressed only once a second, senior
                                  reviewer (not the proposer) approved it; until then it is pending
                                  and screening knows nothing of it
  REV-FOUR-EYES-SAME-PERSON       the approver is the proposer
  REV-DISPOSITION-STATE           approving a disposition that is not pending, revoking one that
                                  is revoked already, approving an expired one
A disposition names the list version it was judged against: screening applies it only while the
entry is screened at that version (a changed entry comes with a new list version) and until the
expiry. Plain Python: the service layer stores it and publishes the events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import uuid4

from lanthanide.contracts import Application, DispositionRecorded, DispositionRevoked

from lanthanide_review.domain.roles import Action, Actor, ConflictRegister, Forbidden, authorize

#: The longest a disposition may run before it must be judged again.
MAX_TERM_DAYS = 365


class DispositionStatus(StrEnum):
    PENDING = "pending"  # a certain match awaiting the senior second person
    RECORDED = "recorded"  # published: screening suppresses the hit
    REVOKED = "revoked"


class DispositionError(ValueError):
    """A disposition request that cannot be honoured; `rule_id` says which rule refused it."""

    def __init__(self, rule_id: str, message: str, *, conflict: bool = False) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.message = message
        #: True for a state conflict (HTTP 409), False for an invalid request (422).
        self.conflict = conflict


@dataclass
class Disposition:
    """One reviewer disposition and its approval trail."""

    disposition_id: str
    case_id: str
    party_name: str
    party_role: str
    party_index: int
    list_id: str
    list_kind: str
    entry_id: str
    list_version: str
    score: float
    certain: bool
    reason: str
    expires_on: date
    proposed_by: str
    proposed_at: datetime
    status: DispositionStatus = DispositionStatus.PENDING
    approved_by: list[str] = field(default_factory=list)
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["expires_on"] = self.expires_on.isoformat()
        d["proposed_at"] = self.proposed_at.isoformat()
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Disposition:
        return cls(
            **{
                **d,
                "expires_on": date.fromisoformat(d["expires_on"]),
                "proposed_at": datetime.fromisoformat(d["proposed_at"]),
                "status": DispositionStatus(d["status"]),
            }
        )

    def recorded_event(self) -> DispositionRecorded:
        return DispositionRecorded(
            disposition_id=self.disposition_id,
            party_name=self.party_name,
            party_role=self.party_role,
            party_index=self.party_index,
            list_id=self.list_id,
            entry_id=self.entry_id,
            list_version=self.list_version,
            certain=self.certain,
            reason=self.reason,
            proposed_by=self.proposed_by,
            approved_by=list(self.approved_by),
            expires_on=self.expires_on,
        )


def _party_name(application: dict[str, Any], hit: dict[str, Any]) -> str:
    """The name screening screened for the hit: an owner's own name, or the party's name."""
    chain = hit.get("via_owner_chain") or []
    if chain:
        return str(chain[-1])
    parties = Application.model_validate(application).all_parties()
    return parties[int(hit["party_index"])].name


def propose(
    actor: Actor,
    *,
    case_id: str,
    exporter_name: str,
    screening: dict[str, Any] | None,
    party_index: int,
    list_id: str,
    entry_id: str,
    reason: str,
    expires_on: date,
    today: date,
    now: datetime,
    conflicts: ConflictRegister,
) -> Disposition:
    """A reviewer proposes that a hit of the case's latest screening is a false positive.

    A possible match is recorded at once; a certain match stays pending until a senior reviewer
    other than the proposer approves it (REV-DISPOSITION-CERTAIN-FOUR-EYES)."""
    authorize(actor, Action.PROPOSE_DISPOSITION, exporter_name=exporter_name, conflicts=conflicts)
    hits = (screening or {}).get("hits") or []
    hit = next(
        (
            h
            for h in hits
            if h["party_index"] == party_index
            and h["list_id"] == list_id
            and h["entry_id"] == entry_id
            and not h.get("suppressed")
        ),
        None,
    )
    if hit is None:
        raise DispositionError(
            "REV-DISPOSITION-HIT-UNKNOWN",
            f"the case's screening result has no active hit of party #{party_index} on {list_id}:{entry_id}",
        )
    if not today < expires_on <= today + timedelta(days=MAX_TERM_DAYS):
        raise DispositionError(
            "REV-DISPOSITION-EXPIRY",
            f"expires_on must be after {today} and no later than {today + timedelta(days=MAX_TERM_DAYS)} "
            f"(at most {MAX_TERM_DAYS} days); got {expires_on}",
        )
    # Older screening results lack `certain`: treat them as certain (the safe side).
    certain = hit.get("certain") is not False
    d = Disposition(
        disposition_id=str(uuid4()),
        case_id=case_id,
        party_name=_party_name((screening or {})["application"], hit),
        party_role=str(hit["party_role"]),
        party_index=party_index,
        list_id=list_id,
        list_kind=str(hit.get("list_kind", "")),
        entry_id=entry_id,
        list_version=str(hit["list_version"]),
        score=float(hit["score"]),
        certain=certain,
        reason=reason,
        expires_on=expires_on,
        proposed_by=actor.user,
        proposed_at=now,
    )
    if not certain:
        d.status = DispositionStatus.RECORDED
        d.approved_by = [actor.user]
    return d


def approve(d: Disposition, actor: Actor, *, exporter_name: str, today: date, conflicts: ConflictRegister) -> None:
    """The senior second person approves a pending disposition of a certain match."""
    authorize(actor, Action.APPROVE_DISPOSITION, exporter_name=exporter_name, conflicts=conflicts)
    if d.status is not DispositionStatus.PENDING:
        raise DispositionError(
            "REV-DISPOSITION-STATE", f"disposition {d.disposition_id} is {d.status.value}, not pending", conflict=True
        )
    if actor.user == d.proposed_by:
        raise Forbidden(
            "REV-FOUR-EYES-SAME-PERSON",
            "suppressing a certain match needs a second person: the approver proposed it",
        )
    if d.expires_on < today:
        raise DispositionError(
            "REV-DISPOSITION-STATE", f"disposition {d.disposition_id} expired on {d.expires_on}", conflict=True
        )
    d.status = DispositionStatus.RECORDED
    d.approved_by = [d.proposed_by, actor.user]


def revoke(
    d: Disposition, actor: Actor, reason: str, *, exporter_name: str, conflicts: ConflictRegister
) -> DispositionRevoked | None:
    """Withdraw a disposition; the event to publish when screening knew of it (None if pending)."""
    authorize(actor, Action.REVOKE_DISPOSITION, exporter_name=exporter_name, conflicts=conflicts)
    if d.status is DispositionStatus.REVOKED:
        raise DispositionError(
            "REV-DISPOSITION-STATE", f"disposition {d.disposition_id} is revoked already", conflict=True
        )
    was_recorded = d.status is DispositionStatus.RECORDED
    d.status = DispositionStatus.REVOKED
    d.revoked_by = actor.user
    d.revoke_reason = reason
    if not was_recorded:
        return None
    return DispositionRevoked(disposition_id=d.disposition_id, revoked_by=actor.user, reason=reason)
