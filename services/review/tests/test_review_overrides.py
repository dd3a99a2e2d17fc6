"""Nobody alone overrides a four-eyes case or a re-screening suspension, every licence action
checks conflicts, and licence terms are held to the screened application (issue: nobody alone
can change a decision, part 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from lanthanide.contracts import DecisionMade, DecisionOutcome, Route
from lanthanide_review.domain.licences import ApprovalTerms, LicenceNumbers, LicenceStatus, LicenceTermsError
from lanthanide_review.domain.model import Case, Context
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import Actor, ConflictRegister, Forbidden, Role
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.domain.states import CaseState

NOW = datetime(2026, 9, 14, 2, 0, tzinfo=UTC)
ALICE = Actor("alice", frozenset({Role.REVIEWER}))
BOB = Actor("bob", frozenset({Role.SENIOR_REVIEWER}))
CAROL = Actor("carol", frozenset({Role.SENIOR_REVIEWER}))


def ctx() -> Context:
    return Context(
        policy=load_policy(), calendar=PrcCalendar(), today=NOW.date(), now=NOW,
        conflicts=ConflictRegister({"erin": ["Ganzhou Rare Earth Magnetics Co., Ltd."]}),
        numbers=LicenceNumbers(2026, 1),
    )


def opened(screening: Any, route: Route) -> Case:
    env = screening(route, screened_on=NOW.date())
    case = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    case.on_screening(env.payload, ctx())
    return case


def decisions(case: Case) -> list[DecisionMade]:
    return [p for p in case.outbox if isinstance(p, DecisionMade)]

ADMIN = Actor("adam", frozenset({Role.ADMIN}))
ERIN = Actor("erin", frozenset({Role.SENIOR_REVIEWER}))  # conflicted on the test exporter (see ctx)


def test_withdrawing_an_enhanced_case_needs_a_second_person(screening: Any) -> None:
    case = opened(screening, Route.ENHANCED)
    case.withdraw(ADMIN, ctx(), "the applicant withdrew by letter")
    assert case.state is not CaseState.WITHDRAWN and not decisions(case)
    assert case.pending_override == {"op": "withdraw", "by": "adam", "reason": "the applicant withdrew by letter"}
    with pytest.raises(Forbidden) as same:
        case.withdraw(ADMIN, ctx(), "again")
    assert same.value.rule_id == "REV-FOUR-EYES-SAME-PERSON"
    case.withdraw(BOB, ctx(), "confirmed")
    [decision] = decisions(case)
    assert case.state is CaseState.WITHDRAWN and decision.outcome is DecisionOutcome.WITHDRAWN
    assert decision.decided_by == "adam" and decision.countersigned_by == "bob"


def test_withdrawing_a_standard_case_stays_one_signature(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    case.withdraw(ADMIN, ctx(), "the applicant withdrew")
    assert case.state is CaseState.WITHDRAWN and case.pending_override is None


def test_reinstating_a_licence_that_rescreening_suspended_needs_two_people(screening: Any, hits: Any) -> None:
    case = opened(screening, Route.STANDARD)
    case.approve(ALICE, ctx(), ApprovalTerms())
    rec = case.new_licence
    assert rec is not None
    rescreen = screening(Route.STANDARD, ref=case.external_reference, hits=[hits.watch()], is_rescreen=True)
    case.on_screening(rescreen.payload, ctx(), licence=rec)
    assert case.state is CaseState.LICENCE_SUSPENDED and rec.status is LicenceStatus.SUSPENDED
    case.manage_licence(ADMIN, ctx(), rec, "reinstate", "false positive, checked")
    assert rec.status is LicenceStatus.SUSPENDED and case.pending_override is not None
    with pytest.raises(Forbidden, match="second person"):
        case.manage_licence(ADMIN, ctx(), rec, "reinstate", "really")
    case.manage_licence(CAROL, ctx(), rec, "reinstate", "agreed")
    assert rec.status is LicenceStatus.ACTIVE and case.state is CaseState.APPROVED
    assert "confirmed by carol, requested by adam" in (rec.status_reason or "")


def test_a_licence_a_reviewer_suspended_is_reinstated_by_one(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    case.approve(ALICE, ctx(), ApprovalTerms())
    rec = case.new_licence
    assert rec is not None
    case.manage_licence(BOB, ctx(), rec, "suspend", "end-use check pending")
    case.manage_licence(BOB, ctx(), rec, "reinstate", "end-use check done")
    assert rec.status is LicenceStatus.ACTIVE


def test_licence_actions_check_conflicts_of_interest(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    case.approve(ALICE, ctx(), ApprovalTerms())
    rec = case.new_licence
    assert rec is not None
    for op in ("suspend", "revoke"):
        with pytest.raises(Forbidden) as refused:
            case.manage_licence(ERIN, ctx(), rec, op, "no reason")
        assert refused.value.rule_id.startswith("REV-CONFLICT")
    assert rec.status is LicenceStatus.ACTIVE


def test_licence_terms_name_only_screened_end_users_and_start_on_the_decision_date(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    with pytest.raises(LicenceTermsError) as unscreened:
        case.approve(ALICE, ctx(), ApprovalTerms(end_users=["Nobody Screened Ltd"]))
    assert (unscreened.value.rule_id, unscreened.value.loc) == ("LIC-END-USER-NOT-SCREENED", "end_users.0")
    with pytest.raises(LicenceTermsError) as backdated:
        case.approve(ALICE, ctx(), ApprovalTerms(valid_from=date(2026, 9, 1)))
    assert backdated.value.rule_id == "LIC-VALIDITY-BACKDATED"
    # The screened end user, spelled with other case and spaces, is the one on the licence.
    case.approve(ALICE, ctx(), ApprovalTerms(end_users=["antriebstechnik  NORD gmbh"], valid_from=NOW.date()))
    assert case.new_licence is not None and case.new_licence.licence.end_users == ["Antriebstechnik Nord GmbH"]


def test_a_resubmission_mid_review_is_a_new_version_that_voids_earlier_steps(screening: Any) -> None:
    """10 kg for wind turbines must not become a licence for other content through a
    recommendation made on the earlier version (issue: nobody alone can change a decision, part 2)."""
    from lanthanide_review.domain.model import Recommendation, StaleVersion

    case = opened(screening, Route.ENHANCED)
    assert case.application_version == 1
    case.claim(ALICE, ctx())
    case.recommend(ALICE, ctx(), Recommendation(by="alice", outcome=DecisionOutcome.APPROVED, application_version=1))
    assert case.state is CaseState.AWAITING_COUNTERSIGN
    env = screening(Route.ENHANCED, ref=case.external_reference, screened_on=NOW.date())
    swapped = env.payload.application.model_copy(update={"end_use": env.payload.application.end_use.model_copy(
        update={"description": "something else entirely"})})
    case.on_screening(env.payload.model_copy(update={"application": swapped}), ctx())
    assert case.application_version == 2 and case.state is CaseState.QUEUED
    assert case.recommendation is None and case.assignee is None
    assert case.application["end_use"]["description"] == "something else entirely"
    with pytest.raises(StaleVersion):
        case.countersign(BOB, ctx(), True, None, application_version=1)
    # The same content again is recorded and changes nothing.
    case.on_screening(env.payload.model_copy(update={"application": swapped}), ctx())
    assert case.application_version == 2
    case.claim(ALICE, ctx())
    with pytest.raises(StaleVersion):
        case.recommend(ALICE, ctx(), Recommendation(by="alice", outcome=DecisionOutcome.APPROVED,
                                                    application_version=1))
    case.recommend(ALICE, ctx(), Recommendation(by="alice", outcome=DecisionOutcome.APPROVED, application_version=2))
    case.countersign(BOB, ctx(), True, None, application_version=2)
    [decision] = decisions(case)
    assert decision.outcome is DecisionOutcome.APPROVED and decision.licence is not None
