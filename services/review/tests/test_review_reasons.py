"""Review builds decisions from screening's structured reasons (Reason in the contracts), never
from "RULE-ID: text" strings, and still reads results from producers that send only strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lanthanide.contracts import DecisionMade, Reason, ReasonCode, Route
from lanthanide_review.domain.licences import ApprovalTerms, LicenceNumbers
from lanthanide_review.domain.model import Case, Context
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import Actor, Role
from lanthanide_review.domain.sla import PrcCalendar

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def ctx() -> Context:
    return Context(
        policy=load_policy(), calendar=PrcCalendar(), today=NOW.date(), now=NOW, numbers=LicenceNumbers(2026, 1)
    )


def decide(env: Any) -> DecisionMade:
    case = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    case.on_screening(env.payload, ctx())
    (decision,) = [p for p in case.outbox if isinstance(p, DecisionMade)]
    return decision


def test_denial_carries_the_structured_reasons_with_evidence_and_list_entry(screening: Any) -> None:
    """Structured reasons end to end: the decision.made reasons are screening's Reasons with their
    evidence, list entry and version; a text containing colons is never split again."""
    env = screening(Route.DENY, rule_ids=["SCR-PARTY-CONTROL-LIST"], reasons=["SCR-PARTY-CONTROL-LIST: x"])
    structured = [
        Reason(
            code="SCR-PARTY-CONTROL-LIST",
            action="deny",
            text="end_user #2 matches cn-ecl:E-7 (score 1.00): ok",
            evidence=["Example Aero"],
            list_id="cn-ecl",
            entry_id="E-7",
            version="2026-11-10",
        ),
    ]
    env.payload.reasons = structured
    decision = decide(env)
    assert decision.reasons == structured
    assert decision.reasons[0].list_id == "cn-ecl" and decision.reasons[0].version == "2026-11-10"
    assert decision.reasons[0].text.endswith(": ok")


def test_results_from_older_producers_are_still_read(screening: Any) -> None:
    """Backward compatibility within the major version: only route_reasons strings."""
    env = screening(Route.DENY, rule_ids=["SCR-ENDUSE-MILITARY"], reasons=["SCR-ENDUSE-MILITARY: declared military"])
    decision = decide(env)
    assert [(r.code, r.text) for r in decision.reasons] == [("SCR-ENDUSE-MILITARY", "declared military")]


def test_no_licence_required_decision_keeps_screening_reasons(screening: Any) -> None:
    """An automatic no-licence-required decision states the policy rule and screening's reasons
    (with the measure-set version it was made on)."""
    env = screening(Route.NO_LICENCE_REQUIRED)
    env.payload.reasons = [
        Reason(code="SCR-ROUTE-NLR", action="no_licence_required", text="no item needs a licence", version="measures-1")
    ]
    decision = decide(env)
    assert [r.code for r in decision.reasons] == ["POL-AUTO-NLR", "SCR-ROUTE-NLR"]
    assert decision.reasons[1].version == "measures-1"


REVIEWER = Actor("rita", frozenset({Role.SENIOR_REVIEWER}))
WATCH_REASON = Reason(
    code="SCR-PARTY-WATCH-LIST",
    action="enhanced",
    text="end_user Antriebstechnik Nord is on the watch list (prc-watch:W-1)",
    evidence=["Antriebstechnik Nord"],
    source="MOFCOM 2026 No. 12; Regulations on Export Control of Dual-use Items Art. 26",
    measure_id="MOFCOM 2026 No. 12",
    list_id="prc-watch",
    list_name="PRC watch list",
    entry_id="W-1",
    version="2026-02-24+sha256:79b16eb89957",
    party_role="end_user",
    party_index=1,
    score=0.97,
)
TEXT_FLAG = Reason(code="SCR-FLAG-TEXT-MILITARY", action="enhanced", text="free text mentions 'defence'",
                   evidence=["end_use.description: ['defence']"])


def queued(screening: Any) -> Case:
    env = screening(Route.STANDARD, rule_ids=["SCR-PARTY-WATCH-LIST", "SCR-FLAG-TEXT-MILITARY"])
    env.payload.reasons = [WATCH_REASON, TEXT_FLAG]
    case = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    case.on_screening(env.payload, ctx())
    case.claim(REVIEWER, ctx())
    case.outbox.clear()
    return case


def only_decision(case: Case) -> DecisionMade:
    (decision,) = [p for p in case.outbox if isinstance(p, DecisionMade)]
    return decision


def test_a_reviewer_denial_carries_screenings_party_reasons_after_the_reviewers_own(screening: Any) -> None:
    """MOFCOM 2026 No. 12 / Regulations Art. 26 (watch list) and ECL Art. 12 (reasons for every
    denial): a reviewer's denial of a watch-list case states the reviewer's reason first and then
    screening's SCR-PARTY-WATCH-LIST reason unchanged (text, evidence, list, entry, version,
    measure). Near case: screening's free-text flag names no list entry and is not carried."""
    case = queued(screening)
    case.deny(REVIEWER, ctx(), [ReasonCode(code="REV-RISK-ASSESSMENT-INADEQUATE", text="risk report does not cover")])
    decision = only_decision(case)
    assert [(r.code, r.origin) for r in decision.reasons] == [
        ("REV-RISK-ASSESSMENT-INADEQUATE", "reviewer"),
        ("SCR-PARTY-WATCH-LIST", "screening"),
    ]
    carried = decision.reasons[1]
    assert carried.model_copy(update={"origin": None}) == WATCH_REASON
    # On the wire the reasons are objects with their fields, not "RULE: text" strings.
    wire = decision.model_dump(mode="json")["reasons"][1]
    assert (wire["list_id"], wire["entry_id"], wire["measure_id"]) == ("prc-watch", "W-1", "MOFCOM 2026 No. 12")


def test_a_reviewer_approval_carries_screenings_party_reasons(screening: Any) -> None:
    """MOFCOM 2026 No. 12 (watch list): an approval taken on a watch-list party says which list
    entry and version it was taken on. Near case: a case with no party reason gets none."""
    case = queued(screening)
    case.approve(REVIEWER, ctx(), ApprovalTerms())
    assert [(r.code, r.entry_id) for r in only_decision(case).reasons] == [("SCR-PARTY-WATCH-LIST", "W-1")]

    env = screening(Route.STANDARD, rule_ids=["SCR-FLAG-TEXT-MILITARY"])
    env.payload.reasons = [TEXT_FLAG]
    plain = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    plain.on_screening(env.payload, ctx())
    plain.claim(REVIEWER, ctx())
    plain.approve(REVIEWER, ctx(), ApprovalTerms())
    assert only_decision(plain).reasons == []


def test_a_watch_list_party_switches_the_clock_off_and_goes_to_enhanced_review(screening: Any, hits: Any) -> None:
    """MOFCOM 2026 No. 12; Regulations on Export Control of Dual-use Items Art. 26 (the time limit
    of Art. 17(1) does not apply to watch-list parties): a case whose screening has a watch-list
    hit has no due date and waits in the enhanced queue. Near case: the same case with a hit on
    another list kind (control list, routed standard here) keeps its 45-working-day clock."""
    env = screening(Route.ENHANCED, hits=[hits.watch()])
    case = Case.open(env.case_id, env.payload, env.correlation_id, NOW)
    case.on_screening(env.payload, ctx())
    assert case.queue == "enhanced" and not case.sla.applies and case.sla.off_reason
    assert case.sla.due_date(PrcCalendar(), 45) is None

    near_env = screening(Route.STANDARD, hits=[hits.control()])
    near = Case.open(near_env.case_id, near_env.payload, near_env.correlation_id, NOW)
    near.on_screening(near_env.payload, ctx())
    assert near.sla.applies and near.sla.due_date(PrcCalendar(), 45) is not None
