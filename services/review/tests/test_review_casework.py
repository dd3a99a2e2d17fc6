"""The case aggregate: state machine, routing, four-eyes, conflicts, licences (pure domain)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from lanthanide.contracts import (
    CaseEvent,
    DecisionMade,
    DecisionOutcome,
    LicenceType,
    ReasonCode,
    Route,
    ShipmentReported,
)
from lanthanide.ids import derived_id
from lanthanide_review.domain.licences import (
    ApprovalTerms,
    ItemCap,
    LicenceNumbers,
    LicenceStatus,
    LicenceTermsError,
)
from lanthanide_review.domain.model import AlreadyDecided, Case, Context, Recommendation
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import Actor, ConflictRegister, Forbidden, Role
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.domain.states import TRANSITIONS, CaseState, IllegalTransition

NOW = datetime(2026, 9, 14, 2, 0, tzinfo=UTC)
POLICY = load_policy()
ALICE = Actor("alice", frozenset({Role.REVIEWER}))
BOB = Actor("bob", frozenset({Role.SENIOR_REVIEWER}))
CAROL = Actor("carol", frozenset({Role.SENIOR_REVIEWER}))
AUDITOR = Actor("dave", frozenset({Role.AUDITOR}))


def ctx(seq: int = 1) -> Context:
    return Context(
        policy=POLICY,
        calendar=PrcCalendar(),
        today=NOW.date(),
        now=NOW,
        conflicts=ConflictRegister({"erin": ["Ganzhou Rare Earth Magnetics Co., Ltd."]}),
        numbers=LicenceNumbers(2026, seq),
    )


def opened(screening: Any, route: Route, **kw: Any) -> Case:
    env = screening(route, screened_on=NOW.date(), **kw)
    case = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    case.on_screening(env.payload, ctx())
    return case


def decisions(case: Case) -> list[DecisionMade]:
    return [p for p in case.outbox if isinstance(p, DecisionMade)]


def kinds(case: Case) -> list[str]:
    return [p.kind.value for p in case.outbox if isinstance(p, CaseEvent)]


def test_every_state_has_a_transition_row_and_final_states_are_final() -> None:
    assert set(TRANSITIONS) == set(CaseState)
    for final in (CaseState.DENIED, CaseState.NO_LICENCE_REQUIRED, CaseState.WITHDRAWN, CaseState.LICENCE_REVOKED):
        assert TRANSITIONS[final] == frozenset()


def test_green_channel_is_approved_at_once_with_a_numbered_licence(screening: Any) -> None:
    case = opened(screening, Route.GREEN_CHANNEL)
    [decision] = decisions(case)
    assert case.state is CaseState.APPROVED
    assert decision.decision_id == derived_id(case.case_id, "decision")
    assert decision.licence is not None and decision.licence.number == "LNT-2026-000001"
    assert decision.licence.valid_until == date(2027, 9, 14)
    assert decision.rule_ids == ["POL-GREEN-CHANNEL"]
    assert kinds(case) == ["received", "state_changed", "licence_issued"]


def test_a_decided_case_is_never_decided_again(screening: Any) -> None:
    case = opened(screening, Route.NO_LICENCE_REQUIRED)
    case.outbox.clear()
    again = screening(Route.DENY, ref=case.external_reference)
    case.on_screening(again.payload, ctx())
    assert decisions(case) == [] and kinds(case) == ["amended"]
    with pytest.raises((IllegalTransition, AlreadyDecided)):
        case.deny(BOB, ctx(), [ReasonCode(code="X", text="y")])


def test_illegal_moves_raise_with_the_legal_ones_named(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    legal = r"cannot countersign in state 'queued'.*allowed next states: .*under_review"
    with pytest.raises(IllegalTransition, match=legal):
        case.countersign(CAROL, ctx(), True, None)


def test_reviewer_confirmed_hard_denials_wait_for_a_reviewer(screening: Any) -> None:
    confirmed = POLICY.model_copy(update={"hard_denials": "reviewer_confirmed"})
    env = screening(Route.DENY, rule_ids=["SCR-LIST-CONTROL"])
    case = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    c = ctx()
    c.policy = confirmed
    case.on_screening(env.payload, c)
    assert case.state is CaseState.QUEUED and case.queue == "deny-confirm"
    queued = next(p for p in case.outbox if isinstance(p, CaseEvent) and p.kind == "queued")
    assert queued.details["proposed_reasons"][0]["code"] == "SCR-LIST-CONTROL"
    assert decisions(case) == []


def test_four_eyes_needs_a_different_senior(screening: Any) -> None:
    case = opened(screening, Route.ENHANCED)
    with pytest.raises(Forbidden) as exc:
        case.approve(BOB, ctx(), ApprovalTerms())
    assert exc.value.rule_id == "REV-COUNTERSIGN-REQUIRED"
    case.recommend(
        ALICE,
        ctx(),
        Recommendation(by="ignored", outcome=DecisionOutcome.DENIED, reasons=[ReasonCode(code="R", text="t")]),
    )
    assert case.recommendation is not None and case.recommendation.by == "alice"
    with pytest.raises(Forbidden, match="REV-ROLE-REQUIRED"):
        case.countersign(ALICE, ctx(), True, None)
    case.countersign(BOB, ctx(), False, "needs the datasheet")
    assert case.state is CaseState.UNDER_REVIEW and case.assignee == "alice"
    case.recommend(BOB, ctx(), Recommendation(by="bob", outcome=DecisionOutcome.APPROVED))
    with pytest.raises(Forbidden, match="REV-FOUR-EYES-SAME-PERSON"):
        case.countersign(BOB, ctx(), True, None)
    case.countersign(CAROL, ctx(), True, None)
    [decision] = decisions(case)
    assert (decision.decided_by, decision.countersigned_by) == ("bob", "carol")


def test_conflicts_and_auditors_are_refused(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    erin = Actor("erin", frozenset({Role.REVIEWER}))
    with pytest.raises(Forbidden, match="REV-CONFLICT-OF-INTEREST"):
        case.claim(erin, ctx())
    with pytest.raises(Forbidden, match="REV-ROLE-REQUIRED"):
        case.claim(AUDITOR, ctx())


def test_escalation_reserves_the_case_for_seniors_and_a_referral_stops_the_clock(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    assert case.sla.started_on == NOW.date()
    case.escalate(ALICE, ctx(), "possible military end user", referral=True)
    assert case.sla.due_date(PrcCalendar(), 45) is None
    with pytest.raises(Forbidden, match="REV-ESCALATED-SENIOR-ONLY"):
        case.approve(ALICE, ctx(), ApprovalTerms())
    case.approve(BOB, ctx(), ApprovalTerms())
    assert case.state is CaseState.APPROVED


def test_incomplete_then_amended_starts_the_clock_and_queues(screening: Any) -> None:
    case = opened(screening, Route.INCOMPLETE, complete=False, missing=["contract"])
    assert case.state is CaseState.INCOMPLETE and case.sla.started_on is None
    case.outbox.clear()
    amended = screening(Route.STANDARD, ref=case.external_reference, screened_on=NOW.date()).payload
    case.on_screening(amended, ctx())
    assert case.state is CaseState.QUEUED and case.sla.started_on == NOW.date()
    assert kinds(case) == ["amended", "queued"]


def test_rescreen_reopens_an_open_case(screening: Any, hits: Any) -> None:
    case = opened(screening, Route.STANDARD)
    case.claim(ALICE, ctx())
    case.recommend(ALICE, ctx(), Recommendation(by="alice", outcome=DecisionOutcome.APPROVED))
    case.outbox.clear()
    rescreen = screening(Route.STANDARD, ref=case.external_reference, hits=[hits.watch()], is_rescreen=True)
    case.on_screening(rescreen.payload, ctx())
    assert case.state is CaseState.QUEUED and case.recommendation is None
    assert case.countersign_required and kinds(case) == ["reopened"]


def test_licence_terms_are_checked(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    too_long = ApprovalTerms(valid_from=date(2026, 9, 14), valid_until=date(2027, 9, 15))
    with pytest.raises(LicenceTermsError) as exc:
        case.approve(ALICE, ctx(), too_long)
    assert (exc.value.rule_id, exc.value.loc) == ("LIC-VALIDITY-TOO-LONG", "valid_until")
    with pytest.raises(LicenceTermsError, match="LIC-CAP-EXCEEDS-APPLICATION"):
        case.approve(ALICE, ctx(), ApprovalTerms(items=[ItemCap(item_index=0, quantity_cap=Decimal(501))]))
    general = ApprovalTerms(licence_type=LicenceType.GENERAL, valid_until=date(2029, 9, 1))
    case.approve(ALICE, ctx(), general)
    assert case.new_licence is not None
    assert case.new_licence.licence.valid_until == date(2029, 9, 1)


def _ship(
    number: str, qty: str, unit: str = "kg", end_user: str = "Antriebstechnik Nord GmbH", on: date | None = None
) -> ShipmentReported:
    return ShipmentReported(
        shipment_id=f"s-{qty}-{unit}",
        licence_number=number,
        quantity=Decimal(qty),
        unit=unit,
        end_user=end_user,
        end_user_country="DE",
        shipped_on=on or NOW.date(),
    )


def test_draw_down_converts_units_and_refuses_with_rule_ids(screening: Any) -> None:
    case = opened(screening, Route.STANDARD)
    case.approve(ALICE, ctx(), ApprovalTerms(licence_type=LicenceType.GENERAL))
    rec = case.new_licence
    assert rec is not None
    number = rec.licence.number
    p = POLICY.licences
    assert rec.draw_down(_ship(number, "0.1", "t"), p).accepted  # 100 kg
    assert rec.draw_down(_ship(number, "5", end_user="Someone Else"), p).rule_id == "LIC-SHIP-END-USER"
    assert rec.draw_down(_ship(number, "5", "piece"), p).rule_id == "LIC-SHIP-UNIT"
    late = _ship(number, "5", on=NOW.date() + timedelta(days=400))
    assert rec.draw_down(late, p).rule_id == "LIC-SHIP-OUTSIDE-VALIDITY"
    over = rec.draw_down(_ship(number, "401"), p)
    assert over.rule_id == "LIC-SHIP-OVER-CAP" and over.remaining == ["400"]
    assert rec.draw_down(_ship(number, "400"), p).exhausted
    assert rec.status is LicenceStatus.EXHAUSTED
    assert rec.draw_down(_ship(number, "1"), p).rule_id == "LIC-SHIP-NOT-ACTIVE"


def test_a_single_licence_is_consumed_by_its_export(screening: Any) -> None:
    case = opened(screening, Route.GREEN_CHANNEL)
    rec = case.new_licence
    assert rec is not None
    outcome = rec.draw_down(_ship(rec.licence.number, "100"), POLICY.licences)
    assert outcome.accepted and outcome.exhausted and rec.status is LicenceStatus.EXHAUSTED
    assert rec.effective_status(date(2030, 1, 1)) is LicenceStatus.EXHAUSTED
