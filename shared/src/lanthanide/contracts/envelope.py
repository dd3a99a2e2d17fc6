"""The event envelope every message on every topic carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar
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
