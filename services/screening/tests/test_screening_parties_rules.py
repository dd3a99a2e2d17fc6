"""Parties and lists, one test per rule: dated list measures, the watch list, the 50 % rule.

Each test names its source (announcement and article) and covers the case that must fire and the
near case that must not. They run on the lists the package ships (no raw source files needed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from lanthanide.contracts import ApplicationAccepted, Route
from lanthanide.testing.factories import civilian_application
from lanthanide_screening.domain.screen import ScreeningEngine

Make = Callable[..., ApplicationAccepted]
AS_OF = date(2026, 12, 1)  # after the No. 70 window: No. 61 (and so the 50 % rule) in force again


def _end_user(name: str, country: str = "US", **kw: Any) -> dict[str, Any]:
    app = civilian_application(
        parties=[
            {"role": "importer", "name": "Antriebstechnik Nord GmbH", "country": "DE"},
            {"role": "end_user", "name": name, "country": country, **kw},
        ]
    )
    return app


def _with_watch_documents(app: dict[str, Any]) -> dict[str, Any]:
    app["documents"] += [
        {"kind": k, "reference": f"{k}-1", "issued_on": "2026-11-20"}
        for k in ("risk_assessment", "compliance_commitment")
    ]
    return app


def _owned_end_user(owners: list[dict[str, Any]]) -> dict[str, Any]:
    return _end_user("Nordlicht Antriebe GmbH", "DE", owners=owners)


def _own(name: str, share: str, owners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": name, "share_percent": share, "owners": owners or []}


def _flag_evidence(result: Any, code: str) -> str:
    return " | ".join(f.evidence for f in result.red_flags if f.code == code)


# ---------------------------------------------------------------- dated control-list measures


def test_lifted_listing_never_denies_and_shows_its_history(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 13 (control list, 2025-03-04); measures suspended by the MOFCOM announcement
    of 2025-05-14 and lifted by that of 2025-11-10. Rule SCR-FLAG-LISTED-MEASURES-SUSPENDED: a
    listing whose measures are not in force on the as-of date goes to review with its history."""
    result = engine.screen(make_accepted(_end_user("Sourcemap, Inc.")), AS_OF)
    assert result.route is Route.ENHANCED
    assert "SCR-PARTY-CONTROL-LIST" not in result.rule_ids
    evidence = _flag_evidence(result, "SCR-FLAG-LISTED-MEASURES-SUSPENDED")
    assert "2025-05-14 suspended" in evidence and "2025-11-10 lifted" in evidence
    # Near case: before the suspension the same listing denies.
    before = engine.screen(make_accepted(_end_user("Sourcemap, Inc.")), date(2025, 4, 1))
    assert before.route is Route.DENY and "SCR-PARTY-CONTROL-LIST" in before.rule_ids


def test_listing_in_force_denies(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 35 (control list, 2025-07-09), no later change. Rule SCR-PARTY-CONTROL-LIST:
    a certain match on a listing in force denies; a similar but different name does not."""
    result = engine.screen(
        make_accepted(_end_user("National Chung-Shan Institute of Science & Technology", "TW")), AS_OF
    )
    assert result.route is Route.DENY and "SCR-PARTY-CONTROL-LIST" in result.rule_ids
    near = engine.screen(make_accepted(_end_user("Chung-Shan Dental Clinic", "TW")), AS_OF)
    assert near.route is not Route.DENY and "SCR-PARTY-CONTROL-LIST" not in near.rule_ids


def test_stopped_listing_does_not_deny_after_the_stop(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 22 (2025-04-09, in force 2025-04-10); suspended from 2025-05-14, stopped by
    the MOFCOM announcement of 2025-08-12. Before the suspension it denies; after the stop never."""
    app = _end_user("Echodyne")
    assert engine.screen(make_accepted(app), date(2025, 5, 1)).route is Route.DENY
    after = engine.screen(make_accepted(app), date(2025, 9, 1))
    assert after.route is not Route.DENY
    assert "2025-08-12 stopped" in _flag_evidence(after, "SCR-FLAG-LISTED-MEASURES-SUSPENDED")


def test_suspended_for_a_further_year_applies_again_after_the_window(
    engine: ScreeningEngine, make_accepted: Make
) -> None:
    """MOFCOM 2025 No. 21 (2025-04-04); suspended from 2025-05-14 and, by the MOFCOM announcement of
    2025-11-10, for a further year until 2026-11-10 ("apply; compliant applications are approved").
    Inside the window: review, no denial. From 2026-11-11 (no extension in the data): denial."""
    app = _end_user("Source Intelligence, Inc.")
    inside = engine.screen(make_accepted(app), date(2026, 11, 10))
    assert inside.route is not Route.DENY
    assert "until 2026-11-10" in _flag_evidence(inside, "SCR-FLAG-LISTED-MEASURES-SUSPENDED")
    after = engine.screen(make_accepted(app), date(2026, 11, 11))
    assert after.route is Route.DENY and "SCR-PARTY-CONTROL-LIST" in after.rule_ids


# ---------------------------------------------------------------- watch list


def test_watch_list_party_needs_two_documents(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2026 No. 12 (2026-02-24): SUBARU Corporation on the watch list; Regulations on Export
    Control of Dual-use Items, Art. 26: a risk-assessment report and a compliance commitment are
    required, and the review time limit does not apply (review switches the clock off on the
    watch-list hit). Rules SCR-PARTY-WATCH-LIST, SCR-PARTY-WATCH-LIST-DOCUMENTS."""
    result = engine.screen(make_accepted(_end_user("SUBARU Corporation", "JP")), AS_OF)
    assert result.route is Route.INCOMPLETE
    assert {"risk_assessment", "compliance_commitment"} <= set(result.missing_documents)
    assert {"SCR-PARTY-WATCH-LIST", "SCR-PARTY-WATCH-LIST-DOCUMENTS"} <= set(result.rule_ids)
    assert any(h.list_kind == "watch" for h in result.hits)  # what review's clock-off reads
    # Near case: with both documents the case goes to enhanced review, nothing missing.
    complete = engine.screen(make_accepted(_with_watch_documents(_end_user("SUBARU Corporation", "JP"))), AS_OF)
    assert complete.route is Route.ENHANCED and complete.complete
    assert "SCR-PARTY-WATCH-LIST-DOCUMENTS" not in complete.rule_ids
    # And an unlisted Japanese party raises nothing of the kind.
    other = engine.screen(make_accepted(_end_user("Hokkaido Dairy Cooperative", "JP")), AS_OF)
    assert "SCR-PARTY-WATCH-LIST" not in other.rule_ids and not any(h.list_kind == "watch" for h in other.hits)


def test_watch_list_party_cannot_use_a_general_licence(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2026 No. 12: exporters to watch-list entities may not apply for a general licence.
    Rule SCR-PARTY-WATCH-LIST-NO-GENERAL-LICENCE; without a general licence named it does not fire."""
    app = _with_watch_documents(_end_user("ENEOS Corporation", "JP"))
    app["general_licence_number"] = "GL-2026-0001"
    result = engine.screen(make_accepted(app), AS_OF)
    assert result.route is Route.ENHANCED
    assert "SCR-PARTY-WATCH-LIST-NO-GENERAL-LICENCE" in result.rule_ids
    plain = engine.screen(make_accepted(_with_watch_documents(_end_user("ENEOS Corporation", "JP"))), AS_OF)
    assert "SCR-PARTY-WATCH-LIST-NO-GENERAL-LICENCE" not in plain.rule_ids


# ---------------------------------------------------------------- the 50 % rule


def test_fifty_percent_rule_is_dated_with_no_61(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 61, Art. 2 (subsidiaries 50 % or more owned by control-list parties),
    suspended by No. 70 until 2026-11-10. Rule SCR-PARTY-OWNED-BY-LISTED fires only while No. 61
    is in force; inside the suspension the majority-owned party goes to review (SCR-FLAG-LISTED-OWNER)."""
    app = _owned_end_user([_own("National Chung-Shan Institute of Science & Technology", "60")])
    result = engine.screen(make_accepted(app), AS_OF)
    assert result.route is Route.DENY and "SCR-PARTY-OWNED-BY-LISTED" in result.rule_ids
    suspended = engine.screen(make_accepted(app), date(2026, 6, 1))
    assert suspended.route is not Route.DENY and "SCR-PARTY-OWNED-BY-LISTED" not in suspended.rule_ids
    assert "not in force" in _flag_evidence(suspended, "SCR-FLAG-LISTED-OWNER")


def test_fifty_percent_rule_only_for_the_lists_no_61_names(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 61, Art. 2 names the control list and the watch list. A majority owner on the
    counter-sanctions list (MFA order) does not make the owned party a listed party: review
    (SCR-FLAG-LISTED-OWNER), not SCR-PARTY-OWNED-BY-LISTED."""
    result = engine.screen(make_accepted(_owned_end_user([_own("Hudson Institute", "80")])), AS_OF)
    assert "SCR-PARTY-OWNED-BY-LISTED" not in result.rule_ids and result.route is not Route.DENY
    assert "does not extend to the counter_sanctions list" in _flag_evidence(result, "SCR-FLAG-LISTED-OWNER")


def test_fifty_percent_rule_through_a_chain_passes_control(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 61, Art. 2, through a chain: a listed party holding 60 % of a holding that
    holds 60 % of the party controls it (control passes; 0.6 x 0.6 would be 36 %). Near case: a
    listed 40 % of the holding does not control it, so nothing passes down."""
    ncsist = "National Chung-Shan Institute of Science & Technology"
    chain = _owned_end_user([_own("Formosa Holding Ltd.", "60", [_own(ncsist, "60")])])
    result = engine.screen(make_accepted(chain), AS_OF)
    assert result.route is Route.DENY and "SCR-PARTY-OWNED-BY-LISTED" in result.rule_ids
    weak = _owned_end_user([_own("Formosa Holding Ltd.", "100", [_own(ncsist, "40")])])
    near = engine.screen(make_accepted(weak), AS_OF)
    assert "SCR-PARTY-OWNED-BY-LISTED" not in near.rule_ids and near.route is not Route.DENY


def test_different_listed_owners_are_not_aggregated_by_default(engine: ScreeningEngine, make_accepted: Make) -> None:
    """MOFCOM 2025 No. 61, Art. 2 speaks of a party's subsidiaries: two different control-list owners
    of 30 % each raise SCR-FLAG-AGGREGATED-LISTED-OWNERS (review). With the policy setting
    ownership_rule.aggregate_listed_owners on, their shares add up and the rule denies."""
    owners = [
        _own("National Chung-Shan Institute of Science & Technology", "30"),
        _own("Jong Shyn Shipbuilding Co., Ltd.", "30"),
        _own("Family Trust", "40"),
    ]
    app = _owned_end_user(owners)
    result = engine.screen(make_accepted(app), AS_OF)
    assert result.route is not Route.DENY and "SCR-FLAG-AGGREGATED-LISTED-OWNERS" in result.rule_ids
    rule = engine.policy.ownership_rule.model_copy(update={"aggregate_listed_owners": True})
    aggregating = ScreeningEngine(
        engine.measures, engine.policy.model_copy(update={"ownership_rule": rule}), engine.index
    )
    summed = aggregating.screen(make_accepted(app), AS_OF)
    assert summed.route is Route.DENY and "SCR-PARTY-OWNED-BY-LISTED" in summed.rule_ids


def test_party_majority_held_by_a_watch_list_party_is_treated_as_one(
    engine: ScreeningEngine, make_accepted: Make
) -> None:
    """MOFCOM 2025 No. 61, Art. 2 (watch-list parties' 50 %-owned subsidiaries) with MOFCOM 2026
    No. 12: rule SCR-PARTY-OWNED-BY-WATCH-LISTED, with the watch-list documents required. Near
    case: a 20 % watch-list owner is a minority flag, not a watch-list party."""
    result = engine.screen(make_accepted(_owned_end_user([_own("SUBARU Corporation", "70")])), AS_OF)
    assert "SCR-PARTY-OWNED-BY-WATCH-LISTED" in result.rule_ids
    assert "risk_assessment" in result.missing_documents
    minority = engine.screen(
        make_accepted(_owned_end_user([_own("SUBARU Corporation", "20"), _own("Family Trust", "80")])), AS_OF
    )
    assert "SCR-PARTY-OWNED-BY-WATCH-LISTED" not in minority.rule_ids
    assert "SCR-FLAG-MINORITY-LISTED-OWNER" in minority.rule_ids


def test_a_hit_carries_its_score_parts_as_structure(engine: ScreeningEngine, make_accepted: Make) -> None:
    """The reviewer console shows the score parts a hit's score was made from: they travel as a
    field (name -> 0..1), not only inside the explanation text, and the score is their best."""
    result = engine.screen(make_accepted(_with_watch_documents(_end_user("SUBARU Corporation", "JP"))), AS_OF)
    [hit] = [h for h in result.hits if h.list_kind == "watch"]
    assert hit.score_parts and all(0.0 <= v <= 1.0 for v in hit.score_parts.values())
    assert max(hit.score_parts.values()) >= hit.score - 1e-4  # penalties only lower the best part
    assert all(f"{k}=" in hit.explanation for k in hit.score_parts)
