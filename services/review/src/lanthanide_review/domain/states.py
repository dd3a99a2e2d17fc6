"""The case state machine: states, the allowed transitions as a table, and the error for the rest.

Why a table: an auditor (and a test) can read every legal move in one place, and the HTTP layer
turns `IllegalTransition` into a 409 that names the state and the moves that would be legal.
"""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    """Where a case is in review. Licence states follow an approval."""

    RECEIVED = "received"
    INCOMPLETE = "incomplete"  # screening found missing documents: the clock has not started
    INFO_REQUESTED = "info_requested"  # a reviewer asked the applicant: the clock is paused
    QUEUED = "queued"  # under review, waiting for a reviewer to claim it
    UNDER_REVIEW = "under_review"  # claimed by a reviewer
    ESCALATED = "escalated"  # handed to a senior reviewer (or referred)
    AWAITING_COUNTERSIGN = "awaiting_countersign"  # four-eyes: recommended, second signature due
    APPROVED = "approved"
    DENIED = "denied"
    NO_LICENCE_REQUIRED = "no_licence_required"
    WITHDRAWN = "withdrawn"
    LICENCE_SUSPENDED = "licence_suspended"
    LICENCE_REVOKED = "licence_revoked"


S = CaseState

_OPEN_EXITS = {S.APPROVED, S.DENIED, S.NO_LICENCE_REQUIRED, S.WITHDRAWN}

#: from-state -> states it may move to. Anything else raises IllegalTransition.
TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    S.RECEIVED: frozenset({S.INCOMPLETE, S.QUEUED, *_OPEN_EXITS}),
    S.INCOMPLETE: frozenset({S.INCOMPLETE, S.QUEUED, *_OPEN_EXITS}),
    S.INFO_REQUESTED: frozenset({S.INCOMPLETE, S.QUEUED, S.UNDER_REVIEW, S.ESCALATED, S.INFO_REQUESTED, *_OPEN_EXITS}),
    S.QUEUED: frozenset(
        {S.QUEUED, S.UNDER_REVIEW, S.ESCALATED, S.INFO_REQUESTED, S.AWAITING_COUNTERSIGN, *_OPEN_EXITS}
    ),
    S.UNDER_REVIEW: frozenset(
        {S.QUEUED, S.UNDER_REVIEW, S.ESCALATED, S.INFO_REQUESTED, S.AWAITING_COUNTERSIGN, *_OPEN_EXITS}
    ),
    S.ESCALATED: frozenset({S.QUEUED, S.UNDER_REVIEW, S.INFO_REQUESTED, S.AWAITING_COUNTERSIGN, *_OPEN_EXITS}),
    S.AWAITING_COUNTERSIGN: frozenset({S.QUEUED, S.UNDER_REVIEW, S.APPROVED, S.DENIED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.LICENCE_SUSPENDED, S.LICENCE_REVOKED}),
    S.LICENCE_SUSPENDED: frozenset({S.APPROVED, S.LICENCE_REVOKED}),
    S.DENIED: frozenset(),
    S.NO_LICENCE_REQUIRED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.LICENCE_REVOKED: frozenset(),
}

#: States in which no decision has been made yet.
OPEN_STATES: frozenset[CaseState] = frozenset(
    {
        S.RECEIVED,
        S.INCOMPLETE,
        S.INFO_REQUESTED,
        S.QUEUED,
        S.UNDER_REVIEW,
        S.ESCALATED,
        S.AWAITING_COUNTERSIGN,
    }
)

#: States a decision has been made in (whatever happened to the licence afterwards).
DECIDED_STATES: frozenset[CaseState] = frozenset(set(CaseState) - OPEN_STATES)

#: Open states in which the applicant owes us something (a resubmission resumes the case).
WAITING_FOR_APPLICANT: frozenset[CaseState] = frozenset({S.INCOMPLETE, S.INFO_REQUESTED})


class IllegalTransition(Exception):
    """A move the state machine does not allow; the message names what would be legal."""

    def __init__(self, case_id: object, current: CaseState, wanted: CaseState, action: str) -> None:
        allowed = sorted(TRANSITIONS[current])
        super().__init__(
            f"case {case_id}: cannot {action} in state {current.value!r} "
            f"(would move to {wanted.value!r}); allowed next states: "
            f"{', '.join(a.value for a in allowed) or 'none (final state)'}"
        )
        self.current = current
        self.wanted = wanted
        self.action = action


def check_transition(case_id: object, current: CaseState, wanted: CaseState, action: str) -> None:
    """Raise IllegalTransition unless `current -> wanted` is in the table."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(case_id, current, wanted, action)
