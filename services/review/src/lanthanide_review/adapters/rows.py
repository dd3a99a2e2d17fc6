"""Row <-> domain mapping of the review store: a case and its row, a licence record from its row,
and the outbox and case-history rows of outgoing envelopes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from lanthanide.contracts import DecisionOutcome, Licence, Route
from lanthanide.events import Outgoing
from lanthanide.serde import encode

from lanthanide_review.domain.licences import LicenceRecord, LicenceStatus
from lanthanide_review.domain.model import Case, Recommendation
from lanthanide_review.domain.rescreen import LicenceReview
from lanthanide_review.domain.sla import SlaClock
from lanthanide_review.domain.states import CaseState


def aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we write is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def case_to_row(case: Case, now: datetime) -> dict[str, Any]:
    return {
        "case_id": str(case.case_id),
        "state": case.state.value,
        "route": case.route.value if case.route else None,
        "queue": case.queue,
        "external_reference": case.external_reference,
        "exporter": case.exporter_name,
        "assignee": case.assignee,
        "outcome": case.outcome.value if case.outcome else None,
        "decision_id": str(case.decision_id) if case.decision_id else None,
        "licence_number": case.licence_number,
        "application": case.application,
        "screening": case.screening,
        "data": {
            "correlation_id": str(case.correlation_id),
            "rule_ids": case.rule_ids,
            "policy_version": case.policy_version,
            "senior_only": case.senior_only,
            "countersign_required": case.countersign_required,
            "recommendation": case.recommendation.model_dump(mode="json") if case.recommendation else None,
            "pending_override": case.pending_override,
            "application_version": case.application_version,
            "submitter": case.submitter,
            "licence_suspended_by": case.licence_suspended_by,
            "licence_review": case.licence_review.to_dict() if case.licence_review else None,
            "rescreen_evidence": case.rescreen_evidence,
            "resume_state": case.resume_state.value if case.resume_state else None,
            "sla": case.sla.to_dict(),
            "decided_by": case.decided_by,
        },
        "created_at": case.created_at or now,
        "updated_at": now,
        "decided_at": case.decided_at,
    }


def case_from_row(row: Any) -> Case:
    """Rebuild the aggregate from its row."""
    data = row.data
    return Case(
        case_id=UUID(row.case_id),
        external_reference=row.external_reference,
        exporter_name=row.exporter,
        application=row.application,
        correlation_id=UUID(data["correlation_id"]),
        state=CaseState(row.state),
        route=Route(row.route) if row.route else None,
        queue=row.queue,
        screening=row.screening,
        rule_ids=list(data.get("rule_ids", [])),
        policy_version=data.get("policy_version"),
        assignee=row.assignee,
        senior_only=bool(data.get("senior_only")),
        countersign_required=bool(data.get("countersign_required")),
        recommendation=(Recommendation.model_validate(data["recommendation"]) if data.get("recommendation") else None),
        resume_state=CaseState(data["resume_state"]) if data.get("resume_state") else None,
        pending_override=data.get("pending_override"),
        application_version=int(data.get("application_version", 1)),
        submitter=data.get("submitter"),
        licence_suspended_by=data.get("licence_suspended_by"),
        licence_review=LicenceReview.from_dict(data.get("licence_review")),
        rescreen_evidence=data.get("rescreen_evidence"),
        sla=SlaClock.from_dict(data.get("sla")),
        outcome=DecisionOutcome(row.outcome) if row.outcome else None,
        decision_id=UUID(row.decision_id) if row.decision_id else None,
        decided_at=aware(row.decided_at),
        decided_by=data.get("decided_by"),
        licence_number=row.licence_number,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        version=row.version,
    )


def licence_from_row(row: Any) -> LicenceRecord:
    data = row.data
    return LicenceRecord(
        licence=Licence.model_validate(data["licence"]),
        case_id=row.case_id,
        status=LicenceStatus(row.status),
        drawn=[Decimal(d) for d in data["drawn"]],
        shipments=int(data.get("shipments", 0)),
        status_reason=data.get("status_reason"),
        draws=list(data.get("draws", [])),
    )


def outgoing_rows(
    case_id: UUID | None,
    outgoing: Sequence[Outgoing],
    now: datetime,
    outbox_rows: list[dict[str, Any]],
    history_rows: list[dict[str, Any]],
) -> None:
    """Append the outbox rows of `outgoing` (and the case history rows, if for a case)."""
    case_key = str(case_id) if case_id is not None else None
    for out in outgoing:
        env = out.envelope
        event_id = str(env.event_id)
        outbox_rows.append({
            "event_id": event_id,
            "topic": out.topic,
            "event_type": env.event_type,
            "body": encode(env).decode(),
            "created_at": now,
        })
        if case_key is None:
            continue
        payload = env.payload
        if env.event_type == "case.event":
            history_rows.append({
                "case_id": case_key,
                "event_id": event_id,
                "event_type": env.event_type,
                "kind": payload.kind.value,
                "actor": payload.actor,
                "from_state": payload.from_state,
                "to_state": payload.to_state,
                "reason": payload.reason,
                "details": payload.details,
                "occurred_at": env.occurred_at,
            })
        elif env.event_type.startswith("disposition."):
            history_rows.append(disposition_history_row(case_key, event_id, env))
        elif env.event_type == "licence.status_changed":
            continue  # the case event (licence_suspended, _reinstated, _revoked) is its history row
        else:
            history_rows.append({
                "case_id": case_key,
                "event_id": event_id,
                "event_type": env.event_type,
                "kind": payload.outcome.value,
                "actor": payload.decided_by,
                "from_state": None,
                "to_state": None,
                "reason": None,
                "details": {
                    "decision_id": str(payload.decision_id),
                    "rule_ids": payload.rule_ids,
                    "reasons": [r.model_dump() for r in payload.reasons],
                },
                "occurred_at": env.occurred_at,
            })


def disposition_history_row(case_key: str, event_id: str, env: Any) -> dict[str, Any]:
    """The case history row of a disposition event (who, what, on which list entry and version)."""
    p = env.payload
    recorded = env.event_type == "disposition.recorded"
    return {
        "case_id": case_key,
        "event_id": event_id,
        "event_type": env.event_type,
        "kind": "disposition_recorded" if recorded else "disposition_revoked",
        "actor": ",".join(p.approved_by) if recorded else p.revoked_by,
        "from_state": None,
        "to_state": None,
        "reason": p.reason,
        "details": p.model_dump(mode="json"),
        "occurred_at": env.occurred_at,
    }


def licence_to_row(rec: LicenceRecord, now: datetime) -> dict[str, Any]:
    """The licence row's columns but its number, created_at and version."""
    return {
        "case_id": rec.case_id,
        "type": rec.licence.type.value,
        "holder": rec.licence.holder,
        "status": rec.status.value,
        "valid_from": rec.licence.valid_from,
        "valid_until": rec.licence.valid_until,
        "data": rec.to_dict(),
        "updated_at": now,
    }


def history_from_row(r: Any) -> dict[str, Any]:
    return {
        "event_id": r.event_id,
        "event_type": r.event_type,
        "kind": r.kind,
        "actor": r.actor,
        "from_state": r.from_state,
        "to_state": r.to_state,
        "reason": r.reason,
        "details": r.details,
        "occurred_at": aware(r.occurred_at),
    }
