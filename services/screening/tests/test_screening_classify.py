"""Item classification against dated measures (packaged measures.yaml and operator overrides)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lanthanide.contracts import Item
from lanthanide_screening.domain.classify import classify
from lanthanide_screening.domain.reference import ReferenceDataError, load_measures

MEASURES = load_measures()


def item(**kw: Any) -> Item:
    base: dict[str, Any] = {
        "description": "test item",
        "quantity": "10",
        "unit": "kg",
        "value": "100",
        "currency": "USD",
    }
    return Item.model_validate(base | kw)


def test_dysprosium_magnet_is_1c905a_under_no_18_from_its_effective_date() -> None:
    """MOFCOM/GAC Announcement 2025 No. 18, item IV (Dy, 1C905.a NdFeB magnets containing Dy), in force
    2025-04-04: rule SCR-CLASS-ELEMENT from that date, not the day before."""
    magnet = item(form="magnet", elements=[{"element": "Nd", "percent": "28"}, {"element": "Dy", "percent": "4"}])
    before = classify(magnet, date(2025, 4, 3), MEASURES)
    after = classify(magnet, date(2025, 4, 4), MEASURES)
    assert not before.licence_required and "not yet in force" in before.explanation
    assert after.licence_required
    assert after.control_codes == ["1C905.a"]
    assert after.measure_ids == ["MOFCOM-2025-18"]
    assert after.rule_ids == ["SCR-CLASS-ELEMENT"]


@pytest.mark.parametrize(("form", "suffix"), [("oxide", "b"), ("compound", "c"), ("sputtering_target", "a")])
def test_sub_item_follows_the_physical_form(form: str, suffix: str) -> None:
    """MOFCOM/GAC Announcement 2025 No. 18, item I: .a targets, .b oxide and its mixtures, .c compounds."""
    result = classify(item(form=form, elements=[{"element": "Sm", "percent": "50"}]), date(2025, 6, 1), MEASURES)
    assert result.control_codes == [f"1C902.{suffix}"]


def test_holmium_is_free_while_no_70_is_suspended_and_controlled_after() -> None:
    """MOFCOM 2025 No. 57 (Ho 1C909), suspended by No. 70 until 2026-11-10: not controlled on the
    last day of the window, controlled (1C909.b) the day after."""
    oxide = item(form="oxide", elements=[{"element": "Ho", "percent": "99"}])
    suspended = classify(oxide, date(2026, 11, 10), MEASURES)
    assert not suspended.licence_required
    assert "MOFCOM-2025-57 (suspended by MOFCOM-2025-70" in suspended.explanation
    assert suspended.rule_ids == ["SCR-CLASS-NOT-CONTROLLED"]
    resumed = classify(oxide, date(2026, 11, 11), MEASURES)
    assert resumed.licence_required and resumed.control_codes == ["1C909.b"]


def test_an_operator_can_extend_the_suspension_without_a_release(tmp_path: Path) -> None:
    """MOFCOM 2025 No. 70 (suspension until 2026-11-10; extension unknown): an operator changes
    effective_to in the data and the answer for 2027 follows, with a new data version."""
    text = (Path(__file__).resolve().parents[1] / "src/lanthanide_screening/reference/measures.yaml").read_text()
    extended = tmp_path / "measures.yaml"
    extended.write_text(text.replace("effective_to: 2026-11-10", "effective_to: 2027-11-10"))
    measures = load_measures(extended)
    oxide = item(form="oxide", elements=[{"element": "Er", "percent": "99"}])
    assert not classify(oxide, date(2027, 1, 1), measures).licence_required
    assert classify(oxide, date(2027, 1, 1), MEASURES).licence_required
    assert measures.version != MEASURES.version


def test_uncontrolled_light_rare_earth_needs_no_licence() -> None:
    """MOFCOM 2025 No. 18 and No. 57 list no cerium item: SCR-CLASS-NOT-CONTROLLED."""
    result = classify(item(form="oxide", elements=[{"element": "Ce", "percent": "90"}]), date(2026, 1, 1), MEASURES)
    assert not result.licence_required and result.rule_ids == ["SCR-CLASS-NOT-CONTROLLED"]


def test_a_reference_hs_code_without_composition_asks_for_the_composition() -> None:
    """MOFCOM/GAC Announcement 2025 No. 18 (reference HS codes): SCR-CLASS-COMPOSITION-MISSING."""
    result = classify(item(form="metal", hs_code="2805301200"), date(2026, 1, 1), MEASURES)
    assert not result.licence_required and result.rule_ids == ["SCR-CLASS-COMPOSITION-MISSING"]
    assert result.information_requested == ["composition"]


def test_declared_control_code_counts_even_without_elements() -> None:
    """MOFCOM/GAC Announcement 2025 No. 18, item III (1C904): SCR-CLASS-DECLARED-CODE."""
    result = classify(item(control_code="1C904.a"), date(2026, 1, 1), MEASURES)
    assert result.licence_required and "SCR-CLASS-DECLARED-CODE" in result.rule_ids


def test_foreign_made_magnet_above_de_minimis_after_the_suspension() -> None:
    """MOFCOM 2025 No. 61 Art. 1 (0.1 % China-origin value), suspended by No. 70 until 2026-11-10:
    SCR-CLASS-FOREIGN-MADE after the window; below de minimis not controlled."""
    magnet = item(
        form="magnet",
        foreign_made=True,
        china_origin_rare_earth_value_ratio="0.002",
        elements=[{"element": "Nd", "percent": "30"}],
    )
    assert not classify(magnet, date(2026, 6, 1), MEASURES).licence_required
    later = classify(magnet, date(2026, 12, 1), MEASURES)
    assert later.licence_required and later.rule_ids == ["SCR-CLASS-FOREIGN-MADE"]
    below = item(
        form="magnet",
        foreign_made=True,
        china_origin_rare_earth_value_ratio="0.0005",
        elements=[{"element": "Nd", "percent": "30"}],
    )
    assert not classify(below, date(2026, 12, 1), MEASURES).licence_required


def test_catch_all_makes_an_unlisted_item_licensable() -> None:
    """Export Control Law Art. 12 (third paragraph); Regulations on Export Control of Dual-use Items
    Art. 14: SCR-CLASS-CATCH-ALL."""
    result = classify(
        item(elements=[{"element": "Ce", "percent": "90"}]),
        date(2026, 1, 1),
        MEASURES,
        catch_all_reason="end use assessed as wmd",
    )
    assert result.licence_required and result.rule_ids == ["SCR-CLASS-CATCH-ALL"]


def test_measure_that_names_a_destination_applies_only_there(tmp_path: Path) -> None:
    """A measure naming a destination applies only to it (e.g. UN Security Council resolution 2397
    for DPRK): country neutrality of MOFCOM/GAC Announcement 2025 No. 18 otherwise."""
    text = (Path(__file__).resolve().parents[1] / "src/lanthanide_screening/reference/measures.yaml").read_text()
    named = tmp_path / "measures.yaml"
    named.write_text(
        text.replace(
            "    destinations: []\n    controls:\n      - {element: Ho",
            "    destinations: [XX]\n    controls:\n      - {element: Ho",
        )
    )
    measures = load_measures(named)
    oxide = item(form="oxide", elements=[{"element": "Ho", "percent": "99"}])
    assert classify(oxide, date(2027, 1, 1), measures, destination="XX").licence_required
    assert not classify(oxide, date(2027, 1, 1), measures, destination="DE").licence_required


def test_bad_reference_data_names_the_field(tmp_path: Path) -> None:
    """Reference data of the measures (MOFCOM announcements as data): a bad field is refused with
    its location, never loaded half."""
    bad = tmp_path / "measures.yaml"
    bad.write_text(
        "version: x\nsub_items: {}\nmeasures:\n  - id: M1\n    title: t\n    source: s\n"
        "    kind: item_control\n    effective_from: not-a-date\n"
    )
    with pytest.raises(ReferenceDataError, match=r"measures.yaml: measures.0.effective_from"):
        load_measures(bad)
