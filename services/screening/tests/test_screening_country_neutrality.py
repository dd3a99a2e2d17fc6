"""Country neutrality (MOFCOM/GAC Announcement 2025 No. 18: the measures are "not directed at any
specific country or region"; docs/rules.md "Country neutrality"): changing only the destination
never changes the route, unless a dated measure names that destination."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pycountry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lanthanide.contracts import ApplicationAccepted
from lanthanide.testing.factories import civilian_application
from lanthanide_screening.domain.reference import PACKAGE_REFERENCE, load_measures
from lanthanide_screening.domain.screen import ScreeningEngine

COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries if c.alpha_2 != "CN")
ELEMENTS = ["Dy", "Tb", "Sm", "Ho", "Er", "Ce", "La", "Nd", "Y", "Sc"]
FORMS = ["metal", "alloy", "magnet", "oxide", "compound", "sputtering_target", "other"]
CATEGORIES = [
    "automotive",
    "wind_energy",
    "medical_imaging",
    "consumer_electronics",
    "research",
    "industrial",
    "semiconductor",
    "artificial_intelligence",
    "military",
    "humanitarian",
]
DESCRIPTIONS = [
    "Traction motors for electric city buses",
    "Direct-drive generators for offshore wind turbines",
    "Sputtering targets for a logic fab",
    "Components for missile guidance",
    "Research on autonomous drones for battlefield reconnaissance",
    "Field hospital MRI units",
]


@st.composite
def applications(draw: st.DrawFn) -> dict[str, Any]:
    items = [
        {
            "description": "rare-earth item",
            "form": draw(st.sampled_from(FORMS)),
            "elements": [{"element": e, "percent": "10"} for e in draw(st.sets(st.sampled_from(ELEMENTS), max_size=3))],
            "quantity": str(draw(st.integers(1, 200_000))),
            "unit": "kg",
            "value": "1000",
            "currency": "USD",
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    end_use: dict[str, Any] = {
        "category": draw(st.sampled_from(CATEGORIES)),
        "description": draw(st.sampled_from(DESCRIPTIONS)),
    }
    if end_use["category"] == "semiconductor":
        end_use["semiconductor_node_nm"] = draw(st.sampled_from([3, 14, 28, 90]))
    return civilian_application(
        items=items,
        end_use=end_use,
        humanitarian=end_use["category"] == "humanitarian",
        payment_method=draw(st.sampled_from(["bank_transfer", "letter_of_credit", "cash"])),
        route={
            "final_destination_country": "DE",
            "transit_countries": draw(st.lists(st.sampled_from(["AE", "SG", "NL"]), max_size=2)),
        },
    )


def with_destination(app: dict[str, Any], country: str) -> dict[str, Any]:
    """The same application shipped to another country: destination and the foreign parties move."""
    moved = {**app, "route": {**app["route"], "final_destination_country": country}}
    moved["parties"] = [{**p, "country": country} for p in app["parties"]]
    return moved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    app=applications(),
    a=st.sampled_from(COUNTRIES),
    b=st.sampled_from(COUNTRIES),
    on=st.sampled_from([date(2025, 6, 1), date(2026, 6, 1), date(2026, 12, 1)]),
)
def test_destination_alone_never_changes_the_route(
    engine: ScreeningEngine,
    make_accepted: Callable[..., ApplicationAccepted],
    app: dict[str, Any],
    a: str,
    b: str,
    on: date,
) -> None:
    """MOFCOM/GAC Announcement 2025 No. 18 ("not directed at any specific country or region"):
    two applications differing only in destination get the same route and rules."""
    assert not any(m.destinations for m in engine.measures.measures), "packaged measures name no country"
    first = engine.screen(make_accepted(with_destination(app, a)), on)
    second = engine.screen(make_accepted(with_destination(app, b)), on)
    assert first.route is second.route
    assert first.rule_ids == second.rule_ids


def test_a_dated_measure_naming_a_destination_is_the_only_way_it_matters(
    engine: ScreeningEngine, make_accepted: Callable[..., ApplicationAccepted], tmp_path: Path
) -> None:
    """Near case: only a dated measure that names a destination (with its legal source, e.g. UN
    Security Council resolution 2397) makes the destination matter, and only for that country."""
    text = (PACKAGE_REFERENCE / "measures.yaml").read_text()
    # A hypothetical measure: cerium controlled for exports to one named country only.
    text = text.replace(
        "\n  - id: MOFCOM-2025-70\n",
        """
  - id: TEST-NAMED-DESTINATION
    title: "test measure naming one destination"
    source: "test"
    kind: item_control
    effective_from: 2026-01-01
    destinations: [NZ]
    controls:
      - {element: Ce, code: 1C999, sub_items: {oxide: b}}

  - id: MOFCOM-2025-70
""",
    )
    (tmp_path / "measures.yaml").write_text(text)
    named = ScreeningEngine(load_measures(tmp_path / "measures.yaml"), engine.policy, engine.index)
    app = civilian_application(
        items=[
            {
                "description": "Cerium oxide",
                "form": "oxide",
                "quantity": "10",
                "unit": "kg",
                "value": "10",
                "currency": "USD",
                "elements": [{"element": "Ce", "percent": "90"}],
            }
        ]
    )
    to_nz = named.screen(make_accepted(with_destination(app, "NZ")), date(2026, 6, 1))
    to_au = named.screen(make_accepted(with_destination(app, "AU")), date(2026, 6, 1))
    assert to_nz.route.value == "standard" and to_nz.classifications[0].measure_ids == ["TEST-NAMED-DESTINATION"]
    assert to_au.route.value == "no_licence_required"
