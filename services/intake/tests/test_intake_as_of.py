"""Intake fixes the application's as-of date: its receipt date on the PRC calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime

from lanthanide.testing.factories import civilian_application
from lanthanide_intake.domain.intake import Accepted, assess


def _with_certificate_issued(day: date) -> dict[str, object]:
    app = civilian_application("ASOF-INTAKE")
    for doc in app["documents"]:
        doc["issued_on"] = str(day)
    app["contract"]["signed_on"] = str(day)
    return app


def test_a_submission_at_17_utc_is_received_the_next_prc_day() -> None:
    """Dates are PRC dates (Asia/Shanghai, UTC+8): 17:00 UTC on 31 May is 01:00 on 1 June in Beijing.
    A certificate issued on 1 June is valid on that as-of date; a submission at 15:00 UTC (23:00
    in Beijing, still 31 May) sees the same certificate as not yet issued."""
    app = _with_certificate_issued(date(2026, 6, 1))
    late = assess(app, received_at=datetime(2026, 5, 31, 17, 0, tzinfo=UTC))
    early = assess(app, received_at=datetime(2026, 5, 31, 15, 0, tzinfo=UTC))
    assert isinstance(late, Accepted) and isinstance(early, Accepted)
    assert late.payload.as_of == date(2026, 6, 1) and late.payload.complete
    assert (
        early.payload.as_of == date(2026, 5, 31) and "end_user_certificate:expired" in early.payload.missing_documents
    )


def test_humanitarian_applications_still_need_their_documents() -> None:
    """No. 61 Art. 5 waives the licence for No. 61 items, not the documents; No. 18 has no exemption."""
    app = civilian_application("HUM-DOCS", humanitarian=True)
    app["documents"] = [d for d in app["documents"] if d["kind"] != "end_user_certificate"]
    result = assess(app, received_at=datetime(2026, 11, 29, 9, 0, tzinfo=UTC))
    assert isinstance(result, Accepted)
    assert not result.payload.complete and "end_user_certificate:missing" in result.payload.missing_documents
