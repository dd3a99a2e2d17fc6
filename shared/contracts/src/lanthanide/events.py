"""Making envelopes: the one place that derives event ids and carries causality forward."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from lanthanide.contracts.envelope import Envelope, Producer
from lanthanide.contracts.events import EVENT_TYPES
from lanthanide.ids import derived_id
from lanthanide.serde import envelope_class
from lanthanide.version import __version__
from pydantic import BaseModel

#: What bad data in one input event raises: that event is dead-lettered and the others go on
#: (every stage, through lanthanide.kafka.run_batch). Anything else (database, Kafka) fails the
#: batch, which is redelivered and deduplicated by event_id.
BAD_EVENT_ERRORS: tuple[type[Exception], ...] = (ValueError, KeyError, TypeError, LookupError)

#: The part of BAD_EVENT_ERRORS that is a bug in the code rather than in the event: still
#: dead-lettered (the partition must not stall) but logged as `handler_bug` and counted on
#: lanthanide_handler_bugs_total, so it is not mistaken for bad input.
CODE_BUG_ERRORS: tuple[type[Exception], ...] = (TypeError,)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An envelope bound for a topic (key = case_id)."""

    topic: str
    envelope: Envelope[Any]
    #: Record headers beside the envelope's own (CloudEvents, trace context), e.g. intake's stamp
    #: of who submitted an application (`lanthanide_submitter`).
    headers: Mapping[str, str] = field(default_factory=dict)


class EventFactory:
    """Builds envelopes for one service.

    `derive` gives a uuid5 of the source event id and a purpose, so processing the same input
    twice yields the same output ids; `new` is for events with no input (HTTP, CLI, timers).
    """

    def __init__(self, service: str, version: str = __version__, instance: str | None = None) -> None:
        self.producer = Producer(
            service=service, version=version, instance=instance or socket.gethostname()
        )

    def _build(
        self,
        *,
        event_id: UUID,
        event_type: str,
        payload: BaseModel,
        case_id: UUID | None,
        correlation_id: UUID,
        causation_id: UUID | None,
        occurred_at: datetime | None,
    ) -> Envelope[Any]:
        if event_type not in EVENT_TYPES:
            raise KeyError(f"unknown event_type {event_type!r}")
        return envelope_class(event_type)(
            event_id=event_id,
            event_type=event_type,
            case_id=case_id,
            correlation_id=correlation_id,
            causation_id=causation_id,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=self.producer,
            payload=payload,
        )

    def derive(
        self,
        source: Envelope[Any],
        event_type: str,
        payload: BaseModel,
        *,
        purpose: str = "",
        case_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope[Any]:
        """An event caused by `source`: deterministic id, same correlation, causation = source."""
        return self._build(
            event_id=derived_id(source.event_id, event_type, purpose),
            event_type=event_type,
            payload=payload,
            case_id=case_id or source.case_id,
            correlation_id=source.correlation_id,
            causation_id=source.event_id,
            occurred_at=occurred_at,
        )

    def new(
        self,
        event_type: str,
        payload: BaseModel,
        *,
        case_id: UUID | None = None,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope[Any]:
        """An event with no input event (e.g. an HTTP request or a reviewer action)."""
        eid = event_id or uuid4()
        return self._build(
            event_id=eid,
            event_type=event_type,
            payload=payload,
            case_id=case_id,
            correlation_id=correlation_id or eid,
            causation_id=causation_id,
            occurred_at=occurred_at,
        )
