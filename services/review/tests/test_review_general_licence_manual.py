"""A reviewer's approval of a queued case as an export under the general licence it names
(REV-GL-MANUAL): drawn down from what remains in the approval's transaction, refused with the
rule id when it would take more than remains, valid no later than the general licence, and the
decision references it. Also: suspending, reinstating or revoking a licence publishes
licence.status_changed on the decisions topic (screening stops routing to the green channel)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from lanthanide.contracts import (
    DecisionOutcome,
    LicenceStatusChanged,
    LicenceType,
    Route,
)
from lanthanide.dates import prc_today
from lanthanide_review.adapters import orm
from lanthanide_review.domain.licences import ApprovalTerms, ItemCap, LicenceStatus, LicenceTermsError
from lanthanide_review.domain.model import Case, Context, Recommendation
from lanthanide_review.domain.roles import Actor, Role
from lanthanide_review.domain.states import CaseState
from lanthanide_review.service_layer.dispositions import DispositionService
from lanthanide_review.service_layer.handlers import ReviewService
from sqlalchemy import select

# service_fixture provides the `service` fixture.
from .general_licences import (  # noqa: F401
    ALICE,
    SCREENING,
    decision_of,
    issue_general,
    magnet_items,
    outbox,
    service_fixture,
    with_codes,
)

SENIOR = Actor("sam", frozenset({Role.SENIOR_REVIEWER}))
ADMIN = Actor("ada", frozenset({Role.ADMIN}))


async def _queued(service: ReviewService, screening: Any, number: str, qty: str, **kw: Any) -> Case:
    env = with_codes(screening(Route.GREEN_CHANNEL, items=magnet_items(qty), general_licence_number=number, **kw),
                      "1C905.a")
    await service.handle(env, SCREENING)
    case, _, _ = await service.get_case(env.case_id)
    return case


async def _approve(service: ReviewService, case: Case, terms: ApprovalTerms, actor: Actor = ALICE) -> Case:
    def claim(c: Case, ctx: Context, _l: Any) -> None:
        if c.assignee != actor.user:
            c.claim(actor, ctx)

    def approve(c: Case, ctx: Context, _l: Any) -> None:
        c.approve(actor, ctx, terms)

    await service.act(case.case_id, claim)
    return await service.act(case.case_id, approve)


async def test_a_case_queued_over_the_cap_is_approved_under_the_general_licence_for_what_remains(
    service: ReviewService, screening: Any
) -> None:
    until = prc_today() + timedelta(days=60)
    number = await issue_general(service, screening, valid_until=until)
    first = await _queued(service, screening, number, "600")
    assert first.state is CaseState.APPROVED
    over = await _queued(service, screening, number, "600")
    assert over.state is CaseState.QUEUED and "REV-GL-OVER-CAP" in over.rule_ids

    # The whole 600 kg would take more than the 400 kg left: refused with the rule id, nothing drawn.
    with pytest.raises(LicenceTermsError) as refused:
        await _approve(service, over, ApprovalTerms(general_licence_number=number))
    assert refused.value.rule_id == "REV-GL-OVER-CAP" and "400" in refused.value.message
    assert (await service.licence(number)).remaining() == [Decimal(400)]
    assert (await service.get_case(over.case_id))[0].state is CaseState.UNDER_REVIEW

    # 400 kg under the general licence: drawn down with the approval, the decision references it.
    done = await _approve(
        service, over, ApprovalTerms(general_licence_number=number,
                                     items=[ItemCap(item_index=0, quantity_cap=Decimal(400))])
    )
    assert done.state is CaseState.APPROVED and "REV-GL-MANUAL" in done.rule_ids
    gl = await service.licence(number)
    assert gl.remaining() == [Decimal(0)] and gl.status is LicenceStatus.EXHAUSTED
    assert [d["case_id"] for d in gl.draws] == [str(first.case_id), str(over.case_id)]
    decision = await decision_of(service, done)
    assert decision.general_licence_number == number and decision.decided_by == "alice"
    assert decision.general_licence_usage is not None and decision.general_licence_usage.remaining == [Decimal(0)]
    assert decision.licence is not None and decision.licence.type is LicenceType.SINGLE
    assert decision.licence.valid_until == until  # not a year: the general licence ends first
    assert decision.licence.items[0].quantity_cap == Decimal(400)
    assert any(number in c for c in decision.licence.conditions)


async def test_an_approval_under_another_general_licence_than_the_one_named_is_refused(
    service: ReviewService, screening: Any
) -> None:
    number = await issue_general(service, screening)
    other = await issue_general(service, screening)
    case = await _queued(service, screening, number, "1200")
    with pytest.raises(LicenceTermsError) as refused:
        await _approve(service, case, ApprovalTerms(general_licence_number=other))
    assert refused.value.rule_id == "REV-GL-NOT-NAMED"
    with pytest.raises(LicenceTermsError) as general:
        await _approve(service, case, ApprovalTerms(general_licence_number=number, licence_type=LicenceType.GENERAL))
    assert general.value.rule_id == "REV-GL-NOT-NAMED"
    assert (await service.licence(other)).remaining() == [Decimal(1000)]


async def test_a_watch_list_hit_bars_the_general_licence_until_a_disposition_clears_it(
    service: ReviewService, screening: Any, hits: Any
) -> None:
    number = await issue_general(service, screening)
    case = await _queued(service, screening, number, "300", hits=[hits.watch()])
    assert case.state is CaseState.QUEUED and "REV-GL-WATCH-LIST" in case.rule_ids
    with pytest.raises(LicenceTermsError) as refused:
        await _approve(service, case, ApprovalTerms(general_licence_number=number))
    assert refused.value.rule_id == "REV-GL-WATCH-LIST"

    hit = hits.watch()
    dispositions = DispositionService(service)
    d = await dispositions.propose(
        ALICE, case.case_id, party_index=hit.party_index, list_id=hit.list_id, entry_id=hit.entry_id,
        reason="different company, other registry number", expires_on=date.today() + timedelta(days=90),
    )
    if d.status.value == "pending":
        await dispositions.approve(SENIOR, d.disposition_id)
    done = await _approve(service, case, ApprovalTerms(general_licence_number=number))
    assert done.state is CaseState.APPROVED
    assert (await service.licence(number)).remaining() == [Decimal(700)]
    assert (await decision_of(service, done)).general_licence_number == number


async def test_suspending_and_revoking_a_general_licence_publishes_its_status(
    service: ReviewService, screening: Any
) -> None:
    number = await issue_general(service, screening)
    gl = await service.licence(number)

    def op(name: str) -> Any:
        def apply(c: Case, ctx: Context, lic: Any) -> None:
            c.manage_licence(ADMIN, ctx, lic, name, f"{name} for the test")

        return apply

    for name in ("suspend", "reinstate", "revoke"):
        await service.act(UUID(gl.case_id), op(name), with_licence=True)
    bodies = await outbox(service, "licence.status_changed")
    changes = [LicenceStatusChanged.model_validate(b["payload"]) for b in bodies]
    assert [(c.number, c.status) for c in changes] == [
        (number, "suspended"), (number, "active"), (number, "revoked")
    ]
    assert all(c.licence_type is LicenceType.GENERAL and c.changed_by == "ada" for c in changes)
    assert {b["case_id"] for b in bodies} == {gl.case_id}  # keyed like the licence's decision
    async with service.store.engine.connect() as conn:
        topics = (await conn.execute(
            select(orm.outbox.c.topic).where(orm.outbox.c.event_type == "licence.status_changed"))).scalars().all()
    assert set(topics) == {"lanthanide.decisions"}
    # Review refuses the green channel under it from now on.
    case = await _queued(service, screening, number, "100")
    assert case.state is CaseState.QUEUED and "REV-GL-NOT-ACTIVE" in case.rule_ids


async def test_a_four_eyes_approval_under_the_general_licence_draws_down_on_countersignature(
    service: ReviewService, screening: Any
) -> None:
    number = await issue_general(service, screening)
    env = with_codes(screening(Route.ENHANCED, items=magnet_items("300"), general_licence_number=number), "1C905.a")
    await service.handle(env, SCREENING)
    case, _, _ = await service.get_case(env.case_id)
    assert case.state is CaseState.QUEUED and case.countersign_required

    def claim(c: Case, ctx: Context, _l: Any) -> None:
        c.claim(ALICE, ctx)

    def recommend(c: Case, ctx: Context, _l: Any) -> None:
        c.recommend(ALICE, ctx, Recommendation(
            by="alice", outcome=DecisionOutcome.APPROVED, terms=ApprovalTerms(general_licence_number=number)))

    def countersign(c: Case, ctx: Context, _l: Any) -> None:
        c.countersign(SENIOR, ctx, True, "agreed")

    await service.act(case.case_id, claim)
    await service.act(case.case_id, recommend)
    assert (await service.licence(number)).remaining() == [Decimal(1000)]  # nothing drawn on a recommendation
    done = await service.act(case.case_id, countersign)
    assert done.state is CaseState.APPROVED
    assert (await service.licence(number)).remaining() == [Decimal(700)]
    decision = await decision_of(service, done)
    assert decision.general_licence_number == number and decision.countersigned_by == "sam"
