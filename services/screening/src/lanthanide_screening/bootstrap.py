"""Wires the screening service once: engine, stores, event factory, handler, metrics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lanthanide.contracts import ApplicationAccepted, Envelope
from lanthanide.events import EventFactory, Outgoing
from lanthanide.logging import get_logger
from lanthanide.topics import Topics
from prometheus_client import Counter, Histogram

from lanthanide_screening import __version__
from lanthanide_screening.adapters.reference_loader import build_engine
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.settings import ScreeningSettings

log = get_logger(__name__)

SCREENED = Counter("lanthanide_screening_screened_total", "Applications screened", ["route", "rescreen"])
LATENCY = Histogram("lanthanide_screening_handler_seconds", "Time to screen one application")


class Screening:
    """The service's unit of work: turns input envelopes into output envelopes."""

    def __init__(self, settings: ScreeningSettings, engine: ScreeningEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.events = EventFactory("screening", __version__, settings.instance)

    async def handle(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """Dispatch one input event by type; unknown types are ignored (other topics' events)."""
        if envelope.event_type == "application.accepted":
            return [self._screen_accepted(envelope)]
        return []

    def _screen_accepted(self, envelope: Envelope[Any]) -> Outgoing:
        accepted: ApplicationAccepted = envelope.payload
        with LATENCY.time():
            result = self.engine.screen(accepted, datetime.now(UTC).date())
        SCREENED.labels(route=result.route.value, rescreen="false").inc()
        log.info("screened", case_id=str(envelope.case_id), route=result.route.value,
                 rule_ids=result.rule_ids, hits=len(result.hits), flags=len(result.red_flags))
        out = self.events.derive(envelope, "screening.completed", result, purpose="screening")
        return Outgoing(self.settings.topic(Topics.SCREENING_COMPLETED), out)


def bootstrap(settings: ScreeningSettings | None = None) -> Screening:
    """Build the service from settings (reads every list and the reference data)."""
    settings = settings or ScreeningSettings()
    return Screening(settings, build_engine(settings))
