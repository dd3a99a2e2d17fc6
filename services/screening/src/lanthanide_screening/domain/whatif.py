"""What-if: classification, measures in force and route of an application on any date, no case.

For exporters and officers: "what would this application get on date D?". Nothing is stored
and nothing is published; the answer names the date it is for (as_of_basis "what_if").
Documents are taken as given: intake's completeness check is not repeated here (certificate
expiry and consistency are still raised as red flags).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from lanthanide.contracts import Application, ApplicationAccepted
from lanthanide.dates import PRC

from lanthanide_screening.domain.classify import measures_touching
from lanthanide_screening.domain.screen import ScreeningEngine


def what_if(engine: ScreeningEngine, application: Application, on: date) -> dict[str, Any]:
    """The answer for `application` on the PRC date `on`, as a JSON-ready dict."""
    received = datetime.combine(on, time(12), PRC).astimezone(UTC)
    accepted = ApplicationAccepted(
        external_reference=application.external_reference,
        application=application,
        received_at=received,
        as_of=on,
        complete=True,
    )
    result = engine.screen(accepted, on, basis="what_if")
    touching = set(measures_touching(application.items, engine.measures))
    return {
        "as_of": on.isoformat(),
        "as_of_basis": "what_if",
        "route": result.route.value,
        # The structured reasons (rule id, text, evidence, measure or list entry, version); the
        # "RULE-ID: text" strings of route_reasons stay for callers of the first release.
        "reasons": [r.model_dump(mode="json", exclude_none=True) for r in result.reasons],
        "route_reasons": result.route_reasons,
        "licence_required": result.licence_required,
        "valid_until": result.valid_until.isoformat() if result.valid_until else None,
        "information_requested": [m for m in result.missing_documents if m.startswith("items.")],
        "classifications": [c.model_dump(mode="json") for c in result.classifications],
        "measures": [
            {
                "id": m.id,
                "title": m.title,
                "source": m.source,
                "status": m.status_on(on),
                "in_force": m.kind != "suspension" and m.in_force(on, application.route.final_destination_country),
                "touches_items": m.id in touching,
            }
            for m in engine.measures.measures
        ],
        "exemption": result.exemption.model_dump(mode="json") if result.exemption else None,
        "rule_ids": result.rule_ids,
        "reference_data_version": result.reference_data_version,
        "list_versions": result.list_versions,
        "documents_checked": False,
    }
