"""Review builds decisions from screening's structured reasons (Reason in the contracts), never
from "RULE-ID: text" strings, and still reads results from producers that send only strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lanthanide.contracts import DecisionMade, Reason, Route
from lanthanide_review.domain.licences import LicenceNumbers
from lanthanide_review.domain.model import Case, Context
from lanthanide_review.domain.policy import load_policy
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
