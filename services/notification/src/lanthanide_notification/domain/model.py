"""What the notification service reasons about: notices, subscriptions, targets, results.

Pure Python: no Kafka, HTTP, SMTP or SQL here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

Channel = Literal["webhook", "email"]
#: "pending": queued for the delivery worker (its first round, or a persisted retry after a
#: failed one); no outcome event yet.
Status = Literal["delivered", "failed", "pending"]


class NoticeKind(StrEnum):
    """What happened, in the vocabulary subscriptions use to say what they want."""

    RECEIVED = "application.received"
    REJECTED = "application.rejected"
    INFO_REQUESTED = "case.info_requested"
    APPROVED = "decision.approved"
    DENIED = "decision.denied"
    NO_LICENCE_REQUIRED = "decision.no_licence_required"
    WITHDRAWN = "decision.withdrawn"


@dataclass(frozen=True, slots=True)
class Target:
    """One place to deliver to: a webhook URL or an e-mail address.

    `registered` is true for targets an operator registered (the subscriptions file); other
    webhook targets (an applicant's own contact) must pass the address check. It is not part
    of the target's identity: the same URL is one target, registered if any source registered it.
    """

    channel: Channel
    address: str
    registered: bool = field(default=False, compare=False)


def delivery_host(channel: Channel, address: str) -> str:
    """The receiver a delivery occupies, for the per-host concurrency limit: a webhook URL's
    host and port (as given, lower-cased); every e-mail goes through the one SMTP relay."""
    if channel == "email":
        return "smtp"
    return urlsplit(address).netloc.rsplit("@", 1)[-1].lower()[:300]


@dataclass(frozen=True, slots=True)
class CaseContact:
    """What the service remembers about a case so later events can reach the applicant."""

    case_id: UUID
    exporter_keys: tuple[str, ...] = ()
    exporter_name: str | None = None
    external_reference: str | None = None
    webhook_url: str | None = None
    email: str | None = None
    #: The case's own submitter (the first application.accepted's submitted_by): only its
    #: resubmissions change webhook_url and email (rule SUB-CONTACT-OWNER).
    submitter: str | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """Who wants to hear about what.

    `applicant` is an exporter key (e.g. "uscc:9136..."), an exporter name, or "*" for a
    downstream system that wants every case. Empty `kinds` means every kind; a kind may end in
    ".*" ("decision.*").
    """

    id: str
    applicant: str
    webhook_url: str | None = None
    email: str | None = None
    kinds: frozenset[str] = frozenset()

    def wants(self, kind: NoticeKind) -> bool:
        """Whether this subscription asks for notices of `kind`."""
        if not self.kinds:
            return True
        return any(
            k == kind.value or (k.endswith(".*") and kind.value.startswith(k[:-1])) or k == "*"
            for k in self.kinds
        )

    def covers(self, applicant_keys: tuple[str, ...]) -> bool:
        """Whether this subscription is about the applicant identified by any of `applicant_keys`."""
        if self.applicant == "*":
            return True
        wanted = self.applicant.strip().casefold()
        return any(wanted == k.casefold() for k in applicant_keys)


@dataclass(frozen=True, slots=True)
class Notice:
    """An event worth telling someone about, with what a template needs to say it."""

    event_id: UUID
    event_type: str
    case_id: UUID | None
    kind: NoticeKind
    applicant_keys: tuple[str, ...]
    webhook_url: str | None
    email: str | None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one delivery ended after all its attempts."""

    status: Status
    attempts: int
    response_status: int | None = None
    error: str | None = None
    #: The last attempt failed for a reason a later retry may not meet (no answer, connection
    #: refused, 5xx, 408, 429): the delivery is worth a persisted retry.
    retryable: bool = False

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"
