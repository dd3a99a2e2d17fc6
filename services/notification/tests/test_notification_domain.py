"""Unit tests of the notification domain: routing, subscriptions, retry policy, signing, mail."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from lanthanide.contracts import (
    Application,
    ApplicationAccepted,
    ApplicationRejected,
    CaseEvent,
    CaseEventKind,
    ContactPoint,
    DecisionMade,
    DecisionOutcome,
    FieldError,
    Licence,
    LicenceItem,
    LicenceType,
    ReasonCode,
)
from lanthanide.events import EventFactory
from lanthanide.testing.factories import civilian_application
from lanthanide_notification.adapters.email import MailRenderer
from lanthanide_notification.adapters.subscriptions import SubscriptionFileError, load_subscriptions
from lanthanide_notification.domain.model import NoticeKind, Subscription, Target
from lanthanide_notification.domain.retry import RetryPolicy, is_retryable_status
from lanthanide_notification.domain.routing import contact_from, merge_contacts, targets_for
from lanthanide_notification.service_layer.handlers import notice_for
from lanthanide_notification.signing import sign, verify_signature

F = EventFactory("test", instance="t")


def accepted_event(contact: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    app = Application.model_validate(civilian_application("PO-U-1", contact=contact or {}))
    return F.new("application.accepted", ApplicationAccepted(
        external_reference="PO-U-1", application=app, received_at=datetime.now(UTC), complete=False,
        missing_documents=["end_user_certificate"]), case_id=uuid4())


def decision_event(outcome: DecisionOutcome, contact: ContactPoint | None = None, **kw):  # type: ignore[no-untyped-def]
    return F.new("decision.made", DecisionMade(
        decision_id=uuid4(), outcome=outcome, external_reference="PO-U-1",
        exporter_name="Ganzhou Rare Earth Magnetics Co., Ltd.", decided_by="auto",
        policy_version="p1", decided_at=datetime.now(UTC), contact=contact, **kw), case_id=uuid4())


# ---------------------------------------------------------------- routing


def test_info_request_uses_the_contact_learned_from_the_accepted_application() -> None:
    accepted = accepted_event({"webhook_url": "https://erp.example.com/hook", "email": "a@b.example"})
    contact = contact_from(accepted)
    assert contact is not None and contact.exporter_keys[0] == "uscc:91360700MA35XXXX1A"
    info = F.derive(accepted, "case.event", CaseEvent(kind=CaseEventKind.INFO_REQUESTED, actor="r1", reason="x"))
    notice = notice_for(info, contact)
    assert notice is not None and notice.kind is NoticeKind.INFO_REQUESTED
    assert targets_for(notice, []) == [
        Target("webhook", "https://erp.example.com/hook"), Target("email", "a@b.example"),
    ]


def test_other_case_events_are_not_notified() -> None:
    accepted = accepted_event()
    assigned = F.derive(accepted, "case.event", CaseEvent(kind=CaseEventKind.ASSIGNED, actor="r1"))
    assert notice_for(assigned, contact_from(accepted)) is None


def test_decision_contact_overrides_and_merge_keeps_older_facts() -> None:
    accepted = accepted_event({"email": "old@b.example"})
    old = contact_from(accepted)
    assert old is not None
    decision = decision_event(DecisionOutcome.DENIED, ContactPoint(webhook_url="https://new.example/h"))
    new = contact_from(decision)
    assert new is not None
    merged = merge_contacts(old, new)
    assert merged.email == "old@b.example" and merged.webhook_url == "https://new.example/h"
    assert "uscc:91360700MA35XXXX1A" in merged.exporter_keys


def test_rejection_goes_only_to_registered_subscriptions_never_to_the_payload_contact() -> None:
    """An invalid application is untrusted throughout: an official rejection carrying the
    sender's text must not go to an address the sender typed (issue: nobody alone can change a
    decision, part 5). Operator-registered subscriptions for the exporter, or for everyone, get it."""
    rejected = F.new("application.rejected", ApplicationRejected(
        external_reference="PO-BAD", exporter_name="X",
        errors=[FieldError(loc="items.0.unit", message="bad", type="value_error")],
        contact=ContactPoint(email="victim@y.example", webhook_url="http://169.254.169.254/")))
    notice = notice_for(rejected, None)
    assert notice is not None and notice.kind is NoticeKind.REJECTED
    assert targets_for(notice, []) == []
    subs = [Subscription("ops", "*", email="ops@regulator.example", kinds=frozenset({"application.rejected"})),
            Subscription("x-erp", "X", webhook_url="https://erp.x.example/h"),
            Subscription("other", "Y", webhook_url="https://erp.y.example/h")]
    assert targets_for(notice, subs) == [Target("email", "ops@regulator.example", registered=True),
                                         Target("webhook", "https://erp.x.example/h", registered=True)]


def test_subscriptions_match_applicant_and_kind_and_dedupe_targets() -> None:
    decision = decision_event(DecisionOutcome.APPROVED, ContactPoint(webhook_url="https://a.example/h"))
    notice = notice_for(decision, None)
    assert notice is not None
    subs = [
        Subscription("erp", "ganzhou rare earth magnetics co., ltd.", webhook_url="https://erp.example/h",
                     kinds=frozenset({"decision.*"})),
        Subscription("dup", "*", webhook_url="https://a.example/h"),
        Subscription("only-denials", "*", email="d@x.example", kinds=frozenset({"decision.denied"})),
        Subscription("someone-else", "uscc:OTHER", email="o@x.example"),
    ]
    assert targets_for(notice, subs) == [Target("webhook", "https://a.example/h"), Target("webhook", "https://erp.example/h")]


def test_subscription_file_is_validated_with_field_level_errors(tmp_path: Path) -> None:
    good = tmp_path / "subs.yaml"
    good.write_text(
        "subscriptions:\n"
        "  - {id: erp, applicant: 'uscc:1', webhook_url: 'https://erp.example/h', kinds: ['decision.*']}\n"
        "  - {id: ops, applicant: '*', email: 'ops@x.example'}\n"
    )
    subs = load_subscriptions(good)
    assert [s.id for s in subs] == ["erp", "ops"]
    assert subs[0].wants(NoticeKind.DENIED) and not subs[0].wants(NoticeKind.RECEIVED)
    bad = tmp_path / "bad.json"
    bad.write_text('{"subscriptions": [{"id": "x", "applicant": "*", "email": "nope", "kinds": ["decision.maybe"]}]}')
    with pytest.raises(SubscriptionFileError) as err:
        load_subscriptions(bad)
    assert "subscriptions.0.email" in str(err.value)


# ---------------------------------------------------------------- retry and signing


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=5.0, jitter=0.5)
    assert [policy.delay(n, 0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.delay(2, 0.999) == pytest.approx(1.001)
    assert is_retryable_status(503) and is_retryable_status(429) and not is_retryable_status(404)


def test_signature_verifies_and_rejects_tampering_and_stale_timestamps() -> None:
    header = sign("s3cret", "1700000000", b'{"a":1}')
    assert verify_signature("s3cret", "1700000000", b'{"a":1}', header)
    assert not verify_signature("s3cret", "1700000000", b'{"a":2}', header)
    assert not verify_signature("other", "1700000000", b'{"a":1}', header)
    assert not verify_signature("s3cret", "1700000001", b'{"a":1}', header)
    assert not verify_signature("s3cret", "1700000000", b'{"a":1}', None)
    assert not verify_signature("s3cret", "1700000000", b'{"a":1}', header, max_age_seconds=300, now=1700000400)


# ---------------------------------------------------------------- mail templates


@pytest.mark.parametrize("outcome", list(DecisionOutcome))
def test_every_decision_renders(outcome: DecisionOutcome) -> None:
    licence = Licence(
        number="LIC-9", type=LicenceType.SINGLE, holder="H", end_users=["E"],
        items=[LicenceItem(description="Tb oxide", control_codes=["1C904.b"], quantity_cap=Decimal(10), unit="kg")],
        valid_from=date(2026, 1, 1), valid_until=date(2026, 12, 31),
    ) if outcome is DecisionOutcome.APPROVED else None
    event = decision_event(outcome, ContactPoint(email="a@b.example"), licence=licence,
                           reasons=[ReasonCode(code="REV-DENY-MILITARY", text="military end use")])
    notice = notice_for(event, None)
    assert notice is not None
    subject, body = MailRenderer().render(notice)
    assert "PO-U-1" in subject
    if outcome is DecisionOutcome.APPROVED:
        assert "LIC-9" in subject and "Tb oxide (1C904.b): up to 10 kg" in body
    if outcome is DecisionOutcome.DENIED:
        assert "[REV-DENY-MILITARY] military end use" in body


def test_received_mail_lists_missing_documents() -> None:
    notice = notice_for(accepted_event(), None)
    assert notice is not None
    subject, body = MailRenderer().render(notice)
    assert subject == "Application PO-U-1 received"
    assert "- end_user_certificate" in body


def test_the_stage_reads_the_topics_of_the_routing_registry() -> None:
    """Issue 11: the consumed topics derive from the registry (payload type -> topic, notice builder)."""
    from lanthanide.contracts import ApplicationAccepted, ApplicationRejected, CaseEvent, DecisionMade
    from lanthanide.topics import Topics
    from lanthanide_notification.service_layer.handlers import EVENT_HANDLERS, input_topics
    from lanthanide_notification.settings import NotificationSettings

    assert set(EVENT_HANDLERS) == {ApplicationAccepted, ApplicationRejected, CaseEvent, DecisionMade}
    assert input_topics() == [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED, Topics.CASE_EVENTS,
                              Topics.DECISIONS]
    assert NotificationSettings(topic_prefix="t1.").topics(input_topics()) == [f"t1.{t}" for t in input_topics()]
