"""Builders for realistic applications (plain dicts, as upstream systems send them)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import orjson
from lanthanide.contracts import (
    Application,
    DecisionMade,
    DecisionOutcome,
    Licence,
    LicenceItem,
    LicenceType,
)
from lanthanide.contracts.envelope import envelope_json
from lanthanide.dates import prc_today
from lanthanide.ids import case_id_for


def civilian_application(ref: str = "PO-2026-0001", **overrides: Any) -> dict[str, Any]:
    """A complete, compliant application: Dy-bearing NdFeB magnets for EV motors in Germany."""
    today = prc_today()  # every date is a PRC date
    app: dict[str, Any] = {
        "external_reference": ref,
        "exporter": {
            "role": "exporter",
            "name": "Ganzhou Rare Earth Magnetics Co., Ltd.",
            "country": "CN",
            "identifiers": {"uscc": "91360700MA35XXXX1A"},
        },
        "items": [
            {
                "description": "Sintered NdFeB magnets containing dysprosium",
                "form": "magnet",
                "hs_code": "8505111000",
                "elements": [{"element": "Nd", "percent": "28"}, {"element": "Dy", "percent": "4"}],
                "quantity": "500",
                "unit": "kg",
                "value": "45000",
                "currency": "USD",
            }
        ],
        "parties": [
            {"role": "importer", "name": "Antriebstechnik Nord GmbH", "country": "DE"},
            {"role": "end_user", "name": "Antriebstechnik Nord GmbH", "country": "DE",
             "business_description": "electric traction motors for buses"},
        ],
        "end_use": {"category": "automotive", "description": "Traction motors for electric city buses"},
        "contract": {"number": "C-2026-117", "signed_on": str(today - timedelta(days=20))},
        "route": {"port_of_loading": "Shanghai", "port_of_discharge": "Hamburg",
                  "final_destination_country": "DE"},
        "documents": [
            {"kind": "end_user_certificate", "reference": "EUC-117",
             "issued_on": str(today - timedelta(days=15)), "states_end_user": "Antriebstechnik Nord GmbH",
             "states_contract_number": "C-2026-117", "no_re_export_commitment": True},
            {"kind": "contract", "reference": "C-2026-117", "issued_on": str(today - timedelta(days=20))},
            {"kind": "technical_description", "reference": "TD-117", "issued_on": str(today - timedelta(days=20))},
        ],
        "payment_method": "bank_transfer",
        "contact": {},
    }
    merged = copy.deepcopy(app)
    merged.update(overrides)
    return merged


def submitted_record(app: dict[str, Any], *, producer: str = "client:test") -> tuple[bytes, bytes]:
    """A valid application as a pre-encoded application.submitted record: (key, value), the key
    being the case id intake will assign (exporter + external reference), as LanthanideClient
    would send it; for load generators that must not spend their time building JSON."""
    parsed = Application.model_validate(app)
    case_id = case_id_for(parsed.exporter_key, parsed.external_reference)
    envelope = envelope_json("application.submitted", app, event_id=uuid4(), case_id=case_id,
                             producer={"service": producer, "version": "1"})
    return str(case_id).encode(), orjson.dumps(envelope)


def general_licence(number: str = "GL-2026-001", **overrides: Any) -> Licence:
    """A general licence for Dy magnets to one German end user, valid from 30 days ago for ~10 months."""
    today = prc_today()  # every date is a PRC date
    base: dict[str, Any] = dict(
        number=number,
        type=LicenceType.GENERAL,
        holder="Ganzhou Rare Earth Magnetics Co., Ltd.",
        items=[LicenceItem(description="NdFeB magnets with Dy", control_codes=["1C905.a"],
                           quantity_cap=Decimal(1000), unit="kg")],
        end_users=["Antriebstechnik Nord GmbH"],
        end_user_countries=["DE"],
        valid_from=today - timedelta(days=30),
        valid_until=today + timedelta(days=300),
    )
    return Licence(**(base | overrides))


def decision_made(outcome: DecisionOutcome, licence: Licence | None = None) -> DecisionMade:
    """An automatic decision payload with `outcome` (and the licence it issued, if any)."""
    return DecisionMade(
        decision_id=uuid4(), outcome=outcome, external_reference="x", exporter_name="x", licence=licence,
        decided_by="auto", policy_version="t", decided_at=datetime.now(UTC),
    )


def padded_application(ref: str, target_bytes: int) -> dict[str, object]:
    """A valid application of about `target_bytes` of JSON, within every field limit: up to 200
    items with long descriptions, then parties of role "other" with many long identifiers."""
    app = civilian_application(ref)
    item, party = app["items"][0], app["parties"][-1]
    app["items"] = []
    text = "NdFeB sintered magnet, grade N52, nickel plated, for traction motors; " * 6
    while len(app["items"]) < 200 and len(orjson.dumps(app)) < target_bytes - 1_000:
        app["items"].append({**item, "description": f"{len(app['items'])} {text}"[:480]})
    while len(app["parties"]) < 50 and len(orjson.dumps(app)) < target_bytes - 12_000:
        n = len(app["parties"])
        app["parties"].append({**party, "role": "other", "name": f"Logistics Partner {n}",
                               "identifiers": {f"id{i}": f"{n}-{i}-{text}"[:480] for i in range(20)}})
    return app
