"""The licence application as upstream systems submit it.

Validation normalises as it goes: countries to ISO 3166-1 alpha-2, currencies to ISO 4217,
units to a canonical code, names to single-spaced NFC text. The model forbids unknown
fields so a typo in an upstream payload is reported instead of silently dropped.
"""

from __future__ import annotations

import calendar
import unicodedata
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Self

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

# ---------------------------------------------------------------- normalisers


def normalise_text(value: str) -> str:
    """NFC, control characters removed, whitespace collapsed."""
    if value.isascii() and value.isprintable():
        # The common case, and 8x faster: printable ASCII is already NFC and has no controls.
        return " ".join(value.split())
    value = unicodedata.normalize("NFC", value)
    value = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in value)
    return " ".join(value.split())


def _country_overrides() -> dict[str, str]:
    # Common names that pycountry's fuzzy-free lookup does not know.
    return {
        "UK": "GB",
        "GREAT BRITAIN": "GB",
        "ENGLAND": "GB",
        "USA": "US",
        "UNITED STATES OF AMERICA": "US",
        "AMERICA": "US",
        "SOUTH KOREA": "KR",
        "KOREA": "KR",
        "NORTH KOREA": "KP",
        "RUSSIA": "RU",
        "IRAN": "IR",
        "TAIWAN": "TW",
        "VIETNAM": "VN",
        "TURKEY": "TR",
        "CZECH REPUBLIC": "CZ",
        "HOLLAND": "NL",
    }


_COUNTRY_OVERRIDES = _country_overrides()


@lru_cache(maxsize=4096)
def normalise_country(value: str) -> str:
    """ISO 3166-1 alpha-2 from an alpha-2, alpha-3, numeric code or an English name.

    Cached (bounded): every service decodes the same few dozen countries over and over, and the
    pycountry lookup was a sixth of an envelope's decode. Invalid values raise and are not cached."""
    raw = normalise_text(value)
    key = raw.upper()
    if key in _COUNTRY_OVERRIDES:
        return _COUNTRY_OVERRIDES[key]
    found = None
    try:
        found = pycountry.countries.lookup(raw)
    except LookupError:
        found = None
    if found is None:
        raise ValueError(
            f"unknown country {raw[:40]!r}: use an ISO 3166-1 code (e.g. 'DE', 'DEU') or English name"
        )
    return str(found.alpha_2)


@lru_cache(maxsize=1024)
def normalise_currency(value: str) -> str:
    """ISO 4217 alphabetic code (cached, like normalise_country)."""
    code = normalise_text(value).upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"unknown currency {code[:10]!r}: use an ISO 4217 code such as 'USD' or 'CNY'")
    return code


_UNITS = {
    "kg": "kg", "kgs": "kg", "kilogram": "kg", "kilograms": "kg", "千克": "kg", "公斤": "kg",
    "g": "g", "gram": "g", "grams": "g", "克": "g",
    "t": "t", "tonne": "t", "tonnes": "t", "ton": "t", "tons": "t", "mt": "t", "metric ton": "t", "吨": "t",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb",
    "pcs": "piece", "pc": "piece", "piece": "piece", "pieces": "piece", "unit": "piece", "units": "piece",
    "个": "piece", "件": "piece", "set": "set", "sets": "set", "套": "set",
}

#: Conversion of mass units to kilograms; pieces and sets have no mass.
KG_PER_UNIT = {"kg": Decimal(1), "g": Decimal("0.001"), "t": Decimal(1000), "lb": Decimal("0.45359237")}


def normalise_unit(value: str) -> str:
    """A canonical unit code: kg, g, t, lb, piece or set."""
    key = normalise_text(value).lower().rstrip(".")
    if key not in _UNITS:
        raise ValueError(f"unknown unit {key[:20]!r}: use one of kg, g, t, lb, piece, set")
    return _UNITS[key]


Text = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(normalise_text)]
LongText = Annotated[str, StringConstraints(max_length=5000), AfterValidator(normalise_text)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=300), AfterValidator(normalise_text)]
Country = Annotated[str, StringConstraints(min_length=2, max_length=80), AfterValidator(normalise_country)]
Currency = Annotated[str, AfterValidator(normalise_currency)]
Unit = Annotated[str, AfterValidator(normalise_unit)]
Element = Annotated[str, StringConstraints(pattern=r"^[A-Z][a-z]?$")]
HsCode = Annotated[str, StringConstraints(pattern=r"^\d{6,10}$")]
ControlCode = Annotated[str, StringConstraints(pattern=r"^\d[A-E]\d{3}(\.[a-z](\.\d+)?)?$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=False)


# ---------------------------------------------------------------- parties


class PartyRole(StrEnum):
    """The role a party plays in the transaction."""

    EXPORTER = "exporter"
    IMPORTER = "importer"
    CONSIGNEE = "consignee"
    END_USER = "end_user"
    INTERMEDIATE_CONSIGNEE = "intermediate_consignee"
    FREIGHT_FORWARDER = "freight_forwarder"
    OTHER = "other"


class EntityType(StrEnum):
    ORGANIZATION = "organization"
    PERSON = "person"


class Owner(_Model):
    """A known owner of a party; owners may themselves have owners (ownership chains)."""

    name: Name
    country: Country | None = None
    share_percent: Annotated[Decimal, Field(ge=0, le=100)]
    entity_type: EntityType = EntityType.ORGANIZATION
    owners: list[Owner] = Field(default_factory=list, max_length=20)


class Party(_Model):
    """Any party to the transaction: exporter, importer, consignee, end user, intermediary, forwarder."""

    role: PartyRole
    name: Name
    name_original_script: Name | None = None
    entity_type: EntityType = EntityType.ORGANIZATION
    country: Country
    address: LongText | None = None
    identifiers: dict[Annotated[str, StringConstraints(max_length=40)], Text] = Field(
        default_factory=dict, max_length=20
    )
    owners: list[Owner] = Field(default_factory=list, max_length=20)
    business_description: LongText | None = None
    # A declared fact, not a guess from the name: the party is a military user (armed forces,
    # a defence ministry, a military unit or its procurement office). Only this denies as a
    # military end user (rule SCR-ENDUSER-MILITARY); words in the name or the business
    # description are evidence for a reviewer (SCR-FLAG-ENDUSER-MILITARY-TEXT).
    military_end_user: bool = False


# ---------------------------------------------------------------- items


class ItemForm(StrEnum):
    """Physical form, which decides the control sub-item (.a metals/targets/magnets, .b oxides, .c compounds)."""

    METAL = "metal"
    ALLOY = "alloy"
    SPUTTERING_TARGET = "sputtering_target"
    MAGNET = "magnet"
    OXIDE = "oxide"
    COMPOUND = "compound"
    TECHNOLOGY = "technology"
    #: A finished product (motor, device, instrument): not an item of Announcement 2025 No. 18.
    FINISHED_GOOD = "finished_good"
    OTHER = "other"


class ElementContent(_Model):
    """Share of one element in the item, by mass."""

    element: Element
    percent: Annotated[Decimal, Field(gt=0, le=100)]


class OriginMaterial(_Model):
    """China-origin rare-earth material incorporated in a foreign-made item, and its value
    (in the item's currency). Announcement 2025 No. 61 counts only its Part-1 materials."""

    element: Element
    value: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]


class Item(_Model):
    """One line of goods in the application."""

    description: Text
    form: ItemForm = ItemForm.OTHER
    control_code: ControlCode | None = None
    hs_code: HsCode | None = None
    elements: list[ElementContent] = Field(default_factory=list, max_length=20)
    quantity: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]
    unit: Unit
    value: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
    currency: Currency
    foreign_made: bool = False
    china_origin_rare_earth_value_ratio: Annotated[Decimal, Field(ge=0, le=1)] | None = None
    #: Foreign-made items: the China-origin materials by element; preferred over the bare ratio
    #: because the de minimis ratio of No. 61 counts Part-1 materials only (not Nd or Pr).
    china_origin_materials: list[OriginMaterial] = Field(default_factory=list, max_length=20)

    def quantity_kg(self) -> Decimal | None:
        """The quantity in kilograms, or None for counted units."""
        factor = KG_PER_UNIT.get(self.unit)
        return None if factor is None else self.quantity * factor


# ---------------------------------------------------------------- end use, contract, route, documents


class EndUseCategory(StrEnum):
    """Declared end-use category. Civilian categories first, then the ones the policy acts on."""

    PERMANENT_MAGNETS_MOTORS = "permanent_magnets_motors"
    WIND_ENERGY = "wind_energy"
    AUTOMOTIVE = "automotive"
    CONSUMER_ELECTRONICS = "consumer_electronics"
    MEDICAL_IMAGING = "medical_imaging"
    PHOSPHORS_LIGHTING = "phosphors_lighting"
    CATALYSTS = "catalysts"
    CIVIL_AEROSPACE = "civil_aerospace"
    INDUSTRIAL = "industrial"
    RESEARCH = "research"
    SEMICONDUCTOR = "semiconductor"
    ARTIFICIAL_INTELLIGENCE = "artificial_intelligence"
    MILITARY = "military"
    WMD = "wmd"
    TERRORISM = "terrorism"
    NUCLEAR = "nuclear"
    HUMANITARIAN = "humanitarian"
    OTHER = "other"


class EndUse(_Model):
    """The declared end use: a category plus free text and technical parameters where relevant."""

    category: EndUseCategory
    description: LongText
    semiconductor_node_nm: Annotated[int, Field(gt=0, le=1000)] | None = None
    memory_layers: Annotated[int, Field(gt=0, le=10000)] | None = None
    re_export_intended: bool = False


class Contract(_Model):
    number: Text
    signed_on: date
    value: Annotated[Decimal, Field(ge=0)] | None = None
    currency: Currency | None = None


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    LETTER_OF_CREDIT = "letter_of_credit"
    CASH = "cash"
    THIRD_PARTY = "third_party"


class ShippingRoute(_Model):
    """Where the goods go: loading, transit and discharge."""

    port_of_loading: Text | None = None
    port_of_discharge: Text | None = None
    transit_countries: list[Country] = Field(default_factory=list, max_length=20)
    final_destination_country: Country


class DocumentKind(StrEnum):
    END_USER_CERTIFICATE = "end_user_certificate"
    CONTRACT = "contract"
    TECHNICAL_DESCRIPTION = "technical_description"
    RISK_ASSESSMENT = "risk_assessment"
    COMPLIANCE_COMMITMENT = "compliance_commitment"
    OTHER = "other"


#: An end-user certificate is valid six calendar months from its issue date (rule
#: DOC-EUC-VALIDITY in docs/rules.md). The one definition: intake's completeness check and
#: screening's red flag both call `Document.valid_until`.
END_USER_CERTIFICATE_VALIDITY_MONTHS = 6


def add_months(day: date, months: int) -> date:
    """Same day-of-month `months` later, clamped to the month's end (31 Aug + 6 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class Document(_Model):
    """A supporting document. The end-user certificate is valid six calendar months from issue."""

    kind: DocumentKind
    reference: Text
    issued_on: date
    expires_on: date | None = None
    issuer: Name | None = None
    # What the end-user certificate states, to check it against the application.
    states_end_user: Name | None = None
    states_contract_number: Text | None = None
    no_re_export_commitment: bool | None = None

    def valid_until(self) -> date | None:
        """The last day (inclusive) the document is valid, or None when it does not expire.

        An end-user certificate: six calendar months from issue, or its own earlier expiry date;
        a stated expiry never extends the six months."""
        if self.kind is DocumentKind.END_USER_CERTIFICATE:
            last = add_months(self.issued_on, END_USER_CERTIFICATE_VALIDITY_MONTHS)
            return min(last, self.expires_on) if self.expires_on is not None else last
        return self.expires_on

    def valid_on(self, day: date) -> bool:
        """Issued on or before `day` and not expired on it."""
        until = self.valid_until()
        return self.issued_on <= day and (until is None or day <= until)


class ContactPoint(_Model):
    """Where the applicant wants to hear back."""

    webhook_url: HttpUrl | None = None
    email: Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None


# ---------------------------------------------------------------- the application


class Application(_Model):
    """A licence application as published on lanthanide.applications.submitted or POSTed to intake."""

    external_reference: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\w./:-]+$")]
    exporter: Party
    items: list[Item] = Field(min_length=1, max_length=200)
    parties: list[Party] = Field(min_length=1, max_length=50)
    end_use: EndUse
    contract: Contract | None = None
    route: ShippingRoute
    documents: list[Document] = Field(default_factory=list, max_length=50)
    payment_method: PaymentMethod = PaymentMethod.BANK_TRANSFER
    payer_name: Name | None = None
    general_licence_number: Text | None = None
    humanitarian: bool = False
    #: When the export is planned (PRC date); the humanitarian reporting duty counts from it.
    planned_export_date: date | None = None
    contact: ContactPoint = Field(default_factory=ContactPoint)
    notes: LongText | None = None

    @model_validator(mode="after")
    def _roles_are_consistent(self) -> Self:
        if self.exporter.role is not PartyRole.EXPORTER:
            raise ValueError("exporter.role must be 'exporter'")
        if not any(p.role is PartyRole.END_USER for p in self.parties):
            raise ValueError("parties must name the end user (a party with role 'end_user')")
        if any(p.role is PartyRole.EXPORTER for p in self.parties):
            raise ValueError("parties must not repeat the exporter; it is given in 'exporter'")
        return self

    @property
    def exporter_key(self) -> str:
        """What identifies the exporter for case ids: a registered identifier if given, else the name."""
        ident = self.exporter.identifiers
        for k in ("uscc", "USCC", "registration_number", "customs_code"):
            if k in ident:
                return f"{k.lower()}:{ident[k]}"
        return f"name:{self.exporter.name.casefold()}"

    def parties_in_role(self, role: PartyRole) -> list[Party]:
        return [p for p in self.parties if p.role is role]

    def all_parties(self) -> list[Party]:
        """The exporter and every other party."""
        return [self.exporter, *self.parties]


Owner.model_rebuild()
