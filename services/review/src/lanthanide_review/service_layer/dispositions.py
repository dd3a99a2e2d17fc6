"""Disposition use cases (issue 14.1): propose, approve (four-eyes for a certain match), revoke.

Callable from any entrypoint (the HTTP router, the CLI, a console): each takes the acting user
and returns the disposition. A disposition that takes effect is published through the outbox as
disposition.recorded (and disposition.revoked when withdrawn) on lanthanide.dispositions, keyed
by the case id: screening applies it, audit records it in the case's timeline, and the case
history shows it.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from lanthanide.events import Outgoing
from lanthanide.logging import get_logger
from pydantic import BaseModel

from lanthanide_review.adapters.store import UnitOfWork
from lanthanide_review.domain import dispositions as domain
from lanthanide_review.domain.dispositions import Disposition, DispositionStatus
from lanthanide_review.domain.model import Case
from lanthanide_review.domain.roles import Action, Actor, require_role
from lanthanide_review.service_layer.handlers import CaseNotFound, ReviewService

log = get_logger(__name__)


class DispositionNotFound(LookupError):
    """No disposition with this id."""


class DispositionService:
    """The disposition use cases over the review service's store, clock and outbox."""

    def __init__(self, review: ReviewService) -> None:
        self.review = review

    def _outgoing(self, case_id: UUID, correlation_id: UUID, event_type: str, payload: BaseModel) -> Outgoing:
        env = self.review.factory.new(event_type, payload, case_id=case_id, correlation_id=correlation_id)
        return Outgoing(self.review.topics.dispositions, env)

    async def propose(
        self,
        actor: Actor,
        case_id: UUID,
        *,
        party_index: int,
        list_id: str,
        entry_id: str,
        reason: str,
        expires_on: date,
    ) -> Disposition:
        """Propose that a hit of the case's screening is a false positive (recorded at once for a
        possible match; pending the senior second person for a certain one)."""
        now = self.review.clock()
        async with self.review.store.unit_of_work() as uow:
            case = await uow.cases.get(case_id, for_update=False)
            if case is None:
                raise CaseNotFound(f"no case {case_id}")
            d = domain.propose(
                actor,
                case_id=str(case_id),
                exporter_name=case.exporter_name,
                screening=case.screening,
                party_index=party_index,
                list_id=list_id,
                entry_id=entry_id,
                reason=reason,
                expires_on=expires_on,
                today=self.review.today(now),
                now=now,
                conflicts=self.review.conflicts,
            )
            await uow.dispositions.add(d, now)
            if d.status is DispositionStatus.RECORDED:
                out = self._outgoing(case_id, case.correlation_id, "disposition.recorded", d.recorded_event())
                await uow.outbox.add(case_id, [out], now)
            await uow.commit()
        log.info(
            "disposition_proposed",
            case_id=str(case_id),
            disposition_id=d.disposition_id,
            status=d.status.value,
            certain=d.certain,
            by=actor.user,
        )
        return d

    async def approve(self, actor: Actor, disposition_id: str) -> Disposition:
        """The senior second person approves a pending disposition: it is published."""
        now = self.review.clock()
        async with self.review.store.unit_of_work() as uow:
            d, case = await self._load(uow, disposition_id)
            was = d.status
            domain.approve(
                d,
                actor,
                exporter_name=case.exporter_name,
                today=self.review.today(now),
                conflicts=self.review.conflicts,
            )
            await uow.dispositions.update(d, was, now)
            out = self._outgoing(case.case_id, case.correlation_id, "disposition.recorded", d.recorded_event())
            await uow.outbox.add(case.case_id, [out], now)
            await uow.commit()
        log.info("disposition_approved", case_id=d.case_id, disposition_id=d.disposition_id, by=actor.user)
        return d

    async def revoke(self, actor: Actor, disposition_id: str, reason: str) -> Disposition:
        """Withdraw a disposition; screening stops applying it once the event arrives."""
        now = self.review.clock()
        async with self.review.store.unit_of_work() as uow:
            d, case = await self._load(uow, disposition_id)
            was = d.status
            event = domain.revoke(d, actor, reason, exporter_name=case.exporter_name, conflicts=self.review.conflicts)
            await uow.dispositions.update(d, was, now)
            if event is not None:
                await uow.outbox.add(
                    case.case_id, [self._outgoing(case.case_id, case.correlation_id, "disposition.revoked", event)], now
                )
            await uow.commit()
        log.info("disposition_revoked", case_id=d.case_id, disposition_id=d.disposition_id, by=actor.user)
        return d

    async def get(self, actor: Actor, disposition_id: str) -> Disposition:
        require_role(actor, Action.READ)
        async with self.review.store.unit_of_work() as uow:
            d, _case = await self._load(uow, disposition_id)
        return d

    async def for_case(self, actor: Actor, case_id: UUID) -> list[Disposition]:
        require_role(actor, Action.READ)
        async with self.review.store.unit_of_work() as uow:
            return await uow.dispositions.for_case(case_id)

    async def pending(self, actor: Actor) -> list[Disposition]:
        """Dispositions of certain matches awaiting a senior reviewer's approval."""
        require_role(actor, Action.READ)
        async with self.review.store.unit_of_work() as uow:
            return await uow.dispositions.pending()

    async def _load(self, uow: UnitOfWork, disposition_id: str) -> tuple[Disposition, Case]:
        d = await uow.dispositions.get(disposition_id)
        if d is None:
            raise DispositionNotFound(f"no disposition {disposition_id}")
        case = await uow.cases.get(UUID(d.case_id), for_update=False)
        if case is None:
            raise CaseNotFound(f"no case {d.case_id}")
        return d, case
