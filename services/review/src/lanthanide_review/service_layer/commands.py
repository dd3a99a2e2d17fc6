"""Reviewer actions as commands (issue 11 item 3): plain dataclasses the HTTP API, the console
and tests build, dispatched by `ReviewService.execute` through `COMMAND_HANDLERS` (command type
-> the domain call on the case, in one unit of work). A command names who acts, on which case,
with what; it can be logged, kept and replayed against another service, and tested without HTTP.

The rules (roles, four-eyes, conflicts of interest, versions, licence terms) are the domain's:
a command only carries the reviewer's input to `Case`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from uuid import UUID

from lanthanide.contracts import ReasonCode

from lanthanide_review.domain.licences import ApprovalTerms, LicenceRecord
from lanthanide_review.domain.model import Case, Context, Recommendation
from lanthanide_review.domain.roles import Actor

#: A reviewer action: a domain call on the case (and its licence, for licence actions).
Operation = Callable[[Case, Context, LicenceRecord | None], None]


@dataclass(frozen=True)
class Command:
    """Who acts on which case."""

    case_id: UUID
    actor: Actor

    #: Whether the case's licence is read (locked) with it: licence actions.
    with_licence: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """The action's name as the API and the console spell it (`request-information`)."""
        return _NAMES[type(self)]

    def described(self) -> dict[str, Any]:
        """What a log line says of the command: its name, case and actor; never its free text."""
        return {"command": self.name, "case_id": str(self.case_id), "actor": self.actor.user}


@dataclass(frozen=True)
class Claim(Command):
    pass


@dataclass(frozen=True)
class RequestInformation(Command):
    missing: list[str] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class Escalate(Command):
    reason: str = ""
    referral: bool = False


@dataclass(frozen=True)
class Recommend(Command):
    recommendation: Recommendation | None = None


@dataclass(frozen=True)
class Countersign(Command):
    agree: bool = True
    note: str | None = None
    application_version: int | None = None


@dataclass(frozen=True)
class Approve(Command):
    terms: ApprovalTerms = field(default_factory=ApprovalTerms)


@dataclass(frozen=True)
class Deny(Command):
    reasons: list[ReasonCode] = field(default_factory=list)


@dataclass(frozen=True)
class Withdraw(Command):
    reason: str = ""


@dataclass(frozen=True)
class ManageLicence(Command):
    """Suspend, reinstate or revoke the case's licence."""

    op: Literal["suspend", "reinstate", "revoke"] = "suspend"
    reason: str = ""
    with_licence: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return self.op


def _recommend(cmd: Recommend) -> Operation:
    if cmd.recommendation is None:
        raise ValueError("recommendation: a recommendation states its outcome")
    rec = cmd.recommendation
    return lambda case, ctx, _licence: case.recommend(cmd.actor, ctx, rec)


def _manage_licence(cmd: ManageLicence) -> Operation:
    def apply(case: Case, ctx: Context, licence: LicenceRecord | None) -> None:
        if licence is None:
            raise ValueError(f"case {case.case_id} has no licence")
        case.manage_licence(cmd.actor, ctx, licence, cmd.op, cmd.reason)

    return apply


#: command type -> the domain call it makes (cosmicpython's COMMAND_HANDLERS).
COMMAND_HANDLERS: dict[type[Command], Callable[[Any], Operation]] = {
    Claim: lambda cmd: lambda case, ctx, _l: case.claim(cmd.actor, ctx),
    RequestInformation: lambda cmd: lambda case, ctx, _l: case.request_information(
        cmd.actor, ctx, cmd.missing, cmd.message),
    Escalate: lambda cmd: lambda case, ctx, _l: case.escalate(cmd.actor, ctx, cmd.reason, cmd.referral),
    Recommend: _recommend,
    Countersign: lambda cmd: lambda case, ctx, _l: case.countersign(
        cmd.actor, ctx, cmd.agree, cmd.note, cmd.application_version),
    Approve: lambda cmd: lambda case, ctx, _l: case.approve(cmd.actor, ctx, cmd.terms),
    Deny: lambda cmd: lambda case, ctx, _l: case.deny(cmd.actor, ctx, cmd.reasons),
    Withdraw: lambda cmd: lambda case, ctx, _l: case.withdraw(cmd.actor, ctx, cmd.reason),
    ManageLicence: _manage_licence,
}

_NAMES: dict[type[Command], str] = {
    Claim: "claim",
    RequestInformation: "request-information",
    Escalate: "escalate",
    Recommend: "recommend",
    Countersign: "countersign",
    Approve: "approve",
    Deny: "deny",
    Withdraw: "withdraw",
    ManageLicence: "manage-licence",
}


def operation_of(command: Command) -> Operation:
    """The domain call a command makes."""
    try:
        handler = COMMAND_HANDLERS[type(command)]
    except KeyError:
        raise TypeError(f"no handler for command {type(command).__name__}") from None
    return handler(command)
