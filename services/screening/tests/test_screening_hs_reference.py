"""MOFCOM/GAC Announcement 2025 No. 18 (in force 2025-04-04), items I-VII: the reference HS codes
("参考海关商品编号") it gives for metals, targets, oxides and compounds of Sm, Gd, Tb, Dy, Lu, Sc and Y.

Rule SCR-CLASS-COMPOSITION-MISSING: an item whose HS code is one of those reference codes and that
declares no composition is incomplete (information requested: composition), whatever its
description. Near case: a neighbouring code No. 18 does not list (cerium, lanthanum, neodymium
compounds) is not incomplete on that ground.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from lanthanide.contracts import ApplicationAccepted, Route
from lanthanide.testing.factories import civilian_application
from lanthanide_screening.domain.reference import load_measures
from lanthanide_screening.domain.screen import ScreeningEngine

Make = Callable[..., ApplicationAccepted]
AS_OF = date(2026, 12, 1)
NO_18 = load_measures().get("MOFCOM-2025-18")
assert NO_18 is not None
ALL_CODES = sorted({code for c in NO_18.controls for code in c.hs_reference} | set(NO_18.mixed_hs_reference))
#: Neighbours of listed codes that No. 18 does not list: Nd metal, other RE metals, "other" oxides,
#: La and Nd oxide (the tariff lines between Y oxide and Dy oxide), La chloride, Nd fluoride,
#: cerium compounds.
NEAR_CODES = [
    "2805301100", "2805301990", "2846901999", "2846901200", "2846901300", "2846902300", "2846903400", "2846101000",
]
#: Each element's own oxide line (item .b): read in No. 18 for Sm and Gd; the PRC tariff's line
#: naming the oxide for Tb, Dy, Y and Sc; Lu oxide's line is the >= 30 % medium/heavy one.
OXIDE_CODES = {
    "Sm": "2846901940", "Gd": "2846901930", "Tb": "2846901600", "Dy": "2846901500",
    "Y": "2846901100", "Sc": "2846901980", "Lu": "2846901992",
}


def _item_app(hs: str) -> dict[str, Any]:
    app = civilian_application()
    app["items"] = [
        {
            "description": "Powder for industrial use",
            "form": "compound",
            "hs_code": hs,
            "quantity": "10",
            "unit": "kg",
            "value": "1000",
            "currency": "USD",
        }
    ]
    return app


def test_every_element_carries_its_metal_target_oxide_and_compound_codes() -> None:
    """No. 18 items I-VII: each of the seven elements carries a metal code, the two target codes,
    the mixed-oxide code and at least one compound code of heading 2846.9 beyond the oxides."""
    by_element = {c.element: set(c.hs_reference) for c in NO_18.controls}
    assert set(by_element) == {"Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"}
    for element, codes in by_element.items():
        assert any(c.startswith("28053") for c in codes), element
        assert {"3824999922", "8486909110", "2846901993"} <= codes, element
        assert any(c.startswith("28469") and not c.startswith("284690199") for c in codes), element
    assert {
        "2846901940",
        "2846902810",
        "2846902910",
        "2846903910",
        "2846904820",
        "2846904910",
        "2846909920",
    } <= by_element["Sm"]  # item I(B), I(C) as published


@pytest.mark.parametrize(("element", "hs"), sorted(OXIDE_CODES.items()))
def test_each_element_carries_its_own_oxide_code(
    engine: ScreeningEngine, make_accepted: Make, element: str, hs: str
) -> None:
    """No. 18 items I(B)-VII(B), "<element> oxide and its mixtures": an oxide declared under its own
    tariff line without a composition is incomplete, the reason naming that element's control."""
    by_element = {c.element: c for c in NO_18.controls}
    assert hs in by_element[element].hs_reference
    app = _item_app(hs)
    app["items"][0]["form"] = "oxide"
    result = engine.screen(make_accepted(app), AS_OF)
    assert result.route is Route.INCOMPLETE, hs
    assert "items.0.composition:missing" in result.missing_documents
    [classification] = result.classifications
    assert classification.rule_ids == ["SCR-CLASS-COMPOSITION-MISSING"]
    assert f"reference code of {by_element[element].code} ({element})" in classification.explanation


@pytest.mark.parametrize("hs", ALL_CODES)
def test_reference_code_without_composition_is_incomplete(
    engine: ScreeningEngine, make_accepted: Make, hs: str
) -> None:
    """SCR-CLASS-COMPOSITION-MISSING for every reference code of No. 18 in the data."""
    result = engine.screen(make_accepted(_item_app(hs)), AS_OF)
    assert result.route is Route.INCOMPLETE, hs
    assert "items.0.composition:missing" in result.missing_documents
    assert result.classifications[0].information_requested == ["composition"]


@pytest.mark.parametrize("hs", NEAR_CODES)
def test_near_code_not_listed_is_not_incomplete_on_that_ground(
    engine: ScreeningEngine, make_accepted: Make, hs: str
) -> None:
    """Near case: a code No. 18 does not list asks for no composition."""
    assert hs not in ALL_CODES
    result = engine.screen(make_accepted(_item_app(hs)), AS_OF)
    assert "items.0.composition:missing" not in result.missing_documents
    assert result.classifications[0].information_requested == []
