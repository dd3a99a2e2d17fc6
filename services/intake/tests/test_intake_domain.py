"""Intake domain: validation, normalisation, case ids, document completeness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from lanthanide.contracts.application import add_months
from lanthanide.testing.factories import civilian_application
from lanthanide_intake.domain.documents import missing_documents
from lanthanide_intake.domain.intake import Accepted, Rejected, assess

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def test_valid_application_is_accepted_and_normalised() -> None:
    data = civilian_application()
    data["parties"][0]["country"] = "Germany"
    data["items"][0]["unit"] = "KGS"
    data["items"][0]["currency"] = "usd"
    result = assess(data, received_at=NOW)
    assert isinstance(result, Accepted)
    app = result.payload.application
    assert app.parties[0].country == "DE"
    assert app.items[0].unit == "kg"
    assert app.items[0].currency == "USD"
    assert result.payload.complete, result.payload.missing_documents


def test_same_exporter_and_reference_give_the_same_case() -> None:
    a = assess(civilian_application("PO-1"), received_at=NOW)
    b = assess(civilian_application("PO-1", notes="resubmitted"), received_at=NOW)
    c = assess(civilian_application("PO-2"), received_at=NOW)
    assert isinstance(a, Accepted) and isinstance(b, Accepted) and isinstance(c, Accepted)
    assert a.case_id == b.case_id != c.case_id


def test_invalid_fields_are_rejected_with_field_level_reasons() -> None:
    data = civilian_application()
    data["items"][0]["unit"] = "bushel"
    data["parties"][0]["country"] = "Atlantis"
    del data["end_use"]
    data["surprise"] = 1
    result = assess(data, received_at=NOW)
    assert isinstance(result, Rejected)
    locs = {e.loc for e in result.payload.errors}
    assert {"items.0.unit", "parties.0.country", "end_use", "surprise"} <= locs
    assert result.payload.external_reference == data["external_reference"]
    assert result.case_id is not None  # still keyed to the case a corrected resubmission will get


def test_rejection_of_non_object_has_no_case() -> None:
    result = assess([1, 2, 3], received_at=NOW)
    assert isinstance(result, Rejected) and result.case_id is None
    assert result.payload.errors[0].loc == "(root)"


def test_missing_and_expired_documents_make_an_incomplete_application() -> None:
    data = civilian_application()
    data["documents"] = [d for d in data["documents"] if d["kind"] != "contract"]
    data["documents"][0]["issued_on"] = str(NOW.date() - timedelta(days=200))
    result = assess(data, received_at=NOW)
    assert isinstance(result, Accepted)
    assert not result.payload.complete
    assert result.payload.missing_documents == ["end_user_certificate:expired", "contract:missing"]


def test_euc_validity_is_six_calendar_months() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    from lanthanide.contracts import Application

    app = Application.model_validate(civilian_application())
    euc = next(d for d in app.documents if d.kind.value == "end_user_certificate")
    last_valid_day = add_months(euc.issued_on, 6)
    assert missing_documents(app, last_valid_day) == []
    assert missing_documents(app, last_valid_day + timedelta(days=1)) == ["end_user_certificate:expired"]
