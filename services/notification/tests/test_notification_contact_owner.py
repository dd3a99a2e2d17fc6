"""Only the case's own submitter changes its contact (rule SUB-CONTACT-OWNER, issue 14 part 3):
two submitters bound to one exporter can both resubmit its case; only the first one's
resubmissions redirect its notices. Through the service and a real SQLite store (kept across a
restart)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog
from lanthanide.contracts import Application, ApplicationAccepted, Envelope
from lanthanide.events import EventFactory
from lanthanide.ids import case_id_for
from lanthanide.submitters import RULE_CONTACT_OWNER
from lanthanide.testing.factories import civilian_application
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.domain.model import CaseContact
from lanthanide_notification.domain.routing import merge_contacts
from lanthanide_notification.service_layer.handlers import NotificationService

F = EventFactory("intake", instance="t")
A, B = "api-key:erp-a", "api-key:erp-b"


def accepted(hook: str, submitted_by: str | None) -> Envelope[Any]:
    app = Application.model_validate(civilian_application("PO-OWN-1", contact={"webhook_url": hook,
                                                                              "email": f"{hook[8:13]}@x.example"}))
    return F.new("application.accepted", ApplicationAccepted(
        external_reference="PO-OWN-1", application=app, received_at=datetime.now(UTC), complete=True,
        submitted_by=submitted_by), case_id=case_id_for(app.exporter_key, "PO-OWN-1"))


async def _contact_after(db: Path, *events: Envelope[Any]) -> CaseContact | None:
    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{db}")
    await store.create_schema()
    try:
        service = NotificationService(store=store, senders={}, factory=EventFactory("notification"),
                                      outcome_topic="out")
        _, failed = await service.handle_batch(list(events))
        assert not failed
        case_id = events[0].case_id
        assert isinstance(case_id, UUID)
        return await store.contact(case_id)
    finally:
        await store.close()


async def test_another_submitters_resubmission_keeps_the_contact_the_first_ones_changes_it(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    first = await _contact_after(db, accepted("https://aaaaa.example/hook", A))
    assert first is not None and first.submitter == A
    with structlog.testing.capture_logs() as logs:
        # B is bound to the same exporter: its resubmission is taken, its contact is not.
        after_b = await _contact_after(db, accepted("https://bbbbb.example/hook", B))
    assert after_b is not None
    assert (after_b.webhook_url, after_b.email, after_b.submitter) == (
        "https://aaaaa.example/hook", "aaaaa@x.example", A)
    [refused] = [e for e in logs if e["event"] == "contact_change_refused"]
    assert refused["log_level"] == "info" and refused["rule_id"] == RULE_CONTACT_OWNER
    assert refused["submitted_by"] == B and refused["case_submitter"] == A
    assert not any("bbbbb" in str(v) for v in refused.values())  # no addresses in the log
    # A's own resubmission changes it.
    after_a = await _contact_after(db, accepted("https://ccccc.example/hook", A))
    assert after_a is not None and (after_a.webhook_url, after_a.email) == ("https://ccccc.example/hook",
                                                                           "ccccc@x.example")


async def test_within_one_batch_too(tmp_path: Path) -> None:
    contact = await _contact_after(tmp_path / "n.db", accepted("https://aaaaa.example/hook", A),
                                   accepted("https://bbbbb.example/hook", B))
    assert contact is not None and contact.webhook_url == "https://aaaaa.example/hook"


def test_events_without_a_submitter_behave_as_before() -> None:
    case = case_id_for("uscc:x", "PO-OWN-2")
    old = CaseContact(case, webhook_url="https://old.example/h", submitter=A)
    assert merge_contacts(old, CaseContact(case, webhook_url="https://new.example/h")).webhook_url == (
        "https://new.example/h")
    legacy = CaseContact(case, webhook_url="https://old.example/h")
    merged = merge_contacts(legacy, CaseContact(case, webhook_url="https://new.example/h", submitter=B))
    assert (merged.webhook_url, merged.submitter) == ("https://new.example/h", B)
