"""Who may change a case's contact: the one rule, applied by notification (the contacts it
learns) and review (the contact it carries in decision.made).

Case ids are computable and several submitters may be bound to one exporter, so a submitter
other than the case's own could otherwise resubmit the case and so redirect its notices. The
submitter is what intake stamped on the submission (`ApplicationAccepted.submitted_by`,
`api-key:<name>` or `kafka:<name>`), never the payload.
"""

from __future__ import annotations

#: Rule id of the refusal (docs/rules.md, "Other rules").
RULE_CONTACT_OWNER = "SUB-CONTACT-OWNER"


def case_submitter(first: str | None, submitted_by: str | None) -> str | None:
    """The case's own submitter once a submission by `submitted_by` is taken into account: the
    first one known (events of older producers name none)."""
    return first if first is not None else submitted_by


def may_change_contact(first: str | None, submitted_by: str | None) -> bool:
    """Whether a (re)submission by `submitted_by` may change the contact (webhook and e-mail) of a
    case first submitted by `first`: only the case's own submitter may. When either is unknown
    (events without `submitted_by`), it may, as before the rule."""
    return first is None or submitted_by is None or submitted_by == first
