"""Licences: issuing (single, general), numbering, and drawing quantities down by shipment.

Rule ids: LIC-* for issuing terms, LIC-SHIP-* for the reasons a shipment is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from lanthanide.contracts import (
    Application,
    Licence,
    LicenceItem,
    LicenceType,
    PartyRole,
    ShipmentReported,
)
from lanthanide.contracts.application import KG_PER_UNIT
from pydantic import BaseModel, ConfigDict, Field

from lanthanide_review.domain.policy import LicencePolicy


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class LicenceTermsError(ValueError):
    """The requested licence terms break a rule; `rule_id` and `loc` say which and where."""

    def __init__(self, rule_id: str, loc: str, message: str) -> None:
        super().__init__(f"{rule_id} at {loc}: {message}")
        self.rule_id = rule_id
        self.loc = loc
        self.message = message


class ItemCap(BaseModel):
    """A quantity cap for one application item (in the item's unit)."""

    model_config = ConfigDict(extra="forbid")

    item_index: int = Field(ge=0)
    quantity_cap: Decimal = Field(gt=0)


class ApprovalTerms(BaseModel):
    """What a reviewer approves: licence type, caps, validity, conditions. Defaults come from
    the application (every item at its applied quantity, every named end user, one year)."""

    model_config = ConfigDict(extra="forbid")

    licence_type: LicenceType = LicenceType.SINGLE
    items: list[ItemCap] | None = None
    end_users: list[str] | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    conditions: list[str] = Field(default_factory=list)
    #: The application version the reviewer saw (refused with REV-VERSION-STALE if not current).
    application_version: int | None = Field(default=None, ge=1)
    #: Approve as an export under this general licence (the one the application names): the
    #: approved quantities are drawn down from what remains of it, in the same transaction, and
    #: the export licence is valid no later than it (REV-GL-MANUAL).
    general_licence_number: str | None = Field(default=None, min_length=1, max_length=100)


#: Conditions every licence carries (Regulations on Export Control of Dual-use Items; docs/rules.md `LIC-` rules).
STANDARD_CONDITIONS = ("No re-export and no change of end use or end user without a new licence.",)


def licence_number(year: int, sequence: int) -> str:
    """The printed number: LNT-<year>-<6-digit sequence>, e.g. LNT-2026-000123."""
    return f"LNT-{year}-{sequence:06d}"


@dataclass
class LicenceNumbers:
    """Hands out the next number of the year at most once per unit of work.

    The store reads the counter before the domain runs and bumps it (optimistically) afterwards
    if `used`; the number is persisted with the case, so it never changes for that case.
    """

    year: int
    next_sequence: int
    used: bool = False

    def take(self) -> str:
        if self.used:
            raise RuntimeError("one licence number per unit of work")
        self.used = True
        return licence_number(self.year, self.next_sequence)


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February falls on 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def code_covers(licensed: str, classified: str) -> bool:
    """LIC-GL-ITEM-SUBITEM: a licensed control code covers the same full code (sub-item included)
    or a finer one under it; 1C905.b never covers 1C905.a, and a base code covers only what
    names it as its prefix (1C905 covers 1C905.a)."""
    a, b = licensed.strip().casefold(), classified.strip().casefold()
    return a == b or b.startswith(a + ".")


def issue_licence(
    *,
    number: str,
    application: Application,
    terms: ApprovalTerms,
    policy: LicencePolicy,
    today: date,
    extra_conditions: list[str] | None = None,
    item_codes: list[list[str]] | None = None,
    not_after: date | None = None,
) -> Licence:
    """Build the licence for an approval, checking validity limits and caps.

    `item_codes` are the control codes each application item was classified under (the
    licence's items carry them, so a general licence covers what was screened, not what the
    applicant typed). `not_after` caps the validity (an export under a general licence is
    valid no later than that licence)."""
    valid_from = terms.valid_from or today
    if valid_from < today:
        # A licence starts on its decision date at the earliest: no back-dated exports.
        raise LicenceTermsError(
            "LIC-VALIDITY-BACKDATED", "valid_from", f"{valid_from} is before the decision date {today}"
        )
    max_days = (
        policy.single_max_validity_days
        if terms.licence_type is LicenceType.SINGLE
        else policy.general_max_validity_days
    )
    valid_until = terms.valid_until or (valid_from + timedelta(days=min(365, max_days)))
    if not_after is not None and valid_until > not_after:
        valid_until = not_after
    if valid_until < valid_from:
        raise LicenceTermsError("LIC-VALIDITY-ORDER", "valid_until", f"{valid_until} is before valid_from {valid_from}")
    if terms.licence_type is LicenceType.GENERAL:
        # LIC-VALIDITY-GENERAL-YEARS: up to N calendar years (a span with 29 February is fine).
        latest = add_years(valid_from, policy.general_max_validity_years)
        if valid_until > latest:
            raise LicenceTermsError(
                "LIC-VALIDITY-TOO-LONG",
                "valid_until",
                f"a general licence may be valid at most {policy.general_max_validity_years} calendar years; "
                f"{valid_from}..{valid_until} ends after {latest}",
            )
    elif (valid_until - valid_from).days > max_days:
        raise LicenceTermsError(
            "LIC-VALIDITY-TOO-LONG",
            "valid_until",
            f"a {terms.licence_type.value} licence may be valid at most {max_days} days; "
            f"{valid_from}..{valid_until} is {(valid_until - valid_from).days}",
        )
    caps = terms.items or [
        ItemCap(item_index=i, quantity_cap=item.quantity) for i, item in enumerate(application.items)
    ]
    items: list[LicenceItem] = []
    for n, cap in enumerate(caps):
        if cap.item_index >= len(application.items):
            raise LicenceTermsError(
                "LIC-ITEM-UNKNOWN",
                f"items.{n}.item_index",
                f"the application has {len(application.items)} item(s); no index {cap.item_index}",
            )
        item = application.items[cap.item_index]
        codes = list(item_codes[cap.item_index]) if item_codes and cap.item_index < len(item_codes) else []
        if not codes and item.control_code:
            codes = [item.control_code]
        if cap.quantity_cap > item.quantity:
            raise LicenceTermsError(
                "LIC-CAP-EXCEEDS-APPLICATION",
                f"items.{n}.quantity_cap",
                f"cap {cap.quantity_cap} {item.unit} is more than the {item.quantity} applied for",
            )
        items.append(
            LicenceItem(
                description=item.description,
                control_codes=codes,
                quantity_cap=cap.quantity_cap,
                unit=item.unit,
            )
        )
    end_user_parties = application.parties_in_role(PartyRole.END_USER)
    end_users = terms.end_users or [p.name for p in end_user_parties]
    screened = {" ".join(p.name.casefold().split()): p.name for p in end_user_parties}
    for n, name in enumerate(end_users):
        # Only end users that were screened with this application may be named on its licence.
        if " ".join(name.casefold().split()) not in screened:
            raise LicenceTermsError(
                "LIC-END-USER-NOT-SCREENED", f"end_users.{n}",
                f"{name!r} is not an end user of the screened application; named there: {sorted(screened.values())}",
            )
    end_users = [screened[" ".join(name.casefold().split())] for name in end_users]
    countries = sorted({p.country for p in end_user_parties if p.name in end_users})
    return Licence(
        number=number,
        type=terms.licence_type,
        holder=application.exporter.name,
        items=items,
        end_users=end_users,
        end_user_countries=countries,
        valid_from=valid_from,
        valid_until=valid_until,
        conditions=[*STANDARD_CONDITIONS, *(extra_conditions or []), *terms.conditions],
    )


@dataclass(frozen=True)
class ShipmentDecision:
    """The outcome of drawing a shipment down: accepted, or refused with a rule id."""

    accepted: bool
    rule_id: str | None = None
    reason: str | None = None
    exhausted: bool = False
    remaining: list[str] = field(default_factory=list)


def format_quantity(value: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros ("400", "0.5")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _to_unit(quantity: Decimal, unit: str, target: str) -> Decimal | None:
    if unit == target:
        return quantity
    if unit in KG_PER_UNIT and target in KG_PER_UNIT:
        return Decimal(quantity * KG_PER_UNIT[unit] / KG_PER_UNIT[target])
    return None


@dataclass
class LicenceRecord:
    """A licence as review keeps it: the issued terms plus status and drawn quantities."""

    licence: Licence
    case_id: str
    status: LicenceStatus = LicenceStatus.ACTIVE
    drawn: list[Decimal] = field(default_factory=list)
    shipments: int = 0
    status_reason: str | None = None
    #: Green-channel exports authorised under this general licence, in order (see green_channel).
    draws: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.drawn:
            self.drawn = [Decimal(0) for _ in self.licence.items]

    def effective_status(self, today: date) -> LicenceStatus:
        """The status as of today: an active licence past its validity is expired."""
        if self.status is LicenceStatus.ACTIVE and today > self.licence.valid_until:
            return LicenceStatus.EXPIRED
        return self.status

    def remaining(self) -> list[Decimal]:
        return [item.quantity_cap - d for item, d in zip(self.licence.items, self.drawn, strict=True)]

    def draw_down(self, shipment: ShipmentReported, policy: LicencePolicy) -> ShipmentDecision:
        """Apply a shipment: refused (with a LIC-SHIP-* rule id) or drawn down."""
        refusal = self._refusal(shipment)
        if refusal is not None:
            return ShipmentDecision(False, refusal[0], refusal[1], remaining=self._remaining_text())
        item = self.licence.items[shipment.item_index]
        qty = _to_unit(shipment.quantity, shipment.unit, item.unit)
        assert qty is not None  # _refusal checked convertibility
        self.drawn[shipment.item_index] += qty
        self.shipments += 1
        consumed = self.licence.type is LicenceType.SINGLE and policy.single_consumed_by_first_shipment
        exhausted = consumed or all(r <= 0 for r in self.remaining())
        if exhausted:
            self.status = LicenceStatus.EXHAUSTED
            self.status_reason = "single licence consumed by its export" if consumed else "every quantity cap reached"
        return ShipmentDecision(True, exhausted=exhausted, remaining=self._remaining_text())

    def _refusal(self, shipment: ShipmentReported) -> tuple[str, str] | None:
        status = self.status
        if status is not LicenceStatus.ACTIVE:
            return "LIC-SHIP-NOT-ACTIVE", f"licence is {status.value}"
        if shipment.shipped_on < self.licence.valid_from or shipment.shipped_on > self.licence.valid_until:
            return "LIC-SHIP-OUTSIDE-VALIDITY", (
                f"shipped on {shipment.shipped_on}, licence valid {self.licence.valid_from}..{self.licence.valid_until}"
            )
        if shipment.item_index >= len(self.licence.items):
            return "LIC-SHIP-ITEM-UNKNOWN", f"licence has no item {shipment.item_index}"
        wanted = {u.casefold().strip() for u in self.licence.end_users}
        if shipment.end_user.casefold().strip() not in wanted:
            return "LIC-SHIP-END-USER", "end user is not named on the licence"
        item = self.licence.items[shipment.item_index]
        qty = _to_unit(shipment.quantity, shipment.unit, item.unit)
        if qty is None:
            return "LIC-SHIP-UNIT", f"unit {shipment.unit!r} cannot be converted to {item.unit!r}"
        left = self.remaining()[shipment.item_index]
        if qty > left:
            return "LIC-SHIP-OVER-CAP", (
                f"shipment of {format_quantity(qty)} {item.unit} exceeds the {format_quantity(left)} "
                f"{item.unit} remaining"
            )
        return None

    def _remaining_text(self) -> list[str]:
        return [format_quantity(r) for r in self.remaining()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "licence": self.licence.model_dump(mode="json"),
            "status": self.status.value,
            "drawn": [str(d) for d in self.drawn],
            "shipments": self.shipments,
            "status_reason": self.status_reason,
            "draws": self.draws,
        }
