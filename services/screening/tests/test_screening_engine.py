"""The engine end to end on real lists: end use, parties, ownership, red flags, route precedence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lanthanide.contracts import ApplicationAccepted, LicenceItem, Route
from lanthanide.testing.factories import civilian_application, general_licence
from lanthanide_screening.domain.parties import Suppression
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.matching.index import build_index
from lanthanide_screening.matching.loaders import load_lists

TODAY = date.today()
Make = Callable[..., ApplicationAccepted]


def end_user(name: str, country: str = "DE", **kw: Any) -> list[dict[str, Any]]:
    return [
        {"role": "importer", "name": name, "country": country},
        {"role": "end_user", "name": name, "country": country, **kw},
    ]


def screen(engine: ScreeningEngine, make_accepted: Make, app: dict[str, Any], **kw: Any) -> Any:
    return engine.screen(
        make_accepted(app, **{k: v for k, v in kw.items() if k in ("complete", "missing")}),
        kw.get("on", TODAY),
        **{k: v for k, v in kw.items() if k in ("general_licences",)},
    )


def test_civilian_dysprosium_magnets_need_a_standard_licence(engine: ScreeningEngine, make_accepted: Make) -> None:
    result = screen(engine, make_accepted, civilian_application())
    assert result.route is Route.STANDARD
    assert result.rule_ids == ["SCR-CLASS-ELEMENT", "SCR-ROUTE-STANDARD"]
    assert result.route_reasons[0].startswith("SCR-ROUTE-STANDARD")
    assert result.hits == [] and result.red_flags == []
    assert set(result.list_versions) >= {
        "cn-export-control-list",
        "cn-unreliable-entity-list",
        "cn-counter-sanctions-list",
        "un-consolidated",
    }
    assert "+sha256:" in result.list_versions["cn-export-control-list"]
    assert result.application.external_reference == "PO-2026-0001"


@pytest.mark.parametrize(
    "name",
    [
        "Lockheed Martin Corporation",
        "Raytheon Missiles & Defense",
        "General Dynamics",
        "LOCKHEED MARTIN CORP.",
        "洛克希德·马丁公司",
    ],
)
def test_control_list_end_user_is_denied(engine: ScreeningEngine, make_accepted: Make, name: str) -> None:
    app = civilian_application(parties=end_user(name, "US"), route={"final_destination_country": "US"})
    result = screen(engine, make_accepted, app)
    assert result.route is Route.DENY
    assert "SCR-PARTY-CONTROL-LIST" in result.rule_ids
    hit = next(h for h in result.hits if h.list_id == "cn-export-control-list" and h.score == 1.0)
    assert hit.list_kind == "control" and hit.party_role in ("importer", "end_user")
    assert hit.list_version == result.list_versions["cn-export-control-list"]
    assert "matched" in hit.explanation


def test_misspelt_listed_name_is_a_possible_match_for_enhanced_review(
    engine: ScreeningEngine, make_accepted: Make
) -> None:
    app = civilian_application(
        parties=end_user("Lockhead Martin Corp", "US"), route={"final_destination_country": "US"}
    )
    result = screen(engine, make_accepted, app)
    assert result.route is Route.ENHANCED
    assert "SCR-FLAG-RESEMBLES-LISTED" in result.rule_ids
    assert "SCR-PARTY-CONTROL-LIST" not in result.rule_ids


def _owned(shares: list[tuple[str, str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    return [{"name": n, "share_percent": s, "owners": o} for n, s, o in shares]


def test_party_owned_50_percent_through_a_chain_is_denied(engine: ScreeningEngine, make_accepted: Make) -> None:
    # Holding GmbH is 50% owned by a listed company, so it is tainted; it owns 60% of the importer.
    chain = _owned([("Nordic Holding GmbH", "60", _owned([("Lockheed Martin Corporation", "50", [])]))])
    parties = end_user("Antriebstechnik Nord GmbH")
    parties[0]["owners"] = chain
    result = screen(engine, make_accepted, civilian_application(parties=parties))
    assert result.route is Route.DENY
    assert "SCR-PARTY-OWNED-BY-LISTED" in result.rule_ids
    owner_hit = next(h for h in result.hits if h.party_role == "owner")
    assert owner_hit.via_owner_chain == ["Nordic Holding GmbH", "Lockheed Martin Corporation"]


def test_minority_listed_owner_escalates_but_does_not_deny(engine: ScreeningEngine, make_accepted: Make) -> None:
    parties = end_user("Antriebstechnik Nord GmbH")
    listed = "National Chung-Shan Institute of Science & Technology"  # MOFCOM 2025 No. 35, in force
    parties[1]["owners"] = _owned([(listed, "30", []), ("Family Trust", "70", [])])
    result = screen(engine, make_accepted, civilian_application(parties=parties))
    assert result.route is Route.ENHANCED
    assert "SCR-FLAG-MINORITY-LISTED-OWNER" in result.rule_ids


@pytest.mark.parametrize(
    ("end_use", "rule"),
    [
        ({"category": "military", "description": "Armour plate magnets for vehicles"}, "SCR-ENDUSE-MILITARY"),
        ({"category": "wmd", "description": "Components for a programme"}, "SCR-ENDUSE-WMD"),
        ({"category": "terrorism", "description": "Supplies for a group in the region"}, "SCR-ENDUSE-TERRORISM"),
    ],
)
def test_hard_denial_end_uses(engine: ScreeningEngine, make_accepted: Make, end_use: dict[str, Any], rule: str) -> None:
    """Declared end-use categories deny (see docs/rules.md, End use and red flags)."""
    result = screen(engine, make_accepted, civilian_application(end_use=end_use))
    assert result.route is Route.DENY
    assert rule in result.rule_ids
    assert any(r.startswith(rule) for r in result.route_reasons)
    assert result.reasons[0].code == rule and result.reasons[0].action == "deny"


def test_negated_military_mention_is_civilian(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application(
        end_use={"category": "automotive", "description": "Traction motors for buses; not for military use"}
    )
    result = screen(engine, make_accepted, app)
    assert result.route is Route.STANDARD and not result.end_use.military


def test_military_end_user_is_denied(engine: ScreeningEngine, make_accepted: Make) -> None:
    """A declared military end user denies; the same words in its business only flag."""
    declared = civilian_application(parties=end_user("Procurement Office", military_end_user=True))
    result = screen(engine, make_accepted, declared)
    assert result.route is Route.DENY and "SCR-ENDUSER-MILITARY" in result.rule_ids
    described = civilian_application(
        parties=end_user("Procurement Office", business_description="Ministry of Defence logistics")
    )
    result = screen(engine, make_accepted, described)
    assert result.route is Route.ENHANCED and "SCR-FLAG-ENDUSER-MILITARY-TEXT" in result.rule_ids


@pytest.mark.parametrize(
    ("end_use", "rule"),
    [
        (
            {
                "category": "semiconductor",
                "description": "Sputtering targets for a 7 nm logic fab",
                "semiconductor_node_nm": 7,
            },
            "SCR-ENDUSE-ADV-SEMI",
        ),
        (
            {"category": "semiconductor", "description": "Targets for 3D NAND memory production", "memory_layers": 300},
            "SCR-ENDUSE-ADV-SEMI",
        ),
        (
            {
                "category": "artificial_intelligence",
                "description": "Research on autonomous drones for battlefield reconnaissance",
            },
            "SCR-ENDUSE-AI-MILITARY",
        ),
    ],
)
def test_case_by_case_end_uses_go_to_enhanced(
    engine: ScreeningEngine, make_accepted: Make, end_use: dict[str, Any], rule: str
) -> None:
    result = screen(engine, make_accepted, civilian_application(end_use=end_use))
    assert result.route is Route.ENHANCED and rule in result.rule_ids


def test_mature_semiconductor_node_is_standard(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application(
        end_use={
            "category": "semiconductor",
            "semiconductor_node_nm": 28,
            "description": "Sputtering targets for a 28 nm analog fab",
        }
    )
    assert screen(engine, make_accepted, app).route is Route.STANDARD


def test_deny_wins_over_incomplete_and_incomplete_over_enhanced(engine: ScreeningEngine, make_accepted: Make) -> None:
    military = civilian_application(end_use={"category": "military", "description": "Radar for the navy"})
    assert screen(engine, make_accepted, military, complete=False, missing=["contract"]).route is Route.DENY
    advanced = civilian_application(
        end_use={"category": "semiconductor", "semiconductor_node_nm": 5, "description": "Targets for a 5 nm logic fab"}
    )
    result = screen(engine, make_accepted, advanced, complete=False, missing=["end_user_certificate"])
    assert result.route is Route.INCOMPLETE
    assert result.route_reasons[0] == (
        "SCR-ROUTE-INCOMPLETE: application incomplete: missing or expired end_user_certificate"
    )


def test_cerium_polishing_powder_needs_no_licence(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application(
        items=[
            {
                "description": "Cerium oxide polishing powder",
                "form": "oxide",
                "elements": [{"element": "Ce", "percent": "90"}],
                "quantity": "100",
                "unit": "kg",
                "value": "500",
                "currency": "USD",
            }
        ]
    )
    result = screen(engine, make_accepted, app)
    assert result.route is Route.NO_LICENCE_REQUIRED and not result.licence_required
    assert result.rule_ids == ["SCR-CLASS-NOT-CONTROLLED", "SCR-ROUTE-NLR"]


def test_humanitarian_export_of_no_18_items_still_needs_a_licence(
    engine: ScreeningEngine, make_accepted: Make
) -> None:
    """Announcement 2025 No. 18 has no humanitarian exemption (only No. 61 Art. 5, for No. 61 items)."""
    app = civilian_application(
        humanitarian=True,
        end_use={
            "category": "humanitarian",
            "description": "MRI magnets for an emergency field hospital after the earthquake",
        },
    )
    result = screen(engine, make_accepted, app)
    assert result.route is Route.STANDARD and result.licence_required and result.exemption is None
    assert "SCR-EXEMPT-HUMANITARIAN-NA" in result.rule_ids


def test_valid_general_licence_takes_the_green_channel(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application(general_licence_number="GL-2026-001")
    result = screen(engine, make_accepted, app, general_licences={"GL-2026-001": general_licence()})
    assert result.route is Route.GREEN_CHANNEL
    assert result.route_reasons[0].startswith("SCR-ROUTE-GREEN-CHANNEL: general licence GL-2026-001")


@pytest.mark.parametrize(
    ("licence_kw", "problem"),
    [
        ({"end_users": ["Someone Else AG"]}, "end user is not named"),
        ({"valid_until": TODAY - timedelta(days=1)}, "not valid on"),
        (
            {"items": [LicenceItem(description="x", control_codes=["1C905.a"], quantity_cap=Decimal(10), unit="kg")]},
            "exceeds the cap",
        ),
    ],
)
def test_general_licence_that_does_not_cover_the_export_is_standard(
    engine: ScreeningEngine, make_accepted: Make, licence_kw: dict[str, Any], problem: str
) -> None:
    app = civilian_application(general_licence_number="GL-2026-001")
    result = screen(engine, make_accepted, app, general_licences={"GL-2026-001": general_licence(**licence_kw)})
    assert result.route is Route.STANDARD
    flag = next(f for f in result.red_flags if f.code == "SCR-FLAG-GENERAL-LICENCE-INVALID")
    assert problem in flag.evidence


def test_red_flags_are_coded_with_evidence_and_route_to_review(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application(
        parties=[
            {"role": "importer", "name": "Antriebstechnik Nord GmbH", "country": "DE"},
            {"role": "end_user", "name": "Blue Sea Freight LLC", "country": "KZ"},
            {"role": "freight_forwarder", "name": "Blue Sea Freight LLC", "country": "AE"},
        ],
        route={"final_destination_country": "DE", "transit_countries": ["AE"]},
        payment_method="cash",
    )
    result = screen(engine, make_accepted, app)
    codes = {f.code for f in result.red_flags}
    assert {
        "SCR-FLAG-FORWARDER-END-USER",
        "SCR-FLAG-COUNTRY-MISMATCH",
        "SCR-FLAG-TRANSSHIPMENT",
        "SCR-FLAG-PAYMENT-CASH",
        "SCR-FLAG-EUC-END-USER-MISMATCH",
    } <= codes
    assert all(f.evidence for f in result.red_flags)
    # Forwarder-as-end-user is an "enhanced" flag in policy.yaml; flags never deny.
    assert result.route is Route.ENHANCED


def test_uncontrolled_item_with_a_red_flag_is_standard_not_nlr(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application(
        payment_method="cash",
        items=[
            {
                "description": "Cerium oxide polishing powder",
                "form": "oxide",
                "elements": [{"element": "Ce", "percent": "90"}],
                "quantity": "100",
                "unit": "kg",
                "value": "500",
                "currency": "USD",
            }
        ],
    )
    result = screen(engine, make_accepted, app)
    assert result.route is Route.STANDARD and "SCR-FLAG-PAYMENT-CASH" in result.rule_ids


def test_expired_or_inconsistent_euc_is_flagged(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application()
    app["documents"][0] |= {"issued_on": str(TODAY - timedelta(days=200)), "states_contract_number": "C-OTHER"}
    codes = {f.code for f in screen(engine, make_accepted, app).red_flags}
    assert {"SCR-FLAG-EUC-EXPIRED", "SCR-FLAG-EUC-CONTRACT-MISMATCH"} <= codes


def test_watch_list_party_goes_to_enhanced(engine: ScreeningEngine, make_accepted: Make, tmp_path: Path) -> None:
    watch = tmp_path / "watch.csv"
    watch.write_text(
        "list_id,entry_id,name,name_type,entity_type,country,program\n"
        "inhouse-watch,W1,Antriebstechnik Nord GmbH,primary,organization,DE,KYC-2026\n"
    )
    lists = [*engine.index.lists, *load_lists(watch)]
    watched = ScreeningEngine(engine.measures, engine.policy, build_index(lists))
    app = civilian_application()
    app["documents"] += [
        {"kind": kind, "reference": f"{kind}-1", "issued_on": "2026-11-20"}
        for kind in ("risk_assessment", "compliance_commitment")
    ]
    result = watched.screen(make_accepted(app), TODAY)
    assert result.route is Route.ENHANCED
    assert "SCR-PARTY-WATCH-LIST" in result.rule_ids
    assert result.list_versions["inhouse-watch"].startswith("undated+sha256:")


def test_reviewer_false_positive_is_suppressed_next_time(engine: ScreeningEngine, make_accepted: Make) -> None:
    app = civilian_application(
        parties=end_user("Lockhead Martin Corp", "US"), route={"final_destination_country": "US"}
    )
    accepted = make_accepted(app)
    first = engine.screen(accepted, TODAY)
    dismissed = {(h.list_id, h.entry_id, h.list_version) for h in first.hits}

    def find(_key: str, lid: str, eid: str, version: str, _on: date) -> Suppression | None:
        return Suppression("disp-1", ("alice", "bob")) if (lid, eid, version) in dismissed else None

    again = engine.screen(accepted, TODAY, find_disposition=find)
    assert first.route is Route.ENHANCED and again.route is Route.STANDARD
    # The suppressed hits stay in the result, marked, with the disposition and who approved it.
    assert [(h.list_id, h.entry_id) for h in again.hits] == [(h.list_id, h.entry_id) for h in first.hits]
    assert all(h.suppressed and h.disposition_id == "disp-1" and h.approved_by == ["alice", "bob"] for h in again.hits)
    assert again.active_hits == [] and not any(h.suppressed for h in first.hits)
