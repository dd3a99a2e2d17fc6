"""Party reasons end to end, in process: screening's engine on the shipped lists -> the
screening.completed payload as it travels (JSON) -> review's case -> decision.made.

Source: Export Control Law Art. 18 and MOFCOM 2025 No. 35 (control list); MOFCOM 2025 No. 61
Art. 2 (50 % rule). Every decision names the list entries and versions it rests on (docs/rules.md
"How to find the rule behind a decision")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from lanthanide.contracts import (
    Application,
    ApplicationAccepted,
    DecisionMade,
    DecisionOutcome,
    ScreeningCompleted,
)
from lanthanide.testing.factories import civilian_application
from lanthanide_review.domain.licences import LicenceNumbers
from lanthanide_review.domain.model import Case, Context
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_screening.adapters.reference_loader import build_engine
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.settings import ScreeningSettings

AS_OF = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
NCSIST = "National Chung-Shan Institute of Science & Technology"


@pytest.fixture(scope="module")
def engine() -> ScreeningEngine:
    return build_engine(ScreeningSettings())


def _decide(engine: ScreeningEngine, app: dict[str, object]) -> tuple[ScreeningCompleted, DecisionMade]:
    accepted = ApplicationAccepted(
        external_reference=str(app["external_reference"]),
        application=Application.model_validate(app),
        received_at=NOW,
        complete=True,
    )
    screened = engine.screen(accepted, AS_OF)
    travelled = ScreeningCompleted.model_validate_json(screened.model_dump_json())
    case = Case.open(uuid4(), travelled, uuid4(), NOW)
    ctx = Context(
        policy=load_policy(), calendar=PrcCalendar(), today=NOW.date(), now=NOW, numbers=LicenceNumbers(2026, 1)
    )
    case.on_screening(travelled, ctx)
    (decision,) = [p for p in case.outbox if isinstance(p, DecisionMade)]
    return screened, decision


def _app(end_user: str, **kw: object) -> dict[str, object]:
    return civilian_application(
        parties=[
            {"role": "importer", "name": "Antriebstechnik Nord GmbH", "country": "DE"},
            {"role": "end_user", "name": end_user, "country": "TW", **kw},
        ]
    )


def test_control_list_denial_carries_entry_list_and_version_into_decision_made(engine: ScreeningEngine) -> None:
    """SCR-PARTY-CONTROL-LIST (MOFCOM 2025 No. 35): the automatic denial's reasons name the entry,
    the list (id and name), the list version screened and the announcement of the entry."""
    screened, decision = _decide(engine, _app(NCSIST))
    assert decision.outcome is DecisionOutcome.DENIED
    (reason,) = [r for r in decision.reasons if r.code == "SCR-PARTY-CONTROL-LIST"]
    (hit,) = [h for h in screened.hits if h.entry_id == reason.entry_id]
    assert (reason.list_id, reason.version) == (hit.list_id, hit.list_version)
    assert reason.list_name and reason.measure_id and (reason.party_role, reason.party_index) == ("end_user", 2)


def test_ownership_denial_carries_the_owner_entry_and_no_61_into_decision_made(engine: ScreeningEngine) -> None:
    """SCR-PARTY-OWNED-BY-LISTED (MOFCOM 2025 No. 61 Art. 2): the decision names the listed owner's
    entry and list version, and the measure MOFCOM-2025-61. Near case: a 40 % owner is no denial."""
    screened, decision = _decide(
        engine, _app("Nordlicht Antriebe GmbH", owners=[{"name": NCSIST, "share_percent": "60"}])
    )
    (reason,) = [r for r in decision.reasons if r.code == "SCR-PARTY-OWNED-BY-LISTED"]
    owner = next(h for h in screened.hits if h.party_role == "owner")
    assert (reason.entry_id, reason.list_id, reason.version) == (owner.entry_id, owner.list_id, owner.list_version)
    assert reason.measure_id == "MOFCOM-2025-61"
    owners = [{"name": NCSIST, "share_percent": "40"}, {"name": "Family Trust", "share_percent": "60"}]
    app = _app("Nordlicht Antriebe GmbH", owners=owners)
    minority = engine.screen(
        ApplicationAccepted(
            external_reference=str(app["external_reference"]),
            application=Application.model_validate(app),
            received_at=NOW,
            complete=True,
        ),
        AS_OF,
    )
    assert "SCR-PARTY-OWNED-BY-LISTED" not in minority.rule_ids
