"""Review on the application's as-of date: SLA start, the no-licence-required decision's dates,
the humanitarian reporting condition, provisional due dates (docs/rules.md, "Classification and dates")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from lanthanide.contracts import DecisionMade, DecisionOutcome, ExemptionApplied, Route
from lanthanide_review.domain.model import Case, Context
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import ConflictRegister
from lanthanide_review.domain.sla import PrcCalendar, SlaClock

POLICY = load_policy()
CAL = PrcCalendar()
# Review runs on 2026-03-03 (PRC); the application was received on 2026-03-02 (PRC).
NOW = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)


def ctx() -> Context:
    return Context(policy=POLICY, calendar=CAL, today=NOW.date(), now=NOW, conflicts=ConflictRegister({}))


def open_case(screening: Any, route: Route, **payload: Any) -> Case:
    env = screening(route)
    result = env.payload.model_copy(update=payload)
    case = Case.open(env.case_id, result, env.correlation_id, NOW)
    case.on_screening(result, ctx())
    return case


def decision(case: Case) -> DecisionMade:
    (d,) = [p for p in case.outbox if isinstance(p, DecisionMade)]
    return d


def test_the_clock_starts_on_the_as_of_date_not_on_reviews_day(screening: Any) -> None:
    """DOMAIN "Review time": 45 working days from the acceptance of a complete application, on its PRC receipt date."""
    case = open_case(screening, Route.STANDARD, screened_on=date(2026, 3, 2), as_of_basis="receipt")
    assert case.sla.started_on == date(2026, 3, 2)
    rescreened = open_case(screening, Route.STANDARD, screened_on=date(2026, 3, 2), as_of_basis="rescreen")
    assert rescreened.sla.started_on == NOW.date()


def test_no_licence_required_decision_states_its_date_and_valid_until(screening: Any) -> None:
    """An NLR answer holds until the day before the next dated change of a measure touching its items."""
    case = open_case(
        screening,
        Route.NO_LICENCE_REQUIRED,
        screened_on=date(2026, 3, 2),
        valid_until=date(2026, 11, 10),
        rule_ids=["SCR-CLASS-NOT-CONTROLLED", "SCR-ROUTE-NLR"],
    )
    d = decision(case)
    assert d.outcome is DecisionOutcome.NO_LICENCE_REQUIRED
    assert d.decided_for == date(2026, 3, 2) and d.valid_until == date(2026, 11, 10)
    assert "valid until 2026-11-10" in d.reasons[0].text and "SCR-CLASS-NOT-CONTROLLED" in d.rule_ids
    assert not d.conditions


def test_humanitarian_exemption_carries_its_rule_and_reporting_due_date(screening: Any) -> None:
    """No. 61 Art. 5: report within 10 PRC working days after export. From Fri 2026-09-25 (a holiday
    week follows): 10 working days skip 09-26/27, National Day 10-01..07, count Sun 10-10 (make-up day)."""
    ex = ExemptionApplied(
        rule_id="SCR-EXEMPT-HUMANITARIAN",
        measure_id="MOFCOM-2025-61-ART5",
        text="exempt",
        report_within_working_days=10,
        planned_export_date=date(2026, 9, 25),
    )
    d = decision(open_case(screening, Route.NO_LICENCE_REQUIRED, screened_on=date(2026, 9, 20), exemption=ex))
    (cond,) = d.conditions
    assert cond.rule_id == "SCR-EXEMPT-HUMANITARIAN" and "SCR-EXEMPT-HUMANITARIAN" in [r.code for r in d.reasons]
    assert cond.due_on == CAL.add_working_days(date(2026, 9, 25), 10) == date(2026, 10, 15)
    assert cond.due_on_provisional is False
    late = ex.model_copy(update={"planned_export_date": date(2026, 12, 28)})
    (cond2,) = decision(
        open_case(screening, Route.NO_LICENCE_REQUIRED, screened_on=date(2026, 12, 1), exemption=late)
    ).conditions
    assert cond2.due_on is not None and cond2.due_on.year == 2027 and cond2.due_on_provisional is True


def test_a_due_date_in_a_year_without_official_data_is_provisional() -> None:
    """State Council notice for 2027 not yet in data/prc_calendar.yaml: due dates counted into 2027 are provisional."""
    late = SlaClock(started_on=date(2026, 12, 1))
    early = SlaClock(started_on=date(2026, 3, 2))
    assert late.due_date_provisional(CAL, 45) is True
    assert early.due_date_provisional(CAL, 45) is False
    assert SlaClock().due_date_provisional(CAL, 45) is None
