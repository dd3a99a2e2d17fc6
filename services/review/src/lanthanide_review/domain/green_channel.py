"""The green channel: an export authorised under a general licence, drawn down from its caps.

Review is the truth of a general licence's usage. When the routing policy approves a
green-channel case, review re-checks the licence it names (held in the same unit of work,
locked, so two applications screened at once cannot both take the last of a cap) and either
draws the applied quantities down or sends the case to a reviewer with the rule that failed.

Rule ids (docs/rules.md): REV-GL-UNKNOWN, REV-GL-NOT-GENERAL, REV-GL-NOT-ACTIVE,
REV-GL-OUTSIDE-VALIDITY, REV-GL-HOLDER, REV-GL-END-USER, REV-GL-ITEM-NOT-COVERED (full control
code, sub-item included: LIC-GL-ITEM-SUBITEM), REV-GL-OVER-CAP, REV-GL-WATCH-LIST.

A reviewer may approve a queued case as an export under the general licence it names (the
route refused it, e.g. over the remaining cap, or a watch-list hit the reviewer has since
cleared): the same check runs on the quantities approved, with hits cleared by a recorded
disposition left out (REV-GL-MANUAL), and the export draws down the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from lanthanide.contracts import Application, LicenceType, PartyRole, ScreeningCompleted

from lanthanide_review.domain.licences import (
    LicenceRecord,
    LicenceStatus,
    _to_unit,
    code_covers,
    format_quantity,
)


@dataclass(frozen=True)
class GreenChannelRefusal:
    """Why a general licence does not cover this export (the case goes to a reviewer)."""

    rule_id: str
    reason: str


@dataclass(frozen=True)
class Draw:
    """What an export takes from each licence item (licence item index -> quantity in its unit)."""

    quantities: dict[int, Decimal]


def _same(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def check(
    rec: LicenceRecord | None,
    result: ScreeningCompleted,
    today: date,
    *,
    quantities: list[Decimal | None] | None = None,
    cleared: frozenset[tuple[str, str]] = frozenset(),
) -> GreenChannelRefusal | Draw:
    """Does general licence `rec` cover the screened application today, within what remains?

    `quantities` (per application item, None = not exported) replaces the applied quantities
    when a reviewer approves less; `cleared` holds the (list id, entry id) pairs a recorded
    disposition judged false positives (a reviewer's approval, REV-GL-MANUAL)."""
    app: Application = result.application
    number = app.general_licence_number
    if rec is None:
        return GreenChannelRefusal("REV-GL-UNKNOWN", f"general licence {number} is not known to review")
    lic = rec.licence
    if lic.type is not LicenceType.GENERAL:
        return GreenChannelRefusal("REV-GL-NOT-GENERAL", f"{lic.number} is a {lic.type.value} licence")
    status = rec.effective_status(today)
    if status not in (LicenceStatus.ACTIVE, LicenceStatus.EXHAUSTED):  # exhausted: REV-GL-OVER-CAP below
        return GreenChannelRefusal("REV-GL-NOT-ACTIVE", f"general licence {lic.number} is {status.value}")
    if not lic.valid_from <= today <= lic.valid_until:
        return GreenChannelRefusal(
            "REV-GL-OUTSIDE-VALIDITY", f"not valid on {today} (valid {lic.valid_from}..{lic.valid_until})"
        )
    if not _same(lic.holder, app.exporter.name):
        return GreenChannelRefusal("REV-GL-HOLDER", "the general licence is held by another exporter")
    if any(h.list_kind == "watch" and (h.list_id, h.entry_id) not in cleared for h in result.hits):
        return GreenChannelRefusal("REV-GL-WATCH-LIST", "no general licence for a watch-list party")
    for eu in app.parties_in_role(PartyRole.END_USER):
        if not any(_same(eu.name, n) for n in lic.end_users):
            return GreenChannelRefusal("REV-GL-END-USER", "an end user is not named on the general licence")
        if lic.end_user_countries and eu.country not in lic.end_user_countries:
            return GreenChannelRefusal("REV-GL-END-USER", f"end-user country {eu.country} is not named on it")
    remaining = rec.remaining()
    taken: dict[int, Decimal] = {}
    codes_by_item = {c.item_index: c.control_codes for c in result.classifications}
    for i, item in enumerate(app.items):
        quantity = item.quantity if quantities is None else quantities[i]
        if quantity is None:
            continue  # not part of the approved export
        codes = codes_by_item.get(i) or ([item.control_code] if item.control_code else [])
        covering = [
            (n, li)
            for n, li in enumerate(lic.items)
            if codes
            and all(any(code_covers(lc, c) for lc in li.control_codes) for c in codes)
            and _to_unit(quantity, item.unit, li.unit) is not None
        ]
        if not covering:
            return GreenChannelRefusal(
                "REV-GL-ITEM-NOT-COVERED",
                f"item {i} ({', '.join(codes) or 'unclassified'}) is not covered by general licence {lic.number}",
            )
        for n, li in covering:
            qty = _to_unit(quantity, item.unit, li.unit)
            assert qty is not None
            if taken.get(n, Decimal(0)) + qty <= remaining[n]:
                taken[n] = taken.get(n, Decimal(0)) + qty
                break
        else:
            n, li = covering[0]
            return GreenChannelRefusal(
                "REV-GL-OVER-CAP",
                f"item {i}: {format_quantity(quantity)} {item.unit} applied for, "
                f"{format_quantity(remaining[n] - taken.get(n, Decimal(0)))} {li.unit} remaining "
                f"under general licence {lic.number}",
            )
    return Draw(taken)


def draw(
    rec: LicenceRecord,
    d: Draw,
    *,
    case_id: str,
    external_reference: str,
    export_licence: str,
    end_users: list[dict[str, str]],
    at: str,
) -> None:
    """Draw an authorised export down from the general licence (in the caller's transaction)."""
    for n, qty in d.quantities.items():
        rec.drawn[n] += qty
    rec.draws.append(
        {
            "case_id": case_id,
            "external_reference": external_reference,
            "export_licence": export_licence,
            "items": {str(n): str(q) for n, q in sorted(d.quantities.items())},
            "end_users": end_users,
            "at": at,
        }
    )
    if all(r <= 0 for r in rec.remaining()):
        rec.status = LicenceStatus.EXHAUSTED
        rec.status_reason = "every quantity cap reached"


def usage_of(rec: LicenceRecord) -> dict[str, Any]:
    """The payload fields of a usage change: number, remaining per item, exhausted, draws."""
    return {
        "number": rec.licence.number,
        "remaining": rec.remaining(),
        "exhausted": rec.status is LicenceStatus.EXHAUSTED,
        "draws": len(rec.draws),
    }
