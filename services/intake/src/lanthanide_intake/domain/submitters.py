"""Who may submit for which exporter: the one rule, for HTTP (API keys) and Kafka (the
submitter's own topic) alike.

Case ids are computed from public inputs (exporter + external reference), so without this any
submitter could submit, or resubmit and so change the contact of, another exporter's case.
"""

from __future__ import annotations

from lanthanide.contracts import Application, FieldError
from pydantic import BaseModel, Field

#: Rule id of the refusal (docs/rules.md, "Other rules").
RULE_SUBMITTER_EXPORTER = "INT-SUBMITTER-EXPORTER"
#: The record header intake stamps on what it puts on lanthanide.applications.submitted: who
#: submitted it, `api-key:<submitter>` (HTTP) or `kafka:<submitter>` (a submitter's own topic).
#: Trustworthy because only intake writes that topic on a secured cluster.
SUBMITTER_HEADER = "lanthanide_submitter"


class SubmitterGrant(BaseModel):
    """Who a credential stands for and which exporters it may submit for (operator data).

    `exporters` holds exporter keys (``uscc:9136...``) or exporter names; ``["*"]`` is an
    upstream system that submits for every exporter.
    """

    submitter: str = Field(min_length=1, max_length=100)
    exporters: list[str] = Field(min_length=1)

    def may_submit_for(self, exporter_key: str, exporter_name: str) -> bool:
        """Whether this submitter may submit (or resubmit) for the exporter."""
        wanted = {exporter_key.casefold(), " ".join(exporter_name.casefold().split())}
        return any(e == "*" or " ".join(e.casefold().split()) in wanted for e in self.exporters)


def not_authorised(grant: SubmitterGrant, application: Application, *, via: str) -> FieldError | None:
    """The field-level refusal when `grant` may not submit `application`, else None.

    `via` names the credential in the message ("API key", "Kafka submitter")."""
    if grant.may_submit_for(application.exporter_key, application.exporter.name):
        return None
    return FieldError(
        loc="exporter", type="exporter_not_authorised", rule_id=RULE_SUBMITTER_EXPORTER,
        message=f"{via} {grant.submitter!r} may not submit for this exporter; "
                "ask the operator to bind the exporter to it",
    )
