"""Every party-based decision names the list entries and versions it rests on.

Source: Export Control Law Art. 18 and the MOFCOM announcements that list the entries (control list
2025 No. 35; watch list 2026 No. 12 with Regulations on Export Control of Dual-use Items Art. 26);
MOFCOM 2025 No. 61 Art. 2 for the 50 % rule. Each party reason (`Reason` in the contracts) carries
the list id and name, the entry id, the list version, the measure the entry rests on, and which
party matched; the same values as the hit itself, so a reader goes from the reason to the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from lanthanide.contracts import ApplicationAccepted, Reason, Route, ScreeningCompleted
from lanthanide.testing.factories import civilian_application
from lanthanide_screening.domain.screen import ScreeningEngine

Make = Callable[..., ApplicationAccepted]
AS_OF = date(2026, 12, 1)  # No. 61 (the 50 % rule) in force again after the No. 70 window
NCSIST = "National Chung-Shan Institute of Science & Technology"


def _end_user(name: str, country: str, **kw: Any) -> dict[str, Any]:
    return civilian_application(
        parties=[
            {"role": "importer", "name": "Antriebstechnik Nord GmbH", "country": "DE"},
            {"role": "end_user", "name": name, "country": country, **kw},
        ]
    )


def _reasons(result: ScreeningCompleted, code: str) -> list[Reason]:
    return [r for r in result.reasons if r.code == code]


def test_control_list_denial_names_entry_list_version_and_measure(engine: ScreeningEngine, make_accepted: Make) -> None:
    """Export Control Law Art. 18; MOFCOM 2025 No. 35 (control list). Rule SCR-PARTY-CONTROL-LIST:
    the denial's reason is the hit's entry, on the list version screened, with its announcement."""
    result = engine.screen(make_accepted(_end_user(NCSIST, "TW")), AS_OF)
    assert result.route is Route.DENY
    (reason,) = _reasons(result, "SCR-PARTY-CONTROL-LIST")
    (hit,) = [h for h in result.hits if h.entry_id == reason.entry_id]
    assert reason.action == "deny"
    assert reason.list_id == hit.list_id == "cn-export-control-list"
    assert reason.version == hit.list_version == result.list_versions["cn-export-control-list"]
    assert reason.list_name is not None and "export control list" in reason.list_name
    assert reason.measure_id is not None and "35" in reason.measure_id
    assert (reason.party_role, reason.party_index) == ("end_user", 2)
    assert reason.score == hit.score and reason.evidence and reason.source
    # Near case: an unlisted party yields no party reason at all.
    clean = engine.screen(make_accepted(_end_user("Chung-Shan Dental Clinic", "TW")), AS_OF)
    assert not [r for r in clean.reasons if r.entry_id is not None]


def test_ownership_denial_names_the_listed_owner_and_no_61(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 61 Art. 2: rule SCR-PARTY-OWNED-BY-LISTED names the listed owner's entry and
    list version, and the measure that dates the 50 % rule (MOFCOM-2025-61), for the owned party."""
    app = _end_user("Nordlicht Antriebe GmbH", "DE", owners=[{"name": NCSIST, "share_percent": "60"}])
    result = engine.screen(make_accepted(app), AS_OF)
    assert result.route is Route.DENY
    (reason,) = _reasons(result, "SCR-PARTY-OWNED-BY-LISTED")
    owner_hit = next(h for h in result.hits if h.party_role == "owner")
    assert reason.entry_id == owner_hit.entry_id and reason.list_id == owner_hit.list_id
    assert reason.version == owner_hit.list_version
    assert reason.measure_id == engine.policy.ownership_rule.measure == "MOFCOM-2025-61"
    assert (reason.party_role, reason.party_index) == ("end_user", 2)


def test_watch_list_consequences_name_the_watch_list_entry(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2026 No. 12; Regulations Art. 26. Rules SCR-PARTY-WATCH-LIST and
    SCR-PARTY-WATCH-LIST-DOCUMENTS: both rest on the watch-list entry, its list version and No. 12."""
    result = engine.screen(make_accepted(_end_user("SUBARU Corporation", "JP")), AS_OF)
    (hit_reason,) = _reasons(result, "SCR-PARTY-WATCH-LIST")
    (docs_reason,) = _reasons(result, "SCR-PARTY-WATCH-LIST-DOCUMENTS")
    for reason in (hit_reason, docs_reason):
        assert reason.list_id == "cn-watch-list"
        assert reason.version == result.list_versions["cn-watch-list"]
        assert reason.entry_id is not None and reason.measure_id is not None and "12" in reason.measure_id
    assert docs_reason.entry_id == hit_reason.entry_id
    assert "risk_assessment" in docs_reason.text
