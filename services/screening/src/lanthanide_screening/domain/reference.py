"""Reference data models: dated control measures and the screening policy, validated at load.

Both are YAML files with a version; `load_measures` / `load_policy` raise ReferenceDataError
naming the file and the field when something is wrong, so a bad operator edit fails at start
(or on a reference update) instead of mid-case.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)

PACKAGE_REFERENCE = Path(__file__).resolve().parent.parent / "reference"


class ReferenceDataError(ValueError):
    """Reference data failed validation; the message names the file and the fields."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Suspension(_Model):
    """A window (inclusive) in which a measure does not apply."""

    from_: date = Field(alias="from")
    until: date | None = None
    by: str = ""


class MagnetEntry(_Model):
    """When a magnet containing the element is a listed magnet material (No. 18: SmCo for Sm,
    NdFeB for Tb and Dy): a declared element, or a word of the description."""

    needs_elements: list[str] = Field(default_factory=list)
    or_words: list[str] = Field(default_factory=list)


class ElementControl(_Model):
    """One controlled element: its code, the sub-item per physical form, and how to spot it."""

    element: str = Field(pattern=r"^[A-Z][a-z]?$")
    code: str = Field(pattern=r"^\d[A-E]\d{3}$")
    unconfirmed: bool = False
    #: Words (regular expressions) that name the element or its compounds in a description.
    names: list[str] = Field(default_factory=list)
    #: Physical form -> sub-item letter. A form missing here is not an item of the measure.
    sub_items: dict[str, str] = Field(default_factory=dict)
    magnet: MagnetEntry | None = None
    #: Reference HS codes the announcement lists for this element's items.
    hs_reference: list[str] = Field(default_factory=list)


class TechnologyControl(_Model):
    code: str
    keywords: list[str]


class KeywordControl(_Model):
    """Items the announcement lists by description (equipment, materials): regular expressions."""

    code: str
    patterns: list[str]
    unconfirmed: bool = False


MeasureKind = Literal["item_control", "foreign_made", "humanitarian_exemption", "technology_catalogue", "suspension"]


class Measure(_Model):
    """One dated measure: item controls, a foreign-made rule, an exemption, the technology
    catalogue, or a suspension window on other measures (which imposes nothing itself)."""

    id: str
    title: str
    source: str
    kind: MeasureKind
    scope: Literal["china_exports", "foreign_made", "all"] = "all"
    effective_from: date
    effective_to: date | None = None
    suspensions: list[Suspension] = Field(default_factory=list)
    destinations: list[str] = Field(default_factory=list)
    controls: list[ElementControl] = Field(default_factory=list)
    mixed_hs_reference: list[str] = Field(default_factory=list)
    technology_codes: list[TechnologyControl] = Field(default_factory=list)
    keyword_controls: list[KeywordControl] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    de_minimis_ratio: Decimal | None = None
    forms: list[str] = Field(default_factory=list)
    part1_elements: list[str] = Field(default_factory=list)
    exempts: list[str] = Field(default_factory=list)
    suspends: list[str] = Field(default_factory=list)
    report_within_working_days: int | None = None

    def _suspended(self, on: date) -> bool:
        return any(s.from_ <= on and (s.until is None or on <= s.until) for s in self.suspensions)

    def in_force(self, on: date, destination: str | None = None) -> bool:
        """Whether the measure applies on a date (and to a destination, if it names any)."""
        if on < self.effective_from or (self.effective_to is not None and on > self.effective_to):
            return False
        if self._suspended(on):
            return False
        return not self.destinations or destination in self.destinations

    def status_on(self, on: date) -> str:
        """'in force', 'not yet in force', 'expired' or 'suspended by X' (for explanations)."""
        if on < self.effective_from:
            return "not yet in force"
        if self.effective_to is not None and on > self.effective_to:
            return "expired"
        for s in self.suspensions:
            if s.from_ <= on and (s.until is None or on <= s.until):
                return f"suspended by {s.by}" if s.by else "suspended"
        return "in force"

    def change_dates(self) -> list[date]:
        """Every day on which this measure's status changes (start, end, suspension edges)."""
        days = [self.effective_from]
        if self.effective_to is not None:
            days.append(self.effective_to + timedelta(days=1))
        for s in self.suspensions:
            days.append(s.from_)
            if s.until is not None:
                days.append(s.until + timedelta(days=1))
        return days


class MeasureSet(_Model):
    """Every measure; `version` names this data. Suspension measures are applied as windows on
    the measures they name when the set is loaded (one source for each window)."""

    version: str
    measures: list[Measure]
    no_licence_required_valid_days: int = Field(default=90, gt=0, le=366)

    @model_validator(mode="after")
    def _apply_suspensions(self) -> Self:
        ids = {m.id for m in self.measures}
        windows: dict[str, list[Suspension]] = {}
        for m in self.measures:
            if m.kind != "suspension":
                continue
            unknown = sorted(set(m.suspends) - ids)
            if unknown:
                raise ValueError(f"measure {m.id} suspends unknown measure(s) {unknown}")
            for target in m.suspends:
                windows.setdefault(target, []).append(
                    Suspension.model_validate({"from": m.effective_from, "until": m.effective_to, "by": m.id})
                )
        if windows:
            merged = [
                m.model_copy(update={"suspensions": [*m.suspensions, *windows[m.id]]}) if m.id in windows else m
                for m in self.measures
            ]
            object.__setattr__(self, "measures", merged)
        return self

    def by_kind(self, kind: str) -> list[Measure]:
        """The measures of one kind, in file order."""
        return [m for m in self.measures if m.kind == kind]

    def get(self, measure_id: str) -> Measure | None:
        """The measure with this id, if any."""
        return next((m for m in self.measures if m.id == measure_id), None)

    def in_force_on(self, on: date, destination: str | None = None) -> list[Measure]:
        """The measures (not suspension windows) in force on a date."""
        return [m for m in self.measures if m.kind != "suspension" and m.in_force(on, destination)]


class FlagDef(_Model):
    severity: Literal["enhanced", "standard"]
    text: str


class Thresholds(_Model):
    alert: float = Field(ge=0, le=1)
    hard_match: float = Field(ge=0, le=1)


class EndUsePolicy(_Model):
    # Declared end-use category -> rule id. Only declared facts deny; free text raises flags.
    deny_categories: dict[str, str]
    enhanced_categories: dict[str, str] = Field(default_factory=dict)
    military_patterns: list[str]
    wmd_patterns: list[str]
    terrorism_patterns: list[str]
    military_user_patterns: list[str]
    advanced_semiconductor: dict[str, int]
    ai_military_patterns: list[str]
    negations: list[str]
    negation_window_words: int
    vague_min_chars: int


class HubList(_Model):
    source: str
    effective_from: date
    countries: list[str]


class OwnershipRule(_Model):
    """The 50 % rule: its source, the measure that dates it, the list kinds it extends."""

    source: str
    measure: str
    list_kinds: list[str]
    aggregate_listed_owners: bool = False


class QuantityThreshold(_Model):
    """Contained mass of one element, in one of some forms, above which an item is out of line
    with the stated end use (per end-use category, else `default_kg`)."""

    element: str = Field(pattern=r"^[A-Z][a-z]?$")
    forms: list[str] = Field(min_length=1)
    default_kg: Decimal = Field(gt=0)
    by_end_use_kg: dict[str, Decimal] = Field(default_factory=dict)
    #: Why this number: the reasoning behind the setting (a policy setting, not a regulation).
    basis: str = Field(min_length=1)

    def limit_for(self, category: str) -> Decimal:
        """The threshold for an end-use category."""
        return self.by_end_use_kg.get(category, self.default_kg)


class QuantityThresholds(_Model):
    """Element/form thresholds as policy data with their source, date and basis. No regulation sets
    these numbers: they are the operator's policy settings for the red flag "quantity out of line
    with the stated use" (a flag means "inquire", never a denial)."""

    source: str
    effective_from: date
    #: Always "policy_setting": stated in the data so no reader takes a threshold for law.
    status: Literal["policy_setting"]
    #: The method behind the numbers, and when they are to be reviewed.
    basis: str = Field(min_length=1)
    thresholds: list[QuantityThreshold]


class Policy(_Model):
    """The screening policy (see reference/policy.yaml for what each part means)."""

    version: str
    list_actions: dict[str, Literal["deny", "enhanced", "standard"]]
    thresholds: Thresholds
    ownership_control_percent: Decimal
    ownership_rule: OwnershipRule
    end_use: EndUsePolicy
    red_flags: dict[str, FlagDef]
    transshipment_hubs: HubList
    quantity_limits_kg: dict[str, Decimal]
    quantity_thresholds: QuantityThresholds
    unrelated_business_patterns: list[str]
    forwarder_patterns: list[str]


def _load_yaml(path: Path) -> tuple[object, str]:
    raw = path.read_bytes()
    try:
        return yaml.safe_load(raw), hashlib.sha256(raw).hexdigest()[:12]
    except yaml.YAMLError as exc:
        raise ReferenceDataError(f"{path.name}: not valid YAML: {exc}") from None


def _validate(model: type[M], data: object, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)[:10]
        )
        raise ReferenceDataError(f"{path.name}: {problems}") from None


def load_measures(path: Path | None = None) -> MeasureSet:
    """The control measures (default: the packaged measures.yaml); version gets the content hash."""
    path = path or PACKAGE_REFERENCE / "measures.yaml"
    data, digest = _load_yaml(path)
    measures = _validate(MeasureSet, data, path)
    return measures.model_copy(update={"version": f"{measures.version}+{digest}"})


def load_policy(path: Path | None = None) -> Policy:
    """The screening policy (default: the packaged policy.yaml); version gets the content hash."""
    path = path or PACKAGE_REFERENCE / "policy.yaml"
    data, digest = _load_yaml(path)
    policy = _validate(Policy, data, path)
    return policy.model_copy(update={"version": f"{policy.version}+{digest}"})
