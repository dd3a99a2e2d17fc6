"""The delivery log on a real PostgreSQL: unique per (event, channel, target), contacts upserted."""

from __future__ import annotations

from uuid import uuid4

import pytest
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.domain.model import CaseContact, DeliveryResult, Notice, NoticeKind, Target

pytestmark = [pytest.mark.postgres]


async def test_delivery_log_and_contacts_on_postgres(postgres_url: str) -> None:
    store = SqlDeliveryLog.from_url(postgres_url)
    await store.create_schema()
    try:
        notice = Notice(event_id=uuid4(), event_type="decision.made", case_id=uuid4(),
                        kind=NoticeKind.DENIED, applicant_keys=(), webhook_url=None, email=None)
        target = Target("webhook", "https://erp.example/h")
        assert await store.find(notice.event_id, target) is None
        await store.record(notice, target, DeliveryResult("failed", 5, 503, "HTTP 503"), "{}")
        # A racing second consumer's record does not overwrite or duplicate the first.
        await store.record(notice, target, DeliveryResult("delivered", 1, 200), "{}")
        found = await store.find(notice.event_id, target)
        assert found is not None and found.result.status == "failed" and found.result.attempts == 5
        assert await store.dead_letter_count() == 1

        # Batched: one read and one write per batch, same conflict rule (the first record stands).
        other = Target("webhook", "https://erp.example/other")
        await store.record_many([(notice, target, DeliveryResult("delivered", 1, 200), "{}"),
                                 (notice, other, DeliveryResult("failed", 3, 500, "HTTP 500"), "{}")])
        many = await store.find_many([(notice.event_id, "webhook", target.address),
                                      (notice.event_id, "webhook", other.address),
                                      (uuid4(), "webhook", target.address)])
        assert {k[2]: r.result.status for k, r in many.items()} == {target.address: "failed", other.address: "failed"}
        assert await store.dead_letter_count() == 2

        # The delivery queue: queued with the contacts in one transaction, once; busy hosts skipped.
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        queued = Notice(event_id=uuid4(), event_type="decision.made", case_id=uuid4(),
                        kind=NoticeKind.APPROVED, applicant_keys=(), webhook_url=None, email=None)
        a, b = Target("webhook", "https://A.example:8443/h"), Target("webhook", "https://b.example/h")
        contact = CaseContact(queued.case_id, ("uscc:2",), webhook_url=a.address)  # type: ignore[arg-type]
        await store.enqueue([contact], [(queued, a, "{}"), (queued, b, "{}")], now)
        await store.enqueue([], [(queued, a, "{}")], now)
        assert [(p.host, p.rounds) for p in await store.pending()] == [("a.example:8443", 0), ("b.example", 0)]
        assert (await store.contact(queued.case_id)) == contact
        (due,) = await store.due(now, skip_hosts={"a.example:8443"})
        assert due.target == b.address
        (claimed,) = await store.claim([due], now, now + timedelta(minutes=5))
        assert await store.claim([due], now, now + timedelta(minutes=5)) == []  # taken already
        await store.reschedule(claimed, DeliveryResult("failed", 2, 503, "HTTP 503", retryable=True), now)
        assert {p.target: (p.rounds, p.attempts) for p in await store.pending()}[b.address] == (1, 2)

        case_id = uuid4()
        await store.save_contact(CaseContact(case_id, ("uscc:1",), email="a@b.example"))
        await store.save_contact(CaseContact(case_id, ("uscc:1", "Name"), webhook_url="https://h.example/"))
        contact = await store.contact(case_id)
        assert contact is not None and contact.webhook_url == "https://h.example/"
        assert contact.exporter_keys == ("uscc:1", "Name")
    finally:
        await store.close()
