"""Screening's use cases: input envelopes in, output envelopes out (cosmicpython's handlers.py).

`EVENT_HANDLERS` is the one place that says which payload type screening handles, in which
consumer group and on which catalogue topic: `Screening.handle` (and the per-instance
`handle_reference`, `handle_disposition`) dispatch through it, and entrypoints/stage.py derives
the subscriptions from it (`subscriptions`). No broker, database or HTTP library is imported
here: the store and the engine are handed in by bootstrap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from uuid import UUID

from lanthanide.contracts import (
    ApplicationAccepted,
    DecisionMade,
    DispositionRecorded,
    DispositionRevoked,
    Envelope,
    LicenceStatusChanged,
    ReferenceUpdated,
    ScreeningCompleted,
)
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory, Outgoing
from lanthanide.logging import get_logger
from lanthanide.topics import Topics
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel

from lanthanide_screening import __version__
from lanthanide_screening.adapters.reference_loader import build_engine
from lanthanide_screening.adapters.reference_store import MEASURES, ReferenceStore, ReferenceStoreError
from lanthanide_screening.adapters.store import ScreeningStore
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.settings import ScreeningSettings

log = get_logger(__name__)

SCREENED = Counter("lanthanide_screening_screened_total", "Applications screened", ["route", "rescreen"])
LATENCY = Histogram("lanthanide_screening_handler_seconds", "Time to screen one application")
RELOADS = Counter("lanthanide_screening_reference_reloads_total", "Reference data reloads", ["kind"])
LIST_ENTRIES = Gauge("lanthanide_screening_list_entries", "Entries per loaded list", ["list_id"])


class Screening:
    """The service's unit of work: turns input envelopes into output envelopes."""

    def __init__(self, settings: ScreeningSettings, engine: ScreeningEngine, store: ScreeningStore) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.events = EventFactory("screening", __version__, settings.instance)
        self._in_batch = False
        self._observe_lists()

    def _observe_lists(self) -> None:
        for lst in self.engine.index.lists:
            LIST_ENTRIES.labels(list_id=lst.list_id).set(len(lst.entries))

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Scope of one Kafka batch of the main consumer group: inside it `handle` defers its
        store writes, and they are written in one transaction when the scope exits normally,
        i.e. before the stage publishes the outputs and commits the offsets. General licences
        are re-read once at the start (another instance may share the database)."""
        if self._in_batch:
            raise RuntimeError("batches do not nest")
        await self.store.flush()  # whatever an aborted batch left behind
        await self.store.refresh_general_licences()
        self._in_batch = True
        try:
            yield
        finally:
            self._in_batch = False
        await self.store.flush()

    async def handle(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """Main consumer group: screen accepted applications, project decisions and licence
        status changes (the MAIN entries of EVENT_HANDLERS).

        Outside `batch()` the store writes are made before this returns."""
        out = await self._dispatch(MAIN, envelope)
        if not self._in_batch:
            await self.store.flush()
        return out

    async def _dispatch(self, group: Group, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """The handler EVENT_HANDLERS names for the payload's type in `group`; anything else on
        the group's topics (another service's events) is not screening's business."""
        route = EVENT_HANDLERS.get(type(envelope.payload))
        if route is None or route.group is not group:
            return []
        return await route.handler(self, envelope)

    async def on_accepted(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """application.accepted: screen it on its own as-of date."""
        return [self._screen_accepted(envelope)]

    async def on_decision(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """decision.made: the case's outcome, kept for re-screening and general-licence usage."""
        if envelope.case_id is not None:
            decision: DecisionMade = envelope.payload
            self.store.defer_decision(str(envelope.case_id), decision)
        return []

    async def on_licence_status(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """licence.status_changed: review suspended, reinstated or revoked a licence; a general
        licence that is not active routes nothing to the green channel from the next application on."""
        change: LicenceStatusChanged = envelope.payload
        self.store.defer_licence_status(change)
        log.info("licence_status_changed", case_id=str(envelope.case_id), licence_number=change.number,
                 status=change.status)
        return []

    async def handle_reference(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """Per-instance group: every instance reloads; each re-screens the cases in its store."""
        return await self._dispatch(REFERENCE, envelope)

    async def on_reference_updated(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """reference.updated: load the announced version, then re-screen this instance's cases."""
        update: ReferenceUpdated = envelope.payload
        if update.checksum is not None:
            # The event names dataset, version and checksum; the file is this instance's own copy
            # under its data dir, used only when it matches the checksum (`update.path` is ignored).
            dataset = MEASURES if update.kind == "measures" else (update.list_id or "")
            try:
                ReferenceStore(self.settings.data_dir).activate(dataset, update.version, update.checksum)
            except ReferenceStoreError as exc:
                log.error("reference_update_rejected", kind=update.kind, dataset=dataset, version=update.version,
                          error=str(exc))
                return []
        # Loading lists takes seconds of CPU: off the event loop, so the consumer keeps its heartbeat.
        self.engine = await asyncio.to_thread(build_engine, self.settings)
        RELOADS.labels(kind=update.kind).inc()
        self._observe_lists()
        # Cases the main group screened with the previous engine may still have their writes
        # deferred in its current batch: write them now so they are re-screened below.
        await self.store.flush()
        # Re-screening evaluates on the re-screen date (PRC), and the result says so (as_of_basis).
        on = prc_today()
        licences = self.store.valid_general_licences(on)
        out = []
        for case in await self.store.cases_to_rescreen(on):
            result = self.engine.screen(
                case.accepted,
                on,
                is_rescreen=True,
                find_disposition=self.store.find_disposition,
                general_licences=licences,
                inactive_general_licences=self.store.inactive_general_licences(),
                # A live licence's export is drawn down already: re-screening re-checks the rest.
                drawn_down=case.status == "licensed",
            )
            SCREENED.labels(route=result.route.value, rescreen="true").inc()
            env = self.events.derive(
                envelope, "screening.completed", result, purpose=f"rescreen:{case.case_id}", case_id=UUID(case.case_id)
            )
            out.append(
                Outgoing(
                    self.settings.topic(Topics.SCREENING_COMPLETED),
                    env.model_copy(update={"correlation_id": UUID(case.correlation_id)}),
                )
            )
        log.info(
            "reference_reloaded",
            kind=update.kind,
            version=update.version,
            rescreened=len(out),
            reference_data_version=self.engine.reference_data_version,
        )
        return out

    async def handle_disposition(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        """Per-instance group: review's dispositions, applied to this instance's store and cache.

        Screening takes dispositions only from this topic, which only review may write (Kafka
        ACLs): a disposition is a reviewer action behind review's authentication and four-eyes."""
        return await self._dispatch(DISPOSITIONS, envelope)

    async def on_disposition_recorded(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        case_id = str(envelope.case_id) if envelope.case_id is not None else None
        recorded: DispositionRecorded = envelope.payload
        await self.store.record_disposition(recorded, case_id)
        log.info("disposition_recorded", case_id=case_id, disposition_id=recorded.disposition_id,
                 list_id=recorded.list_id, entry_id=recorded.entry_id, list_version=recorded.list_version)
        return []

    async def on_disposition_revoked(self, envelope: Envelope[Any]) -> Sequence[Outgoing]:
        case_id = str(envelope.case_id) if envelope.case_id is not None else None
        revoked: DispositionRevoked = envelope.payload
        known = await self.store.revoke_disposition(revoked.disposition_id)
        log.info("disposition_revoked", case_id=case_id, disposition_id=revoked.disposition_id, known=known)
        return []

    async def screen(
        self, accepted: ApplicationAccepted, on: date, basis: Literal["receipt", "what_if"] = "receipt"
    ) -> ScreeningCompleted:
        """Screen with the store's dispositions and general licences (used by handlers and the API).

        Writes nothing: the what-if route (`basis="what_if"`) creates no case."""
        return self._screen(accepted, on, basis)

    def _screen(
        self, accepted: ApplicationAccepted, on: date, basis: Literal["receipt", "what_if"] = "receipt"
    ) -> ScreeningCompleted:
        return self.engine.screen(
            accepted,
            on,
            basis=basis,
            find_disposition=self.store.find_disposition,
            general_licences=self.store.valid_general_licences(on),
            inactive_general_licences=self.store.inactive_general_licences(),
        )

    def _screen_accepted(self, envelope: Envelope[Any]) -> Outgoing:
        accepted: ApplicationAccepted = envelope.payload
        if envelope.case_id is not None:
            self.store.defer_case(str(envelope.case_id), str(envelope.correlation_id), accepted)
        with LATENCY.time():
            # The application's as-of date, fixed at intake: a replay or a lagging consumer
            # screens on the same date as the first pass.
            result = self._screen(accepted, accepted.as_of_date)
        SCREENED.labels(route=result.route.value, rescreen="false").inc()
        log.info(
            "screened",
            case_id=str(envelope.case_id),
            route=result.route.value,
            rule_ids=result.rule_ids,
            hits=len(result.hits),
            flags=len(result.red_flags),
        )
        out = self.events.derive(envelope, "screening.completed", result, purpose="screening")
        return Outgoing(self.settings.topic(Topics.SCREENING_COMPLETED), out)


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Group:
    """One of screening's consumer groups. `per_instance`: every instance reads every record
    (its own group id), because each holds its own cache and store."""

    name: str
    per_instance: bool = False


MAIN = Group("main")
REFERENCE = Group("reference", per_instance=True)
DISPOSITIONS = Group("dispositions", per_instance=True)


@dataclass(frozen=True)
class Route:
    """Where a payload type arrives (group, catalogue topic) and the use case that handles it."""

    group: Group
    topic: str
    handler: Callable[[Screening, Envelope[Any]], Awaitable[Sequence[Outgoing]]]


#: payload type -> route: every input screening handles, and nothing else.
EVENT_HANDLERS: dict[type[BaseModel], Route] = {
    ApplicationAccepted: Route(MAIN, Topics.APPLICATIONS_ACCEPTED, Screening.on_accepted),
    DecisionMade: Route(MAIN, Topics.DECISIONS, Screening.on_decision),
    # Review publishes licence status changes on the decisions topic, keyed by the licence's case.
    LicenceStatusChanged: Route(MAIN, Topics.DECISIONS, Screening.on_licence_status),
    ReferenceUpdated: Route(REFERENCE, Topics.REFERENCE_UPDATES, Screening.on_reference_updated),
    DispositionRecorded: Route(DISPOSITIONS, Topics.DISPOSITIONS, Screening.on_disposition_recorded),
    DispositionRevoked: Route(DISPOSITIONS, Topics.DISPOSITIONS, Screening.on_disposition_revoked),
}


def subscriptions() -> dict[Group, list[str]]:
    """Each consumer group with the catalogue topics it reads, in registry order, from EVENT_HANDLERS."""
    out: dict[Group, list[str]] = {}
    for route in EVENT_HANDLERS.values():
        topics = out.setdefault(route.group, [])
        if route.topic not in topics:
            topics.append(route.topic)
    return out

