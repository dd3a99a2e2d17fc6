"""Who may do what: roles, the permission table, conflicts of interest and four-eyes.

Every refusal carries a stable rule id (REV-...) so a 403 in a log leads to the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    REVIEWER = "reviewer"
    SENIOR_REVIEWER = "senior_reviewer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Action(StrEnum):
    READ = "read"
    CLAIM = "claim"
    REQUEST_INFORMATION = "request_information"
    ESCALATE = "escalate"
    RECOMMEND = "recommend"
    COUNTERSIGN = "countersign"
    APPROVE = "approve"
    DENY = "deny"
    WITHDRAW = "withdraw"
    MANAGE_LICENCE = "manage_licence"  # suspend, reinstate, revoke
    # Dispositions of screening hits (issue 14.1): a certain match needs a senior second person.
    PROPOSE_DISPOSITION = "propose_disposition"
    APPROVE_DISPOSITION = "approve_disposition"
    REVOKE_DISPOSITION = "revoke_disposition"


R = Role
_CASEWORK = frozenset({R.REVIEWER, R.SENIOR_REVIEWER})

#: action -> roles allowed to take it. Auditors read only; admins do not decide cases.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.READ: frozenset(Role),
    Action.CLAIM: _CASEWORK,
    Action.REQUEST_INFORMATION: _CASEWORK,
    Action.ESCALATE: _CASEWORK,
    Action.RECOMMEND: _CASEWORK,
    Action.COUNTERSIGN: frozenset({R.SENIOR_REVIEWER}),
    Action.APPROVE: _CASEWORK,
    Action.DENY: _CASEWORK,
    Action.WITHDRAW: frozenset({R.ADMIN, R.SENIOR_REVIEWER}),
    Action.MANAGE_LICENCE: frozenset({R.ADMIN, R.SENIOR_REVIEWER}),
    Action.PROPOSE_DISPOSITION: _CASEWORK,
    Action.APPROVE_DISPOSITION: frozenset({R.SENIOR_REVIEWER}),
    Action.REVOKE_DISPOSITION: _CASEWORK,
}

#: Actions that shape a case's outcome or its licence: a conflict of interest bars all of them
#: (suspending, reinstating or revoking an exporter's licence is as much a decision as issuing it).
CASE_ACTIONS = frozenset(set(Action) - {Action.READ})


@dataclass(frozen=True)
class Actor:
    """An authenticated user and their roles."""

    user: str
    roles: frozenset[Role]

    @property
    def is_senior(self) -> bool:
        return Role.SENIOR_REVIEWER in self.roles


class Forbidden(Exception):
    """The actor may not take this action; `rule_id` is the stable id of the rule that says so."""

    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.message = message


def require_role(actor: Actor, action: Action) -> None:
    """Raise Forbidden (REV-ROLE-REQUIRED) unless one of the actor's roles allows the action."""
    allowed = PERMISSIONS[action]
    if not actor.roles & allowed:
        raise Forbidden(
            "REV-ROLE-REQUIRED",
            f"{action.value} needs one of the roles {', '.join(sorted(allowed))}; "
            f"user {actor.user!r} has {', '.join(sorted(actor.roles)) or 'none'}",
        )


class ConflictRegister:
    """Configured conflicts of interest: user -> exporter names they must not decide on."""

    def __init__(self, conflicts: Mapping[str, Sequence[str]] | None = None) -> None:
        self._by_user = {user: {name.casefold().strip() for name in names} for user, names in (conflicts or {}).items()}

    def check(self, actor: Actor, exporter_name: str) -> None:
        """Raise Forbidden (REV-CONFLICT-OF-INTEREST) if the actor is conflicted on the exporter."""
        if exporter_name.casefold().strip() in self._by_user.get(actor.user, set()):
            raise Forbidden(
                "REV-CONFLICT-OF-INTEREST",
                f"user {actor.user!r} has a declared conflict of interest with this exporter",
            )


def authorize(actor: Actor, action: Action, *, exporter_name: str, conflicts: ConflictRegister) -> None:
    """Role check, then (for case work) the conflict-of-interest check."""
    require_role(actor, action)
    if action in CASE_ACTIONS:
        conflicts.check(actor, exporter_name)
