"""Completeness of the supporting documents.

An incomplete application is still accepted (it gets a case), but the review clock does not
start and the applicant is asked for what is missing.
"""

from __future__ import annotations

from datetime import date

from lanthanide.contracts import Application, DocumentKind

#: Documents every controlled-item application must carry.
REQUIRED = (DocumentKind.END_USER_CERTIFICATE, DocumentKind.CONTRACT, DocumentKind.TECHNICAL_DESCRIPTION)


def missing_documents(app: Application, today: date) -> list[str]:
    """Codes of what is missing or expired, e.g. 'end_user_certificate:expired'. Empty = complete."""
    # A humanitarian export still carries its documents: the only exemption (No. 61 Art. 5) waives
    # the licence for No. 61 items, not the documents, and No. 18 has none.
    problems: list[str] = []
    for kind in REQUIRED:
        docs = [d for d in app.documents if d.kind is kind]
        if not docs:
            problems.append(f"{kind.value}:missing")
            continue
        if kind is DocumentKind.END_USER_CERTIFICATE and not any(d.valid_on(today) for d in docs):
            problems.append(f"{kind.value}:expired")
    return problems
