"""End-use and red-flag cases for the end-to-end mix (docs/rules.md, "End use and red flags"):
civilian texts that name weapons go to review, only declared facts deny, quantities out of line
flag. Each with its exact expected outcome."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

CERIUM_OXIDE = ("Ce", "oxide", "2846101000", "Cerium oxide polishing powder")
DY_MAGNETS = ("Dy", "magnet", "8505111000", "Sintered NdFeB magnets with dysprosium")


def rulesb_cases(ref: Callable[[], str]) -> list[Any]:
    """The corrected end-use cases: (application, expected outcome, queue, rule id)."""
    from mix import Case, _app

    rng = random.Random(13)

    def app(item: tuple[str, str, str, str], category: str, text: str) -> dict[str, Any]:
        built = _app(ref(), rng, "DE", item)
        built["end_use"] = {"category": category, "description": text}
        return built

    cases = [
        Case(
            app(DY_MAGNETS, "industrial", "Airport security scanners for weapons detection"),
            "queued",
            queue="enhanced",
            reason="SCR-FLAG-TEXT-MILITARY",
        ),
        Case(
            app(DY_MAGNETS, "humanitarian", "Humanitarian demining of unexploded munitions"),
            "queued",
            queue="enhanced",
            reason="SCR-FLAG-TEXT-MILITARY",
        ),
        Case(
            app(DY_MAGNETS, "industrial", "Counter-terrorism X-ray screening at airports"),
            "queued",
            queue="enhanced",
            reason="SCR-FLAG-TEXT-TERRORISM",
        ),
        Case(
            app(DY_MAGNETS, "industrial", "Motors; the supplier must be free of military use"),
            "queued",
            queue="enhanced",
            reason="SCR-FLAG-TEXT-MILITARY",
        ),
        # An uncontrolled item with a military word: the catch-all, never no-licence-required.
        Case(
            app(CERIUM_OXIDE, "industrial", "Glass polishing for a solar park on a former military airfield"),
            "queued",
            queue="enhanced",
            reason="SCR-CLASS-CATCH-ALL",
        ),
        Case(
            app(DY_MAGNETS, "nuclear", "Control rod drive motors for a civil nuclear power plant"),
            "queued",
            queue="enhanced",
            reason="SCR-ENDUSE-NUCLEAR",
        ),
        # Negated: a civilian statement, the ordinary reviewer queue.
        Case(app(DY_MAGNETS, "automotive", "Traction motors for city buses, not for military use"), "approve_manually"),
    ]
    declared = app(DY_MAGNETS, "industrial", "Servo motors for test benches")
    declared["parties"][1]["military_end_user"] = True
    cases.append(Case(declared, "denied", reason="SCR-ENDUSER-MILITARY"))
    terbium = app(
        ("Tb", "metal", "2805301300", "Terbium metal 99.9%"),
        "permanent_magnets_motors",
        "Hobby magnets for model makers",
    )
    terbium["items"][0].update({"quantity": "40", "unit": "t"})
    cases.append(Case(terbium, "queued", queue="standard", reason="SCR-FLAG-QUANTITY"))
    return cases
