"""What the service layer needs from the outside world, as protocols (adapters implement them)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol
from uuid import UUID

from lanthanide_notification.domain.model import (
    CaseContact,
    Channel,
    DeliveryResult,
    Notice,
    Subscription,
    Target,
)

#: (event_id, channel, target address): what the delivery log is unique on.
DeliveryKey = tuple[UUID, str, str]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A finished delivery as logged: delivered, or dead-lettered after the last attempt."""

    event_id: UUID
    channel: Channel
    target: str
    result: DeliveryResult
    #: The operator's replay that gave `result` ("": the first delivery).
    replay: str = ""


class DueDelivery(NamedTuple):
    """A due delivery as the delivery worker's look sees it: enough to choose it (its lane and
    its host) without reading its whole row; the ids are as stored (text)."""

    id: int
    event_id: str
    case_id: str | None
    channel: str
    target: str
    host: str


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """A delivery queued in the store for the delivery worker: its first round, a persisted
    retry after a failed round, or an operator's replay.

    `rounds` counts the rounds of attempts already made (0: none yet, since it was queued or
    replayed); the backoff schedule's wait after a failed round is `delay_before(rounds + 1)`.
    `host` is the receiver it occupies (`model.delivery_host`), for the per-host limit.
    `replay` is empty for the first delivery of an event; an operator's replay gets a token of
    its own, so its outcome event has an id of its own (the first delivery's failed outcome
    was already published with the first id).
    """

    id: int
    event_id: UUID
    channel: Channel
    target: str
    event_type: str
    kind: str
    body: str
    attempts: int
    rounds: int
    next_attempt_at: datetime
    replay: str = ""
    host: str = ""
    case_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery that failed after its last attempt and retry: listed for operators, replayable."""

    id: int
    event_id: UUID
    channel: str
    target: str
    case_id: UUID | None
    attempts: int
    error: str | None
    failed_at: datetime


class DeliveryLog(Protocol):
    """The store: deliveries (unique per event, channel, target), dead letters, case contacts."""

    async def find(self, event_id: UUID, target: Target) -> DeliveryRecord | None:
        """The logged delivery of this event to this target, if any."""
        ...

    async def record(self, notice: Notice, target: Target, result: DeliveryResult, body: str) -> None:
        """Log a finished delivery; a failed one also gets a dead-letter record with the body."""
        ...

    async def find_many(self, keys: Collection[DeliveryKey]) -> dict[DeliveryKey, DeliveryRecord]:
        """The logged deliveries among these keys (one round trip: a Kafka batch's worth)."""
        ...

    async def record_many(self, items: Sequence[tuple[Notice, Target, DeliveryResult, str]]) -> None:
        """Log several finished deliveries in one transaction (same rows as `record` each)."""
        ...

    async def enqueue(
        self, contacts: Sequence[CaseContact], items: Sequence[tuple[Notice, Target, str]], at: datetime
    ) -> None:
        """Save the contacts learned and queue the deliveries (due at `at`) for the delivery
        worker, in one transaction: what a consumed batch leaves behind before its offsets are
        committed (an outbox). A delivery already queued stays as it is."""
        ...

    async def contact(self, case_id: UUID) -> CaseContact | None:
        """What we know about reaching the applicant of a case."""
        ...

    async def save_contact(self, contact: CaseContact) -> None:
        """Remember (or update) a case's contact."""
        ...

    async def contacts(self, case_ids: Collection[UUID]) -> dict[UUID, CaseContact]:
        """The known contacts of several cases (one round trip: a Kafka batch's worth)."""
        ...

    async def save_contacts(self, contacts: Sequence[CaseContact]) -> None:
        """Remember (or update) several contacts in one transaction."""
        ...

    async def subscriptions(self) -> list[Subscription]:
        """Every active subscription."""
        ...


class Sender(Protocol):
    """Delivers one notice to one target, retrying as its channel's policy says."""

    async def send(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        """Deliver and report how it ended; never raises for delivery failures."""
        ...
