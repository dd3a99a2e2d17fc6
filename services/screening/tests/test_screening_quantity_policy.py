"""SCR-FLAG-QUANTITY thresholds are policy settings with a stated basis, not regulations.

Source: know-your-customer red flag "quantity out of line with the stated use"; no MOFCOM
announcement or article sets a quantity (docs/rules.md, "Quantity thresholds"). The data says so
(`status: policy_setting`, a `basis` for the table and for every threshold), the loader refuses a
table without them, and the flag's evidence tells the reviewer it rests on a policy setting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from lanthanide.contracts import ApplicationAccepted
from lanthanide.testing.factories import civilian_application
from lanthanide_screening.domain.reference import QuantityThresholds, load_policy
from lanthanide_screening.domain.screen import ScreeningEngine
from pydantic import ValidationError

Make = Callable[..., ApplicationAccepted]


def test_every_threshold_is_a_policy_setting_with_its_basis() -> None:
    """policy.yaml: the table is marked a policy setting, with a source, a date and a basis, and
    every element/form threshold states why its number is what it is."""
    table = load_policy().quantity_thresholds
    assert table.status == "policy_setting" and table.basis.strip() and table.source
    assert {t.element for t in table.thresholds} == {"Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"}
    assert all(t.basis.strip() for t in table.thresholds)


@pytest.mark.parametrize("drop", ["status", "basis"])
def test_a_table_without_status_or_basis_is_refused(drop: str) -> None:
    """Near case (know-your-customer red flag; no regulation sets a quantity): thresholds published
    without saying what they rest on do not load."""
    doc = load_policy().quantity_thresholds.model_dump(mode="json")
    del doc[drop]
    with pytest.raises(ValidationError, match=drop):
        QuantityThresholds.model_validate(doc)
    row = load_policy().quantity_thresholds.model_dump(mode="json")
    del row["thresholds"][0]["basis"]
    with pytest.raises(ValidationError, match="basis"):
        QuantityThresholds.model_validate(row)


def test_the_flag_says_it_rests_on_a_policy_setting(engine: ScreeningEngine, make_accepted: Make) -> None:
    """SCR-FLAG-QUANTITY (know-your-customer red flag "quantity out of line with the stated use"):
    the evidence names the policy setting's source and basis, not a regulation."""
    items: list[dict[str, Any]] = [
        {
            "description": "Lutetium oxide 99.99%",
            "form": "oxide",
            "hs_code": "2846901993",
            "elements": [{"element": "Lu", "percent": "80"}],
            "quantity": "1000",
            "unit": "kg",
            "value": "100000",
            "currency": "USD",
        }
    ]
    result = engine.screen(make_accepted(civilian_application(items=items)), date(2026, 12, 1))
    flag = next(f for f in result.red_flags if f.code == "SCR-FLAG-QUANTITY")
    assert "policy setting, not a regulation" in flag.evidence and "basis: rarest of the seven" in flag.evidence
