"""Licence usage reports (read models): one general licence's draw-down, and cumulative
quantities per end user and per country across every licence of both kinds.

Plain functions over domain records, called by the HTTP API, the CLI and the reviewer console.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from lanthanide.contracts import LicenceType

from lanthanide_review.domain.licences import LicenceRecord, format_quantity


def general_licence_usage(rec: LicenceRecord, today: date) -> dict[str, Any]:
    """Per item: cap, drawn and remaining; and the green-channel exports authorised under it."""
    lic = rec.licence
    items = [
        {
            "item_index": n,
            "description": item.description,
            "control_codes": item.control_codes,
            "unit": item.unit,
            "quantity_cap": format_quantity(item.quantity_cap),
            "drawn": format_quantity(drawn),
            "remaining": format_quantity(item.quantity_cap - drawn),
        }
        for n, (item, drawn) in enumerate(zip(lic.items, rec.drawn, strict=True))
    ]
    exports = [
        {
            "case_id": d["case_id"],
            "external_reference": d["external_reference"],
            "export_licence": d["export_licence"],
            "items": [
                {"item_index": int(n), "quantity": q, "unit": lic.items[int(n)].unit} for n, q in d["items"].items()
            ],
            "end_users": d["end_users"],
            "at": d["at"],
        }
        for d in rec.draws
    ]
    return {
        "number": lic.number,
        "type": lic.type.value,
        "holder": lic.holder,
        "status": rec.effective_status(today).value,
        "valid_from": lic.valid_from.isoformat(),
        "valid_until": lic.valid_until.isoformat(),
        "end_users": lic.end_users,
        "end_user_countries": lic.end_user_countries,
        "items": items,
        "exports": exports,
        "shipments": rec.shipments,
    }


def cumulative_usage(shipments: Sequence[Any], general_licences: Iterable[LicenceRecord]) -> dict[str, Any]:
    """Cumulative quantities per end user and per country (a diversion signal), across single
    licences (accepted shipments) and general licences (green-channel draw-downs).

    A shipment reported against a green-channel export licence is the same quantity its draw
    already counted, so it is not counted again."""
    by_user: dict[tuple[str, str, str], Decimal] = {}
    by_country: dict[tuple[str, str], Decimal] = {}

    def add(end_user: str, country: str, unit: str, qty: Decimal) -> None:
        key_u = (end_user.casefold(), country, unit)
        by_user[key_u] = by_user.get(key_u, Decimal(0)) + qty
        by_country[(country, unit)] = by_country.get((country, unit), Decimal(0)) + qty

    drawn_exports: set[str] = set()
    for rec in general_licences:
        if rec.licence.type is not LicenceType.GENERAL:
            continue
        for d in rec.draws:
            drawn_exports.add(d["export_licence"])
            users = d["end_users"] or [{"name": "", "country": ""}]
            for n, q in d["items"].items():
                # An export to several end users is counted against the first (applications name one).
                add(users[0]["name"], users[0]["country"], rec.licence.items[int(n)].unit, Decimal(q))
    for r in shipments:
        if r.licence_number in drawn_exports:
            continue
        add(r.end_user, r.end_user_country, r.unit, Decimal(r.quantity))
    return {
        "by_end_user": [
            {"end_user": u, "country": c, "unit": unit, "quantity": str(q)}
            for (u, c, unit), q in sorted(by_user.items())
        ],
        "by_country": [{"country": c, "unit": unit, "quantity": str(q)} for (c, unit), q in sorted(by_country.items())],
    }
