"""Completeness of the supporting documents (DOMAIN.md, "Applications").

An incomplete application is still accepted (it gets a case), but the review clock does not
start and the applicant is asked for what is missing.
"""

from __future__ import annotations

import calendar
from datetime import date

from lanthanide.contracts import Application, DocumentKind

#: Documents every controlled-item application must carry.
REQUIRED = (DocumentKind.END_USER_CERTIFICATE, DocumentKind.CONTRACT, DocumentKind.TECHNICAL_DESCRIPTION)

#: The end-user certificate is valid this many months from issue.
EUC_VALIDITY_MONTHS = 6


def add_months(day: date, months: int) -> date:
    """Same day-of-month `months` later, clamped to the month's end (31 Aug + 6 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


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
        if kind is DocumentKind.END_USER_CERTIFICATE and not any(
            _euc_valid(d.issued_on, d.expires_on, today) for d in docs
        ):
            problems.append(f"{kind.value}:expired")
    return problems


def _euc_valid(issued_on: date, expires_on: date | None, today: date) -> bool:
    if issued_on > today:
        return False
    last_day = add_months(issued_on, EUC_VALIDITY_MONTHS)
    if expires_on is not None:
        last_day = min(last_day, expires_on)
    return today <= last_day
