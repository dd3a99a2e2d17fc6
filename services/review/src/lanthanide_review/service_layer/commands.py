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
from functools import partial
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

    #: The action's name as the API and the console spell it (`request-information`).
    name: ClassVar[str]
    #: Whether the case's licence is read (locked) with it: licence actions.
    with_licence: ClassVar[bool] = False

    def described(self) -> dict[str, Any]:
        """What a log line says of the command: its name, case and actor; never its free text."""
        return {"command": self.name, "case_id": str(self.case_id), "actor": self.actor.user}


@dataclass(frozen=True)
class Claim(Command):
    name: ClassVar[str] = "claim"


@dataclass(frozen=True)
class RequestInformation(Command):
    name: ClassVar[str] = "request-information"
    missing: list[str] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class Escalate(Command):
    name: ClassVar[str] = "escalate"
    reason: str = ""
    referral: bool = False


@dataclass(frozen=True)
class Recommend(Command):
    name: ClassVar[str] = "recommend"
    recommendation: Recommendation | None = None


@dataclass(frozen=True)
class Countersign(Command):
    name: ClassVar[str] = "countersign"
    agree: bool = True
    note: str | None = None
    application_version: int | None = None


@dataclass(frozen=True)
class Approve(Command):
    name: ClassVar[str] = "approve"
    terms: ApprovalTerms = field(default_factory=ApprovalTerms)


@dataclass(frozen=True)
class Deny(Command):
    name: ClassVar[str] = "deny"
    reasons: list[ReasonCode] = field(default_factory=list)


@dataclass(frozen=True)
class Withdraw(Command):
    name: ClassVar[str] = "withdraw"
    reason: str = ""


@dataclass(frozen=True)
class ManageLicence(Command):
    """Suspend, reinstate or revoke the case's licence."""

    name: ClassVar[str] = "manage-licence"
    with_licence: ClassVar[bool] = True
    op: Literal["suspend", "reinstate", "revoke"] = "suspend"
    reason: str = ""

    def described(self) -> dict[str, Any]:
        return {**super().described(), "op": self.op}


#: A command's domain call: the command, then the case, its context and (licence actions) licence.
Handler = Callable[[Any, Case, Context, LicenceRecord | None], None]


def _recommend(cmd: Recommend, case: Case, ctx: Context, _licence: LicenceRecord | None) -> None:
    if cmd.recommendation is None:
        raise ValueError("recommendation: a recommendation states its outcome")
    case.recommend(cmd.actor, ctx, cmd.recommendation)


def _manage_licence(cmd: ManageLicence, case: Case, ctx: Context, licence: LicenceRecord | None) -> None:
    if licence is None:
        raise ValueError(f"case {case.case_id} has no licence")
    case.manage_licence(cmd.actor, ctx, licence, cmd.op, cmd.reason)


#: command type -> the domain call it makes (cosmicpython's COMMAND_HANDLERS).
COMMAND_HANDLERS: dict[type[Command], Handler] = {
    Claim: lambda cmd, case, ctx, _l: case.claim(cmd.actor, ctx),
    RequestInformation: lambda cmd, case, ctx, _l: case.request_information(cmd.actor, ctx, cmd.missing, cmd.message),
    Escalate: lambda cmd, case, ctx, _l: case.escalate(cmd.actor, ctx, cmd.reason, cmd.referral),
    Recommend: _recommend,
    Countersign: lambda cmd, case, ctx, _l: case.countersign(cmd.actor, ctx, cmd.agree, cmd.note,
                                                             cmd.application_version),
    Approve: lambda cmd, case, ctx, _l: case.approve(cmd.actor, ctx, cmd.terms),
    Deny: lambda cmd, case, ctx, _l: case.deny(cmd.actor, ctx, cmd.reasons),
    Withdraw: lambda cmd, case, ctx, _l: case.withdraw(cmd.actor, ctx, cmd.reason),
    ManageLicence: _manage_licence,
}


def operation_of(command: Command) -> Operation:
    """The domain call a command makes."""
    try:
        handler = COMMAND_HANDLERS[type(command)]
    except KeyError:
        raise TypeError(f"no handler for command {type(command).__name__}") from None
    return partial(handler, command)
