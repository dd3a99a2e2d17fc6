"""The contact decision.made carries is the case's own submitter's (rule SUB-CONTACT-OWNER,
issue 14 part 3): another submitter bound to the same exporter can resubmit the case, but its
resubmission does not redirect the decision's notice; the first submitter's own does."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from lanthanide.contracts import CaseEvent, CaseEventKind, DecisionMade, Route
from lanthanide.submitters import RULE_CONTACT_OWNER
from lanthanide_review.adapters.store import _case_to_row, case_from_row
from lanthanide_review.domain.licences import ApprovalTerms, LicenceNumbers
from lanthanide_review.domain.model import Case, Context
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import Actor, ConflictRegister, Role
from lanthanide_review.domain.sla import PrcCalendar

NOW = datetime(2026, 9, 14, 2, 0, tzinfo=UTC)
ALICE = Actor("alice", frozenset({Role.REVIEWER}))
A, B = "api-key:erp-a", "api-key:erp-b"
HOOK_A, HOOK_B, HOOK_A2 = "https://a.example/hook", "https://b.example/hook", "https://a2.example/hook"


def ctx() -> Context:
    return Context(policy=load_policy(), calendar=PrcCalendar(), today=NOW.date(), now=NOW,
                   conflicts=ConflictRegister({}), numbers=LicenceNumbers(2026, 1))


def version(screening: Any, ref: str, hook: str, by: str | None) -> Any:
    env = screening(Route.STANDARD, ref=ref, screened_on=NOW.date(), contact={"webhook_url": hook,
                                                                             "email": "ops@a.example"})
    return env, env.payload.model_copy(update={"submitted_by": by})


def reloaded(case: Case) -> Case:
    """The case as the store gives it back (the submitter is kept with it)."""
    row = _case_to_row(case, NOW)
    return case_from_row(SimpleNamespace(**row, version=case.version))


def decision_contact(case: Case) -> str:
    case.approve(ALICE, ctx(), ApprovalTerms())
    [decision] = [p for p in case.outbox if isinstance(p, DecisionMade)]
    assert decision.contact is not None
    return str(decision.contact.webhook_url)


def test_another_submitters_resubmission_keeps_the_decisions_contact(screening: Any) -> None:
    env, first = version(screening, "PO-OWN-R1", HOOK_A, A)
    case = Case.open(env.case_id, first, env.correlation_id, NOW)
    case.on_screening(first, ctx())
    case = reloaded(case)
    assert case.submitter == A
    _, by_b = version(screening, "PO-OWN-R1", HOOK_B, B)
    case.on_screening(by_b, ctx())
    [amended] = [p for p in case.outbox if isinstance(p, CaseEvent) and p.kind is CaseEventKind.AMENDED]
    assert amended.details["contact_change_refused"] == {"rule_id": RULE_CONTACT_OWNER, "submitted_by": B,
                                                         "case_submitter": A}
    assert HOOK_B not in str(amended.details)  # the refusal names who, never the addresses
    assert case.application_version == 1  # only the contact differed, and it was kept
    assert decision_contact(case) == HOOK_A


def test_the_first_submitters_resubmission_changes_it(screening: Any) -> None:
    env, first = version(screening, "PO-OWN-R2", HOOK_A, A)
    case = Case.open(env.case_id, first, env.correlation_id, NOW)
    case.on_screening(first, ctx())
    case = reloaded(case)
    _, again = version(screening, "PO-OWN-R2", HOOK_A2, A)
    case.on_screening(again, ctx())
    assert not any("contact_change_refused" in p.details for p in case.outbox if isinstance(p, CaseEvent))
    assert decision_contact(case) == HOOK_A2


def test_results_without_a_submitter_behave_as_before(screening: Any) -> None:
    env, first = version(screening, "PO-OWN-R3", HOOK_A, None)
    case = Case.open(env.case_id, first, env.correlation_id, NOW)
    case.on_screening(first, ctx())
    _, other = version(screening, "PO-OWN-R3", HOOK_B, None)
    case.on_screening(other, ctx())
    assert decision_contact(case) == HOOK_B
