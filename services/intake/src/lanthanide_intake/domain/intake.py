"""Intake: turn a submission (envelope, bare application, or garbage) into accepted or rejected.

Pure domain logic; the Kafka stage and the HTTP route both call `assess`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from lanthanide.contracts import Application, ApplicationAccepted, ApplicationRejected, FieldError
from lanthanide.contracts.application import ContactPoint
from lanthanide.dates import prc_date
from lanthanide.ids import case_id_for
from lanthanide.serde import field_errors
from pydantic import ValidationError

from lanthanide_intake.domain.documents import missing_documents
from lanthanide_intake.domain.submitters import SubmitterGrant, not_authorised


@dataclass(frozen=True, slots=True)
class Accepted:
    case_id: UUID
    payload: ApplicationAccepted


@dataclass(frozen=True, slots=True)
class Rejected:
    case_id: UUID | None
    payload: ApplicationRejected


#: At most this many field errors per rejection, each location and message cut to a bounded
#: length. Why: a hostile submission (30,000 unknown keys, or one key of 900 kB) otherwise makes a
#: rejection of several MB, larger than Kafka's message limit; its publish fails, the batch is
#: redelivered and the partition stalls forever behind it.
MAX_FIELD_ERRORS = 50
MAX_LOC_CHARS = 200
MAX_MESSAGE_CHARS = 500
#: The largest application (its normalised JSON) intake accepts. Why: every event derived from
#: it (accepted, screening.completed, decision) carries the application or parts of it plus
#: findings, and each must fit in one Kafka message (1 MB); a quarter of that leaves room for
#: every output. The field limits of the contracts bound each part; this bounds the whole.
MAX_APPLICATION_BYTES = 250_000


def validate(data: Any) -> Application | list[FieldError]:
    """The application, or the field-level reasons it is not one (bounded, see MAX_FIELD_ERRORS).

    An Application instance is already validated and normalised (the envelope decoder did it):
    it is taken as it is rather than dumped and validated a second time."""
    if isinstance(data, Application):
        return data
    try:
        return Application.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        bounded = [
            FieldError(loc=e["loc"][:MAX_LOC_CHARS], message=e["message"][:MAX_MESSAGE_CHARS], type=e["type"])
            for e in errors[:MAX_FIELD_ERRORS]
        ]
        if len(errors) > MAX_FIELD_ERRORS:
            bounded.append(FieldError(
                loc="(root)", type="too_many_errors",
                message=f"{len(errors) - MAX_FIELD_ERRORS} more errors not listed; fix the ones above first",
            ))
        return bounded


def assess(data: Any, *, received_at: datetime, submitter: SubmitterGrant | None = None) -> Accepted | Rejected:
    """Validate and normalise; decide the case id; check who submitted it; check the documents.

    The as-of date is the PRC calendar date of `received_at` (the submission's time, not the
    time intake got round to it): documents are checked on it and it travels in the accepted
    event for screening and review. `submitter` is the grant of the Kafka submitter whose own
    topic the submission came on (None: the shared topic, which only intake writes, after its
    HTTP API checked the API key with the same rule)."""
    as_of = prc_date(received_at)
    result = validate(data)
    if isinstance(result, list):
        return Rejected(case_id=_salvage_case_id(data), payload=_rejection(data, result))
    app = result
    size = len(app.__pydantic_serializer__.to_json(app))
    if size > MAX_APPLICATION_BYTES:
        too_large = FieldError(
            loc="(root)", type="too_large",
            message=f"the application is {size} bytes of JSON; at most {MAX_APPLICATION_BYTES} are accepted",
        )
        raw = data if isinstance(data, dict) else app.model_dump(mode="json")
        return Rejected(case_id=_salvage_case_id(raw), payload=_rejection(raw, [too_large]))
    if submitter is not None and (refused := not_authorised(submitter, app, via="Kafka submitter")):
        return refusal(app, refused)
    missing = missing_documents(app, as_of)
    return Accepted(
        case_id=case_id_for(app.exporter_key, app.external_reference),
        payload=ApplicationAccepted(
            external_reference=app.external_reference,
            application=app,
            received_at=received_at,
            as_of=as_of,
            complete=not missing,
            missing_documents=missing,
        ),
    )


def refusal(app: Application, error: FieldError) -> Rejected:
    """The rejection of an application its submitter may not submit: on no case (it is not the
    exporter's submission, and the case must not take the sender's words), to no contact and
    naming no exporter (whose subscribers would be told of a submission that is not theirs)."""
    return Rejected(
        case_id=None, payload=ApplicationRejected(external_reference=app.external_reference, errors=[error])
    )


def _rejection(data: Any, errors: list[FieldError]) -> ApplicationRejected:
    """Keep what identifies the submitter (reference, exporter, contact) so it can be told why."""
    ref = exporter = None
    contact = None
    if isinstance(data, dict):
        raw_ref = data.get("external_reference")
        ref = raw_ref[:100] if isinstance(raw_ref, str) else None
        raw_exp = data.get("exporter")
        if isinstance(raw_exp, dict) and isinstance(raw_exp.get("name"), str):
            exporter = raw_exp["name"][:300]
        try:
            contact = ContactPoint.model_validate(data.get("contact") or {})
        except ValidationError:
            contact = None
    return ApplicationRejected(
        external_reference=ref, exporter_name=exporter, errors=errors, contact=contact
    )


def _salvage_case_id(data: Any) -> UUID | None:
    """A rejected application still gets its case id when reference and exporter parse, so the
    rejection lands on the same key (and partition) as a later corrected submission."""
    if not isinstance(data, dict):
        return None
    ref, exp = data.get("external_reference"), data.get("exporter")
    if not (isinstance(ref, str) and ref.strip() and isinstance(exp, dict)):
        return None
    name = exp.get("name")
    idents = exp.get("identifiers") if isinstance(exp.get("identifiers"), dict) else {}
    for k in ("uscc", "USCC", "registration_number", "customs_code"):
        if isinstance(idents.get(k), str):
            return case_id_for(f"{k.lower()}:{idents[k]}", ref[:100])
    if isinstance(name, str) and name.strip():
        return case_id_for(f"name:{' '.join(name.split()).casefold()}", ref[:100])
    return None
