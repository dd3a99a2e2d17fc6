"""End use and red flags, one test per rule (docs/rules.md, "End use and red flags"): each names
its source and checks the case that must fire and the near case that must not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from lanthanide.contracts import Application, ApplicationAccepted, Route
from lanthanide.testing.factories import civilian_application
from lanthanide_screening.domain.enduse import TextFinder
from lanthanide_screening.domain.screen import ScreeningEngine

TODAY = date.today()
Make = Callable[..., ApplicationAccepted]


def run(engine: ScreeningEngine, make: Make, app: dict[str, Any], on: date = TODAY) -> Any:
    return engine.screen(make(app), on)


def end_users(**kw: Any) -> list[dict[str, Any]]:
    return [
        {"role": "importer", "name": "Antriebstechnik Nord GmbH", "country": "DE"},
        {"role": "end_user", "name": "Antriebstechnik Nord GmbH", "country": "DE", **kw},
    ]


@pytest.mark.parametrize(
    ("category", "rule"),
    [("military", "SCR-ENDUSE-MILITARY"), ("wmd", "SCR-ENDUSE-WMD"), ("terrorism", "SCR-ENDUSE-TERRORISM")],
)
def test_declared_end_use_category_denies(
    engine: ScreeningEngine, make_accepted: Make, category: str, rule: str
) -> None:
    """SCR-ENDUSE-MILITARY / -WMD / -TERRORISM. Source: Export Control Law Art. 13 (end use weighed)
    and MOFCOM 2025 No. 18 policy statement (military users and uses, WMD and terrorism: in
    principle not approved). Fires on the declared category; the near case (same words, a civilian
    category) must not deny."""
    text = "Magnets for actuators in armoured vehicles"
    denied = run(engine, make_accepted, civilian_application(end_use={"category": category, "description": text}))
    assert denied.route is Route.DENY
    assert denied.reasons[0].code == rule and denied.reasons[0].action == "deny"
    assert denied.reasons[0].evidence == [category]
    near = run(engine, make_accepted, civilian_application(end_use={"category": "industrial", "description": text}))
    assert near.route is Route.ENHANCED and rule not in near.rule_ids


def test_declared_military_end_user_denies(engine: ScreeningEngine, make_accepted: Make) -> None:
    """SCR-ENDUSER-MILITARY. Source: MOFCOM 2025 No. 18 policy statement (military end users: in
    principle not approved). Only the declared `military_end_user` denies; the near case, a
    business description naming a defence ministry, raises SCR-FLAG-ENDUSER-MILITARY-TEXT."""
    denied = run(engine, make_accepted, civilian_application(parties=end_users(military_end_user=True)))
    assert denied.route is Route.DENY and denied.reasons[0].code == "SCR-ENDUSER-MILITARY"
    near = run(
        engine,
        make_accepted,
        civilian_application(parties=end_users(business_description="supplier to the Ministry of Defence")),
    )
    assert near.route is Route.ENHANCED
    assert "SCR-ENDUSER-MILITARY" not in near.rule_ids and "SCR-FLAG-ENDUSER-MILITARY-TEXT" in near.rule_ids


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("Airport security scanners for weapons detection", "SCR-FLAG-TEXT-MILITARY", "weapons"),
        ("Humanitarian demining of unexploded munitions", "SCR-FLAG-TEXT-MILITARY", "munitions"),
        ("Counter-terrorism X-ray screening at border posts", "SCR-FLAG-TEXT-TERRORISM", "terrorism"),
        ("Inverters for a solar park on a former military airfield", "SCR-FLAG-TEXT-MILITARY", "military"),
        ("Motors; the supplier must be free of military use", "SCR-FLAG-TEXT-MILITARY", "military"),
    ],
)
def test_free_text_never_denies_it_flags_for_enhanced_review(
    engine: ScreeningEngine, make_accepted: Make, text: str, code: str, words: str
) -> None:
    """SCR-FLAG-TEXT-MILITARY / -TERRORISM. Source: Regulations on Export Control of Dual-use Items
    (2024), the authority's case-by-case review; denial needs a declared fact. Civilian texts that
    name weapons, munitions or terrorism go to enhanced review with the words as evidence; the near
    case (the same application without the words) raises no flag."""
    result = run(engine, make_accepted, civilian_application(end_use={"category": "industrial", "description": text}))
    assert result.route is Route.ENHANCED
    flag = next(f for f in result.red_flags if f.code == code)
    assert words in flag.evidence.casefold() and "end_use.description" in flag.evidence
    reason = next(r for r in result.reasons if r.code == code)
    assert reason.action == "enhanced" and reason.evidence == [flag.evidence]
    near = run(
        engine,
        make_accepted,
        civilian_application(end_use={"category": "industrial", "description": "Servo motors for packaging machines"}),
    )
    assert near.route is Route.STANDARD and not any(f.code.startswith("SCR-FLAG-TEXT") for f in near.red_flags)


@pytest.mark.parametrize("field", ["notes", "item"])
def test_every_free_text_field_is_read(engine: ScreeningEngine, make_accepted: Make, field: str) -> None:
    """SCR-FLAG-TEXT-MILITARY on notes and item descriptions. Source: as above (free text is
    evidence, never a decision). The near case is the plain factory application."""
    app = civilian_application()
    if field == "notes":
        app["notes"] = "Onward sale to the navy is planned"
    else:
        app["items"][0]["description"] = "NdFeB magnets for missile fins"
    result = run(engine, make_accepted, app)
    assert result.route is Route.ENHANCED and "SCR-FLAG-TEXT-MILITARY" in result.rule_ids
    assert run(engine, make_accepted, civilian_application()).route is Route.STANDARD


@pytest.mark.parametrize("words", ["defence", "defense", "air force", "navy", "army", "armed forces"])
def test_vocabulary_covers_the_forces(engine: ScreeningEngine, make_accepted: Make, words: str) -> None:
    """SCR-FLAG-TEXT-MILITARY vocabulary (policy.yaml military_patterns). Source: Export Control Law
    Art. 12 catch-all (military risk). Fires on each term; the near case ("armoire", "navigation")
    shares letters but not the word."""
    desc = f"Motors for the {words} training centre"
    result = run(engine, make_accepted, civilian_application(end_use={"category": "industrial", "description": desc}))
    assert "SCR-FLAG-TEXT-MILITARY" in result.rule_ids
    near = civilian_application(
        end_use={"category": "industrial", "description": "Motors for navigation armoire units"}
    )
    assert "SCR-FLAG-TEXT-MILITARY" not in run(engine, make_accepted, near).rule_ids


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("non-military and military drones", ["military"]),
        ("without delay, for missile guidance", ["missile guidance"]),
        ("civil use but also military trials", ["military"]),
        ("not for military use", []),
        ("no military application whatsoever", []),
        ("non-military drones", []),
        ("never to be used in weapons", []),
    ],
)
def test_negation_is_precise_both_ways(text: str, found: list[str]) -> None:
    """Negation scope (policy.yaml end_use.negations). Source: Regulations on Export Control of
    Dual-use Items (2024): a stated civilian use is credited only when it is what the text says.
    A negation counts only up to a clause break or a coordination."""
    finder = TextFinder(frozenset({"not", "no", "non", "never", "without"}), 4)
    patterns = ["(missile|weapons?) guidance", "missiles?", "military", "weapons?"]
    assert finder.find(text, patterns) == found


def test_catch_all_uncontrolled_item_with_military_risk_needs_a_licence(
    engine: ScreeningEngine, make_accepted: Make
) -> None:
    """SCR-CLASS-CATCH-ALL. Source: Export Control Law Art. 12 (third paragraph), Regulations on
    Export Control of Dual-use Items Art. 14. An uncontrolled item (cerium oxide) with a military
    risk in the application needs a licence and goes to review, never no-licence-required; the near
    case (the same item, a civilian text) is no-licence-required."""
    item = {
        "description": "Cerium oxide polishing powder",
        "form": "oxide",
        "hs_code": "2846101000",
        "elements": [{"element": "Ce", "percent": "99"}],
        "quantity": "100",
        "unit": "kg",
        "value": "900",
        "currency": "USD",
    }
    risky = civilian_application(
        items=[item], end_use={"category": "industrial", "description": "Lens polishing for missile seekers"}
    )
    result = run(engine, make_accepted, risky)
    assert result.licence_required and result.route is Route.ENHANCED
    assert "SCR-CLASS-CATCH-ALL" in result.classifications[0].rule_ids
    reason = next(r for r in result.reasons if r.code == "SCR-CLASS-CATCH-ALL")
    assert reason.source and "Art. 12" in reason.source and reason.action == "enhanced"
    # Structured: the evidence is the words found, each risk's rule id is its own reason; no
    # "RULE: text" string is packed into the evidence.
    assert reason.evidence and not any(e.startswith("SCR-") for e in reason.evidence)
    assert any("missile" in e for e in reason.evidence)
    risk_codes = {r.code for r in result.reasons if r.code.startswith("SCR-FLAG-TEXT-")}
    assert risk_codes and all(code in reason.text for code in risk_codes)
    near = civilian_application(
        items=[item], end_use={"category": "industrial", "description": "Lens polishing for cameras"}
    )
    near_result = run(engine, make_accepted, near)
    assert near_result.route is Route.NO_LICENCE_REQUIRED and not near_result.licence_required


def test_civil_nuclear_is_enhanced_review_not_denial(engine: ScreeningEngine, make_accepted: Make) -> None:
    """SCR-ENDUSE-NUCLEAR. Source: Export Control Law Art. 12 (WMD means nuclear weapons, not civil
    nuclear power). A declared nuclear category goes to enhanced review; the near case, a declared
    WMD category, denies (SCR-ENDUSE-WMD)."""
    civil = civilian_application(end_use={"category": "nuclear", "description": "Control rods for a civil reactor"})
    result = run(engine, make_accepted, civil)
    assert result.route is Route.ENHANCED and "SCR-ENDUSE-NUCLEAR" in result.rule_ids
    assert not result.end_use.wmd
    wmd = civilian_application(end_use={"category": "wmd", "description": "Nuclear explosive device"})
    assert run(engine, make_accepted, wmd).route is Route.DENY


def test_quantity_out_of_line_per_element_and_form(engine: ScreeningEngine, make_accepted: Make) -> None:
    """SCR-FLAG-QUANTITY (policy.yaml quantity_thresholds). Source: know-your-customer red flag
    "quantity out of line with the stated use" (MOFCOM dual-use export compliance guidance). 40 t of
    terbium metal for hobby magnets flags; the near case, 500 kg, does not."""

    def tb(kg: str) -> dict[str, Any]:
        return civilian_application(
            items=[
                {
                    "description": "Terbium metal 99.9%",
                    "form": "metal",
                    "hs_code": "2805301300",
                    "elements": [{"element": "Tb", "percent": "99.9"}],
                    "quantity": kg,
                    "unit": "kg",
                    "value": "100000",
                    "currency": "USD",
                }
            ],
            end_use={"category": "permanent_magnets_motors", "description": "Hobby magnets for model makers"},
        )

    result = run(engine, make_accepted, tb("40000"))
    flag = next(f for f in result.red_flags if f.code == "SCR-FLAG-QUANTITY")
    assert "Tb as metal" in flag.evidence and "39960 kg" in flag.evidence
    assert "SCR-FLAG-QUANTITY" not in run(engine, make_accepted, tb("150")).rule_ids


def test_end_user_certificate_valid_six_calendar_months_in_screening(
    engine: ScreeningEngine, make_accepted: Make
) -> None:
    """SCR-FLAG-EUC-EXPIRED with DOC-EUC-VALIDITY (six calendar months, one definition in the
    contracts). Source: MOFCOM end-user and end-use certificate requirements (Regulations on Export
    Control of Dual-use Items, end-user certificate). Issued 31 Aug 2026: valid through 28 Feb 2027
    (six calendar months), expired on 1 Mar 2027, which 183 days would still have accepted."""
    app = civilian_application()
    app["documents"][0]["issued_on"] = "2026-08-31"
    doc = Application.model_validate(app).documents[0]
    assert doc.valid_until() == date(2027, 2, 28)
    assert "SCR-FLAG-EUC-EXPIRED" not in run(engine, make_accepted, app, on=date(2027, 2, 28)).rule_ids
    assert "SCR-FLAG-EUC-EXPIRED" in run(engine, make_accepted, app, on=date(2027, 3, 1)).rule_ids
    # A stated expiry shortens the six months and never extends them.
    app["documents"][0]["expires_on"] = str(date(2027, 12, 31))
    assert Application.model_validate(app).documents[0].valid_until() == date(2027, 2, 28)
    app["documents"][0]["expires_on"] = str(date(2026, 8, 31) + timedelta(days=30))
    assert Application.model_validate(app).documents[0].valid_until() == date(2026, 9, 30)


def test_reasons_are_structured_with_measure_and_version(engine: ScreeningEngine, make_accepted: Make) -> None:
    """Structured reasons (Reason in the contracts). A licence-required item's reason names the
    rule, the measure (MOFCOM-2025-18) and the measure-set version; route_reasons is the same list
    rendered for older subscribers."""
    result = run(engine, make_accepted, civilian_application())
    assert result.route_reasons == [f"{r.code}: {r.text}" for r in result.reasons]
    element = next(r for r in result.reasons if r.code == "SCR-CLASS-ELEMENT")
    assert element.measure_id == "MOFCOM-2025-18" and element.version == engine.measures.version
    assert element.evidence == ["1C905.a"]
