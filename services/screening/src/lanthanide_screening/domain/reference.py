"""Reference data models: dated control measures and the screening policy, validated at load.

Both are YAML files with a version; `load_measures` / `load_policy` raise ReferenceDataError
naming the file and the field when something is wrong, so a bad operator edit fails at start
(or on a reference update) instead of mid-case.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class ElementControl(_Model):
    element: str = Field(pattern=r"^[A-Z][a-z]?$")
    code: str = Field(pattern=r"^\d[A-E]\d{3}$")
    unconfirmed: bool = False
    hs_hints: list[str] = Field(default_factory=list)


class TechnologyControl(_Model):
    code: str
    keywords: list[str]


class Measure(_Model):
    """One dated measure: item controls, a foreign-made rule or an exemption."""

    id: str
    title: str
    source: str
    kind: Literal["item_control", "foreign_made", "humanitarian_exemption"]
    effective_from: date
    effective_to: date | None = None
    suspensions: list[Suspension] = Field(default_factory=list)
    destinations: list[str] = Field(default_factory=list)
    controls: list[ElementControl] = Field(default_factory=list)
    mixed_hs_hints: list[str] = Field(default_factory=list)
    technology_codes: list[TechnologyControl] = Field(default_factory=list)
    de_minimis_ratio: Decimal | None = None
    forms: list[str] = Field(default_factory=list)
    report_within_working_days: int | None = None

    def in_force(self, on: date, destination: str | None = None) -> bool:
        """Whether the measure applies on a date (and to a destination, if it names any)."""
        if on < self.effective_from or (self.effective_to is not None and on > self.effective_to):
            return False
        if any(s.from_ <= on and (s.until is None or on <= s.until) for s in self.suspensions):
            return False
        return not self.destinations or destination in self.destinations

    def status_on(self, on: date) -> str:
        """'in force', 'not yet in force', 'expired' or 'suspended' (for explanations)."""
        if on < self.effective_from:
            return "not yet in force"
        if self.effective_to is not None and on > self.effective_to:
            return "expired"
        if any(s.from_ <= on and (s.until is None or on <= s.until) for s in self.suspensions):
            return "suspended"
        return "in force"


class MeasureSet(_Model):
    """Every measure, plus the form-to-sub-item map; `version` names this data."""

    version: str
    measures: list[Measure]
    sub_items: dict[str, str]

    def by_kind(self, kind: str) -> list[Measure]:
        return [m for m in self.measures if m.kind == kind]


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


class QuantityThreshold(_Model):
    """Contained mass of one element, in one of some forms, above which an item is out of line
    with the stated end use (per end-use category, else `default_kg`)."""

    element: str = Field(pattern=r"^[A-Z][a-z]?$")
    forms: list[str] = Field(min_length=1)
    default_kg: Decimal = Field(gt=0)
    by_end_use_kg: dict[str, Decimal] = Field(default_factory=dict)

    def limit_for(self, category: str) -> Decimal:
        """The threshold for an end-use category."""
        return self.by_end_use_kg.get(category, self.default_kg)


class QuantityThresholds(_Model):
    """Element/form thresholds as policy data with their source and date."""

    source: str
    effective_from: date
    thresholds: list[QuantityThreshold]


class Policy(_Model):
    """The screening policy (see reference/policy.yaml for what each part means)."""

    version: str
    list_actions: dict[str, Literal["deny", "enhanced", "standard"]]
    thresholds: Thresholds
    ownership_control_percent: Decimal
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
