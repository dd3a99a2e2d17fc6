"""End-to-end cases for the classification and party corrections (docs/rules.md, "Classification
and dates", "Parties and lists"), each with the exact outcome it must get. Hooked into mix.build_mix."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from lanthanide.dates import prc_today


def rulesa_cases(rng: random.Random, ref: Callable[[], str]) -> list[Any]:
    """A missing composition, a foreign-made magnet below No. 61's de minimis, a technology transfer."""
    from mix import CONTROLLED, Case, _app  # late: mix imports this module

    cases = []
    # "Dysprosium oxide 99.9 %" with no composition: information requested (composition), no decision.
    app = _app(ref(), rng, "DE", CONTROLLED[0])
    app["items"][0] = {
        "description": "Dysprosium oxide 99.9 %",
        "form": "oxide",
        "hs_code": "2846901993",
        "quantity": "20",
        "unit": "kg",
        "value": "9000",
        "currency": "USD",
    }
    cases.append(Case(app, "info_requested"))
    # Foreign-made NdFeB magnet: China-origin Dy worth 0.05 % of its value (Nd is not a Part-1
    # material and is not counted): below No. 61's 0.1 %, no licence required, not under No. 18.
    app = _app(ref(), rng, "FR", CONTROLLED[0])
    app["exporter"]["country"] = "DE"
    app["items"][0] = {
        "description": "NdFeB magnets made in Germany",
        "form": "magnet",
        "hs_code": "8505111000",
        "elements": [{"element": "Nd", "percent": "28"}, {"element": "Dy", "percent": "1"}],
        "foreign_made": True,
        "china_origin_materials": [{"element": "Dy", "value": "5"}, {"element": "Nd", "value": "3000"}],
        "quantity": "100",
        "unit": "kg",
        "value": "10000",
        "currency": "EUR",
    }
    cases.append(Case(app, "no_licence_required", reason="SCR-CLASS-FOREIGN-BELOW-DE-MINIMIS"))
    # A technology transfer is never cleared automatically: a reviewer approves it.
    app = _app(ref(), rng, "BR", CONTROLLED[0])
    app["items"][0] = {
        "description": "Transfer of rare-earth separation process know-how",
        "form": "technology",
        "quantity": "1",
        "unit": "set",
        "value": "250000",
        "currency": "USD",
    }
    cases.append(Case(app, "approve_manually"))
    cases += party_cases(rng, ref)
    return cases


def _named_end_user(app: dict[str, Any], name: str, country: str) -> dict[str, Any]:
    app["parties"][1].update({"name": name, "country": country})
    for doc in app["documents"]:
        if doc["kind"] == "end_user_certificate":
            doc["states_end_user"] = name
    return app


def party_cases(rng: random.Random, ref: Callable[[], str]) -> list[Any]:
    """A lifted listing and a watch-list party: both wait in enhanced review, neither is denied."""
    from mix import CONTROLLED, Case, _app

    # MOFCOM 2025 No. 13's entities: measures suspended 2025-05-14, lifted 2025-11-10. A listing
    # whose measures are not in force never denies: enhanced review with the dated history.
    lifted = _named_end_user(_app(ref(), rng, "US", CONTROLLED[0]), "Sourcemap, Inc.", "US")
    cases = [Case(lifted, "queued", queue="enhanced", reason="SCR-FLAG-LISTED-MEASURES-SUSPENDED")]
    # MOFCOM 2026 No. 12 (watch list), with the risk-assessment report and the compliance
    # commitment Art. 26 of the Regulations requires: enhanced review, clock off, never a denial.
    watch = _named_end_user(_app(ref(), rng, "JP", CONTROLLED[0]), "SUBARU Corporation", "JP")
    issued = (prc_today() - timedelta(days=10)).isoformat()
    watch["documents"] += [
        {"kind": kind, "reference": f"{kind}-1", "issued_on": issued}
        for kind in ("risk_assessment", "compliance_commitment")
    ]
    cases.append(Case(watch, "queued", queue="enhanced", reason="SCR-PARTY-WATCH-LIST"))
    return cases
