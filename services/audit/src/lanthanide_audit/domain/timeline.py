"""A case's timeline from the ledger: every step in causal order, what it decided and why.

The causation check: every event's causation_id must name an event of the same case that the
ledger holds (or the submitted application that opened the case). An event with no causation
is a root; only submissions and reference updates are expected to be roots (reviewer actions
arrive over HTTP and may be roots too: they are reported, not failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lanthanide_audit.domain.ledger import LedgerEntry

CausationStatus = Literal["ok", "root", "missing"]

#: Dispositions are reviewer actions on a case, not derived from an event: always roots.
_EXPECTED_ROOTS = {"application.submitted", "reference.updated", "disposition.recorded", "disposition.revoked"}


@dataclass(frozen=True, slots=True)
class Step:
    """One event in a case's life, with the facts an auditor asks about."""

    seq: int
    event_id: str
    event_type: str
    occurred_at: str | None
    producer: str | None
    topic: str
    causation_id: str | None
    causation: CausationStatus
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "event_id": self.event_id, "event_type": self.event_type,
            "occurred_at": self.occurred_at, "producer": self.producer, "topic": self.topic,
            "causation_id": self.causation_id, "causation": self.causation, "facts": self.facts,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    """A case's steps in causal order and whether every causation link holds."""

    case_id: str
    steps: list[Step]

    @property
    def causation_ok(self) -> bool:
        return all(s.causation != "missing" for s in self.steps)

    @property
    def unexpected_roots(self) -> list[Step]:
        return [s for s in self.steps if s.causation == "root" and s.event_type not in _EXPECTED_ROOTS]


def facts_of(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What an auditor wants from each kind of event: route, rule ids, versions, actors, outcome."""
    pick = {
        "application.submitted": ("external_reference",),
        "application.accepted": ("external_reference", "complete", "missing_documents", "is_amendment"),
        "application.rejected": ("external_reference", "errors"),
        "screening.completed": ("route", "route_reasons", "rule_ids", "list_versions",
                                "reference_data_version", "algorithm_version", "is_rescreen"),
        "case.event": ("kind", "actor", "from_state", "to_state", "reason"),
        "decision.made": ("decision_id", "outcome", "route", "reasons", "decided_by",
                          "countersigned_by", "rule_ids", "policy_version"),
        "notification.outcome": ("channel", "status", "attempts", "about_event_type"),
        "reference.updated": ("kind", "list_id", "version"),
        "shipment.reported": ("shipment_id", "licence_number", "quantity", "unit"),
        # A reviewer's judgement that a hit is a false positive: who proposed and who approved it
        # (four-eyes for a certain match), against which list entry and version, until when.
        # The party's name stays out, as the hits' matched names do.
        "disposition.recorded": ("disposition_id", "party_role", "party_index", "list_id", "entry_id",
                                 "list_version", "verdict", "certain", "reason", "proposed_by",
                                 "approved_by", "expires_on"),
        "disposition.revoked": ("disposition_id", "revoked_by", "reason"),
        "licence.status_changed": ("number", "licence_type", "status", "reason", "changed_by"),
    }.get(event_type, ())
    facts = {k: payload[k] for k in pick if k in payload and payload[k] not in (None, [], {})}
    if event_type == "screening.completed":
        facts["hits"] = [_hit_facts(h) for h in payload.get("hits", [])]
        # Every hit a disposition suppressed, with the disposition and who approved it: shown,
        # though it drove no rule, route or reason.
        facts["suppressed_hits"] = [
            {k: h.get(k) for k in ("list_id", "entry_id", "party_role", "party_index", "disposition_id",
                                   "approved_by")}
            for h in payload.get("hits", []) if h.get("suppressed")
        ]
        if not facts["suppressed_hits"]:
            del facts["suppressed_hits"]
        facts["red_flags"] = [f.get("code") for f in payload.get("red_flags", [])]
    if event_type == "decision.made" and payload.get("licence"):
        facts["licence_number"] = payload["licence"].get("number")
    return facts


def _hit_facts(hit: dict[str, Any]) -> dict[str, Any]:
    facts = {k: hit.get(k) for k in ("list_id", "list_version", "entry_id", "score", "party_role")}
    if hit.get("suppressed"):
        facts |= {"suppressed": True, "disposition_id": hit.get("disposition_id"),
                  "approved_by": hit.get("approved_by", [])}
    return facts


def build_timeline(case_id: str, entries: Sequence[LedgerEntry]) -> Timeline:
    """The timeline of a case from its ledger entries (and the entries that caused them).

    Order: causes before effects (Kafka gives no order across topics, so ledger seq alone
    could show a decision before the screening it came from), then by occurred_at and seq.
    """
    by_id = {e.event_id: e for e in entries}
    ordered = sorted(entries, key=lambda e: (e.occurred_at or "", e.seq))
    placed: set[str] = set()
    result: list[LedgerEntry] = []

    def place(e: LedgerEntry, trail: frozenset[str]) -> None:
        if e.event_id in placed:
            return
        cause = by_id.get(e.causation_id or "")
        if cause is not None and cause.event_id not in trail:  # guard against a forged cycle
            place(cause, trail | {e.event_id})
        placed.add(e.event_id)
        result.append(e)

    for e in ordered:
        place(e, frozenset())

    steps = []
    for e in result:
        if e.causation_id is None:
            status: CausationStatus = "root"
        else:
            status = "ok" if e.causation_id in by_id else "missing"
        event = e.event() or {}
        payload = event.get("payload")
        steps.append(Step(
            seq=e.seq, event_id=e.event_id, event_type=e.event_type, occurred_at=e.occurred_at,
            producer=e.producer, topic=e.topic, causation_id=e.causation_id, causation=status,
            facts=facts_of(e.event_type, payload if isinstance(payload, dict) else {}),
        ))
    return Timeline(case_id=case_id, steps=steps)
