"""Use cases: apply an input event or a reviewer action to a case in one unit of work.

Every use case writes the case, its history, the licence, the processed-input mark and the
outgoing envelopes in one transaction (the transactional outbox); the relay publishes them.
Each use case exists once: a Kafka batch is one unit of work in which the same handler
(`_on_screening`, `_on_shipment`) is called for every event, and a single event or a reviewer
action is a unit of work with one call. The unit of work's identity map lets a later event of a
batch see what an earlier one changed; its writes go out at commit, one statement per table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from lanthanide.contracts import (
    CaseEvent,
    CaseEventKind,
    DecisionMade,
    Envelope,
    LicenceStatusChanged,
    Route,
    ScreeningCompleted,
    ShipmentReported,
)
from lanthanide.events import BAD_EVENT_ERRORS, EventFactory, Outgoing
from lanthanide.ids import derived_id
from lanthanide.logging import get_logger
from lanthanide.topics import Topics
from pydantic import BaseModel

from lanthanide_review.adapters.case_queue import QueueProjector
from lanthanide_review.adapters.store import ConcurrencyConflict, Store, UnitOfWork
from lanthanide_review.domain.dispositions import DispositionStatus
from lanthanide_review.domain.licences import LicenceRecord
from lanthanide_review.domain.model import SYSTEM, Case, Context
from lanthanide_review.domain.policy import RoutingPolicy
from lanthanide_review.domain.roles import ConflictRegister
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.domain.states import OPEN_STATES
from lanthanide_review.service_layer.commands import Command, Operation, operation_of

log = get_logger(__name__)
T = TypeVar("T")


#: How many bad events a batch's unit of work leaves out (re-running the batch without them)
#: before it hands the rest of the batch to one unit of work per event.
MAX_BATCH_EXCLUSIONS = 3


#: What makes a batch transaction fall back to one transaction per event.
_FALL_BACK: tuple[type[Exception], ...] = (ConcurrencyConflict, *BAD_EVENT_ERRORS)


class _BadEvent(Exception):
    """Internal: the event at `index` of a batch raised bad-data error `error` in its handler."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


def _log_case_updated(case: Case, result: ScreeningCompleted) -> None:
    # DEBUG: one line per event; a batch logs one `batch_applied` line at INFO.
    log.debug("case_updated", case_id=str(case.case_id), state=case.state.value,
              route=result.route.value, rescreen=result.is_rescreen)


class CaseNotFound(LookupError):
    """No case with this id."""


class LicenceNotFound(LookupError):
    """No licence with this number."""


@dataclass
class TopicNames:
    case_events: str
    decisions: str
    dispositions: str = Topics.DISPOSITIONS

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        return cls(
            case_events=f"{prefix}{Topics.CASE_EVENTS}",
            decisions=f"{prefix}{Topics.DECISIONS}",
            dispositions=f"{prefix}{Topics.DISPOSITIONS}",
        )


class ReviewService:
    """The review use cases over one store."""

    def __init__(
        self,
        *,
        store: Store,
        policy: RoutingPolicy,
        calendar: PrcCalendar,
        conflicts: ConflictRegister,
        factory: EventFactory,
        topics: TopicNames,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.calendar = calendar
        self.conflicts = conflicts
        self.factory = factory
        self.topics = topics
        self.tz = ZoneInfo(timezone)
        self.clock = clock or (lambda: datetime.now(UTC))
        # The queue projection's due dates come from this service's calendar and SLA length.
        store.projector = QueueProjector(calendar, policy.sla.working_days, self.tz)

    # ------------------------------------------------------------ plumbing

    def context(self, now: datetime | None = None) -> Context:
        now = now or self.clock()
        return Context(
            policy=self.policy, calendar=self.calendar, now=now, today=self.today(now), conflicts=self.conflicts
        )

    def today(self, now: datetime | None = None) -> date:
        """Today on the PRC calendar (the SLA counts PRC working days)."""
        return (now or self.clock()).astimezone(self.tz).date()

    async def _retrying(self, work: Callable[[UnitOfWork], Awaitable[T]], attempts: int = 5) -> T:
        """Run `work` in a unit of work and commit it; retry it when a concurrent writer got
        there first."""
        for attempt in range(attempts):
            try:
                async with self.store.unit_of_work() as uow:
                    result = await work(uow)
                    await uow.commit()
                    return result
            except ConcurrencyConflict as exc:
                if attempt == attempts - 1:
                    raise
                log.info("unit_of_work_retry", attempt=attempt + 1, error=type(exc).__name__)
        raise AssertionError("unreachable")

    def _envelopes(
        self, case_id: UUID | None, correlation_id: UUID, payloads: Sequence[BaseModel], source: Envelope[Any] | None
    ) -> list[Outgoing]:
        out: list[Outgoing] = []
        for i, payload in enumerate(payloads):
            if isinstance(payload, DecisionMade):
                # One id per case whatever triggered it: a duplicate decision dedupes downstream,
                # and the outbox's unique event_id refuses a second one outright.
                env = self.factory.new(
                    "decision.made",
                    payload,
                    case_id=case_id,
                    correlation_id=correlation_id,
                    causation_id=source.event_id if source else None,
                    event_id=derived_id(payload.decision_id, "decision.made"),
                )
                out.append(Outgoing(self.topics.decisions, env))
                continue
            if isinstance(payload, LicenceStatusChanged):
                # On the decisions topic, keyed by the licence's case: screening reads it there.
                if source is not None:
                    env = self.factory.derive(
                        source, "licence.status_changed", payload, purpose=f"review:{i}", case_id=case_id
                    )
                else:
                    env = self.factory.new(
                        "licence.status_changed", payload, case_id=case_id, correlation_id=correlation_id
                    )
                out.append(Outgoing(self.topics.decisions, env))
                continue
            if source is not None:
                env = self.factory.derive(source, "case.event", payload, purpose=f"review:{i}", case_id=case_id)
            else:
                env = self.factory.new("case.event", payload, case_id=case_id, correlation_id=correlation_id)
            out.append(Outgoing(self.topics.case_events, env))
        return out

    async def _save(
        self,
        uow: UnitOfWork,
        case: Case,
        ctx: Context,
        source: Envelope[Any] | None,
        licence: LicenceRecord | None = None,
    ) -> None:
        if ctx.numbers is not None:
            await uow.licence_numbers.claim(ctx.numbers)
        await uow.cases.add(case, ctx.now)
        if case.new_licence is not None:
            await uow.licences.add(case.new_licence, ctx.now)
        if licence is not None:
            await uow.licences.add(licence, ctx.now)
        if case.drawn_licence is not None:
            # The green-channel draw-down, in the case's transaction (optimistic version check:
            # a concurrent draw on the same licence makes this unit of work retry and re-check).
            await uow.licences.add(case.drawn_licence, ctx.now)
        out = self._envelopes(case.case_id, case.correlation_id, case.outbox, source)
        await uow.outbox.add(case.case_id, out, ctx.now)
        case.outbox.clear()
        case.new_licence = None
        case.drawn_licence = None

    # ------------------------------------------------------------ Kafka inputs

    async def handle(self, envelope: Envelope[Any], topic: str) -> None:
        """Apply one input event exactly once (deduplicated by event_id), in its own unit of work."""
        await self._retrying(partial(self._apply, envelope=envelope, topic=topic))

    async def _apply(self, uow: UnitOfWork, *, envelope: Envelope[Any], topic: str) -> None:
        """One input event against `uow` (alone, or one of a batch): skipped if applied already."""
        if await uow.inbox.processed(envelope.event_id):
            return
        now = self.clock()
        route = EVENT_HANDLERS.get(type(envelope.payload))
        if route is None:
            log.info("ignored_event", event_type=envelope.event_type)
        else:
            await route.handler(self, uow, envelope, now)
        await uow.inbox.add(envelope.event_id, topic, now)

    async def handle_batch(self, items: Sequence[tuple[Envelope[Any], str]]) -> list[tuple[int, Exception]]:
        """Apply a Kafka batch of input events in order, each exactly once; returns the events
        (index into `items`, error) that failed on bad data: the caller dead-letters them.

        The batch is ONE unit of work with one handler call per event (the same calls `handle`
        makes). A bad event is left out and the batch re-run without it (what it changed was only
        in the unit of work, which is rolled back). A concurrent writer (ConcurrencyConflict: a
        changed row or a key written first), bad data only the writes showed, or more than
        MAX_BATCH_EXCLUSIONS bad events hand the rest to one unit of work per event (`handle`,
        with its own retries).
        """
        failures: list[tuple[int, Exception]] = []
        todo = list(range(len(items)))
        while len(failures) <= MAX_BATCH_EXCLUSIONS:
            try:
                async with self.store.unit_of_work() as uow:
                    await self._apply_batch(uow, [(i, *items[i]) for i in todo])
                    await uow.commit()
                return sorted(failures, key=lambda f: f[0])
            except _BadEvent as bad:
                failures.append((bad.index, bad.error))
                todo.remove(bad.index)
            except _FALL_BACK as exc:
                log.info("batch_one_by_one", events=len(todo), error=type(exc).__name__)
                break
        for i in todo:
            envelope, topic = items[i]
            try:
                await self.handle(envelope, topic)
            except BAD_EVENT_ERRORS as exc:
                failures.append((i, exc))
        return sorted(failures, key=lambda f: f[0])

    async def _apply_batch(self, uow: UnitOfWork, events: Sequence[tuple[int, Envelope[Any], str]]) -> None:
        """Every event of a batch against one unit of work, in order, after reading what they
        need with one query per table (processed marks, then the cases and licences of the
        events not applied yet, locked)."""
        done = await uow.inbox.processed_among([env.event_id for _, env, _ in events])
        pending = [env for _, env, _ in events if str(env.event_id) not in done]
        screenings = [env for env in pending if isinstance(env.payload, ScreeningCompleted)]
        await uow.prefetch(
            case_ids=[env.case_id for env in screenings if env.case_id is not None],
            licence_numbers=[
                *(n for env in screenings if (n := _general_licence_named(env.payload))),
                *(env.payload.licence_number for env in pending if isinstance(env.payload, ShipmentReported)),
            ],
        )
        for i, env, topic in events:
            try:
                await self._apply(uow, envelope=env, topic=topic)
            except BAD_EVENT_ERRORS as exc:
                # The unit of work may be half changed: it is dropped and the batch re-run without it.
                raise _BadEvent(i, exc) from exc
        log.info("batch_applied", events=len(pending), cases=len({env.case_id for env in screenings}))

    async def _on_screening(self, uow: UnitOfWork, env: Envelope[Any], now: datetime) -> None:
        result: ScreeningCompleted = env.payload
        if env.case_id is None:
            raise ValueError("case_id: a screening.completed event must carry the case id")
        ctx = self.context(now)
        ctx.numbers = await uow.licence_numbers.get(ctx.today.year)
        case = await uow.cases.get(env.case_id)
        if case is None:
            case = Case.open(env.case_id, result, env.correlation_id, now)
        licence = None
        if case.licence_number:
            licence = await uow.licences.get(case.licence_number)
        if (number := _general_licence_named(result)) and number != case.licence_number:
            gl = await uow.licences.get(number)
            if gl is not None:
                ctx.general_licences[number] = gl
        case.on_screening(result, ctx, licence)
        await self._save(uow, case, ctx, env, licence)
        _log_case_updated(case, result)

    async def _on_shipment(self, uow: UnitOfWork, env: Envelope[Any], now: datetime) -> None:
        shipment: ShipmentReported = env.payload
        if await uow.shipments.seen(shipment.shipment_id):
            return  # the same shipment reported again under a new event id
        licence = await uow.licences.get(shipment.licence_number)
        record: dict[str, Any] = {
            "shipment_id": shipment.shipment_id,
            "licence_number": shipment.licence_number,
            "item_index": shipment.item_index,
            "quantity": shipment.quantity,
            "unit": shipment.unit,
            "end_user": shipment.end_user,
            "end_user_country": shipment.end_user_country,
            "shipped_on": shipment.shipped_on,
            "now": now,
        }
        details: dict[str, Any] = {
            "shipment_id": shipment.shipment_id,
            "licence_number": shipment.licence_number,
            "item_index": shipment.item_index,
            "quantity": str(shipment.quantity),
            "unit": shipment.unit,
        }
        if licence is None:
            await uow.shipments.add(
                **record, accepted=False, rule_id="LIC-SHIP-UNKNOWN-LICENCE", reason="no such licence"
            )
            event = CaseEvent(
                kind=CaseEventKind.SHIPMENT_REFUSED,
                actor=SYSTEM,
                reason="no such licence",
                details={**details, "rule_id": "LIC-SHIP-UNKNOWN-LICENCE"},
            )
            await uow.outbox.add(None, self._envelopes(env.case_id, env.correlation_id, [event], env), now)
            return
        outcome = licence.draw_down(shipment, self.policy.licences)
        case_id = UUID(licence.case_id)
        events: list[BaseModel] = []
        if outcome.accepted:
            events.append(
                CaseEvent(
                    kind=CaseEventKind.LICENCE_DRAWN_DOWN,
                    actor=SYSTEM,
                    details={**details, "remaining": outcome.remaining},
                )
            )
            if outcome.exhausted:
                events.append(
                    CaseEvent(
                        kind=CaseEventKind.LICENCE_EXHAUSTED,
                        actor=SYSTEM,
                        reason=licence.status_reason,
                        details={"licence_number": licence.licence.number},
                    )
                )
            await uow.licences.add(licence, now)
        else:
            events.append(
                CaseEvent(
                    kind=CaseEventKind.SHIPMENT_REFUSED,
                    actor=SYSTEM,
                    reason=outcome.reason,
                    details={**details, "rule_id": outcome.rule_id, "remaining": outcome.remaining},
                )
            )
            log.warning("shipment_refused", licence=licence.licence.number, rule_id=outcome.rule_id)
        await uow.shipments.add(**record, accepted=outcome.accepted, rule_id=outcome.rule_id, reason=outcome.reason)
        case = await uow.cases.get(case_id, for_update=False)
        correlation = case.correlation_id if case else env.correlation_id
        await uow.outbox.add(case_id, self._envelopes(case_id, correlation, events, env), now)

    # ------------------------------------------------------------ reviewer actions

    async def execute(self, command: Command) -> Case:
        """Apply a reviewer command (service_layer/commands.py COMMAND_HANDLERS) in one unit of
        work; each is logged by name, case and actor (never its free text)."""
        case = await self.act(command.case_id, operation_of(command), with_licence=command.with_licence)
        # Every line naming a case carries its correlation id (one trace per application).
        log.info("command_executed", **command.described(), correlation_id=str(case.correlation_id))
        return case

    async def act(self, case_id: UUID, operation: Operation, *, with_licence: bool = False) -> Case:
        """Apply a reviewer action (a domain method) to a case in one unit of work."""

        async def work(uow: UnitOfWork) -> Case:
            case = await uow.cases.get(case_id)
            if case is None:
                raise CaseNotFound(f"no case {case_id}")
            ctx = self.context()
            ctx.numbers = await uow.licence_numbers.get(ctx.today.year)
            licence = None
            if with_licence:
                licence = await uow.licences.get(case.licence_number) if case.licence_number else None
                if licence is None:
                    raise LicenceNotFound(f"case {case_id} has no licence")
            elif not case.is_decided and (number := case.app.general_licence_number):
                # A reviewer may approve the case as an export under the general licence it names
                # (REV-GL-MANUAL): that licence is read locked here and drawn down in this unit of
                # work; hits cleared by a recorded disposition no longer bar it.
                gl = await uow.licences.get(number)
                if gl is not None:
                    ctx.general_licences[number] = gl
                ctx.cleared_hits = frozenset(
                    (d.list_id, d.entry_id)
                    for d in await uow.dispositions.for_case(case.case_id)
                    if d.status is DispositionStatus.RECORDED
                )
            operation(case, ctx, licence)
            await self._save(uow, case, ctx, None, licence)
            return case

        return await self._retrying(work)

    # ------------------------------------------------------------ lookups (the reports are in views.py)

    async def get_case(self, case_id: UUID) -> tuple[Case, list[dict[str, Any]], LicenceRecord | None]:
        async with self.store.unit_of_work() as uow:
            case = await uow.cases.get(case_id, for_update=False)
            if case is None:
                raise CaseNotFound(f"no case {case_id}")
            licence = await uow.licences.get(case.licence_number, for_update=False) if case.licence_number else None
            return case, await uow.cases.history(case_id), licence

    async def licence(self, number: str) -> LicenceRecord:
        async with self.store.unit_of_work() as uow:
            rec = await uow.licences.get(number, for_update=False)
        if rec is None:
            raise LicenceNotFound(f"no licence {number}")
        return rec

    # ------------------------------------------------------------ SLA

    async def sla_sweep(self) -> int:
        """Emit SLA_WARNING case events for open cases crossing a threshold; returns how many."""
        async with self.store.unit_of_work() as uow:
            candidates = [c.case_id for c in await uow.cases.open() if c.sla.running]
        sent = 0
        for case_id in candidates:
            sent += await self._retrying(partial(self._sla_one, case_id=case_id))
        return sent

    async def _sla_one(self, uow: UnitOfWork, *, case_id: UUID) -> int:
        case = await uow.cases.get(case_id)
        if case is None or case.state not in OPEN_STATES or not case.sla.running:
            return 0
        ctx = self.context()
        days = self.policy.sla.working_days
        left = case.sla.working_days_left(self.calendar, days, ctx.today)
        due = case.sla.due_date(self.calendar, days)
        if left is None or due is None:
            return 0
        crossed = [
            t
            for t in sorted(self.policy.sla.warning_thresholds, reverse=True)
            if left <= t and t not in case.sla.warnings_sent
        ]
        if not crossed:
            return 0
        for threshold in crossed:
            case.sla_warning(threshold, left, due)
        await uow.cases.add(case, ctx.now)
        # Deterministic ids: a warning for a threshold exists once per case.
        out = [
            Outgoing(
                self.topics.case_events,
                self.factory.new(
                    "case.event",
                    payload,
                    case_id=case.case_id,
                    correlation_id=case.correlation_id,
                    event_id=derived_id(case.case_id, "sla_warning", t),
                ),
            )
            for t, payload in zip(crossed, case.outbox, strict=True)
        ]
        await uow.outbox.add(case.case_id, out, ctx.now)
        case.outbox.clear()
        return len(crossed)

# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class InputRoute:
    """Where a payload type arrives (catalogue topic) and the use case that applies it."""

    topic: str
    handler: Callable[[ReviewService, UnitOfWork, Envelope[Any], datetime], Awaitable[None]]


#: payload type -> route: every input review consumes (cosmicpython's EVENT_HANDLERS). `_apply`
#: dispatches through it, for one event and for each event of a batch; the consumer subscribes
#: to `input_topics()`.
EVENT_HANDLERS: dict[type[BaseModel], InputRoute] = {
    ScreeningCompleted: InputRoute(Topics.SCREENING_COMPLETED, ReviewService._on_screening),
    ShipmentReported: InputRoute(Topics.SHIPMENTS_REPORTED, ReviewService._on_shipment),
}


def input_topics() -> list[str]:
    """The catalogue topics review consumes, from EVENT_HANDLERS (unprefixed)."""
    return list(dict.fromkeys(route.topic for route in EVENT_HANDLERS.values()))


def _general_licence_named(result: ScreeningCompleted) -> str | None:
    """The general licence a green-channel result asks to draw on (read locked with the case)."""
    if result.route is Route.GREEN_CHANNEL and not result.is_rescreen:
        return result.application.general_licence_number
    return None
