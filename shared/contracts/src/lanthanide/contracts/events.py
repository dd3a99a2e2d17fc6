"""Payloads of the event catalogue, one model per event type.

Inter-service payloads ignore unknown fields (forward compatible within a major version);
the upstream Application forbids them (typos are reported to the submitter).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from lanthanide.contracts.application import Application, ContactPoint, PartyRole
from lanthanide.dates import prc_date
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------- intake


class FieldError(_Payload):
    """One reason an application was rejected: where, what, and what would be right."""

    loc: str = Field(description="Dotted path to the field, e.g. 'items.0.unit'")
    message: str
    type: str = Field(description="Machine-readable error type, e.g. 'missing', 'value_error'")
    rule_id: str | None = Field(
        default=None,
        description="The rule that refused it (docs/rules.md), e.g. 'INT-SUBMITTER-EXPORTER'; "
        "absent for plain validation errors",
    )


class ApplicationAccepted(_Payload):
    """Intake validated and normalised the application and assigned its case id."""

    external_reference: str
    application: Application
    received_at: datetime
    complete: bool
    missing_documents: list[str] = Field(default_factory=list)
    is_amendment: bool = False
    as_of: date | None = Field(
        default=None,
        description="The application's as-of date: its receipt date on the PRC calendar (Asia/Shanghai), "
        "fixed at intake from the submission. Every rule is evaluated on it. Events without it (older "
        "producers) get the PRC date of received_at.",
    )
    submitted_by: str | None = Field(
        default=None,
        max_length=200,
        description="Who submitted this version: `api-key:<name>` (HTTP) or `kafka:<name>` (a Kafka "
        "submitter's own topic), from the record header intake stamped (lanthanide_submitter), never "
        "from the payload. Only the case's first submitter changes its contact (rule SUB-CONTACT-OWNER). "
        "Absent in events of older producers.",
    )

    @model_validator(mode="after")
    def _as_of_from_receipt(self) -> ApplicationAccepted:
        if self.as_of is None:
            self.as_of = prc_date(self.received_at)
        return self

    @property
    def as_of_date(self) -> date:
        """The as-of date (always set once validated): the one date screening and review use."""
        assert self.as_of is not None
        return self.as_of


class ApplicationRejected(_Payload):
    """The application could not be accepted; errors say which fields and why."""

    external_reference: str | None = None
    exporter_name: str | None = None
    errors: list[FieldError]
    contact: ContactPoint | None = None


# ---------------------------------------------------------------- screening


class Route(StrEnum):
    """The route screening recommends for a case."""

    NO_LICENCE_REQUIRED = "no_licence_required"
    GREEN_CHANNEL = "green_channel"
    STANDARD = "standard"
    ENHANCED = "enhanced"
    DENY = "deny"
    INCOMPLETE = "incomplete"


class ClassificationResult(_Payload):
    """Classification of one item against the dated control measures."""

    item_index: int
    control_codes: list[str] = Field(default_factory=list)
    licence_required: bool
    measure_ids: list[str] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)
    explanation: str = ""
    information_requested: list[str] = Field(
        default_factory=list, description="What the applicant must add before the item can be classified, "
        "e.g. 'composition'. Non-empty means incomplete, never 'not controlled'."
    )
    de_minimis: Literal["below", "at_or_above"] | None = Field(
        default=None, description="Foreign-made items (No. 61): where the Part-1 value ratio stands"
    )
    de_minimis_ratio: Decimal | None = None


class PartyHit(_Payload):
    """A party matched an entry of a restricted-party list."""

    party_role: PartyRole | Literal["owner"]
    party_index: int
    list_id: str
    list_kind: str = Field(description="control | watch | unreliable_entity | counter_sanctions | sanctions | other")
    list_version: str
    entry_id: str
    matched_name: str
    score: float = Field(ge=0, le=1)
    algorithm_version: str
    explanation: str = ""
    score_parts: dict[str, float] = Field(
        default_factory=dict, description="The matching algorithm's score parts (name -> 0..1) the score was "
        "made from (empty from older producers)"
    )
    via_owner_chain: list[str] = Field(default_factory=list)
    ownership_percent: float | None = None
    certain: bool | None = Field(
        default=None, description="The score reached the certain-match threshold (None: older producers; "
        "treat as certain)"
    )
    suppressed: bool = Field(
        default=False, description="A reviewer disposition judged this hit a false positive: it is shown but "
        "drives no rule, route or reason"
    )
    disposition_id: str | None = Field(default=None, description="The disposition that suppressed the hit")
    approved_by: list[str] = Field(
        default_factory=list, description="Who recorded the suppressing disposition (proposer, and the senior "
        "reviewer who approved it for a certain match)"
    )


class RedFlag(_Payload):
    """A coded know-your-customer indicator with its evidence. A red flag means 'inquire'."""

    code: str
    description: str
    evidence: str


class EndUseAssessment(_Payload):
    category: str
    military: bool = False
    wmd: bool = False
    terrorism: bool = False
    advanced_semiconductor: bool = False
    ai_military_potential: bool = False
    rule_ids: list[str] = Field(default_factory=list)
    explanation: str = ""


class ReasonCode(_Payload):
    """A stated reason: a stable code (grep-able rule id) and human text."""

    code: str
    text: str


class Reason(ReasonCode):
    """One structured reason: the rule that fired, what it decided, on which evidence, and the
    measure or list entry (with its version) it rests on. `code` is the rule id (docs/rules.md).

    Carried in screening.completed (`reasons`) and decision.made (`reasons`): consumers read the
    fields, never parse text. A Reason is a ReasonCode with more fields, so a subscriber that reads
    only `code` and `text` keeps working."""

    action: Literal["deny", "enhanced", "standard", "incomplete", "approve", "no_licence_required", "info"] = "info"
    evidence: list[str] = Field(default_factory=list, description="What was found, e.g. the words matched")
    source: str | None = Field(default=None, description="The legal source, e.g. 'Export Control Law Art. 12'")
    measure_id: str | None = None
    list_id: str | None = None
    entry_id: str | None = None
    version: str | None = Field(default=None, description="Version of the measure set or list relied on")
    # Party-based reasons (SCR-PARTY-*): which list, and which party of the application matched
    # `entry_id`; `measure_id` is then the announcement the entry's measures rest on.
    list_name: str | None = Field(default=None, description="Human name of the list `list_id` names")
    party_role: str | None = Field(default=None, description="Role of the party the reason is about, or 'owner'")
    party_index: int | None = Field(default=None, description="0 the exporter, i + 1 application.parties[i]")
    score: float | None = Field(default=None, ge=0, le=1, description="Match score of the list hit relied on")
    origin: Literal["screening", "reviewer", "review"] | None = Field(
        default=None,
        description="Who stated it, in decision.made: screening's finding (carried unchanged), the reviewer, "
        "or a rule of review itself; None in screening.completed",
    )


class ScreeningCompleted(_Payload):
    """Screening's verdict: classification, list hits, end use, red flags and a recommended route."""

    external_reference: str
    application: Application
    complete: bool
    missing_documents: list[str] = Field(default_factory=list)
    classifications: list[ClassificationResult]
    licence_required: bool
    hits: list[PartyHit] = Field(default_factory=list)
    end_use: EndUseAssessment
    red_flags: list[RedFlag] = Field(default_factory=list)
    route: Route
    # `route_reasons` is `reasons` rendered as "RULE-ID: text" for subscribers of this major
    # version; read `reasons` instead (it will replace route_reasons in the next major version).
    route_reasons: list[str] = Field(default_factory=list)
    reasons: list[Reason] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)
    list_versions: dict[str, str] = Field(default_factory=dict)
    reference_data_version: str
    algorithm_version: str
    screened_on: date
    is_rescreen: bool = False
    as_of_basis: Literal["receipt", "rescreen", "what_if"] = Field(
        default="receipt",
        description="What screened_on is: the application's receipt date (PRC), the re-screen date, or a "
        "what-if date",
    )
    valid_until: date | None = Field(
        default=None, description="No-licence-required only: the last day the answer holds (the day before "
        "the next dated change of a measure touching the items, or the policy's default period)"
    )
    exemption: ExemptionApplied | None = None
    submitted_by: str | None = Field(
        default=None,
        max_length=200,
        description="Who submitted the screened version (application.accepted's submitted_by); absent "
        "when the accepted event named none",
    )

    @property
    def active_hits(self) -> list[PartyHit]:
        """The hits no disposition suppressed: the ones that count for routing and review."""
        return [h for h in self.hits if not h.suppressed]


class ExemptionApplied(_Payload):
    """An exemption screening applied: its rule, its measure and the reporting duty it carries."""

    rule_id: str
    measure_id: str
    text: str
    report_within_working_days: int
    planned_export_date: date | None = None


# ---------------------------------------------------------------- review


class CaseEventKind(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    INFO_REQUESTED = "info_requested"
    AMENDED = "amended"
    ESCALATED = "escalated"
    RECOMMENDED = "recommended"
    COUNTERSIGNED = "countersigned"
    SLA_WARNING = "sla_warning"
    REOPENED = "reopened"
    LICENCE_ISSUED = "licence_issued"
    LICENCE_DRAWN_DOWN = "licence_drawn_down"
    LICENCE_SUSPENDED = "licence_suspended"
    LICENCE_REVOKED = "licence_revoked"
    LICENCE_EXHAUSTED = "licence_exhausted"
    LICENCE_EXPIRED = "licence_expired"
    LICENCE_REINSTATED = "licence_reinstated"
    SHIPMENT_REFUSED = "shipment_refused"
    STATE_CHANGED = "state_changed"


class CaseEvent(_Payload):
    """A step in a case's life in review, with the actor who took it."""

    kind: CaseEventKind
    actor: str
    from_state: str | None = None
    to_state: str | None = None
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class DecisionOutcome(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    NO_LICENCE_REQUIRED = "no_licence_required"
    WITHDRAWN = "withdrawn"


class LicenceType(StrEnum):
    SINGLE = "single"
    GENERAL = "general"


class LicenceItem(_Payload):
    description: str
    control_codes: list[str] = Field(default_factory=list)
    quantity_cap: Decimal
    unit: str


class Licence(_Payload):
    """A licence as issued: number, type, holder, items with caps, end users, validity, conditions."""

    number: str
    type: LicenceType
    holder: str
    items: list[LicenceItem]
    end_users: list[str]
    end_user_countries: list[str] = Field(default_factory=list)
    valid_from: date
    valid_until: date
    conditions: list[str] = Field(default_factory=list)


class DecisionMade(_Payload):
    """The decision on a case. decision_id is deterministic per case: duplicates share it."""

    decision_id: UUID
    outcome: DecisionOutcome
    external_reference: str
    exporter_name: str
    route: Route | None = None
    # Structured (Reason); a reviewer's stated reasons carry code and text only.
    reasons: list[Reason] = Field(default_factory=list)
    licence: Licence | None = None
    decided_by: str = Field(description="'auto' for an automatic decision, else the reviewer id")
    countersigned_by: str | None = None
    rule_ids: list[str] = Field(default_factory=list)
    policy_version: str
    decided_at: datetime
    contact: ContactPoint | None = None
    decided_for: date | None = Field(
        default=None, description="The PRC as-of date the decision was made for (automatic decisions)"
    )
    valid_until: date | None = Field(
        default=None, description="No-licence-required: the last PRC day the answer holds"
    )
    conditions: list[DecisionCondition] = Field(default_factory=list)
    general_licence_number: str | None = Field(
        default=None, description="Green channel: the general licence this export is authorised under"
    )
    general_licence_usage: GeneralLicenceUsage | None = Field(
        default=None, description="Green channel: the general licence's usage after this export was drawn down"
    )

    @field_validator("reasons", mode="before")
    @classmethod
    def _reason_codes_are_reasons(cls, value: Any) -> Any:
        # Callers of this major version build decisions from plain ReasonCode objects.
        if isinstance(value, list):
            return [v.model_dump() if type(v) is ReasonCode else v for v in value]
        return value


class DecisionCondition(_Payload):
    """A condition attached to a decision, e.g. the humanitarian exemption's reporting duty."""

    rule_id: str
    text: str
    due_on: date | None = None
    due_on_provisional: bool = False


# ---------------------------------------------------------------- notification, reference, shipments


class NotificationOutcome(_Payload):
    """The result of telling someone about an event."""

    about_event_id: UUID
    about_event_type: str
    channel: Literal["webhook", "email"]
    target: str
    status: Literal["delivered", "failed"]
    attempts: int
    response_status: int | None = None
    error: str | None = None


class ReferenceUpdated(_Payload):
    """A restricted-party list or a control measure changed; open cases and live licences are re-screened."""

    kind: Literal["list", "measures"]
    #: For kind=list: the dataset that changed (e.g. "prc", "un", "watch" or an operator's own).
    list_id: str | None = None
    version: str
    #: Deprecated and never trusted: screening reads reference data only from its own data directory.
    path: str | None = None
    description: str = ""
    #: sha256 (hex) of the stored file; screening reloads the version only when its copy matches.
    checksum: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ShipmentReported(_Payload):
    """An export made under a licence, drawing down its quantities."""

    shipment_id: str
    licence_number: str
    item_index: int = 0
    quantity: Decimal = Field(gt=0)
    unit: str
    end_user: str
    end_user_country: str
    shipped_on: date


# ---------------------------------------------------------------- general-licence usage (green channel)


class GeneralLicenceUsage(_Payload):
    """A general licence's usage as review (its truth) holds it after a green-channel draw-down.

    Remaining quantities only ever go down, so a consumer keeps the smallest it has seen per item
    (events for one licence come keyed by different cases and may arrive out of order)."""

    number: str
    remaining: list[Decimal] = Field(description="Remaining quantity per licence item, in the item's unit")
    exhausted: bool = False
    draws: int = Field(default=0, ge=0, description="Exports drawn down under the licence so far")


class LicenceStatusChanged(_Payload):
    """A reviewer (or re-screening) suspended, reinstated or revoked a licence (review).

    On the decisions topic, keyed by the case the licence was issued on (so the changes of one
    licence arrive in order). Screening routes no application to the green channel under a
    general licence whose last status is not active."""

    number: str
    licence_type: LicenceType
    status: Literal["active", "suspended", "revoked"]
    reason: str = ""
    changed_by: str = Field(description="The reviewer id, or 'system' when re-screening suspended it")
    changed_at: datetime


# ---------------------------------------------------------------- dispositions (review -> screening)


class DispositionRecorded(_Payload):
    """A reviewer judged one party / list entry pair a false positive (review; issue 14.1).

    Screening suppresses the pair while the list entry is screened at `list_version` and the PRC
    date is on or before `expires_on`; the hit stays in screening.completed as suppressed. A
    certain match is recorded only once a second, senior reviewer approved it (`approved_by`).
    """

    disposition_id: str
    party_name: str = Field(description="The party (or owner) name as screened")
    party_role: str
    party_index: int
    list_id: str
    entry_id: str
    list_version: str = Field(description="The list version the hit was judged against")
    verdict: Literal["false_positive"] = "false_positive"
    certain: bool
    reason: str
    proposed_by: str
    approved_by: list[str] = Field(description="Proposer, and the approving senior reviewer for a certain match")
    expires_on: date = Field(description="Last PRC day the disposition applies")


class DispositionRevoked(_Payload):
    """A recorded disposition no longer applies (review)."""

    disposition_id: str
    revoked_by: str
    reason: str


# ---------------------------------------------------------------- catalogue

ScreeningCompleted.model_rebuild()
DecisionMade.model_rebuild()

#: event_type -> payload model. The one registry the serde and schema export use.
EVENT_TYPES: dict[str, type[BaseModel]] = {
    "application.submitted": Application,
    "application.accepted": ApplicationAccepted,
    "application.rejected": ApplicationRejected,
    "screening.completed": ScreeningCompleted,
    "case.event": CaseEvent,
    "decision.made": DecisionMade,
    "licence.status_changed": LicenceStatusChanged,
    "notification.outcome": NotificationOutcome,
    "reference.updated": ReferenceUpdated,
    "shipment.reported": ShipmentReported,
    "disposition.recorded": DispositionRecorded,
    "disposition.revoked": DispositionRevoked,
}


def payload_model(event_type: str) -> type[BaseModel]:
    """The payload model of an event type; KeyError names the known types."""
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise KeyError(f"unknown event_type {event_type!r}; known: {sorted(EVENT_TYPES)}") from None


# ---------------------------------------------------------------- audit checkpoints (issue 14.7)


class LedgerCheckpoint(_Payload):
    """The audit ledger's signed head: `position` records ending in `head_mac` existed at `at`.

    `signature` is Ed25519 (base64) by the key whose id is `signer`, over the sorted-key JSON of
    position, head_mac, at, key_id and signer; verifiable with the public key alone."""

    position: int = Field(ge=0)
    head_mac: str
    at: str
    key_id: str | None = None
    signer: str
    signature: str


EVENT_TYPES["audit.checkpoint"] = LedgerCheckpoint
