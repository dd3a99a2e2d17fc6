"""The event envelope every message on every topic carries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

P = TypeVar("P", bound=BaseModel)

#: Major version of the event contracts. Additive changes only within a major version.
SCHEMA_VERSION = 1


class Producer(BaseModel):
    """Which service (and which version of it) produced an event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: str
    version: str
    instance: str | None = None


class Envelope(BaseModel, Generic[P]):
    """The envelope: identity, causality and provenance around a typed payload.

    event_id is a uuid5 for events derived from an input (a replay re-emits the same id);
    causation_id is the event_id this one was derived from; correlation_id follows the case
    from its first submission. Consumers ignore unknown fields so additive changes are safe.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID
    event_type: str
    schema_version: int = SCHEMA_VERSION
    case_id: UUID | None = None
    correlation_id: UUID
    causation_id: UUID | None = None
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: Producer
    payload: P


def envelope_json(
    event_type: str,
    payload: Any,
    *,
    event_id: UUID,
    producer: Mapping[str, Any],
    case_id: UUID | None = None,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """An envelope in its JSON form (what `Envelope.model_dump(mode="json")` gives), for senders
    that hold the payload as JSON already and must not pay for validating it again: the client's
    submissions and the load generators. `payload` is the payload's JSON; `correlation_id`
    defaults to the event's own id (a first event starts its case's correlation)."""
    return {
        "event_id": str(event_id),
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "case_id": str(case_id) if case_id else None,
        "correlation_id": str(correlation_id or event_id),
        "causation_id": str(causation_id) if causation_id else None,
        "occurred_at": (occurred_at or datetime.now(UTC)).isoformat(),
        "producer": dict(producer),
        "payload": payload,
    }
