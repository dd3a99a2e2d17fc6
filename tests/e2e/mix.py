"""A realistic, labelled mix of applications with the exact outcome each must get."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

from lanthanide.testing.factories import civilian_application
from mix_rulesa import rulesa_cases
from mix_rulesb import rulesb_cases

# Controlled elements (Announcement 2025 No. 18) with a form and a matching HS code.
CONTROLLED = [
    ("Dy", "magnet", "8505111000", "Sintered NdFeB magnets with dysprosium"),
    ("Tb", "magnet", "8505111000", "NdFeB magnets with terbium grain-boundary diffusion"),
    ("Sm", "magnet", "8505119000", "Samarium-cobalt permanent magnets"),
    ("Gd", "oxide", "2846901930", "Gadolinium oxide 99.99%"),
    ("Y", "metal", "2805301700", "Yttrium metal ingots"),
    ("Sc", "sputtering_target", "8486909900", "Scandium-aluminium sputtering targets"),
    ("Lu", "oxide", "2846901993", "Lutetium oxide powder"),
]
# Light rare earths and other items outside every measure.
UNCONTROLLED = [
    ("Ce", "oxide", "2846101000", "Cerium oxide polishing powder"),
    ("La", "compound", "2846902000", "Lanthanum carbonate"),
    ("Nd", "magnet", "8505111000", "NdFeB magnets without heavy rare earths"),
    ("Pr", "metal", "2805301400", "Praseodymium-neodymium metal"),
]
CIVIL_USES = [
    ("automotive", "Traction motors for electric buses"),
    ("wind_energy", "Direct-drive generators for onshore wind turbines"),
    ("medical_imaging", "Contrast agent production for MRI"),
    ("consumer_electronics", "Vibration motors for phones"),
    ("industrial", "Servo motors for packaging machines"),
]
COUNTRIES = ["DE", "FR", "JP", "KR", "BR", "IN", "US", "VN", "MX", "ZA", "IT", "PL"]
LISTED_END_USERS = ["Intelligent Epitaxy Technology", "Clear Align LLC", "Lockheed Martin Corporation"]


@dataclass
class Case:
    """One submission and what must come of it."""

    app: dict[str, Any]
    expect: str  # approve_manually | no_licence_required | denied | rejected | info_requested | queued
    reason: str | None = None  # rule id that must be among the decision's reason codes (or screening's)
    field: str | None = None  # for rejections: the field that must be named
    duplicate: bool = False  # a resubmission of another case (same exporter and reference)
    queue: str | None = None  # for "queued": the review queue it must wait in, undecided


def _app(ref: str, rng: random.Random, country: str, item: tuple[str, str, str, str]) -> dict[str, Any]:
    element, form, hs, desc = item
    use = rng.choice(CIVIL_USES)
    first = rng.choice(["Nord", "Sud", "Pacific", "Delta", "Orion", "Vega"])
    second = rng.choice(["Motors", "Energy", "Devices", "Systems Civil"])
    end_user = f"{first} {second} {ref[-4:]} Ltd"
    app = civilian_application(ref)
    app["exporter"]["name"] = f"Exporter {rng.randint(1, 25)} Rare Earth Co., Ltd."
    app["exporter"]["identifiers"] = {"uscc": f"9136{rng.randint(10**13, 10**14 - 1)}"}
    app["items"] = [{
        "description": desc, "form": form, "hs_code": hs,
        "elements": [{"element": element, "percent": str(rng.choice([2, 4, 30, 99]))}],
        "quantity": str(rng.randint(1, 400)),
        "unit": rng.choice(["kg", "KGS", "kilograms"]) if form != "sputtering_target" else "piece",
        "value": str(rng.randint(1000, 90000)), "currency": rng.choice(["USD", "eur", "CNY"]),
    }]
    app["parties"] = [
        {"role": "importer", "name": end_user, "country": country},
        {"role": "end_user", "name": end_user, "country": country},
    ]
    app["end_use"] = {"category": use[0], "description": use[1]}
    app["route"] = {"port_of_loading": "Shanghai", "final_destination_country": country}
    for doc in app["documents"]:
        if doc["kind"] == "end_user_certificate":
            doc["states_end_user"] = end_user
            doc["states_contract_number"] = app["contract"]["number"]
    return app


def build_mix(seed: int = 7, tag: str = "E2E") -> list[Case]:
    """200+ submissions: approvals, no-licence, denials (military, listed party), rejections,
    incomplete applications and duplicates, shuffled."""
    rng = random.Random(seed)
    cases: list[Case] = []
    n = 0

    def ref() -> str:
        nonlocal n
        n += 1
        return f"{tag}-{n:04d}"

    for _ in range(40):
        cases.append(Case(_app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED)), "approve_manually"))
    for _ in range(40):
        cases.append(Case(_app(ref(), rng, rng.choice(COUNTRIES), rng.choice(UNCONTROLLED)), "no_licence_required"))
    for _ in range(30):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        app["end_use"] = rng.choice([
            {"category": "military", "description": "Magnets for actuators"},
            {"category": "industrial", "description": "Guidance fins actuators for missile programmes"},
        ])
        if app["end_use"]["category"] == "military":
            cases.append(Case(app, "denied", reason="SCR-ENDUSE-MILITARY"))
        else:  # words in free text never deny: enhanced review with the words as evidence
            cases.append(Case(app, "queued", queue="enhanced", reason="SCR-FLAG-TEXT-MILITARY"))
    for i in range(30):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        listed = LISTED_END_USERS[i % len(LISTED_END_USERS)]
        app["parties"][1]["name"] = listed
        for doc in app["documents"]:
            if doc["kind"] == "end_user_certificate":
                doc["states_end_user"] = listed
        cases.append(Case(app, "denied", reason="SCR-PARTY-CONTROL-LIST"))
    broken: list[tuple[str, Any]] = [
        ("items.0.unit", lambda a: a["items"][0].__setitem__("unit", "bushel")),
        ("items.0.quantity", lambda a: a["items"][0].__setitem__("quantity", "-3")),
        ("parties.0.country", lambda a: a["parties"][0].__setitem__("country", "Atlantis")),
        ("end_use", lambda a: a.pop("end_use")),
        ("items.0.currency", lambda a: a["items"][0].__setitem__("currency", "XYZ")),
        ("route.final_destination_country", lambda a: a["route"].__setitem__("final_destination_country", "")),
    ]
    for i in range(30):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        loc, breaker = broken[i % len(broken)]
        breaker(app)
        cases.append(Case(app, "rejected", field=loc))
    for _ in range(10):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        app["documents"] = [d for d in app["documents"] if d["kind"] != "end_user_certificate"]
        cases.append(Case(app, "info_requested"))
    cases += rulesa_cases(rng, ref)
    cases += rulesb_cases(ref)
    originals = [i for i, c in enumerate(cases) if c.expect in ("no_licence_required", "denied")]
    for i in rng.sample(originals, 20):
        cases.append(Case(copy.deepcopy(cases[i].app), cases[i].expect, reason=cases[i].reason, duplicate=True))
    rng.shuffle(cases)
    return cases
