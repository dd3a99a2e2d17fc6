"""Re-screening keeps review work (issue 15 part 5): an unchanged re-screen changes nothing, new
evidence sends an open case back to review naming the steps to redo, and a new hit on a live
licence suspends it and opens a licence-review item in the queue and the SLA report that
reinstating (two people) or revoking closes. Through the one-by-one and the batch path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from lanthanide.contracts import DecisionOutcome, Envelope, PartyHit, RedFlag, Route
from lanthanide_review.adapters.store import Store
from lanthanide_review.bootstrap import build_service
from lanthanide_review.domain.licences import ApprovalTerms, LicenceNumbers, LicenceStatus
from lanthanide_review.domain.model import Case, Context, Recommendation
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.rescreen import LICENCE_REVIEW_QUEUE, compare
from lanthanide_review.domain.roles import Actor, Role
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.domain.states import CaseState
from lanthanide_review.service_layer.handlers import ReviewService
from lanthanide_review.settings import ReviewSettings
from lanthanide_review.views import queue, sla_report

SCREENING = "lanthanide.screening.completed"
NOW = datetime(2026, 9, 14, 2, 0, tzinfo=UTC)
ALICE = Actor("alice", frozenset({Role.REVIEWER}))
BOB = Actor("bob", frozenset({Role.SENIOR_REVIEWER}))
CAROL = Actor("carol", frozenset({Role.SENIOR_REVIEWER}))

#: How a screening result reaches the service: one transaction per event, or a Kafka batch.
Apply = Callable[[ReviewService, Envelope[Any]], Awaitable[None]]


async def _one_by_one(service: ReviewService, env: Envelope[Any]) -> None:
    await service.handle(env, SCREENING)


async def _batch(service: ReviewService, env: Envelope[Any]) -> None:
    assert await service.handle_batch([(env, SCREENING)]) == []


@pytest.fixture(params=[_one_by_one, _batch], ids=["one-by-one", "batch"])
def apply(request: pytest.FixtureRequest) -> Apply:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[ReviewService]:
    store = Store(db_url)
    await store.migrate()
    try:
        yield build_service(ReviewSettings(), store)
    finally:
        await store.dispose()


def _relisted(hit: PartyHit) -> PartyHit:
    """The same list entry as published in a newer list version (new score, same party)."""
    return hit.model_copy(update={"list_version": "2027-01", "score": 0.95})


async def _history_kinds(service: ReviewService, case_id: Any) -> list[tuple[str, dict[str, Any]]]:
    _, history, _ = await service.get_case(case_id)
    return [(h["kind"], h["details"]) for h in history]


async def test_an_unchanged_rescreen_leaves_an_awaiting_countersign_case_where_it_was(
    service: ReviewService, apply: Apply, screening: Any, hits: Any
) -> None:
    first = screening(Route.ENHANCED, hits=[hits.watch()])
    await apply(service, first)
    case_id = first.case_id
    await service.act(case_id, lambda c, ctx, _: c.claim(ALICE, ctx))
    await service.act(
        case_id, lambda c, ctx, _: c.recommend(ALICE, ctx, Recommendation(by="alice", outcome=DecisionOutcome.APPROVED))
    )
    before, _, _ = await service.get_case(case_id)
    assert before.state is CaseState.AWAITING_COUNTERSIGN and before.countersign_required

    ref = first.payload.external_reference
    again = screening(Route.STANDARD, ref=ref, hits=[_relisted(hits.watch())], is_rescreen=True)
    await apply(service, again)

    after, _, _ = await service.get_case(case_id)
    assert after.state is CaseState.AWAITING_COUNTERSIGN
    assert after.recommendation is not None and after.recommendation.by == "alice"
    assert after.assignee == "alice" and after.screening == before.screening
    kind, details = (await _history_kinds(service, case_id))[-1]
    assert (kind, details["rule_id"], details["applied"]) == ("state_changed", "REV-RESCREEN-UNCHANGED", False)
    assert details["list_versions"] == {}  # what the re-screen ran on is recorded

    # The countersign step is still there: a second person decides the case.
    decided = await service.act(case_id, lambda c, ctx, _: c.countersign(BOB, ctx, True, "agreed"))
    assert decided.state is CaseState.APPROVED and decided.decided_by == "alice"


async def test_a_new_hit_on_an_open_case_sends_it_back_naming_the_steps_to_redo(
    service: ReviewService, apply: Apply, screening: Any, hits: Any
) -> None:
    first = screening(Route.ENHANCED, hits=[hits.watch()])
    await apply(service, first)
    case_id = first.case_id
    await service.act(case_id, lambda c, ctx, _: c.claim(ALICE, ctx))
    await service.act(
        case_id, lambda c, ctx, _: c.recommend(ALICE, ctx, Recommendation(by="alice", outcome=DecisionOutcome.APPROVED))
    )
    ref = first.payload.external_reference
    again = screening(Route.STANDARD, ref=ref, hits=[hits.watch(), hits.control()], is_rescreen=True)
    await apply(service, again)

    case, _, _ = await service.get_case(case_id)
    assert case.state is CaseState.QUEUED and case.recommendation is None and case.assignee is None
    kind, details = (await _history_kinds(service, case_id))[-1]
    assert kind == "reopened" and details["rule_id"] == "REV-RESCREEN-NEW-EVIDENCE"
    # Only the new hit is highlighted, not the one the reviewers already saw.
    assert [h["entry_id"] for h in details["new_hits"]] == [hits.control().entry_id]
    assert details["voided"] == ["claim by alice", "recommendation by alice"]
    assert details["redo"] == ["claim", "review the new evidence", "recommend", "countersign"]
    assert case.rescreen_evidence is not None
    assert [h["entry_id"] for h in case.rescreen_evidence["new_hits"]] == ["C-9"]


async def test_a_new_hit_on_a_live_licence_suspends_it_and_opens_a_licence_review_item(
    service: ReviewService, apply: Apply, screening: Any, hits: Any
) -> None:
    first = screening(Route.STANDARD)
    await apply(service, first)
    case_id = first.case_id
    approved = await service.act(case_id, lambda c, ctx, _: c.approve(ALICE, ctx, ApprovalTerms()))
    number = approved.licence_number
    assert number is not None
    assert not [r for r in await queue(service) if r["case_id"] == str(case_id)]

    ref = first.payload.external_reference
    await apply(service, screening(Route.DENY, ref=ref, hits=[hits.control()], is_rescreen=True))

    case, _, licence = await service.get_case(case_id)
    assert case.state is CaseState.LICENCE_SUSPENDED
    assert licence is not None and licence.status is LicenceStatus.SUSPENDED
    rows = [r for r in await queue(service) if r["case_id"] == str(case_id)]
    assert len(rows) == 1
    row = rows[0]
    assert (row["queue"], row["item"], row["licence_number"]) == (LICENCE_REVIEW_QUEUE, "licence_review", number)
    days = service.policy.sla.licence_review_working_days
    assert row["working_days_left"] == days and row["due_on"] is not None
    assert [r["case_id"] for r in await queue(service, LICENCE_REVIEW_QUEUE)] == [str(case_id)]
    assert not [r for r in await queue(service, "standard") if r["case_id"] == str(case_id)]
    report = {r["queue"]: r for r in await sla_report(service)}
    assert report[LICENCE_REVIEW_QUEUE]["open"] == 1 and report[LICENCE_REVIEW_QUEUE]["decided"] == 0

    # Reinstating needs a second person (REV-OVERRIDE-PENDING): the item stays open until then.
    admin = Actor("adam", frozenset({Role.ADMIN}))
    await service.act(
        case_id, lambda c, ctx, lic: c.manage_licence(admin, ctx, lic, "reinstate", "checked"), with_licence=True
    )
    assert [r["case_id"] for r in await queue(service, LICENCE_REVIEW_QUEUE)] == [str(case_id)]
    await service.act(
        case_id, lambda c, ctx, lic: c.manage_licence(CAROL, ctx, lic, "reinstate", "agreed"), with_licence=True
    )
    case, _, licence = await service.get_case(case_id)
    assert case.state is CaseState.APPROVED and licence is not None and licence.status is LicenceStatus.ACTIVE
    assert case.licence_review is not None and case.licence_review.outcome == "reinstated"
    assert case.licence_review.closed_by == "carol"
    assert await queue(service, LICENCE_REVIEW_QUEUE) == []
    report = {r["queue"]: r for r in await sla_report(service)}
    assert report[LICENCE_REVIEW_QUEUE]["open"] == 0 and report[LICENCE_REVIEW_QUEUE]["decided"] == 1
    assert report[LICENCE_REVIEW_QUEUE]["median_working_days_to_decision"] == 0.0


async def test_revoking_closes_the_licence_review_item(service: ReviewService, screening: Any, hits: Any) -> None:
    first = screening(Route.STANDARD)
    await service.handle(first, SCREENING)
    await service.act(first.case_id, lambda c, ctx, _: c.approve(ALICE, ctx, ApprovalTerms()))
    ref = first.payload.external_reference
    await service.handle(screening(Route.STANDARD, ref=ref, hits=[hits.watch()], is_rescreen=True), SCREENING)
    assert len(await queue(service, LICENCE_REVIEW_QUEUE)) == 1
    await service.act(
        first.case_id, lambda c, ctx, lic: c.manage_licence(BOB, ctx, lic, "revoke", "confirmed hit"), with_licence=True
    )
    case, history, _ = await service.get_case(first.case_id)
    assert case.state is CaseState.LICENCE_REVOKED and await queue(service, LICENCE_REVIEW_QUEUE) == []
    assert case.licence_review is not None and case.licence_review.outcome == "revoked"
    assert history[-1]["details"]["licence_review_closed"] == "revoked"


async def test_an_unchanged_rescreen_of_a_live_licence_leaves_it_active(
    service: ReviewService, screening: Any, hits: Any
) -> None:
    # The licence was issued knowing the watch-list hit (a reviewer cleared it): the same hit
    # in the next list version is not new evidence.
    first = screening(Route.ENHANCED, hits=[hits.watch()])
    await service.handle(first, SCREENING)
    await service.act(first.case_id, lambda c, ctx, _: c.claim(BOB, ctx))
    await service.act(
        first.case_id,
        lambda c, ctx, _: c.recommend(BOB, ctx, Recommendation(by="bob", outcome=DecisionOutcome.APPROVED)),
    )
    await service.act(first.case_id, lambda c, ctx, _: c.countersign(CAROL, ctx, True, None))
    ref = first.payload.external_reference
    await service.handle(
        screening(Route.STANDARD, ref=ref, hits=[_relisted(hits.watch())], is_rescreen=True), SCREENING
    )
    case, _, licence = await service.get_case(first.case_id)
    assert case.state is CaseState.APPROVED and licence is not None and licence.status is LicenceStatus.ACTIVE
    assert case.licence_review is None and await queue(service, LICENCE_REVIEW_QUEUE) == []


def test_compare_finds_new_hits_flags_and_a_new_denial(screening: Any, hits: Any) -> None:
    flag = RedFlag(code="RF-FORWARDER-END-USER", description="forwarder as end user", evidence="end_user 1")
    before = screening(Route.STANDARD, hits=[hits.watch()]).payload.model_dump(mode="json")
    same = screening(Route.STANDARD, hits=[_relisted(hits.watch())]).payload
    assert compare(before, same).unchanged
    flagged = same.model_copy(update={"red_flags": [flag]})
    assert compare(before, flagged).new_red_flags == [flag] and not compare(before, flagged).new_hits
    denied = same.model_copy(update={"route": Route.DENY})
    assert compare(before, denied).newly_denied
    assert compare(None, same).new_hits == same.hits  # nothing seen before: all of it is new


def test_a_new_hit_while_waiting_for_the_applicant_is_recorded_for_the_review(screening: Any, hits: Any) -> None:
    c = Context(
        policy=load_policy(), calendar=PrcCalendar(), today=NOW.date(), now=NOW, numbers=LicenceNumbers(2026, 1)
    )
    env = screening(Route.INCOMPLETE, complete=False, missing=["contract"], screened_on=NOW.date())
    case = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    case.on_screening(env.payload, c)
    assert case.state is CaseState.INCOMPLETE
    rescreen = screening(Route.STANDARD, ref=case.external_reference, hits=[hits.control()], is_rescreen=True)
    case.on_screening(rescreen.payload, c, licence=None)
    assert case.state is CaseState.INCOMPLETE and case.countersign_required
    assert case.rescreen_evidence is not None and case.rescreen_evidence["new_hits"][0]["entry_id"] == "C-9"


async def test_a_new_hit_on_an_exhausted_licence_suspends_nothing(
    service: ReviewService, screening: Any, hits: Any
) -> None:
    first = screening(Route.STANDARD)
    await service.handle(first, SCREENING)
    await service.act(first.case_id, lambda c, ctx, _: c.approve(ALICE, ctx, ApprovalTerms()))

    def exhaust(c: Case, ctx: Context, lic: Any) -> None:
        lic.status = LicenceStatus.EXHAUSTED

    await service.act(first.case_id, exhaust, with_licence=True)
    ref = first.payload.external_reference
    await service.handle(screening(Route.DENY, ref=ref, hits=[hits.control()], is_rescreen=True), SCREENING)
    case, history, licence = await service.get_case(first.case_id)
    assert case.state is CaseState.APPROVED and licence is not None and licence.status is LicenceStatus.EXHAUSTED
    assert case.licence_review is None and await queue(service, LICENCE_REVIEW_QUEUE) == []
    assert "no live licence" in (history[-1]["reason"] or "")


def _flagged(env: Envelope[Any], *flags: RedFlag) -> Envelope[Any]:
    return env.model_copy(update={"payload": env.payload.model_copy(update={"red_flags": list(flags)})})


def _gl_flag(evidence: str, code: str = "SCR-FLAG-GENERAL-LICENCE-INVALID") -> RedFlag:
    return RedFlag(code=code, description="general licence cannot cover the export", evidence=evidence)


async def test_a_known_red_flag_with_new_evidence_text_leaves_a_live_licence_active(
    service: ReviewService, apply: Apply, screening: Any
) -> None:
    # The reviewer approved knowing the flag; the re-screen words its evidence differently (a new
    # remaining quantity): the same problem, not new evidence (issue 15.5).
    first = _flagged(screening(Route.STANDARD), _gl_flag("12 kg remain under GL-2026-0001"))
    await apply(service, first)
    await service.act(first.case_id, lambda c, ctx, _: c.approve(ALICE, ctx, ApprovalTerms()))
    ref = first.payload.external_reference
    again = _flagged(screening(Route.STANDARD, ref=ref, is_rescreen=True), _gl_flag("3 kg remain under GL-2026-0001"))
    await apply(service, again)

    case, history, licence = await service.get_case(first.case_id)
    assert case.state is CaseState.APPROVED and licence is not None and licence.status is LicenceStatus.ACTIVE
    assert case.licence_review is None and await queue(service, LICENCE_REVIEW_QUEUE) == []
    assert history[-1]["details"]["rule_id"] == "REV-RESCREEN-UNCHANGED"


async def test_a_new_red_flag_code_still_suspends_a_live_licence(
    service: ReviewService, apply: Apply, screening: Any
) -> None:
    first = _flagged(screening(Route.STANDARD), _gl_flag("12 kg remain under GL-2026-0001"))
    await apply(service, first)
    await service.act(first.case_id, lambda c, ctx, _: c.approve(ALICE, ctx, ApprovalTerms()))
    ref = first.payload.external_reference
    forwarder = _gl_flag("end_user 1", code="RF-FORWARDER-END-USER")
    again = _flagged(
        screening(Route.STANDARD, ref=ref, is_rescreen=True), _gl_flag("3 kg remain under GL-2026-0001"), forwarder
    )
    await apply(service, again)

    case, history, licence = await service.get_case(first.case_id)
    assert case.state is CaseState.LICENCE_SUSPENDED
    assert licence is not None and licence.status is LicenceStatus.SUSPENDED
    details = history[-1]["details"]
    assert details["rule_id"] == "REV-LICENCE-REVIEW"
    assert [f["code"] for f in details["new_red_flags"]] == ["RF-FORWARDER-END-USER"]


def test_compare_ignores_evidence_text_but_not_codes_or_hits(screening: Any, hits: Any) -> None:
    before = _flagged(screening(Route.STANDARD, hits=[hits.watch()]), _gl_flag("12 kg")).payload.model_dump(mode="json")
    reworded = _flagged(screening(Route.STANDARD, hits=[_relisted(hits.watch())]), _gl_flag("3 kg")).payload
    assert compare(before, reworded).unchanged
    new_hit = _flagged(screening(Route.STANDARD, hits=[hits.watch(), hits.control()]), _gl_flag("12 kg")).payload
    assert [h.entry_id for h in compare(before, new_hit).new_hits] == [hits.control().entry_id]
    new_code = _flagged(screening(Route.STANDARD, hits=[hits.watch()]), _gl_flag("x", code="RF-OTHER")).payload
    assert [f.code for f in compare(before, new_code).new_red_flags] == ["RF-OTHER"]
